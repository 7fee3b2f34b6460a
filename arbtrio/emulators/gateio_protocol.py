"""Gate.io API v4 (USDT perpetuals) as the emulator reads it: paths, channels, error labels,
rate limits and request parsing — written from the venue documentation, not from the client.

Everything here is the *server's* reading of a request: :func:`parse_order_create` and
:data:`ws_request_decoder` accept exactly what the documentation allows and refuse the rest
with the venue's label (REST) or WS error code, raised as :class:`GateError` /
:class:`GateWsError`. Signatures are checked in :mod:`arbtrio.emulators.gateio_auth`.

Facts used (Gate's APIv4 REST and futures WebSocket documentation):

* REST base path ``/api/v4``; success is a bare JSON value, an error is a non-2xx answer
  ``{"label": ..., "message": ...}``. The documented labels are :data:`LABEL_STATUS`' keys
  (the documentation gives labels, not status codes: the codes are the emulator's choice,
  except ``TOO_MANY_REQUESTS`` = 429).
* WS at ``/v4/ws/usdt``; requests ``{"time": int s, "channel", "event", "payload": [str],
  "auth"?, "id"?}``; errors ``{"code", "message"}`` with codes 1 (invalid argument
  struct), 2 (invalid argument), 3 (service error), 4 (authentication failed).
* Orders: ``contract``; ``size`` signed contracts (+ buy, − sell); ``price`` a string
  (``"0"`` + ``ioc`` is a market order); ``tif`` ``gtc`` (default) | ``ioc`` | ``poc`` |
  ``fok``; ``text`` ``t-`` + 1..28 bytes of ``[0-9A-Za-z_.-]``; ``reduce_only``; ``close``
  (with size 0); ``iceberg`` (0 = off); ``auto_size`` (dual mode); ``stp_act`` (an error
  unless the account is in an STP group).
* Decimal sizes: with the request header ``X-Gate-Size-Decimal: 1`` sizes are accepted and
  returned as strings; without it sizes are integers and decimals are truncated toward zero.
* Rate limits (v4.75 table, :data:`RATE_LIMITS`): public 200 / 10 s per endpoint; order
  placement + amend 100 / s; cancellation 200 / s; other private 200 / 10 s per endpoint.
* Leverage: ``POST /futures/{settle}/positions/{contract}/leverage`` with the query
  parameters ``leverage`` (required; ``0`` is cross margin) and ``cross_leverage_limit``
  (the cross leverage, valid only when ``leverage`` is 0), no body, answered with the
  position. Margin mode: ``POST /futures/{settle}/positions/cross_mode`` with the body
  ``{"mode": "CROSS" | "ISOLATED", "contract"}`` (added in APIv4 v4.97.0), answered with the
  position. Positions report ``leverage`` (0 = cross), ``cross_leverage_limit``,
  ``leverage_max``, ``maintenance_rate``, ``liq_price``, ``mark_price`` (REST) and
  ``pos_margin_mode`` (``isolated`` / ``cross``, newer answers).
"""

from __future__ import annotations

import contextlib
import json
import re
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import attrs
import msgspec

VENUE = "gateio"
API_PREFIX = "/api/v4"
WS_PATH = "/v4/ws/usdt"

# -- WebSocket channels --------------------------------------------------------------------
BOOK_CHANNEL = "futures.order_book_update"
PING_CHANNEL = "futures.ping"
PONG_CHANNEL = "futures.pong"
BOOK_FREQUENCIES = ("20ms", "100ms")
BOOK_LEVELS = ("20", "50", "100")
FAST_FREQUENCY_LEVEL = ("20ms", "20")  # "20ms" is only allowed with level "20"
ALL_CONTRACTS = "!all"
# private channels → whether the payload is [uid, contract | "!all"] (True) or [uid] (False)
PRIVATE_CHANNELS: dict[str, bool] = {
    "futures.orders": True,
    "futures.usertrades": True,
    "futures.positions": True,
    "futures.balances": False,
    "futures.liquidates": True,
    "futures.auto_deleverages": True,
    "futures.position_closes": True,
    "futures.reduce_risk_limits": True,
    "futures.autoorders": True,
}
WS_EVENTS = ("subscribe", "unsubscribe")
WS_AUTH_METHOD = "api_key"

# WS error codes (Gate's futures WS table)
WS_INVALID_STRUCT = 1
WS_INVALID_ARGUMENT = 2
WS_SERVICE_ERROR = 3
WS_AUTH_FAILED = 4

