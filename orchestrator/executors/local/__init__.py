"""The local pool: worker processes the parent owns, one private pipe each, and the reaper."""

from .pool import LocalPool

__all__ = ["LocalPool"]
