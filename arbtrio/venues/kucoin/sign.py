"""KuCoin Futures REST request signing (pure functions).

Headers ``KC-API-KEY``, ``KC-API-TIMESTAMP`` (ms), ``KC-API-SIGN``, ``KC-API-PASSPHRASE``,
``KC-API-KEY-VERSION`` (the key's version: ``"2"`` by default, ``"3"`` for current keys; the
venue refuses a header that does not match the key)::

    KC-API-SIGN       = base64(HMAC-SHA256(secret, timestamp + METHOD + endpoint + body))
    KC-API-PASSPHRASE = base64(HMAC-SHA256(secret, passphrase))     (key versions 2 and 3)

``endpoint`` is the path with its query string exactly as sent (``/api/v1/orders?status=
active&symbol=XBTUSDTM``), no host; ``body`` is the exact JSON text sent ("" for GET and
DELETE).
"""

from __future__ import annotations

from arbtrio.venues.hmac_sign import hmac_sha256_b64

__all__ = [
    "KEY_VERSION",
    "KEY_VERSIONS",
    "passphrase_sign",
    "rest_headers",
    "rest_prehash",
    "rest_sign",
]

KEY_VERSION = "2"  # the default
KEY_VERSIONS = ("2", "3")  # both sign the passphrase; v1 keys are retired by the venue


def rest_prehash(timestamp_ms: str, method: str, endpoint: str, body: str) -> str:
    return f"{timestamp_ms}{method.upper()}{endpoint}{body}"


def rest_sign(secret: str, timestamp_ms: str, method: str, endpoint: str, body: str) -> str:
    """``KC-API-SIGN``: base64 HMAC-SHA256 of :func:`rest_prehash`."""
    return hmac_sha256_b64(secret, rest_prehash(timestamp_ms, method, endpoint, body))


def passphrase_sign(secret: str, passphrase: str) -> str:
    """``KC-API-PASSPHRASE`` for v2/v3 keys: the passphrase signed with the secret."""
    return hmac_sha256_b64(secret, passphrase)


def rest_headers(
    api_key: str,
    secret: str,
    passphrase: str,
    timestamp_ms: str,
    method: str,
    endpoint: str,
    body: str,
    key_version: str = KEY_VERSION,
) -> dict[str, str]:
    """The five auth headers of a signed REST request by a key of ``key_version``."""
    return {
        "KC-API-KEY": api_key,
        "KC-API-SIGN": rest_sign(secret, timestamp_ms, method, endpoint, body),
        "KC-API-TIMESTAMP": timestamp_ms,
        "KC-API-PASSPHRASE": passphrase_sign(secret, passphrase),
        "KC-API-KEY-VERSION": key_version,
    }
