"""KuCoin Futures local books from ``/contractMarket/level2:SYMBOL`` + REST snapshots
(sans-IO).

Each push carries one change ``"price,side,size"`` (absolute lots, 0 removes) and one
``sequence``. Sync (:mod:`arbtrio.venues.seq_sync` with ``first == last == sequence``):
buffer pushes, fetch ``GET /api/v1/level2/snapshot``, drop pushes with ``sequence <=
snapshot.sequence``, then each push must be exactly the previous sequence + 1; a gap
invalidates the book and resyncs from a fresh snapshot.

Crossing: since every change is its own message, a book can be crossed *between* the
messages of one matching event. A crossed book is marked untradable at once and tradable
again when it uncrosses; only a crossing that persists for ``crossed_limit`` consecutive
changes is treated as corruption and resynced.

Exchange time: a live push carries the venue's ``timestamp`` (epoch milliseconds); once it
is applied, the book is stamped with it (:meth:`L2Book.stamp`, in seconds), so a feed that
flows but lags shows its lag. Pushes buffered before a snapshot are applied when it arrives,
long after they were received: they are not stamped (their receipt time is not the apply
time), nor is the REST snapshot (its ``ts`` is another path's time).

Malformed frames (undecodable, bad change string, unknown symbol) are counted, logged, and
every book of the session is resynced. Nothing here raises.

:class:`KucoinBooks` holds the rules and the state; it does no I/O and reads no clock.
``on_update(book)`` is called, synchronously, for every book a call changed (applied or
invalidated): :class:`~arbtrio.venues.kucoin.feed.KucoinBookFeed` turns those calls into
its outputs, and decides from ``pending`` and :meth:`KucoinBooks.buffered` when a
snapshot is due.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import msgspec
import structlog

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.venues.base import MalformedMessage, VenueHealth
from arbtrio.venues.kucoin import codecs
from arbtrio.venues.kucoin.codecs import Level2Change, Level2Snapshot, WsMessage, parse_change
from arbtrio.venues.seq_sync import SeqGap, SeqSync, SnapshotTooOld, Verdict

log = structlog.get_logger("arbtrio.venues.kucoin")

TOPIC_PREFIX = "/contractMarket/level2:"
_frame = codecs.level2_frame_decoder
_message = codecs.ws_message_decoder
_change = codecs.level2_change_decoder
_APPLY, _GAP = Verdict.APPLY, Verdict.GAP


class _Feed:
    __slots__ = ("book", "crossed", "mult", "symbol", "sync")

    def __init__(self, symbol: str, book: L2Book, mult: float) -> None:
        self.symbol = symbol
        self.book = book
        self.mult = mult
        self.crossed = 0
        self.sync: SeqSync[Level2Change] = SeqSync()


class KucoinBooks:
    """The books of one public session: feed it frames and snapshots, read ``books``.

    ``pending`` maps symbols waiting for a REST snapshot to the time they started waiting.
    """

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        health: VenueHealth,
        on_update: Callable[[L2Book], None],
        *,
        books: dict[str, L2Book] | None = None,
        crossed_limit: int = 200,
    ) -> None:
        self.health = health
        self.on_update = on_update
        self.crossed_limit = crossed_limit
        self.books: dict[str, L2Book] = {} if books is None else books
        self._feeds: dict[str, _Feed] = {}
        self._by_topic: dict[str, _Feed] = {}
        for symbol, inst in instruments.items():
            book = self.books.setdefault(symbol, L2Book(codecs.VENUE, symbol))
            feed = _Feed(symbol, book, float(inst.contract_multiplier))
            self._feeds[symbol] = feed
            self._by_topic[TOPIC_PREFIX + symbol] = feed
        self.pending: dict[str, float] = {}

    def topics(self) -> list[str]:
        return list(self._by_topic)

    def buffered(self, symbol: str) -> bool:
        return bool(self._feeds[symbol].sync.buffer)

    # -- resync --------------------------------------------------------------------------
    def resync(self, symbol: str, reason: str, now: float) -> None:
        feed = self._feeds[symbol]
        if feed.sync.live:  # a synced stream broke (not the initial sync)
            self.health.resyncs += 1
        feed.sync.reset()
        feed.crossed = 0
        if symbol not in self.pending:
            self.pending[symbol] = now
        feed.book.invalidate(reason)
        self.on_update(feed.book)

    def resync_all(self, reason: str, now: float) -> None:
        for symbol in self._feeds:
            self.resync(symbol, reason, now)

    # -- frames ----------------------------------------------------------------------------
    def on_frame(self, raw: bytes | str, now: float) -> WsMessage | None:
        """Handle one WS frame: level-2 pushes are applied here (returns None); any other
        frame is returned decoded for the session (welcome, ack, pong, error)."""
        try:
            frame = _frame.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            frame = None
        try:
            if frame is None:
                msg = _message.decode(raw)
                if not msg.is_push or not msg.topic.startswith(TOPIC_PREFIX):
                    return msg
                change = _change.decode(msg.data)  # raises: the level-2 push is malformed
                topic = msg.topic
            else:
                change = frame.data
                topic = frame.topic
            self._on_change(topic, change, now)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.malformed(MalformedMessage(codecs.VENUE, f"level2: {exc}"), raw, now)
        except MalformedMessage as exc:
            self.malformed(exc, raw, now)
        return None

    def malformed(self, exc: MalformedMessage, raw: bytes | str, now: float) -> None:
        self.health.malformed += 1
        log.warning("venue.malformed", venue=codecs.VENUE, error=exc.message, frame=_clip(raw))
        self.resync_all("malformed message", now)

    def _on_change(self, topic: str, change: Level2Change, now: float) -> None:
        feed = self._by_topic.get(topic)
        if feed is None:
            raise MalformedMessage(codecs.VENUE, f"level2 push for unsubscribed topic {topic!r}")
        is_bid, price, lots = parse_change(change.change)  # validate before buffering
        seq = change.sequence
        verdict = feed.sync.on_delta(seq, seq, change)
        if verdict is _APPLY:
            self._apply(feed, is_bid, price, lots, seq, now, change.timestamp)
        elif verdict is _GAP:
            log.info("venue.gap", venue=codecs.VENUE, symbol=feed.symbol, last=feed.sync.last,
                     sequence=seq)  # fmt: skip
            self.resync(feed.symbol, f"gap: expected {feed.sync.last + 1}, got {seq}", now)

    def _apply(
        self, feed: _Feed, is_bid: bool, price: float, lots: float, seq: int, now: float,
        ts_ms: int = 0,
    ) -> None:  # fmt: skip
        """Apply one change; ``ts_ms`` (the push's exchange time, 0: none or a replay)
        stamps the book."""
        book = feed.book
        level = ((price, lots * feed.mult),)
        if is_bid:
            book.apply_delta(level, (), now, seq)
        else:
            book.apply_delta((), level, now, seq)
        if ts_ms:
            book.stamp(ts_ms * 0.001)
        if book.is_crossed():
            feed.crossed += 1
            if feed.crossed > self.crossed_limit:
                log.warning("venue.crossed_book", venue=codecs.VENUE, symbol=feed.symbol)
                self.resync(feed.symbol, "crossed book", now)
                return
            if book.tradable:
                book.invalidate("crossed")
        elif feed.crossed:
            feed.crossed = 0
            book.tradable = True  # the transient crossing resolved; the book is in sync
            book.invalid_reason = ""
        self.on_update(book)

    # -- snapshots -------------------------------------------------------------------------
    def on_snapshot(self, symbol: str, snap: Level2Snapshot, now: float) -> bool:
        """Apply a REST snapshot to a pending symbol: True when live, False to fetch again."""
        feed = self._feeds[symbol]
        if symbol not in self.pending:
            return True
        try:
            changes = feed.sync.on_snapshot(snap.sequence)
        except SnapshotTooOld:
            return False
        except SeqGap:
            feed.sync.reset()
            return False
        m = feed.mult
        feed.book.apply_snapshot(
            [(p, s * m) for p, s in snap.bids], [(p, s * m) for p, s in snap.asks], now,
            snap.sequence,
        )  # fmt: skip
        feed.crossed = 0
        if feed.book.is_crossed():
            feed.crossed = 1
            feed.book.invalidate("crossed")
        del self.pending[symbol]
        for change in changes:
            is_bid, price, lots = parse_change(change.change)
            self._apply(feed, is_bid, price, lots, change.sequence, now)
        if symbol in self.pending:
            return False
        if not changes:
            self.on_update(feed.book)
        return True


def _clip(raw: bytes | str, limit: int = 300) -> str:
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "…"
