"""Bitget ``books`` channel rules applied to an L2Book, with the CRC32 checksum (sans-IO).

Rules (venue doc B.1): ``snapshot`` replaces the book; ``update`` levels are absolute sizes
(``"0"`` deletes); after each update the CRC32 of the top 25 bids and asks — interleaved
``bid1:ask1:bid2:…`` as ``price:size`` from the *raw strings received*, joined with ``:``
— as a signed 32-bit integer must equal the message's ``checksum``. A checksum of 0 (or
none) cannot be checked and is not a mismatch. ``seq`` must grow (it is not promised to be
consecutive). ``books1``/``books5``/``books15`` send a snapshot every push. A mismatch, a
``seq`` going backwards or a crossed book invalidates the book: the caller resubscribes.
"""

from __future__ import annotations

import enum
import zlib
from collections.abc import Sequence

from arbtrio.core.book import L2Book
from arbtrio.core.types import Side
from arbtrio.venues.base import MalformedMessage
from arbtrio.venues.bitget.codecs import VENUE, BookData, RawLevel

CHECKSUM_LEVELS = 25
_MAX = 1e18


class Verdict(enum.IntEnum):
    APPLIED = 0
    IGNORED = 1
    RESYNC = 2


def crc32_signed(text: str) -> int:
    """CRC32 (zlib/IEEE) of the UTF-8 bytes as a signed 32-bit integer."""
    value = zlib.crc32(text.encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def checksum_text(bids: Sequence[str], asks: Sequence[str]) -> str:
    """Interleave up to 25 ``price:size`` strings per side (best first) with ``:``."""
    nb, na = min(len(bids), CHECKSUM_LEVELS), min(len(asks), CHECKSUM_LEVELS)
    n = min(nb, na)
    parts: list[str] = [""] * (2 * n)
    parts[0::2] = bids[:n]
    parts[1::2] = asks[:n]
    if nb > n:
        parts.extend(bids[n:nb])
    elif na > n:
        parts.extend(asks[n:na])
    return ":".join(parts)


def checksum(bids: Sequence[RawLevel], asks: Sequence[RawLevel]) -> int:
    """The checksum of raw ``(price, size)`` string ladders, best first."""
    return crc32_signed(
        checksum_text([f"{p}:{s}" for p, s in bids[:CHECKSUM_LEVELS]],
                      [f"{p}:{s}" for p, s in asks[:CHECKSUM_LEVELS]])
    )  # fmt: skip


def _parse(levels: list[RawLevel]) -> list[tuple[float, float, str]]:
    out = []
    for p, s in levels:
        try:
            price, size = float(p), float(s)
        except ValueError:
            raise MalformedMessage(VENUE, f"book level not numeric: {p!r}, {s!r}") from None
        if not (0.0 < price < _MAX and 0.0 <= size < _MAX):
            raise MalformedMessage(VENUE, f"book level out of range: {p!r}, {s!r}")
        out.append((price, size, f"{p}:{s}"))
    return out


class BitgetBook:
    """The sync state of one ``books*`` subscription; owned by its connection's feed task."""

    __slots__ = ("book", "channel", "crc", "raw_asks", "raw_bids", "reason", "synced")

    def __init__(self, book: L2Book, channel: str = "books") -> None:
        self.book = book
        self.channel = channel
        self.raw_bids: dict[float, str] = {}
        self.raw_asks: dict[float, str] = {}
        self.synced = False
        self.reason = ""
        self.crc: int | None = None  # checksum of the current top 25, when known

    def apply(self, action: str, data: BookData, now: float) -> Verdict:
        """Apply one push. Raises MalformedMessage on a level that is not a number."""
        bids, asks = _parse(data.bids), _parse(data.asks)
        book = self.book
        if action == "snapshot":
            self.raw_bids = {p: raw for p, s, raw in bids if s > 0}
            self.raw_asks = {p: raw for p, s, raw in asks if s > 0}
            book.apply_snapshot([(p, s) for p, s, _ in bids], [(p, s) for p, s, _ in asks],
                                now, data.seq)  # fmt: skip
            self.synced = True
            self.crc = None
        elif action == "update":
            if self.channel != "books":
                return self._fail(f"update on the snapshot-only channel {self.channel}")
            if not self.synced:
                return Verdict.IGNORED
            if data.seq and book.seq and data.seq <= book.seq:
                return self._fail(f"seq went from {book.seq} to {data.seq}")
            _merge(self.raw_bids, bids)
            _merge(self.raw_asks, asks)
            book.apply_delta([(p, s) for p, s, _ in bids], [(p, s) for p, s, _ in asks], now,
                             data.seq or book.seq)  # fmt: skip
            if data.checksum and data.checksum != self._checksum_after(bids, asks):
                return self._fail(f"checksum mismatch (venue {data.checksum})")
        else:
            return self._fail(f"unknown action {action!r}")
        if book.is_crossed():
            return self._fail("crossed book")
        return Verdict.APPLIED

    def local_checksum(self) -> int:
        """The checksum of the local book's top 25 levels (raw strings)."""
        book = self.book
        bids = list(map(self.raw_bids.__getitem__, book.top_prices(Side.BUY, CHECKSUM_LEVELS)))
        asks = list(map(self.raw_asks.__getitem__, book.top_prices(Side.SELL, CHECKSUM_LEVELS)))
        self.crc = crc32_signed(checksum_text(bids, asks))
        return self.crc

    def _checksum_after(
        self, bids: list[tuple[float, float, str]], asks: list[tuple[float, float, str]]
    ) -> int:
        """The local checksum after an update; reused when no change reached the top 25.

        A change reaches the top 25 iff its price is at or better than the 25th level
        *after* the update (an insert, resize or removal inside the window moves that
        level; a change strictly below it cannot).
        """
        if self.crc is None:
            return self.local_checksum()
        book = self.book
        if bids:
            top = book.top_prices(Side.BUY, CHECKSUM_LEVELS)
            if len(top) < CHECKSUM_LEVELS or any(p >= top[-1] for p, _, _ in bids):
                return self.local_checksum()
        if asks:
            top = book.top_prices(Side.SELL, CHECKSUM_LEVELS)
            if len(top) < CHECKSUM_LEVELS or any(p <= top[-1] for p, _, _ in asks):
                return self.local_checksum()
        return self.crc

    def invalidate(self, reason: str) -> None:
        self.synced = False
        self.crc = None
        self.reason = reason
        self.book.invalidate(reason)

    def _fail(self, reason: str) -> Verdict:
        self.invalidate(reason)
        return Verdict.RESYNC


def _merge(raw: dict[float, str], levels: list[tuple[float, float, str]]) -> None:
    for price, size, text in levels:
        if size > 0:
            raw[price] = text
        else:
            raw.pop(price, None)
