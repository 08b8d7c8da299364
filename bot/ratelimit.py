"""Per-user command rate limit: a token bucket per chat user, so one flood cannot crowd out everyone else."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

__all__ = ["RateLimiter"]


@dataclass
class _Bucket:
    tokens: float
    updated: datetime


class RateLimiter:
    """Allows `per_minute` commands a minute per key, with bursts up to `burst`; time comes from the caller."""

    MAX_BUCKETS = 10_000

    def __init__(self, per_minute: int, burst: int | None = None) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(burst if burst is not None else max(1, per_minute // 2))
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def check(self, key: str, now: datetime) -> float:
        """Take one token for `key`: 0.0 when allowed, else the seconds to wait before the next command."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.MAX_BUCKETS:
                    self._forget_idle(now)
                bucket = self._buckets[key] = _Bucket(self.capacity, now)
            elapsed = max(0.0, (now - bucket.updated).total_seconds())
            bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def _forget_idle(self, now: datetime) -> None:
        # A bucket idle long enough to be full again says nothing a new bucket would not.
        refill = self.capacity / self.rate
        for key in [k for k, b in self._buckets.items() if (now - b.updated).total_seconds() >= refill]:
            del self._buckets[key]
