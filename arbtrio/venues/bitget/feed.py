"""Bitget's two streams as sans-IO protocols (driven by :class:`arbtrio.venues.stream.Stream`).

* :class:`BitgetBookFeed` — the public stream: ``subscribe`` every symbol's book channel
  (20 args per op, well under the venue's 4096-byte request limit), apply pushes through
  each symbol's :class:`~arbtrio.venues.bitget.book.BitgetBook` (snapshot, updates, the
  CRC32 checksum, ``seq`` growing), resubscribe a symbol whose book broke (a checksum
  mismatch, ``seq`` going backwards, a crossed book, a malformed frame), and end the session
  after ``max_resyncs`` resyncs of one symbol without a snapshot in between. Text ``ping``
  every ``ping_interval``; the text ``pong`` is a frame like any other for liveness.
* :class:`BitgetOrderFeed` — the private stream: ``login`` (the timestamp in seconds, from
  the injected wall clock), then ``orders``, ``fill``, ``positions`` and ``account``; fills
  de-duplicated by ``tradeId``; the order id → client order id map learned from ``orders``
  pushes and from the client's own placements (posted as :class:`OrderPlaced` notes);
  the latest ``positions`` and ``account`` pushes kept for readers.
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
from typing import Any, Final

import msgspec
import structlog

from arbtrio.core.book import L2Book
from arbtrio.core.types import Fill, OrderEvent, OrderStatus, OrderUpdate, Side
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
from arbtrio.venues.stream import NOTHING, READY, Changed, Deliver, Fail, Output, Send
from arbtrio.venues.wire import RecentIds

__all__ = [
    "ORDER_STATUS",
    "SEND_CAPACITY",
    "SEND_RATE",
    "TICK",
    "BitgetBookFeed",
    "BitgetOrderFeed",
    "OrderPlaced",
    "SendBudget",
    "fill_of",
    "order_update_of",
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
REMEMBERED_ORDERS = 50_000  # order id → client order id entries kept
REMEMBERED_FILLS = 50_000  # trade ids kept for de-duplication
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
                    verdict = tracker.apply(frame.action, data[0], now)
                except MalformedMessage as exc:
                    return self._malformed(raw, exc, now)
                if verdict is _APPLIED:
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


class OrderPlaced:
    """A note for :class:`BitgetOrderFeed`: the client placed ``client_order_id`` and the
    venue named it ``order_id`` (fill pushes may carry only the order id)."""

    __slots__ = ("client_order_id", "order_id")

    def __init__(self, order_id: str, client_order_id: str) -> None:
        self.order_id = order_id
        self.client_order_id = client_order_id

    def __repr__(self) -> str:
        return f"OrderPlaced({self.order_id!r}, {self.client_order_id!r})"


class BitgetOrderFeed:
    """The account's private stream (see the module docstring).

    ``wall_clock`` gives the login timestamp (epoch seconds); ``auth_timeout`` seconds
    without an answer to ``login`` end the session."""

    def __init__(
        self,
        credentials: Credentials,
        health: VenueHealth,
        wall_clock: Callable[[], float],
        *,
        ping_interval: float = 30.0,
        idle_timeout: float = 60.0,
        auth_timeout: float = 5.0,
    ) -> None:
        self.credentials = credentials
        self.health = health
        self.wall_clock = wall_clock
        self.idle_timeout = idle_timeout
        self.timer_interval = TICK
        self.ping_interval = ping_interval
        self.auth_timeout = auth_timeout
        self.budget = SendBudget()
        self.positions: dict[tuple[str, str], c.PositionPush] = {}  # (symbol, holdSide)
        self.accounts: dict[str, c.AccountPush] = {}  # latest push per margin coin
        self._seen_fills = RecentIds(REMEMBERED_FILLS)
        self._cid_by_order_id: OrderedDict[str, str] = OrderedDict()
        self._authed = False
        self._auth_deadline = 0.0
        self._next_ping = 0.0

    # -- inputs ------------------------------------------------------------------------------
    def connected(self, info: Any, now: float) -> Sequence[Output]:
        """``login`` with a fresh signature (timestamp in seconds)."""
        self._authed = False
        self._auth_deadline = now + self.auth_timeout
        self.budget.reset(now)
        creds = self.credentials
        args = login_args(creds.api_key, creds.api_secret, creds.passphrase,
                          int(self.wall_clock()))  # fmt: skip
        self.budget.push(_op("login", args))
        return self.budget.drain(now)

    def frame(self, raw: str | bytes, now: float) -> Sequence[Output]:
        if raw == PONG:
            return self.budget.drain(now) if self.budget.queue else NOTHING
        try:
            frame = c.decode_private(raw)
            if not self._authed:
                return self._login_reply(frame, now)
            events = self.events(frame, now)
        except MalformedMessage as exc:
            self.health.malformed += 1
            log.warning("bitget.private.malformed", error=exc.message)
            return NOTHING
        except BadRequest as exc:  # the venue reported an error on the stream: reconnect
            return (Fail(exc),)
        return [Deliver(event) for event in events]

    def timer(self, now: float) -> Sequence[Output]:
        """The login deadline; text ``ping`` every ``ping_interval`` once logged in."""
        if not self._authed:
            if now >= self._auth_deadline:
                return (Fail(Disconnected(VENUE, "private stream: no answer to login")),)
        elif now >= self._next_ping:
            self._next_ping = now + self.ping_interval
            self.budget.push(PING)
        return self.budget.drain(now) if self.budget.queue else NOTHING

    def fetched(self, key: Hashable, result: Any, now: float) -> Sequence[Output]:
        return NOTHING

    def note(self, message: Any, now: float) -> Sequence[Output]:
        """:class:`OrderPlaced`: remember the order id's client order id."""
        if isinstance(message, OrderPlaced):
            self.remember(message.order_id, message.client_order_id)
        return NOTHING

    def disconnected(self, reason: str, now: float) -> Sequence[Output]:
        self._authed = False
        self.budget.queue.clear()
        return NOTHING

    # -- rules -------------------------------------------------------------------------------
    def _login_reply(self, frame: c.PrivateFrame, now: float) -> Sequence[Output]:
        """Before login only its answer matters: success subscribes (then Ready), an error
        or a refused login stops the stream (``AuthenticationFailed``)."""
        if frame.event not in ("login", "error"):
            return NOTHING
        if frame.event != "login" or str(frame.code) != "0":
            error = AuthenticationFailed(VENUE, f"stream login refused: {frame.code} {frame.msg}")
            return (Fail(error),)
        self._authed = True
        self._next_ping = now + self.ping_interval
        self.budget.push(_op("subscribe", PRIVATE_ARGS))
        out = self.budget.drain(now)
        out.append(READY)
        return out

    def events(self, frame: c.PrivateFrame, now: float) -> list[OrderEvent]:
        """Order events of one private push (fills already seen are dropped); ``positions``
        and ``account`` pushes update :attr:`positions` and :attr:`accounts`. Raises
        MalformedMessage for a push that does not decode, BadRequest for a stream error."""
        channel = frame.arg.channel if frame.arg is not None else ""
        if frame.event == "error":
            raise BadRequest(VENUE, f"private stream error {frame.code}: {frame.msg}")
        if frame.event:  # login / subscribe / unsubscribe acks carry no data
            return []
        if channel == "fill":
            out: list[OrderEvent] = []
            for f in c.decode_data(list[c.FillPush], frame.data, "fill push"):
                if f.tradeId in self._seen_fills:
                    continue
                cid = f.clientOid or self._cid_by_order_id.get(f.orderId, "")
                out.append(fill_of(f, now, cid))
                self._seen_fills.add(f.tradeId)
            return out
        if channel == "orders":
            out = []
            for o in c.decode_data(list[c.OrderPush], frame.data, "orders push"):
                self.remember(o.orderId, o.clientOid)
                out.append(order_update_of(o, now))
            return out
        if channel == "positions":
            for p in c.decode_data(list[c.PositionPush], frame.data, "positions push"):
                self.positions[(p.instId or p.symbol, p.holdSide)] = p
        elif channel == "account":
            for a in c.decode_data(list[c.AccountPush], frame.data, "account push"):
                self.accounts[a.marginCoin] = a
        return []

    def remember(self, order_id: str, client_order_id: str) -> None:
        """Map ``order_id`` to ``client_order_id`` (the oldest of 50 000 forgotten)."""
        self._cid_by_order_id[order_id] = client_order_id
        if len(self._cid_by_order_id) > REMEMBERED_ORDERS:
            self._cid_by_order_id.popitem(last=False)

    def client_order_id(self, order_id: str) -> str:
        """The client order id known for ``order_id`` ("" when none)."""
        return self._cid_by_order_id.get(order_id, "")


