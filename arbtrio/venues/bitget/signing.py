"""Bitget V2 request signing. Pure functions, no I/O, no clock reads.

REST (Bitget's signature documentation; ``specs/012-bitget.md``): ``ACCESS-SIGN =
base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + ["?" + queryString] +
body))`` with the millisecond timestamp, the query string exactly as in the URL and the
body exactly as sent. Stream login: ``sign = base64(HMAC-SHA256(secret, timestamp + "GET" +
"/user/verify"))`` with the timestamp in *seconds* (what every working client sends,
despite the docs' wording).
"""

from __future__ import annotations

from collections.abc import Mapping

from arbtrio.venues.hmac_sign import hmac_sha256_b64

__all__ = ["login_args", "login_signature", "query_string", "rest_headers", "rest_prehash",
           "rest_signature"]  # fmt: skip


def query_string(params: Mapping[str, str]) -> str:
    """``k=v&k=v`` sorted by key (the official samples' rule), unencoded."""
    for key, value in params.items():
        if any(ch in f"{key}{value}" for ch in "&=?# "):
            raise ValueError(f"query parameter {key!r} has a character that needs encoding")
    return "&".join(f"{k}={params[k]}" for k in sorted(params))


def rest_prehash(timestamp_ms: int, method: str, path: str, query: str, body: str) -> str:
    return f"{timestamp_ms}{method.upper()}{path}" + (f"?{query}" if query else "") + body


def rest_signature(
    secret: str, timestamp_ms: int, method: str, path: str, query: str, body: str
) -> str:
    return hmac_sha256_b64(secret, rest_prehash(timestamp_ms, method, path, query, body))


def rest_headers(
    api_key: str,
    secret: str,
    passphrase: str,
    timestamp_ms: int,
    method: str,
    path: str,
    query: str,
    body: str,
) -> dict[str, str]:
    return {
        "ACCESS-KEY": api_key,
        "ACCESS-SIGN": rest_signature(secret, timestamp_ms, method, path, query, body),
        "ACCESS-TIMESTAMP": str(timestamp_ms),
        "ACCESS-PASSPHRASE": passphrase,
        "Content-Type": "application/json",
        "locale": "en-US",
    }


def login_signature(secret: str, timestamp_s: int) -> str:
    return hmac_sha256_b64(secret, f"{timestamp_s}GET/user/verify")


def login_args(
    api_key: str, secret: str, passphrase: str, timestamp_s: int
) -> list[dict[str, str]]:
    """The ``args`` of the stream ``login`` op."""
    return [{"apiKey": api_key, "passphrase": passphrase, "timestamp": str(timestamp_s),
             "sign": login_signature(secret, timestamp_s)}]  # fmt: skip
