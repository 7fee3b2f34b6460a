"""Bybit V5 wire messages (category ``linear``) as msgspec Structs, both directions.

One decoder per message type, built once at import. Book data decodes straight to floats
(``strict=False`` turns Bybit's number strings into floats in C; constraints reject NaN,
infinities and non-positive prices); everything about orders, fills, balances and
instruments decodes to :class:`~decimal.Decimal`. Every ``decode_*`` function raises
:class:`~arbtrio.venues.base.MalformedMessage` and nothing else on bad input.

REST envelopes are decoded in two steps: :class:`Envelope` with ``result`` kept raw, then
the result by its own decoder only when ``retCode == 0`` (error results are ``{}``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

import msgspec

from arbtrio.venues.base import MalformedMessage

VENUE = "bybit"

Px = Annotated[float, msgspec.Meta(gt=0.0, lt=1e18)]
Sz = Annotated[float, msgspec.Meta(ge=0.0, lt=1e18)]
Level = tuple[Px, Sz]
_List = list  # result structs have a field named "list"


# -- public stream ----------------------------------------------------------------------
class BookData(msgspec.Struct):
    s: str
    b: list[Level]
    a: list[Level]
    u: int
    seq: int = 0


class PublicFrame(msgspec.Struct):
    """Any frame of the public linear stream: a topic push, or an op reply (ack/pong)."""

    topic: str = ""
    type: str = ""
    ts: int = 0
    data: BookData | None = None
    cts: int = 0
    op: str = ""
    success: bool | None = None
    ret_msg: str = ""
    conn_id: str = ""
    req_id: str = ""


class TopicOnly(msgspec.Struct):
    """Lenient view used after a failed decode, to find which topic to resync."""

    topic: str = ""


# -- private stream ---------------------------------------------------------------------
class PrivateFrame(msgspec.Struct):
    """A private-stream frame: a topic push (``data`` decoded per topic) or an op reply."""

    topic: str = ""
    id: str = ""
    creationTime: int = 0
    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))
    op: str = ""
    success: bool | None = None
    ret_msg: str = ""
    conn_id: str = ""
    req_id: str = ""
    args: list[Any] = msgspec.field(default_factory=list)


class OrderInfo(msgspec.Struct):
    """One order, as in the ``order`` stream and ``/v5/order/realtime``."""

    orderId: str
    orderLinkId: str
    symbol: str
    side: str  # Buy | Sell
    orderStatus: str
    price: Decimal
    qty: Decimal
    cumExecQty: Decimal
    category: str = "linear"
    orderType: str = "Limit"
    timeInForce: str = ""
    avgPrice: str = ""  # "" or "0" until filled
    leavesQty: Decimal = Decimal(0)
    cumExecValue: Decimal = Decimal(0)
    cumExecFee: Decimal = Decimal(0)
    reduceOnly: bool = False
    rejectReason: str = ""
    cancelType: str = ""
    positionIdx: int = 0
    createdTime: str = ""
    updatedTime: str = ""


class ExecutionInfo(msgspec.Struct):
    """One execution, as in the ``execution`` stream and ``/v5/execution/list``."""

    symbol: str
    orderId: str
    orderLinkId: str
    side: str
    execId: str
    execPrice: Decimal
    execQty: Decimal
    execFee: Decimal
    category: str = "linear"
    orderPrice: Decimal = Decimal(0)
    orderQty: Decimal = Decimal(0)
    leavesQty: Decimal = Decimal(0)
    orderType: str = "Limit"
    execValue: Decimal = Decimal(0)
    feeRate: Decimal = Decimal(0)
    execType: str = "Trade"
    execTime: str = ""
    isMaker: bool = False
    seq: int = 0


class PositionInfo(msgspec.Struct):
    symbol: str
    side: str  # Buy | Sell | "" when flat
    size: Decimal
    positionIdx: int = 0
    avgPrice: str = ""  # REST
    entryPrice: str = ""  # WS
    markPrice: str = ""
    leverage: str = ""
    positionValue: str = ""
    unrealisedPnl: str = ""
    cumRealisedPnl: str = ""
    category: str = "linear"
    seq: int = 0
    updatedTime: str = ""


class WalletCoin(msgspec.Struct):
    coin: str
    equity: Decimal = Decimal(0)
    walletBalance: Decimal = Decimal(0)
    unrealisedPnl: str = ""
    locked: str = ""


class WalletAccount(msgspec.Struct):
    accountType: str
    coin: list[WalletCoin]
    totalEquity: str = ""
    totalWalletBalance: str = ""
    totalAvailableBalance: str = ""


# -- REST -------------------------------------------------------------------------------
class Envelope(msgspec.Struct):
    retCode: int
    retMsg: str
    result: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"{}"))
    retExtInfo: dict[str, Any] = msgspec.field(default_factory=dict)
    time: int = 0


class PriceFilter(msgspec.Struct):
    tickSize: Decimal
    minPrice: Decimal = Decimal(0)
    maxPrice: Decimal = Decimal(0)


class LotSizeFilter(msgspec.Struct):
    qtyStep: Decimal
    minOrderQty: Decimal
    maxOrderQty: Decimal = Decimal(0)
    maxMktOrderQty: Decimal = Decimal(0)
    minNotionalValue: Decimal = Decimal(0)


class LeverageFilter(msgspec.Struct):
    minLeverage: Decimal = Decimal(1)
    maxLeverage: Decimal = Decimal(1)
    leverageStep: Decimal = Decimal("0.01")


class InstrumentInfo(msgspec.Struct):
    symbol: str
    contractType: str
    status: str
    baseCoin: str
    quoteCoin: str
    priceFilter: PriceFilter
    lotSizeFilter: LotSizeFilter
    settleCoin: str = ""
    priceScale: str = ""
    leverageFilter: LeverageFilter = msgspec.field(default_factory=LeverageFilter)
    fundingInterval: int = 480  # minutes
    upperFundingRate: str = ""
    lowerFundingRate: str = ""


class InstrumentsResult(msgspec.Struct):
    list: _List[InstrumentInfo]
    category: str = "linear"
    nextPageCursor: str = ""


class FeeRate(msgspec.Struct):
    symbol: str
    takerFeeRate: Decimal
    makerFeeRate: Decimal


class FeeRateResult(msgspec.Struct):
    list: _List[FeeRate]


class OrderIdResult(msgspec.Struct):
    """Result of create and cancel: an asynchronous acknowledgement."""

    orderId: str
    orderLinkId: str = ""


class OrderListResult(msgspec.Struct):
    list: _List[OrderInfo]
    category: str = "linear"
    nextPageCursor: str = ""


class ExecutionListResult(msgspec.Struct):
    list: _List[ExecutionInfo]
    category: str = "linear"
    nextPageCursor: str = ""


class PositionListResult(msgspec.Struct):
    list: _List[PositionInfo]
    category: str = "linear"
    nextPageCursor: str = ""


class WalletResult(msgspec.Struct):
    list: _List[WalletAccount]


class Ticker(msgspec.Struct):
    symbol: str
    fundingRate: str = ""
    nextFundingTime: str = ""
    fundingIntervalHour: str = ""
    markPrice: str = ""
    lastPrice: str = ""
    bid1Price: str = ""
    ask1Price: str = ""


class TickersResult(msgspec.Struct):
    list: _List[Ticker]
    category: str = "linear"


class ServerTime(msgspec.Struct):
    timeSecond: str
    timeNano: str


class OrderbookResult(msgspec.Struct):
    s: str
    b: list[Level]
    a: list[Level]
    ts: int = 0
    u: int = 0
    seq: int = 0


# -- requests (client → venue) ----------------------------------------------------------
class CreateOrder(msgspec.Struct, omit_defaults=True):
    """Body of ``POST /v5/order/create``; field order is the order sent and signed."""

    category: str
    symbol: str
    side: str
    orderType: str
    qty: str
    price: str = ""
    timeInForce: str = "GTC"
    orderLinkId: str = ""
    reduceOnly: bool = False
    positionIdx: int = 0


class CancelOrder(msgspec.Struct, omit_defaults=True):
    category: str
    symbol: str
    orderId: str = ""
    orderLinkId: str = ""


class WsOp(msgspec.Struct, omit_defaults=True):
    """A client op on a stream: subscribe, unsubscribe, ping, auth."""

    op: str
    args: list[str | int] = msgspec.field(default_factory=list)
    req_id: str = ""


# -- decoders (built once) ----------------------------------------------------------------
_public = msgspec.json.Decoder(PublicFrame, strict=False)
_topic_only = msgspec.json.Decoder(TopicOnly)
_private = msgspec.json.Decoder(PrivateFrame)
_orders = msgspec.json.Decoder(list[OrderInfo])
_executions = msgspec.json.Decoder(list[ExecutionInfo])
_positions = msgspec.json.Decoder(list[PositionInfo])
_wallets = msgspec.json.Decoder(list[WalletAccount])
_envelope = msgspec.json.Decoder(Envelope)
_ws_op = msgspec.json.Decoder(WsOp)
_create = msgspec.json.Decoder(CreateOrder)
_cancel = msgspec.json.Decoder(CancelOrder)
encoder = msgspec.json.Encoder(decimal_format="string")

RESULT_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {
    t: msgspec.json.Decoder(t, strict=False) if t is OrderbookResult else msgspec.json.Decoder(t)
    for t in (
        InstrumentsResult,
        FeeRateResult,
        OrderIdResult,
        OrderListResult,
        ExecutionListResult,
        PositionListResult,
        WalletResult,
        TickersResult,
        ServerTime,
        OrderbookResult,
    )
}

T = TypeVar("T")


def _malformed(what: str, exc: Exception) -> MalformedMessage:
    return MalformedMessage(VENUE, f"undecodable {what}: {exc}")


def decode_public(raw: bytes | str) -> PublicFrame:
    """A public-stream frame. Book levels are floats, validated positive and finite."""
    try:
        return _public.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed("public frame", exc) from None


def topic_of(raw: bytes | str) -> str:
    """Best-effort topic of a frame that failed to decode ("" when unknowable)."""
    try:
        return _topic_only.decode(raw).topic
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ""


def decode_private(raw: bytes | str) -> PrivateFrame:
    try:
        return _private.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed("private frame", exc) from None


def _checked(decoder: msgspec.json.Decoder[T], raw: bytes, what: str) -> T:
    try:
        value = decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed(what, exc) from None
    _check_finite(value, what)
    return value


def _check_finite(value: Any, what: str) -> None:
    """Reject NaN/Infinity decimals anywhere in a decoded order/fill/position message."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, msgspec.Struct):
            continue
        for field in item.__struct_fields__:
            v = getattr(item, field)
            if isinstance(v, Decimal) and not v.is_finite():
                raise MalformedMessage(VENUE, f"{what}: field {field} is not finite: {v}")


