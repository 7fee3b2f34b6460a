"""Gate.io's two streams as sans-IO protocols (driven by :class:`arbtrio.venues.stream.Stream`).

Both run on the one futures WebSocket URL. Neither does I/O or reads a clock: time is the
``now`` argument, and the wall clock that stamps requests (``time``, signed on private
channels) is injected.

:class:`GateBookFeed` — the public books (``futures.order_book_update``, one subscription
per contract, payload ``[contract, frequency, depth]``), each kept by a
:class:`~arbtrio.venues.gateio.books.GateBook`:

========================  ==========================================================
input                     outputs
========================  ==========================================================
``connected``             every book invalidated and queued for a snapshot; one
                          ``subscribe`` per contract (``id`` 1..n)
``frame``: a delta        ``(Changed(book),)`` prebuilt (the hot path); buffered
                          while the contract waits for its snapshot, and the first
                          buffered delta asks ``Fetch(contract)``
``frame``: gap, crossed   the book invalidated (``Changed``), a snapshot queued
``frame``: malformed      ``health.malformed += 1``, logged; every book
                          invalidated, every snapshot queued
``frame``: acks           ``Ready`` once every subscription is acknowledged; an
                          error code fails the session (4/6/11:
                          ``AuthenticationFailed``)
``frame``: ``upgrade``    ``Fail(Disconnected)``: the venue asks for a reconnect
``fetched``: snapshot     applied with the buffered deltas (``Changed``); too old
                          or discontinuous: fetched again after
                          ``snapshot_retry_s``
``fetched``: error        malformed: counted, retried after ``snapshot_retry_s``;
                          a rate limit or transport error: every fetch paused
                          ``snapshot_retry_s`` × consecutive failures (or the
                          venue's ``retry_after``), ``Fail`` at
                          ``max_fetch_failures``; anything else: ``Fail``
``timer``                 ``futures.ping`` every ``ping_interval``; a queued
                          contract with no buffered delta after
                          ``first_delta_wait_s`` is fetched anyway; retries due
``disconnected``          every book invalidated (``Changed``)
========================  ==========================================================

Every delta applied from the stream stamps its book with the venue's ``t``
(``L2Book.stamp``: the feed's lag); REST snapshots do not. Liveness is the shell's:
``idle_timeout`` seconds without a frame end the session (pongs count). Gate pushes a
contract only when its top levels change, so a quiet contract is not stale and there is
no per-book staleness rule. ``health.resyncs`` counts resyncs of a live book (not the
initial sync).

:class:`GateOrderFeed` — the private channels ``futures.orders``, ``futures.usertrades``,
``futures.positions`` (payload ``[uid, "!all"]``) and ``futures.balances`` (``[uid]``),
each subscribe signed; ``connected``'s ``info`` is the account's uid. Pushes decode item by
item (:func:`~arbtrio.venues.gateio.codecs.decode_items`): an item that does not decode, or
one foreign to this client (a contract it does not trade, an order it did not place, a
balance in another currency) is skipped and counted in ``health.skipped``, its neighbours
delivered; an undecodable order or fill item also re-queries the unfinished orders. Orders
become :class:`OrderUpdate` and usertrades :class:`Fill` (``Deliver``; fills de-duplicated
by trade id; a fee paid in points keeps its currency), positions and balances are kept in
:attr:`GateOrderFeed.positions` (traded contracts, with the pushed liquidation price) and
:attr:`GateOrderFeed.balances` (settle currency → balance; ``available`` is the pushed
balance less the margin in use at the client's last REST balance answer, a
:class:`MarginInUse` note) — the client's ``pushed_positions`` / ``pushed_balances``.

Whose order: a ``text`` of ``t-…`` is the client order id. Any other text (Gate's own
marks: ``api``, ``web``, ``-``…) leaves only the venue's order id: an order push is this
client's when the tracker knows that id (from a :class:`~arbtrio.venues.tracking.Placed`
note or an earlier push), else foreign; a fill waits for the id
(:meth:`~arbtrio.venues.tracking.OrderTracker.fill_for_venue_order`) until the placement's
note, which carries the venue order id, or an order push maps it — else the order's REST
re-query recovers its trade.

The REST fallback is the shared :class:`~arbtrio.venues.tracking.OrderTracker`: the client
posts every order it placed (``Placed``, with the venue order id); after every
(re)subscription, every malformed private frame or undecodable order/fill item, and every
``reconcile_every_s``, each such order whose terminal state the stream has not delivered
is re-queried (``Fetch(Requery)``) and its fills (de-duplicated with the stream's) and
status delivered; an order sent before the current session was subscribed is re-queried
as soon as its note arrives (the stream may have missed its pushes).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
import msgspec
import structlog

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.core.types import Balance, VenuePosition
from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    Credentials,
    Disconnected,
    MalformedMessage,
    OutcomeUnknown,
    RateLimited,
    VenueError,
    VenueHealth,
)
from arbtrio.venues.gateio import codecs, convert, sign
from arbtrio.venues.gateio.books import BOOK_CHANNEL, GateBook, Step
from arbtrio.venues.gateio.codecs import VENUE, OrderBookSnapshot, WsAuth, WsEnvelope, WsRequest
from arbtrio.venues.stream import NOTHING, READY, Changed, Deliver, Fail, Fetch, Output, Send
from arbtrio.venues.tracking import OrderTracker, Placed

__all__ = [
    "AUTH_WS_CODES",
    "PRIVATE_CHANNELS",
    "GateBookFeed",
    "GateOrderFeed",
    "MarginInUse",
]

log = structlog.get_logger("arbtrio.venues.gateio")

ZERO = Decimal(0)
SETTLE = "USDT"  # the settle currency of the USDT-margined futures this stream serves
PRIVATE_CHANNELS = ("futures.orders", "futures.usertrades", "futures.positions", "futures.balances")
AUTH_WS_CODES = frozenset({4, 6, 11})  # WS error codes meaning authentication failed
_frame = codecs.book_frame_decoder
_envelope = codecs.envelope_decoder
_update = codecs.book_update_decoder
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)
_RETRIED = (RateLimited, Disconnected, OutcomeUnknown, BadRequest)  # snapshot fetch errors
_APPLIED = Step.APPLIED


@attrs.frozen
class MarginInUse:
    """A note from the client's REST balance answer: the margin ``currency`` had in use
    (``total - available``). Gate's ``futures.balances`` push carries the balance only, so
    a pushed balance's ``available`` is its balance less this (until the next answer)."""

    currency: str
    amount: Decimal


