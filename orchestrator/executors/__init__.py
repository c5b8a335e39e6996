"""The seam between the scheduler and whatever runs attempts: the protocol and its events
(``base``), the implementations ``local`` (worker processes, the default), ``inline`` (in this
process, for debugging) and ``scripted`` (tests and simulation decide every outcome), and
``pickling`` (what crosses into a worker, and what could not)."""
