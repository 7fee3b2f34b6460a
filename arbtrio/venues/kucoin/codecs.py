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

Decoding rules (what the venue is known to send, see ``specs/014-kucoin.md``):

* **Optional, null, blank.** A field the client can do without has a default and accepts
  ``null``; a private order push's sizes and prices are the venue's text (:data:`Text`),
  where ``""`` means absent (:func:`amount`). Unknown fields are ignored.
* **Lists item by item.** The lists a client reads (contracts, positions, fills) arrive as
  ``list[msgspec.Raw]`` and each item is decoded on its own (:func:`decode_items`): an item
  that does not decode is skipped and reported, never taking its neighbours with it. A
  book's levels are the exception: a snapshot with one bad level is refused whole.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, TypeVar

import msgspec

from arbtrio.venues.base import MalformedMessage
from arbtrio.venues.wire import MAX_DECIMAL, Exact, decode_or_malformed

VENUE = "kucoin"
OK = "200000"

T = TypeVar("T")
Price = Annotated[float, msgspec.Meta(gt=0, lt=1e15)]
Size = Annotated[float, msgspec.Meta(ge=0, lt=1e15)]
Code = str | int
Text = str | int  # a decimal the venue sends as text (sometimes a bare integer); "" = absent


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
    rootSymbol: str | None = "USDT"
    type: str | None = "FFWCSX"
    quoteCurrency: str | None = "USDT"
    settleCurrency: str | None = "USDT"
    maxOrderQty: Decimal | None = None
    makerFeeRate: Decimal | None = None  # None: the venue's default rates (convert)
    takerFeeRate: Decimal | None = None
    fundingFeeRate: Decimal | None = None
    predictedFundingFeeRate: Decimal | None = None
    fundingRateGranularity: int | None = None  # None: 8 h
    nextFundingRateTime: int | None = None
    status: str | None = "Open"
    isInverse: bool | None = False
    maxLeverage: int | None = None
    supportCross: bool | None = True


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
    granularity: int | None = None  # None: 8 h
    symbol: str | None = ""
    timePoint: int | None = None
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
    filledSize: Decimal | None = None  # None: ``dealSize`` (the older name)
    dealSize: Decimal | None = None
    filledValue: Decimal | None = None
    dealValue: Decimal | None = None
    price: Decimal | None = None
    type: str | None = "limit"
    clientOid: str | None = ""
    isActive: bool | None = None
    cancelExist: bool | None = None
    reduceOnly: bool | None = None
    timeInForce: str | None = ""
    avgDealPrice: Decimal | None = None
    settleCurrency: str | None = ""
    createdAt: int | None = None
    endAt: int | None = None


class TradeFill(Exact):
    """``GET /api/v1/fills`` item: ``fee`` is the real amount (the WS match has none), in
    ``feeCurrency``; a ``null`` fee is ``value × feeRate`` (convert)."""

    tradeId: str
    orderId: str
    side: str
    price: Decimal
    size: Decimal
    symbol: str | None = ""
    fee: Decimal | None = None
    feeRate: Decimal | None = None
    value: Decimal | None = None
    liquidity: str | None = ""
    feeCurrency: str | None = ""
    settleCurrency: str | None = ""
    tradeTime: int | None = None


class FillsPage(msgspec.Struct):
    """One page of ``GET /api/v1/fills``; ``items`` are decoded one by one."""

    items: list[msgspec.Raw]
    currentPage: int | None = 1
    pageSize: int | None = 50
    totalNum: int | None = None
    totalPage: int | None = 1


class Position(Exact):
    """``GET /api/v1/positions`` item (one by one: an inverse or USDC contract is foreign).
    ``markPrice`` and ``liquidationPrice`` stay raw (a number or a string; null, ``""`` or
    0 when there is none): :func:`optional_price` reads them."""

    symbol: str
    currentQty: Decimal  # signed lots
    avgEntryPrice: Decimal | None = None
    markPrice: msgspec.Raw = msgspec.Raw()
    liquidationPrice: msgspec.Raw = msgspec.Raw()
    isOpen: bool | None = None
    isInverse: bool | None = None
    settleCurrency: str | None = ""
    marginMode: str | None = ""


