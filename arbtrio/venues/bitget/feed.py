"""Bitget's two streams as sans-IO protocols (driven by :class:`arbtrio.venues.stream.Stream`).

* :class:`BitgetBookFeed` — the public stream: ``subscribe`` every symbol's book channel
  (20 args per op, well under the venue's 4096-byte request limit), apply pushes through
  each symbol's :class:`~arbtrio.venues.bitget.book.BitgetBook` (snapshot, updates, the
  CRC32 checksum, ``seq`` growing), resubscribe a symbol whose book broke (a checksum
  mismatch, ``seq`` going backwards, a crossed book, a malformed frame), and end the session
  after ``max_resyncs`` resyncs of one symbol without a snapshot in between. Text ``ping``
  every ``ping_interval``; the text ``pong`` is a frame like any other for liveness.
* :class:`BitgetOrderFeed` — the private stream: ``login`` (the timestamp in seconds, from
  the injected wall clock), then ``orders``, ``fill``, ``positions`` and ``account``,
  ``Ready`` once all four are acknowledged. Pushes are decoded item by item (a foreign or
  malformed item is skipped and counted in ``health.skipped``); fills and order updates go
  through the shared :class:`~arbtrio.venues.tracking.OrderTracker`: de-duplicated by
  ``tradeId``, a fill naming only its order id held until the client's
  :class:`~arbtrio.venues.tracking.Placed` note or an ``orders`` push maps it, and every
  order placed and not seen finishing re-queried over REST (``Fetch(Requery)``) after
  every subscription, after a malformed frame or item, and every ``reconcile_every_s``. A
  terminal ``orders`` push finishes its order only once the fills delivered for it add up
  to its ``accBaseVolume``; otherwise it is re-queried after ``fill_wait_s``. Every map kept
  per order holds at most ``max_orders`` (oldest forgotten). ``account`` pushes keep
  ``pushed_balances`` (margin coin → Balance) and ``positions`` pushes — each the snapshot
  of every open position — ``pushed_positions`` (traded symbol → net VenuePosition with
  the venue's mark and liquidation price; a symbol left out is flat).
* :class:`SendBudget` — the venue's per-connection send limit, which both protocols keep:
  at most 10 messages a second, pings included, or the venue closes the connection.

Neither protocol reads a clock for its rules (time is the ``now`` of each input) nor raises
for bad venue input: a malformed frame is counted in ``health.malformed``, logged and, on
the public stream, answered by invalidating and resubscribing its book (every book when
the frame names none).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, NamedTuple

import msgspec
import structlog

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.core.types import (
    Balance,
    Fill,
    OrderReport,
    OrderStatus,
    OrderUpdate,
    Side,
    VenuePosition,
)
from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    Credentials,
    Disconnected,
    MalformedMessage,
    VenueHealth,
)
from arbtrio.venues.bitget import codecs as c
from arbtrio.venues.bitget.book import BitgetBook, Verdict
from arbtrio.venues.bitget.signing import login_args
from arbtrio.venues.stream import NOTHING, READY, Changed, Deliver, Fail, Fetch, Output, Send
from arbtrio.venues.tracking import OrderTracker, Placed, Requery

__all__ = [
    "ORDER_STATUS",
    "SEND_CAPACITY",
    "SEND_RATE",
    "TICK",
    "BitgetBookFeed",
    "BitgetOrderFeed",
    "SendBudget",
    "fee_of",
    "fill_maker",
    "fill_of",
    "order_update_of",
    "position_of",
]

log = structlog.get_logger("arbtrio.venues.bitget")

VENUE = "bitget"
PRODUCT = c.PRODUCT_TYPE
SUBSCRIBE_CHUNK = 20  # args per subscribe op: well under the 4096-byte request limit
SEND_CAPACITY = 2  # messages: capacity + rate = 9 in any second, one under the venue's 10
SEND_RATE = 7.0  # messages per second
TICK = 0.2  # seconds between timer inputs: <= capacity / rate, so a backlog drains at 7/s
PING: Final = "ping"
PONG: Final = "pong"
PRIVATE_ARGS: tuple[Mapping[str, str], ...] = (
    {"instType": PRODUCT, "channel": "orders", "instId": "default"},
    {"instType": PRODUCT, "channel": "fill", "instId": "default"},
    {"instType": PRODUCT, "channel": "positions", "instId": "default"},
    {"instType": PRODUCT, "channel": "account", "coin": "default"},
)
ORDER_STATUS: Mapping[str, OrderStatus] = {
    "live": OrderStatus.OPEN,
    "new": OrderStatus.OPEN,
    "init": OrderStatus.OPEN,
    "partially_filled": OrderStatus.OPEN,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
}
SIDES = {"buy": Side.BUY, "sell": Side.SELL}
PRIVATE_CHANNELS = frozenset(a["channel"] for a in PRIVATE_ARGS)
QUOTE = "USDT"  # the quote (and margin) currency of every USDT-FUTURES contract
MAX_ORDERS = 10_000  # orders remembered by the private protocol (and 10x as many trade ids)
_APPLIED: Final = Verdict.APPLIED
_RESYNC: Final = Verdict.RESYNC
_decode_public = c.public_decoder.decode
_UNDECODABLE = (msgspec.DecodeError, msgspec.ValidationError)


def _op(op: str, args: Sequence[Mapping[str, str]]) -> str:
    return c.encoder.encode({"op": op, "args": list(args)}).decode()


class SendBudget:
    """One connection's send budget: Bitget takes at most 10 client messages a second,
    pings, subscribes and unsubscribes included, and closes the connection past that.

    A token bucket lets through at most ``capacity + rate × T`` messages in any T seconds:
    capacity 2 + 7/s is at most 9 in any second (one to spare for jitter). A message that
    finds no token waits, in order, and goes out on a later input (:meth:`drain`, called
    by the protocols on every input while messages wait; their timer runs every
    :data:`TICK` seconds, at most ``capacity / rate``, so a backlog drains at the full
    rate). Pure: time is the ``now`` it is given.
    """

    __slots__ = ("capacity", "queue", "rate", "tokens", "updated")

    def __init__(self, capacity: int = SEND_CAPACITY, rate: float = SEND_RATE) -> None:
        if capacity < 1 or rate <= 0:
            raise ValueError(f"send budget: capacity {capacity} >= 1 and rate {rate} > 0")
        self.capacity = capacity
        self.rate = rate
        self.tokens = float(capacity)
        self.updated: float | None = None
        self.queue: deque[str] = deque()

    def reset(self, now: float) -> None:
        """A new connection: a full budget, nothing waiting."""
        self.tokens = float(self.capacity)
        self.updated = now
        self.queue.clear()

    def push(self, text: str) -> None:
        """Queue ``text`` behind every message already waiting."""
        self.queue.append(text)

    def drain(self, now: float) -> list[Output]:
        """The waiting messages the budget admits at ``now``, oldest first, as sends."""
        if self.updated is not None:
            self.tokens = min(float(self.capacity), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        out: list[Output] = []
        queue = self.queue
        while queue and self.tokens >= 1.0:
            self.tokens -= 1.0
            out.append(Send(queue.popleft()))
        return out


class BitgetBookFeed:
    """The books of ``symbols`` on ``channel`` (``books`` or the snapshot-only
    ``books1/5/15``); ``books`` maps venue symbol → the client's L2Book (created when
    missing)."""

    def __init__(
        self,
        books: dict[str, L2Book],
        symbols: Iterable[str],
        channel: str,
        health: VenueHealth,
        *,
        ping_interval: float = 30.0,
        idle_timeout: float = 60.0,
        max_resyncs: int = 5,
    ) -> None:
        self.health = health
        self.channel = channel
        self.idle_timeout = idle_timeout
        self.timer_interval = TICK
        self.ping_interval = ping_interval
        self.max_resyncs = max_resyncs
        self.budget = SendBudget()
        self._queue = self.budget.queue  # the same deque for the feed's life
        self.trackers: dict[str, BitgetBook] = {}
        self._changed: dict[str, tuple[Output, ...]] = {}  # the hot path's prebuilt outputs
        self._keep: dict[str, tuple[BitgetBook, tuple[Output, ...]]] = {}  # both, one lookup
        self._resubscribe: dict[str, tuple[str, str]] = {}  # unsubscribe, subscribe texts
        for symbol in symbols:
            book = books.setdefault(symbol, L2Book(VENUE, symbol))
            tracker = self.trackers[symbol] = BitgetBook(book, channel)
            changed = self._changed[symbol] = (Changed(book),)
            self._keep[symbol] = (tracker, changed)
            arg = self.arg(symbol)
            self._resubscribe[symbol] = (_op("unsubscribe", [arg]), _op("subscribe", [arg]))
        self._pending: set[str] = set()  # subscribed this session, no snapshot yet
        self._resyncs: dict[str, int] = dict.fromkeys(self.trackers, 0)
        self._next_ping = 0.0

    def arg(self, symbol: str) -> dict[str, str]:
        """The subscription ``arg`` of ``symbol``'s book."""
        return {"instType": PRODUCT, "channel": self.channel, "instId": symbol}

    # -- inputs ------------------------------------------------------------------------------
    def connected(self, info: Any, now: float) -> Sequence[Output]:
        """Subscribe every book; Ready once each has its first snapshot (or was refused)."""
        self.budget.reset(now)
        self._next_ping = now + self.ping_interval
        symbols = list(self.trackers)
        self._pending = set(symbols)
        self._resyncs = dict.fromkeys(symbols, 0)
        for i in range(0, len(symbols), SUBSCRIBE_CHUNK):
            chunk = symbols[i : i + SUBSCRIBE_CHUNK]
            self.budget.push(_op("subscribe", [self.arg(s) for s in chunk]))
        out = self.budget.drain(now)
        if not symbols:
            out.append(READY)
        return out

    def frame(self, raw: str | bytes, now: float) -> Sequence[Output]:
        try:
            frame = _decode_public(raw)
        except _UNDECODABLE as exc:
            if raw == PONG:  # the answer to our text ping (the shell counted it)
                return self.budget.drain(now) if self._queue else NOTHING
            error = MalformedMessage(VENUE, f"undecodable public frame: {exc}")
            return self._malformed(raw, error, now)
        data = frame.data
        arg = frame.arg
        if data and arg is not None:
            keep = self._keep.get(arg.instId)
            if keep is not None and arg.channel == self.channel:
                tracker, changed = keep
                try:
                    if len(data) != 1:
                        raise MalformedMessage(VENUE, f"books push with {len(data)} entries")
                    entry = data[0]
                    verdict = tracker.apply(frame.action, entry, now)
                except MalformedMessage as exc:
                    return self._malformed(raw, exc, now)
                if verdict is _APPLIED:
                    # the matching engine's time (ms; data's string, else the frame's)
                    try:
                        tracker.book.stamp(int(entry.ts) * 0.001)
                    except ValueError:  # no ("") or no numeric time in data
                        if frame.ts:
                            tracker.book.stamp(frame.ts * 0.001)
                    if frame.action == "snapshot":
                        symbol = arg.instId
                        self._resyncs[symbol] = 0
                        if symbol in self._pending:
                            return self._subscribed(symbol, changed, now)
                    if self._queue:
                        return [*changed, *self.budget.drain(now)]
                    return changed  # the hot path: prebuilt, nothing allocated
                if verdict is _RESYNC:
                    log.warning("bitget.resync", inst=arg.instId, reason=tracker.reason)
                    return self._resync([arg.instId], now)
                return self.budget.drain(now) if self._queue else NOTHING
        if frame.event == "error":
            log.error("bitget.stream.error", code=str(frame.code), msg=frame.msg)
            self.health.last_error = f"{frame.code}: {frame.msg}"
            if arg is not None and arg.instId in self._pending:
                return self._subscribed(arg.instId, NOTHING, now)  # refused: do not wait
        return self.budget.drain(now) if self._queue else NOTHING

    def timer(self, now: float) -> Sequence[Output]:
        """Text ``ping`` every ``ping_interval``; waiting messages the budget admits."""
        if now >= self._next_ping:
            self._next_ping = now + self.ping_interval
            self.budget.push(PING)
        return self.budget.drain(now) if self.budget.queue else NOTHING

    def fetched(self, key: Hashable, result: Any, now: float) -> Sequence[Output]:
        return NOTHING  # the books channel sends its own snapshots: nothing is fetched

    def note(self, message: Any, now: float) -> Sequence[Output]:
        return NOTHING

    def disconnected(self, reason: str, now: float) -> Sequence[Output]:
        """Every book is invalid until the next session's snapshot."""
        self._pending.clear()
        self.budget.queue.clear()
        out: list[Output] = []
        for symbol, tracker in self.trackers.items():
            tracker.invalidate("disconnected")
            out.extend(self._changed[symbol])
        return out

    # -- rules -------------------------------------------------------------------------------
    def _subscribed(self, symbol: str, changed: Sequence[Output], now: float) -> list[Output]:
        """``symbol`` has its snapshot (or was refused): Ready once none is pending."""
        self._pending.discard(symbol)
        out: list[Output] = [READY] if not self._pending else []
        out.extend(changed)
        out.extend(self.budget.drain(now))
        return out

    def _resync(self, symbols: Iterable[str], now: float) -> list[Output]:
        """The books of ``symbols`` are invalid (their trackers said so): tell the runtime,
        resubscribe each — or end the session once one resynced ``max_resyncs`` times
        without a snapshot."""
        out: list[Output] = []
        for symbol in symbols:
            out.extend(self._changed[symbol])
            self.health.resyncs += 1
            self._resyncs[symbol] += 1
            if self._resyncs[symbol] > self.max_resyncs:
                n = self._resyncs[symbol]
                out.append(Fail(Disconnected(VENUE, f"{symbol}: {n} resyncs without recovery")))
                return out
            unsubscribe, subscribe = self._resubscribe[symbol]
            self.budget.push(unsubscribe)
            self.budget.push(subscribe)
        out.extend(self.budget.drain(now))
        return out

    def _malformed(self, raw: str | bytes, exc: MalformedMessage, now: float) -> list[Output]:
        """Count and log it; resync its book, or every book when it names none we keep."""
        self.health.malformed += 1
        bad = c.arg_of(raw)
        log.warning("bitget.malformed", error=exc.message, inst=bad.instId if bad else "")
        targets = [bad.instId] if bad and bad.instId in self.trackers else list(self.trackers)
        for symbol in targets:
            self.trackers[symbol].invalidate("malformed message")
        return self._resync(targets, now)