# -- requests, acks and control messages (both streams) -------------------------------------
def _request(
    channel: str,
    time_s: int,
    *,
    event: str = "",
    payload: Sequence[str] = (),
    credentials: Credentials | None = None,
    req_id: int | None = None,
) -> Send:
    """One client → server frame; signed (``auth``) when ``credentials`` are given."""
    auth = None
    if credentials is not None:
        signature = sign.ws_sign(credentials.api_secret, channel, event, time_s)
        auth = WsAuth(KEY=credentials.api_key, SIGN=signature)
    request = WsRequest(
        time=time_s, channel=channel, event=event, payload=list(payload), auth=auth, id=req_id
    )
    return Send(codecs.encode(request).decode())


def _ack_error(env: WsEnvelope) -> VenueError | None:
    """The unified error of a refused subscription (None when it succeeded)."""
    if env.error is None:
        return None
    err = env.error
    text = f"{env.channel} subscribe: code {err.code} {err.message}"
    if err.code in AUTH_WS_CODES:
        return AuthenticationFailed(VENUE, text, code=str(err.code))
    return BadRequest(VENUE, text, code=str(err.code))


def _control(env: WsEnvelope) -> Sequence[Output]:
    """Any other message: a pong is nothing; ``upgrade`` asks for a reconnect; an error is
    logged."""
    if env.event == "upgrade":
        return (Fail(Disconnected(VENUE, "server requested reconnect (upgrade)")),)
    if env.error is not None:
        log.warning("venue.ws_error", venue=VENUE, channel=env.channel, code=env.error.code)
    return NOTHING


