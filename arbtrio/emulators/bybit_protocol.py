"""Bybit V5 (category ``linear``) as the emulator reads the venue documentation.

One place per documented rule, written from Bybit's V5 docs (not from the client in
``arbtrio.venues.bybit``, which this module must never import):

* where things are: the stream paths, the linear book depths, the private topic names;
* the limits: the per-UID endpoint table (rolling 1 s), the IP pool (600 per 5 s, then an
  HTTP 403 ban of at least 10 minutes), the public ``args`` length bound;
* the error codes and messages (:class:`ApiError`, :class:`Code`);
* how requests are read: the WebSocket op frame, the order create and cancel bodies, the
  set-leverage and set-margin-mode bodies, the query string (:func:`decode_ws_op`,
  :func:`decode_create`, :func:`decode_cancel`, :func:`decode_set_leverage`,
  :func:`decode_set_margin_mode`, :func:`parse_query`);
* the margin rules: the unified account's margin modes, the lowest risk tier's maintenance
  margin rate, the isolated and cross liquidation prices (:func:`isolated_liq_price`,
  :func:`cross_liq_price`);
* the signature rules: the REST string-to-sign and the stream ``auth`` string, the HMAC,
  the timestamp window (:func:`rest_prehash`, :func:`ws_auth_prehash`, :func:`hmac_hex`,
  :func:`signature_matches`, :func:`check_timestamp`).
"""

from __future__ import annotations

import hashlib
import hmac
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import IntEnum
from typing import Any
from urllib.parse import parse_qsl

import msgspec

__all__ = [
    "BOOK_DEPTHS",
    "DEFAULT_RECV_WINDOW",
    "IP_BAN_S",
    "IP_LIMIT",
    "IP_WINDOW_S",
    "LEVEL1_REPUSH_S",
    "LINK_ID_MAX_LEN",
    "MARGIN_MODES",
    "MMR",
    "PRIVATE_PATH",
    "PRIVATE_TOPICS_ALL_IN_ONE",
    "PRIVATE_TOPICS_LINEAR",
    "PRIVATE_TOPIC_WALLET",
    "PUBLIC_ARGS_MAX_CHARS",
    "PUBLIC_PATH",
    "UID_LIMITS",
    "UID_WINDOW_S",
    "ApiError",
    "BadFrame",
    "CancelOrder",
    "Code",
    "CreateOrder",
    "SetLeverage",
    "SetMarginMode",
    "WsOp",
    "check_timestamp",
    "cross_liq_price",
    "decimal_string",
    "decode_cancel",
    "decode_create",
    "decode_set_leverage",
    "decode_set_margin_mode",
    "decode_ws_op",
    "hmac_hex",
    "isolated_liq_price",
    "json_object",
    "params_error",
    "parse_query",
    "plain",
    "rest_prehash",
    "signature_matches",
    "valid_link_id",
    "wire_text",
    "ws_auth_prehash",
]

# -- where ------------------------------------------------------------------------------------
PUBLIC_PATH = "/v5/public/linear"  # wss://stream.bybit.com/v5/public/linear
PRIVATE_PATH = "/v5/private"  # wss://stream.bybit.com/v5/private

# Linear ``orderbook.{depth}.{symbol}`` depths: 1 (10 ms), 50 (20 ms), 200 (100 ms),
# 1000 (200 ms). 500 was removed for futures on 2025-09-11.
BOOK_DEPTHS = (1, 50, 200, 1000)
LEVEL1_REPUSH_S = 3.0  # level 1: re-sent with the same ``u`` after 3 s without change
PUBLIC_ARGS_MAX_CHARS = 21_000  # total length of a public connection's ``args``

# Private topics: all-in-one and categorised forms cannot be mixed in one subscribe request;
# ``wallet`` has no categorised form.
PRIVATE_TOPICS_ALL_IN_ONE = frozenset({"order", "execution", "position"})
PRIVATE_TOPICS_LINEAR = frozenset({"order.linear", "execution.linear", "position.linear"})
PRIVATE_TOPIC_WALLET = "wallet"

