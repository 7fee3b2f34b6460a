"""Bybit ``orderbook.{depth}.{symbol}`` rules applied to an L2Book (sans-IO).

Rules (the V5 orderbook topic page): a ``snapshot`` replaces the book, and so does a delta with
``u == 1`` (the service restarted); a delta's levels are absolute sizes, ``"0"`` deletes;
consecutive deltas carry ``u == prev_u + 1``, anything else is a gap. ``orderbook.1`` is
snapshot-only and re-sends the same ``u`` when nothing changed, which is not a gap; an
older ``u`` there is a late frame and is skipped, except ``u == 1``: the service restarted
and its ``u`` counts from 1 again, so that snapshot replaces the book like any other (were
it skipped, every later level-1 frame would look older and the book would freeze). A
crossed book after an update is treated
as corrupt. On a gap or a corrupt book the tracker invalidates the book and answers
``RESYNC``; it ignores deltas until the next snapshot.

Exchange time: every applied frame that carries the venue's ``ts`` (ms, "the timestamp
that the system generates the data") stamps the book with it (:meth:`L2Book.stamp`), so a
feed that keeps flowing but lags shows it in ``book.lag_s``. ``ts`` rather than ``cts``
(the matching engine's time of the data): a level-1 snapshot re-pushed unchanged after 3 s
is fresh news that nothing changed, and its ``cts`` need not be.
"""

from __future__ import annotations

import enum

from arbtrio.core.book import L2Book
from arbtrio.venues.bybit.codecs import PublicFrame


class Verdict(enum.IntEnum):
    APPLIED = 0
    IGNORED = 1  # waiting for a snapshot, or a stale level-1 frame
    RESYNC = 2  # the book was invalidated: resubscribe the topic


class BybitBook:
    """The sync state of one topic's book; owned by the feed task of its connection."""

    __slots__ = ("book", "depth", "reason", "synced", "topic")

    def __init__(self, book: L2Book, depth: int) -> None:
        self.book = book
        self.depth = depth
        self.topic = f"orderbook.{depth}.{book.symbol}"
        self.synced = False
        self.reason = ""

    def apply(self, frame: PublicFrame, now: float) -> Verdict:
        """Apply one decoded push of this topic (``frame.data`` is not None)."""
        data = frame.data
        assert data is not None
        book = self.book
        if data.s != book.symbol:
            return self._fail(f"data for {data.s!r} on topic {self.topic}")
        if frame.type == "snapshot" or (frame.type == "delta" and data.u == 1):
            if self.depth == 1 and self.synced and 1 < data.u < book.seq:
                return Verdict.IGNORED  # late; u == 1 is a restart and replaces
            book.apply_snapshot(data.b, data.a, now, data.u)
            self.synced = True
        elif frame.type == "delta":
            if self.depth == 1:
                return self._fail("delta on the snapshot-only level-1 topic")
            if not self.synced:
                return Verdict.IGNORED
            if data.u != book.seq + 1:
                return self._fail(f"gap: expected u={book.seq + 1}, got u={data.u}")
            book.apply_delta(data.b, data.a, now, data.u)
        else:
            return self._fail(f"unknown push type {frame.type!r}")
        if book.is_crossed():
            return self._fail("crossed book")
        ts = frame.ts
        if ts:
            book.stamp(ts / 1000.0)
        return Verdict.APPLIED

    def invalidate(self, reason: str) -> None:
        """Untradable until the next snapshot (disconnect, malformed frame, resubscribe)."""
        self.synced = False
        self.reason = reason
        self.book.invalidate(reason)

    def _fail(self, reason: str) -> Verdict:
        self.invalidate(reason)
        return Verdict.RESYNC
