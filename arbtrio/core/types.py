"""Domain vocabulary shared by the core, the venues and the runtime.

Quantities here are always in *base units* (coins), never contracts or lots: venue adapters
convert at their edge. Prices are in the instrument's quote currency. Money is ``Decimal``.
Timestamps are float seconds on the runtime's clock (``trio.current_time()`` in the runtime,
the simulator's clock in the simulator); the core never reads a clock itself.
"""

from __future__ import annotations

import enum
from decimal import Decimal

import attrs


class Side(enum.Enum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: the sign of the base-quantity change."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderStatus(enum.Enum):
    """Venue-neutral order status. Terminal: FILLED, CANCELLED, REJECTED.

    An IOC order whose unfilled remainder the venue cancelled is CANCELLED with a non-zero
    ``filled_qty``.
    """

    PENDING = "pending"  # sent, no answer yet
    OPEN = "open"  # acknowledged, may fill further
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def is_terminal(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED)


@attrs.frozen(kw_only=True)
class OrderRequest:
    """One limit order as the runtime asks a venue client to place it.

    ``qty`` is in base units and already a multiple of the instrument's lot; ``price`` is
    already on the instrument's tick (the core quantises before a request exists).
    """

    venue: str
    symbol: str  # the venue's symbol, e.g. "BTC", "BTCUSDT", "BTC_USDT", "XBTUSDTM"
    client_order_id: str  # already encoded for this venue (see arbtrio.core.ids)
    side: Side
    qty: Decimal
    price: Decimal
    reduce_only: bool = False
    time_in_force: str = "IOC"


@attrs.frozen(kw_only=True)
class OrderAck:
    """The venue accepted an order (it may already have filled some or all of it)."""

    venue: str
    client_order_id: str
    venue_order_id: str
    ts: float


@attrs.frozen(kw_only=True)
class Fill:
    """One execution. ``trade_id`` is unique per venue and is the de-duplication key."""

    venue: str
    client_order_id: str
    trade_id: str
    side: Side
    qty: Decimal  # base units, > 0
    price: Decimal
    fee: Decimal  # positive is a cost, negative a rebate
    ts: float
    fee_currency: str = ""  # "": the instrument's quote currency; else the coin it was paid in
    # The venue symbol traded, where the client knows it (identity is the trade id: not
    # compared); lets an orphan fill, one no live position claims, count in net exposure.
    symbol: str = attrs.field(default="", eq=False)


@attrs.frozen(kw_only=True)
class OrderUpdate:
    """An order's status changed. ``filled_qty`` is cumulative, in base units."""

    venue: str
    client_order_id: str
    status: OrderStatus
    filled_qty: Decimal
    avg_price: Decimal | None
    ts: float
    reason: str = ""


@attrs.frozen(kw_only=True)
class OrderReport:
    """What a query by client order id found: status, cumulative fill, and the fills seen."""

    venue: str
    client_order_id: str
    status: OrderStatus
    filled_qty: Decimal
    avg_price: Decimal | None
    fills: tuple[Fill, ...] = ()
    reason: str = ""


OrderEvent = OrderAck | Fill | OrderUpdate
"""What a venue's private stream delivers to the runtime's order router."""


@attrs.frozen(kw_only=True)
class Balance:
    venue: str
    currency: str
    total: Decimal
    available: Decimal


@attrs.frozen(kw_only=True)
class VenuePosition:
    """A venue's view of the account's position: signed base quantity (long > 0)."""

    venue: str
    symbol: str
    qty: Decimal
    entry_price: Decimal | None
    mark_price: Decimal | None = None  # the venue's mark, when it reports one
    liquidation_price: Decimal | None = None  # None: not reported, or no liquidation price


@attrs.frozen(kw_only=True)
class FundingRate:
    """The current or predicted funding rate for one interval, and the interval itself."""

    venue: str
    symbol: str
    rate: Decimal  # per interval; longs pay shorts when positive
    interval_hours: int
    next_funding_ts: float | None = None
