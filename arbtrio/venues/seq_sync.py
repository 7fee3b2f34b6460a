"""Syncing a book from a REST snapshot plus sequenced WebSocket deltas (Gate.io, KuCoin).

Both venues publish deltas that carry an id range ``[first, last]`` (Gate.io ``U``/``u``;
KuCoin one ``sequence``, so ``first == last``) and a REST snapshot that carries the id of
the last change it includes. The procedure (Gate.io's official one, which KuCoin's
"calibration" is a special case of):

1. Subscribe and *buffer* deltas while no snapshot is applied.
2. Fetch a snapshot with id ``S``; drop buffered deltas with ``last <= S``.
3. If the first remaining delta has ``first > S + 1`` the snapshot is too old: fetch again.
4. From then on a delta applies iff ``first <= id + 1 <= last`` (sizes are absolute, so a
   delta overlapping the applied range still yields the state at ``last``); ``last <= id`` is
   stale and skipped; ``first > id + 1`` is a gap: invalidate and go back to 1.

:class:`SeqSync` is that rule as a sans-IO object over opaque messages; the caller applies
what it says to apply. The hot path (live, in order) is one comparison.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["SeqGap", "SeqSync", "SnapshotTooOld", "Verdict"]


class Verdict(enum.IntEnum):
    APPLY = 0  # in order: apply it now
    STALE = 1  # already contained in the book: skip it
    BUFFERED = 2  # no snapshot yet: kept for when one arrives
    GAP = 3  # updates were lost: the caller must invalidate and resync


class SnapshotTooOld(Exception):
    """The snapshot predates the oldest buffered delta: fetch a newer snapshot."""


class SeqGap(Exception):
    """The buffered deltas themselves are discontinuous after the snapshot: resync."""


class SeqSync(Generic[T]):
    """The sequencing state of one symbol's book: buffering or live at id ``last``."""

    __slots__ = ("buffer", "last", "live")

    def __init__(self, max_buffer: int = 2000) -> None:
        self.live = False
        self.last = 0
        self.buffer: deque[tuple[int, int, T]] = deque(maxlen=max_buffer)

    def on_delta(self, first: int, last: int, msg: T) -> Verdict:
        """Classify one delta covering ids ``first..last`` (and buffer it if not live)."""
        if self.live:
            if first <= self.last + 1 <= last:
                self.last = last
                return Verdict.APPLY
            if last <= self.last:
                return Verdict.STALE
            return Verdict.GAP
        # Oldest entries fall off a full buffer; the next snapshot then looks too old and is
        # fetched again, which is the right outcome for a slow snapshot.
        self.buffer.append((first, last, msg))
        return Verdict.BUFFERED

    def on_snapshot(self, snapshot_id: int) -> list[T]:
        """Go live from a snapshot with id ``snapshot_id``; returns buffered deltas to apply.

        Raises :class:`SnapshotTooOld` (buffer kept: fetch again) or :class:`SeqGap` (the
        buffer is discontinuous: :meth:`reset` and resync).
        """
        while self.buffer and self.buffer[0][1] <= snapshot_id:
            self.buffer.popleft()
        if self.buffer and self.buffer[0][0] > snapshot_id + 1:
            raise SnapshotTooOld(
                f"snapshot id {snapshot_id} older than first buffered delta {self.buffer[0][0]}"
            )
        applied: list[T] = []
        last = snapshot_id
        for first, end, msg in self.buffer:
            if first > last + 1:
                self.buffer.clear()
                raise SeqGap(f"buffered deltas jump from {last} to {first}")
            if end > last:
                applied.append(msg)
                last = end
        self.buffer.clear()
        self.live = True
        self.last = last
        return applied

    def go_live(self, snapshot_id: int) -> None:
        """A full snapshot arrived in-stream (e.g. Gate.io ``full``): live at its id."""
        self.buffer.clear()
        self.live = True
        self.last = snapshot_id

    def reset(self) -> None:
        """Back to buffering (after a gap, a malformed message or a reconnect)."""
        self.live = False
        self.last = 0
        self.buffer.clear()
