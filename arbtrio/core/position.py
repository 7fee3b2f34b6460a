"""The hedged-pair position machine: pure, synchronous, deterministic (design §2).

Theory of operation
-------------------
A :class:`Position` is one hedged pair: a long leg that buys on ``spec.long.venue`` and a short
leg that sells on ``spec.short.venue``, for one asset and one jointly quantised base quantity.
The runtime feeds it events (order outcomes, ticks carrying quotes, exit and operator signals)
and executes the commands it returns. It never reads a clock, never performs I/O and never
awaits: ``handle`` cannot be interrupted halfway, and replaying the journaled events into a
fresh ``Position(spec)`` reproduces it exactly (same state, orders, fills and PnL).

``handle(event)`` works in two phases.

*Validate* (nothing is touched): the order named by an order event must be one this position
sent (identity); a fill whose ``(venue, trade_id)`` was already applied with the same content is
a duplicate and is ignored (``[]``); ``(state, type(event))`` must be a row of
:data:`TRANSITIONS`; fields must be well formed (quantities > 0, a report about the right
order, ...). Any failure raises a :class:`PositionError` and leaves the position unchanged.

*Apply*: an order event steps that order's own small machine (:class:`OrderState`). A venue
report that cannot be true (a fill beyond the order quantity, a fill on a rejected order, a
trade id reused with different content, a cumulative fill that goes backwards) is not applied:
it is kept as an anomaly and the position goes to the sticky FAULTED state with a critical
:class:`Alert` (in SETTLED, which absorbs, it is raised as :class:`VenueProtocolError`). Then
the event-triggered row of :data:`TRANSITIONS` moves the state, and a fixed point runs: in
UNWINDING and CLOSING the machine places the next corrective order (chase, reverse, close)
on each idle leg, assesses the legs as a :class:`Condition`, and follows
:data:`DERIVED` ``[(state, condition)]`` until no row applies. The derived graph is acyclic
(OPENING → UNWINDING → CLOSING → SETTLED/FAULTED), so the fixed point ends in a few steps.

Orders: every order is limit IOC with a deterministic client order id from
``ids.client_order_id(venue, position_id, leg, attempt)``; ``attempt`` counts the leg's orders
(0 is the entry, then chases, reverses and closes in the order sent), so after a crash the
journal alone finds every order again by client id. A leg has at most one live order; an
order whose outcome is unknown stays live until a stream event, a query or reconciliation
resolves it, and is never re-sent. ``specs/001-position-fsm.md`` is the prose of this module
and holds the same two tables; a test checks they agree.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final, Literal

import attrs

from arbtrio.core.events import (
    Alert,
    CancelOrder,
    Command,
    Event,
    ExitSignal,
    FundingPaid,
    Kill,
    LegAcked,
    LegExpired,
    LegFilled,
    LegOutcomeUnknown,
    LegRejected,
    LegRole,
    Open,
    OperatorFlatten,
    OutcomeResolved,
    PlaceOrder,
    QueryOrder,
    Quote,
    Tick,
)
from arbtrio.core.ids import client_order_id, encode_client_order_id
from arbtrio.core.instruments import Instrument, floor_qty, format_decimal, round_price
from arbtrio.core.types import Fill, OrderReport, OrderRequest, OrderStatus, Side

__all__ = [
    "DERIVED",
    "LEGS",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "Condition",
    "ExecutionPolicy",
    "IllegalTransition",
    "InvalidEvent",
    "Order",
    "OrderState",
    "Position",
    "PositionError",
    "PositionSpec",
    "PositionState",
    "Purpose",
    "Transition",
    "UnknownOrder",
    "VenueProtocolError",
    "replay",
]

_ZERO = Decimal(0)
_BPS = Decimal(10_000)
LEGS: Final[tuple[LegRole, LegRole]] = ("long", "short")


# -- states and tables ---------------------------------------------------------------------
class PositionState(enum.Enum):
    IDLE = "idle"
    OPENING = "opening"
    HEDGED = "hedged"
    UNWINDING = "unwinding"
    CLOSING = "closing"
    SETTLED = "settled"
    FAULTED = "faulted"


TERMINAL_STATES: Final = frozenset({PositionState.SETTLED})
"""States that absorb: no event moves a position out of them.

