"""Bitget V2 mix (``USDT-FUTURES``) as the emulator knows it: paths, limits and error codes.

Every number and code the emulator answers with is defined here, once, from Bitget's V2
classic documentation (specs/012-bitget.md, "The emulator", says which facts are the
documentation's and which are the emulator's own choices). Nothing here comes from the
client package.
"""

from __future__ import annotations

from typing import Any

import attrs

# -- paths and names -----------------------------------------------------------------------
PUBLIC_PATH = "/v2/ws/public"
PRIVATE_PATH = "/v2/ws/private"
PRODUCT_TYPE = "USDT-FUTURES"  # REST productType / WS instType (lower case also accepted)
MARGIN_COIN = "USDT"  # "capitalised": exactly this string
LOGIN_PATH = "/user/verify"  # WS login string-to-sign: timestamp + "GET" + LOGIN_PATH

# -- public book channels ------------------------------------------------------------------
FULL_DEPTH = 400  # `books` is the symbol's full depth ("such as 400 levels")
BOOK_CHANNELS: dict[str, int] = {"books": FULL_DEPTH, "books1": 1, "books5": 5, "books15": 15}
INCREMENTAL_CHANNEL = "books"  # snapshot then updates; the others push a snapshot each time
CHECKSUM_LEVELS = 25  # the checksum covers the best 25 bids and 25 asks
DELETED_SIZE = "0"  # an update level with size "0" deletes the price

# -- private channels ----------------------------------------------------------------------
ACCOUNT_CHANNEL = "account"  # arg {"coin": "default"}: only "default" is supported
DEFAULT_SCOPE = "default"
SYMBOL_SCOPED_CHANNELS = frozenset({"orders", "fill"})  # instId "default" or a symbol
PRIVATE_CHANNELS = frozenset({ACCOUNT_CHANNEL, "positions"}) | SYMBOL_SCOPED_CHANNELS

# -- windows and stream limits --------------------------------------------------------------
LOGIN_WINDOW_S = 30  # a login expires 30 s after its timestamp (seconds, as sent)
REST_WINDOW_MS = 30_000  # the docs give no REST number: the WS login's 30 s is used
WS_MAX_REQUEST_BYTES = 4096  # one subscribe request, all args included
WS_MAX_MSGS_PER_S = 10  # per connection, pings included; more disconnects
WS_MAX_SUBSCRIBE_PER_HOUR = 240  # subscription requests per connection
WS_MAX_CHANNELS = 1000  # per connection
WS_PING_TIMEOUT_S = 120.0  # the server disconnects after 2 minutes without a "ping"
WS_MAX_CONNECTIONS = 100  # per IP, open at once
WS_MAX_CONNECTS = 300  # connection requests per IP ...
WS_CONNECT_WINDOW_S = 300.0  # ... per 5 minutes

# -- REST rate limits ----------------------------------------------------------------------
IP_LIMIT_PER_MIN = 6000  # all requests of one IP per minute ...
IP_BLOCK_S = 300.0  # ... and, once exceeded, blocked for 5 minutes


@attrs.frozen
class Limit:
    """One endpoint's limit: ``per_s`` calls per second, counted per ``scope`` ("ip" or
    "uid"). UID-scoped endpoints are the private (signed) ones."""

    per_s: int
    scope: str

    @property
    def private(self) -> bool:
        return self.scope == "uid"


ENDPOINTS: dict[tuple[str, str], Limit] = {
    ("GET", "/api/v2/public/time"): Limit(20, "ip"),
    ("GET", "/api/v2/mix/market/contracts"): Limit(20, "ip"),
    ("GET", "/api/v2/mix/market/current-fund-rate"): Limit(20, "ip"),
    ("GET", "/api/v2/common/trade-rate"): Limit(10, "uid"),
    ("GET", "/api/v2/mix/account/accounts"): Limit(10, "uid"),
    ("GET", "/api/v2/mix/position/all-position"): Limit(5, "uid"),
    ("POST", "/api/v2/mix/order/place-order"): Limit(10, "uid"),
    ("POST", "/api/v2/mix/order/cancel-order"): Limit(10, "uid"),
    ("GET", "/api/v2/mix/order/detail"): Limit(10, "uid"),
    ("GET", "/api/v2/mix/order/orders-pending"): Limit(10, "uid"),
    ("GET", "/api/v2/mix/order/fills"): Limit(10, "uid"),  # the docs give none: 10/s
    ("GET", "/api/v2/mix/account/account"): Limit(10, "uid"),
    ("POST", "/api/v2/mix/account/set-leverage"): Limit(5, "uid"),
    ("POST", "/api/v2/mix/account/set-margin-mode"): Limit(5, "uid"),
}
"""Every REST endpoint the emulator serves, with its documented limit."""

# -- place-order fields ----------------------------------------------------------------------
SIDES = frozenset({"buy", "sell"})
MARGIN_MODES = frozenset({"crossed", "isolated"})
ORDER_TYPES = frozenset({"limit", "market"})
FORCES = frozenset({"gtc", "ioc", "fok", "post_only"})
TRADE_SIDES = frozenset({"open", "close"})
REDUCE_ONLY = {"YES": True, "NO": False}  # strings, upper case, in requests
STP_MODES = frozenset({"none", "cancel_taker", "cancel_maker", "cancel_both"})
CLIENT_OID_CHARS = frozenset(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-+_#"
)  # FAQ: [0-9a-zA-Z-+_#], length < 50
CLIENT_OID_MAX_LEN = 49


