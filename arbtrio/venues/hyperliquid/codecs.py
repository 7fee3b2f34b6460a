"""Hyperliquid wire messages, both directions, as msgspec Structs (one Decoder per type).

Shapes follow the venue's API documentation (the info and exchange endpoints, the WebSocket
subscriptions; ``specs/010-hyperliquid.md`` lists the facts used).
Action Structs define their fields in the venue's hash order and omit absent optionals
(``omit_defaults``), so ``msgpack(struct)`` is byte-identical to the SDK's ordered dict: the
signing path encodes them directly. Every decode failure raises
:class:`~arbtrio.venues.base.MalformedMessage` and nothing else.

Decoding what the venue sends (``specs/010-hyperliquid.md``, "Decoding"):

* only the fields the client reads are typed; the others are ``Any`` (any value, null or
  absent) and unknown fields are ignored, so a field the venue adds, drops or nulls that we
  never read cannot fail a message;
* numbers may come as decimal strings or JSON numbers, integers also as digit strings
  (``strict=False``); an optional number that is ``null`` or ``""`` is absent
  (:func:`opt_decimal`);
* a list whose items stand alone — the universe and its contexts, positions, fills, order
  updates — is decoded as raw items and each item on its own (:func:`decode_item`), so
  one bad item is skipped and counted by the caller and never takes its neighbours with
  it; the items of a book side are not (a book missing a level is wrong, not smaller);
* :func:`foreign_coin` names the coins that are not first-dex perps (spot ``@107`` /
  ``PURR/USDC``, builder-deployed ``xyz:XYZ100``): their items are skipped and counted.

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


Num = str | float | int  # a number as the venue may send it (decimal string or JSON number)


class AssetMeta(Struct):
    """One ``meta.universe`` entry (read: name, szDecimals, maxLeverage, isDelisted)."""

    name: str
    szDecimals: int
    maxLeverage: int
    isDelisted: bool | None = False
    onlyIsolated: Any = None
    marginMode: Any = None
    marginTableId: Any = None


class Meta(Struct):
    """``meta``: the universe as raw items (decoded one by one, index = asset id)."""

    universe: list[msgspec.Raw]
    marginTables: Any = None
    collateralToken: Any = None


class AssetCtx(Struct):
    """One ``metaAndAssetCtxs`` context (same index as its universe entry)."""

    funding: Decimal
    openInterest: Decimal
    markPx: Decimal
    oraclePx: Decimal
    prevDayPx: Any = None
    dayNtlVlm: Any = None
    premium: Any = None
    midPx: Any = None
    impactPxs: Any = None
    dayBaseVlm: Any = None


MetaAndAssetCtxs = tuple[Meta, list[msgspec.Raw]]


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
    """An order as ``orderStatus`` / ``orderUpdates`` / ``historicalOrders`` report it (read:
    coin, side, sz = the remainder, origSz, oid, cloid)."""

    coin: str
    side: Literal["A", "B"]
    sz: Decimal  # remaining
    oid: int
    origSz: Decimal
    cloid: str | None = None
    limitPx: Any = None
    timestamp: Any = None
    reduceOnly: Any = None
    orderType: Any = None
    tif: Any = None
    triggerCondition: Any = None
    isTrigger: Any = None
    triggerPx: Any = None
    children: Any = None
    isPositionTpsl: Any = None


class OrderStatusEntry(Struct):
    order: OrderInfo
    status: str
    statusTimestamp: int


class OrderStatusResponse(Struct, omit_defaults=True):
    status: str  # "order" | "unknownOid"
    order: OrderStatusEntry | None = None


class UserFill(Struct, omit_defaults=True):
    """One fill, identical over REST ``userFills`` and the WS ``userFills`` channel (read:
    coin, px, sz, side, time, oid, tid, fee, feeToken, cloid). ``fee`` null or ``""`` is
    an unknown fee (booked as 0, logged); ``feeToken`` absent, null or blank is USDC."""

    coin: str
    px: Decimal
    sz: Decimal
    side: Literal["A", "B"]
    time: int
    oid: int
    tid: int
    fee: Num | None = None
    feeToken: str | None = None
    cloid: str | None = None
    builderFee: Any = None
    startPosition: Any = None
    dir: Any = None
    closedPnl: Any = None
    hash: Any = None
    crossed: Any = None
    liquidation: Any = None
    twapId: Any = None


class Position(Struct):
    """One position (read: coin, szi, entryPx, positionValue, liquidationPx; ``entryPx`` null
    or ``""`` is absent). ``positionValue`` (|szi| × mark) and ``liquidationPx`` stay untyped:
    :func:`~arbtrio.venues.hyperliquid.convert.positions_of` reads them leniently, so a bad
    one loses that price, never the position."""

    coin: str
    szi: Decimal
    entryPx: Num | None = None
    leverage: Any = None
    liquidationPx: Any = None
    marginUsed: Any = None
    maxLeverage: Any = None
    positionValue: Any = None
    returnOnEquity: Any = None
    unrealizedPnl: Any = None
    cumFunding: Any = None


class AssetPosition(Struct):
    position: Position
    type: Any = None


class MarginSummary(Struct):
    accountValue: Decimal
    totalMarginUsed: Any = None
    totalNtlPos: Any = None
    totalRawUsd: Any = None


class ClearinghouseState(Struct):
    """``clearinghouseState``: positions as raw items (decoded one by one)."""

    marginSummary: MarginSummary
    withdrawable: Decimal
    assetPositions: list[msgspec.Raw] = msgspec.field(default_factory=list)
    crossMarginSummary: Any = None
    time: Any = None
    crossMaintenanceMarginUsed: Any = None


class UserFees(Struct):
    userCrossRate: Decimal  # taker
    userAddRate: Decimal  # maker
    activeReferralDiscount: Any = None


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


class UpdateLeverageAction(Struct, tag_field="type", tag="updateLeverage"):
    """``updateLeverage``: the hash order is ``type, asset, isCross, leverage`` (the SDK's)."""

    asset: int
    isCross: bool
    leverage: int


Action = (
    OrderAction
    | CancelAction
    | CancelByCloidAction
    | ScheduleCancelAction
    | NoopAction
    | UpdateLeverageAction
)


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
    """A ``userFills`` push: the fills as raw items (decoded one by one)."""

    fills: list[msgspec.Raw]
    user: Any = None
    isSnapshot: bool | None = None


class SubscriptionAck(Struct):
    method: str
    subscription: Subscription


class ClearinghouseStatePush(Struct):
    """A ``clearinghouseState`` push: the account's whole perp state on one dex (``dex`` ""
    is the first perp dex), in the shape of the ``/info`` answer."""

    clearinghouseState: ClearinghouseState
    dex: Any = None
    user: Any = None


class L2BookMsg(Struct, tag_field="channel", tag="l2Book", gc=False):
    data: L2BookData


class BboMsg(Struct, tag_field="channel", tag="bbo", gc=False):
    data: BboData


class OrderUpdatesMsg(Struct, tag_field="channel", tag="orderUpdates"):
    data: list[msgspec.Raw]  # WsOrderUpdate items, decoded one by one


class UserFillsMsg(Struct, tag_field="channel", tag="userFills"):
    data: UserFillsData


class ClearinghouseStateMsg(Struct, tag_field="channel", tag="clearinghouseState"):
    data: ClearinghouseStatePush


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
    | ClearinghouseStateMsg
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
    "meta": msgspec.json.Decoder(Meta, strict=False),
    "metaAndAssetCtxs": msgspec.json.Decoder(MetaAndAssetCtxs, strict=False),
    "l2Book": msgspec.json.Decoder(L2BookData, strict=False),
    "orderStatus": msgspec.json.Decoder(OrderStatusResponse, strict=False),
    "userFills": msgspec.json.Decoder(list[msgspec.Raw]),
    "clearinghouseState": msgspec.json.Decoder(ClearinghouseState, strict=False),
    "userFees": msgspec.json.Decoder(UserFees, strict=False),
    "exchangeResponse": msgspec.json.Decoder(ExchangeResponse, strict=False),
    "exchangeRequest": msgspec.json.Decoder(ExchangeRequest),
    "infoRequest": msgspec.json.Decoder(InfoRequest),
    "wsRequest": msgspec.json.Decoder(WsRequest),
}

