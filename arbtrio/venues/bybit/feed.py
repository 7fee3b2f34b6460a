"""Bybit's two streams as sans-IO protocols (driven by :class:`arbtrio.venues.stream.Stream`).

* :class:`BybitBookFeed` — the public linear stream: ``subscribe`` every
  ``orderbook.{depth}.{symbol}`` topic (10 per op), apply pushes through each topic's
  :class:`~arbtrio.venues.bybit.book.BybitBook`, resubscribe a topic whose book broke (a gap,
  a crossed book, a malformed frame), and give up on the session after ``max_resyncs``
  resyncs of one topic without a snapshot in between. JSON ``ping`` every ``ping_interval``.
* :class:`BybitOrderFeed` — the private stream: ``auth`` (expires signature), then
  ``subscribe`` to the all-in-one topics ``order``, ``execution``, ``position`` and
  ``wallet``; the subscribe answer makes the session live (``Ready``). Pushes are decoded
  item by item: items of another category (these topics carry spot, inverse and option
  items too), of a symbol the client holds no instrument of, or that fail to decode are
  skipped and counted in ``health.skipped``, never taking their neighbours with them.
  Orders become :class:`OrderUpdate`, executions (Trade, AdlTrade, BustTrade, Delivery)
  :class:`Fill`; the latest linear ``position`` push per traded symbol is kept as a
  :class:`VenuePosition` (with the venue's mark and liquidation price) in
  :attr:`BybitOrderFeed.pushed_positions`, the latest ``wallet`` push as a
  :class:`Balance` per coin in :attr:`BybitOrderFeed.pushed_balances`.

  The orders the client placed are kept by the shared
  :class:`~arbtrio.venues.tracking.OrderTracker` (the client posts a
  :class:`~arbtrio.venues.tracking.Placed` note with the venue order id for each): fills
  are de-duplicated by ``execId`` across the stream and REST re-queries; an execution that
  names only the venue's ``orderId`` waits (bounded) until the note or an order push maps
  it to a client order id; after every (re)subscription, after a malformed frame or a
  malformed order/execution item, and every ``reconcile_every_s``, each placed order not
  yet seen finishing is re-queried over REST (``Fetch(Requery)``, answered by the client's
  ``query_order``) and its new fills and status delivered.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
import structlog

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.core.types import Balance, Fill, OrderStatus, OrderUpdate, Side, VenuePosition
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
from arbtrio.venues.tracking import OrderTracker, Placed

__all__ = [
    "FILL_EXEC_TYPES",
    "ORDER_STATUS",
    "BybitBookFeed",
    "BybitOrderFeed",
    "fill_of",
    "order_update_of",
    "position_of",
    "wallet_balances",
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
    """The account's private stream (see the module docstring).

    ``instruments`` is the client's instrument map (read only, updated in place by
    ``load_instruments``): while it holds any, order, execution and position items of
    other symbols are skipped as foreign. Attributes read by the client and tests:
    :attr:`tracker` (the orders placed, re-queries), :attr:`pushed_positions` (venue symbol
    → the latest pushed position, a flat one with ``qty`` 0) and :attr:`pushed_balances`
    (coin → the latest pushed balance); both written only here, from the reader.
    """

    def __init__(
        self,
        credentials: Credentials,
        health: VenueHealth,
        wall_clock: Callable[[], float],
        *,
        instruments: Mapping[str, Instrument] | None = None,
        ping_interval: float = 20.0,
        idle_timeout: float = 60.0,
        auth_timeout: float = 5.0,
        max_orders: int = 10_000,
        reconcile_every_s: float = 60.0,
        fill_wait_s: float = 5.0,
    ) -> None:
        self.credentials = credentials
        self.health = health
        self.wall_clock = wall_clock
        self.instruments: Mapping[str, Instrument] = {} if instruments is None else instruments
        self.idle_timeout = idle_timeout
        self.timer_interval = min(ping_interval, auth_timeout, fill_wait_s)
        self.ping_interval = ping_interval
        self.auth_timeout = auth_timeout
        self.pushed_positions: dict[str, VenuePosition] = {}  # latest linear push per symbol
        self.pushed_balances: dict[str, Balance] = {}  # latest wallet push per coin
        self.tracker = OrderTracker(
            VENUE, reconcile_every_s=reconcile_every_s, fill_wait_s=fill_wait_s, limit=max_orders
        )
        self._ops = _Ops()
        self._stage = _Stage.CLOSED
        self._deadline = 0.0  # for the auth answer, then for the subscribe answer
        self._subscribe_id = ""
        self._next_ping = 0.0

    # -- inputs -----------------------------------------------------------------------------
    def connected(self, info: Any, now: float) -> Sequence[Output]:
        self._stage = _Stage.AUTH
        self._deadline = now + self.auth_timeout
        self._next_ping = now + self.ping_interval
        self.tracker.unsubscribed()
        creds = self.credentials
        expires = int((self.wall_clock() + 5.0) * 1000)
        return (self._ops.op("auth", auth_args(creds.api_key, creds.api_secret, expires))[1],)

    def frame(self, raw: str | bytes, now: float) -> Sequence[Output]:
        try:
            frame = c.decode_private(raw)
        except MalformedMessage as exc:
            return self._malformed(exc, now)
        if self._stage is _Stage.AUTH:
            return self._auth_reply(frame, now)
        if frame.op:
            return self._op_reply(frame, now)
        try:
            return self.push(frame, now) or NOTHING
        except MalformedMessage as exc:
            return self._malformed(exc, now)

    def fetched(self, key: Hashable, result: Any, now: float) -> Sequence[Output]:
        """The answer of a re-query: new fills and the status, delivered."""
        out = self.tracker.fetched(key, result, now)
        return NOTHING if out is None else out

    def timer(self, now: float) -> Sequence[Output]:
        stage = self._stage
        if stage is _Stage.AUTH or stage is _Stage.SUBSCRIBING:
            if now >= self._deadline:
                what = "auth" if stage is _Stage.AUTH else "subscribe"
                return (Fail(Disconnected(VENUE, f"private stream: no answer to {what}")),)
            return NOTHING
        out: list[Output] = self.tracker.timer(now)
        if stage is _Stage.LIVE and now >= self._next_ping:
            self._next_ping = now + self.ping_interval
            out.append(self._ops.op("ping", [])[1])
        return out or NOTHING

    def note(self, message: Any, now: float) -> Sequence[Output]:
        """A :class:`Placed` order: tracked until the stream delivers its terminal state."""
        if not isinstance(message, Placed):
            return NOTHING
        return self.tracker.placed(message, now) or NOTHING

    def disconnected(self, reason: str, now: float) -> Sequence[Output]:
        self._stage = _Stage.CLOSED
        self.tracker.unsubscribed()
        return NOTHING

    # -- op replies ---------------------------------------------------------------------------
    def _auth_reply(self, frame: c.PrivateFrame, now: float) -> Sequence[Output]:
        if frame.op != "auth":
            return NOTHING
        if not frame.success:
            return (Fail(AuthenticationFailed(VENUE, f"stream auth refused: {frame.ret_msg}")),)
        self._stage = _Stage.SUBSCRIBING
        self._deadline = now + self.auth_timeout
        self._subscribe_id, send = self._ops.op("subscribe", list(PRIVATE_TOPICS))
        return (send,)

    def _op_reply(self, frame: c.PrivateFrame, now: float) -> Sequence[Output]:
        """The subscribe answer makes the session live: ``Ready`` and a re-query of every
        order placed and not seen finishing (pushes may have been missed while down)."""
        if frame.op != "subscribe" or self._stage is not _Stage.SUBSCRIBING:
            return NOTHING  # a pong, or an answer of an earlier request
        if frame.req_id and frame.req_id != self._subscribe_id:
            return NOTHING
        if not frame.success:
            return (Fail(BadRequest(VENUE, f"private subscribe refused: {frame.ret_msg}")),)
        self._stage = _Stage.LIVE
        return [READY, *self.tracker.subscribed(now)]

    def _malformed(self, exc: MalformedMessage, now: float) -> Sequence[Output]:
        """Count and log; once live, re-query the unfinished orders (the frame may have held
        one of their events)."""
        self.health.malformed += 1
        log.warning("bybit.private.malformed", error=exc.message)
        if self._stage is not _Stage.LIVE:
            return NOTHING
        return self.tracker.requery(now) or NOTHING

    # -- pushes -------------------------------------------------------------------------------
    def push(self, frame: c.PrivateFrame, now: float) -> list[Output]:
        """The outputs of one private push: order updates and fills to deliver (fills
        already delivered are dropped), position and wallet pushes kept in
        :attr:`pushed_positions` and :attr:`pushed_balances`. Items are decoded one by one;
        a foreign or malformed item is skipped and counted in ``health.skipped`` (a malformed
        order, execution or position item also re-queries the unfinished orders). Raises
        MalformedMessage only when the push's ``data`` is not a list."""
        topic = (frame.topic or "").split(".", 1)[0]
        if topic == "execution":
            return self._executions(frame.data, now)
        if topic == "order":
            return self._orders(frame.data, now)
        if topic == "position":
            return self._positions(frame.data, now)
        if topic == "wallet":
            accounts = c.decode_push_items(
                frame.data, c.WalletAccount, "wallet push", category=None
            )
            self._skipped(accounts, "wallet")
            for account in accounts.items:
                balances = wallet_balances(account)
                self._skipped(balances, "wallet")
                for balance in balances.items:
                    self.pushed_balances[balance.currency] = balance
        return []

    def _positions(self, data: bytes, now: float) -> list[Output]:
        items = c.decode_push_items(data, c.PositionInfo, "position push")
        lost = self._skipped(items, "position")
        for p in items.items:
            if not self._traded(p.symbol, "position"):
                continue
            try:
                self.pushed_positions[p.symbol] = position_of(p)
            except MalformedMessage as exc:
                lost += self._skip_one("position", exc.message, p.symbol)
        return self._requery_if(lost, now)

    def _executions(self, data: bytes, now: float) -> list[Output]:
        items = c.decode_push_items(data, c.ExecutionInfo, "execution push")
        lost = self._skipped(items, "execution")
        out: list[Output] = []
        tracker = self.tracker
        for e in items.items:
            if not e.execType:  # a fill or a funding payment? Not guessed: re-queried
                lost += self._skip_one("execution", "no execType", e.symbol)
                continue
            if e.execType not in FILL_EXEC_TYPES or not self._traded(e.symbol, "execution"):
                continue  # funding, settlement: not a trade of an order
            try:
                fill = fill_of(e, now)
            except MalformedMessage as exc:
                lost += self._skip_one("execution", exc.message, e.symbol)
                continue
            if fill.client_order_id:
                delivered: Output | None = tracker.fill(fill)
            else:  # only the venue's order id: held until the order is known
                delivered = tracker.fill_for_venue_order(e.orderId, _for_order(fill), now)
            if delivered is not None:
                out.append(delivered)
        return out + self._requery_if(lost, now)

    def _orders(self, data: bytes, now: float) -> list[Output]:
        items = c.decode_push_items(data, c.OrderInfo, "order push")
        lost = self._skipped(items, "order")
        out: list[Output] = []
        tracker = self.tracker
        for o in items.items:
            if not self._traded(o.symbol, "order"):
                continue
            cid = o.orderLinkId or ""
            if not cid:
                self._skip_one("order", "no orderLinkId: not placed by this client", o.symbol,
                               foreign=True)  # fmt: skip
                continue
            try:
                update = order_update_of(o, now)
            except MalformedMessage as exc:
                lost += self._skip_one("order", exc.message, o.symbol)
                continue
            out += tracker.learn(o.orderId, cid)  # fills that waited for this id first
            if update.status.is_terminal:
                tracker.finished(cid)
            out.append(Deliver(update))
        return out + self._requery_if(lost, now)

    def _traded(self, symbol: str, topic: str) -> bool:
        """False (counted as skipped) for a symbol the client holds no instrument of."""
        if not self.instruments or symbol in self.instruments:
            return True
        self._skip_one(topic, "untraded symbol", symbol, foreign=True)
        return False

    def _skipped(self, items: c.Items[Any], topic: str) -> int:
        """Count and log the items :func:`~codecs.decode_items` left out; the number of
        malformed ones (foreign items are expected on the all-in-one topics)."""
        for skip in items.skipped:
            self._skip_one(topic, skip.reason, skip.symbol, foreign=skip.foreign)
        return items.malformed

    def _skip_one(self, topic: str, reason: str, symbol: str, *, foreign: bool = False) -> int:
        self.health.skipped += 1
        if foreign:
            log.debug("bybit.private.skipped", topic=topic, symbol=symbol, reason=reason)
            return 0
        log.warning("bybit.private.skipped", topic=topic, symbol=symbol, reason=reason)
        return 1

    def _requery_if(self, lost: int, now: float) -> list[Output]:
        if not lost or self._stage is not _Stage.LIVE:
            return []
        return self.tracker.requery(now)


