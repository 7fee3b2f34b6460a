"""Bybit V5 wire messages (category ``linear``) as msgspec Structs, both directions.

One decoder per message type, built once at import. Book data decodes straight to floats
(``strict=False`` turns Bybit's number strings into floats in C; constraints reject NaN,
infinities and non-positive prices); everything about orders, fills, balances and
instruments decodes to :class:`~decimal.Decimal`. Every ``decode_*`` function raises
:class:`~arbtrio.venues.base.MalformedMessage` and nothing else on bad input.

REST envelopes are decoded in two steps: :class:`Envelope` with ``result`` kept raw, then
the result by its own decoder only when ``retCode == 0`` (error results are ``{}`` or
absent).

Lists — the ``data`` of a private push and the ``list`` of a REST page — are decoded **item
by item** (:func:`decode_items`): each item is first read for its ``category``; one of
another category (the all-in-one private topics carry spot, inverse and option items too)
is left out as foreign, and one that fails to decode is left out as malformed, without
taking its neighbours with it. The caller counts what was left out (``health.skipped``).
Fields are lenient where the venue is: optional fields may be absent or ``null``, numbers
may come as strings, fields the venue documents as possibly ``""`` are strings parsed where
they are used (:func:`parse_decimal`), and unknown fields are ignored. The quantities an
event is built from (``cumExecQty``, ``execQty``, ``execPrice``, ``size``) are required
decimals: an item without a valid one is malformed.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, TypeVar

import attrs
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
    ts: int | None = 0
    data: BookData | None = None
    cts: int | None = 0
    op: str | None = ""
    success: bool | None = None
    ret_msg: str | None = ""
    conn_id: str | None = ""
    req_id: str | None = ""


class TopicOnly(msgspec.Struct):
    """Lenient view used after a failed decode, to find which topic to resync."""

    topic: str = ""


# -- private stream ---------------------------------------------------------------------
class PrivateFrame(msgspec.Struct):
    """A private-stream frame: a topic push (``data`` decoded per topic) or an op reply."""

    topic: str | None = ""
    id: str | None = ""
    creationTime: int | None = 0
    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))
    op: str | None = ""
    success: bool | None = None
    ret_msg: str | None = ""
    conn_id: str | None = ""
    req_id: str | None = ""
    args: list[Any] | None = None


class ItemHead(msgspec.Struct):
    """What every list item is first read as: which category and symbol it belongs to."""

    category: str | None = None
    symbol: str | None = None


# Items of lists (pushes and REST pages) are decoded one by one (see decode_items). Fields
# the client reads are typed; a field the venue documents as possibly "" is a string,
# parsed where it is used; fields the client does not read are not declared (ignored).
class OrderInfo(msgspec.Struct):
    """One order, as in the ``order`` stream and ``/v5/order/realtime`` / ``history``."""

    orderId: str
    symbol: str
    orderStatus: str
    cumExecQty: Decimal
    orderLinkId: str | None = ""
    side: str | None = ""  # Buy | Sell
    price: str | None = ""
    qty: str | None = ""
    category: str | None = None  # pushes carry it; REST rows take the page's
    orderType: str | None = ""
    timeInForce: str | None = ""
    avgPrice: str | None = ""  # "" (no fill yet) or "0" until filled
    leavesQty: str | None = ""
    rejectReason: str | None = ""
    cancelType: str | None = ""


class ExecutionInfo(msgspec.Struct):
    """One execution, as in the ``execution`` stream and ``/v5/execution/list``."""

    symbol: str
    orderId: str
    execId: str
    execPrice: Decimal
    execQty: Decimal
    side: str
    orderLinkId: str | None = ""
    execFee: str | None = ""  # positive: paid; "" or null: unknown (see fill_of)
    feeRate: str | None = ""
    execValue: str | None = ""
    feeCurrency: str | None = ""  # "" or absent: the settle coin
    category: str | None = None
    execType: str | None = None  # Trade, AdlTrade, BustTrade, Delivery, Funding, Settle, ...
    isMaker: bool | None = None


class PositionInfo(msgspec.Struct):
    """One position, as in the ``position`` stream and ``/v5/position/list``. Prices are
    strings: ``liqPrice`` is ``""`` (or ``"0"`` on a flat push) when there is none."""

    symbol: str
    size: Decimal
    side: str | None = ""  # Buy | Sell | "" when flat
    avgPrice: str | None = ""  # REST
    entryPrice: str | None = ""  # WS
    markPrice: str | None = ""
    liqPrice: str | None = ""
    category: str | None = None


class WalletCoin(msgspec.Struct):
    coin: str
    equity: Decimal = Decimal(0)
    walletBalance: Decimal = Decimal(0)
    locked: str | None = ""


class WalletAccount(msgspec.Struct):
    """One account of a wallet push or ``/v5/account/wallet-balance``; ``coin`` items are
    decoded one by one (:func:`wallet_coins`)."""

    accountType: str | None = ""
    coin: list[msgspec.Raw] | None = None
    totalAvailableBalance: str | None = ""


# -- REST -------------------------------------------------------------------------------
class Envelope(msgspec.Struct):
    retCode: int
    retMsg: str | None = ""
    result: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"{}"))
    retExtInfo: Any = None  # {} as documented; anything else is not read
    time: int | None = 0


class Page(msgspec.Struct):
    """A list result (instruments, orders, executions, positions, tickers, fee rates,
    wallets): the items kept raw, each decoded on its own by :func:`decode_items`."""

    list: _List[msgspec.Raw] | None = None
    category: str | None = ""
    nextPageCursor: str | None = ""


class PriceFilter(msgspec.Struct):
    tickSize: Decimal


class LotSizeFilter(msgspec.Struct):
    qtyStep: Decimal
    minOrderQty: Decimal
    minNotionalValue: Decimal | None = None


class LeverageFilter(msgspec.Struct):
    maxLeverage: Decimal | None = None


class InstrumentInfo(msgspec.Struct):
    symbol: str
    contractType: str
    status: str
    baseCoin: str
    quoteCoin: str
    priceFilter: PriceFilter
    lotSizeFilter: LotSizeFilter
    settleCoin: str | None = ""
    leverageFilter: LeverageFilter | None = None
    fundingInterval: int | None = 480  # minutes


class FeeRate(msgspec.Struct):
    symbol: str
    takerFeeRate: Decimal
    makerFeeRate: Decimal


class OrderIdResult(msgspec.Struct):
    """Result of create and cancel: an asynchronous acknowledgement."""

    orderId: str
    orderLinkId: str | None = ""


class Ticker(msgspec.Struct):
    symbol: str
    fundingRate: str | None = ""
    nextFundingTime: str | None = ""
    fundingIntervalHour: str | None = ""
    markPrice: str | None = ""
    lastPrice: str | None = ""
    bid1Price: str | None = ""
    ask1Price: str | None = ""


class AccountInfo(msgspec.Struct):
    """Result of ``GET /v5/account/info``: the account-wide margin mode."""

    marginMode: str | None = ""  # ISOLATED_MARGIN | REGULAR_MARGIN | PORTFOLIO_MARGIN


class Reason(msgspec.Struct):
    reasonCode: str | None = ""
    reasonMsg: str | None = ""


class MarginModeResult(msgspec.Struct):
    """Result of ``POST /v5/account/set-margin-mode`` (and of its refusal): ``reasons`` is
    empty when the switch was accepted."""

    reasons: _List[Reason] | None = None


class Empty(msgspec.Struct):
    """A result documented as none (``{}``): set-leverage."""


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


class SetLeverage(msgspec.Struct):
    """Body of ``POST /v5/position/set-leverage``; one-way mode: buy = sell leverage."""

    category: str
    symbol: str
    buyLeverage: str
    sellLeverage: str


class SetMarginMode(msgspec.Struct):
    """Body of ``POST /v5/account/set-margin-mode`` (the unified account's, account-wide)."""

    setMarginMode: str


class WsOp(msgspec.Struct, omit_defaults=True):
    """A client op on a stream: subscribe, unsubscribe, ping, auth."""

    op: str
    args: list[str | int] = msgspec.field(default_factory=list)
    req_id: str = ""


# -- decoders (built once) ----------------------------------------------------------------
_public = msgspec.json.Decoder(PublicFrame, strict=False)
_topic_only = msgspec.json.Decoder(TopicOnly)
_private = msgspec.json.Decoder(PrivateFrame, strict=False)
_raw_items = msgspec.json.Decoder(list[msgspec.Raw] | None)
_head = msgspec.json.Decoder(ItemHead, strict=False)
_envelope = msgspec.json.Decoder(Envelope, strict=False)
_page = msgspec.json.Decoder(Page, strict=False)
_ws_op = msgspec.json.Decoder(WsOp)
_create = msgspec.json.Decoder(CreateOrder)
_cancel = msgspec.json.Decoder(CancelOrder)
encoder = msgspec.json.Encoder(decimal_format="string")

# Item decoders: strict=False takes numbers written as strings ("0") where an int is typed.
ITEM_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {
    t: msgspec.json.Decoder(t, strict=False)
    for t in (
        OrderInfo,
        ExecutionInfo,
        PositionInfo,
        WalletAccount,
        WalletCoin,
        InstrumentInfo,
        FeeRate,
        Ticker,
    )
}
RESULT_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {
    t: msgspec.json.Decoder(t, strict=False)
    for t in (OrderIdResult, ServerTime, OrderbookResult, AccountInfo, MarginModeResult, Empty)
}

T = TypeVar("T")
LINEAR = "linear"


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


def _check_finite(value: Any, what: str) -> None:
    """Reject NaN/Infinity decimals in a decoded order/fill/position/instrument item."""
    if not isinstance(value, msgspec.Struct):
        return
    for field in value.__struct_fields__:
        v = getattr(value, field)
        if isinstance(v, Decimal) and not v.is_finite():
            raise MalformedMessage(VENUE, f"{what}: field {field} is not finite: {v}")
        if isinstance(v, msgspec.Struct):
            _check_finite(v, what)


@attrs.frozen
class Skip:
    """One list item left out by :func:`decode_items`: ``foreign`` (another category) or
    malformed (``reason`` says why)."""

    index: int
    foreign: bool
    reason: str
    symbol: str = ""


@attrs.frozen
class Items(Generic[T]):
    """The items of one list, decoded one by one, and the ones left out."""

    items: list[T]
    skipped: tuple[Skip, ...] = ()

    @property
    def malformed(self) -> int:
        """How many items were left out for failing to decode (not for their category)."""
        return sum(1 for s in self.skipped if not s.foreign)


def decode_items(
    raws: Sequence[msgspec.Raw] | None,
    item_type: type[T],
    what: str,
    *,
    category: str | None = "",
    default_category: str = "",
) -> Items[T]:
    """Decode every item of a list on its own, so one bad or foreign item never takes its
    neighbours with it.

    ``category``: the category to keep (``"linear"``); an item whose own ``category`` (or,
    when it carries none, ``default_category`` — a REST page's) is another is *foreign*: left
    out without being decoded further. None keeps every category (wallet coins, fee
    rates). An item that fails to decode, or holds a non-finite decimal, is *malformed*.
    Both are returned in :attr:`Items.skipped`; nothing here raises."""
    decoder = ITEM_DECODERS[item_type]
    items: list[T] = []
    skipped: list[Skip] = []
    for index, raw in enumerate(raws or ()):
        symbol = ""
        if category is not None:
            try:
                head = _head.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                skipped.append(Skip(index, False, f"{what}: {exc}"))
                continue
            symbol = head.symbol or ""
            item_category = head.category or default_category
            if item_category and item_category != category:
                skipped.append(Skip(index, True, f"{what}: category {item_category}", symbol))
                continue
        try:
            value = decoder.decode(raw)
            _check_finite(value, what)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            skipped.append(Skip(index, False, f"{what}: {exc}", symbol))
            continue
        except MalformedMessage as exc:
            skipped.append(Skip(index, False, exc.message, symbol))
            continue
        items.append(value)
    return Items(items, tuple(skipped))


def decode_push_items(
    raw: bytes, item_type: type[T], what: str, *, category: str | None = LINEAR
) -> Items[T]:
    """The items of a private push's ``data`` (a list). Raises MalformedMessage only when
    ``data`` itself is not a list; its items are decoded one by one (:func:`decode_items`)."""
    try:
        raws = _raw_items.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed(what, exc) from None
    return decode_items(raws, item_type, what, category=category)


def decode_page(raw: bytes, what: str) -> Page:
    """A list result, its items kept raw. Raises MalformedMessage (not a list result)."""
    try:
        return _page.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed(what, exc) from None


def page_items(
    page: Page, item_type: type[T], what: str, *, category: str | None = LINEAR
) -> Items[T]:
    """The items of a REST page, one by one; rows without a category take the page's."""
    return decode_items(
        page.list, item_type, what, category=category, default_category=page.category or ""
    )


def wallet_coins(account: WalletAccount) -> Items[WalletCoin]:
    """The coins of one wallet account, one by one."""
    return decode_items(account.coin, WalletCoin, "wallet coin", category=None)


def decode_envelope(raw: bytes | str) -> Envelope:
    try:
        return _envelope.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed("REST envelope", exc) from None


def decode_result(result_type: type[T], raw: bytes) -> T:
    """The ``result`` of a successful envelope as ``result_type`` (a single object)."""
    try:
        value: T = RESULT_DECODERS[result_type].decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed(result_type.__name__, exc) from None
    return value


def error_reasons(raw: bytes) -> str:
    """The ``reasons`` an error envelope's ``result`` may carry (set-margin-mode), as
    ``"code message; ..."``; "" when there are none or they do not decode."""
    try:
        result = RESULT_DECODERS[MarginModeResult].decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ""
    return "; ".join(
        " ".join(t for t in (r.reasonCode, r.reasonMsg) if t) for r in result.reasons or ()
    )


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