class _Unsettled(NamedTuple):
    """A terminal ``orders`` push whose fills have not all arrived (yet)."""

    symbol: str
    filled: Decimal | None  # the push's accBaseVolume (None: not given)
    since: float


class BitgetOrderFeed:
    """The account's private stream (see the module docstring).

    ``wall_clock`` gives the login timestamp (epoch seconds); ``auth_timeout`` seconds
    without the answer to ``login`` and the acknowledgement of every subscription end the
    session. ``instruments`` is the client's contract map (read only, filled by
    ``load_instruments``): while it is not empty, items naming another contract are
    foreign (skipped and counted in ``health.skipped``). ``max_orders`` bounds every map
    kept per order (the tracker's, the fills delivered per order, the unsettled orders)."""

    def __init__(
        self,
        credentials: Credentials,
        health: VenueHealth,
        wall_clock: Callable[[], float],
        *,
        instruments: Mapping[str, Instrument] | None = None,
        ping_interval: float = 30.0,
        idle_timeout: float = 60.0,
        auth_timeout: float = 5.0,
        reconcile_every_s: float = 60.0,
        fill_wait_s: float = 5.0,
        max_orders: int = MAX_ORDERS,
    ) -> None:
        self.credentials = credentials
        self.health = health
        self.wall_clock = wall_clock
        self.instruments: Mapping[str, Instrument] = instruments if instruments is not None else {}
        self.idle_timeout = idle_timeout
        self.timer_interval = TICK
        self.ping_interval = ping_interval
        self.auth_timeout = auth_timeout
        self.fill_wait_s = fill_wait_s
        self.max_orders = max_orders
        self.budget = SendBudget()
        self.tracker = OrderTracker(VENUE, reconcile_every_s=reconcile_every_s,
                                    fill_wait_s=fill_wait_s, limit=max_orders)  # fmt: skip
        self.positions: dict[tuple[str, str], c.PositionPush] = {}  # (symbol, holdSide)
        self.accounts: dict[str, c.AccountPush] = {}  # latest push per margin coin
        self.pushed_positions: dict[str, VenuePosition] = {}  # traded symbol -> net position
        self.pushed_balances: dict[str, Balance] = {}  # margin coin -> balance
        self._filled: OrderedDict[str, Decimal] = OrderedDict()  # cid -> qty delivered
        self._unsettled: OrderedDict[str, _Unsettled] = OrderedDict()  # cid -> terminal push
        self._authed = False
        self._acked: set[str] = set()
        self._subscribed = False
        self._deadline = 0.0
        self._next_ping = 0.0

    # -- inputs ------------------------------------------------------------------------------
    def connected(self, info: Any, now: float) -> Sequence[Output]:
        """``login`` with a fresh signature (timestamp in seconds)."""
        self._authed = self._subscribed = False
        self._acked.clear()
        self.tracker.unsubscribed()
        self._deadline = now + self.auth_timeout
        self.budget.reset(now)
        creds = self.credentials
        args = login_args(creds.api_key, creds.api_secret, creds.passphrase,
                          int(self.wall_clock()))  # fmt: skip
        self.budget.push(_op("login", args))
        return self.budget.drain(now)

    def frame(self, raw: str | bytes, now: float) -> Sequence[Output]:
        if raw == PONG:
            return self._drain(now)
        try:
            frame = c.decode_private(raw)
        except MalformedMessage as exc:
            return self._malformed(exc, now)
        if not self._authed:
            return self._login_reply(frame, now)
        if frame.event == "error":  # the venue reported an error on the stream: reconnect
            return (Fail(BadRequest(VENUE, f"private stream error {frame.code}: {frame.msg}")),)
        if frame.event == "subscribe":
            return self._acknowledged(frame, now)
        if frame.event:  # unsubscribe and other acks carry no data
            return self._drain(now)
        try:
            out = self.events(frame, now)
        except MalformedMessage as exc:
            return self._malformed(exc, now)
        if self.budget.queue:
            out.extend(self.budget.drain(now))
        return out or NOTHING

    def timer(self, now: float) -> Sequence[Output]:
        """The login/subscription deadline; once subscribed, the tracker's periodic
        re-query, unsettled orders re-queried and a text ``ping`` every ``ping_interval``."""
        if not self._subscribed:
            if now >= self._deadline:
                what = "login" if not self._authed else "subscribe"
                return (Fail(Disconnected(VENUE, f"private stream: no answer to {what}")),)
            return self._drain(now)
        out = self._settle_due(now)
        out.extend(self._count(self.tracker.timer(now)))
        if now >= self._next_ping:
            self._next_ping = now + self.ping_interval
            self.budget.push(PING)
        if self.budget.queue:
            out.extend(self.budget.drain(now))
        return out or NOTHING

    def fetched(self, key: Hashable, result: Any, now: float) -> Sequence[Output]:
        """A re-query's answer (:class:`~arbtrio.venues.tracking.Requery`): the fills not
        delivered yet and the status."""
        out = self.tracker.fetched(key, result, now)
        if out is None:
            return NOTHING
        terminal = isinstance(result, OrderReport) and result.status.is_terminal
        if terminal and isinstance(key, Requery):
            self._unsettled.pop(key.client_order_id, None)
        return self._count(out) or NOTHING

    def note(self, message: Any, now: float) -> Sequence[Output]:
        """:class:`~arbtrio.venues.tracking.Placed` (posted by ``place_order``): track the
        order; fills that waited for its venue order id are delivered."""
        if not isinstance(message, Placed):
            return NOTHING
        return self._count(self.tracker.placed(message, now)) or NOTHING

    def disconnected(self, reason: str, now: float) -> Sequence[Output]:
        self._authed = self._subscribed = False
        self.tracker.unsubscribed()
        self.budget.queue.clear()
        return NOTHING

    def client_order_id(self, order_id: str) -> str:
        """The client order id known for ``order_id`` ("" when none)."""
        return self.tracker.client_order_id(order_id) or ""

    # -- rules -------------------------------------------------------------------------------
    def _drain(self, now: float) -> Sequence[Output]:
        return self.budget.drain(now) if self.budget.queue else NOTHING

    def _malformed(self, exc: MalformedMessage, now: float) -> Sequence[Output]:
        """Counted and logged; once subscribed, every unfinished order is re-queried (the
        frame may have carried one of its events)."""
        self.health.malformed += 1
        log.warning("bitget.private.malformed", error=exc.message)
        if not self._subscribed:
            return self._drain(now)
        return [*self.tracker.requery(now), *self._drain(now)]

    def _login_reply(self, frame: c.PrivateFrame, now: float) -> Sequence[Output]:
        """Before login only its answer matters: success subscribes, an error or a refused
        login stops the stream (``AuthenticationFailed``)."""
        if frame.event not in ("login", "error"):
            return NOTHING
        if frame.event != "login" or str(frame.code) != "0":
            error = AuthenticationFailed(VENUE, f"stream login refused: {frame.code} {frame.msg}")
            return (Fail(error),)
        self._authed = True
        self._deadline = now + self.auth_timeout
        self._next_ping = now + self.ping_interval
        self.budget.push(_op("subscribe", PRIVATE_ARGS))
        return self.budget.drain(now)

    def _acknowledged(self, frame: c.PrivateFrame, now: float) -> Sequence[Output]:
        """``Ready`` once every private channel is acknowledged (pushes before that may be
        lost), then every unfinished order is re-queried."""
        channel = frame.arg.channel if frame.arg is not None else ""
        if self._subscribed or channel not in PRIVATE_CHANNELS:
            return self._drain(now)
        self._acked.add(channel)
        if len(self._acked) < len(PRIVATE_CHANNELS):
            return self._drain(now)
        self._subscribed = True
        return [READY, *self.tracker.subscribed(now), *self._drain(now)]

    def events(self, frame: c.PrivateFrame, now: float) -> list[Output]:
        """The outputs of one push, item by item: fills and order updates delivered (fills
        de-duplicated by trade id; a fill naming only its order id waits for the order's
        client id); ``account`` items kept in :attr:`pushed_balances` (and the raw ones in
        :attr:`accounts`); a ``positions`` push read whole as the snapshot of the open
        positions (:meth:`_positions_snapshot`). A foreign or malformed item is skipped and
        counted in ``health.skipped``; a malformed ``fill``/``orders`` item also re-queries
        every unfinished order. Raises MalformedMessage when ``data`` is not a list."""
        arg = frame.arg
        channel = arg.channel if arg is not None else ""
        handler = self._handlers.get(channel)
        if handler is None and channel != "positions":
            return []
        items = c.decode_items(frame.data, f"{channel} push")
        if arg is not None and arg.instType and arg.instType.upper() != PRODUCT:
            self._skip(len(items), channel, f"instType {arg.instType}")
            return []
        if handler is None:  # positions: the push is a snapshot, read whole
            self._positions_snapshot(items)
            return []
        out: list[Output] = []
        malformed = 0
        for item in items:
            try:
                if not handler(self, item, now, out):
                    self._skip(1, channel, "foreign")
            except MalformedMessage as exc:
                malformed += 1
                self._skip(1, channel, exc.message)
        if malformed and channel in ("fill", "orders") and self._subscribed:
            out.extend(self.tracker.requery(now))
        return out

    def _skip(self, n: int, channel: str, why: str) -> None:
        if n:
            self.health.skipped += n
            log.warning("bitget.private.item_skipped", channel=channel, items=n, reason=why)

    def _foreign(self, symbol: str) -> bool:
        return bool(self.instruments) and symbol not in self.instruments

    def _fill_item(self, raw: msgspec.Raw, now: float, out: list[Output]) -> bool:
        f = c.decode_item(c.FillPush, raw, "fill push")
        if self._foreign(f.symbol.upper()):
            return False
        make = fill_maker(f, now, stream=True)
        tracker = self.tracker
        cid = f.clientOid
        delivered: Output | None
        if cid:
            if tracker.client_order_id(f.orderId) != cid:
                out.extend(self._count(tracker.learn(f.orderId, cid)))
            delivered = tracker.fill(make(cid))
        else:  # only the order id: delivered once the order's client id is known
            delivered = tracker.fill_for_venue_order(f.orderId, make, now)
        if delivered is not None:
            out.extend(self._count((delivered,)))
        return True

    def _order_item(self, raw: msgspec.Raw, now: float, out: list[Output]) -> bool:
        o = c.decode_item(c.OrderPush, raw, "orders push")
        symbol = o.instId.upper()
        if self._foreign(symbol):
            return False
        tracker = self.tracker
        cid = o.clientOid or tracker.client_order_id(o.orderId)
        if not cid:
            return False  # neither its client id nor a placement of ours names it
        update = order_update_of(o, now, cid)
        if tracker.client_order_id(o.orderId) != cid:
            out.extend(self._count(tracker.learn(o.orderId, cid)))
        out.append(Deliver(update))
        if update.status.is_terminal:
            self._settle(cid, symbol, c.parse_decimal(o.accBaseVolume, "accBaseVolume"), now)
        return True

    def _positions_snapshot(self, items: Sequence[msgspec.Raw]) -> None:
        """A ``positions`` push is the snapshot of every open position (a closed one is
        left out; Bitget sends ``action: snapshot`` with instId ``default``). Each traded
        symbol's sides are netted into :attr:`pushed_positions`; a traded symbol the push
        leaves out is flat (qty 0) — unless an item failed to decode, when nothing is
        taken for flat (that item may have been its position). Foreign and malformed items
        are skipped and counted."""
        sides: dict[str, list[c.PositionPush]] = {}
        malformed = False
        for raw in items:
            try:
                p = c.decode_item(c.PositionPush, raw, "positions push")
                if p.holdSide not in _HOLD_SIGN:
                    raise MalformedMessage(VENUE, f"position: holdSide {p.holdSide!r}")
            except MalformedMessage as exc:
                malformed = True
                self._skip(1, "positions", exc.message)
                continue
            if self._foreign(p.name):
                self._skip(1, "positions", "foreign")
                continue
            self.positions[(p.name, p.holdSide)] = p
            sides.setdefault(p.name, []).append(p)
        pushed = self.pushed_positions
        for symbol, held in sides.items():
            try:
                pushed[symbol] = net_position(held)
            except MalformedMessage as exc:
                self._skip(len(held), "positions", exc.message)
        if not malformed:
            for symbol, old in pushed.items():
                if symbol not in sides and old.qty != 0:
                    pushed[symbol] = VenuePosition(venue=VENUE, symbol=symbol, qty=Decimal(0),
                                                   entry_price=None)  # fmt: skip
            for key in [k for k in self.positions if k[0] not in sides]:
                del self.positions[key]

    def _account_item(self, raw: msgspec.Raw, now: float, out: list[Output]) -> bool:
        """One margin coin's balance: ``equity`` (absent: ``usdtEquity``, then
        ``available``) and ``available`` (absent: 0) into :attr:`pushed_balances`."""
        a = c.decode_item(c.AccountPush, raw, "account push")
        available = c.parse_decimal(a.available, "available") or Decimal(0)
        total = c.parse_decimal(a.equity or a.usdtEquity or a.accountEquity, "equity")
        coin = a.marginCoin.upper()
        self.accounts[coin] = a
        self.pushed_balances[coin] = Balance(
            venue=VENUE, currency=coin, total=available if total is None else total,
            available=available,
        )  # fmt: skip
        return True

    _handlers: Mapping[str, Callable[[BitgetOrderFeed, msgspec.Raw, float, list[Output]], bool]] = {
        "fill": _fill_item,
        "orders": _order_item,
        "account": _account_item,
    }

    # -- fills against terminal pushes --------------------------------------------------------
    def _count(self, outputs: Sequence[Output]) -> list[Output]:
        """``outputs``, after adding each delivered fill to its order's delivered quantity
        (an unsettled order whose fills are all in is finished)."""
        for o in outputs:
            if isinstance(o, Deliver) and isinstance(o.event, Fill):
                cid = o.event.client_order_id
                filled = self._filled.get(cid, Decimal(0)) + o.event.qty
                self._filled[cid] = filled
                self._filled.move_to_end(cid)
                while len(self._filled) > self.max_orders:
                    self._filled.popitem(last=False)
                pending = self._unsettled.get(cid)
                if pending is not None and pending.filled is not None and filled >= pending.filled:
                    del self._unsettled[cid]
                    self.tracker.finished(cid)
        return list(outputs)

    def _settle(self, cid: str, symbol: str, filled: Decimal | None, now: float) -> None:
        """A terminal ``orders`` push: the order is finished once the fills delivered for it
        add up to its filled quantity; until then it is unsettled, and re-queried after
        ``fill_wait_s`` (the ``fill`` push may have been lost)."""
        if filled is not None and self._filled.get(cid, Decimal(0)) >= filled:
            self._unsettled.pop(cid, None)
            self.tracker.finished(cid)
            return
        self._unsettled[cid] = _Unsettled(symbol, filled, now)
        self._unsettled.move_to_end(cid)
        while len(self._unsettled) > self.max_orders:
            self._unsettled.popitem(last=False)

    def _settle_due(self, now: float) -> list[Output]:
        """Unsettled orders whose fills did not arrive within ``fill_wait_s``: re-queried."""
        out: list[Output] = []
        for cid, pending in list(self._unsettled.items()):
            if now - pending.since < self.fill_wait_s:
                break  # oldest first: the rest are younger
            del self._unsettled[cid]
            log.warning("bitget.fills_missing", order=cid, filled=str(pending.filled))
            out.append(Fetch(Requery(pending.symbol, cid)))
        return out


