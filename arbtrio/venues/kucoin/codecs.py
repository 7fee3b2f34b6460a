"""KuCoin Futures (USDT-margined) wire messages, both directions, as msgspec Structs.

One decoder per message type, built once. Shapes are the venue's, as its Futures REST and
WebSocket documentation gives them (the facts relied on are in ``specs/014-kucoin.md``).
Conventions:

* REST answers are ``{"code": "200000", "data": ...}``; :class:`Envelope` is generic over
  ``data`` and :data:`status_decoder` reads only ``code``/``msg`` of an error.
* Sizes are *lots* (integers, sometimes sent as strings); money is ``Decimal``, and Structs
  carrying money derive from :class:`~arbtrio.venues.wire.Exact` (finite decimals only).
* The level-2 increment (``"price,side,size"`` in one string) is decoded in one pass by
  :data:`level2_frame_decoder`; the change string is parsed by :func:`parse_change`.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

import msgspec

from arbtrio.venues.base import MalformedMessage
from arbtrio.venues.wire import Exact, decode_or_malformed

VENUE = "kucoin"
OK = "200000"

T = TypeVar("T")
Price = Annotated[float, msgspec.Meta(gt=0, lt=1e15)]
Size = Annotated[float, msgspec.Meta(ge=0, lt=1e15)]
Code = str | int


# -- REST envelope -------------------------------------------------------------------------
class Envelope(msgspec.Struct, Generic[T]):
    code: Code
    data: T
    msg: str = ""


class Status(msgspec.Struct):
    """Just the envelope's status (error answers carry no ``data``)."""

    code: Code
    msg: str = ""


# -- public REST ---------------------------------------------------------------------------
class Contract(Exact):
    """``GET /api/v1/contracts/active`` item (the fields the bot uses)."""

    symbol: str
    baseCurrency: str
    multiplier: Decimal
    lotSize: Decimal
    tickSize: Decimal
    rootSymbol: str = "USDT"
    type: str = "FFWCSX"
    quoteCurrency: str = "USDT"
    settleCurrency: str = "USDT"
    maxOrderQty: Decimal = Decimal(1_000_000)
    makerFeeRate: Decimal = Decimal("0.0002")
    takerFeeRate: Decimal = Decimal("0.0006")
    fundingFeeRate: Decimal | None = None
    predictedFundingFeeRate: Decimal | None = None
    fundingRateGranularity: int = 28_800_000
    nextFundingRateTime: int | None = None
    status: str = "Open"
    isInverse: bool = False
    maxLeverage: int | None = None
    supportCross: bool = True


class Level2Snapshot(msgspec.Struct):
    """``GET /api/v1/level2/snapshot``: full book, prices as JSON numbers, sizes in lots."""

    sequence: int
    bids: list[tuple[Price, Size]]
    asks: list[tuple[Price, Size]]
    symbol: str = ""
    ts: int = 0


class InstanceServer(msgspec.Struct):
    endpoint: str
    pingInterval: int = 18_000
    pingTimeout: int = 10_000
    protocol: str = "websocket"
    encrypt: bool = True


class Bullet(msgspec.Struct):
    """``POST /api/v1/bullet-public`` / ``bullet-private`` data."""

    token: str
    instanceServers: list[InstanceServer]


class FundingCurrent(Exact):
    """``GET /api/v1/funding-rate/{symbol}/current``."""

    value: Decimal
    granularity: int = 28_800_000
    symbol: str = ""
    timePoint: int = 0
    predictedValue: Decimal | None = None
    fundingTime: int | None = None  # next settlement, wall-clock ms


class TradeFees(Exact):
    symbol: str
    takerFeeRate: Decimal
    makerFeeRate: Decimal


# -- private REST --------------------------------------------------------------------------
class OrderCreate(msgspec.Struct, omit_defaults=True):
    """``POST /api/v1/orders`` body: ``size`` in lots, ``price`` a decimal string."""

    clientOid: str
    side: str
    symbol: str
    price: str
    size: int
    type: str = "limit"
    timeInForce: str = "GTC"
    reduceOnly: bool = False
    marginMode: str = "ISOLATED"
    leverage: int | None = None


class OrderCreated(msgspec.Struct):
    orderId: str
    clientOid: str = ""


class OrderDetail(Exact):
    """``GET /api/v1/orders/{id}`` / ``byClientOid``: sizes in lots."""

    id: str
    symbol: str
    side: str
    size: Decimal
    status: str  # "open" | "done"
    filledSize: Decimal = Decimal(0)
    filledValue: Decimal = Decimal(0)
    price: Decimal | None = None
    type: str = "limit"
    clientOid: str = ""
    isActive: bool = False
    cancelExist: bool = False
    reduceOnly: bool = False
    timeInForce: str = "GTC"
    avgDealPrice: Decimal | None = None
    createdAt: int = 0
    endAt: int | None = None


class TradeFill(Exact):
    """``GET /api/v1/fills`` item: ``fee`` is the real amount (the WS match has none)."""

    tradeId: str
    orderId: str
    symbol: str
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal = Decimal(0)
    liquidity: str = "taker"
    feeCurrency: str = "USDT"
    tradeTime: int = 0


class FillsPage(msgspec.Struct):
    items: list[TradeFill]
    currentPage: int = 1
    pageSize: int = 50
    totalNum: int = 0
    totalPage: int = 1


class Position(Exact):
    symbol: str
    currentQty: Decimal  # signed lots
    avgEntryPrice: Decimal = Decimal(0)
    isOpen: bool = True
    marginMode: str = "ISOLATED"


class AccountOverview(Exact):
    accountEquity: Decimal
    availableBalance: Decimal
    currency: str = "USDT"
    marginBalance: Decimal = Decimal(0)
    unrealisedPNL: Decimal = Decimal(0)