# -- conversions -----------------------------------------------------------------------------
def fill_of(f: c.FillPush, now: float, client_order_id: str) -> Fill:
    """One trade (a ``fill`` push or a ``/order/fills`` row) as a :class:`Fill`: Bitget
    reports paid fees as negative numbers (the fee here is positive when paid), and a
    hedge-mode ``close`` names the position's side (the order's side is the opposite)."""
    if f.baseVolume <= 0:
        raise MalformedMessage(VENUE, f"fill {f.tradeId}: baseVolume {f.baseVolume} <= 0")
    side = SIDES.get(f.side)
    if side is None:
        raise MalformedMessage(VENUE, f"fill {f.tradeId}: side {f.side!r}")
    if f.tradeSide == "close":
        side = side.opposite
    fee = -sum((d.totalFee for d in f.feeDetail), Decimal(0))
    return Fill(venue=VENUE, client_order_id=client_order_id, trade_id=f.tradeId, side=side,
                qty=f.baseVolume, price=f.price, fee=fee, ts=now)  # fmt: skip


def order_update_of(o: c.OrderPush, now: float) -> OrderUpdate:
    """One ``orders`` push as an :class:`OrderUpdate` (an IOC's cancelled remainder is
    reported as such when the venue gives no reason)."""
    status = ORDER_STATUS.get(o.status)
    if status is None:
        raise MalformedMessage(VENUE, f"orders push: unknown status {o.status!r}")
    avg = c.parse_decimal(o.priceAvg, "priceAvg")
    reason = o.cancelReason or (
        "IOC remainder cancelled" if status is OrderStatus.CANCELLED else ""
    )
    return OrderUpdate(venue=VENUE, client_order_id=o.clientOid, status=status,
                       filled_qty=o.accBaseVolume, avg_price=avg if avg else None, ts=now,
                       reason=reason)  # fmt: skip
