"""One command-line option per policy field; the values given override the workflow's ``policy``.

Options default to None ("not given"), so only what the user typed overrides the file. Values are
not checked here beyond their type: the library checks ranges when it builds the policy, and the
error names the option (``--max-concurrency: OrchestrationPolicy.max_concurrency must be ...``).
Choices come from the library's own ``Literal`` types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar, get_args

import click

from ..model.policy import Backoff, Cancellation, OnFailure
from ..workflow import Override

__all__ = ["POLICY_OPTIONS", "policy_options", "pop_overrides"]

F = TypeVar("F", bound=Callable[..., Any])


class NamedValue(click.ParamType):  # type: ignore[type-arg]
    """``NAME=N`` (``"amount"``: a number) or ``NAME=RATE[/PER]`` (``"rate"``: a rate-limit
    object for the workflow's ``rate_limits``); ranges are the library's to check."""

    name = "NAME=VALUE"

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[str, Any]:
        if isinstance(value, tuple):
            return value
        name, sep, rest = str(value).partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            if self.kind == "rate":
                rate, slash, per = rest.partition("/")
                limit: dict[str, float] = {"rate": float(rate)}
                if slash:
                    limit["per"] = float(per)
                return name.strip(), limit
            return name.strip(), float(rest)
        except ValueError:
            form = "NAME=RATE[/PER], e.g. api=5/1" if self.kind == "rate" else "NAME=N, e.g. api=3"
            self.fail(f"expected {form}, got {value!r}", param, ctx)


@dataclass(frozen=True)
class PolicyOption:
    decls: tuple[str, ...]
    field: tuple[str, ...]  # ("task_timeout",) or ("retry", "base_delay")
    type: Any
    help: str
    convert: Callable[[Any], Any] | None = None
    multiple: bool = False
    metavar: str = "NAME"

    @property
    def param(self) -> str:
        return "policy_" + "_".join(self.field)

    @property
    def flag(self) -> str:
        return next(d for d in self.decls if d.startswith("--"))


POLICY_OPTIONS: tuple[PolicyOption, ...] = (
    PolicyOption(("-j", "--max-concurrency"), ("max_concurrency",), int,
                 "Tasks running at once, one worker process each. [default: usable cores]"),
    PolicyOption(("--timeout",), ("global_timeout",), float,
                 "Seconds the whole run may take; then running tasks are killed and the rest "
                 "cancelled."),
    PolicyOption(("--task-timeout",), ("task_timeout",), float,
                 "Seconds one task may run before its process tree is killed."),
    PolicyOption(("--retries",), ("retry", "max_attempts"), click.IntRange(min=0),
                 "Retries after a failed attempt (attempts = retries + 1).",
                 convert=lambda n: n + 1),
    PolicyOption(("--backoff",), ("retry", "backoff"), click.Choice(get_args(Backoff)),
                 "Delay between attempts: the same each time, or growing."),
    PolicyOption(("--base-delay",), ("retry", "base_delay"), float,
                 "Seconds before the first retry."),
    PolicyOption(("--multiplier",), ("retry", "multiplier"), float,
                 "Growth factor of exponential backoff."),
    PolicyOption(("--max-delay",), ("retry", "max_delay"), float, "Cap on the retry delay."),
    PolicyOption(("--jitter",), ("retry", "jitter"), float,
                 "Scale each delay by a random factor in [1 - J, 1 + J]."),
    PolicyOption(("--seed",), ("retry", "seed"), int, "Seed of the jitter (same seed, same "
                                                       "delays)."),
    PolicyOption(("--retry-on",), ("retry", "retry_on"), str,
                 "Retry only these exception class names (repeatable). [default: any]",
                 convert=tuple, multiple=True),
    PolicyOption(("--retry-on-timeout/--no-retry-on-timeout",), ("retry", "retry_on_timeout"),
                 bool, "Whether a timed-out attempt is retried."),
    PolicyOption(("--retry-on-crash/--no-retry-on-crash",), ("retry", "retry_on_crash"), bool,
                 "Whether an attempt whose worker died is retried."),
    PolicyOption(("--cancellation",), ("cancellation",), click.Choice(get_args(Cancellation)),
                 "cascading: the first failure stops the run; isolated: nothing else is "
                 "affected."),
    PolicyOption(("--on-failure",), ("on_failure",), click.Choice(get_args(OnFailure)),
                 "skip: dependents of a failed task are skipped; continue: they run anyway."),
    PolicyOption(("--max-task-memory",), ("max_task_memory_mb",), float,
                 "MiB of resident memory (worker and its children) above which a task is "
                 "killed."),
    PolicyOption(("--max-pending",), ("max_pending",), int,
                 "Tasks queued ahead of free workers. [default: max concurrency]"),
    PolicyOption(("--kill-grace",), ("kill_grace",), float,
                 "Seconds between SIGTERM and SIGKILL when a task is stopped."),
    PolicyOption(("--max-tasks-per-worker",), ("max_tasks_per_worker",), int,
                 "Replace a worker after this many tasks (for agents that leak)."),
    PolicyOption(("--critical-path-first/--fifo",), ("critical_path_first",), bool,
                 "Start the longest remaining chains first, or in submission order."),
    PolicyOption(("--memory-check-interval",), ("memory_check_interval",), float,
                 "Seconds between memory checks when a memory limit is set."),
    PolicyOption(("--resource",), ("resources",), NamedValue("amount"),
                 "Capacity of a resource tasks hold, e.g. api=3 (repeatable; cpu defaults to "
                 "the usable cores).", convert=dict, multiple=True, metavar="NAME=N"),
    PolicyOption(("--rate-limit",), ("rate_limits",), NamedValue("rate"),
                 "Starts per PER seconds (default 1) of tasks holding NAME, e.g. api=5 or "
                 "api=100/60 (repeatable).", convert=dict, multiple=True,
                 metavar="NAME=RATE[/PER]"),
)


def policy_options(fn: F) -> F:
    """Add every policy option to a click command."""
    for opt in reversed(POLICY_OPTIONS):
        kwargs: dict[str, Any] = {"default": None, "help": opt.help}
        if opt.multiple:
            kwargs.update(multiple=True, default=(), metavar=opt.metavar)
        if opt.type is not bool:
            kwargs["type"] = opt.type
        fn = click.option(*opt.decls, opt.param, **kwargs)(fn)
    return fn


def pop_overrides(params: dict[str, Any]) -> dict[tuple[str, ...], Override]:
    """Take the policy options out of ``params``; return those given, as workflow overrides.

    Mutates ``params``.
    """
    overrides: dict[tuple[str, ...], Override] = {}
    for opt in POLICY_OPTIONS:
        value = params.pop(opt.param, None)
        if value is None or (opt.multiple and not value):
            continue
        overrides[opt.field] = (opt.convert(value) if opt.convert else value, opt.flag)
    return overrides
