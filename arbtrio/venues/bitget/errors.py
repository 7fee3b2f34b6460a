"""Bitget error codes and HTTP statuses → the unified venue errors (a table, as data).

Codes were re-mapped by Bitget on 2025-10-14 (its contract error-code table), so every
error keeps the venue's ``msg``. Choices (specs/012-bitget.md):

* ``40008`` (request timestamp expired) and the other key/sign/passphrase codes are
  authentication failures, never retried automatically.
* ``45034``/``43118``/``25212`` (duplicate clientOid) mean an order with that id *exists*:
  ``OutcomeUnknown``, so the caller queries it.
* The release-window codes ``45001``, ``40725``, ``40808``, ``40015`` are transient: on an
  order call the outcome is unknown (query it), on a read the call failed (``Disconnected``).
* Any other code on an order call is a refusal (``OrderRejected``); on a read ``BadRequest``.
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

VENUE = "bitget"

AUTH = frozenset({"40001", "40002", "40003", "40005", "40006", "40008", "40009", "40011",
                  "40012", "40014", "40018", "40037", "30004", "30005", "30011", "30012",
                  "30013", "30014", "30015"})  # fmt: skip
RATE = frozenset({"429", "30006", "30007", "40010"})
NOT_FOUND = frozenset({"40109", "43001", "43025", "45057", "40768", "80011", "40819", "43020",
                       "43033", "31007", "43026", "22001", "43004"})  # fmt: skip
DUPLICATE_ID = frozenset({"45034", "43118", "25212"})
TRANSIENT = frozenset({"45001", "40725", "40808", "40015"})
BAD_REQUEST = frozenset({"40017", "40019", "40020", "40034", "400172", "40774"})
# Settings answers (set-leverage / set-margin-mode): "No change in leverage" is success; the
# margin mode cannot change while positions or orders are open.
NOT_MODIFIED = frozenset({"40814", "45054"})
MARGIN_MODE_LOCKED = "45117"
REJECT_REASONS = {
    "40754": "balance not enough",
    "43012": "insufficient balance",
    "40798": "insufficient contract account balance",
    "43006": "quantity below the minimum",
    "43007": "quantity above the maximum",
    "40762": "size above the maximum open size",
    "45110": "notional below the minimum",
    "45111": "quantity below the minimum order quantity",
    "45115": "price not a multiple of the price step",
    "45035": "price not a multiple of the price step",
    "43008": "price above the buy limit",
    "43009": "price below the sell limit",
}


def error_for(code: str, message: str, *, mutating: bool) -> VenueError:
    """The error for a non-success ``code`` (as a string)."""
    if code in AUTH:
        return AuthenticationFailed(VENUE, message, code=code)
    if code in RATE:
        return RateLimited(VENUE, message, code=code, retry_after=1.0)
    if code in NOT_FOUND:
        return OrderNotFound(VENUE, message, code=code)
    if code in DUPLICATE_ID:
        return OutcomeUnknown(
            VENUE, f"client order id already used, query it: {message}", code=code
        )
    if code in TRANSIENT:
        return (OutcomeUnknown if mutating else Disconnected)(VENUE, message, code=code)
    if code in BAD_REQUEST:
        return BadRequest(VENUE, message, code=code)
    if mutating:
        reason = REJECT_REASONS.get(code)
        return OrderRejected(VENUE, f"{reason}: {message}" if reason else message, code=code)
    return BadRequest(VENUE, message, code=code)


def http_error_for(status: int, text: str, *, mutating: bool) -> VenueError:
    """The error for an HTTP status whose body is not a Bitget envelope."""
    message = f"HTTP {status}: {text[:200]}"
    if status == 429:
        return RateLimited(VENUE, message, code="429", retry_after=1.0)
    if status in (401, 403):
        return AuthenticationFailed(VENUE, message, code=str(status))
    if status >= 500:
        return (OutcomeUnknown if mutating else Disconnected)(VENUE, message, code=str(status))
    return BadRequest(VENUE, message, code=str(status))
