"""Fixtures of the report's tests: a headless Chromium per test (closed with every process it
started) and a place for artifacts such as screenshots (not in the repository)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .browser import Browser


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path / "chromium-profile")
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    """``$TEST_ARTIFACTS/report`` when set (CI can keep it), else under pytest's temp folder."""
    root = os.environ.get("TEST_ARTIFACTS")
    path = Path(root) / "report" if root else tmp_path_factory.mktemp("report-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path
