"""Bitget ``books`` channel rules applied to an L2Book, with the CRC32 checksum (sans-IO).

Rules (Bitget's V2 order-book channel documentation; ``specs/012-bitget.md``): ``snapshot``
replaces the book; ``update`` levels are absolute sizes (``"0"`` deletes); after each
update the CRC32 of the top 25 bids and asks — interleaved ``bid1:ask1:bid2:…`` as
``price:size`` from the *raw strings received*, joined with ``:`` — as a signed 32-bit
integer must equal the message's ``checksum``. A checksum of 0 (or none) cannot be checked
and is not a mismatch. ``seq`` must grow (it is not promised to be consecutive).
``books1``/``books5``/``books15`` send a snapshot every push. A mismatch, a ``seq`` going
backwards or a crossed book invalidates the book: the caller resubscribes.
"""

from __future__ import annotations

import enum
import zlib
from bisect import bisect_left
from collections.abc import Sequence

from arbtrio.core.book import L2Book, Level
from arbtrio.venues.base import MalformedMessage
from arbtrio.venues.bitget.codecs import VENUE, BookData, RawLevel

CHECKSUM_LEVELS = 25
_MAX = 1e18


class Verdict(enum.IntEnum):
    APPLIED = 0
    IGNORED = 1
    RESYNC = 2


_APPLIED = Verdict.APPLIED


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


Parsed = tuple[Sequence[Level], Sequence[str]]  # (price, size) levels, "p:s"
_NO_LEVELS: Parsed = ((), ())


def _parse(levels: list[RawLevel]) -> Parsed:
    """``levels`` as (price, size) floats and ``"price:size"`` raw strings; MalformedMessage
    for a level that is not a number or out of range (NaN fails every comparison)."""
    pairs: list[tuple[float, float]] = []
    texts: list[str] = []
    for p, s in levels:
        try:
            price, size = float(p), float(s)
        except ValueError:
            raise MalformedMessage(VENUE, f"book level not numeric: {p!r}, {s!r}") from None
        if not (0.0 < price < _MAX and 0.0 <= size < _MAX):
            raise MalformedMessage(VENUE, f"book level out of range: {p!r}, {s!r}")
        pairs.append((price, size))
        texts.append(f"{p}:{s}")
    return pairs, texts


