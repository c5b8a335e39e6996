"""Turn a checked document into the library's objects: the policy, the TaskSpecs, the TaskGraph.

Nothing here re-checks values: ``RetryPolicy``, ``OrchestrationPolicy``, ``TaskSpec`` and
``TaskGraph`` validate themselves, and their messages are kept as they are. What this module
adds is the place: which field of which task (or which command-line option) the library
rejected. When a constructor rejects a set of fields, each field is tried alone to find the one
to blame; the library's own message says why.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..model.errors import CycleError, OrchestratorError
from ..model.graph import TaskGraph
from ..model.policy import OrchestrationPolicy, RetryPolicy
from ..model.resources import RateLimit, check_fits
from ..model.spec import Ref, TaskSpec
from .documents import Document
from .graph_check import graph_problems
from .problems import Path, Problem, WorkflowError
from .schema import check_schema

__all__ = ["Workflow", "Override", "build_workflow", "cluster_problem"]

# A value given on the command line for a policy field, with the option that gave it:
# {("task_timeout",): (30.0, "--task-timeout"), ("retry", "max_attempts"): (3, "--retries")}.
Override = tuple[Any, str]

# The policy section's field that is not the policy's: where the run goes (``Workflow.cluster``).
CLUSTER_FIELD = "cluster"
# Dask's address schemes, or local:N.
_CLUSTER = re.compile(r"(tcp|tls|ucx|ws|wss|inproc)://\S+|local:[1-9][0-9]*")

_SPEC_FIELDS = ("id", "fn", "args", "kwargs", "deps", "timeout", "priority", "estimate", "tags",
                "max_memory_mb", "resources")


@dataclass(frozen=True)
class Workflow:
    """A workflow ready to run: every library object built, every place remembered."""

    document: Document
    name: str | None
    policy: OrchestrationPolicy
    graph: TaskGraph
    merge: str | None
    gates: tuple[str, ...]
    task_places: Mapping[str, Path]  # task id -> ("tasks", index)
    cluster: str | None = None  # a Dask scheduler's address, or "local:N"; None: this machine

    @property
    def source(self) -> str:
        return self.document.source


def build_workflow(doc: Document, overrides: Mapping[tuple[str, ...], Override] | None = None,
                   ) -> Workflow:
    """Check ``doc`` against the schema and build everything; raises ``WorkflowError``."""
    shape = check_schema(doc)
    if shape:
        raise WorkflowError(shape)
    data: dict[str, Any] = doc.data
    section = data.get("policy") or {}
    cluster = _build_cluster(doc, section, overrides or {})
    problems: list[Problem] = []  # every problem of this stage: the policy's and the tasks'
    policy = _build_policy(doc, section, overrides or {}, problems)
    built = _build_tasks(doc, data["tasks"], policy.retry if policy else RetryPolicy(), problems)
    if not problems:
        problems = graph_problems(doc, built)
    if not problems and policy is not None:
        problems = _resource_problems(doc, [spec for spec, _ in built], policy)
    if problems or policy is None:  # in the file's order; a command-line option's first
        raise WorkflowError(sorted(problems, key=lambda p: p.line or 0))
    graph = TaskGraph([spec for spec, _ in built])
    places = {spec.id: ("tasks", i) for i, (spec, _) in enumerate(built)}
    return Workflow(doc, data.get("name"), policy, graph, data.get("merge"),
                    tuple(data.get("gates") or ()), places, cluster)


def cluster_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a cluster (None: nothing)."""
    if _CLUSTER.fullmatch(value):
        return None
    return (f"must be a Dask scheduler address such as 'tcp://10.0.0.5:8786', or 'local:N' "
            f"for N Dask workers on this machine; got {value!r}")


def _build_cluster(doc: Document, section: Mapping[str, Any],
                   overrides: Mapping[tuple[str, ...], Override]) -> str | None:
    given = overrides.get((CLUSTER_FIELD,))
    value = given[0] if given is not None else section.get(CLUSTER_FIELD)
    if value is None:
        return None
    message = cluster_problem(value)
    if message is None:
        return str(value)
    if given is not None:
        raise WorkflowError([Problem(given[1], message)])
    raise WorkflowError([doc.problem(("policy", CLUSTER_FIELD), message)])