# -- conversions -----------------------------------------------------------------------------
_HOLD_SIGN: Mapping[str, int] = {"long": 1, "short": -1}


def _price_or_none(text: str | None, field: str) -> Decimal | None:
    """A reported price; absent, ``""``, ``null`` or <= 0 (Bitget: "no liquidation price at
    this time") → None."""
    value = c.parse_decimal(text, field)
    return value if value is not None and value > 0 else None


def position_of(p: c.PositionPush) -> VenuePosition:
    """One position row or push item: long positive, short negative, with the venue's mark
    and liquidation price when it reports them. Raises MalformedMessage on an unknown
    ``holdSide`` or a field that is not a decimal."""
    sign = _HOLD_SIGN.get(p.holdSide)
    if sign is None:
        raise MalformedMessage(VENUE, f"position: holdSide {p.holdSide!r}")
    return VenuePosition(
        venue=VENUE, symbol=p.name, qty=sign * p.total,
        entry_price=c.parse_decimal(p.openPriceAvg, "openPriceAvg"),
        mark_price=_price_or_none(p.markPrice, "markPrice"),
        liquidation_price=_price_or_none(p.liquidationPrice, "liquidationPrice"),
    )  # fmt: skip


def net_position(sides: Sequence[c.PositionPush]) -> VenuePosition:
    """The positions one push reports for one symbol as a single net position: one-way mode
    has one item; hedge mode up to two (long, short), netted — the entry price of a side
    held alone, none when both are; the liquidation price nearest the mark (the first
    reached; the higher long / lower short one when no mark is reported)."""
    legs = [position_of(p) for p in sides if p.total != 0]
    if not legs:
        return VenuePosition(venue=VENUE, symbol=sides[0].name, qty=Decimal(0), entry_price=None)
    if len(legs) == 1:
        return legs[0]
    qty = sum((leg.qty for leg in legs), Decimal(0))
    mark = next((leg.mark_price for leg in legs if leg.mark_price is not None), None)
    liqs = [leg.liquidation_price for leg in legs if leg.liquidation_price is not None]
    liq = None
    if liqs:
        liq = min(liqs, key=lambda x: abs(x - mark)) if mark is not None else liqs[0]
    return VenuePosition(venue=VENUE, symbol=legs[0].symbol, qty=qty, entry_price=None,
                         mark_price=mark, liquidation_price=liq)  # fmt: skip


