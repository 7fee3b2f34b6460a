"""KuCoin Futures' two streams as sans-IO protocols, driven by
:class:`arbtrio.venues.stream.Stream`.

Both streams run the same session rules (:class:`KucoinSession`). The client's connect step
fetches a **fresh** bullet token, connects to the instance server the answer names and
passes that :class:`~arbtrio.venues.kucoin.codecs.InstanceServer` as ``info`` to
``connected``. Then, per session:

==================  ======================================================================
state / input       what the protocol does
==================  ======================================================================
connected           wait for ``welcome``: ``idle_timeout`` = ``welcome_timeout`` until then
first frame         ``welcome`` → subscribe every topic (``response: true``), ``idle_timeout``
                    = ``pingInterval + pingTimeout``; anything else ends the session
``ack``             one subscription confirmed; the last one → :class:`Ready`
``error`` frame     ends the session: 401 (token rejected) → ``Disconnected``, else
                    ``BadRequest``
timer               ``{"type": "ping"}`` every 0.8 × ``pingInterval`` (at least 1 s); the
                    session reaching ``max_session_s`` ends it, before the 24 h token does
disconnected        everything learned from the session is void
==================  ======================================================================

* :class:`KucoinBookFeed` — ``/contractMarket/level2:SYMBOL``, one topic per symbol, synced
  by :class:`~arbtrio.venues.kucoin.books.KucoinBooks` (buffer, REST snapshot, sequence + 1,
  transient crossing). The protocol decides when a snapshot is due and asks for it with
  :class:`Fetch` (key: the symbol): once the symbol has a buffered push, or after
  ``first_delta_wait_s`` without one (so the snapshot is not older than the stream). A
  stale snapshot is asked again after ``snapshot_retry_s``, a malformed one is counted and
  asked again, a failed request after ``snapshot_retry_s`` × the consecutive failures (a
  ``RateLimited`` answer: its ``retry_after``); ``max_snapshot_failures`` consecutive
  failures end the session. A quiet book is not stale: KuCoin pushes only changes.
* :class:`KucoinOrderFeed` — ``/contractMarket/tradeOrders`` (``orderChange``: a ``match``
  is a :class:`~arbtrio.core.types.Fill`, de-duplicated by ``tradeId``, with the fee at the
  account's rate; every push an :class:`~arbtrio.core.types.OrderUpdate`),
  ``/contract/positionAll`` and ``/contractAccount/wallet`` (kept in :attr:`positions`,
  venue symbol → position with its mark and liquidation price, and :attr:`balances`,
  settle currency → balance: the client's ``pushed_positions`` / ``pushed_balances``).
  Its :class:`~arbtrio.venues.tracking.OrderTracker` keeps the orders the client placed
  (:class:`Placed` notes); after every subscription, every malformed frame and every
  ``reconcile_every_s`` it asks for a REST re-query (:class:`Fetch` of a
  :class:`Requery`) of each order not yet seen finishing, and delivers the answer's new
  fills and status. A push that names only the venue's order id (no ``clientOid``) is held
  by that id until the order's note maps it; a note for an order sent before the last
  malformed frame re-queries it. Pushes of contracts the client does not trade (and wallets
  of other currencies) are skipped and counted in ``health.skipped``.

Malformed input never raises: it is counted in ``health.malformed``, logged, and answered
with resync outputs (books: every book invalidated and re-snapshotted; orders: re-queries).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import attrs
import msgspec
import structlog

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.core.types import Balance, Fill, VenuePosition
from arbtrio.venues.base import (
    BadRequest,
    Disconnected,
    MalformedMessage,
    OutcomeUnknown,
    RateLimited,
    VenueError,
    VenueHealth,
)
from arbtrio.venues.kucoin import codecs, convert
from arbtrio.venues.kucoin.books import KucoinBooks
from arbtrio.venues.kucoin.codecs import VENUE, InstanceServer, WsMessage, WsRequest, decode
from arbtrio.venues.stream import NOTHING, READY, Changed, Deliver, Fail, Fetch, Output, Send
from arbtrio.venues.tracking import OrderTracker, Placed, Requery
from arbtrio.venues.wire import RecentIds

__all__ = [
    "PRIVATE_TOPICS",
    "FeeRates",
    "KucoinBookFeed",
    "KucoinOrderFeed",
    "KucoinSession",
    "control_message",
    "stream_error",
]

log = structlog.get_logger("arbtrio.venues.kucoin")

PRIVATE_TOPICS: Final = (
    "/contractMarket/tradeOrders",
    "/contract/positionAll",
    "/contractAccount/wallet",
)
TOKEN_REJECTED: Final = "401"
# Request failures a snapshot fetch retries (anything else ends the session at once).
SNAPSHOT_RETRIED: Final = (RateLimited, Disconnected, OutcomeUnknown, BadRequest)


# -- control frames ----------------------------------------------------------------------
def stream_error(msg: WsMessage) -> VenueError | None:
    """The error an ``error`` frame ends the session with (None for any other frame):
    ``401`` (token invalid or expired) → ``Disconnected``, anything else → ``BadRequest``."""
    if msg.type != "error":
        return None
    text = bytes(msg.data).decode("utf-8", "replace")[:200]
    code = str(msg.code)
    if code == TOKEN_REJECTED:
        return Disconnected(VENUE, f"token rejected: {text}", code=code)
    return BadRequest(VENUE, f"ws error {code}: {text}", code=code)


def control_message(raw: str | bytes) -> WsMessage:
    """Decode a frame that is not a data push; raises ``MalformedMessage`` when it does not
    decode and :func:`stream_error`'s error for an ``error`` frame."""
    msg = decode(codecs.ws_message_decoder, raw, "ws control")
    error = stream_error(msg)
    if error is not None:
        raise error
    return msg