class _Stage(enum.Enum):
    CLOSED = "closed"
    AUTH = "auth"  # auth sent, no answer yet
    SUBSCRIBING = "subscribing"  # authenticated, subscribe sent
    LIVE = "live"  # subscribed


# -- conversions -----------------------------------------------------------------------------
def _for_order(fill: Fill) -> Callable[[str], Fill]:
    """``fill`` for the client order id the tracker learns later."""

    def make(client_order_id: str) -> Fill:
        return attrs.evolve(fill, client_order_id=client_order_id)

    return make


def _side(text: str | None) -> Side:
    side = SIDES.get(text or "")
    if side is None:
        raise MalformedMessage(VENUE, f"field side is not Buy/Sell: {text!r}")
    return side


def fill_of(e: c.ExecutionInfo, now: float) -> Fill:
    """One execution as a :class:`Fill` (``client_order_id`` = ``orderLinkId``, "" when the
    execution names only the venue's order id).

    Bybit fees: positive is paid, negative a rebate; ``feeCurrency`` is kept as
    ``Fill.fee_currency`` ("" when absent: the settle coin). A fee sent as ``""`` or null
    is ``feeRate × execValue`` when both are given (the venue's own formula), else 0
    (logged). Raises MalformedMessage for a non-positive quantity or price, or a bad side."""
    if e.execQty <= 0:
        raise MalformedMessage(VENUE, f"execution {e.execId}: execQty {e.execQty} <= 0")
    if e.execPrice <= 0:
        raise MalformedMessage(VENUE, f"execution {e.execId}: execPrice {e.execPrice} <= 0")
    side = _side(e.side)
    fee = c.parse_decimal(e.execFee, "execFee")
    if fee is None:
        rate = c.parse_decimal(e.feeRate, "feeRate")
        value = c.parse_decimal(e.execValue, "execValue")
        fee = rate * value if rate is not None and value is not None else Decimal(0)
        log.warning("bybit.fee_missing", exec_id=e.execId, fee=str(fee))
    return Fill(
        venue=VENUE,
        client_order_id=e.orderLinkId or "",
        trade_id=e.execId,
        side=side,
        qty=e.execQty,
        price=e.execPrice,
        fee=fee,
        ts=now,
        fee_currency=(e.feeCurrency or "").strip(),
        symbol=e.symbol,
    )


