"""Bitget's signatures as the venue checks them: REST headers and the WebSocket login.

Both are ``base64(HMAC-SHA256(secret, string_to_sign))``:

* REST: ``timestamp + METHOD + requestPath + ("?" + queryString if there is one) + body``
  with the timestamp in **milliseconds** (the ``ACCESS-TIMESTAMP`` header, verbatim), the
  method upper case, the query exactly as it appears in the URL (the venue signs what was
  sent; it does not re-sort) and the body's exact bytes (empty for GET).
* WS login: ``timestamp + "GET" + "/user/verify"`` with the timestamp in **seconds** as
  sent in the login arg (the docs' text says milliseconds, their example, their Java
  snippet and every SDK use seconds).

:func:`check_rest` and :func:`check_login` apply the header/field rules in the venue's
order and raise :class:`~arbtrio.emulators.bitget.protocol.ApiError` or return the
WebSocket ``(code, msg)``; the clock is passed in, so tests can pin it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from arbtrio.emulators.app import ApiKeys, HttpRequest
from arbtrio.emulators.bitget import protocol as p
from arbtrio.emulators.bitget.wire import Login


def sign(secret: str, string_to_sign: bytes) -> str:
    """``base64(HMAC-SHA256(secret, string_to_sign))``."""
    digest = hmac.new(secret.encode("utf-8"), string_to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def rest_string_to_sign(timestamp: str, method: str, path: str, query: str, body: bytes) -> bytes:
    """The REST pre-hash string: ``ts + METHOD + path [+ "?" + query] + body``."""
    head = timestamp + method.upper() + path + (f"?{query}" if query else "")
    return head.encode("utf-8") + body


def login_string_to_sign(timestamp: str) -> bytes:
    """The WS login pre-hash string: ``ts + "GET" + "/user/verify"``."""
    return f"{timestamp}GET{p.LOGIN_PATH}".encode()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("ascii"))


def check_rest(req: HttpRequest, keys: ApiKeys, now_ms: int) -> None:
    """Verify a signed REST request's headers; raise the venue's ApiError if refused.

    Order: key, sign and timestamp present (40001–40003); timestamp digits (40005); key
    known (40006); passphrase present and right (40011/40012); timestamp within
    ``REST_WINDOW_MS`` of ``now_ms`` either way (40008); signature (40009).
    """
    h = req.headers
    key, signature = h.get("access-key", ""), h.get("access-sign", "")
    timestamp, passphrase = h.get("access-timestamp", ""), h.get("access-passphrase", "")
    if not key:
        raise p.KEY_EMPTY()
    if not signature:
        raise p.SIGN_EMPTY()
    if not timestamp:
        raise p.TIMESTAMP_EMPTY()
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise p.TIMESTAMP_INVALID()
    if key != keys.api_key:
        raise p.KEY_INVALID()
    if not passphrase:
        raise p.PASSPHRASE_EMPTY()
    if passphrase != keys.passphrase:
        raise p.PASSPHRASE_INVALID()
    if abs(now_ms - int(timestamp)) > p.REST_WINDOW_MS:
        raise p.TIMESTAMP_EXPIRED()
    text = rest_string_to_sign(timestamp, req.method, req.path, req.query, req.body)
    if not _same(signature, sign(keys.api_secret, text)):
        raise p.SIGN_INVALID()


def check_login(login: Login, keys: ApiKeys, now_s: float) -> tuple[str, str]:
    """Verify a WS login arg: ``("", "")`` when accepted, else the venue's ``(code, msg)``.

    Order: key (30011), passphrase (30012), timestamp digits (30013), timestamp within
    ``LOGIN_WINDOW_S`` seconds of ``now_s`` (30014: a millisecond timestamp lands here),
    signature (30015).
    """
    if login.apiKey != keys.api_key:
        return p.WS_KEY_INVALID, "Invalid ACCESS_KEY"
    if login.passphrase != keys.passphrase:
        return p.WS_PASSPHRASE_INVALID, "Invalid ACCESS_PASSPHRASE"
    if not (login.timestamp.isascii() and login.timestamp.isdigit()):
        return p.WS_TIMESTAMP_INVALID, "Invalid ACCESS_TIMESTAMP"
    if abs(now_s - int(login.timestamp)) > p.LOGIN_WINDOW_S:
        return p.WS_TIMESTAMP_EXPIRED, "Request timestamp expired"
    if not _same(login.sign, sign(keys.api_secret, login_string_to_sign(login.timestamp))):
        return p.WS_SIGN_INVALID, "Invalid sign"
    return "", ""
