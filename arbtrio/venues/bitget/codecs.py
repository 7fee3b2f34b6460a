"""Bitget V2 mix (``USDT-FUTURES``) wire messages as msgspec Structs, both directions.

One decoder per message type, built once. Book levels stay *strings* (the CRC32 checksum
is computed over the raw strings, ``specs/012-bitget.md``); the tracker turns them into floats.
Orders, fills, balances and instruments decode to :class:`~decimal.Decimal` (non-finite
values are rejected). Every ``decode_*`` raises
:class:`~arbtrio.venues.base.MalformedMessage` and nothing else on bad input.

Decoding rules (the fixtures in ``tests/venues/bitget/fixtures`` are the venue's own
examples and recorded answers):

* only the fields a message cannot do without are required (ids, side, status, sizes and
  prices of a trade); every other field is optional and may be absent, ``null`` or ``""``
  (:func:`parse_decimal` reads the last two as "no value"); unknown fields are ignored;
* lists (pushes, contracts, fills, positions, balances) are decoded item by item:
  :func:`decode_items` splits the list, :func:`decode_item` decodes one item, so the caller
  skips and counts (``health.skipped``) an item that does not decode and keeps its
  neighbours;
* REST answers write some symbols in lower case (``"ethusdt"``): callers compare upper case.

Quirks kept here: ``code`` is a string on REST (``"00000"``) and a string or a number on
the streams; ``requestTime`` a number or a string; ``reduceOnly`` is ``"YES"``/``"NO"`` in
requests and ``"yes"``/``"no"`` (or upper case) in responses; order detail names its status
``state`` in examples and ``status`` in tables.
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
    action: str | None = None
    arg: Arg | None = None
    data: msgspec.Raw = msgspec.field(default_factory=_raw_null)
    ts: int | str | None = None
    event: str | None = None
    code: str | int | None = None
    msg: str | None = None


# Optional venue fields are ``str | None``: the venue sends ``""`` for an absent value and
# some answers ``null``; :func:`parse_decimal` reads both as "no value". The fields a
# message cannot do without (ids, sides, prices and sizes of a trade) stay required.
Opt = str | None


class FeeDetail(msgspec.Struct):
    """One ``feeDetail`` entry: ``fee`` on ``orders`` pushes, ``totalFee`` (negative =
    paid) on ``fill`` pushes and ``/order/fills`` rows, in ``feeCoin`` (``BGB`` when the
    fee was deducted in BGB). ``totalDeductionFee`` is informational (``null`` seen)."""

    feeCoin: Opt = None
    fee: Opt = None
    totalFee: Opt = None
    deduction: Opt = None
    totalDeductionFee: Opt = None


class OrderPush(msgspec.Struct):
    orderId: str
    instId: str
    side: str
    status: str
    size: Decimal
    clientOid: Opt = None
    accBaseVolume: Opt = None
    price: Opt = None
    priceAvg: Opt = None
    posSide: Opt = None
    tradeSide: Opt = None
    orderType: Opt = None
    force: Opt = None
    reduceOnly: Opt = None
    tradeId: Opt = None
    fillPrice: Opt = None
    baseVolume: Opt = None
    fillFee: Opt = None
    fillFeeCoin: Opt = None
    feeDetail: list[FeeDetail] | None = None
    cancelReason: Opt = None
    cTime: Opt = None
    uTime: Opt = None


class FillPush(msgspec.Struct):
    """One trade, as in the ``fill`` stream and ``/api/v2/mix/order/fills``."""

    orderId: str
    tradeId: str
    symbol: str
    side: str
    price: Decimal
    baseVolume: Decimal
    feeDetail: list[FeeDetail] | None = None
    clientOid: Opt = None
    orderType: Opt = None
    tradeSide: Opt = None
    tradeScope: Opt = None
    quoteVolume: Opt = None
    profit: Opt = None
    posMode: Opt = None
    cTime: Opt = None
    uTime: Opt = None


class PositionPush(msgspec.Struct):
    """One position, as in the ``positions`` push (``instId``) and REST ``all-position``
    (``symbol``). ``liquidationPrice`` <= 0 (or absent) means the venue sees no liquidation
    price; ``leverage`` is a number in the push example and a string in the tables."""

    holdSide: str
    total: Decimal
    instId: Opt = None
    symbol: Opt = None  # REST all-position names it symbol
    openPriceAvg: Opt = None
    marginCoin: Opt = None
    marginMode: Opt = None
    posMode: Opt = None
    available: Opt = None
    unrealizedPL: Opt = None
    leverage: str | float | None = None
    markPrice: Opt = None
    liquidationPrice: Opt = None
    keepMarginRate: Opt = None

    @property
    def name(self) -> str:
        """The contract, upper case (REST answers write some symbols in lower case)."""
        return (self.instId or self.symbol or "").upper()


class AccountPush(msgspec.Struct):
    marginCoin: str
    available: Opt = None
    equity: Opt = None
    usdtEquity: Opt = None
    accountEquity: Opt = None  # REST accounts
    locked: Opt = None
    frozen: Opt = None


# -- REST ----------------------------------------------------------------------------------
class Envelope(msgspec.Struct):
    code: str | int
    msg: Opt = None
    requestTime: int | str | None = None  # a number in the docs, a string in recorded answers
    data: msgspec.Raw = msgspec.field(default_factory=_raw_null)


class Contract(msgspec.Struct):
    symbol: str
    baseCoin: str
    quoteCoin: str
    minTradeNum: Decimal
    priceEndStep: Decimal
    pricePlace: str
    sizeMultiplier: Decimal
    volumePlace: Opt = None
    makerFeeRate: Opt = None
    takerFeeRate: Opt = None
    minTradeUSDT: Opt = None
    symbolStatus: Opt = None
    symbolType: Opt = None
    fundInterval: Opt = None
    maxLever: Opt = None
    supportMarginCoins: list[str] | None = None


class SingleAccount(msgspec.Struct):
    """``GET /api/v2/mix/account/account``: the symbol's settings beside the balance."""

    marginCoin: str
    marginMode: Opt = None
    crossedMarginLeverage: Opt = None
    isolatedLongLever: Opt = None
    isolatedShortLever: Opt = None
    posMode: Opt = None
    available: Opt = None
    accountEquity: Opt = None