def order_update_of(o: c.OrderInfo, now: float) -> OrderUpdate:
    """One order push or query row as an :class:`OrderUpdate`."""
    status = ORDER_STATUS.get(o.orderStatus)
    if status is None:
        raise MalformedMessage(VENUE, f"field orderStatus unknown: {o.orderStatus!r}")
    if o.cumExecQty < 0:
        raise MalformedMessage(VENUE, f"order {o.orderId}: cumExecQty {o.cumExecQty} < 0")
    avg = c.parse_decimal(o.avgPrice, "avgPrice")
    reject = o.rejectReason or ""
    reason = reject if reject not in ("", "EC_NoError") else ""
    if not reason and status is OrderStatus.CANCELLED:
        reason = o.cancelType or "cancelled"
    return OrderUpdate(
        venue=VENUE,
        client_order_id=o.orderLinkId or "",
        status=status,
        filled_qty=o.cumExecQty,
        avg_price=avg if avg else None,
        ts=now,
        reason=reason,
    )


def _price(text: str | None, field: str) -> Decimal | None:
    """A price the venue may leave out: ``""``, null, ``"0"`` or a negative value → None
    (the docs: ``liqPrice`` is ``""`` when there is none, ``"0"`` on a flat push); not a
    decimal → MalformedMessage."""
    value = c.parse_decimal(text, field)
    return value if value is not None and value > 0 else None


