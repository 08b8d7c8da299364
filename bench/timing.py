"""Timing one piece of work: a warm-up run, then `reps` timed runs, reported by their median."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Timing", "measure"]


@dataclass(frozen=True)
class Timing:
    """Milliseconds over `reps` runs after one untimed warm-up run."""

    median_ms: float
    min_ms: float
    max_ms: float
    reps: int

    def as_dict(self) -> dict[str, Any]:
        return {"median_ms": round(self.median_ms, 2), "min_ms": round(self.min_ms, 2),
                "max_ms": round(self.max_ms, 2), "reps": self.reps}  # fmt: skip


def measure(work: Callable[[], object], reps: int, *, warm_up: bool = True) -> Timing:
    """Time `work`; the warm-up run lets the database's cache and Python's imports settle, as on a running bot
    (leave it out when the same data was just read by a measurement of the same question)."""
    if warm_up:
        work()
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000.0)
    return Timing(statistics.median(samples), min(samples), max(samples), reps)
