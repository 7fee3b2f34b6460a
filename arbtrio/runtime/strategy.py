"""The strategy task: wake on book changes, exit what converged, open what pays.

For each asset whose books changed (conflated: :meth:`MarketView.wait_dirty`), on current
books: first the exit signals of its HEDGED positions
(:func:`~arbtrio.core.detector.exit_signal`), then the detector's candidates
(:func:`~arbtrio.core.detector.find_candidates`), the opening rules
(:func:`~arbtrio.core.strategy.choose`), the risk gate, and a new position for the chosen
pair. Every decision is pure; this task only waits, asks and applies. A rejection is counted
once per opportunity episode (:class:`~arbtrio.core.strategy.Episodes`).

It also owns the risk gate's consecutive-failure count: it subscribes to every position
(:meth:`Strategy.on_handled`) and records each entry's outcome.
"""

from __future__ import annotations

from decimal import Decimal

import structlog
import trio

from arbtrio.config import Config
from arbtrio.core import events as ev
from arbtrio.core.detector import DetectionStats, Opportunity, exit_signal, find_candidates
from arbtrio.core.instruments import format_decimal
from arbtrio.core.position import PositionSpec, PositionState
from arbtrio.core.risk import RiskGate
from arbtrio.core.strategy import Episodes, choose
from arbtrio.runtime.actor import Handled
from arbtrio.runtime.lifecycle import Lifecycle
from arbtrio.runtime.market import MarketView
from arbtrio.runtime.positions import PositionBook
from arbtrio.runtime.reconcile import Reconciler

__all__ = ["Strategy"]

log = structlog.get_logger("arbtrio.runtime")

S = PositionState


class Strategy:
    """The strategy task and the risk gate's outcome count (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        *,
        market: MarketView,
        positions: PositionBook,
        gate: RiskGate,
        reconciler: Reconciler,
        lifecycle: Lifecycle,
        quote_rates: dict[str, Decimal],
    ) -> None:
        self.config = config
        self.market = market
        self.positions = positions
        self.gate = gate
        self.reconciler = reconciler
        self.lifecycle = lifecycle
        self.quote_rates = quote_rates
        self.detect_stats = DetectionStats()
        self.episodes = Episodes()

    async def run(self) -> None:
        """Evaluate each changed asset once per wake-up, until cancelled."""
        while True:
            for asset in await self.market.wait_dirty():
                await self.evaluate(asset, trio.current_time())

    def on_handled(self, handled: Handled) -> None:
        """An entry's outcome feeds the gate's consecutive-failure breaker."""
        if not handled.changed:
            return
        if handled.before is S.OPENING and handled.after is S.HEDGED:
            self.gate.record_outcome(True)
        elif handled.before is S.OPENING or handled.after is S.FAULTED:
            self.gate.record_outcome(False)

    async def evaluate(self, asset: str, now: float) -> None:
        await self.check_exits(asset, now)
        quotes = self.market.tradable_quotes(asset)
        if len(quotes) < 2:
            return
        detector = self.config.detector
        funding = self.market.funding_for(asset) if detector.include_funding else None
        # Candidates carry the float figures; only the one we try to trade is materialised.
        candidates = find_candidates(
            asset, quotes, now=now, config=detector, quote_rates=self.quote_rates,
            funding=funding, stats=self.detect_stats,
        )  # fmt: skip
        self.episodes.observe(candidates, now)
        if not candidates:
            return
        positions = self.positions
        choice = choose(
            asset,
            candidates,
            list(positions.open_pairs.values()),
            stopping=self.lifecycle.stopping,
            reconciling=asset in self.reconciler.blocked_assets(),
            unrefreshed=self.market.unrefreshed(asset, positions.traded),
            unreconciled=self.reconciler.blocked_venues(),
        )
        reason = choice.reason
        if choice.pair is not None:
            opportunity = choice.pair.materialize()
            decision = self.gate.check(opportunity, positions.exposure())
            if decision.approved:
                if await self._open(opportunity, now):
                    self.episodes.take(choice.pair)
                return
            reason = decision.reason
        assert reason is not None
        shown = choice.shown
        if self.episodes.reject(shown, reason):
            log.debug(
                "opportunity.rejected",
                asset=asset,
                long=shown.long.venue,
                short=shown.short.venue,
                edge_bps=round(shown.edge_bps, 2),
                reason=reason,
            )

    async def _open(self, opp: Opportunity, now: float) -> bool:
        """Open a position on ``opp``; False when its spec is invalid (nothing opened)."""
        pid = self.positions.next_position_id()
        try:
            spec = PositionSpec(
                position_id=pid,
                asset=opp.asset,
                long=opp.long,
                short=opp.short,
                qty=opp.qty,
                long_price=opp.long_price,
                short_price=opp.short_price,
                policy=self.config.execution,
                created_ts=now,
            )
        except ValueError as exc:
            self.episodes.count("invalid_spec")
            log.warning("opportunity.invalid_spec", error=str(exc))
            return False
        log.info(
            "position.open",
            position_id=pid,
            asset=opp.asset,
            long=opp.long.venue,
            short=opp.short.venue,
            qty=format_decimal(opp.qty),
            edge_bps=round(opp.edge_bps, 2),
            gross_bps=round(opp.gross_bps, 2),
        )
        await self.positions.open(spec, gross_bps=opp.gross_bps, now=now)
        return True

    async def check_exits(self, asset: str, now: float) -> None:
        """Send an exit signal to every HEDGED position of ``asset`` whose exit rule fires."""
        detector = self.config.detector
        for actor in list(self.positions.live.values()):
            spec = actor.position.spec
            if spec.asset != asset or actor.state is not S.HEDGED or actor.exit_requested:
                continue
            long_pair = self.market.book_for(spec.long.venue, asset)
            short_pair = self.market.book_for(spec.short.venue, asset)
            if long_pair is None or short_pair is None:
                continue
            reason = exit_signal(
                long_pair[0], long_pair[1], short_pair[0], short_pair[1],
                entry_spread_bps=self.positions.entry_spread.get(actor.position_id, 0.0),
                opened_ts=spec.created_ts, now=now, config=detector,
                quote_rates=self.quote_rates, qty=float(spec.qty),
            )  # fmt: skip
            if reason is not None:
                actor.exit_requested = True
                log.info("position.exit_signal", position_id=actor.position_id, reason=reason)
                quotes = self.market.quotes_for(spec)
                await actor.send(ev.ExitSignal(reason=reason, ts=now, quotes=quotes))
