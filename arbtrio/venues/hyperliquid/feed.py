"""Hyperliquid's two streams as sans-IO protocols (driven by :class:`arbtrio.venues.stream.Stream`).

Neither protocol does I/O or reads a clock: time is the ``now`` argument (Trio's clock, the
runtime's time base) and venue epoch-ms timestamps are mapped onto it with an injected wall
clock. Both keep the rules of ``specs/010-hyperliquid.md``.

* :class:`HyperliquidBookFeed` — the public stream: ``l2Book`` + ``bbo`` per coin on one
  connection. Every ``l2Book`` is a full snapshot (``L2Book.seq`` = the venue's ms ``time``;
  older messages are ignored); a newer ``bbo`` moves the top in between. ``{"method":"ping"}``
  every ``ping_interval`` (the venue closes a connection that sent nothing for 60 s). A coin
  silent for ``stale_after`` is invalidated and resubscribed (the ack brings a snapshot); the
  ``max_quiet_rounds``-th silent round in a row ends the session. A malformed frame is
  counted, logged, and every book of the connection invalidated and resubscribed.
* :class:`HyperliquidOrderFeed` — the private stream: ``orderUpdates`` + ``userFills`` of the
  master account. Fills carry only the venue ``oid``: a fill whose order's client id is not
  known yet waits until it is (an ``orderUpdates`` entry, the fill's own ``cloid``, or an
  :class:`OrderPlaced` note the client posts from its own REST answer), then is delivered;
  fills are de-duplicated by ``tid``.

Neither asks for REST data (:class:`~arbtrio.venues.stream.Fetch`): snapshots arrive on the
socket, and the order facts REST learns come as notes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Final

import attrs
import structlog

from arbtrio.core.book import L2Book
from arbtrio.core.types import Fill, OrderAck, OrderEvent, OrderStatus, OrderUpdate, Side
from arbtrio.venues.base import Disconnected, MalformedMessage, VenueHealth
from arbtrio.venues.hyperliquid import codecs as c
from arbtrio.venues.stream import NOTHING, READY, Changed, Deliver, Fail, Output, Send
from arbtrio.venues.wire import RecentIds

__all__ = [
    "PING",
    "HyperliquidBookFeed",
    "HyperliquidOrderFeed",
    "OrderPlaced",
    "average_price",
    "fill_of",
    "filled_of",
    "order_status",
    "runtime_ts",
]

log = structlog.get_logger("arbtrio.venues.hyperliquid")

VENUE: Final = c.VENUE
PING: Final = Send('{"method":"ping"}')
BOOK_CHANNELS: Final = ("l2Book", "bbo")
ORDER_CHANNELS: Final = ("orderUpdates", "userFills")
# The hot path's names, bound once (module globals, not attribute look-ups on ``c``).
_decode_ws = c.decode_ws
_book_ladders = c.book_ladders
_L2BookMsg = c.L2BookMsg
_BboMsg = c.BboMsg


def _request(method: str, kind: str, *, coin: str | None = None, user: str | None = None) -> Send:
    sub = c.Subscription(type=kind, coin=coin, user=user)
    return Send(c.encode(c.WsRequest(method=method, subscription=sub)).decode())  # type: ignore[arg-type]


# ==========================================================================================
# public books
# ==========================================================================================
class HyperliquidBookFeed:
    """The books of ``coins`` on one connection (see the module docstring).

    ``books`` is the client's venue symbol → :class:`L2Book` map: the feed adds the books it
    keeps and is their only writer. Every input returns the outputs to execute, in order; an
    applied frame returns the coin's prebuilt ``(Changed(book),)``. The first frame that
    moves a book in a session also answers :data:`~arbtrio.venues.stream.READY` (the
    session is healthy once books progress, not merely once subscriptions are sent).
    """

    def __init__(
        self,
        books: dict[str, L2Book],
        coins: Iterable[str],
        health: VenueHealth,
        *,
        ping_interval: float = 20.0,
        stale_after: float = 10.0,
        idle_timeout: float = 60.0,
        max_quiet_rounds: int = 3,
    ) -> None:
        self.health = health
        self.ping_interval = ping_interval
        self.stale_after = stale_after
        self.idle_timeout = idle_timeout
        self.max_quiet_rounds = max_quiet_rounds
        # One tick serves both the pings and the staleness check (a quarter of stale_after).
        self.timer_interval = min(ping_interval, max(0.05, stale_after / 4))
        self.coins = list(dict.fromkeys(coins))
        self.books = {coin: books.setdefault(coin, L2Book(VENUE, coin)) for coin in self.coins}
        self._changed = {coin: (Changed(book),) for coin, book in self.books.items()}
        self._subscribe = {
            coin: tuple(_request("subscribe", kind, coin=coin) for kind in BOOK_CHANNELS)
            for coin in self.coins
        }
        self._resubscribe = {
            coin: (
                *(_request("unsubscribe", kind, coin=coin) for kind in BOOK_CHANNELS),
                *self._subscribe[coin],
            )
            for coin in self.coins
        }
        self.last_seen = dict.fromkeys(self.coins, 0.0)
        self.quiet_rounds = dict.fromkeys(self.coins, 0)
        self._progressed = False  # a book moved in this session
        self._ready = False  # READY was answered in this session
        self._next_ping = 0.0

    # -- inputs ------------------------------------------------------------------------------
    def connected(self, info: Any, now: float) -> Sequence[Output]:
        """Subscribe ``l2Book`` and ``bbo`` of every coin; staleness counts from ``now``.
        (Without coins there is nothing to wait for: ready at once.)"""
        self.last_seen = dict.fromkeys(self.coins, now)
        self.quiet_rounds = dict.fromkeys(self.coins, 0)
        self._progressed = self._ready = not self.coins
        self._next_ping = now + self.ping_interval
        if not self.coins:
            return (READY,)
        return [send for coin in self.coins for send in self._subscribe[coin]]

    def frame(self, raw: str | bytes, now: float) -> Sequence[Output]:
        """Apply one frame. Malformed (undecodable, an impossible or crossed book, a channel
        that has no place here): counted, logged, every book invalidated and resubscribed."""
        try:
            out = self.apply(_decode_ws(raw), now)
        except MalformedMessage as exc:
            self.health.malformed += 1
            self.health.last_error = exc.message[:200]
            log.warning("hyperliquid.malformed", stream="books", error=exc.message[:200])
            out = self._resync_all("malformed message")
        if self._ready or not self._progressed:
            return out
        self._ready = True
        return (*out, READY)

    def timer(self, now: float) -> Sequence[Output]:
        """Ping when due; resubscribe each coin silent for ``stale_after``; end the session
        (``Fail(Disconnected)``) on a coin's ``max_quiet_rounds``-th silent round in a row."""
        out: list[Output] = []
        if now + self.timer_interval / 2 >= self._next_ping:  # ticks jitter: never skip one
            self._next_ping = now + self.ping_interval
            out.append(PING)
        stale_after = self.stale_after
        for coin in self.coins:
            if now - self.last_seen[coin] < stale_after:
                continue
            self.quiet_rounds[coin] += 1
            self.last_seen[coin] = now
            rounds = self.quiet_rounds[coin]
            if rounds >= self.max_quiet_rounds:
                error = Disconnected(VENUE, f"{coin}: feed stale after {rounds} resubscriptions")
                out.append(Fail(error))
                return out
            log.warning("hyperliquid.stale_feed", coin=coin, rounds=rounds)
            out.extend(self._resync(coin, "stale feed"))
        return out or NOTHING

    def fetched(self, key: Hashable, result: Any, now: float) -> Sequence[Output]:
        """Never asked for (snapshots arrive on the socket)."""
        return NOTHING

    def note(self, message: Any, now: float) -> Sequence[Output]:
        return NOTHING

    def disconnected(self, reason: str, now: float) -> Sequence[Output]:
        """Every book is invalid until the next session's snapshots."""
        self._progressed = self._ready = False
        out: list[Output] = []
        for coin, book in self.books.items():
            book.invalidate("disconnected")
            out.extend(self._changed[coin])
        return out

    # -- book rules ----------------------------------------------------------------------------
    def apply(self, msg: c.WsMessage | None, now: float) -> Sequence[Output]:
        """Apply one decoded frame; its outputs. Raises MalformedMessage for an impossible
        one (:meth:`frame` turns that into a resync)."""
        if isinstance(msg, _L2BookMsg):  # the hot path: kept free of helper calls
            data = msg.data
            coin = data.coin
            book = self.books.get(coin)
            if book is None:
                return self._unsubscribed(coin)
            if data.time < book.seq:
                return NOTHING
            (bid_px, bid_sz), (ask_px, ask_sz) = _book_ladders(data.levels)
            book.apply_sorted_snapshot(bid_px, bid_sz, ask_px, ask_sz, now, data.time)
            self.last_seen[coin] = now
            self.quiet_rounds[coin] = 0
            self._progressed = True
            if book.is_crossed():
                raise MalformedMessage(VENUE, f"{coin}: crossed l2Book snapshot")
            return self._changed[coin]
        if isinstance(msg, _BboMsg):
            return self._apply_bbo(msg.data, now)
        if isinstance(msg, c.ErrorMsg):
            self.health.last_error = f"venue error: {msg.data!r}"[:200]
            log.warning("hyperliquid.ws_error", stream="books", data=str(msg.data)[:200])
            return NOTHING
        if msg is None or isinstance(msg, c.PongMsg | c.SubscriptionResponseMsg):
            return NOTHING
        raise MalformedMessage(VENUE, f"unexpected {type(msg).__name__} on the book feed")

    def _unsubscribed(self, coin: str) -> Sequence[Output]:
        log.info("hyperliquid.unsubscribed_coin", coin=coin)
        return NOTHING

    def _apply_bbo(self, data: c.BboData, now: float) -> Sequence[Output]:
        coin = data.coin
        book = self.books.get(coin)
        if book is None:
            return self._unsubscribed(coin)
        self.last_seen[coin] = now  # a bbo is a sign of life even while the book resyncs
        self.quiet_rounds[coin] = 0
        self._progressed = True
        if not book.tradable or data.time < book.seq:
            return NOTHING
        bid, ask = data.bbo
        for level in data.bbo:
            if level is not None and not (0.0 < level.px < math.inf and 0.0 <= level.sz < math.inf):
                raise MalformedMessage(VENUE, f"{coin}: bad bbo level {level}")
        bid_levels = [(bid.px, bid.sz)] if bid else []
        ask_levels = [(ask.px, ask.sz)] if ask else []
        # Levels better than the new top are gone (only scanned when the top moved inwards).
        top_b, top_a = book.best_bid(), book.best_ask()
        if top_b is not None and (bid is None or top_b[0] > bid.px):
            bid_levels = [(px, 0.0) for px, _ in book.levels(Side.BUY) if not bid or px > bid.px]
            if bid:
                bid_levels.append((bid.px, bid.sz))
        if top_a is not None and (ask is None or top_a[0] < ask.px):
            ask_levels = [(px, 0.0) for px, _ in book.levels(Side.SELL) if not ask or px < ask.px]
            if ask:
                ask_levels.append((ask.px, ask.sz))
        book.apply_delta(bid_levels, ask_levels, now, seq=data.time)
        if book.is_crossed():
            raise MalformedMessage(VENUE, f"{coin}: bbo crosses the book")
        return self._changed[coin]

    def _resync(self, coin: str, reason: str) -> list[Output]:
        """Invalidate ``coin``'s book, tell the runtime, unsubscribe and subscribe it again
        (the subscription's ack brings a fresh snapshot)."""
        self.books[coin].invalidate(reason)
        self.health.resyncs += 1
        return [*self._changed[coin], *self._resubscribe[coin]]

    def _resync_all(self, reason: str) -> list[Output]:
        out: list[Output] = []
        for coin in self.coins:
            out.extend(self._resync(coin, reason))
        return out


