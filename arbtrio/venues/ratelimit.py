"""Client-side rate budgets: a token bucket per venue pool, shared by every request using it.

``await bucket.acquire(weight)`` waits until the pool has ``weight`` tokens (refilled at
``rate`` per second up to ``capacity``), so requests queue locally instead of being refused
by the venue. :meth:`TokenBucket.penalize` empties the pool for ``seconds`` after a 429 (or a
venue's own retry-after), so the whole account backs off, not just the request that hit it.
"""

from __future__ import annotations

import attrs
import trio


@attrs.define(eq=False)
class TokenBucket:
    name: str
    capacity: float
    rate: float  # tokens per second
    tokens: float = attrs.field(default=-1.0)
    updated: float | None = None
    blocked_until: float = 0.0

    def __attrs_post_init__(self) -> None:
        if self.capacity <= 0 or self.rate <= 0:
            raise ValueError(f"rate bucket {self.name}: capacity and rate must be > 0")
        if self.tokens < 0:
            self.tokens = self.capacity

    def _refill(self, now: float) -> None:
        if self.updated is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def try_acquire(self, weight: float, now: float) -> float:
        """Take ``weight`` tokens if possible and return 0.0, else the seconds to wait."""
        if weight > self.capacity:
            raise ValueError(f"rate bucket {self.name}: weight {weight} > capacity")
        self._refill(now)
        if now < self.blocked_until:
            return self.blocked_until - now
        if self.tokens >= weight:
            self.tokens -= weight
            return 0.0
        return (weight - self.tokens) / self.rate

    async def acquire(self, weight: float = 1.0) -> None:
        """Wait (on Trio's clock) until ``weight`` tokens are available, then take them."""
        while True:
            wait = self.try_acquire(weight, trio.current_time())
            if wait <= 0:
                return
            await trio.sleep(wait)

    def penalize(self, seconds: float, now: float) -> None:
        """Refuse everything for ``seconds`` and start again from an empty pool."""
        self._refill(now)
        self.blocked_until = max(self.blocked_until, now + seconds)
        self.tokens = 0.0