# The items of the lists decoded one by one (:func:`decode_item`).
ITEM_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "asset": msgspec.json.Decoder(AssetMeta, strict=False),
    "assetCtx": msgspec.json.Decoder(AssetCtx, strict=False),
    "position": msgspec.json.Decoder(AssetPosition, strict=False),
    "fill": msgspec.json.Decoder(UserFill, strict=False),
    "orderUpdate": msgspec.json.Decoder(WsOrderUpdate, strict=False),
}


def _malformed(what: str, exc: Exception) -> MalformedMessage:
    return MalformedMessage(VENUE, f"malformed {what}: {exc}")


def decode(kind: str, data: bytes | str) -> Any:
    """Decode one REST body / request of ``kind`` (a key of :data:`DECODERS`)."""
    try:
        return DECODERS[kind].decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed(kind, exc) from None


def decode_item(kind: str, raw: msgspec.Raw | bytes | str) -> Any:
    """Decode one list item of ``kind`` (a key of :data:`ITEM_DECODERS`); MalformedMessage
    for this item alone."""
    try:
        return ITEM_DECODERS[kind].decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed(kind, exc) from None


def decode_ws(data: bytes | str) -> WsMessage | None:
    """Decode one WS frame; ``None`` for the plain-text greeting. The items of an
    ``orderUpdates`` / ``userFills`` push stay raw (:func:`decode_item`)."""
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


def opt_decimal(value: Num | None, field: str) -> Decimal | None:
    """An optional number as sent: None for ``null`` or ``""``, else the finite Decimal it
    spells (MalformedMessage for anything else)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MalformedMessage(VENUE, f"{field} is not a number: {value!r}")
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(repr(value))
    except InvalidOperation:
        raise MalformedMessage(VENUE, f"{field} is not a number: {value!r}") from None
    return finite(number, field)


def foreign_coin(coin: str) -> bool:
    """Whether ``coin`` is not a first-dex perp: a spot pair (``@107``, ``PURR/USDC``) or a
    builder-deployed perp (``xyz:XYZ100``)."""
    return coin.startswith("@") or "/" in coin or ":" in coin


QUOTE: Final = "USDC"


def fee_currency(fee_token: str | None) -> str:
    """``Fill.fee_currency`` of a fill's ``feeToken``: ``""`` (the quote, USDC) when absent,
    blank or USDC; else the token, stripped (the docs' HIP-3 example sends ``" USDC"``)."""
    token = (fee_token or "").strip()
    return "" if token in ("", QUOTE) else token


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
        quote=QUOTE,
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
