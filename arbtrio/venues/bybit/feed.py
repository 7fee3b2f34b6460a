"""Bybit's two streams as sans-IO protocols (driven by :class:`arbtrio.venues.stream.Stream`).

* :class:`BybitBookFeed` — the public linear stream: ``subscribe`` every
  ``orderbook.{depth}.{symbol}`` topic (10 per op), apply pushes through each topic's
  :class:`~arbtrio.venues.bybit.book.BybitBook`, resubscribe a topic whose book broke (a gap,
  a crossed book, a malformed frame), and give up on the session after ``max_resyncs``
  resyncs of one topic without a snapshot in between. JSON ``ping`` every ``ping_interval``.
* :class:`BybitOrderFeed` — the private stream: ``auth`` (expires signature), then
  ``order``, ``execution``, ``position`` and ``wallet``; fills de-duplicated by ``execId``;
  the latest position and wallet pushes kept for readers.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

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
from arbtrio.venues.bybit import codecs as c
from arbtrio.venues.bybit.book import BybitBook, Verdict
from arbtrio.venues.bybit.signing import auth_args
from arbtrio.venues.stream import (
    NOTHING,
    READY,
    Changed,
    Deliver,
    Fail,
    Output,
    Send,
)
from arbtrio.venues.wire import RecentIds

__all__ = [
    "FILL_EXEC_TYPES",
    "ORDER_STATUS",
    "BybitBookFeed",
    "BybitOrderFeed",
    "fill_of",
    "order_update_of",
]

log = structlog.get_logger("arbtrio.venues.bybit")

VENUE = "bybit"
SUBSCRIBE_CHUNK = 10  # topics per subscribe op (the venue's limit per request)
PRIVATE_TOPICS = ("order", "execution", "position", "wallet")
ORDER_STATUS: Mapping[str, OrderStatus] = {
    "New": OrderStatus.OPEN,
    "PartiallyFilled": OrderStatus.OPEN,
    "Untriggered": OrderStatus.OPEN,
    "Triggered": OrderStatus.OPEN,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELLED,
    "PartiallyFilledCanceled": OrderStatus.CANCELLED,
    "Deactivated": OrderStatus.CANCELLED,
    "Rejected": OrderStatus.REJECTED,
}
SIDES = {"Buy": Side.BUY, "Sell": Side.SELL}
FILL_EXEC_TYPES = frozenset({"Trade", "AdlTrade", "BustTrade", "Delivery"})


class _Ops:
    """Numbered stream ops (``req_id`` lets acks be matched to requests)."""

    __slots__ = ("_n",)

    def __init__(self) -> None:
        self._n = 0

    def op(self, op: str, args: Sequence[str | int]) -> tuple[str, Send]:
        self._n += 1
        req_id = f"{op[:5]}{self._n}"
        text = c.encoder.encode(c.WsOp(op=op, args=list(args), req_id=req_id)).decode()
        return req_id, Send(text)


class BybitBookFeed:
    """The books of ``symbols`` (``books``: venue symbol → the client's L2Book)."""

    def __init__(
        self,
        books: dict[str, L2Book],
        symbols: Iterable[str],
        depth: int,
        health: VenueHealth,
        *,
        ping_interval: float = 20.0,
        idle_timeout: float = 60.0,
        max_resyncs: int = 5,
    ) -> None:
        self.health = health
        self.idle_timeout = idle_timeout
        self.timer_interval = ping_interval
        self.max_resyncs = max_resyncs
        self.trackers: dict[str, BybitBook] = {}
        self._changed: dict[str, tuple[Output, ...]] = {}
        for symbol in symbols:
            book = books.setdefault(symbol, L2Book(VENUE, symbol))
            tracker = BybitBook(book, depth)
            self.trackers[tracker.topic] = tracker
            self._changed[tracker.topic] = (Changed(book),)
        self._ops = _Ops()
        self._pending: dict[str, list[str]] = {}  # subscribe req_id → topics
        self._resyncs: dict[str, int] = dict.fromkeys(self.trackers, 0)

    def connected(self, info: Any, now: float) -> Sequence[Output]:
        self._pending.clear()
        self._resyncs = dict.fromkeys(self.trackers, 0)
        topics = list(self.trackers)
        out: list[Output] = []
        for i in range(0, len(topics), SUBSCRIBE_CHUNK):
            chunk = topics[i : i + SUBSCRIBE_CHUNK]
            req_id, send = self._ops.op("subscribe", chunk)
            self._pending[req_id] = chunk
            out.append(send)
        return out

    def frame(self, raw: str | bytes, now: float) -> Sequence[Output]:
        try:
            frame = c.decode_public(raw)
        except MalformedMessage as exc:
            self.health.malformed += 1
            topic = c.topic_of(raw)
            log.warning("bybit.malformed", error=exc.message, topic=topic)
            broken = [topic] if topic in self.trackers else list(self.trackers)
            out: list[Output] = []
            for t in broken:
                self.trackers[t].invalidate("malformed message")
                out.extend(self._resync(t))
            return out
        tracker = self.trackers.get(frame.topic)
        if tracker is not None and frame.data is not None:
            verdict = tracker.apply(frame, now)
            if verdict is Verdict.APPLIED:
                if frame.type == "snapshot":
                    self._resyncs[frame.topic] = 0
                return self._changed[frame.topic]
            if verdict is Verdict.RESYNC:
                log.warning("bybit.resync", topic=frame.topic, reason=tracker.reason)
                return self._resync(frame.topic)
            return NOTHING
        if frame.op == "subscribe" and frame.req_id in self._pending:
            chunk = self._pending.pop(frame.req_id)
            if not frame.success:
                log.error("bybit.subscribe.failed", topics=chunk, msg=frame.ret_msg)
                self.health.last_error = f"subscribe failed: {frame.ret_msg}"
            return (READY,) if not self._pending else NOTHING
        if frame.op in ("subscribe", "unsubscribe") and frame.success is False:
            log.warning("bybit.op.failed", op=frame.op, msg=frame.ret_msg)
        return NOTHING

    def _resync(self, topic: str) -> list[Output]:
        """The book is invalid: tell the runtime, resubscribe the topic (or give up)."""
        self.health.resyncs += 1
        self._resyncs[topic] += 1
        out: list[Output] = [*self._changed[topic]]
        if self._resyncs[topic] > self.max_resyncs:
            error = Disconnected(VENUE, f"{topic}: {self._resyncs[topic]} resyncs, no recovery")
            out.append(Fail(error))
            return out
        out.append(self._ops.op("unsubscribe", [topic])[1])
        out.append(self._ops.op("subscribe", [topic])[1])
        return out

    def timer(self, now: float) -> Sequence[Output]:
        return (self._ops.op("ping", [])[1],)

    def fetched(self, key: Hashable, result: Any, now: float) -> Sequence[Output]:
        return NOTHING

    def note(self, message: Any, now: float) -> Sequence[Output]:
        return NOTHING

    def disconnected(self, reason: str, now: float) -> Sequence[Output]:
        out: list[Output] = []
        for topic, tracker in self.trackers.items():
            tracker.invalidate("disconnected")
            out.extend(self._changed[topic])
        return out


class BybitOrderFeed:
    """The account's private stream (see the module docstring)."""

    def __init__(
        self,
        credentials: Credentials,
        health: VenueHealth,
        wall_clock: Callable[[], float],
        *,
        ping_interval: float = 20.0,
        idle_timeout: float = 60.0,
        auth_timeout: float = 5.0,
    ) -> None:
        self.credentials = credentials
        self.health = health
        self.wall_clock = wall_clock
        self.idle_timeout = idle_timeout
        self.timer_interval = min(ping_interval, auth_timeout)
        self.ping_interval = ping_interval
        self.auth_timeout = auth_timeout
        self.positions: dict[str, c.PositionInfo] = {}  # latest push per symbol
        self.wallet: dict[str, c.WalletCoin] = {}  # latest push per coin
        self._seen_fills = RecentIds(50_000)
        self._ops = _Ops()
        self._authed = False
        self._auth_deadline = 0.0
        self._next_ping = 0.0

    def connected(self, info: Any, now: float) -> Sequence[Output]:
        self._authed = False
        self._auth_deadline = now + self.auth_timeout
        self._next_ping = now + self.ping_interval
        creds = self.credentials
        expires = int((self.wall_clock() + 5.0) * 1000)
        return (self._ops.op("auth", auth_args(creds.api_key, creds.api_secret, expires))[1],)

    def frame(self, raw: str | bytes, now: float) -> Sequence[Output]:
        try:
            frame = c.decode_private(raw)
            if not self._authed:
                return self._auth_reply(frame)
            return [Deliver(event) for event in self.events(frame, now)]
        except MalformedMessage as exc:
            self.health.malformed += 1
            log.warning("bybit.private.malformed", error=exc.message)
            return NOTHING
        except BadRequest as exc:
            return (Fail(exc),)

    def _auth_reply(self, frame: c.PrivateFrame) -> Sequence[Output]:
        if frame.op != "auth":
            return NOTHING
        if not frame.success:
            return (Fail(AuthenticationFailed(VENUE, f"stream auth refused: {frame.ret_msg}")),)
        self._authed = True
        return (self._ops.op("subscribe", list(PRIVATE_TOPICS))[1], READY)

    def events(self, frame: c.PrivateFrame, now: float) -> list[OrderEvent]:
        """Order events of one private push (fills already seen are dropped); position and
        wallet pushes update :attr:`positions` and :attr:`wallet`."""
        topic = frame.topic.split(".", 1)[0]
        if topic == "execution":
            fills: list[OrderEvent] = []
            for e in c.decode_executions(frame.data):
                if e.category != "linear" or e.execType not in FILL_EXEC_TYPES:
                    continue
                if not self._seen_fills.add(e.execId):
                    continue
                fills.append(fill_of(e, now))
            return fills
        if topic == "order":
            return [
                order_update_of(o, now)
                for o in c.decode_orders(frame.data)
                if o.category == "linear"
            ]
        if topic == "position":
            for p in c.decode_positions(frame.data):
                self.positions[p.symbol] = p
        elif topic == "wallet":
            for account in c.decode_wallets(frame.data):
                for coin in account.coin:
                    self.wallet[coin.coin] = coin
        elif frame.op == "subscribe" and frame.success is False:
            raise BadRequest(VENUE, f"private subscribe refused: {frame.ret_msg}")
        return []

    def timer(self, now: float) -> Sequence[Output]:
        if not self._authed:
            if now >= self._auth_deadline:
                return (Fail(Disconnected(VENUE, "private stream: no answer to auth")),)
            return NOTHING
        if now >= self._next_ping:
            self._next_ping = now + self.ping_interval
            return (self._ops.op("ping", [])[1],)
        return NOTHING

    def fetched(self, key: Hashable, result: Any, now: float) -> Sequence[Output]:
        return NOTHING

    def note(self, message: Any, now: float) -> Sequence[Output]:
        return NOTHING

    def disconnected(self, reason: str, now: float) -> Sequence[Output]:
        self._authed = False
        return NOTHING


# -- conversions -----------------------------------------------------------------------------
def _side(text: str) -> Side:
    side = SIDES.get(text)
    if side is None:
        raise MalformedMessage(VENUE, f"field side is not Buy/Sell: {text!r}")
    return side


def fill_of(e: c.ExecutionInfo, now: float) -> Fill:
    """One execution as a :class:`Fill` (Bybit fees: positive is paid)."""
    if e.execQty <= 0:
        raise MalformedMessage(VENUE, f"execution {e.execId}: execQty {e.execQty} <= 0")
    return Fill(
        venue=VENUE,
        client_order_id=e.orderLinkId,
        trade_id=e.execId,
        side=_side(e.side),
        qty=e.execQty,
        price=e.execPrice,
        fee=e.execFee,
        ts=now,
    )


def order_update_of(o: c.OrderInfo, now: float) -> OrderUpdate:
    """One order push or query row as an :class:`OrderUpdate`."""
    status = ORDER_STATUS.get(o.orderStatus)
    if status is None:
        raise MalformedMessage(VENUE, f"field orderStatus unknown: {o.orderStatus!r}")
    avg = c.parse_decimal(o.avgPrice, "avgPrice")
    reason = o.rejectReason if o.rejectReason not in ("", "EC_NoError") else ""
    if not reason and status is OrderStatus.CANCELLED:
        reason = o.cancelType or "cancelled"
    return OrderUpdate(
        venue=VENUE,
        client_order_id=o.orderLinkId,
        status=status,
        filled_qty=o.cumExecQty,
        avg_price=avg if avg else None,
        ts=now,
        reason=reason,
    )
