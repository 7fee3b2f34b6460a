"""One order's machine: its states, its record, and the order table with its guards.

What the venue says about an order arrives as *news* of an :class:`OrderEventKind`; the
order table :data:`ORDER_TRANSITIONS` maps ``(OrderState, kind)`` to an outcome: the next
state, :data:`REPEAT` (harmless: nothing changes), an :class:`Impossible` report, or a guard
that picks one of those from the order's quantities. The table is total, and mirrored in
``specs/001-position-fsm.md`` between ``<!-- orders:begin -->`` markers. Reading an event as
news and applying the outcome is :mod:`arbtrio.core.position.steps`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final, Literal

import attrs

from arbtrio.core.events import LegRole
from arbtrio.core.instruments import format_decimal
from arbtrio.core.types import Side

_ZERO = Decimal(0)


class OrderState(enum.Enum):
    """One order's status as this position knows it.

    SENT: PlaceOrder emitted, nothing heard. ACKED: the venue has it (acknowledged or partly
    filled). UNKNOWN: sending failed ambiguously; it may exist. FILLED, EXPIRED (closed with
    ``venue_filled`` < qty, the IOC remainder cancelled), REJECTED and LOST are closed. A
    closed order whose ``venue_filled`` exceeds the fills seen is still *live*: fills are owed.

    LOST: after an unknown outcome, a query found no such order, so it is presumed never to
    have arrived (closed, nothing filled: the position goes on without it) — but it stays
    watched: any later news of it (an ack, a fill, a report) revives it, so a late execution
    is applied to the position, never ignored.

    The table keeps these true of every order: SENT and UNKNOWN orders have no fills; an
    order that is not closed has no ``venue_filled``; a FILLED order's ``venue_filled`` is its
    quantity, a REJECTED or LOST order's is 0 (and it has no fills); fills never exceed
    ``venue_filled``.
    """

    SENT = "sent"
    ACKED = "acked"
    UNKNOWN = "unknown"
    FILLED = "filled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    LOST = "lost"

    @property
    def is_closed(self) -> bool:
        return self in _CLOSED


_CLOSED: Final = frozenset(
    {OrderState.FILLED, OrderState.EXPIRED, OrderState.REJECTED, OrderState.LOST}
)

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


class OrderEventKind(enum.Enum):
    """A row of the order table: what one piece of news says about an order.

    Read from the event, the order's record (venue order id, fills) and the position's fills,
    never from the order's state. An ``OutcomeResolved`` report is one FILL-family piece of
    news per fill it carries, then one REPORT-family piece for its status, read once those
    fills are applied (:mod:`~arbtrio.core.position.steps`).
    """

    ACK = "ack"  # LegAcked
    ACK_OF_ANOTHER_ORDER = "ack of another order"  # naming another venue order id than recorded
    FILL = "fill"  # LegFilled, or a report's fill: a new (venue, trade id)
    FILL_REPEATED = "fill repeated"  # a trade id already applied, same order, qty and price
    FILL_TRADE_ID_REUSED = "trade id reused"  # a trade id already applied, other content
    FILL_WRONG_SIDE = "fill on the wrong side"  # a report's fill opposite the order's side
    REJECT = "reject"  # LegRejected
    EXPIRE = "expire"  # LegExpired: closed with the venue's cumulative fill
    OUTCOME_UNKNOWN = "outcome unknown"  # LegOutcomeUnknown
    NOT_FOUND = "not found"  # OutcomeResolved(None): the venue has no such order
    REPORT_WORKING = "report: working"  # report PENDING or OPEN
    REPORT_CLOSED = "report: closed"  # report FILLED or CANCELLED
    REPORT_REJECTED = "report: rejected"  # report REJECTED with filled_qty 0
    REPORT_REJECTED_FILLED = "report: rejected, filled"  # report REJECTED, filled_qty > 0
    REPORT_BELOW_FILLS = "report: below the fills"  # filled_qty < the fills applied


# -- outcomes ------------------------------------------------------------------------------
class Repeat(enum.Enum):
    """A harmless repeat, or news that no longer matters: the order stays exactly as it is."""

    REPEAT = "="


REPEAT: Final = Repeat.REPEAT


@attrs.frozen
class Impossible:
    """News that cannot be true: the order is not changed, the position records an anomaly.

    ``name`` says what is impossible (the spec's table shows it). ``problem`` is the anomaly
    text: a :meth:`str.format` template over ``order`` (the order the news is about) and the
    news' fields: ``event``, ``fill``, ``filled`` (the order's fills with this one),
    ``venue_filled`` (the closing cumulative fill) and ``source`` (what reported the close).
    """

    name: str
    problem: str

    def explain(self, order: Order, **fields: object) -> str:
        return self.problem.format(order=order, **fields)


Outcome = OrderState | Repeat | Impossible
Guard = Callable[[Order, Decimal], Outcome]
"""A cell that reads the order's quantities: ``guard(order, quantity) → outcome``, where
``quantity`` is the fill's quantity for FILL news, the cumulative fill for a close (EXPIRE,
REPORT_CLOSED), and 0 otherwise."""


@attrs.frozen
class When:
    """A guard on the order alone: ``then`` if ``check(order)``, else ``otherwise``."""

    check: Callable[[Order], bool]
    then: Outcome
    otherwise: Outcome

    def __call__(self, order: Order, quantity: Decimal) -> Outcome:
        return self.then if self.check(order) else self.otherwise


Entry = Outcome | Guard

_I = Impossible
ACK_OF_REJECTED: Final = _I(
    "ack of a rejected order", "ack of an order the venue rejected or never had"
)
TWO_VENUE_ORDER_IDS: Final = _I(
    "two venue order ids",
    "ack names venue order {event.venue_order_id!r}, already acknowledged as "
    "{order.venue_order_id!r}",
)
TRADE_ID_REUSED: Final = _I(
    "trade id reused", "trade id {fill.trade_id!r} reused with different content"
)
FILL_ON_WRONG_SIDE: Final = _I(
    "fill on the wrong side",
    "fill {fill.trade_id!r} is a {fill.side.value} on a {order.side.value}",
)
FILL_ON_REJECTED: Final = _I(
    "fill on a rejected order", "fill {fill.trade_id!r} on an order the venue rejected"
)
FILLS_BEYOND_QTY: Final = _I(
    "fills beyond the order", "fills {filled} exceed the order quantity {order.qty}"
)
FILLS_BEYOND_FINAL: Final = _I(
    "fills beyond the final fill",
    "fills {filled} exceed the venue's final fill {order.venue_filled}",
)
REJECT_AFTER_FILL: Final = _I(
    "reject after a fill", "reject of an order that filled ({order.status.value})"
)
CLOSE_BEYOND_QTY: Final = _I(
    "close beyond the order", "{source}: filled {venue_filled} > order qty {order.qty}"
)
CLOSE_BELOW_FILLS: Final = _I(
    "close below the fills", "{source}: filled {venue_filled} < fills seen {order.filled}"
)
FINAL_FILL_CHANGED: Final = _I(
    "final fill changed",
    "{source}: final fill changed from {order.venue_filled} to {venue_filled}",
)
REJECTED_ORDER_FILLED: Final = _I(
    "rejected order filled", "{source}: a rejected order filled {venue_filled}"
)
FOUND_NOTHING: Final = _I(
    "not found, yet it exists", "query found no order, but it is {order.status.value}"
)
REJECTED_YET_FILLED: Final = _I(
    "rejected, yet it filled", "report says rejected, but the order {order.status.value}"
)
REJECTED_WITH_FILL: Final = _I("rejected with a fill", "report says rejected with a fill")
REPORT_BELOW_FILLS: Final = _I(
    "report below the fills",
    "report's fills {order.filled} exceed its filled_qty {venue_filled}",
)


# -- guards --------------------------------------------------------------------------------
def fill_completes_order(order: Order, qty: Decimal) -> Outcome:
    """A fill on an order not closed: FILLED if it completes the order, else ACKED (a fill
    proves the order exists); impossible beyond the order quantity."""
    filled = order.filled + qty
    if filled > order.qty:
        return FILLS_BEYOND_QTY
    return OrderState.FILLED if filled == order.qty else OrderState.ACKED


def fill_within_final_fill(order: Order, qty: Decimal) -> Outcome:
    """A fill on a closed order (one it owed): its state stands while the fills stay within
    the order quantity and the venue's final cumulative fill."""
    filled = order.filled + qty
    if filled > order.qty:
        return FILLS_BEYOND_QTY
    if order.venue_filled is not None and filled > order.venue_filled:
        return FILLS_BEYOND_FINAL
    return order.status


