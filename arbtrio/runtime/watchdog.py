"""Time passing: the ticker (positions with work to do) and the watchdog (health, exposure,
margin).

* :func:`run_ticker` sends every ``tick_interval_s`` a ``Tick`` with current quotes to each
  position that is unstable (IDLE, OPENING, UNWINDING, CLOSING) or has an order in flight:
  chase deadlines, exit retries and order queries are driven by it. Ticks are conflated
  (dropped when an inbox is full: the next one carries newer quotes).
* :class:`Watchdog` every ``watchdog_interval_s`` refreshes venue health, then:

  - **net notional** per asset (the positions' fills valued at the marks, in the reference
    currency) against ``risk.max_net_notional_per_asset``: a breach that outlasts
    ``watchdog_grace_s`` flattens that asset's positions carrying exposure (FAULTED ones
    need an operator: a critical log line says so), journaled;
  - **liquidation distance** of every venue position (:meth:`Accounts.near_liquidation`):
    a leg closer than ``risk.min_liquidation_distance_bps`` to its liquidation price has
    every position with a leg there flattened, both legs together (a pair whose other
    venue could not take its close is kept hedged: closing one leg is the greater risk);
  - **collateral drift** across venues (:meth:`Accounts.collateral_drift`): alerted when it
    starts and when it ends.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
import trio

from arbtrio.config import Config
from arbtrio.core import events as ev
from arbtrio.core.position import PositionState
from arbtrio.core.risk import RiskGate
from arbtrio.runtime.accounts import Accounts
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
    """Venue health refresh, the exposure and margin watches (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        *,
        positions: PositionBook,
        market: MarketView,
        accounts: Accounts,
        gate: RiskGate,
        journal: Journal,
        refresh_health: Callable[[], None],
    ) -> None:
        self.config = config
        self.positions = positions
        self.market = market
        self.accounts = accounts
        self.gate = gate
        self.journal = journal
        self.refresh_health = refresh_health
        self._breach_since: dict[str, float] = {}
        self._acted: set[str] = set()
        self._liquidation: set[tuple[str, str]] = set()  # (venue, symbol) acted on
        self.drift: tuple[str, str, str] | None = None  # (rich, poor, ratio) standing

    async def run(self) -> None:
        svc = self.config.service
        while True:
            await trio.sleep(svc.watchdog_interval_s)
            self.refresh_health()
            now = trio.current_time()
            await self.check(now)
            await self.check_liquidation(now)
            await self.check_collateral(now)

    async def check(self, now: float) -> None:
        """One net-notional check: act on each breach that outlasted the grace period."""
        breached = set(self.gate.net_notional_breached(self.accounts.exposure()))
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
                "watchdog.net_notional_breached",
                asset=asset,
                limit=str(self.config.risk.max_net_notional_per_asset),
                flattened=flattened,
                faulted_need_operator=faulted,
            )
            await self.journal.service(
                "watchdog", now, asset=asset, flattened=flattened, faulted=faulted
            )

    async def check_liquidation(self, now: float) -> None:
        """Flatten every position with a leg near its venue's liquidation price (once per
        (venue, symbol) until it is clear again)."""
        risks = {(r.venue, r.symbol): r for r in self.accounts.near_liquidation()}
        self._liquidation &= set(risks)
        for key, risk in sorted(risks.items()):
            if key in self._liquidation:
                continue
            self._liquidation.add(key)
            flattened, held = [], {}
            for actor, _leg in list(self.positions.holding(risk.venue, risk.asset)):
                pos = actor.position
                if pos.state in (PositionState.SETTLED, PositionState.FAULTED):
                    continue
                blocker = (
                    self.market.exit_blocker(pos.spec, now)
                    if pos.state is PositionState.HEDGED
                    else None
                )
                if blocker is not None:
                    held[actor.position_id] = blocker
                    continue
                await actor.send(
                    ev.OperatorFlatten(ts=now, quotes=self.market.quotes_for(pos.spec))
                )
                flattened.append(actor.position_id)
            log.critical("watchdog.near_liquidation", venue=risk.venue, symbol=risk.symbol,
                         qty=str(risk.qty), mark=str(risk.mark),
                         liquidation_price=str(risk.liquidation_price),
                         distance_bps=str(risk.distance_bps),
                         limit_bps=str(self.config.risk.min_liquidation_distance_bps),
                         flattened=flattened, held=held)  # fmt: skip
            await self.journal.service("near_liquidation", now, venue=risk.venue,
                                       symbol=risk.symbol, distance_bps=str(risk.distance_bps),
                                       flattened=flattened, held=held)  # fmt: skip

    async def check_collateral(self, now: float) -> None:
        """Alert when the venues' free collateral drifts apart, and when it comes back."""
        drift = self.accounts.collateral_drift()
        if drift is None:
            if self.drift is not None:
                log.info("watchdog.collateral_balanced", was=self.drift)
                self.drift = None
            return
        rich, poor, ratio = drift
        if self.drift is not None and self.drift[:2] == (rich, poor):
            return
        self.drift = (rich, poor, str(ratio))
        log.error("watchdog.collateral_drift", rich=rich, poor=poor, ratio=str(ratio),
                  limit=str(self.config.risk.collateral_drift_ratio),
                  note="move collateral: the poorer venue's legs lack margin")  # fmt: skip
        await self.journal.service("collateral_drift", now, rich=rich, poor=poor,
                                   ratio=str(ratio))  # fmt: skip
