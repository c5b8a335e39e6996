"""The ``executor`` fixture: every Executor the contract suite runs against."""

from __future__ import annotations

from typing import Iterator

import pytest

from orchestrator import Executor, InlineExecutor
from orchestrator.executors.local.warm import release_shared_pool, shared_pool


@pytest.fixture(params=["inline", "process"])
def executor(request: pytest.FixtureRequest) -> Iterator[Executor]:
    if request.param == "inline":
        yield InlineExecutor()
        return
    pool, shared = shared_pool()  # the library's warm pool: workers are reused across tests
    try:
        yield pool
    finally:
        release_shared_pool(pool, shared, healthy=not pool.closed)