def decode_orders(raw: bytes) -> list[OrderInfo]:
    return _checked(_orders, raw, "order push")


def decode_executions(raw: bytes) -> list[ExecutionInfo]:
    return _checked(_executions, raw, "execution push")


def decode_positions(raw: bytes) -> list[PositionInfo]:
    return _checked(_positions, raw, "position push")


def decode_wallets(raw: bytes) -> list[WalletAccount]:
    return _checked(_wallets, raw, "wallet push")


def decode_envelope(raw: bytes | str) -> Envelope:
    try:
        return _envelope.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed("REST envelope", exc) from None


def decode_result(result_type: type[T], raw: bytes) -> T:
    """The ``result`` of a successful envelope as ``result_type``."""
    value: T = _checked(RESULT_DECODERS[result_type], raw, result_type.__name__)
    return value


def decode_ws_op(raw: bytes | str) -> WsOp:
    try:
        return _ws_op.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed("stream op", exc) from None


def decode_create(raw: bytes) -> CreateOrder:
    try:
        return _create.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed("order create body", exc) from None


def decode_cancel(raw: bytes) -> CancelOrder:
    try:
        return _cancel.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed("order cancel body", exc) from None


def parse_decimal(text: str, field: str) -> Decimal | None:
    """A venue decimal string; ``""`` → None. Raises MalformedMessage naming ``field``."""
    if text == "":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise MalformedMessage(VENUE, f"field {field} is not a decimal: {text!r}") from None
    if not value.is_finite():
        raise MalformedMessage(VENUE, f"field {field} is not finite: {text!r}")
    return value
