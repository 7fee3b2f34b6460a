"""Hyperliquid's two streams as sans-IO protocols (driven by :class:`arbtrio.venues.stream.Stream`).

Neither protocol does I/O or reads a clock: time is the ``now`` argument (Trio's clock, the
runtime's time base) and venue epoch-ms timestamps are mapped onto it with an injected wall
clock. Both keep the rules of ``specs/010-hyperliquid.md``.

* :class:`HyperliquidBookFeed` — the public stream: ``l2Book`` + ``bbo`` per coin on one
  connection. Every ``l2Book`` is a full snapshot (``L2Book.seq`` = the venue's ms ``time``;
  older messages are ignored); a newer ``bbo`` moves the top in between; each applied
  message stamps its book with the venue's ``time`` (``L2Book.stamp``: the feed's lag).
  ``{"method":"ping"}`` every ``ping_interval`` (the venue closes a connection that sent
  nothing for 60 s). A coin
  silent for ``stale_after`` is invalidated and resubscribed (the ack brings a snapshot); the
  ``max_quiet_rounds``-th silent round in a row ends the session. A malformed frame is
  counted, logged, and every book of the connection invalidated and resubscribed.
* :class:`HyperliquidOrderFeed` — the private stream: ``orderUpdates`` + ``userFills`` +
  ``clearinghouseState`` of the master account (the last keeps :attr:`pushed_balances` and
  :attr:`pushed_positions`), decoded item by item (a foreign or malformed item is skipped
  and counted in ``health.skipped``). Fills carry only the venue ``oid``: a fill whose
  order's client id is not known yet waits in the shared
  :class:`~arbtrio.venues.tracking.OrderTracker` until it is (the
  :class:`~arbtrio.venues.tracking.Placed` note ``place_order`` posts, an ``orderUpdates``
  entry, the fill's own ``cloid``, an :class:`OrderSeen` note from ``query_order``), then is
  delivered; fills are de-duplicated by ``tid``. After every subscription, a malformed frame
  or item, and periodically, the orders the client placed and has not seen finish are
  re-queried over REST (``Fetch(Requery)``).

The book feed never asks for REST data: its snapshots arrive on the socket.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Final

import attrs
import msgspec
import structlog

from arbtrio.core.book import L2Book
from arbtrio.core.types import (
    Balance,
    Fill,
    OrderAck,
    OrderStatus,
    OrderUpdate,
    Side,
    VenuePosition,
)
from arbtrio.venues.base import Disconnected, MalformedMessage, VenueHealth
from arbtrio.venues.hyperliquid import codecs as c
from arbtrio.venues.hyperliquid.convert import (
    average_price,
    balances_of,
    fill_of,
    filled_of,
    order_status,
    positions_counted,
    runtime_ts,
    skip,
)
from arbtrio.venues.stream import NOTHING, READY, Changed, Deliver, Fail, Output, Send
from arbtrio.venues.tracking import OrderTracker, Placed
from arbtrio.venues.wire import RecentIds

__all__ = [
    "PING",
    "HyperliquidBookFeed",
    "HyperliquidOrderFeed",
    "InstantFill",
    "OrderSeen",
    "average_price",
    "fill_of",
    "filled_of",
    "order_status",
    "runtime_ts",
]

log = structlog.get_logger("arbtrio.venues.hyperliquid")

VENUE: Final = c.VENUE
_ZERO: Final = Decimal(0)
PING: Final = Send('{"method":"ping"}')
BOOK_CHANNELS: Final = ("l2Book", "bbo")
ORDER_CHANNELS: Final = ("orderUpdates", "userFills", "clearinghouseState")
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
            book.stamp(data.time / 1000.0)  # the venue's ms time: the feed's lag
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
        book.stamp(data.time / 1000.0)
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
class InstantFill:
    """A note from ``place_order``: the placement's answer said order ``cloid`` filled at
    once, ``filled`` being its ``totalSz``/``avgPx`` (the exact average price of its
    :class:`OrderUpdate` when the filled size matches)."""

    cloid: str
    filled: c.Filled


@attrs.frozen
class OrderSeen:
    """A note from ``query_order``: venue order ``oid`` is client order ``cloid`` (fills
    waiting for that oid are released)."""

    oid: int
    cloid: str


class HyperliquidOrderFeed:
    """The account's private stream (see the module docstring).

    Emits ``Deliver(OrderAck)`` the first time a client order id shows up not rejected,
    ``Deliver(OrderUpdate)`` for every ``orderUpdates`` entry of ours, ``Deliver(Fill)`` for
    every new ``tid`` once its order is known. The shared
    :class:`~arbtrio.venues.tracking.OrderTracker` (:attr:`tracker`) keeps the orders the
    client placed (:class:`~arbtrio.venues.tracking.Placed` notes): fills naming an oid not
    known yet wait there for the note or an order push that maps it; after every
    subscription (the ``userFills`` ack or snapshot; ``subscribe_wait_s`` after connecting
    if neither came), after a malformed frame or item and every ``reconcile_every_s``, each
    placed order not seen finishing is re-queried (``Fetch(Requery)``, answered by the
    client's ``query_order``) and the answer's new fills and status delivered.

    Pushes are decoded item by item: a foreign item (a spot or builder-dex coin, an order
    that is not ours, an unknown-oid fill of a reconnect snapshot older than
    ``snapshot_hold_s``) or a malformed one is skipped and counted in ``health.skipped``.
    Every per-order map holds at most ``max_orders`` orders (oldest forgotten); trade ids
    seen at most ``10 × max_orders``. ``wall_clock`` (epoch seconds) maps venue timestamps
    onto ``now``.
    """

    def __init__(
        self,
        user: str,
        health: VenueHealth,
        wall_clock: Callable[[], float],
        *,
        ping_interval: float = 20.0,
        idle_timeout: float = 60.0,
        max_orders: int = 10_000,
        reconcile_every_s: float = 60.0,
        fill_wait_s: float = 5.0,
        snapshot_hold_s: float = 60.0,
        subscribe_wait_s: float = 5.0,
    ) -> None:
        self.user = user
        self.health = health
        self.wall_clock = wall_clock
        self.idle_timeout = idle_timeout
        self.ping_interval = ping_interval
        self.timer_interval = min(ping_interval, max(0.05, fill_wait_s / 5))
        self.max_orders = max_orders
        self.snapshot_hold_s = snapshot_hold_s
        self.subscribe_wait_s = subscribe_wait_s
        self.tracker = OrderTracker(
            VENUE, reconcile_every_s=reconcile_every_s, fill_wait_s=fill_wait_s, limit=max_orders
        )
        # cloid → the place answer of an instant fill; oid → (size, notional) of its fills
        # seen; the cloids acked; the tids counted in filled_sums. All bounded.
        self.instant: OrderedDict[str, c.Filled] = OrderedDict()
        self.filled_sums: OrderedDict[int, tuple[Decimal, Decimal]] = OrderedDict()
        self.acked = RecentIds(max_orders)
        self._counted = RecentIds(10 * max_orders)
        # What the last clearinghouseState push said (the client exposes these very dicts).
        self.pushed_balances: dict[str, Balance] = {}
        self.pushed_positions: dict[str, VenuePosition] = {}
        self._connected_at: float | None = None
        self._subscribed = False
        self._next_ping = 0.0

    # -- inputs ------------------------------------------------------------------------------
    def connected(self, info: Any, now: float) -> Sequence[Output]:
        """Subscribe ``orderUpdates``, ``userFills`` and ``clearinghouseState`` of the user
        (the first dex's: no ``dex`` field); ready at once (the
        venue acks subscriptions but refuses none it can parse). The re-query of unfinished
        orders waits for the ``userFills`` subscription to be acknowledged."""
        self.tracker.unsubscribed()
        self._connected_at = now
        self._subscribed = False
        self._next_ping = now + self.ping_interval
        return (*(_request("subscribe", kind, user=self.user) for kind in ORDER_CHANNELS), READY)

    def frame(self, raw: str | bytes, now: float) -> Sequence[Output]:
        """Order events of one push. An undecodable frame is counted in
        ``health.malformed``; a foreign or malformed item in ``health.skipped``, its
        neighbours still delivered; anything malformed re-queries the unfinished orders."""
        try:
            msg = c.decode_ws(raw)
        except MalformedMessage as exc:
            self.health.malformed += 1
            self.health.last_error = exc.message[:200]
            log.warning("hyperliquid.malformed", stream="orders", error=exc.message[:200])
            return self.tracker.requery(now) or NOTHING
        if isinstance(msg, c.OrderUpdatesMsg):
            return self._order_updates(msg.data, now)
        if isinstance(msg, c.UserFillsMsg):
            return self._user_fills(msg.data, now)
        if isinstance(msg, c.ClearinghouseStateMsg):
            return self._account_state(msg.data)
        if isinstance(msg, c.SubscriptionResponseMsg):
            sub = msg.data
            if sub.method == "subscribe" and sub.subscription.type == "userFills":
                return self._subscribed_now(now)
        elif isinstance(msg, c.ErrorMsg):
            self.health.last_error = f"venue error: {msg.data!r}"[:200]
            log.warning("hyperliquid.ws_error", stream="orders", data=str(msg.data)[:200])
        return NOTHING

    def note(self, message: Any, now: float) -> Sequence[Output]:
        """A :class:`~arbtrio.venues.tracking.Placed` order (tracked; fills waiting for its
        oid released; re-queried if sent before this subscription), an
        :class:`InstantFill` (kept for the average price) or an :class:`OrderSeen`."""
        if isinstance(message, Placed):
            return self.tracker.placed(message, now) or NOTHING
        if isinstance(message, InstantFill):
            _put(self.instant, message.cloid, message.filled, self.max_orders)
        elif isinstance(message, OrderSeen):
            oid = str(message.oid)
            if self.tracker.client_order_id(oid) != message.cloid:
                return self.tracker.learn(oid, message.cloid) or NOTHING
        return NOTHING

    def timer(self, now: float) -> Sequence[Output]:
        """The ping when due; the subscription taken as done ``subscribe_wait_s`` after
        connecting if it was never acknowledged; the tracker's periodic re-query and the
        expiry of fills that waited too long for their order."""
        out: list[Output] = []
        if now + self.timer_interval / 2 >= self._next_ping:  # ticks jitter: never skip one
            self._next_ping = now + self.ping_interval
            out.append(PING)
        started = self._connected_at
        if not self._subscribed and started is not None and now - started >= self.subscribe_wait_s:
            out.extend(self._subscribed_now(now))
        out.extend(self.tracker.timer(now))
        return out or NOTHING

    def fetched(self, key: Hashable, result: Any, now: float) -> Sequence[Output]:
        """A re-query's answer (an ``OrderReport`` or the error ``query_order`` raised): the
        order's new fills and its status, delivered. Any other key is a bug: ``Fail``."""
        out = self.tracker.fetched(key, result, now)
        if out is None:
            return (Fail(TypeError(f"hyperliquid orders: unexpected fetch {key!r}")),)
        return out

    def disconnected(self, reason: str, now: float) -> Sequence[Output]:
        """Nothing to invalidate: the next session re-queries what is unfinished, and its
        ``userFills`` snapshot's fills already delivered are dropped by ``tid``."""
        self.tracker.unsubscribed()
        self._connected_at = None
        self._subscribed = False
        return NOTHING

    # -- push rules ----------------------------------------------------------------------------
    def _subscribed_now(self, now: float) -> list[Output]:
        if self._subscribed:
            return []
        self._subscribed = True
        return self.tracker.subscribed(now)

    def _account_state(self, data: c.ClearinghouseStatePush) -> Sequence[Output]:
        """A ``clearinghouseState`` push, the account's whole first-dex state: its USDC
        balance (total ``accountValue``, available ``withdrawable``) and its positions
        (:func:`~arbtrio.venues.hyperliquid.convert.positions_of`: first-dex perps with mark
        and liquidation price) replace what was pushed before, so a coin the push leaves out
        is flat — unless one of its items was malformed (skipped and counted): then the
        positions it does not name are kept, since an unreadable item may be one of them.
        Another user's or another dex's state is skipped and counted."""
        dex, user = data.dex, data.user
        if dex not in (None, ""):
            skip(self.health, "clearinghouseState", f"dex {dex!r} is not the first perp dex")
            return NOTHING
        if isinstance(user, str) and user.lower() != self.user:
            skip(self.health, "clearinghouseState", f"the state of another user {user}")
            return NOTHING
        state = data.clearinghouseState
        try:
            balances = balances_of(state)
        except MalformedMessage as exc:
            skip(self.health, "clearinghouseState", exc.message, malformed=True)
        else:
            self.pushed_balances.update((b.currency, b) for b in balances)
        positions, malformed = positions_counted(state, self.health)
        if not malformed:
            self.pushed_positions.clear()
        self.pushed_positions.update((p.symbol, p) for p in positions)
        return NOTHING

    def _order_updates(self, items: list[msgspec.Raw], now: float) -> Sequence[Output]:
        out: list[Output] = []
        wall = self.wall_clock()
        malformed = False
        for raw in items:
            try:
                out.extend(self.order_events(c.decode_item("orderUpdate", raw), now, wall))
            except MalformedMessage as exc:
                skip(self.health, "orderUpdates", exc.message, malformed=True)
                malformed = True
        if malformed:
            out.extend(self.tracker.requery(now))
        return out or NOTHING

    def order_events(self, update: c.WsOrderUpdate, now: float, wall: float) -> list[Output]:
        """The outputs of one ``orderUpdates`` entry: the ack (first time), the update, and
        the fills that were waiting for its oid. A foreign one (another dex's or spot coin,
        an order without a client id we know) is skipped and counted; MalformedMessage for
        an impossible one."""
        order = update.order
        oid = str(order.oid)
        if c.foreign_coin(order.coin):
            skip(self.health, "orderUpdates", f"order {oid}: {order.coin} is not a first-dex perp")
            return []
        cloid = order.cloid or self.tracker.client_order_id(oid)
        if cloid is None:
            skip(self.health, "orderUpdates", f"order {oid} has no client order id of ours")
            return []
        status = order_status(update.status)
        filled = filled_of(order, status)
        ts = runtime_ts(update.statusTimestamp, now, wall)
        out: list[Output] = []
        if status is not OrderStatus.REJECTED and self.acked.add(cloid):
            out.append(Deliver(OrderAck(venue=VENUE, client_order_id=cloid, venue_order_id=oid,
                                        ts=ts)))  # fmt: skip
        instant = self.instant.get(cloid)
        if instant is not None and instant.totalSz == filled:
            avg: Decimal | None = instant.avgPx
        else:
            qty, notional = self.filled_sums.get(order.oid, (_ZERO, _ZERO))
            avg = notional / qty if qty > 0 and qty == filled else None
        out.append(Deliver(OrderUpdate(
            venue=VENUE, client_order_id=cloid, status=status, filled_qty=filled,
            avg_price=avg, ts=ts, reason="" if status is OrderStatus.FILLED else update.status,
        )))  # fmt: skip
        if status.is_terminal:
            self.tracker.finished(cloid)
        if self.tracker.client_order_id(oid) != cloid:
            out.extend(self.tracker.learn(oid, cloid))  # releases fills waiting for the oid
        return out

    def _user_fills(self, data: c.UserFillsData, now: float) -> Sequence[Output]:
        out: list[Output] = []
        snapshot = bool(data.isSnapshot)
        if snapshot:
            out.extend(self._subscribed_now(now))
        wall = self.wall_clock()
        malformed = False
        for raw in data.fills:
            try:
                fill = c.decode_item("fill", raw)
                template = fill_of(fill, "", now, wall)  # checks every number once, here
            except MalformedMessage as exc:
                skip(self.health, "userFills", exc.message, malformed=True)
                malformed = True
                continue
            if c.foreign_coin(fill.coin):
                why = f"fill {fill.tid}: {fill.coin} is not a first-dex perp"
                skip(self.health, "userFills", why)
                continue
            out.extend(self._fill(fill, template, snapshot, now, wall))
        if malformed:
            out.extend(self.tracker.requery(now))
        return out or NOTHING

    def _fill(
        self, fill: c.UserFill, template: Fill, snapshot: bool, now: float, wall: float
    ) -> list[Output]:
        """One checked fill: delivered (new trade ids only) once its order is known; held by
        the tracker until then — except an unknown-oid fill of a reconnect snapshot older
        than ``snapshot_hold_s``, history that is not ours (or long delivered)."""
        oid = str(fill.oid)
        if self._counted.add(fill.tid):
            qty, notional = self.filled_sums.get(fill.oid, (_ZERO, _ZERO))
            sums = (qty + template.qty, notional + template.qty * template.price)
            _put(self.filled_sums, fill.oid, sums, self.max_orders)

        def make(cid: str) -> Fill:
            return attrs.evolve(template, client_order_id=cid)

        out: list[Output] = []
        if fill.cloid and self.tracker.client_order_id(oid) != fill.cloid:
            out.extend(self.tracker.learn(oid, fill.cloid))
        known = self.tracker.client_order_id(oid)
        if known is None and snapshot and wall * 1000.0 - fill.time > self.snapshot_hold_s * 1e3:
            skip(self.health, "userFills", f"snapshot fill {fill.tid}: order {oid} unknown")
            return out
        delivered = self.tracker.fill_for_venue_order(oid, make, now)
        if delivered is not None:
            out.append(delivered)
        return out


def _put(cache: OrderedDict[Any, Any], key: Any, value: Any, limit: int) -> None:
    """``cache[key] = value`` as the newest entry; the oldest forgotten past ``limit``."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)