FAULTED is sticky but not terminal: the machine places no further orders of its own (it still
records fills of orders already in flight and queries unknown outcomes), and only an explicit
:class:`OperatorFlatten` (after the operator has reconciled) moves it to CLOSING with a fresh
close budget. A :class:`Kill` or :class:`ExitSignal` does not.
"""

ORDER_EVENTS: Final = (
    LegAcked,
    LegFilled,
    LegRejected,
    LegExpired,
    LegOutcomeUnknown,
    OutcomeResolved,
)
OrderEvent = LegAcked | LegFilled | LegRejected | LegExpired | LegOutcomeUnknown | OutcomeResolved

_S = PositionState
_ORDER_STATES = (_S.OPENING, _S.HEDGED, _S.UNWINDING, _S.CLOSING, _S.FAULTED, _S.SETTLED)


def _rows(
    states: Iterable[PositionState], event: type[Event], to: PositionState | None = None
) -> dict[tuple[PositionState, type[Event]], PositionState]:
    """Rows ``(s, event) → to`` for each ``s`` (``to=None``: a self-loop)."""
    return {(s, event): (s if to is None else to) for s in states}


TRANSITIONS: Final[Mapping[tuple[PositionState, type[Event]], PositionState]] = MappingProxyType(
    {
        (_S.IDLE, Open): _S.OPENING,
        (_S.IDLE, Tick): _S.IDLE,
        # An operator or the kill switch cancelling a position that never sent an order.
        (_S.IDLE, OperatorFlatten): _S.SETTLED,
        (_S.IDLE, Kill): _S.SETTLED,
        # Order outcomes are accepted wherever orders can exist. real-world: acks, status
        # repeats and REST timeouts arrive after the stream already resolved an order, so a
        # resolved order's late messages reach HEDGED and SETTLED too; only harmless ones apply.
        **_rows(_ORDER_STATES, LegAcked),
        **_rows(_ORDER_STATES, LegFilled),
        **_rows(_ORDER_STATES, LegRejected),
        **_rows(_ORDER_STATES, LegExpired),
        **_rows(_ORDER_STATES, LegOutcomeUnknown),
        **_rows(_ORDER_STATES, OutcomeResolved),
        **_rows(_ORDER_STATES, Tick),
        # real-world: funding booked for an interval the position was open in can be reported
        # after it settled.
        **_rows(_ORDER_STATES, FundingPaid),
        (_S.HEDGED, ExitSignal): _S.CLOSING,
        # real-world: an exit decided on a HEDGED snapshot can arrive after the close began.
        (_S.CLOSING, ExitSignal): _S.CLOSING,
        (_S.SETTLED, ExitSignal): _S.SETTLED,
        (_S.FAULTED, ExitSignal): _S.FAULTED,
        (_S.OPENING, OperatorFlatten): _S.CLOSING,
        (_S.HEDGED, OperatorFlatten): _S.CLOSING,
        (_S.UNWINDING, OperatorFlatten): _S.CLOSING,
        (_S.CLOSING, OperatorFlatten): _S.CLOSING,
        (_S.SETTLED, OperatorFlatten): _S.SETTLED,
        # The operator's explicit retry of a faulted position: close again with a fresh budget.
        (_S.FAULTED, OperatorFlatten): _S.CLOSING,
        (_S.OPENING, Kill): _S.CLOSING,
        (_S.HEDGED, Kill): _S.CLOSING,
        (_S.UNWINDING, Kill): _S.CLOSING,
        (_S.CLOSING, Kill): _S.CLOSING,
        (_S.SETTLED, Kill): _S.SETTLED,
        (_S.FAULTED, Kill): _S.FAULTED,  # sticky: the kill switch does not retry a fault
    }
)
"""Event-triggered transitions: ``(state, event type) → state``. A missing pair is illegal."""


class Condition(enum.Enum):
    """How the legs stand once no order is live (or that a venue said something impossible).

    Derived from fills alone; ``d`` is long held − short held. "Tradable" means an IOC for that
    quantity floored to the venue's lot clears the venue's minimum size (and, for an opening
    order, its minimum notional at the current reference price).
    """

    FLAT = "flat"  # both legs hold nothing
    BALANCED = "balanced"  # |d| is not tradable on either venue; both legs closable
    UNDERSIZED = "undersized"  # |d| is not tradable, and a leg holds less than it can close
    IMBALANCED = "imbalanced"  # an order on one of the venues could reduce |d|
    VENUE_IMPOSSIBLE = "venue_impossible"  # a venue report that cannot be true


_C = Condition
DERIVED: Final[Mapping[tuple[PositionState, Condition], PositionState]] = MappingProxyType(
    {
        (_S.OPENING, _C.FLAT): _S.SETTLED,  # both entries filled nothing: zero PnL
        (_S.OPENING, _C.BALANCED): _S.HEDGED,
        (_S.OPENING, _C.UNDERSIZED): _S.CLOSING,
        (_S.OPENING, _C.IMBALANCED): _S.UNWINDING,
        (_S.UNWINDING, _C.FLAT): _S.SETTLED,
        (_S.UNWINDING, _C.BALANCED): _S.HEDGED,
        (_S.UNWINDING, _C.UNDERSIZED): _S.CLOSING,  # matched below a minimum: flatten
        # The act step sends a chase or reverse whenever one is allowed, so an imbalance with
        # nothing live means both budgets are spent.
        (_S.UNWINDING, _C.IMBALANCED): _S.FAULTED,
        (_S.CLOSING, _C.FLAT): _S.SETTLED,
        # Not flat with nothing live: the close budget is spent or a leg cannot be traded.
        (_S.CLOSING, _C.BALANCED): _S.FAULTED,
        (_S.CLOSING, _C.UNDERSIZED): _S.FAULTED,
        (_S.CLOSING, _C.IMBALANCED): _S.FAULTED,
        (_S.OPENING, _C.VENUE_IMPOSSIBLE): _S.FAULTED,
        (_S.HEDGED, _C.VENUE_IMPOSSIBLE): _S.FAULTED,
        (_S.UNWINDING, _C.VENUE_IMPOSSIBLE): _S.FAULTED,
        (_S.CLOSING, _C.VENUE_IMPOSSIBLE): _S.FAULTED,
    }
)
"""State-triggered transitions, applied after every event until none applies.