class CancelledByClientOid(msgspec.Struct):
    clientOid: str = ""


class Acknowledged(Envelope[msgspec.Raw]):
    """A success whose ``data`` the client does not read (a cancel): any ``data``, or none."""

    data: msgspec.Raw = msgspec.Raw()


# -- WebSocket -----------------------------------------------------------------------------
class WsMessage(msgspec.Struct):
    """Every server frame; ``data`` stays raw until ``topic``/``subject`` say what it is.
    Errors carry ``code`` and a text ``data``."""

    type: str
    id: str = ""
    topic: str = ""
    subject: str = ""
    sn: int | None = None
    data: msgspec.Raw = msgspec.Raw()
    code: Code | None = None


class WsRequest(msgspec.Struct, omit_defaults=True):
    """Client → server: ``subscribe`` / ``unsubscribe`` / ``ping``."""

    id: str
    type: str
    topic: str = ""
    privateChannel: bool = False
    response: bool = False


class Level2Change(msgspec.Struct):
    sequence: int
    change: str  # "price,side,size": side buy|sell, size absolute lots (0 removes)
    timestamp: int = 0


class Level2Frame(msgspec.Struct, tag_field="subject", tag="level2"):
    """A whole ``/contractMarket/level2:SYMBOL`` push, decoded in one pass (hot path)."""

    topic: str
    data: Level2Change
    type: str = "message"
    sn: int | None = None


class OrderChange(Exact):
    """``/contractMarket/tradeOrders`` ``orderChange`` data (sizes: lots, as strings)."""

    symbol: str
    side: str
    orderId: str
    type: str  # open | match | update | filled | canceled
    status: str  # open | match | done
    size: Decimal = Decimal(0)
    filledSize: Decimal = Decimal(0)
    remainSize: Decimal = Decimal(0)
    canceledSize: Decimal = Decimal(0)
    clientOid: str = ""
    orderType: str = "limit"
    price: Decimal | None = None
    matchPrice: Decimal | None = None
    matchSize: Decimal | None = None
    tradeId: str = ""
    liquidity: str = ""
    marginMode: str = ""
    orderTime: int = 0
    ts: int = 0


class PositionChange(Exact):
    symbol: str
    currentQty: Decimal = Decimal(0)
    avgEntryPrice: Decimal = Decimal(0)
    changeReason: str = ""


class WalletBalance(Exact):
    currency: str
    walletBalance: Decimal = Decimal(0)
    availableBalance: Decimal = Decimal(0)
    holdBalance: Decimal = Decimal(0)
    equity: Decimal = Decimal(0)
    timestamp: str | int = 0


# -- decoders (built once) -----------------------------------------------------------------
status_decoder = msgspec.json.Decoder(Status)
contracts_decoder = msgspec.json.Decoder(Envelope[list[Contract]])
contract_decoder = msgspec.json.Decoder(Envelope[Contract])
snapshot_decoder = msgspec.json.Decoder(Envelope[Level2Snapshot], strict=False)
bullet_decoder = msgspec.json.Decoder(Envelope[Bullet])
funding_decoder = msgspec.json.Decoder(Envelope[FundingCurrent])
trade_fees_decoder = msgspec.json.Decoder(Envelope[TradeFees])
order_create_decoder = msgspec.json.Decoder(OrderCreate)
order_created_decoder = msgspec.json.Decoder(Envelope[OrderCreated])
order_detail_decoder = msgspec.json.Decoder(Envelope[OrderDetail | None])
fills_decoder = msgspec.json.Decoder(Envelope[FillsPage])
positions_decoder = msgspec.json.Decoder(Envelope[list[Position]])
account_decoder = msgspec.json.Decoder(Envelope[AccountOverview])
cancelled_decoder: msgspec.json.Decoder[Envelope[msgspec.Raw]] = msgspec.json.Decoder(Acknowledged)
timestamp_decoder = msgspec.json.Decoder(Envelope[int])
ws_message_decoder = msgspec.json.Decoder(WsMessage)
ws_request_decoder = msgspec.json.Decoder(WsRequest)
level2_frame_decoder = msgspec.json.Decoder(Level2Frame)
level2_change_decoder = msgspec.json.Decoder(Level2Change)
order_change_decoder = msgspec.json.Decoder(OrderChange)
position_change_decoder = msgspec.json.Decoder(PositionChange)
wallet_decoder = msgspec.json.Decoder(WalletBalance)

encoder = msgspec.json.Encoder(decimal_format="string")


def decode(decoder: msgspec.json.Decoder[T], data: bytes | str | msgspec.Raw, what: str) -> T:
    """Decode ``data`` or raise MalformedMessage naming ``what`` and the failing field."""
    return decode_or_malformed(VENUE, decoder, data, what)


def encode(obj: Any) -> bytes:
    return encoder.encode(obj)


_INF = math.inf
_number = msgspec.json.Decoder(float)


def parse_change(change: str) -> tuple[bool, float, float]:
    """``"90631.2,sell,2"`` → ``(is_bid, price, size_in_lots)``; MalformedMessage otherwise.

    Price and size are read as JSON numbers (what the venue sends), by msgspec: several
    times faster than ``float()``, and stricter (no ``nan``, ``inf``, ``+1``, ``1_0``)."""
    try:
        price_text, side, size_text = change.split(",")
        price = _number.decode(price_text)
        size = _number.decode(size_text)
    except ValueError:  # not three fields, or not numbers (msgspec's errors included)
        pass
    else:
        if 0 < price < _INF and 0 <= size < _INF:
            if side == "buy":
                return (True, price, size)
            if side == "sell":
                return (False, price, size)
    raise MalformedMessage(VENUE, f"level2 change {change[:60]!r} is not 'price,side,size'")
