"""In-process simulated venue client: :class:`arbtrio.venues.base.VenueClient` over a SimMarket.

No sockets, but the same behaviour the runtime must survive on a real venue:

* **Books.** Each market tick the simulated venue publishes one *frame*: a delta per changed
  symbol with a per-symbol sequence number and a CRC32 checksum of the top levels, delivered
  after a market-data latency draw. The client applies it to its :class:`L2Book` only after
  checking the sequence (``seq == book.seq + 1``) and the checksum; a gap or a bad checksum
  invalidates the book, counts a resync and re-snapshots it (after a REST latency).
  Feed faults per frame: ``feed_disconnect`` (every book invalidated, the session ends with
  :class:`Disconnected` and :func:`run_reconnecting` reconnects with backoff),
  ``sequence_gap`` (one message of the frame is lost on the wire), ``bad_checksum`` (one
  message is corrupted), ``stale_feed`` (no messages for ``stale_feed_s`` while the
  connection stays up: the books stay "tradable" but age — only a quote-age check catches it).
* **Orders.** ``place_order`` draws the order faults up front (rate limit, reject, ack lost
  before the venue, ack lost after the venue executed), sleeps half an ack latency, executes
  against the market, publishes the order's events, and sleeps the other half (or until
  ``ack_timeout_s`` when the ack is lost). Rejected orders raise :class:`OrderRejected` and
  publish no events. Queries, cancels and fetches only cost a latency (no faults).
* **Order stream.** Events (OrderAck, each Fill, the final OrderUpdate) are delivered in
  order after a market-data latency; each Fill is delivered twice when ``duplicate_fill``
  fires (receivers de-duplicate by ``trade_id``).

All time is ``trio.current_time()``, so Trio's MockClock drives it in tests.
"""

from __future__ import annotations

import contextlib
import math
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence

import attrs
import trio

from arbtrio.core.book import L2Book, Level
from arbtrio.core.instruments import Instrument
from arbtrio.core.types import (
    Balance,
    Fill,
    FundingRate,
    OrderAck,
    OrderEvent,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Side,
    VenuePosition,
)
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.execution import DUPLICATE_CLIENT_ORDER_ID, Execution
from arbtrio.sim.market import SimMarket, UnknownInstrument
from arbtrio.venues.base import (
    BadRequest,
    BookCallback,
    Disconnected,
    MarginMode,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueClient,
    VenueHealth,
)
from arbtrio.venues.reconnect import Backoff, run_reconnecting, session_ok

CHECKSUM_DEPTH = 10
SIM_REJECT_REASON = "simulated reject: insufficient margin"
RATE_LIMIT_RETRY_AFTER_S = 1.0


def book_checksum(bids: Sequence[Level], asks: Sequence[Level], depth: int = CHECKSUM_DEPTH) -> int:
    """CRC32 of the top ``depth`` levels (best first), as the simulated venue signs a frame."""
    parts = [f"{p!r}:{s!r}" for p, s in bids[:depth]]
    parts.append("|")
    parts.extend(f"{p!r}:{s!r}" for p, s in asks[:depth])
    return zlib.crc32(",".join(parts).encode())


@attrs.frozen(kw_only=True)
class BookMessage:
    """One simulated wire message for one symbol (a snapshot or a delta)."""

    symbol: str
    seq: int
    snapshot: bool
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    checksum: int


class _Publisher:
    """The simulated venue's side of one feed session: what it last published per symbol."""

    def __init__(self, market: SimMarket, venue: str, depth: int) -> None:
        self.market = market
        self.venue = venue
        self.depth = depth
        self.seq: dict[str, int] = {}
        self.version: dict[str, int] = {}
        self.bids: dict[str, dict[float, float]] = {}
        self.asks: dict[str, dict[float, float]] = {}

    def snapshot(self, symbol: str) -> BookMessage:
        self.version[symbol] = self.market.book_version(self.venue, symbol)
        bids, asks = self.market.book_levels_float(self.venue, symbol, self.depth)
        self.bids[symbol] = dict(bids)
        self.asks[symbol] = dict(asks)
        seq = self.seq.setdefault(symbol, 0)
        return BookMessage(
            symbol=symbol, seq=seq, snapshot=True, bids=tuple(bids), asks=tuple(asks),
            checksum=book_checksum(bids, asks),
        )  # fmt: skip

    def delta(self, symbol: str) -> BookMessage | None:
        """The changes since the last published state, or None when nothing changed."""
        version = self.market.book_version(self.venue, symbol)
        if version == self.version.get(symbol):
            return None
        self.version[symbol] = version
        bids, asks = self.market.book_levels_float(self.venue, symbol, self.depth)
        d_bids = _diff(self.bids[symbol], bids)
        d_asks = _diff(self.asks[symbol], asks)
        if not d_bids and not d_asks:
            return None
        self.seq[symbol] += 1
        return BookMessage(
            symbol=symbol, seq=self.seq[symbol], snapshot=False, bids=d_bids, asks=d_asks,
            checksum=book_checksum(bids, asks),
        )  # fmt: skip


