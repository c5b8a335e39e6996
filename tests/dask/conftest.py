"""Fixtures for the tests on a real Dask cluster (skipped where ``distributed`` is missing).

``cluster``: one cluster per test module (a scheduler and two workers of two threads, as
subprocesses), allowed to stay between the module's tests by the leak check, and checked at
the module's end to leave nothing behind: no cluster process, no runner, no reaper.
``dask_executor``: a ``DaskExecutor`` on it, shared by the module's tests.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests import conftest as root

if importlib.util.find_spec("distributed") is None:  # the dask extra is not installed
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A module's ``cluster_options`` (``workers``, ``nthreads``, ``nanny``) shape it."""
    from .cluster import TestCluster

    directory: Path = tmp_path_factory.mktemp("dask")
    c = TestCluster(directory, **getattr(request.module, "cluster_options", {}))
    root.kept_trees.append(c.roots)
    try:
        yield c
    finally:
        root.kept_trees.remove(c.roots)
        left = c.close()
        assert not left, "the cluster left processes behind:\n  " + "\n  ".join(left)


@pytest.fixture(scope="module")
def dask_executor(cluster: Any) -> Iterator[Any]:
    from orchestrator.executors.dask import DaskExecutor

    with DaskExecutor(cluster.address) as ex:
        yield ex