class BitgetBook:
    """The sync state of one ``books*`` subscription; owned by the public stream's protocol
    (:class:`~arbtrio.venues.bitget.feed.BitgetBookFeed`), which only the stream's reader calls.

    Beside the float :class:`L2Book` it keeps each side's levels as two parallel lists,
    ascending by price: the prices and the raw ``price:size`` strings received. The
    checksum string is then two slices and one join, and it is rebuilt only when an
    update reached a side's best 25 levels (``crc`` holds the checksum of the current top
    25 when it is known). Every update that carries a checksum is verified.
    """

    __slots__ = (
        "_ask_px",
        "_ask_raw",
        "_bid_px",
        "_bid_raw",
        "_scratch",
        "book",
        "channel",
        "crc",
        "incremental",
        "reason",
        "synced",
    )

    def __init__(self, book: L2Book, channel: str = "books") -> None:
        self.book = book
        self.channel = channel
        self.incremental = channel == "books"  # the others send a snapshot every push
        self._bid_px: list[float] = []  # ascending: the best bid is last
        self._bid_raw: list[str] = []
        self._ask_px: list[float] = []  # ascending: the best ask is first
        self._ask_raw: list[str] = []
        self._scratch: list[str] = [""] * (2 * CHECKSUM_LEVELS)
        self.synced = False
        self.reason = ""
        self.crc: int | None = None  # checksum of the current top 25, when known

    def apply(self, action: str, data: BookData, now: float) -> Verdict:
        """Apply one push. Raises MalformedMessage on a level that is not a number."""
        bids = _parse(data.bids) if data.bids else _NO_LEVELS  # one side of most updates
        asks = _parse(data.asks) if data.asks else _NO_LEVELS
        book = self.book
        if action == "update":  # the hot path
            if not self.incremental:
                return self._fail(f"update on the snapshot-only channel {self.channel}")
            if not self.synced:
                return Verdict.IGNORED
            seq = data.seq
            if seq and book.seq and seq <= book.seq:
                return self._fail(f"seq went from {book.seq} to {seq}")
            top = False
            if bids is not _NO_LEVELS:
                top = _merge_bids(self._bid_px, self._bid_raw, bids)
            if asks is not _NO_LEVELS and _merge_asks(self._ask_px, self._ask_raw, asks):
                top = True
            if top:
                self.crc = None  # a change reached the top 25: recompute
            book.apply_delta(bids[0], asks[0], now, seq or book.seq)
            if data.checksum:
                crc = self.crc if self.crc is not None else self.local_checksum()
                if data.checksum != crc:
                    return self._fail(f"checksum mismatch (venue {data.checksum})")
        elif action == "snapshot":
            self._bid_px, self._bid_raw = _ladder(bids)
            self._ask_px, self._ask_raw = _ladder(asks)
            book.apply_snapshot(bids[0], asks[0], now, data.seq)
            self.synced = True
            self.crc = None
        else:
            return self._fail(f"unknown action {action!r}")
        # crossed? (these ladders hold the book's prices: L2Book.is_crossed, one call less)
        bid_px, ask_px = self._bid_px, self._ask_px
        if bid_px and ask_px and bid_px[-1] >= ask_px[0]:
            return self._fail("crossed book")
        return _APPLIED

    def local_checksum(self) -> int:
        """The checksum of the local book's top 25 levels (raw strings), computed now."""
        bids = self._bid_raw[: -CHECKSUM_LEVELS - 1 : -1]  # best first
        asks = self._ask_raw[:CHECKSUM_LEVELS]
        if len(bids) == len(asks) == CHECKSUM_LEVELS:  # the usual case: no allocation
            parts = self._scratch
            parts[0::2] = bids
            parts[1::2] = asks
            text = ":".join(parts)
        else:
            text = checksum_text(bids, asks)
        value = zlib.crc32(text.encode())  # crc32_signed, inlined on the hot path
        self.crc = value - (1 << 32) if value >= 1 << 31 else value
        return self.crc

    def invalidate(self, reason: str) -> None:
        self.synced = False
        self.crc = None
        self.reason = reason
        self.book.invalidate(reason)

    def _fail(self, reason: str) -> Verdict:
        self.invalidate(reason)
        return Verdict.RESYNC


def _ladder(levels: Parsed) -> tuple[list[float], list[str]]:
    """A snapshot side as ascending (prices, raw strings); a repeated price keeps its last."""
    pairs, texts = levels
    raw = {p: text for (p, s), text in zip(pairs, texts, strict=False) if s > 0}
    prices = sorted(raw)
    return prices, [raw[p] for p in prices]


def _merge_asks(prices: list[float], raws: list[str], levels: Parsed) -> bool:
    """Apply absolute-size levels to the ask side; True if one reached the best 25."""
    top = False
    pairs, texts = levels
    for (price, size), text in zip(pairs, texts, strict=False):  # equal by construction
        i = bisect_left(prices, price)
        if i < len(prices) and prices[i] == price:
            if size > 0:
                raws[i] = text
            else:
                del prices[i], raws[i]
        elif size > 0:
            prices.insert(i, price)
            raws.insert(i, text)
        else:
            continue  # removing a level we do not have changes nothing
        top = top or i < CHECKSUM_LEVELS
    return top


def _merge_bids(prices: list[float], raws: list[str], levels: Parsed) -> bool:
    """Apply absolute-size levels to the bid side (best last); True if one reached the best 25."""
    top = False
    pairs, texts = levels
    for (price, size), text in zip(pairs, texts, strict=False):  # equal by construction
        i = bisect_left(prices, price)
        n = len(prices)
        if i < n and prices[i] == price:
            rank = n - 1 - i  # 0 = the best bid
            if size > 0:
                raws[i] = text
            else:
                del prices[i], raws[i]
        elif size > 0:
            rank = n - i
            prices.insert(i, price)
            raws.insert(i, text)
        else:
            continue
        top = top or rank < CHECKSUM_LEVELS
    return top
