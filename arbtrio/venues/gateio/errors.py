"""Gate.io error labels → unified venue errors (the table is data; program against labels).

Non-2xx answers carry ``{"label": "...", "message": "..."}`` (sometimes ``detail``). A label
not in the table is an order rejection when placing, a bad request otherwise; any 5xx
without a known label leaves the outcome unknown.
"""

from __future__ import annotations

import msgspec

from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueError,
)
from arbtrio.venues.gateio.codecs import VENUE, error_decoder

LABELS: dict[str, type[VenueError]] = {
    # authentication and permissions
    "INVALID_KEY": AuthenticationFailed,
    "INVALID_SIGNATURE": AuthenticationFailed,
    "MISSING_REQUIRED_HEADER": AuthenticationFailed,
    "REQUEST_EXPIRED": AuthenticationFailed,
    "IP_FORBIDDEN": AuthenticationFailed,
    "READ_ONLY": AuthenticationFailed,
    "FORBIDDEN": AuthenticationFailed,
    "ACCOUNT_LOCKED": AuthenticationFailed,
    "INVALID_CREDENTIALS": AuthenticationFailed,
    # malformed requests (a bug on our side)
    "INVALID_PARAM_VALUE": BadRequest,
    "INVALID_ARGUMENT": BadRequest,
    "INVALID_REQUEST_BODY": BadRequest,
    "MISSING_REQUIRED_PARAM": BadRequest,
    "BAD_REQUEST": BadRequest,
    "CONTRACT_NOT_FOUND": BadRequest,
    # orders the venue refused
    "USER_NOT_FOUND": OrderRejected,
    "INSUFFICIENT_AVAILABLE": OrderRejected,
    "RISK_LIMIT_EXCEEDED": OrderRejected,
    "LIQUIDATE_IMMEDIATELY": OrderRejected,
    "TOO_MANY_ORDERS": OrderRejected,
    "POSITION_EMPTY": OrderRejected,
    "PRICE_TOO_DEVIATED": OrderRejected,
    "SIZE_TOO_LARGE": OrderRejected,
    "SIZE_TOO_SMALL": OrderRejected,
    "PRICE_OVER_LIQUIDATION": OrderRejected,
    "PRICE_OVER_BANKRUPT": OrderRejected,
    "ORDER_POC_IMMEDIATE": OrderRejected,
    "INCREASE_POSITION": OrderRejected,
    "CONTRACT_IN_DELISTING": OrderRejected,
    "POSITION_DUAL_MODE": OrderRejected,
    "REDUCE_EXCEEDED": OrderRejected,
    "ORDER_FOK": OrderRejected,
    # lookups
    "ORDER_NOT_FOUND": OrderNotFound,
    # rate and server
    "TOO_MANY_REQUESTS": RateLimited,
    "INTERNAL": OutcomeUnknown,
    "SERVER_ERROR": OutcomeUnknown,
    "TOO_BUSY": OutcomeUnknown,
}

# A refusal because the client order id was already used (the emulator's simulator enforces
# unique ids; whether Gate does is unverified): the earlier order exists, so the outcome of
# *this* request is "query it" rather than a rejection.
DUPLICATE_MARK = "duplicate"

# A cancel of an order that already finished is not an error for us: it is terminal.
ORDER_FINISHED = "ORDER_FINISHED"


def label_of(body: bytes) -> tuple[str, str]:
    """``(label, message)`` of an error body; ``("", text)`` when it is not Gate-shaped."""
    try:
        err = error_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ("", body[:200].decode("utf-8", "replace"))
    return (err.label, err.message or err.detail)


def error_for(
    status: int, body: bytes, what: str, *, placing: bool, retry_after: float | None = None
) -> VenueError:
    """The unified error for a non-2xx answer to ``what`` (e.g. ``"POST /futures/usdt/orders"``)."""
    label, message = label_of(body)
    text = f"{what}: {label or f'HTTP {status}'}" + (f" {message}" if message else "")
    if status == 429 or label == "TOO_MANY_REQUESTS":
        return RateLimited(VENUE, text, code=label or "429", retry_after=retry_after)
    cls = LABELS.get(label)
    if placing and DUPLICATE_MARK in message.lower():
        cls = OutcomeUnknown  # an order with this text exists: query it, never re-send
    if cls is None:
        if status >= 500:
            cls = OutcomeUnknown
        elif status in (401, 403):
            cls = AuthenticationFailed
        else:
            cls = OrderRejected if placing else BadRequest
    return cls(VENUE, text, code=label or str(status))