def fee_of(details: Sequence[c.FeeDetail] | None, trade_id: str) -> tuple[Decimal, str]:
    """``(fee, fee_currency)`` of a trade's ``feeDetail``: positive when paid (Bitget
    reports paid fees negative), in ``feeCoin`` — ``""`` for the quote currency (USDT),
    else the coin (``"BGB"`` when deducted in BGB). A missing, ``null`` or ``""`` amount
    counts as 0. Fees in several coins (never seen documented): the quote currency's is
    kept, the others logged."""
    by_coin: dict[str, Decimal] = {}
    for d in details or ():
        amount = c.parse_decimal(d.totalFee, "totalFee")
        if amount:
            coin = (d.feeCoin or QUOTE).upper()
            by_coin[coin] = by_coin.get(coin, Decimal(0)) + amount
    if not by_coin:
        return Decimal(0), ""
    coin = QUOTE if QUOTE in by_coin else next(iter(by_coin))
    if len(by_coin) > 1:
        log.warning("bitget.fill.fees_in_several_coins", trade=trade_id, kept=coin,
                    fees={k: str(v) for k, v in by_coin.items()})  # fmt: skip
    return -by_coin[coin], "" if coin == QUOTE else coin


def fill_maker(f: c.FillPush, now: float, *, stream: bool) -> Callable[[str], Fill]:
    """One trade (a ``fill`` push, ``stream``, or an ``/order/fills`` row) as a function of
    its client order id. The ``fill`` channel names the trade's own direction (hedge mode
    included: close long is ``sell``); a hedge-mode ``/order/fills`` row with ``tradeSide``
    ``close`` names the position's side, so its direction is the opposite. Raises
    MalformedMessage for a trade without a positive size and price or with an unknown
    side."""
    if f.baseVolume <= 0 or f.price <= 0:
        raise MalformedMessage(VENUE, f"fill {f.tradeId}: size {f.baseVolume} price {f.price}")
    side = SIDES.get(f.side)
    if side is None:
        raise MalformedMessage(VENUE, f"fill {f.tradeId}: side {f.side!r}")
    if not stream and f.tradeSide == "close":
        side = side.opposite
    fee, currency = fee_of(f.feeDetail, f.tradeId)
    trade_id, qty, price, symbol = f.tradeId, f.baseVolume, f.price, f.symbol.upper()

    def make(client_order_id: str) -> Fill:
        return Fill(venue=VENUE, client_order_id=client_order_id, trade_id=trade_id, side=side,
                    qty=qty, price=price, fee=fee, ts=now, fee_currency=currency,
                    symbol=symbol)  # fmt: skip

    return make


