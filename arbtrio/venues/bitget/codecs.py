"""Bitget V2 mix (``USDT-FUTURES``) wire messages as msgspec Structs, both directions.

One decoder per message type, built once. Book levels stay *strings* (the CRC32 checksum
is computed over the raw strings, ``specs/012-bitget.md``); the tracker turns them into floats.
Orders, fills, balances and instruments decode to :class:`~decimal.Decimal` (non-finite
values are rejected). Every ``decode_*`` raises
:class:`~arbtrio.venues.base.MalformedMessage` and nothing else on bad input.

Quirks kept here: ``code`` is a string on REST (``"00000"``) and a string or a number on
the streams; ``reduceOnly`` is ``"YES"``/``"NO"`` in requests and ``"yes"``/``"no"`` in
responses; order detail names its status ``state`` in examples and ``status`` in tables.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import msgspec

from arbtrio.venues.base import MalformedMessage

VENUE = "bitget"
PRODUCT_TYPE = "USDT-FUTURES"
RawLevel = tuple[str, str]


def _raw_null() -> msgspec.Raw:
    return msgspec.Raw(b"null")


# -- streams -------------------------------------------------------------------------------
class Arg(msgspec.Struct, omit_defaults=True, gc=False):
    instType: str = ""
    channel: str = ""
    instId: str = ""
    coin: str = ""


class BookData(msgspec.Struct, gc=False):
    asks: list[RawLevel]
    bids: list[RawLevel]
    checksum: int = 0
    seq: int = 0
    ts: str = ""


class PublicFrame(msgspec.Struct, gc=False):
    """A public push (``action`` + ``arg`` + ``data``) or an event (subscribe ack, error).

    The stream structs are not tracked by the garbage collector (``gc=False``: they hold
    strings and lists, never themselves), which makes the hot decode cheaper."""

    action: str = ""
    arg: Arg | None = None
    data: list[BookData] | None = None
    ts: int = 0
    event: str = ""
    code: str | int = ""
    msg: str = ""


class ArgOnly(msgspec.Struct):
    """Lenient view used after a failed decode, to find which book to resync."""

    arg: Arg | None = None


class PrivateFrame(msgspec.Struct):
    action: str = ""
    arg: Arg | None = None
    data: msgspec.Raw = msgspec.field(default_factory=_raw_null)
    ts: int = 0
    event: str = ""
    code: str | int = ""
    msg: str = ""


class FeeDetail(msgspec.Struct):
    feeCoin: str = "USDT"
    fee: Decimal = Decimal(0)  # orders push
    totalFee: Decimal = Decimal(0)  # fill push, negative = paid
    deduction: str = ""
    totalDeductionFee: str = ""


class OrderPush(msgspec.Struct):
    orderId: str
    clientOid: str
    instId: str
    side: str
    status: str
    size: Decimal
    accBaseVolume: Decimal = Decimal(0)
    price: str = ""
    priceAvg: str = ""
    posSide: str = ""
    tradeSide: str = ""
    orderType: str = "limit"
    force: str = ""
    reduceOnly: str = "no"
    tradeId: str = ""
    fillPrice: str = ""
    baseVolume: str = ""
    feeDetail: list[FeeDetail] = msgspec.field(default_factory=list)
    cancelReason: str = ""
    cTime: str = ""
    uTime: str = ""


class FillPush(msgspec.Struct):
    """One trade, as in the ``fill`` stream and ``/api/v2/mix/order/fills``."""

    orderId: str
    tradeId: str
    symbol: str
    side: str
    price: Decimal
    baseVolume: Decimal
    feeDetail: list[FeeDetail] = msgspec.field(default_factory=list)
    clientOid: str = ""
    orderType: str = "limit"
    tradeSide: str = ""
    tradeScope: str = ""
    quoteVolume: str = ""
    profit: str = ""
    posMode: str = ""
    cTime: str = ""
    uTime: str = ""


class PositionPush(msgspec.Struct):
    holdSide: str
    total: Decimal
    instId: str = ""
    symbol: str = ""  # REST all-position names it symbol
    openPriceAvg: str = ""
    marginCoin: str = "USDT"
    marginMode: str = ""
    posMode: str = ""
    available: str = ""
    unrealizedPL: str = ""


class AccountPush(msgspec.Struct):
    marginCoin: str
    available: Decimal = Decimal(0)
    equity: str = ""
    usdtEquity: str = ""
    accountEquity: str = ""  # REST accounts
    locked: str = ""
    frozen: str = ""


# -- REST ----------------------------------------------------------------------------------
class Envelope(msgspec.Struct):
    code: str
    msg: str = ""
    requestTime: int = 0
    data: msgspec.Raw = msgspec.field(default_factory=_raw_null)


class Contract(msgspec.Struct):
    symbol: str
    baseCoin: str
    quoteCoin: str
    minTradeNum: Decimal
    priceEndStep: Decimal
    pricePlace: str
    volumePlace: str
    sizeMultiplier: Decimal
    makerFeeRate: Decimal = Decimal("0.0002")
    takerFeeRate: Decimal = Decimal("0.0006")
    minTradeUSDT: Decimal = Decimal(0)
    symbolStatus: str = "normal"
    symbolType: str = "perpetual"
    fundInterval: str = "8"
    maxLever: str = ""
    supportMarginCoins: list[str] = msgspec.field(default_factory=list)


class TradeRate(msgspec.Struct):
    makerFeeRate: Decimal
    takerFeeRate: Decimal


class OrderIds(msgspec.Struct):
    orderId: str = ""  # may be missing on a one-way reduce-only order (place-order docs)
    clientOid: str = ""


class OrderDetail(msgspec.Struct):
    symbol: str
    orderId: str
    clientOid: str
    size: Decimal
    side: str
    baseVolume: Decimal = Decimal(0)
    price: str = ""
    priceAvg: str = ""
    fee: str = ""
    state: str = ""
    status: str = ""
    force: str = ""
    reduceOnly: str = "no"
    tradeSide: str = ""
    posMode: str = ""
    cancelReason: str = ""
    cTime: str = ""
    uTime: str = ""


class FillList(msgspec.Struct):
    fillList: list[FillPush] | None = None
    endId: str = ""


class FundRate(msgspec.Struct):
    symbol: str
    fundingRate: Decimal
    fundingRateInterval: str = ""
    nextUpdate: str = ""


class ServerTime(msgspec.Struct):
    serverTime: str


# -- requests ------------------------------------------------------------------------------
class PlaceOrder(msgspec.Struct, omit_defaults=True):
    """Body of ``POST /api/v2/mix/order/place-order`` (field order is the order sent)."""

    symbol: str
    productType: str
    marginMode: str
    marginCoin: str
    size: str
    side: str
    orderType: str
    price: str = ""
    force: str = ""
    clientOid: str = ""
    reduceOnly: str = ""
    tradeSide: str = ""


class CancelOrder(msgspec.Struct, omit_defaults=True):
    symbol: str
    productType: str
    marginCoin: str = ""
    orderId: str = ""
    clientOid: str = ""


class WsOp(msgspec.Struct):
    op: str
    args: list[Any] = msgspec.field(default_factory=list)


class LoginArg(msgspec.Struct):
    apiKey: str
    passphrase: str
    timestamp: str
    sign: str


# -- decoders --------------------------------------------------------------------------------
T = TypeVar("T")
_public = msgspec.json.Decoder(PublicFrame)
_arg_only = msgspec.json.Decoder(ArgOnly)
_private = msgspec.json.Decoder(PrivateFrame)
_envelope = msgspec.json.Decoder(Envelope)
_ws_op = msgspec.json.Decoder(WsOp)
_login = msgspec.json.Decoder(LoginArg)
_place = msgspec.json.Decoder(PlaceOrder)
_cancel = msgspec.json.Decoder(CancelOrder)
encoder = msgspec.json.Encoder(decimal_format="string")
_typed: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(t: Any) -> msgspec.json.Decoder[Any]:
    dec = _typed.get(t)
    if dec is None:
        dec = _typed[t] = msgspec.json.Decoder(t)
    return dec


def _decode(decoder: msgspec.json.Decoder[T], raw: Any, what: str) -> T:
    try:
        return decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedMessage(VENUE, f"undecodable {what}: {exc}") from None


def _check_finite(value: Any, what: str) -> None:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, msgspec.Struct):
            continue
        for field in item.__struct_fields__:
            v = getattr(item, field)
            if isinstance(v, Decimal) and not v.is_finite():
                raise MalformedMessage(VENUE, f"{what}: field {field} is not finite: {v}")
            if isinstance(v, list):
                _check_finite(v, what)


public_decoder = _public  # the stream protocol's hot path calls it directly


def decode_public(raw: bytes | str) -> PublicFrame:
    return _decode(_public, raw, "public frame")


def arg_of(raw: bytes | str) -> Arg | None:
    """Best-effort ``arg`` of a frame that failed to decode."""
    try:
        return _arg_only.decode(raw).arg
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def decode_private(raw: bytes | str) -> PrivateFrame:
    return _decode(_private, raw, "private frame")


def decode_data(data_type: type[T], raw: bytes | msgspec.Raw, what: str) -> T:
    """The ``data`` of a push or of a successful envelope, as ``data_type``."""
    value: T = _decode(_decoder(data_type), raw, what)
    _check_finite(value, what)
    return value


def decode_envelope(raw: bytes | str) -> Envelope:
    return _decode(_envelope, raw, "REST envelope")


def decode_ws_op(raw: bytes | str) -> WsOp:
    return _decode(_ws_op, raw, "stream op")


def decode_login(raw: Any) -> LoginArg:
    return _decode(_login, encoder.encode(raw), "login args")


def decode_place(raw: bytes) -> PlaceOrder:
    return _decode(_place, raw, "place-order body")


def decode_cancel(raw: bytes) -> CancelOrder:
    return _decode(_cancel, raw, "cancel-order body")


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
