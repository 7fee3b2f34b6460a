"""KuCoin's API gateway, emulated: the signature check of a signed REST call and the weight
pools every call is charged to. Pure (the caller passes the clock), written from the
venue's documented algorithm, independent of the client's signing code.

Signing (KuCoin Futures, API key versions 1, 2 and 3)::

    prehash           = KC-API-TIMESTAMP + METHOD + endpoint + body
    KC-API-SIGN       = base64(HMAC-SHA256(key=secret, msg=prehash))
    KC-API-PASSPHRASE = base64(HMAC-SHA256(key=secret, msg=passphrase))   (v2, v3; v1: plain)

``endpoint`` is the path with the query string exactly as sent (``/api/v1/orders?status=
active&symbol=XBTUSDTM``, no host); ``body`` the exact bytes sent (empty for GET/DELETE
without a body); METHOD upper case. ``KC-API-TIMESTAMP`` is milliseconds and must be within
5 s of the server's clock; ``KC-API-KEY-VERSION`` must be the key's version (a v1 key may
omit it). Refusals are HTTP 401 with ``400001`` (a header missing), ``400003`` (unknown
key), ``400009`` (version), ``400002`` (timestamp), ``400004`` (passphrase), ``400005``
(signature), checked in that order.

Weight pools (VIP0): Public 2000 and Futures 2000 per 30 s window; a call whose weight does
not fit in what is left of the window gets HTTP 429 ``429000``. Every answer carries
``gw-ratelimit-limit``, ``gw-ratelimit-remaining`` and ``gw-ratelimit-reset`` (ms until the
window resets).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
from collections.abc import Mapping

import attrs

from arbtrio.emulators.app import ApiKeys
from arbtrio.emulators.kucoin_protocol import FUTURES, PUBLIC, Code, KucoinError

__all__ = [
    "KEY_VERSIONS",
    "POOL_LIMITS",
    "POOL_WINDOW_S",
    "SIGN_WINDOW_MS",
    "WeightPool",
    "hmac_b64",
    "passphrase_header",
    "prehash",
    "verify_signed_request",
]

SIGN_WINDOW_MS = 5_000
KEY_VERSIONS = ("1", "2", "3")
POOL_WINDOW_S = 30.0
POOL_LIMITS: dict[str, int] = {PUBLIC: 2000, FUTURES: 2000}
_DIGITS = re.compile(r"[0-9]{1,16}")


def hmac_b64(secret: str, message: bytes) -> str:
    """base64 of HMAC-SHA256 keyed with the UTF-8 ``secret``."""
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def prehash(timestamp: str, method: str, endpoint: str, body: bytes) -> bytes:
    """What ``KC-API-SIGN`` signs: timestamp + METHOD + endpoint + body."""
    return (timestamp + method.upper() + endpoint).encode("utf-8") + body


def passphrase_header(secret: str, passphrase: str, key_version: str) -> str:
    """The ``KC-API-PASSPHRASE`` a key of ``key_version`` sends."""
    if key_version == "1":
        return passphrase
    return hmac_b64(secret, passphrase.encode("utf-8"))


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def verify_signed_request(
    headers: Mapping[str, str],
    method: str,
    endpoint: str,
    body: bytes,
    keys: ApiKeys,
    *,
    key_version: str,
    now_ms: float,
) -> None:
    """Check one signed request (``headers`` lower-cased) against the account's ``keys``
    (a key of ``key_version``) at server time ``now_ms``; KucoinError (HTTP 401) if refused."""
    key = headers.get("kc-api-key")
    signature = headers.get("kc-api-sign")
    timestamp = headers.get("kc-api-timestamp")
    passphrase = headers.get("kc-api-passphrase")
    version = headers.get("kc-api-key-version")
    if not (key and signature and timestamp and passphrase):
        raise KucoinError(
            Code.MISSING_HEADER, "Please check the header of your request for KC-API-*", 401
        )
    if not _same(key, keys.api_key):
        raise KucoinError(Code.NO_SUCH_KEY, "KC-API-KEY not exists", 401)
    if version != key_version and not (key_version == "1" and version is None):
        raise KucoinError(Code.BAD_KEY_VERSION, "Invalid KC-API-KEY-VERSION", 401)
    if not _DIGITS.fullmatch(timestamp) or abs(int(timestamp) - now_ms) > SIGN_WINDOW_MS:
        raise KucoinError(Code.BAD_TIMESTAMP, "Invalid KC-API-TIMESTAMP", 401)
    if not _same(passphrase, passphrase_header(keys.api_secret, keys.passphrase, key_version)):
        raise KucoinError(Code.BAD_PASSPHRASE, "Invalid KC-API-PASSPHRASE", 401)
    expected = hmac_b64(keys.api_secret, prehash(timestamp, method, endpoint, body))
    if not _same(signature, expected):
        raise KucoinError(Code.BAD_SIGNATURE, "Invalid KC-API-SIGN", 401)


@attrs.define
class WeightPool:
    """One weight pool: ``limit`` per fixed window of ``window_s`` (from its first call)."""

    limit: int
    window_s: float = POOL_WINDOW_S
    used: int = 0
    resets_at: float = -math.inf

    def charge(self, weight: int, now: float) -> dict[str, str]:
        """Charge ``weight`` at ``now`` and return the rate-limit headers; KucoinError
        (HTTP 429, ``429000``, same headers) when it does not fit in the window."""
        if now >= self.resets_at:
            self.used = 0
            self.resets_at = now + self.window_s
        fits = self.used + weight <= self.limit
        if fits:
            self.used += weight
        headers = {
            "gw-ratelimit-limit": str(self.limit),
            "gw-ratelimit-remaining": str(self.limit - self.used),
            "gw-ratelimit-reset": str(math.ceil((self.resets_at - now) * 1000)),
        }
        if not fits:
            raise KucoinError(Code.TOO_MANY_REQUESTS, "Too Many Requests", 429, headers)
        return headers