def _clip(raw: bytes | str, limit: int = 300) -> str:
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "…"


class _Subscriptions:
    """The subscribe ids of one session and which were acknowledged."""

    __slots__ = ("acked", "ids", "ready")

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.acked: set[int] = set()
        self.ready = False

    def reset(self, n: int) -> None:
        self.ids = set(range(1, n + 1))
        self.acked.clear()
        self.ready = False

    def ack(self, req_id: int | None) -> bool:
        """Record an acknowledgement; True when it completes the set (once per session)."""
        if req_id not in self.ids or self.ready:
            return False
        self.acked.add(req_id)
        self.ready = self.acked == self.ids
        return self.ready


# -- public books ---------------------------------------------------------------------------
class GateBookFeed:
    """The books of ``instruments``' contracts (``books``: contract → the client's L2Book).

    Attributes read by tests and the client: :attr:`books`, :attr:`trackers`, and
    :attr:`pending` (contract → when its book was queued for a REST snapshot).
    """

    def __init__(
        self,
        books: dict[str, L2Book],
        instruments: Mapping[str, Instrument],
        health: VenueHealth,
        wall_clock: Callable[[], float],
        *,
        depth: int = 50,
        frequency: str = "100ms",
        ping_interval: float = 10.0,
        idle_timeout: float = 30.0,
        snapshot_retry_s: float = 0.25,
        first_delta_wait_s: float = 1.0,
        max_fetch_failures: int = 5,
    ) -> None:
        self.health = health
        self.wall_clock = wall_clock
        self.depth = depth
        self.frequency = frequency
        self.ping_interval = ping_interval
        self.idle_timeout = idle_timeout
        self.snapshot_retry_s = snapshot_retry_s
        self.first_delta_wait_s = first_delta_wait_s
        self.max_fetch_failures = max_fetch_failures
        self.timer_interval = max(0.01, min(ping_interval, snapshot_retry_s, first_delta_wait_s))
        self.books = books
        self.trackers: dict[str, GateBook] = {}
        self._changed: dict[str, tuple[Output, ...]] = {}  # the prebuilt outputs
        self._feeds: dict[str, tuple[GateBook, tuple[Output, ...]]] = {}  # one lookup a frame
        for symbol, inst in instruments.items():
            book = books.setdefault(symbol, L2Book(VENUE, symbol))
            tracker = GateBook(book, float(inst.contract_multiplier), depth)
            self.trackers[symbol] = tracker
            self._changed[symbol] = (Changed(book),)
            self._feeds[symbol] = (tracker, self._changed[symbol])
        self.pending: dict[str, float] = {}  # contract → queued for a snapshot since
        self._retry_at: dict[str, float] = {}  # contract → no fetch before
        self._fetching: set[str] = set()
        self._failures = 0  # consecutive failed snapshot requests
        self._paused_until = 0.0
        self._next_ping = 0.0
        self._subs = _Subscriptions()

    def buffered(self, symbol: str) -> bool:
        """Whether ``symbol`` has deltas buffered while it waits for a snapshot."""
        return self.trackers[symbol].buffered

    # -- inputs -----------------------------------------------------------------------------
    def connected(self, info: Any, now: float) -> Sequence[Output]:
        self.pending.clear()
        self._retry_at.clear()
        self._fetching.clear()
        self._failures = 0
        self._paused_until = 0.0
        self._next_ping = now + self.ping_interval
        self._subs.reset(len(self.trackers))
        out: list[Output] = []
        for symbol in self.trackers:
            out.extend(self._resync(symbol, "connecting", now))
        time_s = int(self.wall_clock())
        for i, symbol in enumerate(self.trackers, 1):
            payload = (symbol, self.frequency, str(self.depth))
            out.append(_request(BOOK_CHANNEL, time_s, event="subscribe", payload=payload, req_id=i))
        return out

    def frame(self, raw: str | bytes, now: float) -> Sequence[Output]:
        try:
            frame = _frame.decode(raw)
        except _DECODE_ERRORS:
            frame = None  # not a well-formed book update: look at the envelope
        try:
            if frame is None:
                env = _envelope.decode(raw)
                if env.channel != BOOK_CHANNEL or env.event != "update":
                    return self._message(env)
                upd = _update.decode(env.result)  # raises: the book frame is malformed
            elif frame.event != "update":
                return self._message(_envelope.decode(raw))
            else:
                upd = frame.result
            feed = self._feeds.get(upd.s)
            if feed is None:
                raise MalformedMessage(VENUE, f"{BOOK_CHANNEL}: unsubscribed contract {upd.s!r}")
            step = feed[0].update(upd, now)
            if step is _APPLIED:
                return feed[1]
            return self._stepped(feed[0], upd, step, now)
        except _DECODE_ERRORS as exc:
            return self._malformed(MalformedMessage(VENUE, f"{BOOK_CHANNEL}: {exc}"), raw, now)
        except MalformedMessage as exc:
            return self._malformed(exc, raw, now)

    def fetched(self, key: Hashable, result: Any, now: float) -> Sequence[Output]:
        symbol = key
        if not isinstance(symbol, str) or symbol not in self.trackers:
            return NOTHING
        self._fetching.discard(symbol)
        if isinstance(result, Exception):
            return self._fetch_failed(symbol, result, now)
        self._failures = 0
        if symbol not in self.pending:
            return NOTHING  # went live meanwhile (a ``full`` push)
        if not isinstance(result, OrderBookSnapshot):
            raise TypeError(f"gateio books: snapshot of {symbol} is a {type(result).__name__}")
        step = self.trackers[symbol].snapshot(result, now)
        if step is Step.APPLIED:
            del self.pending[symbol]
            self._retry_at.pop(symbol, None)
            return self._changed[symbol]
        if step is Step.CROSSED:
            del self.pending[symbol]
            log.warning("venue.crossed_book", venue=VENUE, symbol=symbol, after="snapshot")
            return self._resync(symbol, "crossed book after snapshot", now)
        log.info("venue.snapshot_stale", venue=VENUE, symbol=symbol, step=step.value)
        self._retry_at[symbol] = now + self.snapshot_retry_s
        return NOTHING

    def timer(self, now: float) -> Sequence[Output]:
        out: list[Output] = []
        if now >= self._next_ping:
            self._next_ping = now + self.ping_interval
            out.append(_request("futures.ping", int(self.wall_clock())))
        if self.pending:
            for symbol in self.pending:
                fetch = self._fetch_if_due(symbol, now)
                if fetch is not None:
                    out.append(fetch)
        return out

    def note(self, message: Any, now: float) -> Sequence[Output]:
        return NOTHING

    def disconnected(self, reason: str, now: float) -> Sequence[Output]:
        self._fetching.clear()
        out: list[Output] = []
        for symbol, tracker in self.trackers.items():
            tracker.book.invalidate("disconnected")
            out.extend(self._changed[symbol])
        return out

    # -- the slow paths ---------------------------------------------------------------------
    def _stepped(
        self, tracker: GateBook, upd: codecs.BookUpdate, step: Step, now: float
    ) -> Sequence[Output]:
        symbol = upd.s
        if step is Step.FULL:
            self.pending.pop(symbol, None)
            self._retry_at.pop(symbol, None)
            return self._changed[symbol]
        if step is Step.BUFFERED:
            fetch = self._fetch_if_due(symbol, now)
            return NOTHING if fetch is None else (fetch,)
        if step is Step.GAP:
            log.info("venue.gap", venue=VENUE, symbol=symbol, last=tracker.sync.last, U=upd.U)
            return self._resync(symbol, tracker.gap_reason(upd), now)
        if step is Step.CROSSED:
            if upd.full:
                self.pending.pop(symbol, None)
            log.warning("venue.crossed_book", venue=VENUE, symbol=symbol)
            return self._resync(symbol, "crossed book", now)
        return NOTHING  # stale: already in the book

    def _resync(self, symbol: str, reason: str, now: float) -> tuple[Output, ...]:
        """Invalidate ``symbol``'s book and queue it for a snapshot (fetched once a delta
        is buffered, or after ``first_delta_wait_s``)."""
        if self.trackers[symbol].reset(reason):
            self.health.resyncs += 1
        if symbol not in self.pending:
            self.pending[symbol] = now
        return self._changed[symbol]

    def _malformed(self, exc: MalformedMessage, raw: bytes | str, now: float) -> Sequence[Output]:
        """Count, log, and resync every book of the session."""
        self.health.malformed += 1
        log.warning("venue.malformed", venue=VENUE, error=exc.message, frame=_clip(raw))
        out: list[Output] = []
        for symbol in self.trackers:
            out.extend(self._resync(symbol, "malformed message", now))
        return out

    def _message(self, env: WsEnvelope) -> Sequence[Output]:
        if env.event == "subscribe" and env.channel == BOOK_CHANNEL:
            error = _ack_error(env)
            if error is not None:
                return (Fail(error),)
            return (READY,) if self._subs.ack(env.id) else NOTHING
        return _control(env)

    def _fetch_if_due(self, symbol: str, now: float) -> Fetch | None:
        """``Fetch(symbol)`` when its snapshot is due: a delta is buffered (or none came for
        ``first_delta_wait_s``), no request for it is out, and no retry delay holds it."""
        if symbol in self._fetching or now < self._paused_until:
            return None
        if now < self._retry_at.get(symbol, 0.0):
            return None
        waited = now - self.pending[symbol]
        if not self.trackers[symbol].buffered and waited < self.first_delta_wait_s:
            return None
        self._fetching.add(symbol)
        return Fetch(symbol)

    def _fetch_failed(self, symbol: str, exc: Exception, now: float) -> Sequence[Output]:
        if isinstance(exc, MalformedMessage):
            self.health.malformed += 1
            log.warning("venue.malformed", venue=VENUE, error=exc.message, what="order_book")
            self._retry_at[symbol] = now + self.snapshot_retry_s
            return NOTHING
        if not isinstance(exc, _RETRIED):
            return (Fail(exc),)  # e.g. AuthenticationFailed, or a bug: end the session
        self._failures += 1
        log.warning("venue.snapshot_failed", venue=VENUE, symbol=symbol, error=str(exc))
        if self._failures >= self.max_fetch_failures:
            return (Fail(exc),)
        wait = self.snapshot_retry_s * self._failures
        if isinstance(exc, RateLimited) and exc.retry_after:
            wait = exc.retry_after
        self._paused_until = now + wait
        return NOTHING


