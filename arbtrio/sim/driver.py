"""The thin Trio shell around :class:`~arbtrio.sim.market.SimMarket`: it owns the clock.

One driver per process advances the one market to ``trio.current_time()`` every
``tick_interval_s`` (on a fixed grid, so it never drifts) and wakes everyone waiting in
:meth:`MarketDriver.wait_tick`. Under Trio's ``MockClock`` (autojump) an hour of market runs
as fast as the CPU allows; under the real clock a person can watch it.
"""

from __future__ import annotations

import trio

from arbtrio.sim.market import SimMarket


class MarketDriver:
    """Advances ``market`` on a fixed grid of ``market.config.tick_interval_s``."""

    def __init__(self, market: SimMarket) -> None:
        self.market = market
        self.ticks = 0
        self.running = False
        self._tick = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Advance the market until cancelled; ``started()`` after the first advance."""
        if self.running:
            raise RuntimeError("MarketDriver.run is already running")
        self.running = True
        try:
            interval = self.market.config.tick_interval_s
            start = trio.current_time()
            self._advance(start)
            task_status.started()
            n = 0
            while True:
                n += 1
                await trio.sleep_until(start + n * interval)
                self._advance(trio.current_time())
        finally:
            self.running = False

    async def wait_tick(self) -> None:
        """Return after the next advance of the market."""
        await self._tick.wait()

    def _advance(self, now: float) -> None:
        self.market.advance(now)
        self.ticks += 1
        event, self._tick = self._tick, trio.Event()
        event.set()
