"""The fuzz targets of issue 11, run in a child process under a memory cap.

    python -m tests.property.fuzz_inputs TARGET EXAMPLES SEED MEMORY_MB

TARGET: ``workflow`` (mutated workflow documents, as JSON, YAML and TOML text, through
``parse_text`` and ``build_workflow``), ``constructors`` (every field of ``OrchestrationPolicy``,
``RetryPolicy`` and ``TaskSpec`` given a wild value) or ``events`` (mutated event logs through
``summarize``). Only the documented errors may come out: ``WorkflowError`` with a place,
``PolicyError``/``SpecError``/``GraphError``, ``EventLogError``. SEED ``ci`` runs derandomized
(the same examples every time); a number seeds a fresh search (soak mode). The child caps its
address space at MEMORY_MB with ``resource.setrlimit``, so an input that makes the code blow up
in memory ends in ``MemoryError``, a failure, not in a machine killed for memory. Exit code 0:
every example held; 1: a counterexample, printed by hypothesis.
"""

from __future__ import annotations

import copy
import io
import json
import resource
import sys
from typing import Any, Callable

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

# -- wild values -----------------------------------------------------------------------------

HUGE = [10**400, -(10**400), 2**63, 2**64, -(2**63) - 1, 1e308, -1e308, 5e-324,
        float("nan"), float("inf"), float("-inf"), 0, -0.0, True, False]
WILD_TEXT = ["", " ", "\x00", "\x07", "\ud800", "é", "a" * 5000, "tasks", "$ref", "<<", "*x",
             "&x", "x-", "workers.agents:echo", "a:b", "::", "1e400", "NaN"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(HUGE), st.text(max_size=20), st.sampled_from(WILD_TEXT))
wild = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


# -- workflow documents ----------------------------------------------------------------------

BASE: dict[str, Any] = {
    "name": "fuzz",
    "policy": {"max_concurrency": 2, "task_timeout": 5, "kill_grace": 0.1,
               "retry": {"max_attempts": 2, "backoff": "exponential", "base_delay": 0.1}},
    "tasks": [
        {"id": "a", "fn": "workers.agents:echo", "args": [1]},
        {"id": "b", "fn": "workers.agents:add", "args": [{"$ref": "a"}, 2], "timeout": 3},
        {"id": "c", "fn": "workers.agents:echo", "deps": ["a", "b"], "retries": 1,
         "tags": {"team": "x"}, "priority": 2, "estimate": 1.5},
    ],
}
PLACES: list[tuple[Any, ...]] = [
    ("name",), ("policy",), ("policy", "max_concurrency"), ("policy", "task_timeout"),
    ("policy", "kill_grace"), ("policy", "retry"), ("policy", "retry", "max_attempts"),
    ("policy", "retry", "base_delay"), ("policy", "retry", "jitter"), ("policy", "cluster"),
    ("tasks",), ("tasks", 0), ("tasks", 0, "id"), ("tasks", 0, "fn"), ("tasks", 1, "args"),
    ("tasks", 1, "args", 0), ("tasks", 1, "timeout"), ("tasks", 2, "deps"),
    ("tasks", 2, "deps", 0), ("tasks", 2, "retries"), ("tasks", 2, "priority"),
    ("tasks", 2, "estimate"), ("tasks", 2, "max_memory_mb"), ("merge",), ("gates",),
    ("python_path",), ("x-any",), ("tasks", 0, "agrs"),
]


def _put(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


def _yaml(doc: Any) -> str:
    import yaml

    return str(yaml.safe_dump(doc, allow_unicode=True))


def _toml(doc: Any) -> str:
    """A TOML rendering good enough to fuzz with (values as JSON where TOML agrees)."""
    out = []
    for key, value in doc.items():
        if key != "tasks" and not isinstance(value, dict):
            out.append(f"{json.dumps(str(key))} = {json.dumps(value)}")
    for task in doc.get("tasks") or []:
        out.append("[[tasks]]")
        if isinstance(task, dict):
            out += [f"{json.dumps(str(k))} = {json.dumps(v)}" for k, v in task.items()]
    return "\n".join(out) + "\n"


TEXT_EDITS = ["\x07", "\x00", "&x ", "*x", "<<: *x\n", "[" * 3000, "{" * 3000, "9" * 5000,
              ": :", "\t", "\n- ", '"', "'", "#", "\ufeff", "1e400", "-", "&a [1, *a]"]


@st.composite
def workflow_texts(draw: st.DrawFn) -> tuple[str, str]:
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        place = draw(st.sampled_from(PLACES))
        value = draw(st.one_of(wild, st.sampled_from([_nested(150), _nested(2000)])))
        try:
            _put(doc, place, value)
        except (KeyError, IndexError, TypeError):
            pass  # the path no longer exists after an earlier change
    kind = draw(st.sampled_from(["JSON", "YAML", "TOML"]))
    try:
        text = {"JSON": lambda d: json.dumps(d, ensure_ascii=False), "YAML": _yaml,
                "TOML": _toml}[kind](doc)
    except (ValueError, TypeError, RecursionError, UnicodeEncodeError):
        text = json.dumps(BASE)  # the document cannot be written down: fuzz the text instead
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 4))
        text = text[:at] + draw(st.sampled_from(TEXT_EDITS)) + text[at + cut:]
    return kind, text.encode("utf-8", "replace").decode("utf-8")


