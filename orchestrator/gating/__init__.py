"""Judging a run before it is final: ``gates`` (verdicts, the built-in gates, ``in_worker``) and
``judge`` (merge the values, then run each gate; an in-worker gate as a one-task run)."""
