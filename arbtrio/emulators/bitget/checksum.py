"""Bitget's order-book checksum, computed over the strings the emulator put on the wire.

The documented algorithm: take the best 25 bids and the best 25 asks of the merged book;
for i in 0..24 append bid i's ``price`` and ``size`` (if there is a bid i) then ask i's (if
there is an ask i) — levels interleaved bid1, ask1, bid2, ask2 … and a missing side simply
skipped; join everything with ``":"``; CRC32 (zlib / IEEE) of the UTF-8 bytes, as a
**signed** 32-bit integer. The strings are used exactly as sent ("0.5000" is not "0.5").
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from arbtrio.emulators.bitget.protocol import CHECKSUM_LEVELS

RawLevel = tuple[str, str]  # (price, size) as sent


def checksum_text(bids: Sequence[RawLevel], asks: Sequence[RawLevel]) -> str:
    """The string the checksum is taken of: ``bid1p:bid1s:ask1p:ask1s:bid2p:…``."""
    parts: list[str] = []
    for i in range(CHECKSUM_LEVELS):
        if i < len(bids):
            parts.extend(bids[i])
        if i < len(asks):
            parts.extend(asks[i])
    return ":".join(parts)


def signed_crc32(text: str) -> int:
    """CRC32 of ``text``'s UTF-8 bytes as a signed 32-bit value (≥ 2^31 → minus 2^32)."""
    value = zlib.crc32(text.encode("utf-8"))
    return value - (1 << 32) if value >= 1 << 31 else value


def book_checksum(bids: Sequence[RawLevel], asks: Sequence[RawLevel]) -> int:
    """The ``checksum`` field for a book whose best levels are ``bids``/``asks`` (best
    first, raw strings)."""
    return signed_crc32(checksum_text(bids, asks))


def corrupted(value: int) -> int:
    """A different valid signed 32-bit value (the ``bad_checksum`` fault)."""
    return value + 1 if value < (1 << 31) - 1 else value - 1