# ==========================================================================================
# private orders
# ==========================================================================================
@attrs.frozen
class OrderPlaced:
    """A note from the client's own REST calls: venue order ``oid`` is our ``cloid``, and
    ``filled`` is the place answer's summary of an order that filled at once (its average
    price is then exact). Posted by ``place_order`` and ``query_order``."""

    oid: int
    cloid: str
    filled: c.Filled | None = None


class HyperliquidOrderFeed:
    """The account's private stream (see the module docstring).

    Emits ``Deliver(OrderAck)`` the first time a client order id shows up not rejected,
    ``Deliver(OrderUpdate)`` for every ``orderUpdates`` entry of ours, ``Deliver(Fill)`` for
    every new ``tid`` once its order is known. Orders with no client id we know are not
    ours and are ignored. ``wall_clock`` (epoch seconds) maps venue timestamps onto ``now``.
    """

    def __init__(
        self,
        user: str,
        health: VenueHealth,
        wall_clock: Callable[[], float],
        *,
        ping_interval: float = 20.0,
        idle_timeout: float = 60.0,
        seen_fills: int = 100_000,
        max_pending_orders: int = 10_000,
    ) -> None:
        self.user = user
        self.health = health
        self.wall_clock = wall_clock
        self.idle_timeout = idle_timeout
        self.timer_interval = ping_interval
        self.max_pending_orders = max_pending_orders
        self.oid_cloid: dict[int, str] = {}
        self.placed: dict[str, c.Filled] = {}  # cloid → the place answer of an instant fill
        self.pending_fills: dict[int, list[c.UserFill]] = {}  # oid → fills awaiting a cloid
        self.stream_fills: dict[int, list[c.UserFill]] = {}  # oid → fills seen (average price)
        self.acked: set[str] = set()
        self._seen_tids = RecentIds(seen_fills)

    # -- inputs ------------------------------------------------------------------------------
    def connected(self, info: Any, now: float) -> Sequence[Output]:
        """Subscribe ``orderUpdates`` and ``userFills`` of the user; ready at once (the
        venue acks subscriptions but refuses none it can parse)."""
        return (*(_request("subscribe", kind, user=self.user) for kind in ORDER_CHANNELS), READY)

    def frame(self, raw: str | bytes, now: float) -> Sequence[Output]:
        """Order events of one push. Malformed (undecodable, an impossible entry or fill):
        counted and logged; the push's other entries and fills are still delivered."""
        out: list[Output] = []
        try:
            msg = c.decode_ws(raw)
            if isinstance(msg, c.OrderUpdatesMsg):
                wall = self.wall_clock()
                for update in msg.data:
                    out.extend(Deliver(e) for e in self.order_events(update, now, wall))
            elif isinstance(msg, c.UserFillsMsg):
                fills = self.fill_events(msg.data.fills, now, self.wall_clock())
                out.extend(Deliver(f) for f in fills)
            elif isinstance(msg, c.ErrorMsg):
                self.health.last_error = f"venue error: {msg.data!r}"[:200]
                log.warning("hyperliquid.ws_error", stream="orders", data=str(msg.data)[:200])
        except MalformedMessage as exc:
            self._malformed(exc)
        return out

    def note(self, message: Any, now: float) -> Sequence[Output]:
        """An :class:`OrderPlaced`: learn the mapping (and the instant-fill summary) and
        deliver the fills that were waiting for it."""
        if not isinstance(message, OrderPlaced):
            return NOTHING
        if message.filled is not None:
            self.placed[message.cloid] = message.filled
        if self.oid_cloid.get(message.oid) == message.cloid:
            return NOTHING
        self.oid_cloid[message.oid] = message.cloid
        waiting = self.pending_fills.pop(message.oid, None)
        if not waiting:
            return NOTHING
        wall = self.wall_clock()  # waiting fills were checked when they arrived
        return [Deliver(fill_of(f, message.cloid, now, wall)) for f in waiting]

    def timer(self, now: float) -> Sequence[Output]:
        return (PING,)

    def fetched(self, key: Hashable, result: Any, now: float) -> Sequence[Output]:
        """Never asked for."""
        return NOTHING

    def disconnected(self, reason: str, now: float) -> Sequence[Output]:
        """Nothing to invalidate: the next session's ``userFills`` snapshot re-delivers
        recent fills, and those already delivered are dropped by ``tid``."""
        return NOTHING

    # -- push rules ----------------------------------------------------------------------------
    def order_events(self, update: c.WsOrderUpdate, now: float, wall: float) -> list[OrderEvent]:
        """The events of one ``orderUpdates`` entry (MalformedMessage for an impossible one)."""
        order = update.order
        cloid = order.cloid or self.oid_cloid.get(order.oid)
        if cloid is None:
            return []  # not an arbtrio order (manual, or another process)
        status = order_status(update.status)
        filled = filled_of(order, status)
        ts = runtime_ts(update.statusTimestamp, now, wall)
        events: list[OrderEvent] = []
        if order.oid not in self.oid_cloid:
            self.oid_cloid[order.oid] = cloid
        if cloid not in self.acked and status is not OrderStatus.REJECTED:
            self.acked.add(cloid)
            events.append(
                OrderAck(venue=VENUE, client_order_id=cloid, venue_order_id=str(order.oid), ts=ts)
            )
        placed = self.placed.get(cloid)
        if placed is not None and placed.totalSz == filled:
            avg: Decimal | None = placed.avgPx
        else:
            avg = average_price(self.stream_fills.get(order.oid, []), filled)
        events.append(
            OrderUpdate(
                venue=VENUE,
                client_order_id=cloid,
                status=status,
                filled_qty=filled,
                avg_price=avg,
                ts=ts,
                reason="" if status is OrderStatus.FILLED else update.status,
            )
        )
        for fill in self.pending_fills.pop(order.oid, []):
            events.append(fill_of(fill, cloid, now, wall))
        return events

    def fill_events(self, fills: list[c.UserFill], now: float, wall: float) -> list[Fill]:
        """The new fills of one ``userFills`` push whose order is known; the others wait
        (at most ``max_pending_orders`` orders' worth). An impossible fill (a number that
        is not finite) is counted in ``health.malformed`` and skipped."""
        out = []
        for fill in fills:
            if fill.tid in self._seen_tids:
                continue
            try:
                _check_fill(fill)
            except MalformedMessage as exc:
                self._malformed(exc)
                continue
            self._seen_tids.add(fill.tid)
            self.stream_fills.setdefault(fill.oid, []).append(fill)
            cloid = fill.cloid or self.oid_cloid.get(fill.oid)
            if cloid is None:
                pending = self.pending_fills.setdefault(fill.oid, [])
                if len(self.pending_fills) <= self.max_pending_orders:
                    pending.append(fill)
                continue
            out.append(fill_of(fill, cloid, now, wall))
        return out

    def _malformed(self, exc: MalformedMessage) -> None:
        self.health.malformed += 1
        self.health.last_error = exc.message[:200]
        log.warning("hyperliquid.malformed", stream="orders", error=exc.message[:200])