# -- the private stream -----------------------------------------------------------------------
class GateOrderFeed:
    """The account's private stream (see the module docstring).

    ``instruments`` is the client's contract map (read only: events of contracts it does not
    hold are skipped and counted). ``max_orders`` bounds the tracker's maps (orders, venue
    ids, fills waiting; the oldest forgotten)."""

    def __init__(
        self,
        credentials: Credentials,
        instruments: Mapping[str, Instrument],
        health: VenueHealth,
        wall_clock: Callable[[], float],
        *,
        ping_interval: float = 10.0,
        idle_timeout: float = 30.0,
        max_orders: int = 10_000,
        reconcile_every_s: float = 60.0,
    ) -> None:
        self.credentials = credentials
        self.instruments = instruments
        self.health = health
        self.wall_clock = wall_clock
        self.idle_timeout = idle_timeout
        self.timer_interval = ping_interval
        self.ping_interval = ping_interval
        self.positions: dict[str, VenuePosition] = {}  # latest push per traded contract
        self.balances: dict[str, Balance] = {}  # latest push per settle currency
        self.margin_in_use: dict[str, Decimal] = {}  # per currency, from MarginInUse notes
        self.tracker = OrderTracker(VENUE, reconcile_every_s=reconcile_every_s, limit=max_orders)
        self._subs = _Subscriptions()
        self._subscribed_at: float | None = None  # None: no subscribed session
        self._next_ping = 0.0

    # -- inputs -----------------------------------------------------------------------------
    def connected(self, info: Any, now: float) -> Sequence[Output]:
        """Subscribe every private channel; ``info`` is the account's uid."""
        uid = str(info)
        self._subs.reset(len(PRIVATE_CHANNELS))
        self.tracker.unsubscribed()
        self._next_ping = now + self.ping_interval
        time_s = int(self.wall_clock())
        out: list[Output] = []
        for i, channel in enumerate(PRIVATE_CHANNELS, 1):
            payload = (uid,) if channel == "futures.balances" else (uid, "!all")
            out.append(
                _request(
                    channel,
                    time_s,
                    event="subscribe",
                    payload=payload,
                    credentials=self.credentials,
                    req_id=i,
                )
            )
        return out

    def frame(self, raw: str | bytes, now: float) -> Sequence[Output]:
        try:
            env = codecs.decode(_envelope, raw, "private message")
            if env.event == "subscribe":
                error = _ack_error(env)
                if error is not None:
                    return (Fail(error),)
                if not self._subs.ack(env.id):
                    return NOTHING
                return [READY, *self.tracker.subscribed(now)]
            if env.event != "update":
                return _control(env)
            events = self.events(env, now)
        except MalformedMessage as exc:
            self.health.malformed += 1
            log.warning("venue.malformed", venue=VENUE, error=exc.message, frame=_clip(raw))
            return self.tracker.requery(now)
        return events or NOTHING

    def fetched(self, key: Hashable, result: Any, now: float) -> Sequence[Output]:
        """The answer of a re-query: new fills and the status, delivered."""
        out = self.tracker.fetched(key, result, now)
        return NOTHING if out is None else out

    def timer(self, now: float) -> Sequence[Output]:
        out: list[Output] = self.tracker.timer(now)
        if now >= self._next_ping:
            self._next_ping = now + self.ping_interval
            out.append(_request("futures.ping", int(self.wall_clock())))
        return out or NOTHING

    @property
    def balance(self) -> Balance | None:
        """The latest balance push of the settle currency (None before the first)."""
        return self.balances.get(SETTLE)

    def note(self, message: Any, now: float) -> Sequence[Output]:
        """A :class:`Placed` order: tracked until the stream delivers its terminal state. A
        :class:`MarginInUse`: what the next balance pushes subtract for ``available``."""
        if isinstance(message, MarginInUse):
            self.margin_in_use[message.currency] = message.amount
            return NOTHING
        if not isinstance(message, Placed):
            return NOTHING
        return self.tracker.placed(message, now) or NOTHING

    def disconnected(self, reason: str, now: float) -> Sequence[Output]:
        self.tracker.unsubscribed()
        self._subs.reset(len(PRIVATE_CHANNELS))
        return NOTHING

    # -- pushes -----------------------------------------------------------------------------
    def events(self, env: WsEnvelope, now: float) -> list[Output]:
        """The outputs of one private update: order events to deliver (positions and the
        balance are kept, not delivered). Items decode one by one: an undecodable or
        foreign one is skipped and counted (``health.skipped``); an undecodable order or
        fill also re-queries the unfinished orders (it may have been one of theirs).
        Raises :class:`MalformedMessage` when the result is not a list at all."""
        channel = env.channel
        if channel == "futures.orders":
            orders = codecs.decode_items(codecs.WsOrder, env.result, channel)
            return self._orders(orders, now)
        if channel == "futures.usertrades":
            trades = codecs.decode_items(codecs.WsUserTrade, env.result, channel)
            return self._trades(trades, now)
        if channel == "futures.positions":
            positions = codecs.decode_items(codecs.WsPosition, env.result, channel)
            self._positions(positions)
        elif channel == "futures.balances":
            balances = codecs.decode_items(codecs.WsBalance, env.result, channel)
            self._balances(balances)
        return []

    def _orders(self, orders: codecs.Items[codecs.WsOrder], now: float) -> list[Output]:
        out: list[Output] = self._undecodable(orders.errors, now)
        tracker = self.tracker
        foreign: list[str] = []
        for o in orders.items:
            inst = self.instruments.get(o.contract)
            if inst is None:
                foreign.append(f"order {o.id} of {o.contract} (not traded here)")
                continue
            venue_order_id = str(o.id)
            if convert.is_client_order_id(o.text):
                cid = o.text
                out += tracker.learn(venue_order_id, cid)  # fills that waited for this id
            else:
                known = tracker.client_order_id(venue_order_id)
                if known is None:
                    foreign.append(f"order {o.id} with text {o.text!r} (not placed here)")
                    continue
                cid = known
            update = convert.order_update(inst, o, now, cid)
            if update.status.is_terminal:
                tracker.finished(cid)
            out.append(Deliver(update))
        self._skip("futures.orders", foreign)
        return out

    def _trades(self, trades: codecs.Items[codecs.WsUserTrade], now: float) -> list[Output]:
        out: list[Output] = self._undecodable(trades.errors, now)
        tracker = self.tracker
        foreign: list[str] = []
        for t in trades.items:
            inst = self.instruments.get(t.contract)
            if inst is None:
                foreign.append(f"trade {codecs.id_str(t.id)} of {t.contract} (not traded here)")
                continue
            make = functools.partial(convert.fill_from_trade, inst, t, ts=now)
            if convert.is_client_order_id(t.text):
                delivered: Output | None = tracker.fill(make(t.text))
            else:  # only the venue's order id tells whose fill it is: the tracker holds it
                delivered = tracker.fill_for_venue_order(codecs.id_str(t.order_id), make, now)
            if delivered is not None:
                out.append(delivered)
        self._skip("futures.usertrades", foreign)
        return out

    def _positions(self, positions: codecs.Items[codecs.WsPosition]) -> None:
        self._skip("futures.positions", positions.errors)
        foreign: list[str] = []
        for p in positions.items:
            inst = self.instruments.get(p.contract)
            if inst is None:
                foreign.append(f"position in {p.contract} (not traded here)")
                continue
            self.positions[p.contract] = convert.position_of(inst, p)
        self._skip("futures.positions", foreign)

    def _balances(self, balances: codecs.Items[codecs.WsBalance]) -> None:
        self._skip("futures.balances", balances.errors)
        foreign: list[str] = []
        for b in balances.items:
            currency = b.currency.upper()
            if currency != SETTLE:
                foreign.append(f"balance in {currency} (this stream settles in {SETTLE})")
                continue
            in_use = self.margin_in_use.get(currency, ZERO)
            self.balances[currency] = Balance(
                venue=VENUE, currency=currency, total=b.balance,
                available=max(ZERO, b.balance - in_use),
            )  # fmt: skip
        self._skip("futures.balances", foreign)

    def _undecodable(self, errors: list[str], now: float) -> list[Output]:
        """Order or fill items that did not decode: skipped and counted, and every
        unfinished order re-queried (the lost item may have been one of theirs)."""
        if not errors:
            return []
        self._skip("private push", errors)
        return self.tracker.requery(now)

    def _skip(self, what: str, reasons: list[str]) -> None:
        if reasons:
            self.health.skipped += len(reasons)
            log.warning("venue.items_skipped", venue=VENUE, what=what, count=len(reasons),
                        first=reasons[0])  # fmt: skip