Every condition but VENUE_IMPOSSIBLE is assessed only when no order of the position is live.
"""


# -- errors --------------------------------------------------------------------------------
class PositionError(Exception):
    """An event the position refuses; the position is exactly as it was before the call."""


class UnknownOrder(PositionError):
    """The event names a client order id this position never sent."""


class IllegalTransition(PositionError):
    """``(state, event type)`` is not a row of :data:`TRANSITIONS`."""


class InvalidEvent(PositionError):
    """A malformed event (the message names the field)."""


class VenueProtocolError(PositionError):
    """A venue report that cannot be true, received by a position that can no longer fault."""


# -- configuration -------------------------------------------------------------------------
def _dec_ge0(inst: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise ValueError(f"ExecutionPolicy.{attribute.name} must be a Decimal >= 0, got {value!r}")


def _float_gt0(inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:  # also refuses NaN
        raise ValueError(f"ExecutionPolicy.{attribute.name} must be > 0, got {value!r}")


def _int_ge(minimum: int) -> Any:
    def check(inst: object, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(
                f"ExecutionPolicy.{attribute.name} must be an int >= {minimum}, got {value!r}"
            )

    return check


@attrs.frozen(kw_only=True)
class ExecutionPolicy:
    """Single-leg and closing policy. Slippages are bps of the reference price.

    * entry: limit = reference ± ``entry_slippage_bps``.
    * chase (lagging leg, more of the entry side): ± ``entry_slippage_bps +
      chase_extra_slippage_bps`` around the latest quote; at most ``chase_attempts`` orders,
      none sent later than ``chase_ttl_s`` after the first chase.
    * reverse (leading leg, reduce-only): attempt k (0-based) at ``reverse_slippage_bps +
      k·close_slippage_step_bps``; at most ``reverse_attempts`` orders.
    * close (each leg, reduce-only): attempt k at ``close_slippage_bps +
      k·close_slippage_step_bps``; at most ``close_attempts`` orders per leg.
    * ``query_after_s``: a live order with no news for this long is queried by client id
      (and again every ``query_after_s``); an unknown outcome is queried at once.
    """

    entry_slippage_bps: Decimal = attrs.field(default=Decimal(10), validator=_dec_ge0)
    chase_attempts: int = attrs.field(default=2, validator=_int_ge(0))
    chase_ttl_s: float = attrs.field(default=5.0, validator=_float_gt0)
    chase_extra_slippage_bps: Decimal = attrs.field(default=Decimal(20), validator=_dec_ge0)
    reverse_attempts: int = attrs.field(default=3, validator=_int_ge(1))
    reverse_slippage_bps: Decimal = attrs.field(default=Decimal(20), validator=_dec_ge0)
    close_slippage_bps: Decimal = attrs.field(default=Decimal(10), validator=_dec_ge0)
    close_slippage_step_bps: Decimal = attrs.field(default=Decimal(20), validator=_dec_ge0)
    close_attempts: int = attrs.field(default=5, validator=_int_ge(1))
    query_after_s: float = attrs.field(default=2.0, validator=_float_gt0)

    def __attrs_post_init__(self) -> None:
        widest = {
            "entry_slippage_bps + chase_extra_slippage_bps": self.entry_slippage_bps
            + self.chase_extra_slippage_bps,
            "reverse_slippage_bps + (reverse_attempts - 1)·close_slippage_step_bps": (
                self.reverse_slippage_bps
                + (self.reverse_attempts - 1) * self.close_slippage_step_bps
            ),
            "close_slippage_bps + (close_attempts - 1)·close_slippage_step_bps": (
                self.close_slippage_bps + (self.close_attempts - 1) * self.close_slippage_step_bps
            ),
        }
        for name, bps in widest.items():
            if bps >= _BPS / 2:
                raise ValueError(f"ExecutionPolicy: {name} = {bps} bps must stay below 5000")


@attrs.frozen(kw_only=True)
class PositionSpec:
    """What to open: buy ``qty`` on ``long.venue`` and sell ``qty`` on ``short.venue``.

    ``long_price``/``short_price`` are the reference prices at detection (VWAP ask on the long
    venue, VWAP bid on the short venue); entry limits are derived from them, and they stand in
    for quotes until the first :class:`Tick` carries some.
    """

    position_id: str
    asset: str
    long: Instrument
    short: Instrument
    qty: Decimal
    long_price: Decimal
    short_price: Decimal
    policy: ExecutionPolicy = attrs.field(factory=ExecutionPolicy)
    created_ts: float = 0.0

    def __attrs_post_init__(self) -> None:
        # Every order id must be encodable before the first order is placed: the position id
        # and each venue are checked here, so ids.client_order_id cannot fail later.
        if not _valid_position_id(self.position_id):
            raise ValueError(f"PositionSpec.position_id is invalid: {self.position_id!r}")
        if self.long.venue == self.short.venue:
            raise ValueError(f"PositionSpec.short: same venue as long ({self.long.venue})")
        for name, inst in (("long", self.long), ("short", self.short)):
            problem = _venue_id_problem(inst.venue)
            if problem is not None:
                raise ValueError(f"PositionSpec.{name}.venue: {problem}")
        for name, inst in (("long", self.long), ("short", self.short)):
            if inst.asset != self.asset:
                raise ValueError(f"PositionSpec.{name}.asset {inst.asset!r} != {self.asset!r}")
        for name in ("long_price", "short_price"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
                raise ValueError(f"PositionSpec.{name} must be a Decimal > 0, got {value!r}")
        if not isinstance(self.qty, Decimal) or not self.qty.is_finite() or self.qty <= 0:
            raise ValueError(f"PositionSpec.qty must be a Decimal > 0, got {self.qty!r}")
        for name, inst, price in (
            ("long", self.long, self.long_price),
            ("short", self.short, self.short_price),
        ):
            if floor_qty(inst, self.qty) != self.qty or not _clears_minimums(inst, self.qty, price):
                raise ValueError(
                    f"PositionSpec.qty {self.qty} is not tradable on {name} venue "
                    f"{inst.venue}:{inst.symbol} (lot {inst.lot_size}, min {inst.min_size}, "
                    f"min notional {inst.min_notional})"
                )

    def instrument(self, leg: LegRole) -> Instrument:
        return self.long if leg == "long" else self.short


def _valid_position_id(position_id: str) -> bool:
    """Non-empty, without the id separator, and encodable (the client order id hashes it)."""
    if not position_id or "\x1f" in position_id:
        return False
    try:
        position_id.encode()
    except UnicodeEncodeError:
        return False
    return True


@functools.lru_cache(maxsize=64)
def _venue_id_problem(venue: str) -> str | None:
    """Why ``venue`` has no client order id encoding (ids.encode_client_order_id), or None."""
    try:
        encode_client_order_id(venue, 0)
    except ValueError as exc:
        return str(exc)
    return None


def _clears_minimums(inst: Instrument, qty: Decimal, price: Decimal) -> bool:
    return qty > 0 and qty >= inst.min_size and qty * price >= inst.min_notional


# -- orders --------------------------------------------------------------------------------
class OrderState(enum.Enum):
    """One order's status as this position knows it.

    SENT: PlaceOrder emitted, nothing heard. ACKED: the venue has it (acknowledged or partly
    filled). UNKNOWN: sending failed ambiguously; it may exist. FILLED, EXPIRED (closed with
    ``venue_filled`` < qty, the IOC remainder cancelled) and REJECTED are closed. A closed
    order whose ``venue_filled`` exceeds the fills seen is still *live*: fills are owed.
    """

    SENT = "sent"
    ACKED = "acked"
    UNKNOWN = "unknown"
    FILLED = "filled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def is_closed(self) -> bool:
        return self in (OrderState.FILLED, OrderState.EXPIRED, OrderState.REJECTED)


Purpose = Literal["entry", "chase", "reverse", "close"]


@attrs.frozen(kw_only=True, slots=False)  # a dict class: ~40 % cheaper to build and evolve
class Order:
    """One order this position sent (immutable; the position replaces it on every change)."""

    client_order_id: str
    leg: LegRole
    venue: str
    symbol: str
    attempt: int
    purpose: Purpose
    side: Side
    qty: Decimal
    price: Decimal
    reduce_only: bool
    sent_ts: float
    status: OrderState = OrderState.SENT
    filled: Decimal = _ZERO  # Σ fills applied
    venue_filled: Decimal | None = None  # the venue's final cumulative fill, once closed
    venue_order_id: str | None = None
    query_due_ts: float = 0.0  # when a Tick should query it (if still live)
    reason: str = ""

    @property
    def is_live(self) -> bool:
        """In flight: not closed, or closed with fills still owed."""
        if not self.status.is_closed:
            return True
        return self.venue_filled is not None and self.filled < self.venue_filled

    def to_json(self) -> dict[str, Any]:
        return {
            "client_order_id": self.client_order_id,
            "leg": self.leg,
            "venue": self.venue,
            "attempt": self.attempt,
            "purpose": self.purpose,
            "side": self.side.value,
            "qty": format_decimal(self.qty),
            "price": format_decimal(self.price),
            "reduce_only": self.reduce_only,
            "sent_ts": self.sent_ts,
            "status": self.status.value,
            "filled": format_decimal(self.filled),
            "venue_filled": None
            if self.venue_filled is None
            else format_decimal(self.venue_filled),
            "venue_order_id": self.venue_order_id,
            "query_due_ts": self.query_due_ts,
            "live": self.is_live,
            "reason": self.reason,
        }


@attrs.frozen(kw_only=True)
class Transition:
    """One state change: ``event`` is the event type's name, ``reason`` the derived condition."""

    ts: float
    from_state: PositionState
    event: str
    to_state: PositionState
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "from": self.from_state.value,
            "event": self.event,
            "to": self.to_state.value,
            "reason": self.reason,
        }


