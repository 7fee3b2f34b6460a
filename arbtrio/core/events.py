"""Events a position machine consumes and commands it emits.

Events carry the time they happened (``ts``, runtime clock seconds); the machine never reads a
clock. Order events name the order by its venue-encoded client order id; the machine knows
which leg and attempt each id belongs to because it derived the id itself
(``arbtrio.core.ids``).

Commands are intents: the runtime journals each one *before* executing it, then executes it
and feeds the outcome back as events.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

import attrs

from arbtrio.core.types import OrderReport, OrderRequest

LegRole = Literal["long", "short"]


# -- events ------------------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class Quote:
    """A venue's best bid and ask for the position's instrument, as the runtime saw it."""

    bid: Decimal
    ask: Decimal


@attrs.frozen(kw_only=True)
class Open:
    """Start: send both entry legs (IDLE → OPENING)."""

    ts: float


@attrs.frozen(kw_only=True)
class LegAcked:
    client_order_id: str
    venue_order_id: str
    ts: float


@attrs.frozen(kw_only=True)
class LegFilled:
    """One fill (partial or full). Repeats of a ``trade_id`` are ignored."""

    client_order_id: str
    trade_id: str
    qty: Decimal  # base units
    price: Decimal
    fee: Decimal  # positive is a cost
    ts: float
    fee_currency: str = ""  # "": the quote currency; else the coin (e.g. BGB) it was paid in


@attrs.frozen(kw_only=True)
class LegRejected:
    """The venue refused the order: it never existed, nothing filled."""

    client_order_id: str
    reason: str
    ts: float


@attrs.frozen(kw_only=True)
class LegExpired:
    """The order is closed with ``filled_qty`` filled (IOC remainder cancelled, or cancelled).

    ``filled_qty`` is the venue's cumulative fill: if it exceeds the fills seen so far, the
    machine waits (queries) for the missing fills rather than guessing their prices.
    """

    client_order_id: str
    filled_qty: Decimal
    ts: float


@attrs.frozen(kw_only=True)
class LegOutcomeUnknown:
    """Sending the order timed out or the connection dropped: it may or may not exist."""

    client_order_id: str
    reason: str
    ts: float


@attrs.frozen(kw_only=True)
class OutcomeResolved:
    """A query (or reconciliation) found what became of an order; ``report`` carries fills.

    ``report is None`` means the venue has no such order: it never arrived.
    """

    client_order_id: str
    report: OrderReport | None
    ts: float


@attrs.frozen(kw_only=True)
class Tick:
    """Time passes; carries the latest quotes of the position's venues (by venue name)."""

    ts: float
    quotes: Mapping[str, Quote] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ExitSignal:
    """The strategy wants the position closed (converged, max hold, stop, funding)."""

    reason: str
    ts: float
    quotes: Mapping[str, Quote] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class OperatorFlatten:
    ts: float
    quotes: Mapping[str, Quote] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class Kill:
    ts: float
    quotes: Mapping[str, Quote] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class FundingPaid:
    """Funding booked on one leg (quote units; positive received, negative paid)."""

    leg: LegRole
    amount: Decimal
    ts: float


Event = (
    Open
    | LegAcked
    | LegFilled
    | LegRejected
    | LegExpired
    | LegOutcomeUnknown
    | OutcomeResolved
    | Tick
    | ExitSignal
    | OperatorFlatten
    | Kill
    | FundingPaid
)


# -- commands ----------------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class PlaceOrder:
    leg: LegRole
    attempt: int
    request: OrderRequest


@attrs.frozen(kw_only=True)
class CancelOrder:
    leg: LegRole
    venue: str
    symbol: str
    client_order_id: str


@attrs.frozen(kw_only=True)
class QueryOrder:
    leg: LegRole
    venue: str
    symbol: str
    client_order_id: str


@attrs.frozen(kw_only=True)
class Alert:
    level: Literal["warning", "error", "critical"]
    message: str


Command = PlaceOrder | CancelOrder | QueryOrder | Alert
