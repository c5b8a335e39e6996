"""Code that runs inside the pool's worker processes.

Kept light on purpose: a worker that was killed is replaced, and the replacement must be ready
fast. Never imports the parent's scheduler.
"""

from .context import TaskContext, current_task
from .retry import RetryAfter

__all__ = ["TaskContext", "current_task", "RetryAfter"]