@attrs.frozen
class _Step:
    """What an order event does to its order, computed before anything is mutated."""

    order: Order  # the order after the event (unchanged when impossible)
    fills: tuple[Fill, ...] = ()  # new fills to record
    impossible: str | None = None  # why the venue's report cannot be true
    query: bool = False  # emit a QueryOrder now


def _fill_key(fill: Fill) -> tuple[str, str]:
    return (fill.venue, fill.trade_id)


def _same_fill(a: Fill, b: Fill) -> bool:
    return (a.client_order_id, a.qty, a.price) == (b.client_order_id, b.qty, b.price)


def _positive(value: Decimal, field: str) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise InvalidEvent(f"{field} must be a finite Decimal > 0, got {value!r}")


def _finite(value: Decimal, field: str) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidEvent(f"{field} must be a finite Decimal, got {value!r}")


def _validate_ts(ts: float) -> None:
    if not isinstance(ts, int | float) or ts != ts or ts in (float("inf"), float("-inf")):
        raise InvalidEvent(f"ts must be a finite number, got {ts!r}")


def _validate_quotes(quotes: Mapping[str, Quote]) -> None:
    for venue, quote in quotes.items():
        _positive(quote.bid, f"quotes[{venue!r}].bid")
        _positive(quote.ask, f"quotes[{venue!r}].ask")


def _validate_fill(fill: Fill, order: Order, where: str) -> None:
    if fill.client_order_id != order.client_order_id or fill.venue != order.venue:
        raise InvalidEvent(
            f"{where}: fill {fill.trade_id!r} belongs to {fill.venue}:{fill.client_order_id}, "
            f"not {order.venue}:{order.client_order_id}"
        )
    if not fill.trade_id:
        raise InvalidEvent(f"{where}.trade_id must not be empty")
    _positive(fill.qty, f"{where}.qty")
    _positive(fill.price, f"{where}.price")
    _finite(fill.fee, f"{where}.fee")
    _validate_ts(fill.ts)


def _close_order(order: Order, venue_filled: Decimal, ts: float, policy: ExecutionPolicy) -> Order:
    status = OrderState.FILLED if venue_filled == order.qty else OrderState.EXPIRED
    return attrs.evolve(
        order, status=status, venue_filled=venue_filled, query_due_ts=ts + policy.query_after_s
    )


def _step_fills(
    order: Order, fills: Iterable[Fill], seen: Mapping[tuple[str, str], Fill]
) -> tuple[Order, tuple[Fill, ...], str | None]:
    """Apply new fills to ``order``: de-duplicate, check quantities. Returns the new order,
    the fills to record and, if the fills cannot be true, why (then nothing is applied)."""
    new: list[Fill] = []
    keys: dict[tuple[str, str], Fill] = {}
    filled = order.filled
    for fill in fills:
        key = _fill_key(fill)
        previous = seen.get(key) or keys.get(key)
        if previous is not None:
            if _same_fill(previous, fill):
                continue  # a repeat of a fill already applied
            return order, (), f"trade id {fill.trade_id!r} reused with different content"
        if fill.side is not order.side:
            return (
                order,
                (),
                f"fill {fill.trade_id!r} is a {fill.side.value} on a {order.side.value}",
            )
        if order.status is OrderState.REJECTED:
            return order, (), f"fill {fill.trade_id!r} on an order the venue rejected"
        filled += fill.qty
        if filled > order.qty:
            return order, (), f"fills {filled} exceed the order quantity {order.qty}"
        if order.venue_filled is not None and filled > order.venue_filled:
            return order, (), f"fills {filled} exceed the venue's final fill {order.venue_filled}"
        keys[key] = fill
        new.append(fill)
    if not new:
        return order, (), None
    status = order.status
    if not status.is_closed:
        status = OrderState.FILLED if filled == order.qty else OrderState.ACKED
    venue_filled = order.venue_filled
    if status is OrderState.FILLED and venue_filled is None:
        venue_filled = order.qty
    return (
        attrs.evolve(order, filled=filled, status=status, venue_filled=venue_filled),
        tuple(new),
        None,
    )


