"""Fuzz the workflow loader, the constructors and the event-log reader (issue 11).

Each target runs in a child process (``tests/property/fuzz_inputs.py``) whose address space is
capped with ``resource.setrlimit``: an input that makes the code grow without bound fails the
test with ``MemoryError`` instead of taking the machine down. In the suite the examples are
bounded and derandomized (the same ones every run). The soak mode (marker ``soak``) searches
afresh: ``ORCH_FUZZ_SOAK=EXAMPLES`` (and ``ORCH_FUZZ_SEED``, default: random) runs it, e.g.

    ORCH_FUZZ_SOAK=20000 .venv/bin/python -m pytest -p no:cacheprovider -m soak \\
        tests/property/test_fuzz_inputs.py
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MEMORY_MB = 2048
CI_EXAMPLES = {"workflow": 250, "constructors": 400, "events": 150}


def _fuzz(target: str, examples: int, seed: str, timeout: float) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.property.fuzz_inputs", target, str(examples), seed,
         str(MEMORY_MB)], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{target} (seed {seed}):\n{proc.stdout}\n{proc.stderr}"
    assert f"fuzz {target}: {examples} examples held" in proc.stdout


@pytest.mark.timeout(300)
@pytest.mark.parametrize("target", sorted(CI_EXAMPLES))
def test_fuzzed_input_gives_only_the_documented_errors(target: str) -> None:
    _fuzz(target, CI_EXAMPLES[target], "ci", timeout=280)


def test_the_memory_cap_turns_runaway_growth_into_a_failure() -> None:
    # The guard itself must hold: a child that grows past the cap fails, it is not killed.
    code = ("import resource, sys; cap = 256 * 2**20; "
            "resource.setrlimit(resource.RLIMIT_AS, (cap, cap)); "
            "x = []\n"
            "try:\n    while True: x.append(bytearray(2**24))\n"
            "except MemoryError:\n    x.clear(); print('capped'); sys.exit(3)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert (proc.returncode, proc.stdout.strip()) == (3, "capped")


SOAK = int(os.environ.get("ORCH_FUZZ_SOAK", "0"))


@pytest.mark.soak
@pytest.mark.timeout(0)
@pytest.mark.skipif(not SOAK, reason="soak mode: set ORCH_FUZZ_SOAK=EXAMPLES to run it")
@pytest.mark.parametrize("target", sorted(CI_EXAMPLES))
def test_fuzz_soak(target: str) -> None:
    seed = os.environ.get("ORCH_FUZZ_SEED") or str(random.SystemRandom().randrange(2**32))
    print(f"fuzz soak {target}: seed {seed}")
    _fuzz(target, SOAK, seed, timeout=24 * 3600)
