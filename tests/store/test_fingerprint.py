"""The task fingerprint: stable where it must be, sensitive to every input that changes what a
task returns, blind to line numbers, and never partial ("not cacheable", with the reason)."""

from __future__ import annotations

import functools
import socket
import subprocess
import sys
import threading
from collections import OrderedDict, defaultdict, namedtuple
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pytest

from orchestrator.model.policy import RetryPolicy
from orchestrator.model.spec import Ref, TaskSpec
from orchestrator.store import Fingerprint, NotCacheable
from orchestrator.store.fingerprint import Fingerprinter, failed_upstream

from . import fp_subjects
from .helpers import ROOT, child_env


def key(fn: Any, *args: Any, upstream: dict[str, Any] | None = None, timeout: float | None = 5.0,
        retry: RetryPolicy | None = None, version: str | None = None, deps: tuple[str, ...] = (),
        **kwargs: Any) -> Any:
    spec = TaskSpec("t", fn, args=args, kwargs=kwargs, deps=deps)
    return Fingerprinter().task(spec, upstream, timeout=timeout, retry=retry, version=version)


# -- stability ------------------------------------------------------------------------------

def test_keys_are_the_same_in_other_processes_and_under_any_hash_seed() -> None:
    here = [str(k) for k in fp_subjects.keys()]
    assert all(isinstance(k, Fingerprint) for k in fp_subjects.keys()), here
    code = "from tests.store.fp_subjects import keys\nfor k in keys(): print(k)"
    for seed in ("0", "1", "4242", "random"):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=child_env(PYTHONHASHSEED=seed), cwd=ROOT, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == here, f"PYTHONHASHSEED={seed}"


def test_a_key_does_not_change_once_the_function_has_run_many_times() -> None:
    before = key(fp_subjects.task, 1)
    for i in range(5000):  # warm: the interpreter specialises the bytecode it runs
        fp_subjects.task(i)
    assert key(fp_subjects.task, 1) == before


def test_an_import_path_and_the_function_it_names_have_one_key() -> None:
    assert key("tests.store.fp_subjects:task", 1) == key(fp_subjects.task, 1)


# -- code changes, in modules written for the test ---------------------------------------

_SOURCE = '''\
{above}import functools
SCALE = {scale}

def helper(x):
    return x * SCALE + {helper_add}

def make(offset):
    def inner(x, flag={default}):
        return helper(x) + offset + flag
    return inner

def task(x, y={task_default}):
    import {helpers} as extra
    {body}

closure_task = make({cell})
'''
_BASE = dict(above="", scale="3", helper_add="0", default="1", task_default="2", cell="10",
             body="return helper(x) + y + extra.bonus(x)")
_HELPERS = "def bonus(x):\n    return {bonus}\n"


@pytest.fixture
def load(tmp_path: Path) -> Iterator[Any]:
    """``load(**changes)``: the module built from ``_SOURCE`` with ``changes``, always under the
    same name (so only what differs in the source can change a key). The latest variant's
    folder stays on ``sys.path``, as a project's folder would."""
    counter = iter(range(1000))
    current: list[str] = []

    def make(bonus: str = "x", **changes: str) -> ModuleType:
        folder = tmp_path / f"v{next(counter)}"
        folder.mkdir()
        for name in ("fp_variant", "fp_variant_helpers"):
            sys.modules.pop(name, None)
        (folder / "fp_variant_helpers.py").write_text(_HELPERS.format(bonus=bonus))
        (folder / "fp_variant.py").write_text(_SOURCE.format(
            **{**_BASE, **changes, "helpers": "fp_variant_helpers"}))
        if current:
            sys.path.remove(current.pop())
        sys.path.insert(0, str(folder))
        current.append(str(folder))
        import fp_variant

        return fp_variant

    yield make
    for folder in current:
        sys.path.remove(folder)
    for name in ("fp_variant", "fp_variant_helpers"):
        sys.modules.pop(name, None)


def test_moving_a_function_down_its_file_or_adding_comments_changes_nothing(load: Any) -> None:
    base = load()
    first = (key(base.task, 1), key(base.closure_task, 1))
    moved = load(above="\n\n# a comment that pushes everything down\n\n\n")
    assert (key(moved.task, 1), key(moved.closure_task, 1)) == first


@pytest.mark.parametrize("change", [
    {"body": "return helper(x) - y + extra.bonus(x)"},
    {"helper_add": "1"},
    {"scale": "4"},
    {"task_default": "3"},
    {"bonus": "x + 1"},
], ids=["function body", "helper function", "module constant", "default argument",
        "helper in a module imported inside the function"])
