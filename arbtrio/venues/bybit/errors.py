"""Bybit retCodes and HTTP statuses → the unified venue errors (a table, as data).

Choices worth knowing (see specs/011-bybit.md):

* ``10002`` (timestamp outside recv_window) is an authentication failure: nothing was done,
  and retrying with a stretched window would send a stale order (spec 011).
* ``110072`` (duplicate orderLinkId) means an order with that id *exists*: it is reported as
  ``OutcomeUnknown`` so the caller queries it, never as a rejection.
* ``10016`` (server error) on an order call is ``OutcomeUnknown``; on a read, ``Disconnected``.
* ``10001`` (parameter error) is ``BadRequest``: our request broke a venue rule.
* Any other non-zero code on an order call means the order was refused: ``OrderRejected``
  with the venue's message; on other calls, ``BadRequest``.
"""

from __future__ import annotations

from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    Disconnected,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueError,
)

VENUE = "bybit"

AUTH = frozenset({10002, 10003, 10004, 10005, 10007, 10009, 10010, 33004})
RATE = {10006: 1.0, 10018: 1.0, 10403: 1.0, 10429: 1.0, 20003: 1.0, 110079: 0.2}
NOT_FOUND = frozenset({110001, 110008, 110010})
BAD_REQUEST = frozenset({10001, 10017, 10029, 10014})
SERVER = frozenset({10016, 10019})
DUPLICATE_ID = frozenset({110072})
REJECT_REASONS = {
    110003: "price outside the allowed range",
    110004: "wallet balance insufficient",
    110006: "assets cannot cover position margin",
    110007: "available balance insufficient",
    110012: "insufficient available balance",
    110017: "quantity truncated to zero or reduce-only rule not satisfied",
    110020: "too many active orders",
    110045: "wallet balance insufficient",
    110094: "order notional below the minimum",
    30208: "price above the maximum buy price",
    30209: "price below the minimum sell price",
}


def error_for(
    code: int, message: str, *, mutating: bool, reset_in: float | None = None
) -> VenueError:
    """The error for a non-zero ``retCode``. ``mutating``: an order create/cancel call."""
    c = str(code)
    if code in AUTH:
        return AuthenticationFailed(VENUE, message, code=c)
    if code in RATE:
        retry = reset_in if reset_in is not None and reset_in > 0 else RATE[code]
        return RateLimited(VENUE, message, code=c, retry_after=retry)
    if code in NOT_FOUND:
        return OrderNotFound(VENUE, message, code=c)
    if code in DUPLICATE_ID:
        return OutcomeUnknown(VENUE, f"client order id already used, query it: {message}", code=c)
    if code in SERVER:
        return (OutcomeUnknown if mutating else Disconnected)(VENUE, message, code=c)
    if code in BAD_REQUEST:
        return BadRequest(VENUE, message, code=c)
    if mutating:
        reason = REJECT_REASONS.get(code)
        return OrderRejected(VENUE, f"{reason}: {message}" if reason else message, code=c)
    return BadRequest(VENUE, message, code=c)


def http_error_for(status: int, text: str, *, mutating: bool) -> VenueError:
    """The error for a non-200 HTTP status whose body is not a Bybit envelope."""
    message = f"HTTP {status}: {text[:200]}"
    if status == 401:
        return AuthenticationFailed(VENUE, message, code=str(status))
    if status == 403:  # IP ban ("access too frequent"): lifts after at least 10 minutes
        return RateLimited(VENUE, message, code=str(status), retry_after=600.0)
    if status == 429:
        return RateLimited(VENUE, message, code=str(status), retry_after=1.0)
    if status >= 500:
        return (OutcomeUnknown if mutating else Disconnected)(VENUE, message, code=str(status))
    return BadRequest(VENUE, message, code=str(status))
