"""Deterministic client order ids.

Every order arbtrio sends carries an id derived from ``(position_id, leg, attempt)``, so after
a crash the journal alone is enough to find each order again on its venue by client id: no
id is random, none is remembered only in memory.

The key is 128 bits (BLAKE2b-128 of the triple) and each venue gets its own encoding of it:

======== ============================== ===========================================
venue    encoding                       venue rule
======== ============================== ===========================================
hyperliquid ``0x`` + 32 lowercase hex   a 16-byte hex cloid
bybit    32 lowercase hex               ≤ 36 of ``[0-9A-Za-z_-]``
bitget   32 lowercase hex               < 50 characters
kucoin   32 lowercase hex               ≤ 40 characters
gateio   ``t-`` + 22 base62 characters  ``t-`` + ≤ 28 of ``[0-9A-Za-z_.-]``
======== ============================== ===========================================
"""

from __future__ import annotations

import hashlib

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SEP = "\x1f"


def order_key(position_id: str, leg: str, attempt: int) -> int:
    """The 128-bit key of one order attempt of one leg of one position."""
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    if _SEP in position_id or _SEP in leg:
        # The separator inside a field would let two different triples hash alike.
        raise ValueError("position_id and leg must not contain the \\x1f separator")
    try:
        material = f"{position_id}\x1f{leg}\x1f{attempt}".encode()
    except UnicodeEncodeError:  # a lone surrogate: no stable bytes to hash
        raise ValueError("position_id and leg must be encodable as UTF-8") from None
    return int.from_bytes(hashlib.blake2b(material, digest_size=16).digest(), "big")


_BASE62_PAIRS = tuple(a + b for a in _BASE62 for b in _BASE62)  # 62² two-digit strings


def _base62(value: int, width: int) -> str:
    """``value`` as ``width`` base-62 digits (two digits per division)."""
    chars = []
    for _ in range(width // 2):
        value, pair = divmod(value, 3844)
        chars.append(_BASE62_PAIRS[pair])
    if width % 2:
        value, digit = divmod(value, 62)
        chars.append(_BASE62[digit])
    if value:
        raise ValueError("value too large for width")
    return "".join(reversed(chars))


def encode_client_order_id(venue: str, key: int) -> str:
    """Encode a 128-bit key in the form ``venue`` accepts as a client order id."""
    if not 0 <= key < 1 << 128:
        raise ValueError("key must be a 128-bit unsigned integer")
    if venue == "hyperliquid":
        return f"0x{key:032x}"
    if venue == "gateio":
        return "t-" + _base62(key, 22)
    if venue in ("bybit", "bitget", "kucoin"):
        return f"{key:032x}"
    raise ValueError(f"unknown venue {venue!r} for a client order id")


def decode_client_order_id(venue: str, client_order_id: str) -> int:
    """Recover the 128-bit key from a venue-encoded client order id (inverse of encode).

    Only the exact form :func:`encode_client_order_id` produces is accepted: anything else
    (another tool's id, upper-case hex, a ``0x`` prefix where none belongs) raises ValueError.
    """
    key = _decode(venue, client_order_id)  # raises for an unknown venue or a bad shape
    # Re-encoding rejects what int() tolerates: "0x", "_", signs, spaces, upper case, overflow.
    if not (0 <= key < 1 << 128 and encode_client_order_id(venue, key) == client_order_id):
        raise ValueError(f"not an arbtrio {venue} client order id: {client_order_id!r}")
    return key


def _decode(venue: str, client_order_id: str) -> int:
    if venue == "hyperliquid":
        if not client_order_id.startswith("0x") or len(client_order_id) != 34:
            raise ValueError(f"not a hyperliquid cloid: {client_order_id!r}")
        return _hex(client_order_id[2:], venue, client_order_id)
    if venue == "gateio":
        if not client_order_id.startswith("t-") or len(client_order_id) != 24:
            raise ValueError(f"not an arbtrio gateio text: {client_order_id!r}")
        value = 0
        for ch in client_order_id[2:]:
            digit = _BASE62.find(ch)
            if digit < 0:
                raise ValueError(f"not an arbtrio gateio text: {client_order_id!r}")
            value = value * 62 + digit
        return value
    if venue in ("bybit", "bitget", "kucoin"):
        if len(client_order_id) != 32:
            raise ValueError(f"not an arbtrio {venue} client order id: {client_order_id!r}")
        return _hex(client_order_id, venue, client_order_id)
    raise ValueError(f"unknown venue {venue!r} for a client order id")


def _hex(digits: str, venue: str, client_order_id: str) -> int:
    try:
        return int(digits, 16)
    except ValueError:
        raise ValueError(f"not an arbtrio {venue} client order id: {client_order_id!r}") from None


def client_order_id(venue: str, position_id: str, leg: str, attempt: int) -> str:
    """The venue-encoded client order id of ``(position_id, leg, attempt)``."""
    return encode_client_order_id(venue, order_key(position_id, leg, attempt))