# -- limits -----------------------------------------------------------------------------------
# Per endpoint, per UID, rolling 1 s window (linear defaults); breaching one answers 10006.
UID_WINDOW_S = 1.0
UID_LIMITS: dict[str, int] = {
    "/v5/order/create": 10,
    "/v5/order/cancel": 10,
    "/v5/order/realtime": 50,
    "/v5/order/history": 50,
    "/v5/execution/list": 50,
    "/v5/position/list": 50,
    "/v5/account/wallet-balance": 50,
    "/v5/account/fee-rate": 5,
    "/v5/account/info": 50,
    "/v5/position/set-leverage": 10,
    "/v5/account/set-margin-mode": 5,
}
# Per IP across all REST paths: 600 requests per 5 s window, else HTTP 403 "access too
# frequent" and a ban lasting at least 10 minutes.
IP_LIMIT = 600
IP_WINDOW_S = 5.0
IP_BAN_S = 600.0

DEFAULT_RECV_WINDOW = "5000"
LINK_ID_MAX_LEN = 36
_LINK_ID_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-")


# -- errors -----------------------------------------------------------------------------------
class Code(IntEnum):
    """The retCodes the emulator answers (Bybit's V5 error table)."""

    PARAMS = 10001  # param error, also qty out of range
    TIMESTAMP = 10002  # request time outside the recv_window
    API_KEY = 10003  # invalid API key
    SIGN = 10004  # signature error
    TOO_MANY_VISITS = 10006  # per-UID rate limit
    SERVER = 10016  # server error / service restarting
    ROUTE = 10017  # route not found
    ORDER_NOT_EXISTS = 110001
    PRICE_RANGE = 110003  # price outside the allowed range
    AB_NOT_ENOUGH = 110007  # available balance insufficient
    QTY_TRUNCATED = 110017  # orderQty truncated to zero; reduce-only with nothing to reduce
    LEVERAGE_NOT_MODIFIED = 110043  # "Set leverage has not been modified"
    PM_LEVERAGE = 110038  # "not allowed to change leverage due to portfolio margin mode"
    LINK_ID_DUPLICATE = 110072
    SET_MARGIN_MODE_FAILED = 110073  # (3400045 before January 2023) with result.reasons
    MIN_NOTIONAL = 110094  # order value below minNotionalValue


