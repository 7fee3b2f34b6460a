"""KuCoin Futures error codes → unified venue errors (the table is data).

Answers are ``{"code": "...", "msg": "..."}``; ``"200000"`` is success. Business errors may
come with HTTP 200, gateway/auth errors with 4xx, rate limits with 429. Code ``100001`` is
both "invalid parameter" and, with ``msg`` ``error.getOrder.orderNotExist``, "no such order".
"""

from __future__ import annotations

from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueError,
)
from arbtrio.venues.kucoin.codecs import VENUE

CODES: dict[str, type[VenueError]] = {
    # gateway / authentication
    "400001": AuthenticationFailed,  # a KC-API-* header is missing
    "400002": AuthenticationFailed,  # KC-API-TIMESTAMP more than 5 s from server time
    "400003": AuthenticationFailed,  # KC-API-KEY does not exist
    "400004": AuthenticationFailed,  # invalid KC-API-PASSPHRASE
    "400005": AuthenticationFailed,  # invalid KC-API-SIGN
    "400006": AuthenticationFailed,  # IP not whitelisted
    "400007": AuthenticationFailed,  # insufficient permission
    "400008": AuthenticationFailed,  # key version not supported by this API
    "400009": AuthenticationFailed,  # invalid KC-API-KEY-VERSION
    "411100": AuthenticationFailed,  # user frozen
    # malformed requests
    "100001": BadRequest,  # invalid parameter (see ORDER_NOT_EXIST)
    "100003": BadRequest,  # contract invalid
    "300000": BadRequest,  # illegal parameter
    # orders refused
    "300001": OrderRejected,  # active order limit
    "300002": OrderRejected,  # placement/cancel suspended
    "300003": OrderRejected,  # balance not enough
    "300005": OrderRejected,  # risk limit exceeded
    "300006": OrderRejected,  # close price worse than bankruptcy
    "300009": OrderRejected,  # no position to close (reduce-only)
    "300018": OutcomeUnknown,  # clientOid repeated: an order with it exists (query it)
    "330005": OrderRejected,  # margin mode mismatch
    # rate limits
    "200002": RateLimited,  # per-endpoint limit (10 s block)
    "429000": RateLimited,  # weight pool exhausted
    "1015": RateLimited,  # Cloudflare IP limit (30 s block)
    # server
    "500000": OutcomeUnknown,
}

ORDER_NOT_EXIST = "orderNotExist"
DUPLICATE_MARK = "duplicate"  # clientOid already used, in other wording (the emulator's)
NOT_CANCELABLE = "100004"  # the order is already done: nothing to cancel
RATE_LIMIT_BLOCK_S = {"200002": 10.0, "1015": 30.0}


def error_for(
    code: str, msg: str, http_status: int, what: str, *, placing: bool,
    retry_after: float | None = None,
) -> VenueError:  # fmt: skip
    """The unified error for a non-success envelope answering ``what``."""
    text = f"{what}: {code} {msg}".rstrip()
    if code == "100001" and ORDER_NOT_EXIST in msg:
        return OrderNotFound(VENUE, text, code=code)
    cls = CODES.get(code)
    if placing and DUPLICATE_MARK in msg.lower():
        cls = OutcomeUnknown  # an order with this clientOid exists: query it, never re-send
    if cls is RateLimited or http_status == 429:
        wait = retry_after if retry_after is not None else RATE_LIMIT_BLOCK_S.get(code)
        return RateLimited(VENUE, text, code=code, retry_after=wait)
    if cls is None:
        if http_status >= 500:
            cls = OutcomeUnknown
        elif http_status in (401, 403):
            cls = AuthenticationFailed
        else:
            cls = OrderRejected if placing else BadRequest
    return cls(VENUE, text, code=code)