def _close_out_of_bounds(order: Order, venue_filled: Decimal) -> Impossible | None:
    if venue_filled > order.qty:
        return CLOSE_BEYOND_QTY
    if venue_filled < order.filled:
        return CLOSE_BELOW_FILLS
    return None


def close_completes_order(order: Order, venue_filled: Decimal) -> Outcome:
    """The venue closed an order not closed with ``venue_filled`` in all: FILLED if that is
    the order quantity, else EXPIRED; impossible above the quantity or below the fills seen."""
    bad = _close_out_of_bounds(order, venue_filled)
    if bad is not None:
        return bad
    return OrderState.FILLED if venue_filled == order.qty else OrderState.EXPIRED


def close_repeats_final_fill(order: Order, venue_filled: Decimal) -> Outcome:
    """A closed order closed again: a repeat if the cumulative fill is the one recorded;
    impossible if it changed (or is above the quantity, or below the fills seen)."""
    bad = _close_out_of_bounds(order, venue_filled)
    if bad is not None:
        return bad
    return REPEAT if venue_filled == order.venue_filled else FINAL_FILL_CHANGED


def close_fills_nothing(order: Order, venue_filled: Decimal) -> Outcome:
    """A rejected order reported closed: a repeat if nothing filled, else impossible."""
    bad = _close_out_of_bounds(order, venue_filled)
    if bad is not None:
        return bad
    return REPEAT if venue_filled == 0 else REJECTED_ORDER_FILLED