class TradeRate(msgspec.Struct):
    makerFeeRate: Decimal
    takerFeeRate: Decimal


class OrderIds(msgspec.Struct):
    orderId: Opt = None  # may be missing on a one-way reduce-only order (place-order docs)
    clientOid: Opt = None


class OrderDetail(msgspec.Struct):
    symbol: str
    orderId: str
    size: Decimal
    side: str
    clientOid: Opt = None
    baseVolume: Opt = None
    price: Opt = None
    priceAvg: Opt = None
    fee: Opt = None
    state: Opt = None
    status: Opt = None
    force: Opt = None
    reduceOnly: Opt = None
    tradeSide: Opt = None
    posMode: Opt = None
    cancelReason: Opt = None
    cTime: Opt = None
    uTime: Opt = None


class FillList(msgspec.Struct):
    """``/order/fills``: its rows are decoded one by one (:func:`decode_items`)."""

    fillList: list[msgspec.Raw] | None = None
    endId: Opt = None


class FundRate(msgspec.Struct):
    symbol: str
    fundingRate: Decimal
    fundingRateInterval: Opt = None
    nextUpdate: Opt = None


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


class SetMarginMode(msgspec.Struct):
    """Body of ``POST /api/v2/mix/account/set-margin-mode`` (field order is the order sent)."""

    symbol: str
    productType: str
    marginCoin: str
    marginMode: str


class SetLeverage(msgspec.Struct, omit_defaults=True):
    """Body of ``POST /api/v2/mix/account/set-leverage``: ``leverage`` (cross, and isolated
    one-way), or ``longLeverage`` + ``shortLeverage`` (isolated hedge mode, no holdSide)."""

    symbol: str
    productType: str
    marginCoin: str
    leverage: str = ""
    longLeverage: str = ""
    shortLeverage: str = ""


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


_items = msgspec.json.Decoder(list[msgspec.Raw] | None)


def decode_items(raw: bytes | msgspec.Raw, what: str) -> list[msgspec.Raw]:
    """The items of a list (``null`` = none), each still undecoded: decode them one by one
    (:func:`decode_item`) so one bad item never takes its neighbours with it. Raises
    MalformedMessage when ``raw`` is not a list."""
    return _decode(_items, raw, what) or []


def decode_item(data_type: type[T], raw: msgspec.Raw, what: str) -> T:
    """One item of a list as ``data_type``; MalformedMessage when it does not decode."""
    return decode_data(data_type, raw, what)


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


def parse_decimal(text: str | None, field: str) -> Decimal | None:
    """A venue decimal string; ``""`` or None → None. Raises MalformedMessage naming
    ``field``."""
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise MalformedMessage(VENUE, f"field {field} is not a decimal: {text!r}") from None
    if not value.is_finite():
        raise MalformedMessage(VENUE, f"field {field} is not finite: {text!r}")
    return value
