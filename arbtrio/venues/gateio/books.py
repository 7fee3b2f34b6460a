"""Gate.io local books from ``futures.order_book_update`` + REST snapshots (sans-IO).

Channel choice: the classic ``futures.order_book_update`` (subscribed ``[contract, "100ms",
"50"]``) synced from ``GET /futures/usdt/order_book?with_id=true``, per Gate's official
procedure (see :mod:`arbtrio.venues.seq_sync`), rather than the newer ``futures.obu``: it is
the documented, long-stable channel, and the same buffer-and-snapshot machinery serves
KuCoin. Details:

* Deltas carry absolute sizes in contracts (0 deletes); they become base units with the
  contract multiplier before touching the :class:`L2Book`.
* Only the subscribed top ``depth`` levels are maintained: a level pushed out of the window
  may never get an explicit delete, so the book is trimmed to ``depth`` after each delta.
* A ``full: true`` result replaces the book and sets the id (handled defensively).
* After each applied delta a crossed book means corruption: resync.
* Anything malformed — undecodable frame, a field out of range, a delta for a contract we
  did not subscribe — is counted in ``health.malformed``, logged, and every book of the
  session is invalidated and resynced. Nothing here raises.

:meth:`GateBooks.on_frame` is the hot path: decode the envelope, decode the result, apply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import msgspec
import structlog

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.venues.base import MalformedMessage, VenueHealth
from arbtrio.venues.gateio import codecs
from arbtrio.venues.gateio.codecs import BookLevel, BookUpdate, OrderBookSnapshot, WsEnvelope
from arbtrio.venues.seq_sync import SeqGap, SeqSync, SnapshotTooOld, Verdict

log = structlog.get_logger("arbtrio.venues.gateio")

BOOK_CHANNEL = "futures.order_book_update"
_envelope = codecs.envelope_decoder
_update = codecs.book_update_decoder
_frame = codecs.book_frame_decoder
_APPLY, _GAP = Verdict.APPLY, Verdict.GAP


class _Feed:
    __slots__ = ("book", "mult", "sync")

    def __init__(self, book: L2Book, mult: float) -> None:
        self.book = book
        self.mult = mult
        self.sync: SeqSync[BookUpdate] = SeqSync()


class GateBooks:
    """The books of one public session: feed it frames and snapshots, read ``books``.

    ``pending`` holds the symbols waiting for a REST snapshot (symbol → time requested);
    the session's snapshot task fetches them and calls :meth:`on_snapshot`.
    """

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        health: VenueHealth,
        on_update: Callable[[L2Book], None],
        *,
        depth: int = 50,
        books: dict[str, L2Book] | None = None,
    ) -> None:
        self.health = health
        self.on_update = on_update
        self.depth = depth
        self.books: dict[str, L2Book] = {} if books is None else books
        self._feeds: dict[str, _Feed] = {}
        for symbol, inst in instruments.items():
            book = self.books.setdefault(symbol, L2Book(codecs.VENUE, symbol))
            self._feeds[symbol] = _Feed(book, float(inst.contract_multiplier))
        self.pending: dict[str, float] = {}

    # -- resync --------------------------------------------------------------------------
    def resync(self, symbol: str, reason: str, now: float) -> None:
        """Invalidate ``symbol``'s book and queue a snapshot fetch."""
        feed = self._feeds[symbol]
        if feed.sync.live:  # a synced stream broke (not the initial sync)
            self.health.resyncs += 1
        feed.sync.reset()
        if symbol not in self.pending:
            self.pending[symbol] = now
        feed.book.invalidate(reason)
        self.on_update(feed.book)

    def resync_all(self, reason: str, now: float) -> None:
        for symbol in self._feeds:
            self.resync(symbol, reason, now)

    def buffered(self, symbol: str) -> bool:
        """Whether ``symbol`` has deltas buffered while it waits for a snapshot."""
        return bool(self._feeds[symbol].sync.buffer)

    # -- frames ----------------------------------------------------------------------------
    def on_frame(self, raw: bytes | str, now: float) -> WsEnvelope | None:
        """Handle one WS frame. Book updates are applied here (returns None); any other
        message's envelope is returned for the session to handle (acks, pong, upgrade)."""
        try:
            frame = _frame.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            frame = None  # not a well-formed book update: look at the envelope
        try:
            if frame is None:
                env = _envelope.decode(raw)
                if env.channel != BOOK_CHANNEL or env.event != "update":
                    return env
                upd = _update.decode(env.result)  # raises: the book frame is malformed
            elif frame.event != "update":
                return _envelope.decode(raw)
            else:
                upd = frame.result
            self._on_update(upd, now)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.malformed(MalformedMessage(codecs.VENUE, f"{BOOK_CHANNEL}: {exc}"), raw, now)
        except MalformedMessage as exc:
            self.malformed(exc, raw, now)
        return None

    def malformed(self, exc: MalformedMessage, raw: bytes | str, now: float) -> None:
        """Count, log, and resync every book of the session."""
        self.health.malformed += 1
        log.warning("venue.malformed", venue=codecs.VENUE, error=exc.message, frame=_clip(raw))
        self.resync_all("malformed message", now)

    def _on_update(self, upd: BookUpdate, now: float) -> None:
        feed = self._feeds.get(upd.s)
        if feed is None:
            raise MalformedMessage(codecs.VENUE, f"{BOOK_CHANNEL}: unsubscribed contract {upd.s!r}")
        if upd.u < upd.U:
            raise MalformedMessage(codecs.VENUE, f"{BOOK_CHANNEL}: U {upd.U} > u {upd.u}")
        if upd.full:
            m = feed.mult
            feed.sync.go_live(upd.u)
            self.pending.pop(upd.s, None)
            feed.book.apply_snapshot(
                [(lv.p, lv.s * m) for lv in upd.b], [(lv.p, lv.s * m) for lv in upd.a], now, upd.u
            )
            self._checked(feed, upd.s, now)
            return
        verdict = feed.sync.on_delta(upd.U, upd.u, upd)
        if verdict is _APPLY:  # the hot path, inlined
            m = feed.mult
            book = feed.book
            book.apply_delta(
                [(lv.p, lv.s * m) for lv in upd.b], [(lv.p, lv.s * m) for lv in upd.a], now, upd.u
            )
            book.trim(self.depth)
            if book.is_crossed():
                log.warning("venue.crossed_book", venue=codecs.VENUE, symbol=upd.s)
                self.resync(upd.s, "crossed book", now)
            else:
                self.on_update(book)
        elif verdict is _GAP:
            log.info("venue.gap", venue=codecs.VENUE, symbol=upd.s, last=feed.sync.last, U=upd.U)
            self.resync(upd.s, f"gap: expected U <= {feed.sync.last + 1}, got {upd.U}", now)

    def _apply(self, feed: _Feed, upd: BookUpdate, now: float) -> None:
        m = feed.mult
        book = feed.book
        book.apply_delta(
            [(lv.p, lv.s * m) for lv in upd.b], [(lv.p, lv.s * m) for lv in upd.a], now, upd.u
        )
        book.trim(self.depth)

    def _checked(self, feed: _Feed, symbol: str, now: float) -> None:
        if feed.book.is_crossed():
            log.warning("venue.crossed_book", venue=codecs.VENUE, symbol=symbol)
            self.resync(symbol, "crossed book", now)
        else:
            self.on_update(feed.book)

    # -- snapshots -------------------------------------------------------------------------
    def on_snapshot(self, symbol: str, snap: OrderBookSnapshot, now: float) -> bool:
        """Apply a REST snapshot to a pending symbol. True when the book is live again;
        False when the snapshot was too old (or the buffer broken): fetch another."""
        feed = self._feeds[symbol]
        if symbol not in self.pending:
            return True  # went live meanwhile (a ``full`` push)
        try:
            deltas = feed.sync.on_snapshot(snap.id)
        except SnapshotTooOld:
            return False
        except SeqGap:
            feed.sync.reset()
            return False
        m = feed.mult
        feed.book.apply_snapshot(_levels(snap.bids, m), _levels(snap.asks, m), now, snap.id)
        for upd in deltas:
            self._apply(feed, upd, now)
        del self.pending[symbol]
        if feed.book.is_crossed():
            self.resync(symbol, "crossed book after snapshot", now)
            return False
        self.on_update(feed.book)
        return True


def _levels(levels: list[BookLevel], mult: float) -> list[tuple[float, float]]:
    return [(lv.p, lv.s * mult) for lv in levels]


def _clip(raw: bytes | str, limit: int = 300) -> str:
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "…"
