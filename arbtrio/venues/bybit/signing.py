"""Bybit V5 request signing (HMAC keys). Pure functions, no I/O, no clock reads.

REST (the V5 guide, signing): ``sign = hex(HMAC-SHA256(secret, timestamp + api_key +
recv_window + payload))`` where ``payload`` is the query string exactly as it appears in
the URL (no ``?``) for GET, and the JSON body exactly as sent for POST. Streams (WebSocket
auth): ``auth`` args are ``[api_key, expires_ms, hex(HMAC-SHA256(secret, "GET/realtime" +
expires_ms))]``.
"""

from __future__ import annotations

from collections.abc import Mapping

from arbtrio.venues.hmac_sign import hmac_sha256_hex

__all__ = [
    "DEFAULT_RECV_WINDOW",
    "auth_args",
    "query_string",
    "rest_headers",
    "rest_prehash",
    "rest_signature",
    "ws_auth_signature",
]

DEFAULT_RECV_WINDOW = 5000


def query_string(params: Mapping[str, str]) -> str:
    """``k=v&k=v`` in the given order, unencoded (callers pass URL-safe values only)."""
    for key, value in params.items():
        if any(c in value for c in "&=?# ") or any(c in key for c in "&=?# "):
            raise ValueError(f"query parameter {key!r} has a character that needs encoding")
    return "&".join(f"{k}={v}" for k, v in params.items())


def rest_prehash(timestamp_ms: int, api_key: str, recv_window: int, payload: str) -> str:
    return f"{timestamp_ms}{api_key}{recv_window}{payload}"


def rest_signature(
    secret: str, timestamp_ms: int, api_key: str, recv_window: int, payload: str
) -> str:
    """Lowercase hex HMAC-SHA256 of the REST pre-hash string."""
    return hmac_sha256_hex(secret, rest_prehash(timestamp_ms, api_key, recv_window, payload))


def rest_headers(
    api_key: str, secret: str, timestamp_ms: int, payload: str, recv_window: int
) -> dict[str, str]:
    """The authentication headers for one request whose query/body is ``payload``."""
    return {
        "X-BAPI-API-KEY": api_key,
        "X-BAPI-TIMESTAMP": str(timestamp_ms),
        "X-BAPI-RECV-WINDOW": str(recv_window),
        "X-BAPI-SIGN": rest_signature(secret, timestamp_ms, api_key, recv_window, payload),
        "X-BAPI-SIGN-TYPE": "2",
    }


def ws_auth_signature(secret: str, expires_ms: int) -> str:
    return hmac_sha256_hex(secret, f"GET/realtime{expires_ms}")


def auth_args(api_key: str, secret: str, expires_ms: int) -> list[str | int]:
    """The ``args`` of the stream ``auth`` op (``expires_ms`` must be in the future)."""
    return [api_key, expires_ms, ws_auth_signature(secret, expires_ms)]