# -- the session rules both streams share -------------------------------------------------
class KucoinSession:
    """Welcome, subscriptions, pings and token lifetime (the module docstring's table).

    Subclasses implement ``frame`` (calling :meth:`_welcome` until :attr:`welcomed`, then
    :meth:`_control` for control frames), ``fetched``, ``note`` and ``disconnected``, and
    may override :meth:`_subscribed` (what follows the last ack)."""

    def __init__(
        self,
        topics: Sequence[str],
        private: bool,
        health: VenueHealth,
        *,
        welcome_timeout: float,
        max_session_s: float,
        timer_interval: float,
    ) -> None:
        self.topics = tuple(topics)
        self.private = private
        self.health = health
        self.welcome_timeout = welcome_timeout
        self.max_session_s = max_session_s
        self.timer_interval = timer_interval
        self.idle_timeout = welcome_timeout
        self.welcomed = False
        self._ids = itertools.count(1)
        self._acks: set[str] = set()
        self._ping_s = 0.0  # these four: set by each session (_open, _welcome)
        self._live_idle_s = 0.0
        self._opened = 0.0
        self._next_ping = 0.0

    def _open(self, server: InstanceServer, now: float) -> None:
        """A session to ``server`` is open: wait for its welcome."""
        self._ping_s = max(1.0, server.pingInterval / 1000 * 0.8)
        self._live_idle_s = (server.pingInterval + server.pingTimeout) / 1000
        self.idle_timeout = self.welcome_timeout
        self.welcomed = False
        self._acks.clear()
        self._opened = now

    def _request(self, kind: str, topic: str = "") -> Send:
        req_id = str(next(self._ids))
        if kind == "subscribe":
            self._acks.add(req_id)
        request = WsRequest(
            id=req_id, type=kind, topic=topic, privateChannel=self.private and bool(topic),
            response=bool(topic),
        )  # fmt: skip
        return Send(codecs.encode(request).decode())

    def _welcome(self, raw: str | bytes, now: float) -> Sequence[Output]:
        """The session's first frame: ``welcome`` → the subscriptions; else the end."""
        try:
            msg = control_message(raw)
        except MalformedMessage as exc:
            self.health.malformed += 1
            log.warning("venue.malformed", venue=VENUE, error=exc.message, frame=clip(raw))
            return (Fail(exc),)
        except VenueError as exc:
            return (Fail(exc),)
        if msg.type != "welcome":
            return (Fail(Disconnected(VENUE, f"expected welcome, got {msg.type!r}")),)
        self.welcomed = True
        self.idle_timeout = self._live_idle_s
        self._next_ping = now + self._ping_s
        out: list[Output] = [self._request("subscribe", topic) for topic in self.topics]
        if not self.topics:
            out.extend(self._subscribed(now))
        return out

    def _control(self, msg: WsMessage, now: float) -> Sequence[Output]:
        """A control frame after the welcome: acks count, an error ends the session."""
        error = stream_error(msg)
        if error is not None:
            return (Fail(error),)
        if msg.type == "ack" and str(msg.id) in self._acks:
            self._acks.discard(str(msg.id))
            if not self._acks:
                return self._subscribed(now)
        return NOTHING

    def _subscribed(self, now: float) -> Sequence[Output]:
        """Every subscription is acknowledged."""
        return (READY,)

    def _session_timer(self, now: float) -> Sequence[Output]:
        if not self.welcomed:
            return NOTHING  # the welcome's deadline is the shell's idle_timeout
        if now - self._opened > self.max_session_s:
            error = Disconnected(VENUE, "token lifetime reached: reconnecting with a new one")
            return (Fail(error),)
        if now >= self._next_ping:
            self._next_ping = now + self._ping_s
            return self._ping(now)
        return NOTHING

    def _ping(self, now: float) -> Sequence[Output]:
        return (self._request("ping"),)


