"""The strategy task: wake on book changes, exit what converged, open what pays.

For each asset whose books changed (conflated: :meth:`MarketView.wait_dirty`), on current
books: the market model sees the venues' mids (:class:`~arbtrio.core.basis.MarketModel`:
basis and volatility), then the exit signals of its HEDGED positions
(:func:`~arbtrio.core.detector.exit_signal`), then the detector's candidates
(:func:`~arbtrio.core.detector.find_candidates`), the opening rules
(:func:`~arbtrio.core.strategy.choose`), the risk gate, and a new position for the chosen
pair. Every decision is pure; this task only waits, asks and applies. A rejection is counted
once per opportunity episode (:class:`~arbtrio.core.strategy.Episodes`).

An exit is never started while either venue of the pair could not take its close
(:meth:`MarketView.exit_blocker`: down, refusing orders, a stale, gapped or corrupt book): the
pair stays hedged, ``position.exit_held`` is logged once per position and reason, and the
exit is decided again on the next book change once both venues are back.

It also owns the risk gate's consecutive-failure count: it subscribes to every position
(:meth:`Strategy.on_handled`) and records each entry's outcome.
"""

from __future__ import annotations

from decimal import Decimal

import structlog
import trio

from arbtrio.config import Config
from arbtrio.core import events as ev
from arbtrio.core.basis import MarketModel
from arbtrio.core.book import L2Book
from arbtrio.core.detector import (
    Candidate,
    DetectionStats,
    Opportunity,
    exit_signal,
    find_candidates,
    quote_rate,
)
from arbtrio.core.funding import settlement_cost_bps
from arbtrio.core.instruments import Instrument, format_decimal
from arbtrio.core.position import PositionSpec, PositionState
from arbtrio.core.risk import RiskGate
from arbtrio.core.strategy import Episodes, choose
from arbtrio.runtime.accounts import Accounts
from arbtrio.runtime.actor import Handled
from arbtrio.runtime.journal import Record
from arbtrio.runtime.lifecycle import Lifecycle
from arbtrio.runtime.market import MarketView
from arbtrio.runtime.positions import PositionBook
from arbtrio.runtime.reconcile import Reconciler

__all__ = ["Strategy"]

