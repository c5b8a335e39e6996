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
def artifacts() -> Path:
    """``$TEST_ARTIFACTS/report`` (CI can keep it), by default ``test-artifacts/report`` in
    the repository (ignored by git)."""
    root = Path(os.environ.get("TEST_ARTIFACTS") or Path(__file__).parents[2] / "test-artifacts")
    path = root / "report"
    path.mkdir(parents=True, exist_ok=True)
    return path