# -- books ---------------------------------------------------------------------------------
class KucoinBookFeed(KucoinSession):
    """The public level-2 stream of ``instruments`` (venue symbol → instrument); ``books``
    is the client's venue symbol → :class:`L2Book` (created when missing). ``machine`` is
    the book-sync state (:class:`KucoinBooks`)."""

    def __init__(
        self,
        books: dict[str, L2Book],
        instruments: Mapping[str, Instrument],
        health: VenueHealth,
        *,
        welcome_timeout: float = 10.0,
        max_session_s: float = 23 * 3600.0,
        snapshot_retry_s: float = 0.25,
        first_delta_wait_s: float = 1.0,
        max_snapshot_failures: int = 5,
        crossed_limit: int = 200,
    ) -> None:
        self._one: L2Book | None = None  # the book the current input changed first
        self._more: list[L2Book] = []  # any other book it changed (rare: resyncs)
        self.machine = KucoinBooks(
            instruments, health, self._touched, books=books, crossed_limit=crossed_limit
        )
        super().__init__(
            self.machine.topics(), False, health, welcome_timeout=welcome_timeout,
            max_session_s=max_session_s, timer_interval=snapshot_retry_s,
        )  # fmt: skip
        self.snapshot_retry_s = snapshot_retry_s
        self.first_delta_wait_s = first_delta_wait_s
        self.max_snapshot_failures = max_snapshot_failures
        self._changed = {s: (Changed(books[s]),) for s in instruments}  # the hot path's outputs
        self._asked: set[str] = set()  # snapshot fetches asked for and not answered
        self._retry_at: dict[str, float] = {}  # no new fetch of this symbol before
        self._failures = 0  # consecutive failed snapshot requests

    def _touched(self, book: L2Book) -> None:
        """:class:`KucoinBooks` changed ``book`` (applied, or invalidated)."""
        if self._one is None:
            self._one = book
        elif book is not self._one and book not in self._more:
            self._more.append(book)

    def connected(self, info: Any, now: float) -> Sequence[Output]:
        self._open(info, now)
        self._asked.clear()
        self._retry_at.clear()
        self._failures = 0
        self.machine.pending.clear()
        self.machine.resync_all("connecting", now)  # every book waits for a new snapshot
        return self._outputs(now)

    def frame(self, raw: str | bytes, now: float) -> Sequence[Output]:
        if not self.welcomed:
            return self._welcome(raw, now)
        msg = self.machine.on_frame(raw, now)
        if msg is not None:
            return self._control(msg, now)
        one = self._one
        if one is not None and not self._more and not self.machine.pending:
            self._one = None
            return self._changed[one.symbol]  # the hot path: prebuilt, nothing allocated
        return self._outputs(now)

    def fetched(self, key: Hashable, result: Any, now: float) -> Sequence[Output]:
        symbol = str(key)
        self._asked.discard(symbol)
        if symbol not in self.machine.pending:
            return NOTHING
        if isinstance(result, codecs.Level2Snapshot):
            self._failures = 0
            if not self.machine.on_snapshot(symbol, result, now):
                log.info("venue.snapshot_stale", venue=VENUE, symbol=symbol)
                self._retry_at[symbol] = now + self.snapshot_retry_s
            return self._outputs(now)
        if isinstance(result, MalformedMessage):
            self.health.malformed += 1
            log.warning("venue.malformed", venue=VENUE, error=result.message)
            self._retry_at[symbol] = now + self.snapshot_retry_s
            return self._outputs(now)
        if isinstance(result, SNAPSHOT_RETRIED):
            self._failures += 1
            log.warning("venue.snapshot_failed", venue=VENUE, symbol=symbol, error=str(result))
            if self._failures >= self.max_snapshot_failures:
                return (Fail(result),)
            wait = self.snapshot_retry_s * self._failures
            if isinstance(result, RateLimited) and result.retry_after:
                wait = result.retry_after
            self._retry_at[symbol] = now + wait
            return self._outputs(now)
        error = result if isinstance(result, Exception) else TypeError(f"snapshot: {result!r}")
        return (Fail(error),)

    def timer(self, now: float) -> Sequence[Output]:
        session = self._session_timer(now)
        if not self.machine.pending:
            return session
        return [*session, *self._outputs(now)] or NOTHING

    def note(self, message: Any, now: float) -> Sequence[Output]:
        return NOTHING

    def disconnected(self, reason: str, now: float) -> Sequence[Output]:
        self.welcomed = False
        self.machine.resync_all("disconnected", now)
        self._one, self._more = None, []
        return [changed[0] for changed in self._changed.values()]

    def _outputs(self, now: float) -> Sequence[Output]:
        """The books changed since the last call, then the snapshot fetches now due (one
        changed book and nothing due: its prebuilt output)."""
        due = self._snapshots_due(now) if self.machine.pending and self.welcomed else None
        one = self._one
        if one is None:
            return due or NOTHING
        self._one = None
        if not self._more and not due:
            return self._changed[one.symbol]
        out: list[Output] = [self._changed[one.symbol][0]]
        out.extend(self._changed[book.symbol][0] for book in self._more)
        self._more.clear()
        if due:
            out.extend(due)
        return out

    def _snapshots_due(self, now: float) -> list[Output] | None:
        """A :class:`Fetch` for every waiting symbol whose snapshot is due (None: none)."""
        machine = self.machine
        due: list[Output] | None = None
        for symbol, since in machine.pending.items():
            if symbol in self._asked or now < self._retry_at.get(symbol, now):
                continue
            if not machine.buffered(symbol) and now - since < self.first_delta_wait_s:
                continue
            self._asked.add(symbol)
            if due is None:
                due = []
            due.append(Fetch(symbol))
        return due


