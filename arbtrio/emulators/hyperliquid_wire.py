"""The Hyperliquid emulator's wire: what the venue accepts and how it answers.

Written from the venue documentation (summarised in ``specs/010-hyperliquid.md``), with this
module's own msgspec Structs; nothing here comes from the client's codecs.

* Requests: :func:`parse_info` (``POST /info``), :func:`parse_exchange` (``POST /exchange``)
  and :func:`parse_ws` (WebSocket frames) decode into the venue's own types or raise
  :class:`Undecodable` — the venue's "does not deserialise into the target type" (HTTP 422).
* :func:`hash_view` is the action as the venue re-serialises it for the signature check:
  the documented key order, numbers in canonical form (:func:`canonical_number`), addresses
  and cloids lower-case, optional fields (``c``, ``builder``, ``time``, the cancels' ``f``)
  omitted when absent or false. A client that hashed anything else recovers another signer.
* Answers: :func:`wire_num` prints numbers the venue's way (``"68674.0"``, ``"0.0147"``);
  :func:`ok_body` / :func:`err_body` are the ``/exchange`` envelopes; the documented error
  strings and the IP rate-limit weights (:func:`info_weight`, :func:`exchange_weight`) live
  here, once.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Literal

import msgspec
from msgspec import Struct

__all__ = [
    "EXCHANGE_PATH",
    "GREETING",
    "INFO_PATH",
    "IP_WEIGHT_PER_MINUTE",
    "WS_PATH",
    "Action",
    "CancelAction",
    "CancelByCloidAction",
    "ExchangeRequest",
    "InfoRequest",
    "NoopAction",
    "OrderAction",
    "OrderWire",
    "ScheduleCancelAction",
    "Undecodable",
    "UpdateLeverageAction",
    "WsRequest",
    "canonical_number",
    "encode",
    "err_body",
    "exchange_weight",
    "hash_view",
    "info_weight",
    "ok_body",
    "parse_exchange",
    "parse_info",
    "parse_number",
    "parse_ws",
    "wire_num",
]

# -- endpoints ---------------------------------------------------------------------------------
INFO_PATH = "/info"
EXCHANGE_PATH = "/exchange"
WS_PATH = "/ws"
GREETING = "Websocket connection established."  # plain text, the first frame on connect

# -- documented error strings ------------------------------------------------------------------
UNDECODABLE = "Failed to deserialize the JSON body into the target type"
UNKNOWN_SIGNER = "L1 error: User or API Wallet {address} does not exist."
DUPLICATE_NONCE = "Invalid nonce: duplicate nonce {nonce}"
IOC_CANCEL = "Order could not immediately match against any resting orders."
MISSING_ORDER = "Order was never placed, already canceled, or filled."
TICK = "Price must be divisible by tick size."
INVALID_PRICE = "Order has invalid price."
INVALID_SIZE = "Order has invalid size"
ZERO_SIZE = "Order has zero size."
MIN_NOTIONAL = "Order must have minimum value of $10."
PERP_MARGIN = "Insufficient margin to place order."
REDUCE_ONLY = "Reduce only order would increase position."
FAR_FROM_REFERENCE = "Order price cannot be more than 80% away from the reference price"
SCHEDULE_CANCEL_VOLUME = (
    "Cannot set scheduled cancel time until enough volume traded. "
    "Required: ${required}. Traded: ${traded}."
)
WS_UNPARSABLE = "Error parsing JSON into valid websocket request: {text}"
# updateLeverage refusals (the venue's strings as observed on its testnet: see the spec)
INVALID_LEVERAGE = "Invalid leverage value"
SWITCH_WITH_POSITION = "Cannot switch leverage type with open position."
CROSS_NOT_ALLOWED = "Cross margin is not allowed for this asset."

# -- IP rate limits ----------------------------------------------------------------------------
IP_WEIGHT_PER_MINUTE = 1200
_INFO_WEIGHT_2 = frozenset(
    {"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState",
     "exchangeStatus"}
)  # fmt: skip
_INFO_WEIGHT_60 = frozenset({"userRole"})
_PER_20_ITEMS = frozenset(
    {"recentTrades", "historicalOrders", "userFills", "userFillsByTime", "fundingHistory",
     "userFunding", "nonUserFundingUpdates", "twapHistory", "userTwapSliceFills",
     "userTwapSliceFillsByTime", "delegatorHistory", "delegatorRewards", "validatorStats"}
)  # fmt: skip


def info_weight(kind: str, items: int = 0) -> int:
    """An info request's IP weight: 2 for the cheap reads, 60 for ``userRole``, 20 for the
    rest; the paginated kinds add 1 per 20 items returned (``candleSnapshot`` per 60)."""
    if kind in _INFO_WEIGHT_2:
        base = 2
    elif kind in _INFO_WEIGHT_60:
        base = 60
    else:
        base = 20
    if kind in _PER_20_ITEMS:
        base += items // 20
    elif kind == "candleSnapshot":
        base += items // 60
    return base


def exchange_weight(batch_length: int) -> int:
    """An ``/exchange`` request's IP weight: ``1 + floor(batch_length / 40)``."""
    return 1 + batch_length // 40


