"""Risk and execution metrics of a run, recorded as the positions handle their events.

:class:`RunMetrics` is one more subscriber of every position actor (the position book
notifies it with each :class:`~arbtrio.runtime.actor.Handled`, after its own bookkeeping).
It reads the position and the event, never writes either, and keeps only running figures
and one small record per position, so it stays exact when settled positions are evicted
from memory. Its clock is the events' own ``ts`` (the runtime clock at receipt), so it needs
no Trio and a test can feed it constructed events.

What it records (definitions in ``specs/003-runtime.md`` § Run metrics):

* **naked exposure**: per asset ``|Σ over positions of net base exposure|`` (long held −
  short held), marked at the asset's last fill price in the reference currency, summed over
  assets; its maximum, its integral over time (notional-seconds) and the longest stretch it
  stayed above zero;
* **slippage**: per position leg, the quantity-weighted fill price of its entry orders
  (entry and chase) against the detection's reference (``spec.long_price`` VWAP ask,
  ``spec.short_price`` VWAP bid), and of its close orders against the quotes of the close
  request that moved it to CLOSING (bid of the long venue, ask of the short venue); in bps,
  adverse positive;
* **exits**: per exit reason (:func:`exit_reason`) the number of SETTLED positions and their
  realised PnL (funding booked after settling included), so Σ exits PnL = realised PnL;
* **equity**: realised PnL over time (a point whenever it changes);
* **funding booked** on the positions (paid positive).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

import attrs

from arbtrio.core import events as ev
from arbtrio.core.detector import quote_rate
from arbtrio.core.position import ORDER_EVENTS, Position, PositionState
from arbtrio.runtime.actor import Handled, PositionActor
from arbtrio.runtime.positions import spec_spread_bps

__all__ = ["ExitTotals", "NakedExposure", "RunMetrics", "SettledRecord", "exit_reason"]

S = PositionState
_ZERO = Decimal(0)
_CLOSE_REQUESTS = (ev.ExitSignal, ev.OperatorFlatten, ev.Kill)
_EVENT_REASONS = {"OperatorFlatten": "operator", "Kill": "kill"}
ENTRY_PURPOSES = ("entry", "chase")
EXIT_PURPOSES = ("close",)


def exit_reason(position: Position) -> str:
    """Why a position ended, from its history.

    The reason of its first move to CLOSING: the exit signal's (``converged``, ``max_hold``,
    ``stop``), ``operator`` (an :class:`OperatorFlatten`: the operator, the net-delta
    watchdog or the shutdown flatten), ``kill``, or the derived condition (``undersized``).
    Without one: ``unfilled`` (both entries filled nothing), ``unwound`` (reversed to flat
    while unwinding), ``faulted``, else the last transition's reason.
    """
    history = position.history
    for t in history:
        if t.to_state is S.CLOSING:
            if t.event in _EVENT_REASONS:
                return _EVENT_REASONS[t.event]
            return t.reason or t.event
    if position.state is S.FAULTED:
        return "faulted"
    if not history:
        return "none"
    last = history[-1]
    if last.event in _EVENT_REASONS:
        return _EVENT_REASONS[last.event]
    if last.from_state is S.OPENING and last.reason == "flat":
        return "unfilled"
    if last.from_state is S.UNWINDING and last.reason == "flat":
        return "unwound"
    return last.reason or last.event


def _slippage_bps(side_sign: int, price: Decimal, reference: Decimal) -> float:
    """Adverse positive: a buy (+1) above the reference, a sell (−1) below it."""
    return float((price / reference - 1) * side_sign * 10_000)


def leg_slippage(
    position: Position,
    purposes: tuple[str, ...],
    references: Mapping[str, Decimal | None],
) -> dict[str, float]:
    """Per leg (``long``/``short``), the quantity-weighted slippage in bps of the fills of
    the orders with one of ``purposes`` against ``references[leg]``; legs without such
    fills or without a reference are left out."""
    purpose_of: dict[str, tuple[str, str]] = {
        o.client_order_id: (o.leg, o.purpose) for o in position.orders()
    }
    qty: dict[str, Decimal] = {}
    cost: dict[str, Decimal] = {}
    signs: dict[str, int] = {}
    for fill in position.fills():
        leg_purpose = purpose_of.get(fill.client_order_id)
        if leg_purpose is None or leg_purpose[1] not in purposes:
            continue
        leg = leg_purpose[0]
        qty[leg] = qty.get(leg, _ZERO) + fill.qty
        cost[leg] = cost.get(leg, _ZERO) + fill.qty * fill.price
        signs[leg] = fill.side.sign
    out: dict[str, float] = {}
    for leg, q in qty.items():
        reference = references.get(leg)
        if q > 0 and reference is not None and reference > 0:
            out[leg] = _slippage_bps(signs[leg], cost[leg] / q, reference)
    return out


@attrs.define
class NakedExposure:
    """Unhedged notional over time (see the module docstring). ``current`` is the notional
    now; ``since`` when the current stretch above zero began (None when flat)."""

    max_notional: float = 0.0
    notional_seconds: float = 0.0
    longest_s: float = 0.0
    stretches: int = 0
    current: float = 0.0
    since: float | None = None
    last_ts: float | None = None

    def advance(self, ts: float) -> None:
        """Integrate the current notional up to ``ts``."""
        if self.last_ts is not None and ts > self.last_ts:
            self.notional_seconds += self.current * (ts - self.last_ts)
            if self.since is not None:
                self.longest_s = max(self.longest_s, ts - self.since)
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts

    def set(self, ts: float, notional: float) -> None:
        """The notional changes to ``notional`` at ``ts``."""
        self.advance(ts)
        if notional > 0 and self.since is None:
            self.since = ts
            self.stretches += 1
        elif notional <= 0 and self.since is not None:
            self.longest_s = max(self.longest_s, ts - self.since)
            self.since = None
        self.current = notional
        self.max_notional = max(self.max_notional, notional)


@attrs.define
class ExitTotals:
    count: int = 0
    pnl: Decimal = _ZERO


@attrs.define
class SettledRecord:
    """What the evaluation keeps of one SETTLED position."""

    position_id: str
    asset: str
    long_venue: str
    short_venue: str
    created_ts: float
    settled_ts: float
    entry_spread_bps: float
    reason: str
    pnl: Decimal


class RunMetrics:
    """Risk and execution metrics of this run (see the module docstring).

    Args:
        quote_rates: reference value of each quote currency (notional, PnL, funding).
    """

    def __init__(self, quote_rates: Mapping[str, Decimal]) -> None:
        self.quote_rates = quote_rates
        self.naked = NakedExposure()
        self.exits: dict[str, ExitTotals] = {}
        self.entry_slippage: dict[tuple[str, str], float] = {}  # (position id, leg) -> bps
        self.exit_slippage: dict[tuple[str, str], float] = {}
        self.equity: list[tuple[float, Decimal]] = []
        self.realized = _ZERO
        self.funding_booked = _ZERO  # paid positive
        self.settled: dict[str, SettledRecord] = {}
        self._net: dict[str, Decimal] = {}  # position id -> net base exposure
        self._net_by_asset: dict[str, Decimal] = {}
        self._mark: dict[str, Decimal] = {}  # asset -> last fill price, reference currency
        self._exit_refs: dict[str, dict[str, Decimal | None]] = {}  # position id -> leg -> ref

    # -- what the actors report ---------------------------------------------------------------
    def on_handled(self, handled: Handled) -> None:
        event = handled.event
        position = handled.actor.position
        pid = position.spec.position_id
        if isinstance(event, ORDER_EVENTS):
            self._exposure(position, event.ts)
        elif isinstance(event, ev.FundingPaid):
            inst = position.spec.instrument(event.leg)
            self.funding_booked -= event.amount * quote_rate(self.quote_rates, inst)
        if (
            isinstance(event, _CLOSE_REQUESTS)
            and handled.after is S.CLOSING
            and handled.before is not S.CLOSING
        ):
            self._exit_refs[pid] = self._close_references(position, event.quotes)
        if handled.changed and handled.after in (S.SETTLED, S.FAULTED):
            self._slippage(position)
        if handled.after is S.SETTLED:
            self._settled(position, event.ts)

    def finish(self, ts: float, actors: Iterable[PositionActor] = ()) -> None:
        """Close the books at the end of the run: integrate exposure up to ``ts`` and take
        the entry slippage of positions that never reached SETTLED or FAULTED."""
        self.naked.advance(ts)
        for actor in actors:
            pos = actor.position
            if pos.state not in (S.SETTLED, S.FAULTED):
                self._slippage(pos)

    # -- internals ----------------------------------------------------------------------------
    def _exposure(self, position: Position, ts: float) -> None:
        spec = position.spec
        pid = spec.position_id
        net = position.net_exposure()
        before = self._net.get(pid, _ZERO)
        fills = position.fills()
        if fills:
            last = fills[-1]
            inst = spec.long if last.venue == spec.long.venue else spec.short
            self._mark[spec.asset] = last.price * quote_rate(self.quote_rates, inst)
        if net == before:
            return
        if net == 0:
            self._net.pop(pid, None)
        else:
            self._net[pid] = net
        asset_net = self._net_by_asset.get(spec.asset, _ZERO) + net - before
        self._net_by_asset[spec.asset] = asset_net
        notional = sum(
            (abs(n) * self._mark.get(a, _ZERO) for a, n in self._net_by_asset.items() if n),
            _ZERO,
        )
        self.naked.set(ts, float(notional))

    def _close_references(
        self, position: Position, quotes: Mapping[str, ev.Quote]
    ) -> dict[str, Decimal | None]:
        spec = position.spec
        long_q, short_q = quotes.get(spec.long.venue), quotes.get(spec.short.venue)
        return {
            "long": None if long_q is None else long_q.bid,  # the long leg sells at the bid
            "short": None if short_q is None else short_q.ask,  # the short leg buys back
        }

    def _slippage(self, position: Position) -> None:
        spec = position.spec
        pid = spec.position_id
        entry = leg_slippage(
            position, ENTRY_PURPOSES, {"long": spec.long_price, "short": spec.short_price}
        )
        for leg, bps in entry.items():
            self.entry_slippage[(pid, leg)] = bps
        refs = self._exit_refs.get(pid)
        if refs is not None:
            for leg, bps in leg_slippage(position, EXIT_PURPOSES, refs).items():
                self.exit_slippage[(pid, leg)] = bps

    def _settled(self, position: Position, ts: float) -> None:
        spec = position.spec
        pid = spec.position_id
        pnl = position.realized_pnl(self.quote_rates)
        record = self.settled.get(pid)
        if record is None:
            record = SettledRecord(
                position_id=pid,
                asset=spec.asset,
                long_venue=spec.long.venue,
                short_venue=spec.short.venue,
                created_ts=spec.created_ts,
                settled_ts=ts,
                entry_spread_bps=spec_spread_bps(spec, dict(self.quote_rates)),
                reason=exit_reason(position),
                pnl=_ZERO,
            )
            self.settled[pid] = record
            self.exits.setdefault(record.reason, ExitTotals()).count += 1
            self._exit_refs.pop(pid, None)
        change = pnl - record.pnl
        if change == 0:
            return
        record.pnl = pnl
        self.exits[record.reason].pnl += change
        self.realized += change
        self.equity.append((ts, self.realized))
