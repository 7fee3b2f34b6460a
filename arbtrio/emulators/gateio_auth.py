"""Gate.io API v4 signatures as the emulator verifies them (its own implementation of the
documented algorithm; nothing here is shared with the client).

REST (headers ``KEY``, ``Timestamp``, ``SIGN``)::

    sign_string = METHOD "\\n" URL_PATH "\\n" QUERY "\\n" hex(SHA512(body)) "\\n" Timestamp
    SIGN        = hex(HMAC-SHA512(key=secret, msg=sign_string))

``URL_PATH`` includes ``/api/v4`` (no host); ``QUERY`` is the query string exactly as sent
and *not* URL-encoded (the emulator percent-decodes what it received, so a client that
signs its encoded form fails, as on Gate), ``""`` when there is none; an empty body hashes
to SHA512 of the empty string; ``Timestamp`` is the header value verbatim (unix seconds,
integer or with decimals) and must be within 60 s of the server's time.

WS private subscriptions carry ``auth {"method": "api_key", "KEY", "SIGN"}`` with
``SIGN = hex(HMAC-SHA512(secret, "channel=<channel>&event=<event>&time=<time>"))``, ``time``
being the request's own ``time`` field. The documentation gives no window for it; the
emulator applies the REST 60 s rule (its own choice).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from decimal import Decimal
from typing import Protocol
from urllib.parse import unquote

from arbtrio.emulators.app import HttpRequest
from arbtrio.emulators.gateio_protocol import (
    SIGN_WINDOW_S,
    WS_AUTH_FAILED,
    WS_AUTH_METHOD,
    GateError,
    GateWsError,
    WsRequest,
    ws_auth_message,
)

EMPTY_BODY_SHA512 = hashlib.sha512(b"").hexdigest()
_TIMESTAMP_RE = re.compile(r"[0-9]+(\.[0-9]+)?")


class Keys(Protocol):
    """What the emulator checks a request against (``ApiKeys`` or any look-alike)."""

    @property
    def api_key(self) -> str: ...

    @property
    def api_secret(self) -> str: ...


def hmac_sha512_hex(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha512).hexdigest()


def rest_sign_string(method: str, path: str, query: str, body: bytes, timestamp: str) -> str:
    """The documented REST string-to-sign."""
    hashed = hashlib.sha512(body).hexdigest()
    return "\n".join((method.upper(), path, query, hashed, timestamp))


def ws_sign_string(channel: str, event: str, time: int) -> str:
    """The documented WS string-to-sign."""
    return f"channel={channel}&event={event}&time={time}"


def within_window(timestamp: str, now: float) -> bool:
    """``timestamp`` (unix seconds, digits with optional decimals) is within 60 s of ``now``."""
    if _TIMESTAMP_RE.fullmatch(timestamp) is None:
        return False
    return abs(Decimal(timestamp) - Decimal(repr(now))) <= SIGN_WINDOW_S


def verify_rest(req: HttpRequest, keys: Keys, now: float) -> None:
    """Accept a signed request or raise Gate's label for it, checked in this order:
    ``MISSING_REQUIRED_HEADER`` (``KEY``, ``Timestamp`` or ``SIGN`` absent or empty),
    ``INVALID_KEY``, ``REQUEST_EXPIRED`` (outside the 60 s window, or not a number),
    ``INVALID_SIGNATURE``."""
    key, timestamp, signature = (req.headers.get(h, "") for h in ("key", "timestamp", "sign"))
    if not key or not timestamp or not signature:
        raise GateError("MISSING_REQUIRED_HEADER", "KEY, Timestamp and SIGN are required")
    if not hmac.compare_digest(key.encode(), keys.api_key.encode()):
        raise GateError("INVALID_KEY", "Invalid key provided")
    if not within_window(timestamp, now):
        raise GateError(
            "REQUEST_EXPIRED", "gap between request Timestamp and server time exceeds 60"
        )
    sign_string = rest_sign_string(req.method, req.path, unquote(req.query), req.body, timestamp)
    expected = hmac_sha512_hex(keys.api_secret, sign_string)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise GateError("INVALID_SIGNATURE", "Signature mismatch")


def verify_ws(req: WsRequest, keys: Keys, now: float) -> None:
    """Accept a private subscription's ``auth`` or raise :class:`GateWsError` code 4 (the
    message is the label body: ``INVALID_KEY`` for a missing block, another method or a
    wrong key, ``REQUEST_EXPIRED``, ``INVALID_SIGNATURE``)."""
    auth = req.auth
    if (
        auth is None
        or auth.method != WS_AUTH_METHOD
        or not hmac.compare_digest(auth.KEY.encode(), keys.api_key.encode())
    ):
        raise GateWsError(WS_AUTH_FAILED, ws_auth_message("INVALID_KEY", "Invalid key"))
    if not within_window(str(req.time), now):
        raise GateWsError(WS_AUTH_FAILED, ws_auth_message("REQUEST_EXPIRED", "time expired"))
    expected = hmac_sha512_hex(keys.api_secret, ws_sign_string(req.channel, req.event, req.time))
    if not hmac.compare_digest(auth.SIGN.encode(), expected.encode()):
        raise GateWsError(
            WS_AUTH_FAILED, ws_auth_message("INVALID_SIGNATURE", "Signature mismatch")
        )