# -- margin -----------------------------------------------------------------------------------
DEFAULT_MARGIN_MODE = "crossed"  # a symbol never configured
DEFAULT_LEVERAGE = 20  # the docs' examples' leverage, for a symbol never configured
MIN_LEVERAGE = 1
MAX_LEVERAGE = 125  # a contract without its own maxLever (the docs' BTCUSDT first tier)
MAINTENANCE_MARGIN_RATE = "0.004"  # keepMarginRate of the docs' BTCUSDT first tier
NO_LIQUIDATION_PRICE = "0"  # "<= 0: no liquidation price at this time"


# -- errors ----------------------------------------------------------------------------------
class ApiError(Exception):
    """A REST error answer: ``{"code": code, "msg": message, "data": null}`` with HTTP
    ``status`` (400 unless said otherwise; 429 for rate limits). ``recorded``: the order
    record already has this placement (an ack-timeout answer)."""

    def __init__(self, code: str, message: str, status: int = 400, *, recorded: bool = False):
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.status = status
        self.recorded = recorded


@attrs.frozen
class RestCode:
    """One documented REST error: calling it with the message's fields gives the ApiError."""

    code: str
    text: str
    status: int = 400

    def __call__(self, **fields: Any) -> ApiError:
        return ApiError(self.code, self.text.format(**fields), self.status)


# auth / signing
KEY_EMPTY = RestCode("40001", "ACCESS_KEY cannot be empty")
SIGN_EMPTY = RestCode("40002", "ACCESS_SIGN cannot be empty")
TIMESTAMP_EMPTY = RestCode("40003", "ACCESS_TIMESTAMP cannot be empty")
TIMESTAMP_INVALID = RestCode("40005", "Invalid ACCESS_TIMESTAMP")
KEY_INVALID = RestCode("40006", "Invalid ACCESS_KEY")
TIMESTAMP_EXPIRED = RestCode("40008", "Request timestamp expired")
SIGN_INVALID = RestCode("40009", "sign signature error")
PASSPHRASE_EMPTY = RestCode("40011", "ACCESS_PASSPHRASE cannot be empty")
PASSPHRASE_INVALID = RestCode("40012", "apikey/password is incorrect")
# parameters
PARAM_INVALID = RestCode("400172", "Parameter verification failed: {detail}")
PRODUCT_TYPE_INVALID = RestCode("40020", "Parameter productType error: {value!r}")
SYMBOL_UNKNOWN = RestCode("40034", "Parameter {value!r} does not exist")
HEDGE_ORDER_ON_ONE_WAY = RestCode(
    "40774",
    "The order type for unilateral position must also be the unilateral position type.",
)
# margin settings
NO_CHANGE_IN_LEVERAGE = RestCode("40814", "No change in leverage")
LEVERAGE_OVER_MAX = RestCode("45045", "Exceeds the maximum possible leverage {maximum}")
MARGIN_MODE_LOCKED = RestCode(
    "45117", "Currently holding positions or orders, the margin mode cannot be adjusted"
)
# rate limits
TOO_MANY_REQUESTS = RestCode("429", "Too Many Requests", 429)
# orders
BALANCE_NOT_ENOUGH = RestCode("40754", "balance not enough")
SIZE_OVER_OPEN_MAX = RestCode("40762", "The order amount exceeds the balance ({reason})")
BELOW_MIN_AMOUNT = RestCode("45110", "less than the minimum amount {amount} USDT")
BELOW_MIN_QTY = RestCode("45111", "less than the minimum order quantity {detail}")
PRICE_STEP = RestCode("45115", "The price you enter should be a multiple of {step}")
CLIENT_OID_DUPLICATE = RestCode("45034", "Duplicate clientOid")
ORDER_NOT_FOUND = RestCode(
    "40109", "The data of the order cannot be found, please confirm the order number"
)
NO_ORDER_TO_CANCEL = RestCode("22001", "No order to cancel")
SYSTEM_BUSY = RestCode("45001", "Unknown error", 500)  # retryable (release window)
NOT_FOUND = RestCode("40404", "Request URL NOT FOUND", 404)  # not a documented code


# -- WebSocket error codes -----------------------------------------------------------------
WS_CHANNEL_UNKNOWN = "30001"  # channel doesn't exist
WS_ILLEGAL_REQUEST = "30002"
WS_INVALID_OP = "30003"
WS_LOGIN_REQUIRED = "30004"
WS_LOGIN_FAILED = "30005"
WS_TOO_MANY_REQUESTS = "30006"
WS_OVER_LIMIT = "30007"  # the connection is closed
WS_KEY_INVALID = "30011"
WS_PASSPHRASE_INVALID = "30012"
WS_TIMESTAMP_INVALID = "30013"
WS_TIMESTAMP_EXPIRED = "30014"
WS_SIGN_INVALID = "30015"
WS_PARAM_ERROR = "30016"
