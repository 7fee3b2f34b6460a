"""Gate.io API v4 request signing (pure functions).

REST (APIv4 "Authentication"): headers ``KEY``, ``Timestamp`` (unix seconds) and
``SIGN = hex(HMAC-SHA512(secret, sign_string))`` where::

    sign_string = METHOD \\n URL_PATH \\n QUERY \\n hex(SHA512(body)) \\n Timestamp

``URL_PATH`` includes the ``/api/v4`` prefix, ``QUERY`` is the raw query string exactly as
sent (not URL-encoded, "" when none) and the body hash is over the exact bytes sent (the
empty body hashes to SHA512("")).

WebSocket (per subscribe message): ``SIGN = hex(HMAC-SHA512(secret,
"channel=<channel>&event=<event>&time=<time>"))`` with ``time`` the request's own ``time``.
"""

from __future__ import annotations

from arbtrio.venues.hmac_sign import hmac_sha512_hex, sha512_hex

__all__ = ["rest_headers", "rest_sign", "rest_sign_string", "ws_sign", "ws_sign_string"]


def rest_sign_string(method: str, path: str, query: str, body: bytes, timestamp: str) -> str:
    """The newline-joined string Gate.io signs for one REST request."""
    return "\n".join((method.upper(), path, query, sha512_hex(body), timestamp))


def rest_sign(secret: str, method: str, path: str, query: str, body: bytes, timestamp: str) -> str:
    """``SIGN`` header: lowercase hex HMAC-SHA512 of :func:`rest_sign_string`."""
    return hmac_sha512_hex(secret, rest_sign_string(method, path, query, body, timestamp))


def rest_headers(
    api_key: str, secret: str, method: str, path: str, query: str, body: bytes, timestamp: str
) -> dict[str, str]:
    """The three auth headers of a signed REST request."""
    return {
        "KEY": api_key,
        "Timestamp": timestamp,
        "SIGN": rest_sign(secret, method, path, query, body, timestamp),
    }


def ws_sign_string(channel: str, event: str, time_s: int) -> str:
    return f"channel={channel}&event={event}&time={time_s}"


def ws_sign(secret: str, channel: str, event: str, time_s: int) -> str:
    """``auth.SIGN`` of a private-channel request sent with ``"time": time_s``."""
    return hmac_sha512_hex(secret, ws_sign_string(channel, event, time_s))