# -- REST facts ----------------------------------------------------------------------------
SIGN_WINDOW_S = Decimal(60)  # |Timestamp − server time| ≤ 60 s
TEXT_LOOKUP_WINDOW_S = 60.0  # a ``text`` finds an order only while open or ≤ 60 s after
UNFILLED_RETENTION_S = 600.0  # orders cancelled with zero fill vanish after 10 minutes
ORDER_SIZE_MAX = 1_000_000  # the emulator's ``order_size_max`` (contracts)
# The emulator's maintenance rate for every contract (reported as ``maintenance_rate`` in
# contracts and positions; Gate's documented example is 0.005, its lowest risk-limit tier).
MAINTENANCE_RATE = Decimal("0.005")
DEFAULT_LEVERAGE = 10  # a contract nothing configured yet: cross, 10× (the emulator's choice)
CROSS_MODES = {"CROSS": "cross", "ISOLATED": "isolated"}  # cross_mode's ``mode`` → ours
ENABLE_DECIMAL = False  # no emulated contract allows fractional sizes yet
SIZE_DECIMAL_HEADER = "x-gate-size-decimal"
EXPTIME_HEADER = "x-gate-exptime"
CLIENT_REQUEST_ID_HEADER = "x-client-request-id"
TIFS = ("gtc", "ioc", "poc", "fok")
TEXT_PREFIX = "t-"
TEXT_MAX_BYTES = 28  # after the prefix
_TEXT_RE = re.compile(r"t-[0-9A-Za-z_.\-]{1,28}")

# Documented labels → the status the emulator answers with (the doc lists labels only).
LABEL_STATUS: dict[str, int] = {
    # authentication
    "INVALID_KEY": 401,
    "INVALID_SIGNATURE": 401,
    "MISSING_REQUIRED_HEADER": 401,
    "REQUEST_EXPIRED": 401,
    "IP_FORBIDDEN": 403,
    "READ_ONLY": 403,
    "FORBIDDEN": 403,
    "ACCOUNT_LOCKED": 403,
    # request
    "INVALID_PARAM_VALUE": 400,
    "INVALID_ARGUMENT": 400,
    "INVALID_REQUEST_BODY": 400,
    "MISSING_REQUIRED_PARAM": 400,
    # futures
    "USER_NOT_FOUND": 400,
    "CONTRACT_NOT_FOUND": 400,
    "INSUFFICIENT_AVAILABLE": 400,
    "RISK_LIMIT_EXCEEDED": 400,
    "LIQUIDATE_IMMEDIATELY": 400,
    "ORDER_NOT_FOUND": 404,
    "ORDER_FINISHED": 400,
    "TOO_MANY_ORDERS": 400,
    "POSITION_EMPTY": 400,
    "PRICE_TOO_DEVIATED": 400,
    "SIZE_TOO_LARGE": 400,
    "SIZE_TOO_SMALL": 400,
    "PRICE_OVER_LIQUIDATION": 400,
    "PRICE_OVER_BANKRUPT": 400,
    "ORDER_POC_IMMEDIATE": 400,
    "INCREASE_POSITION": 400,
    "CONTRACT_IN_DELISTING": 400,
    "POSITION_DUAL_MODE": 400,
    "REDUCE_EXCEEDED": 400,
    "ORDER_FOK": 400,
    "NO_CHANGE": 400,
    # rate and server
    "TOO_MANY_REQUESTS": 429,
    "INTERNAL": 500,
    "SERVER_ERROR": 500,
    "TOO_BUSY": 503,
    # the emulator's own (no documented label): a path it does not serve
    "NOT_FOUND": 404,
}

# Endpoint classes → (requests, window seconds). "public" and "private" count per endpoint;
# "place" (placement + amend) and "cancel" count every endpoint of the class together.
RATE_LIMITS: dict[str, tuple[int, float]] = {
    "public": (200, 10.0),
    "place": (100, 1.0),
    "cancel": (200, 1.0),
    "private": (200, 10.0),
}
SHARED_LIMIT_CLASSES = frozenset({"place", "cancel"})

Response = tuple[int, Any, dict[str, str]]


