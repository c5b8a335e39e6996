"""The scheduler: the one loop in the parent that owns every task's state."""

from .loop import Scheduler

__all__ = ["Scheduler"]