def _step_order(
    order: Order,
    event: OrderEvent,
    seen: Mapping[tuple[str, str], Fill],
    policy: ExecutionPolicy,
) -> _Step:
    """The order's machine: what ``event`` does to ``order``. Raises InvalidEvent only."""
    ts = event.ts
    bump = ts + policy.query_after_s  # any news postpones the next query
    st = order.status

    if isinstance(event, LegAcked):
        if not event.venue_order_id:
            raise InvalidEvent("LegAcked.venue_order_id must not be empty")
        if order.venue_order_id not in (None, event.venue_order_id):
            return _Step(
                order,
                impossible=f"ack names venue order {event.venue_order_id!r}, "
                f"already acknowledged as {order.venue_order_id!r}",
            )
        if st is OrderState.REJECTED:
            return _Step(order, impossible="ack of an order the venue rejected or never had")
        new_status = OrderState.ACKED if st in (OrderState.SENT, OrderState.UNKNOWN) else st
        due = bump if not new_status.is_closed else order.query_due_ts
        return _Step(
            attrs.evolve(
                order, status=new_status, venue_order_id=event.venue_order_id, query_due_ts=due
            )
        )

    if isinstance(event, LegFilled):
        fill = Fill(
            venue=order.venue,
            client_order_id=order.client_order_id,
            trade_id=event.trade_id,
            side=order.side,
            qty=event.qty,
            price=event.price,
            fee=event.fee,
            ts=ts,
        )
        _validate_fill(fill, order, "LegFilled")
        new_order, new_fills, impossible = _step_fills(order, (fill,), seen)
        if impossible:
            return _Step(order, impossible=impossible)
        return _Step(attrs.evolve(new_order, query_due_ts=bump), new_fills)

    if isinstance(event, LegRejected):
        if st is OrderState.REJECTED or (st.is_closed and order.venue_filled == 0):
            return _Step(order)  # a repeat: nothing filled either way
        if order.filled > 0 or st.is_closed:
            return _Step(order, impossible=f"reject of an order that filled ({st.value})")
        return _Step(
            attrs.evolve(order, status=OrderState.REJECTED, venue_filled=_ZERO, reason=event.reason)
        )

    if isinstance(event, LegExpired):
        if not isinstance(event.filled_qty, Decimal) or not event.filled_qty.is_finite():
            raise InvalidEvent(f"LegExpired.filled_qty must be a Decimal, got {event.filled_qty!r}")
        if event.filled_qty < 0:
            raise InvalidEvent(f"LegExpired.filled_qty must be >= 0, got {event.filled_qty}")
        return _step_closed(order, event.filled_qty, "", ts, policy, f"LegExpired({st.value})")

    if isinstance(event, LegOutcomeUnknown):
        if st is OrderState.SENT:
            return _Step(
                attrs.evolve(
                    order, status=OrderState.UNKNOWN, query_due_ts=bump, reason=event.reason
                ),
                query=True,
            )
        if st is OrderState.ACKED:  # real-world: the REST call timed out after the stream's ack
            return _Step(attrs.evolve(order, query_due_ts=bump), query=True)
        return _Step(order)  # already unknown, or already resolved by the stream

    # OutcomeResolved
    report = event.report
    if report is None:
        # The venue has no such order. While the send is still pending (SENT) that proves
        # nothing: the request may be in transit, so keep waiting (the send always ends in an
        # ack, a reject or LegOutcomeUnknown). After an unknown outcome it never arrived: a
        # zero-fill reject, unless something already proved the order exists.
        if st is OrderState.SENT:
            return _Step(attrs.evolve(order, query_due_ts=bump))
        if st is OrderState.UNKNOWN and order.filled == 0:
            return _Step(
                attrs.evolve(
                    order, status=OrderState.REJECTED, venue_filled=_ZERO, reason="not found"
                )
            )
        if st.is_closed and order.venue_filled == 0:
            return _Step(order)
        return _Step(order, impossible=f"query found no order, but it is {st.value}")
    if report.client_order_id != order.client_order_id or report.venue != order.venue:
        raise InvalidEvent(
            f"OutcomeResolved.report is about {report.venue}:{report.client_order_id}, "
            f"not {order.venue}:{order.client_order_id}"
        )
    _validate_report(report, order)
    new_order, new_fills, impossible = _step_fills(order, report.fills, seen)
    if impossible:
        return _Step(order, impossible=impossible)
    if new_order.filled > report.filled_qty:
        return _Step(
            order,
            impossible=f"report's fills {new_order.filled} exceed its filled_qty "
            f"{report.filled_qty}",
        )
    if not report.status.is_terminal:
        # Still working on the venue (or a report older than what the stream told us).
        if new_order.status in (OrderState.SENT, OrderState.UNKNOWN):
            new_order = attrs.evolve(new_order, status=OrderState.ACKED)
        return _Step(attrs.evolve(new_order, query_due_ts=bump), new_fills)
    if report.status is OrderStatus.REJECTED:
        if report.filled_qty > 0 or new_order.filled > 0:
            return _Step(order, impossible="report says rejected with a fill")
        if st.is_closed and order.venue_filled != 0:
            return _Step(order, impossible=f"report says rejected, but the order {st.value}")
        return _Step(
            attrs.evolve(
                new_order,
                status=OrderState.REJECTED,
                venue_filled=_ZERO,
                reason=report.reason or "rejected",
            ),
            new_fills,
        )
    step = _step_closed(new_order, report.filled_qty, report.reason, ts, policy, "report")
    if step.impossible:
        return _Step(order, impossible=step.impossible)
    return _Step(step.order, new_fills)


def _validate_report(report: OrderReport, order: Order) -> None:
    if not isinstance(report.filled_qty, Decimal) or not report.filled_qty.is_finite():
        raise InvalidEvent(f"OutcomeResolved.report.filled_qty must be a Decimal, got {report!r}")
    if report.filled_qty < 0:
        raise InvalidEvent(f"OutcomeResolved.report.filled_qty must be >= 0: {report.filled_qty}")
    for i, fill in enumerate(report.fills):
        _validate_fill(fill, order, f"OutcomeResolved.report.fills[{i}]")


def _step_closed(
    order: Order,
    venue_filled: Decimal,
    reason: str,
    ts: float,
    policy: ExecutionPolicy,
    what: str,
) -> _Step:
    """The venue says the order is closed with ``venue_filled`` filled in total."""
    if venue_filled > order.qty:
        return _Step(order, impossible=f"{what}: filled {venue_filled} > order qty {order.qty}")
    if venue_filled < order.filled:
        return _Step(order, impossible=f"{what}: filled {venue_filled} < fills seen {order.filled}")
    st = order.status
    if st is OrderState.REJECTED:
        if venue_filled == 0:
            return _Step(order)
        return _Step(order, impossible=f"{what}: a rejected order filled {venue_filled}")
    if st.is_closed:
        if venue_filled == order.venue_filled:
            return _Step(order)  # a repeat
        return _Step(
            order,
            impossible=f"{what}: final fill changed from {order.venue_filled} to {venue_filled}",
        )
    closed = _close_order(order, venue_filled, ts, policy)
    return _Step(attrs.evolve(closed, reason=reason or closed.reason))


# -- the position --------------------------------------------------------------------------
@attrs.define(eq=False)
class _LegBook:
    """Per-leg counters: the next attempt number and the close budget used."""

    next_attempt: int = 0
    closes: int = 0


