"""Runs the executor contract against every executor of the ``executor`` fixture."""

from __future__ import annotations

from .executor_contract import ExecutorContract


class TestExecutorContract(ExecutorContract):
    pass
