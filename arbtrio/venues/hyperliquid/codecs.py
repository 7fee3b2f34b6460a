"""Hyperliquid wire messages, both directions, as msgspec Structs (one Decoder per type).

Shapes follow the venue's API documentation (the info and exchange endpoints, the WebSocket
subscriptions; ``specs/010-hyperliquid.md`` lists the facts used).
Action Structs define their fields in the venue's hash order and omit absent optionals
(``omit_defaults``), so ``msgpack(struct)`` is byte-identical to the SDK's ordered dict: the
signing path encodes them directly. Every decode failure raises
:class:`~arbtrio.venues.base.MalformedMessage` and nothing else.

Prices and sizes leave here as canonical decimal strings: at most 5 significant figures
(integers always allowed), at most ``6 − szDecimals`` decimals, sizes on ``szDecimals``, no
trailing zeros, never ``-0`` (:func:`price_to_wire`, :func:`size_to_wire`).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, TypeVar

import msgspec

from arbtrio.core.instruments import Instrument, floor_qty, format_decimal, is_valid_price
from arbtrio.venues.base import MalformedMessage

VENUE: Final = "hyperliquid"
GREETING: Final = "Websocket connection established."
MAX_DECIMALS_PERP: Final = 6
MIN_NOTIONAL: Final = Decimal(10)
BASE_TAKER_FEE: Final = Decimal("0.00045")
BASE_MAKER_FEE: Final = Decimal("0.00015")

Struct = msgspec.Struct


# ======================================================================================
# POST /info — requests and responses
# ======================================================================================
class InfoRequest(Struct, omit_defaults=True):
    """Every ``/info`` body we send or serve: ``type`` plus the fields that type uses."""

    type: str
    coin: str | None = None
    user: str | None = None
    oid: int | str | None = None
    dex: str | None = None
    nSigFigs: int | None = None
    mantissa: int | None = None
    aggregateByTime: bool | None = None
    startTime: int | None = None
    endTime: int | None = None


class AssetMeta(Struct):
    name: str
    szDecimals: int
    maxLeverage: int
    onlyIsolated: bool = False
    isDelisted: bool = False
    marginMode: str | None = None
    marginTableId: int | None = None


class Meta(Struct):
    universe: list[AssetMeta]
    marginTables: list[Any] = msgspec.field(default_factory=list)
    collateralToken: int | None = None


class AssetCtx(Struct):
    funding: Decimal
    openInterest: Decimal
    markPx: Decimal
    oraclePx: Decimal
    prevDayPx: Decimal | None = None
    dayNtlVlm: Decimal | None = None
    premium: Decimal | None = None
    midPx: Decimal | None = None
    impactPxs: list[Decimal] | None = None
    dayBaseVlm: Decimal | None = None


MetaAndAssetCtxs = tuple[Meta, list[AssetCtx]]


class Level(Struct, gc=False):
    """A book level for *decoding* (floats: market data); see :class:`WireLevel`.

    The book-path structs are not tracked by the garbage collector (``gc=False``: they
    hold numbers, strings and lists, never themselves): an l2Book carries 40 of these."""

    px: float
    sz: float
    n: int


class WireLevel(Struct):
    """A book level as the venue *sends* it (decimal strings)."""

    px: str
    sz: str
    n: int


class L2BookData(Struct, gc=False):
    coin: str
    time: int
    levels: tuple[list[Level], list[Level]]


class WireL2BookData(Struct):
    coin: str
    time: int
    levels: tuple[list[WireLevel], list[WireLevel]]


class OrderInfo(Struct):
    """An order as ``orderStatus`` / ``orderUpdates`` / ``openOrders`` report it."""

    coin: str
    side: Literal["A", "B"]
    limitPx: Decimal
    sz: Decimal  # remaining
    oid: int
    timestamp: int
    origSz: Decimal
    cloid: str | None = None
    reduceOnly: bool | None = None
    orderType: str | None = None
    tif: str | None = None
    triggerCondition: str | None = None
    isTrigger: bool | None = None
    triggerPx: Decimal | None = None
    children: list[Any] | None = None
    isPositionTpsl: bool | None = None


class OrderStatusEntry(Struct):
    order: OrderInfo
    status: str
    statusTimestamp: int


class OrderStatusResponse(Struct, omit_defaults=True):
    status: str  # "order" | "unknownOid"
    order: OrderStatusEntry | None = None


class UserFill(Struct, omit_defaults=True):
    """One fill, identical over REST ``userFills`` and the WS ``userFills`` channel."""

    coin: str
    px: Decimal
    sz: Decimal
    side: Literal["A", "B"]
    time: int
    startPosition: Decimal
    dir: str
    closedPnl: Decimal
    hash: str
    oid: int
    crossed: bool
    fee: Decimal
    tid: int
    feeToken: str = "USDC"
    builderFee: Decimal | None = None
    cloid: str | None = None
    liquidation: Any = None
    twapId: int | None = None


class Leverage(Struct):
    type: str
    value: int
    rawUsd: Decimal | None = None


class CumFunding(Struct):
    allTime: Decimal
    sinceChange: Decimal
    sinceOpen: Decimal


class Position(Struct):
    coin: str
    szi: Decimal
    entryPx: Decimal | None = None
    leverage: Leverage | None = None
    liquidationPx: Decimal | None = None
    marginUsed: Decimal | None = None
    maxLeverage: int | None = None
    positionValue: Decimal | None = None
    returnOnEquity: Decimal | None = None
    unrealizedPnl: Decimal | None = None
    cumFunding: CumFunding | None = None


class AssetPosition(Struct):
    position: Position
    type: str = "oneWay"


class MarginSummary(Struct):
    accountValue: Decimal
    totalMarginUsed: Decimal
    totalNtlPos: Decimal
    totalRawUsd: Decimal


class ClearinghouseState(Struct):
    assetPositions: list[AssetPosition]
    marginSummary: MarginSummary
    crossMarginSummary: MarginSummary
    withdrawable: Decimal
    time: int
    crossMaintenanceMarginUsed: Decimal | None = None


class UserFees(Struct):
    userCrossRate: Decimal  # taker
    userAddRate: Decimal  # maker
    activeReferralDiscount: Decimal | None = None


# ======================================================================================
# POST /exchange — actions (hash order!), envelope, responses
# ======================================================================================
class LimitTif(Struct):
    tif: Literal["Alo", "Ioc", "Gtc"]


class Trigger(Struct):
    isMarket: bool  # the SDK's wire order: isMarket, triggerPx, tpsl
    triggerPx: str
    tpsl: Literal["tp", "sl"]


class OrderType(Struct, omit_defaults=True):
    """``{"limit": {...}}`` or ``{"trigger": {...}}``: exactly one is set."""

    limit: LimitTif | None = None
    trigger: Trigger | None = None


class OrderWire(Struct, omit_defaults=True):
    a: int
    b: bool
    p: str
    s: str
    r: bool
    t: OrderType
    c: str | None = None  # cloid, last and only when present


class Builder(Struct):
    b: str
    f: int


class OrderAction(Struct, tag_field="type", tag="order", omit_defaults=True):
    orders: list[OrderWire]
    grouping: str
    builder: Builder | None = None


class CancelWire(Struct):
    a: int
    o: int


class CancelAction(Struct, tag_field="type", tag="cancel", omit_defaults=True):
    cancels: list[CancelWire]
    f: bool | None = None  # only ever ``True`` or absent (false is rejected by the venue)


class CancelByCloidWire(Struct):
    asset: int
    cloid: str


class CancelByCloidAction(Struct, tag_field="type", tag="cancelByCloid", omit_defaults=True):
    cancels: list[CancelByCloidWire]
    f: bool | None = None


class ScheduleCancelAction(Struct, tag_field="type", tag="scheduleCancel", omit_defaults=True):
    time: int | None = None


class NoopAction(Struct, tag_field="type", tag="noop"):
    pass


Action = OrderAction | CancelAction | CancelByCloidAction | ScheduleCancelAction | NoopAction


class Signature(Struct):
    r: str
    s: str
    v: int


class ExchangeRequest(Struct):
    """The ``/exchange`` body (and the WS post ``action`` payload)."""

    action: Action
    nonce: int
    signature: Signature
    vaultAddress: str | None = None
    expiresAfter: int | None = None


class Resting(Struct, omit_defaults=True):
    oid: int
    cloid: str | None = None


class Filled(Struct, omit_defaults=True):
    totalSz: Decimal
    avgPx: Decimal
    oid: int
    cloid: str | None = None


class OrderStatusObj(Struct, omit_defaults=True):
    """One entry of ``statuses``: exactly one of resting / filled / error."""

    resting: Resting | None = None
    filled: Filled | None = None
    error: str | None = None


StatusItem = str | OrderStatusObj  # bare strings: "success", "waitingForFill", ...


class Statuses(Struct):
    statuses: list[StatusItem]


class ExchangeOkBody(Struct, omit_defaults=True):
    type: str  # "order" | "cancel" | "default" | ...
    data: Statuses | None = None


class ExchangeResponse(Struct):
    """``{"status":"ok","response":{...}}`` or ``{"status":"err","response":"<message>"}``."""

    status: Literal["ok", "err"]
    response: ExchangeOkBody | str


# ======================================================================================
# WebSocket — outgoing requests and incoming channel messages
# ======================================================================================
class Subscription(Struct, omit_defaults=True):
    type: str
    coin: str | None = None
    user: str | None = None
    nSigFigs: int | None = None
    mantissa: int | None = None
    aggregateByTime: bool | None = None


class WsRequest(Struct, omit_defaults=True):
    """Client → server: subscribe / unsubscribe / ping / post."""

    method: Literal["subscribe", "unsubscribe", "ping", "post"]
    subscription: Subscription | None = None
    id: int | None = None
    request: Any = None


class BboData(Struct, gc=False):
    coin: str
    time: int
    bbo: tuple[Level | None, Level | None]


class WireBboData(Struct):
    coin: str
    time: int
    bbo: tuple[WireLevel | None, WireLevel | None]


class WsOrderUpdate(Struct):
    order: OrderInfo
    status: str
    statusTimestamp: int


class UserFillsData(Struct, omit_defaults=True):
    user: str
    fills: list[UserFill]
    isSnapshot: bool | None = None


class SubscriptionAck(Struct):
    method: str
    subscription: Subscription


class L2BookMsg(Struct, tag_field="channel", tag="l2Book", gc=False):
    data: L2BookData


class BboMsg(Struct, tag_field="channel", tag="bbo", gc=False):
    data: BboData


class OrderUpdatesMsg(Struct, tag_field="channel", tag="orderUpdates"):
    data: list[WsOrderUpdate]


class UserFillsMsg(Struct, tag_field="channel", tag="userFills"):
    data: UserFillsData


class PongMsg(Struct, tag_field="channel", tag="pong"):
    pass


class SubscriptionResponseMsg(Struct, tag_field="channel", tag="subscriptionResponse"):
    data: SubscriptionAck


class ErrorMsg(Struct, tag_field="channel", tag="error"):
    data: Any


WsMessage = (
    L2BookMsg
    | BboMsg
    | OrderUpdatesMsg
    | UserFillsMsg
    | PongMsg
    | SubscriptionResponseMsg
    | ErrorMsg
)


# Server-side (emulator) encodings of the book channels with decimal strings.
class WireL2BookMsg(Struct, tag_field="channel", tag="l2Book"):
    data: WireL2BookData


class WireBboMsg(Struct, tag_field="channel", tag="bbo"):
    data: WireBboData


# ======================================================================================
# Decoders (built once) and the decode functions
# ======================================================================================
T = TypeVar("T")

_ws_decoder: msgspec.json.Decoder[WsMessage] = msgspec.json.Decoder(
    WsMessage, strict=False
)  # strict=False: "123.4" -> float
_json_encoder = msgspec.json.Encoder()

DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "meta": msgspec.json.Decoder(Meta),
    "metaAndAssetCtxs": msgspec.json.Decoder(MetaAndAssetCtxs),
    "l2Book": msgspec.json.Decoder(L2BookData, strict=False),
    "orderStatus": msgspec.json.Decoder(OrderStatusResponse),
    "userFills": msgspec.json.Decoder(list[UserFill]),
    "clearinghouseState": msgspec.json.Decoder(ClearinghouseState),
    "userFees": msgspec.json.Decoder(UserFees),
    "exchangeResponse": msgspec.json.Decoder(ExchangeResponse),
    "exchangeRequest": msgspec.json.Decoder(ExchangeRequest),
    "infoRequest": msgspec.json.Decoder(InfoRequest),
    "wsRequest": msgspec.json.Decoder(WsRequest),
}


def _malformed(what: str, exc: Exception) -> MalformedMessage:
    return MalformedMessage(VENUE, f"malformed {what}: {exc}")


def decode(kind: str, data: bytes | str) -> Any:
    """Decode one REST body / request of ``kind`` (a key of :data:`DECODERS`)."""
    try:
        return DECODERS[kind].decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed(kind, exc) from None


def decode_ws(data: bytes | str) -> WsMessage | None:
    """Decode one WS frame; ``None`` for the plain-text greeting."""
    if data == GREETING:
        return None
    try:
        return _ws_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed("ws frame", exc) from None


def encode(obj: Any) -> bytes:
    return _json_encoder.encode(obj)


# -- validated translation helpers ------------------------------------------------------
Ladder = tuple[list[float], list[float]]  # prices strictly ascending, their sizes (> 0)


def book_ladders(levels: tuple[list[Level], list[Level]]) -> tuple[Ladder, Ladder]:
    """An ``l2Book``'s two sides checked — finite, px > 0, sz ≥ 0, sorted best first as
    sent (bids descending, asks ascending) — and returned as :data:`Ladder` s ascending by
    price without the zero-size levels, ready for :meth:`L2Book.apply_sorted_snapshot`.
    Raises MalformedMessage naming the level otherwise."""
    inf = math.inf
    bid_px: list[float] = []
    bid_sz: list[float] = []
    prev = inf
    for lv in levels[0]:  # one chained comparison checks range and order (NaN fails it)
        px, sz = lv.px, lv.sz
        if not (0.0 < px < prev and 0.0 <= sz < inf):
            raise _bad_level("bid", px, sz, prev)
        prev = px
        if sz > 0.0:
            bid_px.append(px)
            bid_sz.append(sz)
    bid_px.reverse()
    bid_sz.reverse()
    ask_px: list[float] = []
    ask_sz: list[float] = []
    prev = 0.0
    for lv in levels[1]:
        px, sz = lv.px, lv.sz
        if not (prev < px < inf and 0.0 <= sz < inf):
            raise _bad_level("ask", px, sz, prev)
        prev = px
        if sz > 0.0:
            ask_px.append(px)
            ask_sz.append(sz)
    return (bid_px, bid_sz), (ask_px, ask_sz)


def book_sides(
    levels: tuple[list[Level], list[Level]],
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """:func:`book_ladders` as ``(bids, asks)`` of ``(px, sz)``, best first."""
    (bid_px, bid_sz), (ask_px, ask_sz) = book_ladders(levels)
    return list(zip(bid_px[::-1], bid_sz[::-1], strict=True)), list(
        zip(ask_px, ask_sz, strict=True)
    )


def _bad_level(side: str, px: float, sz: float, prev: float) -> MalformedMessage:
    if not (0.0 < px < math.inf and 0.0 <= sz < math.inf):
        return MalformedMessage(VENUE, f"bad {side} level px={px} sz={sz}")
    return MalformedMessage(VENUE, f"{side} levels not strictly sorted at px={px} after {prev}")


_LIMIT = Decimal("1e30")


def finite(value: Decimal, field: str) -> Decimal:
    """``value`` if finite and of sane magnitude (< 1e30), else MalformedMessage."""
    if not value.is_finite() or not -_LIMIT < value < _LIMIT:
        raise MalformedMessage(VENUE, f"{field} is not a finite number in range: {value}")
    return value


# -- instruments and wire numbers --------------------------------------------------------
def instrument_from_meta(
    asset: AssetMeta,
    *,
    taker_fee: Decimal = BASE_TAKER_FEE,
    maker_fee: Decimal = BASE_MAKER_FEE,
) -> Instrument:
    """The perp's :class:`Instrument`: lot ``10^-szDecimals``, ≤ 5 significant figures and
    ≤ ``6 − szDecimals`` price decimals, $10 minimum notional, hourly funding."""
    szd = asset.szDecimals
    if not 0 <= szd <= MAX_DECIMALS_PERP:
        raise MalformedMessage(VENUE, f"{asset.name}: szDecimals {szd} out of range")
    max_decimals = MAX_DECIMALS_PERP - szd
    lot = Decimal(1).scaleb(-szd)
    return Instrument(
        venue=VENUE,
        symbol=asset.name,
        asset=asset.name,
        quote="USDC",
        tick_size=Decimal(1).scaleb(-max_decimals),
        lot_size=lot,
        min_size=lot,
        min_notional=MIN_NOTIONAL,
        taker_fee=taker_fee,
        maker_fee=maker_fee,
        funding_interval_hours=1,
        sig_figs=5,
        max_price_decimals=max_decimals,
        max_leverage=asset.maxLeverage,
    )


def price_to_wire(inst: Instrument, price: Decimal) -> str:
    """The canonical wire string of a limit price; ValueError if the venue would refuse it."""
    if not price.is_finite() or price <= 0 or not is_valid_price(inst, price):
        raise ValueError(
            f"price {price} is not valid for {inst.symbol}: at most 5 significant figures "
            f"and {inst.max_price_decimals} decimals"
        )
    return format_decimal(price)


def size_to_wire(inst: Instrument, qty: Decimal) -> str:
    """The canonical wire string of a size; ValueError unless a positive lot multiple."""
    if not qty.is_finite() or qty <= 0 or floor_qty(inst, qty) != qty:
        raise ValueError(f"qty {qty} is not a positive multiple of {inst.lot_size} ({inst.symbol})")
    return format_decimal(qty)


def canonical_number(text: str) -> str:
    """How the venue re-serialises a number string it received (used by the emulator to
    hash what the server would hash). Raises ValueError for a non-number."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    return format_decimal(value)