class Position:
    """One hedged pair's machine. See the module docstring for the theory of operation."""

    def __init__(self, spec: PositionSpec) -> None:
        self.spec = spec
        self.state = PositionState.IDLE
        self.history: list[Transition] = []
        self._orders: dict[str, Order] = {}  # by client order id, in send order
        self._fills: list[Fill] = []  # in arrival order
        self._fill_index: dict[tuple[str, str], Fill] = {}  # (venue, trade_id) → fill
        self._legs: dict[LegRole, _LegBook] = {leg: _LegBook() for leg in LEGS}
        self._funding: dict[LegRole, Decimal] = {leg: _ZERO for leg in LEGS}
        self._quotes: dict[str, Quote] = {}
        self._chases = 0
        self._first_chase_ts: float | None = None
        self._reverses = 0
        self._anomalies: list[dict[str, Any]] = []
        self._last_ts = spec.created_ts

    # -- queries ----------------------------------------------------------------------------
    def held(self, leg: LegRole) -> Decimal:
        """Base quantity the leg holds in its own direction (long: bought − sold)."""
        venue = self.spec.instrument(leg).venue
        entry = Side.BUY if leg == "long" else Side.SELL
        total = _ZERO
        for fill in self._fills:
            if fill.venue == venue:
                total += fill.qty if fill.side is entry else -fill.qty
        return total

    def net_exposure(self) -> Decimal:
        """Long held − short held, in base units (0 when hedged exactly or flat)."""
        return self.held("long") - self.held("short")

    def orders(self) -> list[Order]:
        """Every order sent, in send order."""
        return list(self._orders.values())

    def live_orders(self) -> list[Order]:
        """Orders in flight: not closed, or closed with fills still owed."""
        return [o for o in self._orders.values() if o.is_live]

    def fills(self) -> list[Fill]:
        return list(self._fills)

    def client_order_ids(self) -> list[tuple[str, LegRole, str]]:
        """``(client_order_id, leg, venue)`` of every order sent, in send order."""
        return [(o.client_order_id, o.leg, o.venue) for o in self._orders.values()]

    def fees(self) -> Decimal:
        return sum((f.fee for f in self._fills), _ZERO)

    def funding(self) -> Decimal:
        return self._funding["long"] + self._funding["short"]

    def pnl_by_currency(self) -> dict[str, Decimal]:
        """Realised PnL per quote currency: Σ sell cash − Σ buy cash − fees + funding."""
        out: dict[str, Decimal] = {}
        for leg in LEGS:
            inst = self.spec.instrument(leg)
            out[inst.quote] = out.get(inst.quote, _ZERO) + self._leg_pnl(leg)
        return out

    def realized_pnl(self, quote_rates: Mapping[str, Decimal] | None = None) -> Decimal:
        """Σ sell cash − Σ buy cash − fees + funding over both legs, exact.

        Without ``quote_rates`` the legs' quote currencies are added at par (1 USDC = 1 USDT);
        that is exact for a pair with one quote currency and an approximation for a Hyperliquid
        pair. Pass ``quote_rates`` (reference value of one unit of each currency) to convert;
        a missing currency raises KeyError. :meth:`pnl_by_currency` has the unconverted parts.
        """
        total = _ZERO
        for currency, amount in self.pnl_by_currency().items():
            total += amount if quote_rates is None else amount * quote_rates[currency]
        return total

    def _leg_pnl(self, leg: LegRole) -> Decimal:
        venue = self.spec.instrument(leg).venue
        cash = _ZERO
        for fill in self._fills:
            if fill.venue == venue:
                cash += fill.qty * fill.price * (-fill.side.sign) - fill.fee
        return cash + self._funding[leg]

    # -- the machine ------------------------------------------------------------------------
    def handle(self, event: Event) -> list[Command]:
        """Apply ``event``; return the commands to execute, in order.

        Raises:
            UnknownOrder: the event names an order this position never sent.
            IllegalTransition: ``(state, type(event))`` is not in :data:`TRANSITIONS`.
            InvalidEvent: a malformed field (named in the message).
            VenueProtocolError: a SETTLED position got a venue report that cannot be true.
        In every case the position is left exactly as it was.
        """
        # -- validate: identity, duplicates, table, fields. Nothing is mutated here. --------
        order: Order | None = None
        if isinstance(event, ORDER_EVENTS):
            order = self._orders.get(event.client_order_id)
            if order is None:
                raise UnknownOrder(
                    f"{type(event).__name__}: client order id {event.client_order_id!r} "
                    f"is not an order of position {self.spec.position_id}"
                )
            if isinstance(event, LegFilled):
                previous = self._fill_index.get((order.venue, event.trade_id))
                if (
                    previous is not None
                    and previous.client_order_id == order.client_order_id
                    and (previous.qty, previous.price) == (event.qty, event.price)
                ):
                    return []  # a repeated fill message
        target = TRANSITIONS.get((self.state, type(event)))
        if target is None:
            raise IllegalTransition(
                f"position {self.spec.position_id}: {type(event).__name__} is illegal in "
                f"{self.state.name}"
            )
        _validate_ts(event.ts)
        if isinstance(event, Tick | ExitSignal | OperatorFlatten | Kill):
            _validate_quotes(event.quotes)
        if isinstance(event, FundingPaid):
            _finite(event.amount, "FundingPaid.amount")
            if event.leg not in LEGS:
                raise InvalidEvent(f"FundingPaid.leg must be 'long' or 'short', got {event.leg!r}")
        step: _Step | None = None
        if order is not None:
            assert isinstance(event, ORDER_EVENTS)
            step = _step_order(order, event, self._fill_index, self.spec.policy)
            if step.impossible and self.state in TERMINAL_STATES:
                raise VenueProtocolError(
                    f"position {self.spec.position_id} is {self.state.name}: "
                    f"{type(event).__name__} for {order.client_order_id}: {step.impossible}"
                )

        # -- apply --------------------------------------------------------------------------
        cmds: list[Command] = []
        name = type(event).__name__
        self._last_ts = event.ts
        if isinstance(event, Tick | ExitSignal | OperatorFlatten | Kill):
            self._update_quotes(event.quotes)
        impossible = False
        if step is not None and order is not None:
            if step.impossible:
                impossible = True
                self._anomalies.append(
                    {
                        "ts": event.ts,
                        "event": name,
                        "client_order_id": order.client_order_id,
                        "leg": order.leg,
                        "venue": order.venue,
                        "problem": step.impossible,
                    }
                )
                cmds.append(
                    Alert(
                        level="critical",
                        message=f"position {self.spec.position_id} {order.leg} leg on "
                        f"{order.venue}: impossible venue report ({step.impossible}); "
                        f"needs reconciliation",
                    )
                )
            else:
                self._orders[order.client_order_id] = step.order
                for fill in step.fills:
                    self._fills.append(fill)
                    self._fill_index[_fill_key(fill)] = fill
                if step.query:
                    cmds.append(self._query(step.order))
        elif isinstance(event, FundingPaid):
            self._funding[event.leg] += event.amount
        elif isinstance(event, Tick):
            for live in self.live_orders():
                if event.ts >= live.query_due_ts:
                    self._orders[live.client_order_id] = attrs.evolve(
                        live, query_due_ts=event.ts + self.spec.policy.query_after_s
                    )
                    cmds.append(self._query(live))

        before = self.state
        if isinstance(event, Open):
            self._move(target, event.ts, name, "open")
            cmds.extend(self._send_entries(event.ts))
        elif isinstance(event, OperatorFlatten | Kill | ExitSignal) and target is not before:
            reason = event.reason if isinstance(event, ExitSignal) else name
            if before is PositionState.FAULTED:
                for book in self._legs.values():
                    book.closes = 0  # the operator's retry gets a fresh close budget
            self._move(target, event.ts, name, reason)
            if target is PositionState.CLOSING:
                cmds.extend(self._cancel_live())
        else:
            self._move(target, event.ts, name, "")

        if impossible and (self.state, Condition.VENUE_IMPOSSIBLE) in DERIVED:
            self._move(
                DERIVED[(self.state, Condition.VENUE_IMPOSSIBLE)],
                event.ts,
                name,
                Condition.VENUE_IMPOSSIBLE.value,
            )
        self._advance(event.ts, name, cmds)
        return cmds

    def _move(self, to: PositionState, ts: float, event: str, reason: str) -> None:
        if to is not self.state:
            self.history.append(
                Transition(ts=ts, from_state=self.state, event=event, to_state=to, reason=reason)
            )
            self.state = to

    def _update_quotes(self, quotes: Mapping[str, Quote]) -> None:
        for venue in (self.spec.long.venue, self.spec.short.venue):
            quote = quotes.get(venue)
            if quote is not None:
                self._quotes[venue] = quote

    def _advance(self, ts: float, name: str, cmds: list[Command]) -> None:
        """The fixed point: act in UNWINDING/CLOSING, assess, follow DERIVED; repeat."""
        for _ in range(len(PositionState)):  # the derived graph is acyclic
            if self.state is PositionState.UNWINDING:
                cmds.extend(self._act_unwinding(ts))
            elif self.state is PositionState.CLOSING:
                cmds.extend(self._act_closing(ts))
            condition = self.condition()
            target = None if condition is None else DERIVED.get((self.state, condition))
            if target is None or condition is None:
                return
            before = self.state
            self._move(target, ts, name, condition.value)
            cmds.extend(self._on_enter(before, condition))

    def _on_enter(self, before: PositionState, condition: Condition) -> list[Command]:
        pid, d = self.spec.position_id, self.net_exposure()
        if self.state is PositionState.FAULTED:
            return [
                Alert(
                    level="critical",
                    message=f"position {pid} FAULTED from {before.name} ({condition.value}): "
                    f"long holds {self.held('long')}, short holds {self.held('short')}; "
                    f"flatten or reconcile manually",
                )
            ]
        if self.state is PositionState.UNWINDING:
            return [
                Alert(
                    level="warning",
                    message=f"position {pid} single-legged after entry: net exposure {d}; "
                    f"unwinding",
                )
            ]
        if self.state is PositionState.HEDGED and d != 0:
            return [
                Alert(
                    level="warning",
                    message=f"position {pid} hedged with an untradable residual of {d} "
                    f"{self.spec.asset}",
                )
            ]
        return []

    def condition(self) -> Condition | None:
        """The legs' :class:`Condition`, or None while any order is live."""
        if any(o.is_live for o in self._orders.values()):
            return None
        a, b = self.held("long"), self.held("short")
        if a == 0 and b == 0:
            return Condition.FLAT
        if self._correction(a - b) is not None:
            return Condition.IMBALANCED
        if self._close_qty("long", a) > 0 and self._close_qty("short", b) > 0:
            return Condition.BALANCED
        return Condition.UNDERSIZED

    # -- pricing and sizing ------------------------------------------------------------------
    def _reference(self, leg: LegRole, side: Side) -> Decimal:
        """The price ``side`` would trade at now on ``leg``'s venue: the latest quote's ask
        for a buy, bid for a sell; the spec's reference price until a quote arrives."""
        inst = self.spec.instrument(leg)
        quote = self._quotes.get(inst.venue)
        if quote is not None:
            return quote.ask if side is Side.BUY else quote.bid
        return self.spec.long_price if leg == "long" else self.spec.short_price

    def _limit(self, leg: LegRole, side: Side, bps: Decimal, reference: Decimal) -> Decimal:
        """``reference`` worsened by ``bps`` and rounded in the cap direction."""
        inst = self.spec.instrument(leg)
        if side is Side.BUY:
            return round_price(inst, reference * (1 + bps / _BPS), "down")
        return round_price(inst, reference * (1 - bps / _BPS), "up")

    def _tradable(self, leg: LegRole, qty: Decimal, reduce_only: bool) -> Decimal:
        """``qty`` floored to the leg's lot if the venue would take it, else 0.

        An opening order (entry, chase) must clear the minimum size and the minimum notional
        at the current reference price; a reduce-only order (reverse, close) only the minimum
        size, so that a price move never makes a position it opened uncloseable in the
        machine's eyes (a venue that still refuses it is bounded by the retry budget).
        """
        inst = self.spec.instrument(leg)
        q = floor_qty(inst, qty)
        if q <= 0 or q < inst.min_size:
            return _ZERO
        if not reduce_only and q * self._reference(leg, _entry_side(leg)) < inst.min_notional:
            return _ZERO
        return q

    def _close_qty(self, leg: LegRole, held: Decimal) -> Decimal:
        return self._tradable(leg, held, reduce_only=True) if held > 0 else _ZERO

    def _correction(self, d: Decimal) -> tuple[Decimal, Decimal] | None:
        """For imbalance ``d``: (chase qty, reverse qty), or None if neither can trade."""
        if d == 0:
            return None
        lagging: LegRole = "short" if d > 0 else "long"
        leading: LegRole = "long" if d > 0 else "short"
        chase = self._tradable(lagging, abs(d), reduce_only=False)
        reverse = self._tradable(leading, abs(d), reduce_only=True)
        if chase == 0 and reverse == 0:
            return None
        return chase, reverse

    # -- orders --------------------------------------------------------------------------------
    def _place(
        self,
        leg: LegRole,
        purpose: Purpose,
        side: Side,
        qty: Decimal,
        price: Decimal,
        ts: float,
    ) -> PlaceOrder:
        inst = self.spec.instrument(leg)
        book = self._legs[leg]
        attempt = book.next_attempt
        book.next_attempt += 1
        coid = client_order_id(inst.venue, self.spec.position_id, leg, attempt)
        reduce_only = purpose in ("reverse", "close")
        self._orders[coid] = Order(
            client_order_id=coid,
            leg=leg,
            venue=inst.venue,
            symbol=inst.symbol,
            attempt=attempt,
            purpose=purpose,
            side=side,
            qty=qty,
            price=price,
            reduce_only=reduce_only,
            sent_ts=ts,
            query_due_ts=ts + self.spec.policy.query_after_s,
        )
        request = OrderRequest(
            venue=inst.venue,
            symbol=inst.symbol,
            client_order_id=coid,
            side=side,
            qty=qty,
            price=price,
            reduce_only=reduce_only,
            time_in_force="IOC",
        )
        return PlaceOrder(leg=leg, attempt=attempt, request=request)

    def _query(self, order: Order) -> QueryOrder:
        return QueryOrder(
            leg=order.leg,
            venue=order.venue,
            symbol=order.symbol,
            client_order_id=order.client_order_id,
        )

    def _send_entries(self, ts: float) -> list[Command]:
        policy = self.spec.policy
        cmds: list[Command] = []
        entries: tuple[tuple[LegRole, Decimal], ...] = (
            ("long", self.spec.long_price),
            ("short", self.spec.short_price),
        )
        for leg, reference in entries:
            side = _entry_side(leg)
            price = self._limit(leg, side, policy.entry_slippage_bps, reference)
            cmds.append(self._place(leg, "entry", side, self.spec.qty, price, ts))
        return cmds

    def _cancel_live(self) -> list[Command]:
        """Cancel every order still working (IOC orders end on their own; this is belt and
        braces for a flatten or kill). Their outcomes still arrive as events."""
        return [
            CancelOrder(
                leg=o.leg, venue=o.venue, symbol=o.symbol, client_order_id=o.client_order_id
            )
            for o in self._orders.values()
            if not o.status.is_closed
        ]

    def _act_unwinding(self, ts: float) -> list[Command]:
        """Single-leg policy: chase the lagging leg, then reverse the leading leg."""
        if any(o.is_live for o in self._orders.values()):
            return []
        d = self.net_exposure()
        correction = self._correction(d)
        if correction is None:
            return []  # FLAT, BALANCED or UNDERSIZED: the derived table decides
        chase_qty, reverse_qty = correction
        policy = self.spec.policy
        lagging: LegRole = "short" if d > 0 else "long"
        leading: LegRole = "long" if d > 0 else "short"
        chase_open = (
            self._reverses == 0
            and self._chases < policy.chase_attempts
            and (self._first_chase_ts is None or ts - self._first_chase_ts < policy.chase_ttl_s)
        )
        if chase_open and chase_qty > 0:
            side = _entry_side(lagging)
            bps = policy.entry_slippage_bps + policy.chase_extra_slippage_bps
            price = self._limit(lagging, side, bps, self._reference(lagging, side))
            if self._first_chase_ts is None:
                self._first_chase_ts = ts
            self._chases += 1
            return [self._place(lagging, "chase", side, chase_qty, price, ts)]
        if self._reverses < policy.reverse_attempts and reverse_qty > 0:
            side = _exit_side(leading)
            bps = policy.reverse_slippage_bps + self._reverses * policy.close_slippage_step_bps
            price = self._limit(leading, side, bps, self._reference(leading, side))
            self._reverses += 1
            return [self._place(leading, "reverse", side, reverse_qty, price, ts)]
        return []

    def _act_closing(self, ts: float) -> list[Command]:
        """Close each idle leg that holds something, with escalating slippage."""
        policy = self.spec.policy
        cmds: list[Command] = []
        for leg in LEGS:
            if any(o.is_live and o.leg == leg for o in self._orders.values()):
                continue
            book = self._legs[leg]
            qty = self._close_qty(leg, self.held(leg))
            if qty == 0 or book.closes >= policy.close_attempts:
                continue
            side = _exit_side(leg)
            bps = policy.close_slippage_bps + book.closes * policy.close_slippage_step_bps
            price = self._limit(leg, side, bps, self._reference(leg, side))
            book.closes += 1
            cmds.append(self._place(leg, "close", side, qty, price, ts))
        return cmds

    # -- views -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything the position knows, JSON-able (Decimals as plain strings)."""
        spec = self.spec
        legs = []
        for leg in LEGS:
            inst = spec.instrument(leg)
            entry = _entry_side(leg)
            leg_fills = [f for f in self._fills if f.venue == inst.venue]
            opened = [f for f in leg_fills if f.side is entry]
            opened_qty = sum((f.qty for f in opened), _ZERO)
            avg = (
                format_decimal(sum((f.qty * f.price for f in opened), _ZERO) / opened_qty)
                if opened_qty
                else None
            )
            leg_orders = [o for o in self._orders.values() if o.leg == leg]
            legs.append(
                {
                    "leg": leg,
                    "venue": inst.venue,
                    "symbol": inst.symbol,
                    "quote": inst.quote,
                    "side": entry.value,
                    "qty": format_decimal(spec.qty),
                    "filled": format_decimal(self.held(leg)),
                    "avg_price": avg,
                    "status": leg_orders[-1].status.value if leg_orders else "idle",
                    "next_attempt": self._legs[leg].next_attempt,
                    "closes": self._legs[leg].closes,
                    "pnl": format_decimal(self._leg_pnl(leg)),
                    "funding": format_decimal(self._funding[leg]),
                    "orders": [o.to_json() for o in leg_orders],
                    "fills": [_fill_json(f) for f in leg_fills],
                }
            )
        return {
            "id": spec.position_id,
            "asset": spec.asset,
            "long_venue": spec.long.venue,
            "short_venue": spec.short.venue,
            "qty": format_decimal(spec.qty),
            "created_ts": spec.created_ts,
            "last_ts": self._last_ts,
            "state": self.state.value,
            "net_exposure": format_decimal(self.net_exposure()),
            "legs": legs,
            "realized_pnl": format_decimal(self.realized_pnl()),
            "pnl_by_currency": {k: format_decimal(v) for k, v in self.pnl_by_currency().items()},
            "fees": format_decimal(self.fees()),
            "funding": format_decimal(self.funding()),
            "chases": self._chases,
            "first_chase_ts": self._first_chase_ts,
            "reverses": self._reverses,
            "quotes": {
                venue: {"bid": format_decimal(q.bid), "ask": format_decimal(q.ask)}
                for venue, q in sorted(self._quotes.items())
            },
            "anomalies": list(self._anomalies),
            "history": [t.to_json() for t in self.history],
        }


def _entry_side(leg: LegRole) -> Side:
    return Side.BUY if leg == "long" else Side.SELL


def _exit_side(leg: LegRole) -> Side:
    return Side.SELL if leg == "long" else Side.BUY


def _fill_json(fill: Fill) -> dict[str, Any]:
    return {
        "trade_id": fill.trade_id,
        "client_order_id": fill.client_order_id,
        "side": fill.side.value,
        "qty": format_decimal(fill.qty),
        "price": format_decimal(fill.price),
        "fee": format_decimal(fill.fee),
        "ts": fill.ts,
    }


def replay(spec: PositionSpec, events: Iterable[Event]) -> Position:
    """A fresh position fed ``events`` in order (how the runtime rebuilds from its journal).

    Events the position refused when they were journaled are refused again and skipped.
    """
    position = Position(spec)
    for event in events:
        try:
            position.handle(event)
        except PositionError:
            continue
    return position