def position_of(p: c.PositionInfo) -> VenuePosition:
    """A position row or push as a :class:`VenuePosition`: signed by ``side`` (flat: size
    0, side ``""``), entry from ``avgPrice`` (REST) or ``entryPrice`` (stream), the venue's
    ``markPrice`` and ``liqPrice`` (None when it reports none). Raises MalformedMessage for
    a size without a Buy/Sell side or a price that is not a decimal."""
    if p.size < 0:
        raise MalformedMessage(VENUE, f"position {p.symbol}: size {p.size} < 0")
    sign = {"Buy": 1, "Sell": -1}.get(p.side or "", 0)
    if sign == 0 and p.size != 0:
        raise MalformedMessage(VENUE, f"position {p.symbol}: side {p.side!r} with size {p.size}")
    return VenuePosition(
        venue=VENUE,
        symbol=p.symbol,
        qty=sign * p.size,
        entry_price=_price(p.avgPrice or p.entryPrice, "avgPrice"),
        mark_price=_price(p.markPrice, "markPrice"),
        liquidation_price=_price(p.liqPrice, "liqPrice"),
    )


def wallet_balances(account: c.WalletAccount) -> c.Items[Balance]:
    """The coins of one wallet account (REST or push) as balances, one by one: ``total`` is
    the coin's ``equity``, ``available`` its ``walletBalance − locked``, except USDT, whose
    ``available`` is the account's ``totalAvailableBalance`` (a unified account's margin is
    shared). Coins that fail to decode or convert are in ``skipped``."""
    coins = c.wallet_coins(account)
    skipped = list(coins.skipped)
    try:
        account_available = c.parse_decimal(account.totalAvailableBalance, "totalAvailableBalance")
    except MalformedMessage as exc:
        skipped.append(c.Skip(-1, False, exc.message))
        account_available = None
    out = []
    for index, coin in enumerate(coins.items):
        try:
            locked = c.parse_decimal(coin.locked, "locked") or Decimal(0)
        except MalformedMessage as exc:
            skipped.append(c.Skip(index, False, exc.message, coin.coin))
            continue
        available = coin.walletBalance - locked
        if coin.coin == "USDT" and account_available is not None:
            available = account_available
        out.append(Balance(venue=VENUE, currency=coin.coin, total=coin.equity, available=available))
    return c.Items(out, tuple(skipped))