def nothing_filled(order: Order) -> bool:
    """No fill seen and no cumulative fill above 0 reported."""
    return order.filled == 0 and (order.venue_filled is None or order.venue_filled == 0)


# -- the table -----------------------------------------------------------------------------
def _row(kind: OrderEventKind, **cells: Entry) -> dict[tuple[OrderState, OrderEventKind], Entry]:
    """``kind``'s row: one cell per :class:`OrderState`, each named."""
    if set(cells) != {state.name for state in OrderState}:
        raise ValueError(f"row {kind.name}: cells for {sorted(cells)}")
    return {(OrderState[name], kind): cell for name, cell in cells.items()}


def _same(kind: OrderEventKind, cell: Entry) -> dict[tuple[OrderState, OrderEventKind], Entry]:
    """``kind``'s row with ``cell`` in every column."""
    return {(state, kind): cell for state in OrderState}


_O, _K = OrderState, OrderEventKind
ORDER_TRANSITIONS: Final[Mapping[tuple[OrderState, OrderEventKind], Entry]] = MappingProxyType(
    {
        **_row(
            _K.ACK,
            SENT=_O.ACKED,
            ACKED=_O.ACKED,
            UNKNOWN=_O.ACKED,
            # real-world: the stream's ack can trail the order's fills and its final status.
            FILLED=_O.FILLED,
            EXPIRED=_O.EXPIRED,
            REJECTED=ACK_OF_REJECTED,
            LOST=_O.ACKED,  # real-world: a late execution of an order reported not found
        ),
        **_same(_K.ACK_OF_ANOTHER_ORDER, TWO_VENUE_ORDER_IDS),
        **_row(
            _K.FILL,
            SENT=fill_completes_order,
            ACKED=fill_completes_order,
            UNKNOWN=fill_completes_order,
            FILLED=fill_within_final_fill,
            EXPIRED=fill_within_final_fill,
            REJECTED=FILL_ON_REJECTED,
            LOST=fill_completes_order,  # real-world: a late execution, applied
        ),
        # real-world: the stream repeats fills, and a report repeats fills already streamed.
        **_same(_K.FILL_REPEATED, REPEAT),
        **_same(_K.FILL_TRADE_ID_REUSED, TRADE_ID_REUSED),
        **_same(_K.FILL_WRONG_SIDE, FILL_ON_WRONG_SIDE),
        **_row(
            _K.REJECT,
            SENT=_O.REJECTED,
            ACKED=When(nothing_filled, _O.REJECTED, REJECT_AFTER_FILL),
            UNKNOWN=_O.REJECTED,
            FILLED=REJECT_AFTER_FILL,
            # real-world: an IOC that found nothing, reported expired and then rejected.
            EXPIRED=When(nothing_filled, REPEAT, REJECT_AFTER_FILL),
            REJECTED=REPEAT,
            LOST=_O.REJECTED,  # the venue had it after all, and refused it
        ),
        **_row(
            _K.EXPIRE,
            SENT=close_completes_order,
            ACKED=close_completes_order,
            UNKNOWN=close_completes_order,
            FILLED=close_repeats_final_fill,
            EXPIRED=close_repeats_final_fill,
            REJECTED=close_fills_nothing,
            LOST=close_completes_order,  # real-world: a late execution, closed
        ),
        **_row(
            _K.OUTCOME_UNKNOWN,
            SENT=_O.UNKNOWN,
            # real-world: the REST call timed out after the stream's ack; query it anyway.
            ACKED=_O.ACKED,
            UNKNOWN=REPEAT,
            FILLED=REPEAT,
            EXPIRED=REPEAT,
            REJECTED=REPEAT,
            LOST=REPEAT,
        ),
        **_row(
            _K.NOT_FOUND,
            # real-world: the send has not returned, the request may still be in transit.
            SENT=_O.SENT,
            ACKED=FOUND_NOTHING,
            UNKNOWN=_O.LOST,  # the send is over: presumed never arrived, still watched
            FILLED=FOUND_NOTHING,
            EXPIRED=When(nothing_filled, REPEAT, FOUND_NOTHING),
            REJECTED=REPEAT,
            LOST=REPEAT,
        ),
        **_row(
            _K.REPORT_WORKING,
            SENT=_O.ACKED,
            ACKED=_O.ACKED,
            UNKNOWN=_O.ACKED,
            # real-world: a report older than what the stream said; the order stays closed.
            FILLED=_O.FILLED,
            EXPIRED=_O.EXPIRED,
            REJECTED=_O.REJECTED,
            LOST=_O.ACKED,  # real-world: a late execution, still working
        ),
        **_row(
            _K.REPORT_CLOSED,
            SENT=close_completes_order,
            ACKED=close_completes_order,
            UNKNOWN=close_completes_order,
            FILLED=close_repeats_final_fill,
            EXPIRED=close_repeats_final_fill,
            REJECTED=close_fills_nothing,
            LOST=close_completes_order,  # real-world: a late execution, closed
        ),
        **_row(
            _K.REPORT_REJECTED,
            SENT=_O.REJECTED,
            ACKED=_O.REJECTED,
            UNKNOWN=_O.REJECTED,
            FILLED=REJECTED_YET_FILLED,
            EXPIRED=When(nothing_filled, _O.REJECTED, REJECTED_YET_FILLED),
            REJECTED=_O.REJECTED,
            LOST=_O.REJECTED,
        ),
        **_same(_K.REPORT_REJECTED_FILLED, REJECTED_WITH_FILL),
        **_same(_K.REPORT_BELOW_FILLS, REPORT_BELOW_FILLS),
    }
)
"""The order table: ``(state, kind) → outcome``, total. A cell equal to its column is a
self-loop: the news is recorded (venue order id, fills, the next query time)."""


def decide(order: Order, kind: OrderEventKind, quantity: Decimal = _ZERO) -> Outcome:
    """The table's outcome for ``kind`` news about ``order`` (a guard applied to it)."""
    entry = ORDER_TRANSITIONS[(order.status, kind)]
    return entry(order, quantity) if callable(entry) else entry