def fill_of(f: c.FillPush, now: float, client_order_id: str, *, stream: bool = False) -> Fill:
    """:func:`fill_maker` applied to ``client_order_id``."""
    return fill_maker(f, now, stream=stream)(client_order_id)


def order_update_of(o: c.OrderPush, now: float, client_order_id: str = "") -> OrderUpdate:
    """One ``orders`` push as an :class:`OrderUpdate` for ``client_order_id`` (the push's
    own ``clientOid`` when not given). ``accBaseVolume`` absent: a filled order's size, else
    0. An IOC's cancelled remainder is reported as such when the venue gives no reason."""
    status = ORDER_STATUS.get(o.status)
    if status is None:
        raise MalformedMessage(VENUE, f"orders push: unknown status {o.status!r}")
    acc = c.parse_decimal(o.accBaseVolume, "accBaseVolume")
    filled = acc if acc is not None else (o.size if status is OrderStatus.FILLED else Decimal(0))
    avg = c.parse_decimal(o.priceAvg, "priceAvg")
    reason = o.cancelReason or (
        "IOC remainder cancelled" if status is OrderStatus.CANCELLED else ""
    )
    return OrderUpdate(venue=VENUE, client_order_id=client_order_id or o.clientOid or "",
                       status=status, filled_qty=filled, avg_price=avg if avg else None,
                       ts=now, reason=reason)  # fmt: skip