def test_a_change_in_the_code_a_task_runs_changes_its_key(load: Any, change: dict[str, str]
                                                          ) -> None:
    assert key(load(**change).task, 1) != key(load().task, 1)


@pytest.mark.parametrize("change", [{"cell": "11"}, {"default": "2"}, {"helper_add": "1"}],
                         ids=["closure cell", "inner default argument", "helper"])
def test_a_change_a_closure_sees_changes_its_key(load: Any, change: dict[str, str]) -> None:
    assert key(load(**change).closure_task, 1) != key(load().closure_task, 1)


def test_version_stands_in_for_the_code(load: Any) -> None:
    base, edited = load(), load(body="return 0")
    assert key(base.task, 1, version="v1") == key(edited.task, 1, version="v1")
    assert key(base.task, 1, version="v1") != key(base.task, 1, version="v2")
    assert key(base.task, 1, version="v1") != key(base.task, 1)


# -- inputs --------------------------------------------------------------------------------

def test_args_kwargs_timeout_and_retry_are_part_of_the_key() -> None:
    task = fp_subjects.task
    base = key(task, 1, k="a")
    assert base == key(task, 1, k="a")
    different = [key(task, 2, k="a"), key(task, 1, k="b"), key(task, 1, k="a", timeout=6.0),
                 key(task, 1, k="a", timeout=None), key(task, 1, k="a", retry=RetryPolicy(2)),
                 key(fp_subjects.helper, 1, k="a")]
    assert len({base, *different}) == 1 + len(different)
    assert key(task, 1, retry=RetryPolicy(2)) == key(task, 1, retry=RetryPolicy(2))


def test_dict_and_set_order_do_not_count_and_types_do() -> None:
    task = fp_subjects.task
    assert key(task, {"a": 1, "b": 2}) == key(task, {"b": 2, "a": 1})
    assert key(task, {"x", "y", "z"}) == key(task, set(["z", "y", "x"]))
    assert key(task, 1, a=1, b=2) == key(task, 1, b=2, a=1)
    distinct = [key(task, v) for v in ([1, 2], [2, 1], (1, 2), {1, 2}, frozenset({1, 2}), 1, 1.0,
                                       True, "1", b"1", None, 0.0, -0.0, [[1], 2], [1, [2]])]
    assert len(set(distinct)) == len(distinct)


def test_structured_values_are_encoded_by_their_content() -> None:
    task = fp_subjects.task
    Point = namedtuple("Point", "x y")
    assert key(task, fp_subjects.Params(2)) == key(task, fp_subjects.Params(2))
    assert key(task, fp_subjects.Params(2)) != key(task, fp_subjects.Params(3))
    assert key(task, fp_subjects.Color.RED) != key(task, fp_subjects.Color.BLUE)
    assert key(task, Point(1, 2)) != key(task, (1, 2))
    assert key(task, OrderedDict(a=1, b=2)) != key(task, OrderedDict(b=2, a=1))  # order counts
    assert key(task, defaultdict(list, a=[1])) != key(task, defaultdict(set, a=[1]))
    assert key(task, functools.partial(fp_subjects.helper, 2)) != key(
        task, functools.partial(fp_subjects.helper, 3))
    assert key(task, fp_subjects.helper) != key(task, fp_subjects.uses_lock)
    assert isinstance(key(task, Path("/a/b"), range(3), 1 + 2j, ...), Fingerprint)


def test_a_ref_stands_for_its_upstreams_fingerprint() -> None:
    task = fp_subjects.task
    one, two = key(task, 1), key(task, 2)
    on_one = key(task, Ref("up"), upstream={"up": one})
    assert on_one == key(task, Ref("up"), upstream={"up": one})
    assert on_one != key(task, Ref("up"), upstream={"up": two})
    assert on_one != key(task, "up")
    with_dep = key(task, 1, deps=("up",), upstream={"up": one})
    assert with_dep != key(task, 1) and with_dep != key(task, 1, deps=("up",),
                                                        upstream={"up": two})
    assert key(task, Ref("up"), upstream={"up": NotCacheable("x")}) == NotCacheable(
        "args[0]: Ref('up') stands for task 'up', which is not cacheable")
    assert key(task, [Ref("up")], upstream={"up": failed_upstream("up", "failed")}) == \
        NotCacheable("args[0][0]: Ref('up') stands for task 'up', which is not cacheable")
    assert key(task, Ref("up")) == NotCacheable(
        "args[0]: Ref('up'): no key was given for task 'up'")
    assert key(task, 1, deps=("up",)) == NotCacheable(
        "deps[0]: Ref('up'): no key was given for task 'up'")


