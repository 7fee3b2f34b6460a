"""Gate.io's book-sync rules for one contract (sans-IO): ``futures.order_book_update`` deltas
plus REST snapshots, per Gate's official local-book procedure (:mod:`arbtrio.venues.seq_sync`).

:class:`GateBook` keeps one contract's :class:`~arbtrio.core.book.L2Book` and its
:class:`~arbtrio.venues.seq_sync.SeqSync` and says what each input did (a :class:`Step`); it
never logs, calls back or raises for venue input other than :class:`MalformedMessage`. The
stream protocol (:class:`arbtrio.venues.gateio.feed.GateBookFeed`) turns steps into outputs.

* Deltas carry absolute sizes in contracts (0 deletes); they become base units with the
  contract multiplier before touching the book.
* Only the subscribed top ``depth`` levels are maintained: a level pushed out of the window
  may never get an explicit delete, so the book is trimmed to ``depth`` after each delta.
* A ``full: true`` result replaces the book and sets the id (handled defensively: Gate
  documents it for spot).
* After each applied delta or snapshot a crossed book means corruption: resync.
* Exchange time: every delta (and in-stream full snapshot) applied from the stream stamps
  the book with its ``t`` (ms → epoch seconds, :meth:`L2Book.stamp`). A REST snapshot does
  not: its ``update`` is when the book last changed (seconds ago on a quiet contract), not
  when it was sent, and it travels another path than the stream whose lag is measured.
"""

from __future__ import annotations

import enum

from arbtrio.core.book import L2Book
from arbtrio.venues.base import MalformedMessage
from arbtrio.venues.gateio.codecs import VENUE, BookLevel, BookUpdate, OrderBookSnapshot
from arbtrio.venues.seq_sync import SeqGap, SeqSync, SnapshotTooOld, Verdict

__all__ = ["BOOK_CHANNEL", "GateBook", "Step"]

BOOK_CHANNEL = "futures.order_book_update"
_APPLY, _GAP = Verdict.APPLY, Verdict.GAP


class Step(enum.Enum):
    """What one input did to a :class:`GateBook`."""

    APPLIED = "applied"  # the book changed and is live
    FULL = "full"  # an in-stream full snapshot replaced the book: live, no REST snapshot due
    STALE = "stale"  # a delta already contained in the book: skipped
    BUFFERED = "buffered"  # no snapshot applied yet: the delta is kept for it
    GAP = "gap"  # updates were lost: resync
    CROSSED = "crossed"  # the book crossed after applying: corrupt, resync
    TOO_OLD = "too old"  # the snapshot predates the buffered stream: fetch another
    BROKEN = "broken"  # the buffered deltas are discontinuous: buffer reset, fetch another


# Module constants: an enum member looked up as ``Step.X`` costs an attribute lookup per
# frame on the hot path.
_APPLIED, _FULL, _CROSSED = Step.APPLIED, Step.FULL, Step.CROSSED
_STALE, _BUFFERED, _GAPPED = Step.STALE, Step.BUFFERED, Step.GAP
_STALE_VERDICT = Verdict.STALE


class GateBook:
    """One contract's book and sequence state (``mult``: the contract multiplier as a float,
    ``depth``: the subscribed level count the book is trimmed to)."""

    __slots__ = ("book", "depth", "mult", "sync")

    def __init__(self, book: L2Book, mult: float, depth: int) -> None:
        self.book = book
        self.mult = mult
        self.depth = depth
        self.sync: SeqSync[BookUpdate] = SeqSync()

    @property
    def buffered(self) -> bool:
        """Whether deltas are buffered while the book waits for a snapshot."""
        return bool(self.sync.buffer)

    def reset(self, reason: str) -> bool:
        """Invalidate the book and go back to buffering; True when a live stream broke
        (not the initial sync)."""
        was_live = self.sync.live
        self.sync.reset()
        self.book.invalidate(reason)
        return was_live

    def update(self, upd: BookUpdate, now: float) -> Step:
        """Apply one delta (or in-stream full snapshot) of this contract.

        Raises :class:`MalformedMessage` when ``U > u``."""
        if upd.u < upd.U:
            raise MalformedMessage(VENUE, f"{BOOK_CHANNEL}: U {upd.U} > u {upd.u}")
        if upd.full:
            m = self.mult
            self.sync.go_live(upd.u)
            self.book.apply_snapshot(
                [(lv.p, lv.s * m) for lv in upd.b], [(lv.p, lv.s * m) for lv in upd.a], now, upd.u
            )
            if upd.t:
                self.book.stamp(upd.t * 0.001)
            return _CROSSED if self.book.is_crossed() else _FULL
        verdict = self.sync.on_delta(upd.U, upd.u, upd)
        if verdict is _APPLY:  # the hot path
            m = self.mult
            book = self.book
            book.apply_delta(
                [(lv.p, lv.s * m) for lv in upd.b], [(lv.p, lv.s * m) for lv in upd.a], now, upd.u
            )
            book.trim(self.depth)
            if upd.t:  # the venue's generation time (ms): the feed's lag
                book.stamp(upd.t * 0.001)
            return _CROSSED if book.is_crossed() else _APPLIED
        if verdict is _GAP:
            return _GAPPED
        return _STALE if verdict is _STALE_VERDICT else _BUFFERED

    def snapshot(self, snap: OrderBookSnapshot, now: float) -> Step:
        """Apply a REST snapshot and the buffered deltas after it: APPLIED (live), CROSSED,
        TOO_OLD (buffer kept) or BROKEN (buffer reset)."""
        try:
            deltas = self.sync.on_snapshot(snap.id)
        except SnapshotTooOld:
            return Step.TOO_OLD
        except SeqGap:
            self.sync.reset()
            return Step.BROKEN
        m = self.mult
        book = self.book
        book.apply_snapshot(_levels(snap.bids, m), _levels(snap.asks, m), now, snap.id)
        for upd in deltas:
            book.apply_delta(
                [(lv.p, lv.s * m) for lv in upd.b], [(lv.p, lv.s * m) for lv in upd.a], now, upd.u
            )
            book.trim(self.depth)
        return Step.CROSSED if book.is_crossed() else Step.APPLIED

    def gap_reason(self, upd: BookUpdate) -> str:
        return f"gap: expected U <= {self.sync.last + 1}, got {upd.U}"


def _levels(levels: list[BookLevel], mult: float) -> list[tuple[float, float]]:
    return [(lv.p, lv.s * mult) for lv in levels]