def _diff(published: dict[float, float], levels: list[Level]) -> tuple[Level, ...]:
    """Levels to send so that ``published`` becomes ``levels`` (size 0 removes); updates
    ``published`` in place."""
    new = dict(levels)
    changes = [(p, 0.0) for p in published if p not in new]
    changes.extend((p, s) for p, s in levels if published.get(p) != s)
    published.clear()
    published.update(new)
    return tuple(changes)


class SimVenueClient:
    """One simulated venue behind the unified venue interface (see the module docstring)."""

    def __init__(
        self,
        market: SimMarket,
        driver: MarketDriver,
        venue: str,
        *,
        depth: int | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        if venue not in market.venues:
            raise ValueError(f"venue {venue!r} is not simulated (have {market.venues})")
        self.name = venue
        self.market = market
        self.driver = driver
        self.health = VenueHealth(venue=venue)
        self.pushed_balances: dict[str, Balance] = {}
        self.pushed_positions: dict[str, VenuePosition] = {}
        self.configured: dict[str, tuple[int, str]] = {}  # symbol -> (leverage, margin mode)
        self.books: dict[str, L2Book] = {}
        self.depth = depth or market.config.ladder.levels
        self.backoff = backoff or Backoff(base=0.5, factor=2.0, cap=5.0)
        self.stale_until = -math.inf
        self.gaps_detected = 0
        self.bad_checksums = 0
        self._events: deque[OrderEvent] = deque()
        self._events_ready = trio.Event()
        self._stream_running = False
        self._closed = False
        self._scopes: set[trio.CancelScope] = set()
        self._publisher: _Publisher | None = None

    # -- reference data ----------------------------------------------------------------------
    async def load_instruments(self) -> list[Instrument]:
        await self._rest()
        return self.market.instruments(self.name)

    # -- market data -------------------------------------------------------------------------
    def venue_seq(self, symbol: str) -> int | None:
        """The sequence number of the last message the simulated venue published for
        ``symbol`` in the current session (a book behind it has lost a message on the wire
        and will detect the gap on the next one). For tests and diagnostics."""
        return None if self._publisher is None else self._publisher.seq.get(symbol)

    async def run_books(
        self,
        symbols: Sequence[str],
        on_update: BookCallback,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Maintain the books of ``symbols`` until cancelled (reconnecting on disconnects)."""
        self._check_open()
        for symbol in symbols:
            try:
                self.market.instrument(self.name, symbol)
            except UnknownInstrument as exc:
                raise BadRequest(self.name, f"unknown symbol {symbol!r}") from exc
            self.books.setdefault(symbol, L2Book(self.name, symbol))
        started = False

        def subscribed() -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        async def session() -> None:
            await self._feed_session(list(symbols), on_update, subscribed)

        with self._scope():
            await run_reconnecting(
                session,
                self.health,
                what="books",
                backoff=self.backoff,
                rng=self.market.stream(f"reconnect:{self.name}:books"),
            )

    async def _feed_session(
        self, symbols: list[str], on_update: BookCallback, subscribed: Callable[[], None]
    ) -> None:
        market, venue = self.market, self.name
        await trio.sleep(market.latency(venue, "md"))  # connect + subscribe
        self._check_open()
        publisher = self._publisher = _Publisher(market, venue, self.depth)
        for symbol in symbols:
            self._apply_snapshot(publisher.snapshot(symbol), on_update)
        session_ok(self.health)
        self.stale_until = -math.inf
        subscribed()
        pick = market.stream(f"feedpick:{venue}")
        while True:
            await self.driver.wait_tick()
            self._check_open()
            now = trio.current_time()
            disconnect = market.fault(venue, "feed_disconnect")
            stale = market.fault(venue, "stale_feed")
            gap = market.fault(venue, "sequence_gap")
            corrupt = market.fault(venue, "bad_checksum")
            u_gap, u_corrupt = pick.random(), pick.random()
            if disconnect:
                for book in self.books.values():
                    book.invalidate("disconnected")
                    on_update(book)
                raise Disconnected(venue, "simulated feed disconnect")
            if now < self.stale_until:
                continue
            if stale:
                self.stale_until = now + market.config.stale_feed_s
                continue
            frame = [m for m in (publisher.delta(s) for s in symbols) if m is not None]
            if not frame:
                continue
            if gap:  # one message is lost on the wire: the venue's seq moved on without it
                del frame[int(u_gap * len(frame))]
            if corrupt and frame:
                i = int(u_corrupt * len(frame))
                frame[i] = attrs.evolve(frame[i], checksum=frame[i].checksum ^ 0x5A5A5A5A)
            await trio.sleep(market.latency(venue, "md"))
            self._check_open()
            for message in frame:
                await self._apply_delta(message, publisher, on_update)

    def _apply_snapshot(self, message: BookMessage, on_update: BookCallback) -> None:
        now = trio.current_time()
        book = self.books[message.symbol]
        book.apply_snapshot(message.bids, message.asks, now, message.seq)
        self.health.message_received(now)
        on_update(book)

    async def _apply_delta(
        self, message: BookMessage, publisher: _Publisher, on_update: BookCallback
    ) -> None:
        book = self.books[message.symbol]
        now = trio.current_time()
        self.health.message_received(now)
        if not book.tradable:
            return  # resyncing: deltas are dropped until the snapshot
        if message.seq != book.seq + 1:
            self.gaps_detected += 1
            await self._resync(
                book, f"sequence gap: {book.seq} -> {message.seq}", publisher, on_update
            )
            return
        book.apply_delta(message.bids, message.asks, now, message.seq)
        top = (book.levels(Side.BUY, CHECKSUM_DEPTH), book.levels(Side.SELL, CHECKSUM_DEPTH))
        if book_checksum(*top) != message.checksum:
            self.bad_checksums += 1
            await self._resync(book, "bad checksum", publisher, on_update)
            return
        on_update(book)

    async def _resync(
        self, book: L2Book, reason: str, publisher: _Publisher, on_update: BookCallback
    ) -> None:
        book.invalidate(reason)
        self.health.resyncs += 1
        on_update(book)
        await trio.sleep(self.market.latency(self.name, "ack"))  # REST snapshot
        self._check_open()
        self._apply_snapshot(publisher.snapshot(book.symbol), on_update)

    # -- orders --------------------------------------------------------------------------------
    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Place a limit-IOC order (see the module docstring for latency and faults)."""
        self._check_open()
        market, venue = self.market, self.name
        if request.venue != venue:
            raise BadRequest(venue, f"request is for venue {request.venue!r}")
        if request.time_in_force != "IOC":
            raise BadRequest(venue, f"time_in_force {request.time_in_force!r}: only IOC")
        try:
            market.instrument(venue, request.symbol)
        except UnknownInstrument as exc:
            raise BadRequest(venue, f"unknown symbol {request.symbol!r}") from exc
        # Draw every order fault up front, in a fixed order, so the streams stay aligned.
        rate_limited = market.fault(venue, "rate_limit")
        rejected = market.fault(venue, "reject")
        lost_before = market.fault(venue, "ack_timeout_not_executed")
        lost_after = market.fault(venue, "ack_timeout_executed")
        latency = market.latency(venue, "ack")
        timeout = max(market.config.ack_timeout_s, latency)
        await trio.sleep(latency / 2)
        if rate_limited:
            await trio.sleep(latency / 2)
            raise RateLimited(
                venue, "simulated rate limit", code="429", retry_after=RATE_LIMIT_RETRY_AFTER_S
            )
        if lost_before:
            await trio.sleep(timeout - latency / 2)
            raise OutcomeUnknown(venue, "ack timeout (simulated: request lost before the venue)")
        now = trio.current_time()
        if rejected:
            execution = market.reject(
                venue, request.symbol, side=request.side, qty=request.qty, price=request.price,
                reduce_only=request.reduce_only, client_order_id=request.client_order_id,
                reason=SIM_REJECT_REASON, now=now,
            )  # fmt: skip
        else:
            execution = market.execute(
                venue, request.symbol, side=request.side, qty=request.qty, price=request.price,
                reduce_only=request.reduce_only, client_order_id=request.client_order_id, now=now,
            )  # fmt: skip
        self._publish(execution, now)
        if lost_after:
            await trio.sleep(timeout - latency / 2)
            raise OutcomeUnknown(venue, "ack timeout (simulated: the venue executed the order)")
        await trio.sleep(latency / 2)
        if execution.status is OrderStatus.REJECTED:
            code = "duplicate" if execution.reason == DUPLICATE_CLIENT_ORDER_ID else None
            raise OrderRejected(venue, execution.reason, code=code)
        return OrderAck(
            venue=venue,
            client_order_id=request.client_order_id,
            venue_order_id=execution.venue_order_id,
            ts=now,
        )

    async def cancel_order(self, symbol: str, client_order_id: str) -> None:
        """IOC orders are terminal once executed, so a cancel of a known order is a no-op.

        Raises OrderNotFound when the venue never saw the order (or saw it on another symbol).
        """
        await self._rest()
        if self.market.account(self.name).order_symbol(client_order_id) != symbol:
            raise OrderNotFound(self.name, f"no order {client_order_id!r} on {symbol}")

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        await self._rest()
        report = self.market.order(self.name, client_order_id)
        if report is None or self.market.account(self.name).order_symbol(client_order_id) != symbol:
            raise OrderNotFound(self.name, f"no order {client_order_id!r} on {symbol}")
        return report

    async def run_order_stream(
        self,
        send: trio.MemorySendChannel[OrderEvent],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Deliver every order event into ``send`` (fills possibly twice) until cancelled.

        Events published while no stream runs are kept and delivered when one starts.
        """
        self._check_open()
        if self._stream_running:
            raise RuntimeError(f"{self.name}: an order stream is already running")
        self._stream_running = True
        try:
            with self._scope():
                task_status.started()
                await self._deliver_events(send)
        finally:
            self._stream_running = False

    async def _deliver_events(self, send: trio.MemorySendChannel[OrderEvent]) -> None:
        while True:
            while not self._events:
                self._events_ready = trio.Event()
                await self._events_ready.wait()
                self._check_open()
            await trio.sleep(self.market.latency(self.name, "md"))
            while self._events:
                event = self._events[0]
                await send.send(event)  # lossless: removed only once sent
                self._events.popleft()
                if isinstance(event, Fill) and self.market.fault(self.name, "duplicate_fill"):
                    await send.send(event)

    def _publish(self, execution: Execution, now: float) -> None:
        if execution.status is OrderStatus.REJECTED:
            return
        venue, cid = self.name, execution.client_order_id
        self._events.append(
            OrderAck(
                venue=venue, client_order_id=cid, venue_order_id=execution.venue_order_id, ts=now
            )
        )
        self._events.extend(execution.fills)
        self._events.append(
            OrderUpdate(
                venue=venue,
                client_order_id=cid,
                status=execution.status,
                filled_qty=execution.filled_qty,
                avg_price=execution.avg_price,
                ts=now,
                reason=execution.reason,
            )
        )
        self._events_ready.set()

    # -- account -----------------------------------------------------------------------------
    async def configure_instrument(
        self, symbol: str, *, leverage: int, margin_mode: MarginMode
    ) -> None:
        await self._rest()
        if leverage < 1:
            raise BadRequest(self.name, f"leverage must be >= 1, got {leverage}")
        self.configured[symbol] = (leverage, margin_mode)

    async def fetch_balances(self) -> list[Balance]:
        await self._rest()
        return self.market.balances(self.name)

    async def fetch_positions(self) -> list[VenuePosition]:
        await self._rest()
        return self.market.positions(self.name)

    async def fetch_funding(self, symbols: Sequence[str]) -> list[FundingRate]:
        await self._rest()
        try:
            return [self.market.funding_rate(self.name, s) for s in symbols]
        except UnknownInstrument as exc:
            raise BadRequest(self.name, str(exc)) from exc

    async def aclose(self) -> None:
        """Close the client: later calls raise Disconnected; running streams return.
        Idempotent."""
        self._closed = True
        self.health.connected = False
        for scope in self._scopes:
            scope.cancel()

    @contextlib.contextmanager
    def _scope(self) -> Iterator[trio.CancelScope]:
        """A cancel scope that :meth:`aclose` cancels (so long-running calls return)."""
        with trio.CancelScope() as scope:
            self._scopes.add(scope)
            try:
                yield scope
            finally:
                self._scopes.discard(scope)

    # -- helpers -------------------------------------------------------------------------------
    async def _rest(self) -> None:
        self._check_open()
        await trio.sleep(self.market.latency(self.name, "ack"))
        self._check_open()

    def _check_open(self) -> None:
        if self._closed:
            raise Disconnected(self.name, "client is closed")


def _conforms(client: SimVenueClient) -> VenueClient:
    """Static check (mypy): SimVenueClient implements the unified venue interface."""
    return client