# ==========================================================================================
# conversions (shared with the client's REST paths)
# ==========================================================================================
def order_status(status: str) -> OrderStatus:
    """Map a venue order status to the unified one; MalformedMessage if unknown."""
    if status in ("open", "triggered"):
        return OrderStatus.OPEN
    if status == "filled":
        return OrderStatus.FILLED
    if status == "rejected" or status.endswith("Rejected"):
        return OrderStatus.REJECTED
    if status in ("canceled", "scheduledCancel") or status.endswith("Canceled"):
        return OrderStatus.CANCELLED
    raise MalformedMessage(VENUE, f"unknown order status {status!r}")


def filled_of(order: c.OrderInfo, status: OrderStatus) -> Decimal:
    """Cumulative filled size of an order report: ``origSz − sz`` (``sz`` is what remains)."""
    if status is OrderStatus.REJECTED:
        return Decimal(0)
    if status is OrderStatus.FILLED:
        return c.finite(order.origSz, "origSz")
    return max(Decimal(0), c.finite(order.origSz, "origSz") - c.finite(order.sz, "sz"))


def average_price(fills: Sequence[c.UserFill], filled: Decimal) -> Decimal | None:
    """The fills' size-weighted price when they add up to ``filled`` (> 0), else None."""
    qty = sum((c.finite(f.sz, "sz") for f in fills), Decimal(0))
    if not fills or qty != filled or qty <= 0:
        return None
    return sum((c.finite(f.px, "px") * f.sz for f in fills), Decimal(0)) / qty


def runtime_ts(venue_ms: int, now: float, wall: float) -> float:
    """A venue epoch-ms timestamp on the runtime's clock (``now`` there is ``wall`` here)."""
    return now - (wall - venue_ms / 1000.0)


def _check_fill(fill: c.UserFill) -> None:
    """MalformedMessage unless the fill's size, price and fee are finite numbers."""
    c.finite(fill.sz, "sz")
    c.finite(fill.px, "px")
    c.finite(fill.fee, "fee")


def fill_of(fill: c.UserFill, cloid: str, now: float, wall: float) -> Fill:
    """One venue fill as a :class:`Fill` of order ``cloid`` (fees: positive is paid)."""
    return Fill(
        venue=VENUE,
        client_order_id=cloid,
        trade_id=str(fill.tid),
        side=Side.BUY if fill.side == "B" else Side.SELL,
        qty=c.finite(fill.sz, "sz"),
        price=c.finite(fill.px, "px"),
        fee=c.finite(fill.fee, "fee"),
        ts=runtime_ts(fill.time, now, wall),
    )
