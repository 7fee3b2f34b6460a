"""HMAC helpers shared by the CEX venues' request signing (pure functions, no I/O).

Each returns the encoding its venues put on the wire: lowercase hex (Bybit, Gate.io) or
standard base64 with padding (Bitget, KuCoin). Strings are UTF-8 encoded before hashing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["hmac_sha256_b64", "hmac_sha256_hex", "hmac_sha512_hex", "sha512_hex"]


def hmac_sha256_hex(secret: str, payload: str) -> str:
    """Lowercase hex of HMAC-SHA256(secret, payload)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def hmac_sha256_b64(secret: str, payload: str) -> str:
    """Base64 (standard alphabet, padded) of HMAC-SHA256(secret, payload)."""
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def hmac_sha512_hex(secret: str, payload: str) -> str:
    """Lowercase hex of HMAC-SHA512(secret, payload)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha512).hexdigest()


def sha512_hex(data: bytes) -> str:
    """Lowercase hex of SHA-512(data) (Gate.io hashes the request body with it)."""
    return hashlib.sha512(data).hexdigest()
