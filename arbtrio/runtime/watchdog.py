"""Time passing: the ticker (positions with work to do) and the watchdog (health, net delta).

* :func:`run_ticker` sends every ``tick_interval_s`` a ``Tick`` with current quotes to each
  position that is unstable (IDLE, OPENING, UNWINDING, CLOSING) or has an order in flight:
  chase deadlines and order queries are driven by it. Ticks are conflated (dropped when an
  inbox is full: the next one carries newer quotes).
* :class:`Watchdog` every ``watchdog_interval_s`` refreshes venue health and checks net
  delta per asset against the risk limit; a breach that outlasts ``watchdog_grace_s``
  flattens that asset's positions carrying delta (FAULTED ones need an operator: a critical
  log line says so) and is journaled.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
import trio

from arbtrio.config import Config
from arbtrio.core import events as ev
from arbtrio.core.position import PositionState
from arbtrio.core.risk import RiskGate
from arbtrio.runtime.journal import Journal
from arbtrio.runtime.market import MarketView
from arbtrio.runtime.positions import UNSTABLE, PositionBook

__all__ = ["Watchdog", "run_ticker"]

log = structlog.get_logger("arbtrio.runtime")


async def run_ticker(interval: float, positions: PositionBook, market: MarketView) -> None:
    """Tick every position with work to do, every ``interval`` seconds, until cancelled."""
    while True:
        await trio.sleep(interval)
        now = trio.current_time()
        for actor in list(positions.live.values()):
            if actor.done.is_set():
                continue
            if actor.state in UNSTABLE or actor.position.live_orders():
                actor.offer(ev.Tick(ts=now, quotes=market.quotes_for(actor.position.spec)))


class Watchdog:
    """Venue health refresh and the net-delta watchdog (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        *,
        positions: PositionBook,
        market: MarketView,
        gate: RiskGate,
        journal: Journal,
        refresh_health: Callable[[], None],
    ) -> None:
        self.config = config
        self.positions = positions
        self.market = market
        self.gate = gate
        self.journal = journal
        self.refresh_health = refresh_health
        self._breach_since: dict[str, float] = {}
        self._acted: set[str] = set()

    async def run(self) -> None:
        svc = self.config.service
        while True:
            await trio.sleep(svc.watchdog_interval_s)
            self.refresh_health()
            await self.check(trio.current_time())

    async def check(self, now: float) -> None:
        """One net-delta check: act on each breach that outlasted the grace period."""
        breached = set(self.gate.net_delta_breached(self.positions.exposure()))
        for asset in list(self._breach_since):
            if asset not in breached:
                del self._breach_since[asset]
                self._acted.discard(asset)
        for asset in sorted(breached):
            since = self._breach_since.setdefault(asset, now)
            if now - since < self.config.service.watchdog_grace_s or asset in self._acted:
                continue
            self._acted.add(asset)
            faulted, flattened = [], []
            for actor in list(self.positions.live.values()):
                pos = actor.position
                if pos.spec.asset != asset or pos.state is PositionState.SETTLED:
                    continue
                if pos.net_exposure() == 0:
                    continue
                if pos.state is PositionState.FAULTED:
                    faulted.append(actor.position_id)
                    continue
                flattened.append(actor.position_id)
                quotes = self.market.quotes_for(pos.spec)
                await actor.send(ev.OperatorFlatten(ts=now, quotes=quotes))
            log.critical(
                "watchdog.net_delta_breached",
                asset=asset,
                limit=str(self.config.risk.max_net_delta_per_asset),
                flattened=flattened,
                faulted_need_operator=faulted,
            )
            await self.journal.service(
                "watchdog", now, asset=asset, flattened=flattened, faulted=faulted
            )