# -- policy --------------------------------------------------------------------------------


def _blamed(factory: Callable[..., Any], values: Mapping[str, Any],
            fixed: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """``(field, message)`` for each field that ``factory`` rejects on its own."""
    out = []
    for key, value in values.items():
        try:
            factory(**{**(fixed or {}), key: value})
        except (OrchestratorError, TypeError, ValueError) as exc:
            out.append((key, str(exc)))
    return out


def _blame(factory: Callable[..., Any], values: Mapping[str, Any],
           fixed: Mapping[str, Any] | None = None) -> str | None:
    """The first field that ``factory`` rejects on its own, if any."""
    found = _blamed(factory, values, fixed)
    return found[0][0] if found else None


def _built(factory: Callable[..., Any], values: Mapping[str, Any], fixed: Mapping[str, Any],
           where: Callable[[tuple[str, ...], str], Problem], problems: list[Problem]) -> Any:
    """``factory(**fixed, **values)``, or None with a problem for every field it rejects."""
    try:
        return factory(**fixed, **values)
    except OrchestratorError as exc:
        found = _blamed(factory, values, fixed)
        problems.extend(where((key,), message) for key, message in found)
        if not found:  # only the combination is wrong
            problems.append(where((), str(exc)))
        return None


def _build_policy(doc: Document, section: Mapping[str, Any],
                  overrides: Mapping[tuple[str, ...], Override],
                  problems: list[Problem]) -> OrchestrationPolicy | None:
    """The policy, or None with a problem for each field it rejects (all of them). Mutates."""
    fields = {k: v for k, v in section.items() if k not in ("retry", CLUSTER_FIELD)}
    retry_fields = dict(section.get("retry") or {})
    given_by: dict[tuple[str, ...], str] = {}
    for path, (value, option) in overrides.items():
        if path == (CLUSTER_FIELD,):
            continue
        target = retry_fields if path[0] == "retry" else fields
        if isinstance(value, dict) and isinstance(target.get(path[-1]), dict):
            value = {**target[path[-1]], **value}  # --resource api=5 changes api alone
        target[path[-1]] = value
        given_by[path] = option

    def problem(path: tuple[str, ...], message: str) -> Problem:
        if path in given_by:
            return Problem(given_by[path], message)
        return doc.problem(("policy",) + path, message)

    bad_rates = False
    if isinstance(fields.get("rate_limits"), dict):
        from_option = overrides.get(("rate_limits",), ({}, ""))[0]

        def rate_problem(name: str, message: str) -> Problem:
            return problem(("rate_limits",) if name in from_option else ("rate_limits", name),
                           message)
        limits = _rate_limits(fields.pop("rate_limits"), rate_problem, problems)
        bad_rates = limits is None
        if limits is not None:
            fields["rate_limits"] = limits
    retry = _built(RetryPolicy, retry_fields, {},
                   lambda path, message: problem(("retry",) + path, message), problems)
    policy = _built(OrchestrationPolicy, fields, {"retry": retry or RetryPolicy()}, problem,
                    problems)
    return policy if retry is not None and not bad_rates else None


def _rate_limits(raw: Mapping[str, Any], problem: Callable[[str, str], Problem],
                 problems: list[Problem]) -> dict[str, RateLimit] | None:
    """``{"api": 5}`` or ``{"api": {"rate": 5, "per": 1, "burst": 2}}`` -> ``RateLimit``s;
    None with a problem for each bad one. Mutates ``problems``."""
    out: dict[str, RateLimit] = {}
    bad = False
    for name, value in raw.items():
        try:
            out[name] = (value if isinstance(value, RateLimit) else RateLimit(**value)
                         if isinstance(value, dict) else RateLimit(value))
        except (OrchestratorError, TypeError) as exc:
            problems.append(problem(name, str(exc)))
            bad = True
    return None if bad else out


def _resource_problems(doc: Document, specs: list[TaskSpec],
                       policy: OrchestrationPolicy) -> list[Problem]:
    """A task whose resources the policy cannot hold is bad input, at its place in the file."""
    problems: list[Problem] = []
    for index, spec in enumerate(specs):
        try:
            check_fits(spec, policy.resources, policy.rate_limits)
        except OrchestratorError as exc:
            problems.append(doc.problem(("tasks", index, "resources"), str(exc)))
    return problems


# -- tasks ---------------------------------------------------------------------------------


def _refs_to_objects(value: Any, path: Path, doc: Document, refs: dict[str, Path],
                     problems: list[Problem]) -> Any:
    """A copy of ``value`` with every ``{"$ref": "id"}`` replaced by ``Ref("id")``."""
    if isinstance(value, list):
        return [_refs_to_objects(v, path + (i,), doc, refs, problems)
                for i, v in enumerate(value)]
    if isinstance(value, dict):
        if "$ref" in value:
            target = value["$ref"]
            if len(value) != 1 or not isinstance(target, str) or not target:
                problems.append(doc.problem(path, 'a {"$ref": ...} object takes exactly one key, '
                                                  f'"$ref", whose value is a task id; got '
                                                  f'{value!r}'))
                return None
            refs.setdefault(target, path)
            return Ref(target)
        return {k: _refs_to_objects(v, path + (k,), doc, refs, problems)
                for k, v in value.items()}
    return value


def _task_retry(doc: Document, raw: Mapping[str, Any], path: Path, run_retry: RetryPolicy,
                problems: list[Problem]) -> RetryPolicy | None:
    if "retries" in raw and "retry" in raw:
        problems.append(doc.problem(path + ("retries",),
                                    "give either 'retries' or 'retry', not both"))
        return None
    changes: dict[str, Any]
    if "retries" in raw:
        changes, where = {"max_attempts": raw["retries"] + 1}, path + ("retries",)
    elif "retry" in raw:
        changes, where = dict(raw["retry"]), path + ("retry",)
    else:
        return None
    try:
        return dataclasses.replace(run_retry, **changes)
    except OrchestratorError as exc:
        key = _blame(lambda **kw: dataclasses.replace(run_retry, **kw), changes)
        if key is not None and "retry" in raw:
            where += (key,)
        problems.append(doc.problem(where, str(exc)))
        return None


def _build_tasks(doc: Document, tasks: list[dict[str, Any]], run_retry: RetryPolicy,
                 problems: list[Problem]) -> list[tuple[TaskSpec, dict[str, Path]]]:
    """One ``(spec, where its $refs sit)`` per entry, in document order; a problem for each
    entry that cannot be built. Mutates ``problems``."""
    built: list[tuple[TaskSpec, dict[str, Path]]] = []
    for index, raw in enumerate(tasks):
        path: Path = ("tasks", index)
        refs: dict[str, Path] = {}
        before = len(problems)
        fields = {k: raw[k] for k in _SPEC_FIELDS if k in raw}
        if "args" in raw:
            fields["args"] = _refs_to_objects(raw["args"], path + ("args",), doc, refs, problems)
        if "kwargs" in raw:
            fields["kwargs"] = _refs_to_objects(raw["kwargs"], path + ("kwargs",), doc, refs,
                                                problems)
        retry = _task_retry(doc, raw, path, run_retry, problems)
        if len(problems) > before:
            continue
        try:
            built.append((TaskSpec(retry=retry, **fields), refs))
        except CycleError as exc:  # the task depends on itself: the place is that dependency
            tid = exc.cycle[0]
            deps = list(fields.get("deps") or ())
            where = path + ("deps", deps.index(tid)) if tid in deps else refs.get(tid, path)
            problems.append(doc.problem(where, str(exc)))
        except OrchestratorError as exc:
            key = _blame(TaskSpec, fields, {"id": "<blame>", "fn": "module:function"})
            problems.append(doc.problem(path + ((key,) if key else ()), str(exc)))
    return built