class ApiError(Exception):
    """A refusal: ``retCode``/``retMsg`` in the envelope, at HTTP ``http_status`` (200 for
    almost every error, as Bybit answers; 401 for a missing or unknown API key); ``result``
    is the envelope's ``result`` (``{}`` but for set-margin-mode's ``reasons``)."""

    def __init__(
        self, code: int, message: str, *, http_status: int = 200,
        result: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.code = int(code)
        self.message = message
        self.http_status = http_status
        self.result: dict[str, Any] = result or {}

    @property
    def reason(self) -> str:
        """``"<code> <message>"``, as the order record keeps it."""
        return f"{self.code} {self.message}"


def params_error(detail: str) -> ApiError:
    return ApiError(Code.PARAMS, f"params error: {detail}")


class BadFrame(Exception):
    """A WebSocket frame that is not a Bybit op (not JSON, not an object, wrong types)."""


# -- requests ---------------------------------------------------------------------------------
class WsOp(msgspec.Struct, frozen=True):
    """``{"req_id": "<optional>", "op": "...", "args": [...]}`` on either stream."""

    op: str
    req_id: str = ""
    args: list[Any] = msgspec.field(default_factory=list)


class CreateOrder(msgspec.Struct, frozen=True):
    """``POST /v5/order/create`` (linear). Required: category, symbol, side, orderType and
    qty (a string, base units); ``price`` for Limit (a string); ``timeInForce`` GTC by
    default; ``positionIdx`` 0 in one-way mode; ``reduceOnly`` a bool. Unknown fields are
    ignored."""

    category: str
    symbol: str
    side: str
    orderType: str
    qty: str
    price: str | None = None
    timeInForce: str = "GTC"
    orderLinkId: str = ""
    reduceOnly: bool = False
    closeOnTrigger: bool = False
    positionIdx: int = 0


class CancelOrder(msgspec.Struct, frozen=True):
    """``POST /v5/order/cancel``: ``{category, symbol, orderId | orderLinkId}`` (orderId wins
    when both are given)."""

    category: str
    symbol: str
    orderId: str = ""
    orderLinkId: str = ""


class SetLeverage(msgspec.Struct, frozen=True):
    """``POST /v5/position/set-leverage``: ``{category, symbol, buyLeverage, sellLeverage}``,
    the leverages strings in ``[1, maxLeverage]``; equal in one-way mode."""

    category: str
    symbol: str
    buyLeverage: str
    sellLeverage: str


class SetMarginMode(msgspec.Struct, frozen=True):
    """``POST /v5/account/set-margin-mode``: ``{setMarginMode}``, one of :data:`MARGIN_MODES`
    (the unified account's mode, account-wide)."""

    setMarginMode: str


def decode_ws_op(text: str) -> WsOp:
    """The op frame in ``text``; :class:`BadFrame` when it is not one."""
    try:
        return msgspec.json.decode(text, type=WsOp)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadFrame(str(exc)) from None


def json_object(body: bytes) -> dict[str, Any]:
    """A POST body as a JSON object; 10001 when it is not one."""
    try:
        obj = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise params_error("request body is not valid JSON") from None
    if not isinstance(obj, dict):
        raise params_error("request body must be a JSON object")
    return obj


def decode_create(obj: dict[str, Any]) -> CreateOrder:
    """The create body (already a JSON object); 10001 naming the offending field."""
    try:
        return msgspec.convert(obj, CreateOrder)
    except msgspec.ValidationError as exc:
        raise params_error(str(exc)) from None


def decode_cancel(obj: dict[str, Any]) -> CancelOrder:
    """The cancel body (already a JSON object); 10001 naming the offending field."""
    try:
        return msgspec.convert(obj, CancelOrder)
    except msgspec.ValidationError as exc:
        raise params_error(str(exc)) from None


def decode_set_leverage(obj: dict[str, Any]) -> SetLeverage:
    """The set-leverage body (already a JSON object); 10001 naming the offending field."""
    try:
        return msgspec.convert(obj, SetLeverage)
    except msgspec.ValidationError as exc:
        raise params_error(str(exc)) from None


def decode_set_margin_mode(obj: dict[str, Any]) -> SetMarginMode:
    """The set-margin-mode body (already a JSON object); 10001 naming the offending field."""
    try:
        return msgspec.convert(obj, SetMarginMode)
    except msgspec.ValidationError as exc:
        raise params_error(str(exc)) from None


def parse_query(query: str) -> dict[str, str]:
    """A GET query string as parameters (percent-decoded; the signature covers the raw
    string, see :func:`rest_prehash`)."""
    return dict(parse_qsl(query, keep_blank_values=True))


def valid_link_id(link_id: str) -> bool:
    """``orderLinkId``: 1 to 36 characters of ``[0-9A-Za-z_-]``."""
    return 0 < len(link_id) <= LINK_ID_MAX_LEN and set(link_id) <= _LINK_ID_CHARS


# -- signatures -------------------------------------------------------------------------------
def rest_prehash(timestamp: str, api_key: str, recv_window: str, payload: str) -> str:
    """The REST string to sign: ``timestamp + api_key + recv_window + payload``, where the
    payload is the query string exactly as in the URL (no ``?``) for GET and the JSON body
    exactly as sent for POST. The three header values are used verbatim."""
    return timestamp + api_key + recv_window + payload


def ws_auth_prehash(expires: int) -> str:
    """The stream ``auth`` string to sign: ``"GET/realtime" + str(expires_ms)``."""
    return f"GET/realtime{expires}"


def wire_text(raw: bytes) -> str:
    """Bytes as received (a body, a raw query string) as text that encodes back to exactly
    those bytes in :func:`hmac_hex` (UTF-8; stray bytes kept as surrogates)."""
    return raw.decode("utf-8", "surrogateescape")


def hmac_hex(secret: str, text: str) -> str:
    """Lowercase hex of HMAC-SHA256(secret, text) over the UTF-8 bytes: the signature of
    both rules."""
    message = text.encode("utf-8", "surrogateescape")
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_matches(secret: str, text: str, given: str) -> bool:
    """Whether ``given`` is exactly the signature of ``text`` (lowercase hex; compared in
    constant time, as bytes so that any header text compares without error)."""
    return hmac.compare_digest(hmac_hex(secret, text).encode(), given.encode("utf-8", "replace"))


def check_timestamp(timestamp: int, recv_window: int, server_ms: int) -> None:
    """The window ``server - recv_window <= timestamp < server + 1000`` (a client clock
    ahead by 1 s or more is refused whatever the recv_window); 10002 otherwise."""
    if not server_ms - recv_window <= timestamp < server_ms + 1000:
        raise ApiError(
            Code.TIMESTAMP,
            "invalid request, please check your server timestamp or recv_window param. "
            f"req_timestamp[{timestamp}],server_timestamp[{server_ms}],"
            f"recv_window[{recv_window}]",
        )


def decimal_string(text: str) -> Decimal | None:
    """A price or size string as the venue writes them (digits, optionally a fraction: no
    sign, exponent, spaces or separators), or None when ``text`` is not one."""
    whole, dot, fraction = text.partition(".")
    if not (whole.isascii() and whole.isdigit()):
        return None
    if dot and not (fraction.isascii() and fraction.isdigit()):
        return None
    return Decimal(text)


# -- formatting -------------------------------------------------------------------------------
def plain(value: Decimal) -> str:
    """A decimal as the venue writes numbers in JSON strings: positional, never exponent."""
    return format(value, "f")


# -- margin -----------------------------------------------------------------------------------
# The unified account's margin modes ("Default is regular margin mode", i.e. cross).
MARGIN_MODES = ("ISOLATED_MARGIN", "REGULAR_MARGIN", "PORTFOLIO_MARGIN")
# The maintenance margin rate of the lowest risk tier (the risk-limit page's example:
# "maintenanceMargin": "0.5" per cent at "maxLeverage": "100.00"), used for every symbol.
MMR = Decimal("0.005")


def isolated_liq_price(entry: Decimal, qty: Decimal, leverage: Decimal, tick: Decimal) -> Decimal:
    """An isolated position's liquidation price: ``entry × (1 − 1/leverage + MMR)`` long,
    ``entry × (1 + 1/leverage − MMR)`` short (initial and maintenance margin both valued at
    the entry, no margin added), rounded to the tick towards the entry."""
    if qty > 0:
        return _towards(entry * (1 - 1 / leverage + MMR), tick, ROUND_CEILING)
    return _towards(entry * (1 + 1 / leverage - MMR), tick, ROUND_FLOOR)


def cross_liq_price(
    entry: Decimal, qty: Decimal, equity_elsewhere: Decimal, tick: Decimal
) -> Decimal:
    """A cross position's (estimated) liquidation price: the price at which the account's
    equity, ``equity_elsewhere`` (the wallet balance plus the other positions' unrealised
    PnL less their maintenance margin, at their marks) plus this position's unrealised PnL,
    falls to this position's maintenance margin (``MMR × |qty| × price``), rounded to the
    tick towards the entry. May be <= 0 (a long the account can always carry)."""
    if qty > 0:
        price = (qty * entry - equity_elsewhere) / (qty * (1 - MMR))
        return _towards(price, tick, ROUND_CEILING)
    size = -qty
    price = (equity_elsewhere + size * entry) / (size * (1 + MMR))
    return _towards(price, tick, ROUND_FLOOR)


def _towards(price: Decimal, tick: Decimal, rounding: str) -> Decimal:
    return (price / tick).to_integral_value(rounding=rounding) * tick