_FIGURES = (
    "edge_bps", "gross_bps", "basis_bps", "exit_cost_bps", "fees_bps", "funding_bps",
    "buffer_bps",
)  # fmt: skip

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
        accounts: Accounts,
        gate: RiskGate,
        reconciler: Reconciler,
        lifecycle: Lifecycle,
        quote_rates: dict[str, Decimal],
    ) -> None:
        self.config = config
        self.market = market
        self.positions = positions
        self.accounts = accounts
        self.gate = gate
        self.reconciler = reconciler
        self.lifecycle = lifecycle
        self.quote_rates = quote_rates
        self.detect_stats = DetectionStats()
        self.episodes = Episodes()
        self.model = MarketModel(config.detector)
        self.exit_held: dict[str, str] = {}  # position id -> why its exit is held now
        self.exits_held = 0  # times a position's exit was held (one per position and reason)

    async def run(self) -> None:
        """Evaluate each changed asset once per wake-up, until cancelled."""
        while True:
            for asset in await self.market.wait_dirty():
                await self.evaluate(asset, trio.current_time())

    def on_handled(self, handled: Handled) -> None:
        """An entry's outcome feeds the gate's consecutive-failure breaker."""
        if not handled.changed:
            return
        self.exit_held.pop(handled.actor.position_id, None)
        if handled.before is S.OPENING and handled.after is S.HEDGED:
            self.gate.record_outcome(True)
        elif handled.before is S.OPENING or handled.after is S.FAULTED:
            self.gate.record_outcome(False)

    async def evaluate(self, asset: str, now: float) -> None:
        quotes = self.market.tradable_quotes(asset)
        self.model.observe(asset, self._mids(quotes), now)
        await self.check_exits(asset, now)
        if len(quotes) < 2:
            return
        detector = self.config.detector
        funding = self.market.funding_for(asset) if detector.include_funding else None
        health = self.positions.router.health
        latency = {v: (health[v].latency_s if v in health else None) for v in quotes}
        # Candidates carry the float figures; only the one we try to trade is materialised.
        candidates = find_candidates(
            asset, quotes, now=now, config=detector, quote_rates=self.quote_rates,
            funding=funding, stats=self.detect_stats,
            outlook=self.model.outlook(asset, latency, now),
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
            decision = self.gate.check(opportunity, self.accounts.exposure())
            if decision.approved:
                pid = await self._open(opportunity, now)
                if pid is not None:
                    self.episodes.take(choice.pair)
                    await self._journal_opportunity(choice.pair, now, "taken", position_id=pid)
                return
            reason = decision.reason
        assert reason is not None
        shown = choice.shown
        if self.episodes.reject(shown, reason):
            await self._journal_opportunity(shown, now, "rejected", reason=reason)
            log.debug(
                "opportunity.rejected",
                asset=asset,
                long=shown.long.venue,
                short=shown.short.venue,
                edge_bps=round(shown.edge_bps, 2),
                reason=reason,
            )

    def _mids(self, quotes: dict[str, tuple[Instrument, L2Book]]) -> dict[str, float]:
        """Each usable book's mid in the reference currency."""
        mids = {}
        for venue, (inst, book) in quotes.items():
            bid, ask = book.best_bid(), book.best_ask()
            if bid is not None and ask is not None and 0 < bid[0] < ask[0]:
                mids[venue] = (bid[0] + ask[0]) / 2 * float(quote_rate(self.quote_rates, inst))
        return mids

    def exit_funding_bps(self, spec: PositionSpec, now: float) -> float:
        """What the pair pays (bps) at the funding settlements of the exit rule's lead
        window (negative: receives); 0 without funding."""
        detector = self.config.detector
        if not detector.include_funding:
            return 0.0
        rates = self.market.funding_for(spec.asset)
        lead = detector.funding_exit_lead_s
        long_rate, short_rate = rates.get(spec.long.venue), rates.get(spec.short.venue)
        paid = settlement_cost_bps(long_rate, now, lead) if long_rate is not None else 0.0
        got = settlement_cost_bps(short_rate, now, lead) if short_rate is not None else 0.0
        return paid - got

    async def _journal_opportunity(
        self, pair: Candidate, now: float, outcome: str, **extra: str
    ) -> None:
        """Record one opportunity taken, or rejected (once per episode and reason), with the
        figures it was judged on (kind ``opportunity``, spec 004)."""
        body = {
            "asset": pair.asset, "long": pair.long.venue, "short": pair.short.venue,
            "qty": format_decimal(pair.qty), "outcome": outcome,
            **{k: round(getattr(pair, k), 4) for k in _FIGURES}, **extra,
        }  # fmt: skip
        await self.positions.journal.append(
            Record(ts=now, kind="opportunity", type=outcome, body=body)
        )

    async def _open(self, opp: Opportunity, now: float) -> str | None:
        """Open a position on ``opp``: its id, or None when its spec is invalid."""
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
                edge_bps=Decimal(repr(round(opp.edge_bps, 4))),
            )
        except ValueError as exc:
            self.episodes.count("invalid_spec")
            log.warning("opportunity.invalid_spec", error=str(exc))
            return None
        log.info(
            "position.open",
            position_id=pid,
            asset=opp.asset,
            long=opp.long.venue,
            short=opp.short.venue,
            qty=format_decimal(opp.qty),
            edge_bps=round(opp.edge_bps, 2),
            gross_bps=round(opp.gross_bps, 2),
            basis_bps=round(opp.basis_bps, 2),
            exit_cost_bps=round(opp.exit_cost_bps, 2),
        )
        await self.positions.open(spec, gross_bps=opp.gross_bps, now=now)
        return pid

    async def check_exits(self, asset: str, now: float) -> None:
        """Send an exit signal to every HEDGED position of ``asset`` whose exit rule fires."""
        detector = self.config.detector
        for actor in list(self.positions.live.values()):
            spec = actor.position.spec
            if spec.asset != asset or actor.state is not S.HEDGED or actor.exit_requested:
                continue
            pid = actor.position_id
            blocker = self.market.exit_blocker(spec, now)
            if blocker is not None:
                if self.exit_held.get(pid) != blocker:
                    self.exit_held[pid] = blocker
                    self.exits_held += 1
                    log.warning("position.exit_held", position_id=pid, reason=blocker,
                                held_s=round(now - spec.created_ts, 1))  # fmt: skip
                continue
            if self.exit_held.pop(pid, None) is not None:
                log.info("position.exit_free", position_id=pid)
            long_pair = self.market.book_for(spec.long.venue, asset)
            short_pair = self.market.book_for(spec.short.venue, asset)
            if long_pair is None or short_pair is None:
                continue
            reason = exit_signal(
                long_pair[0], long_pair[1], short_pair[0], short_pair[1],
                entry_spread_bps=self.positions.entry_spread.get(actor.position_id, 0.0),
                opened_ts=spec.created_ts, now=now, config=detector,
                quote_rates=self.quote_rates, qty=float(spec.qty),
                basis_bps=self.model.pair_basis_bps(asset, spec.long.venue, spec.short.venue, now),
                funding_bps=self.exit_funding_bps(spec, now),
            )  # fmt: skip
            if reason is not None:
                actor.exit_requested = True
                log.info("position.exit_signal", position_id=actor.position_id, reason=reason)
                quotes = self.market.quotes_for(spec)
                await actor.send(ev.ExitSignal(reason=reason, ts=now, quotes=quotes))