# -- orders --------------------------------------------------------------------------------
@attrs.frozen
class FeeRates:
    """A note: the account's fee rates, venue symbol → (taker, maker)."""

    rates: Mapping[str, tuple[Decimal, Decimal]]


class KucoinOrderFeed(KucoinSession):
    """The account's private stream (see the module docstring).

    ``instruments`` (venue symbol → instrument) is the client's table, read here; pushes for
    symbols it does not hold are skipped and counted (``health.skipped``). Fee rates arrive
    as a :class:`FeeRates` note (until then, and for symbols without one, a match is charged
    the contract's rates).

    Order pushes are mapped to client order ids by their ``clientOid``, else by the venue
    order id the tracker learned (a :class:`Placed` note, an earlier push). A match that
    names neither waits in the tracker (:meth:`OrderTracker.fill_for_venue_order`) for the
    note; the status of such a push is left to a re-query of the order, asked for when its
    note arrives (at most ``max_orders`` such venue ids are remembered).

    ``positions`` (venue symbol → position, traded contracts only) and ``balances`` (settle
    currency → balance, ``settle_currency`` only) are the dicts it keeps current, updated in
    place (the client passes its own): a ``position.change`` with a quantity replaces the
    symbol's position, one caused by the mark price updates only its mark; a
    ``walletBalance.change`` replaces the balance (total: ``equity``, as the REST account's
    ``accountEquity``, else ``walletBalance``), the older ``availableBalance.change``
    updates only the available amount."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        health: VenueHealth,
        *,
        welcome_timeout: float = 10.0,
        max_session_s: float = 23 * 3600.0,
        timer_interval: float = 1.0,
        reconcile_every_s: float = 60.0,
        fill_wait_s: float = 5.0,
        max_orders: int = 10_000,
        settle_currency: str = convert.SETTLE,
        positions: dict[str, VenuePosition] | None = None,
        balances: dict[str, Balance] | None = None,
    ) -> None:
        super().__init__(
            PRIVATE_TOPICS, True, health, welcome_timeout=welcome_timeout,
            max_session_s=max_session_s, timer_interval=timer_interval,
        )  # fmt: skip
        self.instruments = instruments
        self.settle_currency = settle_currency
        self.fee_rates: dict[str, tuple[Decimal, Decimal]] = {}
        self.positions = {} if positions is None else positions  # venue symbol → pushed
        self.balances = {} if balances is None else balances  # settle currency → pushed
        self.tracker = OrderTracker(
            VENUE, reconcile_every_s=reconcile_every_s, fill_wait_s=fill_wait_s,
            limit=max_orders,
        )  # fmt: skip
        self.unmapped = RecentIds(max_orders)  # venue order ids pushed without a client id
        self._lossy_at = -math.inf  # the last malformed frame (events may be lost there)

    def connected(self, info: Any, now: float) -> Sequence[Output]:
        self._open(info, now)
        self.tracker.unsubscribed()
        return NOTHING

    def frame(self, raw: str | bytes, now: float) -> Sequence[Output]:
        if not self.welcomed:
            return self._welcome(raw, now)
        try:
            msg = decode(codecs.ws_message_decoder, raw, "private message")
            if not msg.is_push:
                return self._control(msg, now)
            return self.events(msg, now) or NOTHING
        except MalformedMessage as exc:
            self.health.malformed += 1
            log.warning("venue.malformed", venue=VENUE, error=exc.message, frame=clip(raw))
            self._lossy_at = now  # an order whose note is still to come is re-queried then
            return self.tracker.requery(now)

    def events(self, msg: WsMessage, now: float) -> list[Output]:
        """The outputs of one private push: order events to deliver (fills already seen are
        dropped) and re-queries; position and wallet pushes update :attr:`positions` and
        :attr:`balance`. Raises ``MalformedMessage`` for a push that does not decode."""
        topic = msg.topic
        if topic.startswith("/contractMarket/tradeOrders"):
            order = decode(codecs.order_change_decoder, msg.data, "orderChange")
            return self._order_change(order, now)
        if topic.startswith("/contract/position"):
            if msg.subject == "position.change":  # settlement, risk limit: nothing to keep
                self._position_change(topic, msg.data)
        elif topic.startswith("/contractAccount/wallet"):
            self._wallet_change(msg.subject, msg.data)
        return []

    def _skip(self, what: str, **fields: Any) -> None:
        self.health.skipped += 1
        log.info("venue.push_skipped", venue=VENUE, what=what, **fields)

    def _order_change(self, o: codecs.OrderChange, now: float) -> list[Output]:
        """One order push: decoded whole first (MalformedMessage before any state changes),
        then the mapping learned, the fill delivered or held, the status delivered."""
        inst = self.instruments.get(o.symbol)
        if inst is None:
            self._skip("orderChange", symbol=o.symbol, order=o.orderId)
            return []
        tracker = self.tracker
        known = tracker.client_order_id(o.orderId)
        cid = o.clientOid or known or ""
        fill = None
        if o.type == "match":
            taker, maker = self.fee_rates.get(o.symbol, (inst.taker_fee, inst.maker_fee))
            rate = maker if o.liquidity == "maker" else taker
            fill = convert.fill_from_match(inst, o, rate, cid, now)
        update = convert.order_update(inst, o, cid, now)  # raises for a bad size too
        out: list[Output] = []
        if o.clientOid and known != o.clientOid:
            out += tracker.learn(o.orderId, o.clientOid)  # and the fills that waited for it
        if o.type == "match" and fill is None:  # a match without its trade: re-query it
            if cid:
                out.append(Fetch(Requery(o.symbol, cid)))
        elif fill is not None and cid:
            delivered = tracker.fill(fill)
            if delivered is not None:
                out.append(delivered)
        elif fill is not None:
            tracker.fill_for_venue_order(o.orderId, _fill_of(fill), now)
        if not cid:  # its status comes from the re-query its Placed note asks for
            self.unmapped.add(o.orderId)
            return out
        if update.status.is_terminal:
            tracker.finished(cid)
        out.append(Deliver(update))
        return out

    def _position_change(self, topic: str, data: msgspec.Raw) -> None:
        p = decode(codecs.position_change_decoder, data, "position.change")
        symbol = p.symbol or topic.partition(":")[2]
        if p.currentQty is None:  # a mark-price update: the quantity did not change
            held = self.positions.get(symbol)
            if held is not None:
                mark = codecs.optional_price(p.markPrice, f"{symbol} markPrice")
                if mark is not None:
                    self.positions[symbol] = attrs.evolve(held, mark_price=mark)
            return
        inst = self.instruments.get(symbol)
        if inst is None:
            self._skip("position.change", symbol=symbol)
            return
        self.positions[symbol] = convert.reported_position(inst, p)

    def _wallet_change(self, subject: str, data: msgspec.Raw) -> None:
        if subject not in ("walletBalance.change", "availableBalance.change"):
            return  # order margin, withdrawal holds: not a balance
        w = decode(codecs.wallet_decoder, data, subject)
        currency = self.settle_currency
        if w.currency.upper() != currency:
            self._skip(subject, currency=w.currency)
            return
        balance = self.balances.get(currency)
        total = w.equity if w.equity is not None else w.walletBalance
        if total is not None:
            available = w.availableBalance if w.availableBalance is not None else total
            self.balances[currency] = Balance(
                venue=VENUE, currency=currency, total=total, available=available
            )
        elif w.availableBalance is not None and balance is not None:
            self.balances[currency] = attrs.evolve(balance, available=w.availableBalance)

    def _subscribed(self, now: float) -> Sequence[Output]:
        return (READY, *self.tracker.subscribed(now))

    def fetched(self, key: Hashable, result: Any, now: float) -> Sequence[Output]:
        """A re-query's answer: the order's new fills and its status, delivered."""
        out = self.tracker.fetched(key, result, now)
        if out is None:
            return (Fail(TypeError(f"re-query: unknown key {key!r}")),)
        return out

    def note(self, message: Any, now: float) -> Sequence[Output]:
        if isinstance(message, Placed):
            out = self.tracker.placed(message, now)
            vid = message.venue_order_id
            # pushed before its note without a client id, or sent before a malformed frame
            if (vid and vid in self.unmapped) or message.sent_at <= self._lossy_at:
                key = Requery(message.symbol, message.client_order_id)
                if not any(isinstance(o, Fetch) and o.key == key for o in out):
                    out.append(Fetch(key))
            return out or NOTHING
        if isinstance(message, FeeRates):
            self.fee_rates.update(message.rates)
        else:
            log.warning("venue.unknown_note", venue=VENUE, note=repr(message)[:200])
        return NOTHING

    def timer(self, now: float) -> Sequence[Output]:
        if not self.welcomed:
            return self._session_timer(now)
        return [*self._session_timer(now), *self.tracker.timer(now)] or NOTHING

    def disconnected(self, reason: str, now: float) -> Sequence[Output]:
        self.welcomed = False
        self.tracker.unsubscribed()
        return NOTHING


def _fill_of(fill: Fill) -> Callable[[str], Fill]:
    """``fill`` for the client order id the tracker learns later."""
    return lambda client_order_id: attrs.evolve(fill, client_order_id=client_order_id)


def clip(raw: str | bytes, limit: int = 300) -> str:
    """``raw`` as text for a log line, cut at ``limit`` characters."""
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "…"
