"""Judging a run before it is final: the merge and the quality gates."""