def test_a_type_handler_gives_a_type_its_encoding() -> None:
    @dataclass(eq=False)
    class Opaque:  # a dataclass would encode; pretend this is a C type
        value: int
        lock: Any

    task = fp_subjects.task
    plain = Fingerprinter()
    spec = TaskSpec("t", task, args=(Opaque(1, threading.Lock()),))
    assert isinstance(plain.task(spec), NotCacheable)
    handled = Fingerprinter(handlers={Opaque: lambda o: o.value})
    first = handled.task(spec)
    assert isinstance(first, Fingerprint)
    assert first == handled.task(TaskSpec("t", task, args=(Opaque(1, None),)))
    assert first != handled.task(TaskSpec("t", task, args=(Opaque(2, None),)))


# -- never partial -------------------------------------------------------------------------

@dataclass(eq=False)
class Loop:
    me: Any = None


def test_what_cannot_be_encoded_makes_the_task_not_cacheable_and_says_where() -> None:
    task, lock = fp_subjects.task, threading.Lock()
    itself = Loop()
    itself.me = itself
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]

    @dataclass
    class Holder:
        lock: Any

    with socket.socket() as sock:
        cases = {
            key(task, 1, sock): "args[1]: no canonical encoding for socket.socket",
            key(task, cfg={"client": {"lock": lock}}):
                "kwargs['cfg']['client']['lock']: no canonical encoding for _thread.lock",
            key(task, Holder(lock)): "args[0].lock: no canonical encoding for _thread.lock",
            key(task, {lock}): "args[0]{<unlocked _thread.lock object",
            key(task, [itself]): "args[0][0].me: the value contains itself",
            key(task, deep): "args: nested too deeply to encode",
            key(fp_subjects.uses_lock, 1):
                "fn: tests.store.fp_subjects:uses_lock reads global 'LOCK': no canonical "
                "encoding for _thread.lock",
            key(fp_subjects.make(lock), 1):
                "fn: tests.store.fp_subjects:make.<locals>.inner closure variable 'n': no "
                "canonical encoding for _thread.lock",
            key("tests.store.nope:task", 1):
                "fn: cannot import it: cannot import module 'tests.store.nope' for "
                "'tests.store.nope:task': No module named 'tests.store.nope'",
        }
    for got, reason in cases.items():
        assert isinstance(got, NotCacheable)
        assert got.reason.startswith(reason), (got.reason, reason)


def test_a_default_argument_that_cannot_be_encoded_is_named() -> None:
    lock = threading.Lock()

    def guarded(x: int, guard: Any = lock) -> int:
        return x

    got = key(guarded, 1)
    assert got == NotCacheable(
        f"fn: {__name__}:test_a_default_argument_that_cannot_be_encoded_is_named.<locals>."
        "guarded default argument 'guard': no canonical encoding for _thread.lock")


def test_fingerprinting_never_imports_numpy() -> None:
    code = ("import sys\nfrom tests.store.fp_subjects import keys\nkeys()\n"
            "print('numpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=child_env(), cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_numpy_arrays_are_encoded_by_dtype_shape_and_bytes() -> None:
    np = pytest.importorskip("numpy")
    task = fp_subjects.task
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    assert key(task, a) == key(task, a.copy())
    assert key(task, a[:, ::2]) == key(task, np.ascontiguousarray(a[:, ::2]))
    others = [a.astype(np.int32), a.reshape(4, 3), a + 1, np.array(["a"], dtype=object)]
    assert len({key(task, a), *(key(task, o) for o in others)}) == 1 + len(others)
    assert key(task, np.float64(1.5)) != key(task, 1.5)


def test_keys_keep_their_bytes_within_a_key_format() -> None:
    # Stored runs are resumed by these bytes: a change to how a key is built must raise
    # KEY_FORMAT, never alter keys silently (these were computed before the encoder was shared
    # across a run's tasks, and must stay as they were).
    fp = Fingerprinter()
    a = fp.task(TaskSpec("a", "pkg.mod:fn", args=(1, "x"), kwargs={"k": [1.5, None]},
                         version="v1"), None, timeout=60, retry=RetryPolicy(max_attempts=3),
                version="v1")
    b = fp.task(TaskSpec("b", "pkg.mod:fn", args=(Ref("a"),), deps=["a"], version="v1"),
                {"a": a}, timeout=None, retry=RetryPolicy(), version="v1")
    assert isinstance(a, Fingerprint) and isinstance(b, Fingerprint)
    assert a.hex == "75abae020f778dd93657750a59ca0edabe97b4dd2d4deecae1be68d7eae31a38"
    assert b.hex == "3863f91369673da2d76084530372a4a5804730d9860d8e1cea733db4e7c07a1c"