class MarginModeAnswer(msgspec.Struct):
    """``GET /api/v2/position/getMarginMode`` and ``POST .../changeMarginMode`` data."""

    symbol: str
    marginMode: str  # ISOLATED | CROSS


class CrossLeverage(msgspec.Struct):
    """``GET /api/v2/getCrossUserLeverage`` data: ``leverage`` is text (``"3"``)."""

    symbol: str
    leverage: Text


class ChangeMarginMode(msgspec.Struct):
    """``POST /api/v2/position/changeMarginMode`` body."""

    symbol: str
    marginMode: str


class ChangeCrossLeverage(msgspec.Struct):
    """``POST /api/v2/changeCrossUserLeverage`` body: ``leverage`` is a string (``"10"``)."""

    symbol: str
    leverage: str


class AccountOverview(Exact):
    accountEquity: Decimal
    availableBalance: Decimal
    currency: str = "USDT"
    marginBalance: Decimal | None = None
    unrealisedPNL: Decimal | None = None


class CancelledByClientOid(msgspec.Struct):
    clientOid: str = ""


class Acknowledged(Envelope[msgspec.Raw]):
    """A success whose ``data`` stays raw (a cancel: not read; a setting change: ``true``):
    any ``data``, or none."""

    data: msgspec.Raw = msgspec.Raw()


# -- WebSocket -----------------------------------------------------------------------------
class WsMessage(msgspec.Struct):
    """Every server frame; ``data`` stays raw until ``topic``/``subject`` say what it is.
    Errors carry ``code`` and a text ``data``."""

    type: str = ""  # "" with a topic: a push (the legacy documentation's pushes omit it)
    id: str | int = ""
    topic: str = ""
    subject: str = ""
    sn: int | None = None
    data: msgspec.Raw = msgspec.Raw()
    code: Code | None = None

    @property
    def is_push(self) -> bool:
        return self.type == "message" or (not self.type and bool(self.topic))


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


class OrderChange(msgspec.Struct):
    """``/contractMarket/tradeOrders`` ``orderChange`` data. Sizes (lots) and prices are the
    venue's text, ``""`` when absent (:func:`amount`); ``clientOid`` is absent for orders
    placed without one."""

    symbol: str
    side: str
    orderId: str
    type: str  # open | match | update | filled | canceled
    status: str  # open | match | done
    size: Text | None = ""
    filledSize: Text | None = ""
    remainSize: Text | None = ""
    canceledSize: Text | None = ""
    clientOid: str | None = ""
    orderType: str | None = "limit"
    price: Text | None = ""
    matchPrice: Text | None = ""
    matchSize: Text | None = ""
    tradeId: str | None = ""
    liquidity: str | None = ""
    marginMode: str | None = ""
    tradeType: str | None = ""
    orderTime: int | None = None
    ts: int | None = None


class PositionChange(Exact):
    """``/contract/position:SYMBOL`` data. Pushes caused by the mark price carry neither
    ``symbol`` (the topic has it) nor ``currentQty``, only ``markPrice`` and the figures it
    moves. Prices stay raw as in :class:`Position`."""

    symbol: str | None = ""
    currentQty: Decimal | None = None
    avgEntryPrice: Decimal | None = None
    markPrice: msgspec.Raw = msgspec.Raw()
    liquidationPrice: msgspec.Raw = msgspec.Raw()
    settleCurrency: str | None = ""
    changeReason: str | None = ""


class WalletBalance(Exact):
    """``/contractAccount/wallet`` data: ``walletBalance.change`` has the whole wallet; the
    older ``availableBalance.change`` only the available amount."""

    currency: str
    walletBalance: Decimal | None = None
    availableBalance: Decimal | None = None
    holdBalance: Decimal | None = None
    equity: Decimal | None = None
    timestamp: str | int | None = None


