"""KuCoin Futures as its documentation fixes it, read for the emulator (server side).

This module holds the venue's facts, each once: the REST endpoint table (path, weight pool,
weight), the answer envelope and error codes, the WebSocket topics, error frames and
limits, and the shapes and rules of what a client sends — the ``POST /api/v1/orders`` body
and the WebSocket commands — with the checks KuCoin makes before an order reaches matching.
It is written from the venue documentation (summarised in ``specs/014-kucoin.md``), not
from :mod:`arbtrio.venues.kucoin`: nothing here imports the client, so a misreading in the
client's codecs shows up as a refusal here instead of being mirrored.

It also holds the emulator's margin model (:func:`liquidation_price`, with the
maintenance-margin rate :data:`MAINT_MARGIN_RATE`): the venue documents the rates it
applies, not its formula.

Refusals are :class:`KucoinError` (the ``{"code", "msg"}`` answer and its HTTP status);
:mod:`arbtrio.emulators.kucoin_gateway` checks signatures and weight pools,
:mod:`arbtrio.emulators.kucoin` serves the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
import msgspec

from arbtrio.core.instruments import Instrument
from arbtrio.core.types import Side

__all__ = [
    "DEFAULT_CROSS_LEVERAGE",
    "FUTURES",
    "MAINT_MARGIN_RATE",
    "MAX_SESSIONS",
    "MAX_TOPICS_PER_REQUEST",
    "MAX_TOPICS_PER_SESSION",
    "MODE_SWITCH_REFUSED",
    "OK",
    "PLACE_ROUTE",
    "PRIVATE_TOPICS",
    "PUBLIC",
    "ROUTES",
    "TOPIC_LEVEL2",
    "VENUE",
    "Code",
    "KucoinError",
    "OrderBody",
    "Route",
    "ValidOrder",
    "WsCommand",
    "WsError",
    "check_leverage",
    "decode_cross_leverage",
    "decode_margin_mode",
    "decode_order",
    "decode_ws_command",
    "find_route",
    "invalid",
    "liquidation_price",
    "lot_step",
    "validate_order",
]

VENUE = "kucoin"
OK = "200000"  # the success code of the {"code", "data"} envelope


class Code:
    """The REST error codes the emulator answers with (the venue's ``code`` strings)."""

    # gateway: HTTP 401 (a header is missing or wrong)
    MISSING_HEADER = "400001"  # a KC-API-* header is missing
    BAD_TIMESTAMP = "400002"  # KC-API-TIMESTAMP more than 5 s from server time
    NO_SUCH_KEY = "400003"  # KC-API-KEY does not exist
    BAD_PASSPHRASE = "400004"
    BAD_SIGNATURE = "400005"
    BAD_KEY_VERSION = "400009"
    # futures business errors: HTTP 200
    INVALID_PARAMETER = "100001"  # also "no such order" with msg error.getOrder.orderNotExist
    CONTRACT_INVALID = "100003"
    NOT_CANCELABLE = "100004"
    ILLEGAL_PARAMETER = "300000"  # also a margin-mode switch the venue refuses (see below)
    BALANCE_NOT_ENOUGH = "300003"
    NO_POSITION = "300009"  # reduce-only with nothing to reduce
    MARGIN_MODE_MISMATCH = "330005"
    # rate and server
    TOO_MANY_REQUESTS = "429000"  # a weight pool is exhausted: HTTP 429
    INTERNAL = "500000"
    NO_ROUTE = "404000"  # not a KuCoin Futures endpoint (the emulator's wording)


ORDER_NOT_EXIST = "error.getOrder.orderNotExist"


class KucoinError(Exception):
    """A refusal: ``{"code": code, "msg": msg}`` with ``http_status`` (business errors are
    HTTP 200, gateway errors 401, rate limits 429) and any extra response headers."""

    def __init__(
        self, code: str, msg: str, http_status: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.headers = dict(headers or {})

    def answer(self) -> tuple[int, dict[str, Any], dict[str, str]]:
        """``(http_status, envelope, headers)``."""
        return (self.http_status, {"code": self.code, "msg": self.msg}, self.headers)


def invalid(msg: str) -> KucoinError:
    return KucoinError(Code.INVALID_PARAMETER, msg)


# -- REST endpoints -------------------------------------------------------------------------
PUBLIC = "public"  # unsigned calls: the Public pool (per IP)
FUTURES = "futures"  # signed calls: the Futures pool (per account)


@attrs.frozen
class Route:
    """One endpoint: ``method`` and ``path`` (a ``{name}`` segment matches any one non-empty
    segment), the emulator's handler name, the weight pool it is charged to (a ``futures``
    call is signed) and its weight. ``documented`` is False where the documentation gives
    no weight and the emulator charges a stand-in."""

    method: str
    path: str
    handler: str
    pool: str
    weight: int
    documented: bool = True

    @property
    def signed(self) -> bool:
        return self.pool == FUTURES

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters when ``method path`` is this endpoint, else None."""
        if method != self.method:
            return None
        want, got = self.path.split("/"), path.split("/")
        if len(want) != len(got):
            return None
        params: dict[str, str] = {}
        for w, g in zip(want, got, strict=True):
            if w.startswith("{"):
                if not g:
                    return None
                params[w[1:-1]] = g
            elif w != g:
                return None
        return params


# Exact paths come before templates that would also match them (first match wins).
ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/v1/bullet-public", "bullet_public", PUBLIC, 10),
    Route("GET", "/api/v1/timestamp", "timestamp", PUBLIC, 2, documented=False),
    Route("GET", "/api/v1/contracts/active", "contracts", PUBLIC, 3),
    Route("GET", "/api/v1/contracts/{symbol}", "contract", PUBLIC, 3, documented=False),
    Route("GET", "/api/v1/level2/snapshot", "snapshot", PUBLIC, 3),
    Route("GET", "/api/v1/funding-rate/{symbol}/current", "funding", PUBLIC, 2),
    Route("POST", "/api/v1/bullet-private", "bullet_private", FUTURES, 10),
    Route("POST", "/api/v1/orders", "place", FUTURES, 2),
    Route("GET", "/api/v1/orders", "order_list", FUTURES, 2),
    Route("GET", "/api/v1/orders/byClientOid", "order_by_client_oid", FUTURES, 5),
    Route("GET", "/api/v1/orders/{orderId}", "order_by_id", FUTURES, 5),
    Route("DELETE", "/api/v1/orders/client-order/{clientOid}", "cancel_by_oid", FUTURES, 1),
    Route("DELETE", "/api/v1/orders/{orderId}", "cancel_by_id", FUTURES, 1),
    Route("DELETE", "/api/v3/orders", "cancel_all", FUTURES, 10),
    Route("GET", "/api/v1/fills", "fills", FUTURES, 5),
    Route("GET", "/api/v1/position", "position", FUTURES, 2),
    Route("GET", "/api/v1/positions", "positions", FUTURES, 2),
    Route("GET", "/api/v1/account-overview", "account_overview", FUTURES, 5),
    Route("GET", "/api/v1/trade-fees", "trade_fees", FUTURES, 3),
    Route("GET", "/api/v2/position/getMarginMode", "get_margin_mode", FUTURES, 2),
    Route("POST", "/api/v2/position/changeMarginMode", "change_margin_mode", FUTURES, 2),
    Route("GET", "/api/v2/getCrossUserLeverage", "get_cross_leverage", FUTURES, 2),
    Route("POST", "/api/v2/changeCrossUserLeverage", "change_cross_leverage", FUTURES, 2),
)
PLACE_ROUTE = "place"


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The endpoint ``method path`` names and its path parameters; KucoinError (HTTP 404)
    when it is none the emulator serves."""
    for route in ROUTES:
        params = route.match(method, path)
        if params is not None:
            return route, params
    raise KucoinError(Code.NO_ROUTE, f"interface not exists: {method} {path}", 404)


# -- orders -----------------------------------------------------------------------------------
class OrderBody(msgspec.Struct):
    """``POST /api/v1/orders`` as the venue documents it (unknown fields are ignored).

    ``clientOid`` and ``symbol`` are required; ``type`` defaults to ``limit``,
    ``timeInForce`` to ``GTC``, ``marginMode`` to ``ISOLATED``. The size is one of ``size``
    (integer lots), ``qty`` (base units, a multiple of the multiplier) or ``valueQty``
    (USDT); ``price`` is a string. ``side`` may be omitted only with ``closeOrder``.
    """

    clientOid: str
    symbol: str
    side: str = ""
    type: str = "limit"
    price: str | None = None
    size: int | None = None
    qty: str | None = None
    valueQty: str | None = None
    leverage: int | str | None = None
    timeInForce: str = "GTC"
    reduceOnly: bool = False
    closeOrder: bool = False
    marginMode: str = "ISOLATED"
    postOnly: bool = False
    hidden: bool = False
    iceberg: bool = False
    visibleSize: int | str | None = None
    stp: str | None = None
    stop: str | None = None
    stopPrice: str | None = None
    stopPriceType: str | None = None


_order_decoder = msgspec.json.Decoder(OrderBody)


def decode_order(body: bytes) -> OrderBody:
    """The order body, or KucoinError ``100001`` naming what is wrong with it."""
    try:
        return _order_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise invalid(f"Parameter error: {exc}") from None


@attrs.frozen
class ValidOrder:
    """An order that passed the venue's checks: a limit IOC of ``lots`` at ``price``."""

    client_oid: str
    symbol: str
    side: Side
    lots: int
    price: Decimal
    reduce_only: bool
    margin_mode: str
    leverage: Decimal | None

    @property
    def side_text(self) -> str:
        return "buy" if self.side is Side.BUY else "sell"


_OID_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-")
MAX_CLIENT_OID = 40
MAX_ORDER_LOTS = 1_000_000  # the contracts' maxOrderQty
MAX_PRICE = Decimal(1_000_000)  # the contracts' maxPrice
MARGIN_MODES = ("ISOLATED", "CROSS")


def _number(text: str, field: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise invalid(f"Parameter {field} invalid: {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise invalid(f"Parameter {field} must be a positive number: {text!r}")
    return value


def validate_order(inst: Instrument, order: OrderBody, margin_mode: str) -> ValidOrder:
    """KuCoin's checks of an order for ``inst`` on an account whose symbols are in
    ``margin_mode``; KucoinError with the venue's code otherwise.

    The venue's rules: ``clientOid`` 1..40 of ``[0-9A-Za-z_-]``; ``side`` buy|sell;
    ``type`` limit|market; ``timeInForce`` GTC|IOC; exactly one of size/qty/valueQty, the
    size a positive whole multiple of ``lotSize`` lots (at most ``maxOrderQty``); a limit
    price is a string on the tick (at most ``maxPrice``); ``leverage`` is required to open
    an isolated position; ``marginMode`` ISOLATED|CROSS and equal to the symbol's mode
    (``330005`` otherwise). The emulator's own limit: only limit IOC orders without
    ``closeOrder``, stop, post-only, hidden or iceberg options, sized by ``size`` or
    ``qty`` (the simulated market keeps no resting orders).
    """
    oid = order.clientOid
    if not 0 < len(oid) <= MAX_CLIENT_OID or not set(oid) <= _OID_CHARS:
        raise invalid("Parameter clientOid must be 1 to 40 characters of [0-9A-Za-z_-]")
    if order.closeOrder:
        raise invalid("the emulator does not support closeOrder")
    if order.side not in ("buy", "sell"):
        raise invalid(f"Parameter side invalid: {order.side!r}")
    if order.type not in ("limit", "market"):
        raise invalid(f"Parameter type invalid: {order.type!r}")
    if order.timeInForce not in ("GTC", "IOC"):
        raise invalid(f"Parameter timeInForce invalid: {order.timeInForce!r}")
    if order.marginMode not in MARGIN_MODES:
        raise invalid(f"Parameter marginMode invalid: {order.marginMode!r}")
    if order.type != "limit" or order.timeInForce != "IOC":
        raise invalid("the emulator supports limit IOC orders only")
    if order.stop or order.stopPrice or order.postOnly or order.hidden or order.iceberg:
        raise invalid("the emulator does not support stop, postOnly, hidden or iceberg orders")
    lots = _order_lots(inst, order)
    if order.price is None:
        raise invalid("Parameter price is required for a limit order")
    price = _number(order.price, "price")
    tick = inst.tick_size
    if price % tick != 0:
        raise invalid(f"Price {order.price} must be a multiple of tickSize {tick}")
    if price > MAX_PRICE:
        raise invalid(f"Price {order.price} is above maxPrice {MAX_PRICE}")
    leverage = None
    if order.leverage is not None:
        leverage = _number(str(order.leverage), "leverage")
        if inst.max_leverage is not None and leverage > inst.max_leverage:
            raise invalid(f"Leverage {order.leverage} is above maxLeverage {inst.max_leverage}")
    elif not order.reduceOnly and order.marginMode == "ISOLATED":
        raise invalid("Parameter leverage is required to open an isolated position")
    if order.marginMode != margin_mode:
        raise KucoinError(
            Code.MARGIN_MODE_MISMATCH,
            f"Margin mode {order.marginMode} does not match the symbol's {margin_mode}",
        )
    return ValidOrder(
        client_oid=oid,
        symbol=inst.symbol,
        side=Side.BUY if order.side == "buy" else Side.SELL,
        lots=lots,
        price=price,
        reduce_only=order.reduceOnly,
        margin_mode=order.marginMode,
        leverage=leverage,
    )


def lot_step(inst: Instrument) -> Decimal:
    """The contract's ``lotSize``, in lots."""
    return inst.lot_size / inst.contract_multiplier


def _order_lots(inst: Instrument, order: OrderBody) -> int:
    given = [f for f in ("size", "qty", "valueQty") if getattr(order, f) is not None]
    if len(given) != 1:
        raise invalid("Give exactly one of size, qty and valueQty")
    if order.valueQty is not None:
        raise invalid("the emulator does not support valueQty")
    if order.qty is not None:
        lots = _number(order.qty, "qty") / inst.contract_multiplier
        if lots != lots.to_integral_value():
            raise invalid(f"qty {order.qty} is not a multiple of the multiplier")
    else:
        assert order.size is not None
        lots = Decimal(order.size)
    if lots <= 0 or lots % lot_step(inst) != 0:
        raise invalid(f"Order size must be a positive multiple of lotSize {lot_step(inst)}")
    if lots > MAX_ORDER_LOTS:
        raise invalid(f"Order size {lots} is above maxOrderQty {MAX_ORDER_LOTS}")
    return int(lots)


# -- margin mode and leverage -------------------------------------------------------------------
class MarginModeBody(msgspec.Struct):
    """``POST /api/v2/position/changeMarginMode``: ``{"symbol", "marginMode"}``."""

    symbol: str
    marginMode: str


class CrossLeverageBody(msgspec.Struct):
    """``POST /api/v2/changeCrossUserLeverage``: ``{"symbol", "leverage"}``, the leverage a
    string (``"10"``)."""

    symbol: str
    leverage: str


_margin_mode_decoder = msgspec.json.Decoder(MarginModeBody)
_cross_leverage_decoder = msgspec.json.Decoder(CrossLeverageBody)
DEFAULT_CROSS_LEVERAGE = 5  # an account's cross leverage of a symbol it never set
# Refused switch: the documentation says a symbol's margin mode can be switched only with no
# position and no active order under it, and gives no code for the refusal: the emulator
# answers 300000 ("request parameter illegal").
MODE_SWITCH_REFUSED = (
    "There are positions or active orders under the symbol: margin mode cannot be switched"
)


def decode_margin_mode(body: bytes) -> MarginModeBody:
    """The switch request, or KucoinError ``100001`` (not the documented object, or a
    mode other than ISOLATED/CROSS)."""
    try:
        request = _margin_mode_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise invalid(f"Parameter error: {exc}") from None
    if request.marginMode not in MARGIN_MODES:
        raise invalid(f"Parameter marginMode invalid: {request.marginMode!r}")
    return request


def decode_cross_leverage(body: bytes) -> tuple[str, int]:
    """The symbol and the leverage of a cross-leverage change, or KucoinError ``100001``:
    the leverage must be a string of a whole number of at least 1 (its maximum is the
    contract's: :func:`check_leverage`)."""
    try:
        request = _cross_leverage_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise invalid(f"Parameter error: {exc}") from None
    text = request.leverage
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise invalid(f"Parameter leverage invalid: {text!r}")
    return request.symbol, int(text)


def check_leverage(leverage: int, max_leverage: int) -> int:
    """``leverage``, or KucoinError ``100001`` when it is above the contract's maximum."""
    if leverage > max_leverage:
        raise invalid(f"Leverage {leverage} is above maxLeverage {max_leverage}")
    return leverage


# The maintenance-margin rate of every contract (the figure in the documentation's position
# examples, ``maintMarginReq: 0.005``); the emulator has no risk-limit tiers.
MAINT_MARGIN_RATE = Decimal("0.005")


def liquidation_price(entry: Decimal, qty: Decimal, collateral: Decimal, rate: Decimal) -> Decimal:
    """Where a position of ``qty`` (signed base units) entered at ``entry`` is liquidated:
    the price at which ``collateral`` (what stands behind it) less the position's loss falls
    to ``rate`` × its entry value, i.e. ``entry × (1 + rate) − collateral / |qty|`` for a
    long and ``entry × (1 − rate) + collateral / |qty|`` for a short. For isolated margin
    the collateral is the position's margin ``|qty| × entry / leverage``, which gives
    ``entry × (1 ∓ 1/leverage ± rate)``; for cross margin it is the account's free balance.
    0 (the venue's "none") when flat, or for a long its collateral carries to a price of 0."""
    if qty == 0:
        return Decimal(0)
    cushion = collateral / abs(qty)
    if qty > 0:
        return max(Decimal(0), entry * (1 + rate) - cushion)
    return entry * (1 - rate) + cushion


# -- WebSocket ---------------------------------------------------------------------------------
TOPIC_LEVEL2 = "/contractMarket/level2:"  # + one symbol or a comma-separated list
PRIVATE_TOPICS = frozenset(
    {"/contractMarket/tradeOrders", "/contract/positionAll", "/contractAccount/wallet"}
)
MAX_TOPICS_PER_REQUEST = 100
MAX_TOPICS_PER_SESSION = 300
MAX_SESSIONS = 50
TOKEN_TTL_S = 24 * 3600.0
PING_INTERVAL_MS = 18_000
PING_TIMEOUT_MS = 10_000


class WsError:
    """The ``{"type": "error", "code", "data"}`` frames the emulator sends (code, text)."""

    PING_TIMEOUT = (400, "ping timeout")
    TOPIC_INVALID = (400, "topic invalid")
    TOKEN_INVALID = (401, "token invalid")
    TOKEN_EXPIRED = (401, "token is expired")
    LOGIN_REQUIRED = (403, "login required")
    TOPIC_NOT_EXIST = (404, "topic not exist")
    COMMAND_INVALID = (415, "command type invalid")
    TOO_MANY_TOPICS = (509, f"exceed max subscription count limitation of "
                            f"{MAX_TOPICS_PER_REQUEST} per time")  # fmt: skip
    TOO_MANY_SESSION_TOPICS = (509, f"exceed max subscription count limitation of "
                                    f"{MAX_TOPICS_PER_SESSION} per session")  # fmt: skip
    TOO_MANY_SESSIONS = (509, f"exceed max session count limitation of {MAX_SESSIONS}")


class WsCommand(msgspec.Struct):
    """A client frame: ``ping``, or ``subscribe``/``unsubscribe`` of ``topic`` (the ack is
    sent only when ``response`` is true; private topics need ``privateChannel``)."""

    type: str
    id: str | int = ""
    topic: str = ""
    privateChannel: bool = False
    response: bool = False


_ws_command_decoder = msgspec.json.Decoder(WsCommand)


def decode_ws_command(text: str) -> WsCommand | None:
    """The command in ``text``, or None when it is not one."""
    try:
        return _ws_command_decoder.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