class GateError(Exception):
    """A REST refusal: HTTP ``status`` (default: the label's, :data:`LABEL_STATUS`) with
    body ``{"label", "message"}`` and extra response ``headers``."""

    def __init__(
        self,
        label: str,
        message: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{label}: {message}")
        self.label = label
        self.message = message
        self.status = LABEL_STATUS[label] if status is None else status
        self.headers = headers or {}

    def response(self) -> Response:
        return (self.status, {"label": self.label, "message": self.message}, dict(self.headers))


class GateWsError(Exception):
    """A WS refusal: ``{"error": {"code": code, "message": message}}`` on the request's
    channel and event."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"code {code}: {message}")
        self.code = code
        self.message = message


def ws_auth_message(label: str, message: str) -> str:
    """The message of a code-4 WS error: the REST error body as a JSON string (as Gate's
    own example ``{"label":"INVALID_KEY",...}`` shows)."""
    return json.dumps({"label": label, "message": message}, separators=(",", ":"))


# -- WebSocket requests --------------------------------------------------------------------
class WsAuth(msgspec.Struct):
    """``auth`` of a private subscribe: ``{"method": "api_key", "KEY", "SIGN"}``."""

    KEY: str
    SIGN: str
    method: str = ""


class WsRequest(msgspec.Struct):
    """One client WS request. ``time`` (integer seconds) is required (it is also what a
    private request signs); ``event`` is absent on ``futures.ping``."""

    time: int
    channel: str
    event: str = ""
    payload: list[str] = []
    auth: WsAuth | None = None
    id: int | None = None


ws_request_decoder = msgspec.json.Decoder(WsRequest)


def decode_ws_request(text: str) -> WsRequest:
    """The request in ``text``, or :class:`GateWsError` code 1 (invalid argument struct)."""
    try:
        return ws_request_decoder.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise GateWsError(WS_INVALID_STRUCT, f"invalid argument struct: {exc}") from None


@attrs.frozen
class BookSubscription:
    """A valid ``futures.order_book_update`` payload ``[contract, frequency, level?]``."""

    contract: str
    frequency: str
    level: str | None


def parse_book_payload(payload: list[str], event: str) -> BookSubscription:
    """Check a book (un)subscribe payload: ``[contract, "20ms"|"100ms", "20"|"50"|"100"]``
    (level optional; ``"20ms"`` only with ``"20"``). An unsubscribe needs the contract only
    (the documentation shows ``[contract, "100ms"]``)."""
    if not payload or not payload[0]:
        raise GateWsError(WS_INVALID_ARGUMENT, "payload must start with the contract")
    contract = payload[0]
    if event == "unsubscribe":
        return BookSubscription(contract, payload[1] if len(payload) > 1 else "", None)
    if len(payload) not in (2, 3):
        raise GateWsError(WS_INVALID_ARGUMENT, "payload is [contract, frequency, level?]")
    frequency = payload[1]
    level = payload[2] if len(payload) == 3 else None
    if frequency not in BOOK_FREQUENCIES:
        raise GateWsError(WS_INVALID_ARGUMENT, f"invalid frequency {frequency!r}")
    if level is not None and level not in BOOK_LEVELS:
        raise GateWsError(WS_INVALID_ARGUMENT, f"invalid level {level!r}")
    if frequency == FAST_FREQUENCY_LEVEL[0] and level != FAST_FREQUENCY_LEVEL[1]:
        raise GateWsError(WS_INVALID_ARGUMENT, '"20ms" is only allowed with level "20"')
    return BookSubscription(contract, frequency, level)


def parse_private_payload(channel: str, payload: list[str], user_id: int) -> str | None:
    """Check a private payload (``[uid, contract | "!all"]``, or ``[uid]`` for balances);
    returns the contract filter (None = all contracts)."""
    with_contract = PRIVATE_CHANNELS[channel]
    if len(payload) != (2 if with_contract else 1):
        shape = '[user_id, contract | "!all"]' if with_contract else "[user_id]"
        raise GateWsError(WS_INVALID_ARGUMENT, f"{channel} payload must be {shape}")
    if payload[0] != str(user_id):
        raise GateWsError(WS_INVALID_ARGUMENT, "invalid user id")
    if not with_contract or payload[1] == ALL_CONTRACTS:
        return None
    return payload[1]


# -- REST requests -------------------------------------------------------------------------
def query_params(query: str) -> dict[str, str]:
    """The query string's parameters (percent-decoded; a repeated key keeps the last)."""
    return dict(parse_qsl(query, keep_blank_values=True))


def int_param(params: dict[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    """``params[name]`` as a decimal integer ≥ ``minimum`` (``default`` when absent), or
    ``INVALID_PARAM_VALUE``."""
    raw = params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < minimum:
        raise GateError("INVALID_PARAM_VALUE", f"{name} must be an integer ≥ {minimum}")
    return int(raw)


def required_param(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise GateError("MISSING_REQUIRED_PARAM", f"{name} is required")
    return value


@attrs.frozen
class OrderCreate:
    """A ``POST /futures/usdt/orders`` body that passed every instrument-independent rule.

    ``size`` is signed contracts, non-zero (already truncated toward zero when the request
    had no ``X-Gate-Size-Decimal: 1``); ``price`` > 0 (a market order, price ``"0"``, is
    refused: the emulator executes limit IOC orders only)."""

    contract: str
    size: Decimal
    price: Decimal
    tif: str
    text: str
    reduce_only: bool


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_json_object(body: bytes) -> dict[str, Any]:
    """A JSON object with exact numbers (floats as Decimal), or INVALID_REQUEST_BODY."""
    try:
        value = json.loads(body, parse_float=Decimal, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GateError("INVALID_REQUEST_BODY", f"body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise GateError("INVALID_REQUEST_BODY", "body must be a JSON object")
    return value


def _decimal(value: Any) -> Decimal | None:
    """A JSON number or numeric string as a finite Decimal (bools and the rest: None)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        return None
    if isinstance(value, str) and (not value or value.strip() != value):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def parse_size(value: Any, *, decimal_sizes: bool) -> Decimal:
    """A signed size from a JSON number or string: exact with ``X-Gate-Size-Decimal: 1``,
    truncated toward zero without it."""
    size = _decimal(value)
    if size is None:
        raise GateError("INVALID_PARAM_VALUE", "size must be a number")
    if not decimal_sizes:
        size = size.to_integral_value(rounding=ROUND_DOWN)
    return size


def valid_text(text: str) -> bool:
    """Gate's client id rule: ``t-`` then 1..28 bytes of ``[0-9A-Za-z_.-]``."""
    return _TEXT_RE.fullmatch(text) is not None


def parse_order_create(body: bytes, *, decimal_sizes: bool) -> OrderCreate:
    """Read an order placement body, or the :class:`GateError` Gate answers it with.

    Refused beyond the documentation's own rules, as the emulator's limits (each with
    ``INVALID_PARAM_VALUE`` and a message saying so): ``tif`` other than ``ioc``, market
    orders, ``close``, ``iceberg``, ``auto_size``; a missing ``text`` (the simulated
    market keys orders by it). ``stp_act`` is refused as documented (no STP group).
    """
    fields = decode_json_object(body)
    contract = fields.get("contract")
    if contract is None or contract == "":
        raise GateError("MISSING_REQUIRED_PARAM", "contract is required")
    if not isinstance(contract, str):
        raise GateError("INVALID_PARAM_VALUE", "contract must be a string")
    if "size" not in fields:
        raise GateError("MISSING_REQUIRED_PARAM", "size is required")
    size = parse_size(fields["size"], decimal_sizes=decimal_sizes)
    raw_price = fields.get("price")
    if raw_price is None:
        raise GateError("MISSING_REQUIRED_PARAM", "price is required")
    price = _decimal(raw_price) if isinstance(raw_price, str) else None
    if price is None or price < 0:
        raise GateError("INVALID_PARAM_VALUE", "price must be a decimal string")
    tif = fields.get("tif", "gtc")
    if tif not in TIFS:
        raise GateError("INVALID_PARAM_VALUE", f"tif must be one of {', '.join(TIFS)}")
    text = fields.get("text")
    if text is None:
        raise GateError("INVALID_PARAM_VALUE", "the emulator requires text (a client id)")
    if not isinstance(text, str) or not valid_text(text):
        raise GateError(
            "INVALID_PARAM_VALUE",
            f"text must be {TEXT_PREFIX!r} + 1..{TEXT_MAX_BYTES} bytes of [0-9A-Za-z_.-]",
        )
    reduce_only = fields.get("reduce_only", False)
    if not isinstance(reduce_only, bool):
        raise GateError("INVALID_PARAM_VALUE", "reduce_only must be a boolean")
    if fields.get("stp_act") not in (None, ""):
        raise GateError("INVALID_PARAM_VALUE", "stp_act needs an STP group (the account has none)")
    if fields.get("close", False) is not False:
        raise GateError("INVALID_PARAM_VALUE", "close orders are not supported by the emulator")
    if fields.get("auto_size") not in (None, ""):
        raise GateError("INVALID_PARAM_VALUE", "auto_size (dual mode) is not supported")
    if _decimal(fields.get("iceberg", 0)) != 0:
        raise GateError("INVALID_PARAM_VALUE", "iceberg orders are not supported by the emulator")
    if size == 0:
        raise GateError("INVALID_PARAM_VALUE", "size must be non-zero (close is not supported)")
    if tif != "ioc":
        raise GateError("INVALID_PARAM_VALUE", f"the emulator executes tif=ioc only, not {tif}")
    if price == 0:
        raise GateError("INVALID_PARAM_VALUE", "market orders (price 0) are not supported")
    return OrderCreate(contract, size, price, tif, text, reduce_only)


@attrs.frozen
class OrderDraft:
    """What an order body says, read leniently (for the order record of a refused one):
    every field as found, ``""``/None when absent or unreadable."""

    contract: str = ""
    size: Decimal | None = None
    price: str = ""
    text: str = ""
    reduce_only: bool = False

    @classmethod
    def read(cls, body: bytes, *, decimal_sizes: bool) -> OrderDraft:
        try:
            fields = decode_json_object(body)
        except GateError:
            return cls()
        size = None
        with contextlib.suppress(GateError):
            size = parse_size(fields.get("size"), decimal_sizes=decimal_sizes)
        contract, price, text = (fields.get(k) for k in ("contract", "price", "text"))
        return cls(
            contract=contract if isinstance(contract, str) else "",
            size=size,
            price=price if isinstance(price, str) else "",
            text=text if isinstance(text, str) else "",
            reduce_only=fields.get("reduce_only") is True,
        )


# -- rate limits ---------------------------------------------------------------------------
@attrs.define
class _Window:
    started: float
    count: int = 0


class RateLimiter:
    """Fixed windows per :data:`RATE_LIMITS` class (and endpoint, for the per-endpoint
    classes): a window opens with the first request after the last one ended, and every
    request inside it counts (refused ones too). Clock: the caller's (market time)."""

    def __init__(self, limits: dict[str, tuple[int, float]] | None = None) -> None:
        self.limits = dict(RATE_LIMITS if limits is None else limits)
        self._windows: dict[tuple[str, str], _Window] = {}

    def admit(self, kind: str, endpoint: str, now: float) -> tuple[int, int, float]:
        """Count one request; ``(limit, remaining, reset_in_s)``. Raises nothing: the
        caller refuses when ``remaining < 0``."""
        limit, window_s = self.limits[kind]
        key = (kind, "" if kind in SHARED_LIMIT_CLASSES else endpoint)
        window = self._windows.get(key)
        if window is None or now >= window.started + window_s:
            window = self._windows[key] = _Window(started=now)
        window.count += 1
        return (limit, limit - window.count, window.started + window_s - now)


# -- leverage and margin mode --------------------------------------------------------------
@attrs.frozen
class LeverageRequest:
    """A valid ``.../positions/{contract}/leverage`` query: ``leverage`` 0 means cross, with
    ``cross_limit`` (None: keep the current cross leverage)."""

    leverage: int
    cross_limit: int | None


def _leverage_value(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise GateError(
            "INVALID_PARAM_VALUE", f"{name} must be a non-negative integer, got {raw!r}"
        )
    return int(raw)


def parse_leverage_query(params: dict[str, str], body: bytes) -> LeverageRequest:
    """Read a leverage update: ``leverage`` required, a non-negative integer (a positive
    one sets isolated margin at that leverage, 0 cross); ``cross_leverage_limit`` a
    positive integer, only with ``leverage`` 0; no body. Refusals are
    ``MISSING_REQUIRED_PARAM`` / ``INVALID_PARAM_VALUE``."""
    if body.strip():
        raise GateError("INVALID_REQUEST_BODY", "the leverage update takes query parameters only")
    leverage = _leverage_value(params, "leverage")
    if leverage is None:
        raise GateError("MISSING_REQUIRED_PARAM", "leverage is required")
    cross_limit = _leverage_value(params, "cross_leverage_limit")
    if cross_limit is not None and leverage != 0:
        raise GateError(
            "INVALID_PARAM_VALUE", "cross_leverage_limit is valid only when leverage is 0"
        )
    if cross_limit == 0:
        raise GateError("INVALID_PARAM_VALUE", "cross_leverage_limit must be positive")
    return LeverageRequest(leverage, cross_limit)


def parse_cross_mode(body: bytes) -> tuple[str, str]:
    """Read a margin-mode switch body ``{"mode": "CROSS" | "ISOLATED", "contract"}``:
    ``(contract, "cross" | "isolated")``."""
    fields = decode_json_object(body)
    contract = fields.get("contract")
    mode = fields.get("mode")
    if not contract or mode is None:
        raise GateError("MISSING_REQUIRED_PARAM", "mode and contract are required")
    if not isinstance(contract, str):
        raise GateError("INVALID_PARAM_VALUE", "contract must be a string")
    if mode not in CROSS_MODES:
        raise GateError("INVALID_PARAM_VALUE", f"mode must be CROSS or ISOLATED, got {mode!r}")
    return contract, CROSS_MODES[mode]
