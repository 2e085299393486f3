"""Garbage collector settings for a process that runs the booth at high rates."""

from __future__ import annotations

import gc

__all__ = ["tune_collector"]

_YOUNG_THRESHOLD = 50_000
"""Allocations between collections of the youngest generation (CPython's
default is 700)."""


def tune_collector() -> None:
    """Make garbage collection rarer and shorter in a process that hosts a booth.

    The policy engine, the price catalogue and the modules loaded at start
    are long-lived, so freezing them keeps every full collection from
    walking them again. Collections of the youngest generation then run
    after 50,000 allocations instead of 700: they are rarer, and the heap
    they visit stays small. Under 32 caller threads this raised the
    in-process booth's throughput by a tenth or more in measurements.

    The settings belong to the whole process, so the booth never applies
    them itself: ``ssoar serve`` calls this once it has loaded everything,
    and a program that embeds the booth may do the same.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(_YOUNG_THRESHOLD, 20, 100)