class Undecodable(ValueError):
    """The request does not deserialise into the venue's type (HTTP 422)."""


# -- numbers -----------------------------------------------------------------------------------
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
_CLOID = re.compile(r"0x[0-9a-fA-F]{32}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HEX_WORD = re.compile(r"0x[0-9a-fA-F]{1,64}")
_U64 = (1 << 64) - 1
_U32 = (1 << 32) - 1


def parse_number(text: str, field: str) -> Decimal:
    """A decimal number string as the venue parses it (plain digits, optional sign and point;
    no exponent, no spaces): :class:`Undecodable` otherwise."""
    if len(text) > 64 or not _NUMBER.fullmatch(text):
        raise Undecodable(f"{field}: not a decimal number: {text!r}")
    return Decimal(text)


def canonical_number(value: Decimal) -> str:
    """The venue's canonical form: no exponent, no trailing zeros, no trailing point, never
    ``-0`` (``Decimal("1000.0")`` → ``"1000"``, ``Decimal("0.0100")`` → ``"0.01"``)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def wire_num(value: Decimal) -> str:
    """A number as the venue prints it in answers: canonical, with ``.0`` on integers
    (``"68674.0"``, ``"0.0"``, ``"0.0147"``, ``"-0.0335"``), as in the documented examples."""
    text = canonical_number(value)
    return text if "." in text else text + ".0"


# -- /info -------------------------------------------------------------------------------------
class InfoRequest(Struct):
    """``POST /info``: ``type`` and the fields the emulated kinds read (others ignored)."""

    type: str
    coin: str | None = None
    user: str | None = None
    oid: int | str | None = None
    dex: str | None = None
    nSigFigs: int | None = None
    mantissa: int | None = None
    aggregateByTime: bool | None = None


_INFO_REQUIRED: dict[str, tuple[str, ...]] = {
    "meta": (),
    "metaAndAssetCtxs": (),
    "allMids": (),
    "l2Book": ("coin",),
    "orderStatus": ("user", "oid"),
    "openOrders": ("user",),
    "frontendOpenOrders": ("user",),
    "userFills": ("user",),
    "clearinghouseState": ("user",),
    "userFees": ("user",),
    "activeAssetData": ("user", "coin"),
}


def parse_info(body: bytes) -> InfoRequest:
    """An ``/info`` request of a kind the emulator serves, with its required fields."""
    try:
        req = msgspec.json.decode(body, type=InfoRequest)
    except msgspec.DecodeError as exc:
        raise Undecodable(str(exc)) from None
    required = _INFO_REQUIRED.get(req.type)
    if required is None:
        raise Undecodable(f"unknown variant {req.type!r}")
    for name in required:
        if getattr(req, name) is None:
            raise Undecodable(f"missing field `{name}`")
    if isinstance(req.oid, str) and not _CLOID.fullmatch(req.oid):
        raise Undecodable(f"oid: not an order id or cloid: {req.oid!r}")
    return req


# -- /exchange: the actions --------------------------------------------------------------------
class Limit(Struct):
    tif: Literal["Alo", "Ioc", "Gtc"]


class Trigger(Struct):
    isMarket: bool
    triggerPx: str
    tpsl: Literal["tp", "sl"]


class OrderType(Struct):
    """Exactly one of ``limit`` / ``trigger`` (checked in :func:`parse_exchange`)."""

    limit: Limit | None = None
    trigger: Trigger | None = None


class OrderWire(Struct):
    a: int  # asset id: the index in meta.universe
    b: bool  # is buy
    p: str  # limit price
    s: str  # size, base units
    r: bool  # reduce only
    t: OrderType
    c: str | None = None  # cloid: 0x + 32 hex


class Builder(Struct):
    b: str
    f: int


class PriorityGrouping(Struct):
    p: int


class OrderAction(Struct, tag_field="type", tag="order"):
    orders: list[OrderWire]
    grouping: Literal["na", "normalTpsl", "positionTpsl"] | PriorityGrouping
    builder: Builder | None = None


class CancelWire(Struct):
    a: int
    o: int


class CancelAction(Struct, tag_field="type", tag="cancel"):
    cancels: list[CancelWire]
    f: bool = False


class CancelByCloidWire(Struct):
    asset: int
    cloid: str


class CancelByCloidAction(Struct, tag_field="type", tag="cancelByCloid"):
    cancels: list[CancelByCloidWire]
    f: bool = False


class ScheduleCancelAction(Struct, tag_field="type", tag="scheduleCancel"):
    time: int | None = None


class NoopAction(Struct, tag_field="type", tag="noop"):
    pass


class UpdateLeverageAction(Struct, tag_field="type", tag="updateLeverage"):
    asset: int  # the index in meta.universe
    isCross: bool
    leverage: int  # an integer: a JSON float does not deserialise


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
    """``POST /exchange``: the action, its nonce and signature, and the envelope options."""

    action: Action
    nonce: int
    signature: Signature
    vaultAddress: str | None = None
    expiresAfter: int | None = None

    def signature_ints(self) -> tuple[int, int, int]:
        """``(r, s, v)`` as integers (hex checked by :func:`parse_exchange`)."""
        sig = self.signature
        return int(sig.r, 16), int(sig.s, 16), sig.v


def parse_exchange(body: bytes) -> ExchangeRequest:
    """An ``/exchange`` request the venue would deserialise, or :class:`Undecodable`.

    Beyond the JSON types: unknown action types, an order type with neither or both of
    ``limit``/``trigger``, numbers that are not plain decimal strings, cloids that are not
    ``0x`` + 32 hex digits, addresses that are not ``0x`` + 40 hex digits, ``r``/``s`` that are
    not ``0x`` hex words, and integers outside the venue's unsigned ranges are refused.
    """
    try:
        req = msgspec.json.decode(body, type=ExchangeRequest)
    except msgspec.DecodeError as exc:
        raise Undecodable(str(exc)) from None
    _check_u64(req.nonce, "nonce")
    if req.expiresAfter is not None:
        _check_u64(req.expiresAfter, "expiresAfter")
    if req.vaultAddress is not None:
        _check_address(req.vaultAddress, "vaultAddress")
    for name in ("r", "s"):
        if not _HEX_WORD.fullmatch(getattr(req.signature, name)):
            raise Undecodable(f"signature.{name}: not a 0x hex word")
    action = req.action
    if isinstance(action, OrderAction):
        for order in action.orders:
            _check_order(order)
        if action.builder is not None:
            _check_address(action.builder.b, "builder.b")
            _check_u64(action.builder.f, "builder.f")
        if isinstance(action.grouping, PriorityGrouping):
            _check_u64(action.grouping.p, "grouping.p")
    elif isinstance(action, CancelAction):
        for cancel in action.cancels:
            _check_u32(cancel.a, "a")
            _check_u64(cancel.o, "o")
    elif isinstance(action, CancelByCloidAction):
        for by_cloid in action.cancels:
            _check_u32(by_cloid.asset, "asset")
            _check_cloid(by_cloid.cloid)
    elif isinstance(action, ScheduleCancelAction) and action.time is not None:
        _check_u64(action.time, "time")
    elif isinstance(action, UpdateLeverageAction):
        _check_u32(action.asset, "asset")
        _check_u32(action.leverage, "leverage")
    return req


def _check_order(order: OrderWire) -> None:
    _check_u32(order.a, "a")
    parse_number(order.p, "p")
    parse_number(order.s, "s")
    kinds = (order.t.limit is not None) + (order.t.trigger is not None)
    if kinds != 1:
        raise Undecodable("t: exactly one of limit / trigger")
    if order.t.trigger is not None:
        parse_number(order.t.trigger.triggerPx, "triggerPx")
    if order.c is not None:
        _check_cloid(order.c)


def _check_u64(value: int, field: str) -> None:
    if not 0 <= value <= _U64:
        raise Undecodable(f"{field}: out of range for u64")


def _check_u32(value: int, field: str) -> None:
    if not 0 <= value <= _U32:
        raise Undecodable(f"{field}: out of range for u32")


def _check_cloid(cloid: str) -> None:
    if not _CLOID.fullmatch(cloid):
        raise Undecodable(f"cloid: not 0x + 32 hex digits: {cloid!r}")


def _check_address(address: str, field: str) -> None:
    if not _ADDRESS.fullmatch(address):
        raise Undecodable(f"{field}: not an address: {address!r}")


def hash_view(action: Action) -> dict[str, Any]:
    """The action as the venue re-serialises it before checking the signature.

    Key orders: order ``type, orders[a, b, p, s, r, t, c?], grouping, builder?`` with ``t`` =
    ``{limit: {tif}}`` or ``{trigger: {isMarket, triggerPx, tpsl}}`` and builder ``{b, f}``;
    cancel ``type, cancels[a, o], f?``; cancelByCloid ``type, cancels[asset, cloid], f?``;
    scheduleCancel ``type, time?``; updateLeverage ``type, asset, isCross, leverage``; noop
    ``type``. ``p``, ``s`` and ``triggerPx`` are
    canonical numbers, cloids and the builder address lower-case; ``c``/``builder``/``time``
    are omitted when absent and ``f`` when false (the documentation fixes no position for a
    true ``f``: after ``cancels`` is the emulator's reading).
    """
    if isinstance(action, OrderAction):
        view: dict[str, Any] = {
            "type": "order",
            "orders": [_order_view(o) for o in action.orders],
            "grouping": (
                {"p": action.grouping.p}
                if isinstance(action.grouping, PriorityGrouping)
                else action.grouping
            ),
        }
        if action.builder is not None:
            view["builder"] = {"b": action.builder.b.lower(), "f": action.builder.f}
        return view
    if isinstance(action, CancelAction):
        view = {"type": "cancel", "cancels": [{"a": x.a, "o": x.o} for x in action.cancels]}
        if action.f:
            view["f"] = True
        return view
    if isinstance(action, CancelByCloidAction):
        view = {
            "type": "cancelByCloid",
            "cancels": [{"asset": x.asset, "cloid": x.cloid.lower()} for x in action.cancels],
        }
        if action.f:
            view["f"] = True
        return view
    if isinstance(action, ScheduleCancelAction):
        view = {"type": "scheduleCancel"}
        if action.time is not None:
            view["time"] = action.time
        return view
    if isinstance(action, UpdateLeverageAction):
        return {"type": "updateLeverage", "asset": action.asset, "isCross": action.isCross,
                "leverage": action.leverage}  # fmt: skip
    return {"type": "noop"}


def _order_view(order: OrderWire) -> dict[str, Any]:
    t: dict[str, Any]
    if order.t.limit is not None:
        t = {"limit": {"tif": order.t.limit.tif}}
    else:
        trigger = order.t.trigger
        assert trigger is not None  # parse_exchange checked exactly one kind
        t = {"trigger": {
            "isMarket": trigger.isMarket,
            "triggerPx": canonical_number(parse_number(trigger.triggerPx, "triggerPx")),
            "tpsl": trigger.tpsl,
        }}  # fmt: skip
    view: dict[str, Any] = {
        "a": order.a,
        "b": order.b,
        "p": canonical_number(parse_number(order.p, "p")),
        "s": canonical_number(parse_number(order.s, "s")),
        "r": order.r,
        "t": t,
    }
    if order.c is not None:
        view["c"] = order.c.lower()
    return view


# -- WebSocket requests ------------------------------------------------------------------------
class PostRequest(Struct):
    type: Literal["info", "action"]
    payload: dict[str, Any]


class WsRequest(Struct):
    """A client frame: ``subscribe``/``unsubscribe`` (``subscription``), ``ping``, or ``post``
    (``id`` and ``request``)."""

    method: Literal["subscribe", "unsubscribe", "ping", "post"]
    subscription: dict[str, Any] | None = None
    id: int | None = None
    request: PostRequest | None = None


_SUB_REQUIRED: dict[str, tuple[str, ...]] = {
    "l2Book": ("coin",),
    "bbo": ("coin",),
    "trades": ("coin",),
    "activeAssetCtx": ("coin",),
    "allMids": (),
    "orderUpdates": ("user",),
    "userFills": ("user",),
    "userEvents": ("user",),
    "userFundings": ("user",),
    "clearinghouseState": ("user",),
    "activeAssetData": ("user", "coin"),
}


def parse_ws(text: str) -> WsRequest:
    """A WebSocket request frame, or :class:`Undecodable` (the venue answers it on the
    ``error`` channel): subscriptions need a string ``type`` and, for the documented kinds,
    their string ``coin`` / ``user``; a post needs ``id`` and ``request``."""
    try:
        req = msgspec.json.decode(text, type=WsRequest)
    except msgspec.DecodeError as exc:
        raise Undecodable(str(exc)) from None
    if req.method in ("subscribe", "unsubscribe"):
        sub = req.subscription
        if sub is None or not isinstance(sub.get("type"), str):
            raise Undecodable("subscription.type")
        for name in _SUB_REQUIRED.get(sub["type"], ()):
            if not isinstance(sub.get(name), str):
                raise Undecodable(f"subscription.{name}")
    elif req.method == "post" and (req.id is None or req.request is None):
        raise Undecodable("post needs id and request")
    return req


# -- answers -----------------------------------------------------------------------------------
_ENCODER = msgspec.json.Encoder()


def encode(obj: Any) -> bytes:
    """JSON of an answer (plain dicts/lists/str/int/bool/None; numbers already strings)."""
    return _ENCODER.encode(obj)


def ok_body(kind: str, statuses: list[Any] | None = None) -> dict[str, Any]:
    """``{"status":"ok","response":{"type":kind[,"data":{"statuses":[...]}]}}``."""
    response: dict[str, Any] = {"type": kind}
    if statuses is not None:
        response["data"] = {"statuses": statuses}
    return {"status": "ok", "response": response}


def err_body(message: str) -> dict[str, Any]:
    """A whole-request failure: ``{"status":"err","response":message}`` (HTTP 200)."""
    return {"status": "err", "response": message}