# -- decoders (built once) -----------------------------------------------------------------
status_decoder = msgspec.json.Decoder(Status)
items_decoder = msgspec.json.Decoder(Envelope[list[msgspec.Raw]])  # decode_items follows
contracts_decoder = items_decoder
contract_decoder = msgspec.json.Decoder(Envelope[Contract])
contract_item_decoder = msgspec.json.Decoder(Contract)
snapshot_decoder = msgspec.json.Decoder(Envelope[Level2Snapshot], strict=False)
bullet_decoder = msgspec.json.Decoder(Envelope[Bullet])
funding_decoder = msgspec.json.Decoder(Envelope[FundingCurrent])
trade_fees_decoder = msgspec.json.Decoder(Envelope[TradeFees])
order_create_decoder = msgspec.json.Decoder(OrderCreate)
order_created_decoder = msgspec.json.Decoder(Envelope[OrderCreated])
order_detail_decoder = msgspec.json.Decoder(Envelope[OrderDetail | None])
fills_decoder = msgspec.json.Decoder(Envelope[FillsPage])
trade_fill_item_decoder = msgspec.json.Decoder(TradeFill)
positions_decoder = items_decoder
position_item_decoder = msgspec.json.Decoder(Position)
account_decoder = msgspec.json.Decoder(Envelope[AccountOverview])
margin_mode_decoder = msgspec.json.Decoder(Envelope[MarginModeAnswer])
cross_leverage_decoder = msgspec.json.Decoder(Envelope[CrossLeverage])
acknowledged_decoder: msgspec.json.Decoder[Envelope[msgspec.Raw]] = msgspec.json.Decoder(
    Acknowledged
)
cancelled_decoder = acknowledged_decoder
changed_decoder = acknowledged_decoder  # changeCrossUserLeverage: data true (false: refused)
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


def decode_items(
    decoder: msgspec.json.Decoder[T], items: Iterable[msgspec.Raw], what: str
) -> tuple[list[T], list[str]]:
    """Each of ``items`` decoded on its own: those that decode, in order, and why each
    other one did not (``"<what>[i]: <reason>"``) — for the caller to skip and count."""
    decoded: list[T] = []
    refused: list[str] = []
    for i, raw in enumerate(items):
        try:
            decoded.append(decoder.decode(raw))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            refused.append(f"{what}[{i}]: {exc}")
    return decoded, refused


def amount(value: Text | None, what: str) -> Decimal | None:
    """A decimal the venue sent as text: None when absent (``""`` or null), else a finite
    ``Decimal`` of sane magnitude; MalformedMessage naming ``what`` otherwise."""
    if value is None or value == "":
        return None
    try:
        number = Decimal(value) if isinstance(value, int) else Decimal(value.strip())
    except InvalidOperation:
        number = None
    if number is None or not (number.is_finite() and -MAX_DECIMAL < number < MAX_DECIMAL):
        raise MalformedMessage(VENUE, f"{what}: {str(value)[:40]!r} is not a decimal")
    return number


_optional_decimal = msgspec.json.Decoder(Decimal | None)
_BLANK = (b"", b'""')


def optional_price(value: msgspec.Raw, what: str) -> Decimal | None:
    """A price the venue sends as a JSON number or string (``markPrice``,
    ``liquidationPrice``): None when it sends none — absent, null, ``""``, or 0 and below
    (a liquidation price that cannot be reached); MalformedMessage naming ``what`` when it
    is not a finite decimal of sane magnitude."""
    raw = bytes(value).strip()
    if raw in _BLANK:
        return None
    try:
        number = _optional_decimal.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise MalformedMessage(VENUE, f"{what}: {raw[:40]!r} is not a price") from None
    if number is None:
        return None
    if not (number.is_finite() and number < MAX_DECIMAL):
        raise MalformedMessage(VENUE, f"{what}: {raw[:40]!r} is not a price")
    return number if number > 0 else None


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