def check_workflow(item: tuple[str, str]) -> None:
    from orchestrator.workflow import WorkflowError
    from orchestrator.workflow.build import build_workflow
    from orchestrator.workflow.documents import parse_text

    kind, text = item
    try:
        build_workflow(parse_text(text, "fuzz." + kind.lower(), kind))
    except WorkflowError as exc:
        assert exc.problems and all(p.source and p.message for p in exc.problems), exc
        str(exc)  # every problem can be shown


# -- constructors ----------------------------------------------------------------------------

POLICY_FIELDS = ["max_concurrency", "task_timeout", "global_timeout", "cancellation",
                 "on_failure", "max_pending", "kill_grace", "max_task_memory_mb",
                 "max_tasks_per_worker", "critical_path_first", "memory_check_interval"]
RETRY_FIELDS = ["max_attempts", "backoff", "base_delay", "multiplier", "max_delay", "jitter",
                "seed", "retry_on", "retry_on_timeout", "retry_on_crash"]
SPEC_FIELDS = ["id", "fn", "args", "kwargs", "deps", "timeout", "priority", "estimate", "tags",
               "max_memory_mb"]


@st.composite
def constructor_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    which = draw(st.sampled_from(["policy", "retry", "spec"]))
    names = {"policy": POLICY_FIELDS, "retry": RETRY_FIELDS, "spec": SPEC_FIELDS}[which]
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    values = st.one_of(st.sampled_from(HUGE), wild)  # half the draws: a number at an edge
    return which, {name: draw(values) for name in chosen}


def check_constructor(call: tuple[str, dict[str, Any]]) -> None:
    from orchestrator import OrchestrationPolicy, OrchestratorError, RetryPolicy, TaskSpec

    which, fields = call
    try:
        if which == "policy":
            OrchestrationPolicy(**fields).replace()
        elif which == "retry":
            retry = RetryPolicy(**fields)
            for attempt in (1, 2, 50, 5000):
                retry.delay("t", attempt)
        else:
            TaskSpec(**{"id": "t", "fn": "workers.agents:echo", **fields})
    except OrchestratorError as exc:
        str(exc)


# -- event logs ------------------------------------------------------------------------------


def _base_log() -> list[str]:
    from orchestrator.telemetry.sinks import format_event
    from tests.telemetry.scenarios import SCENARIOS

    lines = []
    for name in sorted(SCENARIOS):
        lines += [format_event(e) for e in SCENARIOS[name]()[1]]
    return lines


LOG: list[str] = []
LINE_EDITS = [b"\xff", b"\x00", b"\n", b"[" * 5000, b"9" * 5000, b"NaN", b"1e400", b"}", b'"']


@st.composite
def event_logs(draw: st.DrawFn) -> bytes:
    if not LOG:
        LOG.extend(_base_log())
    objs = [json.loads(line) for line in LOG]
    for _ in range(draw(st.integers(0, 4))):
        obj = objs[draw(st.integers(0, len(objs) - 1))]
        target = obj.get("data") if isinstance(obj.get("data"), dict) and draw(st.booleans()) \
            else obj
        key = draw(st.one_of(st.sampled_from(sorted(target) or ["x"]),
                             st.sampled_from(["deps", "busy_time", "workers", "seq", "ts"])))
        target[key] = draw(st.one_of(wild, st.sampled_from([["a"], ["b", "a"], 10**400]),
                                     st.just(_nested(1500))))
    lines = []
    for o in objs:
        try:
            lines.append(json.dumps(o, ensure_ascii=False).encode("utf-8", "replace"))
        except (ValueError, RecursionError):
            lines.append(b"{}")
    if draw(st.booleans()):
        lines = draw(st.permutations(lines))
    data = b"\n".join(lines) + b"\n"
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(LINE_EDITS)) + data[at + draw(st.integers(0, 9)):]
    return data


def check_events(data: bytes) -> None:
    from orchestrator import EventLogError
    from orchestrator.telemetry.reader import summarize

    for lenient in (False, True):
        skipped: list[EventLogError] = []
        try:
            for run in summarize(io.BytesIO(data), on_bad_line=skipped.append if lenient
                                 else None):
                run.render()
                json.dumps(run.to_dict())
        except EventLogError as exc:
            str(exc)
    # And as a user meets it: exit 0, or 2 with the line, never "unexpected" (exit 1).
    from click.testing import CliRunner

    from orchestrator.cli import cli

    result = CliRunner().invoke(cli, ["events", "summarize", "-"], input=data,
                                catch_exceptions=False)
    assert result.exit_code in (0, 2), (result.exit_code, result.output)
    assert "Error: unexpected" not in result.output  # the CLI's word for a bug


# -- the child -------------------------------------------------------------------------------

TARGETS: dict[str, tuple[Any, Callable[[Any], None]]] = {
    "workflow": (workflow_texts(), check_workflow),
    "constructors": (constructor_calls(), check_constructor),
    "events": (event_logs(), check_events),
}


def main(argv: list[str]) -> int:
    target, examples, which_seed, memory_mb = argv[0], int(argv[1]), argv[2], int(argv[3])
    cap = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    strategy, check = TARGETS[target]
    test = given(strategy)(check)
    test = settings(max_examples=examples, deadline=None, database=None, print_blob=True,
                    derandomize=which_seed == "ci",
                    suppress_health_check=list(HealthCheck))(test)
    if which_seed != "ci":
        test = seed(int(which_seed))(test)
    test()
    print(f"fuzz {target}: {examples} examples held (seed {which_seed}, cap {memory_mb} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
