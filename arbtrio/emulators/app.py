"""What every venue emulator is built from (server side, loopback only).

Emulators are independent of the venue clients: nothing here or in any emulator module
imports ``arbtrio.venues``. They speak each venue's protocol with their own parsing,
signing checks and checksums, so a bug in a client's codec cannot be mirrored here.

Every emulator is one ASGI application (REST + WebSocket on one port) served by hypercorn
under Trio:

* :func:`serve_asgi` binds an app to 127.0.0.1 and reports ``"http://127.0.0.1:PORT"``;
  :class:`EmulatorApp` is the base of the five emulators: ASGI dispatch (``http`` /
  ``websocket`` / ``lifespan``), :meth:`EmulatorApp.serve` reporting the venue's
  :class:`Endpoints`, and an optional background task.
* :class:`TwoSocketEmulator` — an EmulatorApp with a public and a private stream path
  (Bybit, Bitget): routing, the public connection's publisher/reader/injector tasks, test
  frame injection and the private push fan-out.
* :class:`HttpRequest` / :func:`read_http_request` / :func:`send_http_response` and
  :class:`AsgiWebSocket` — small ASGI plumbing; :func:`drain` — a writer task.
* :class:`EmuConnection` + :func:`run_connection` — one accepted WebSocket with a bounded
  outbox drained by one writer task, so the market publisher never blocks on a slow client
  (a full outbox closes the connection, as real venues drop slow consumers).
* :class:`FaultSwitch` — draws ``market.fault(venue, kind)`` and lets a test force the next
  ``n`` occurrences of a kind deterministically.
* :func:`diff_ladder` and :class:`PublishedLadder` — the book as last published to the wire
  and the changed levels (absolute sizes, removals first) a delta message carries.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar, Generic, TypeVar

import attrs
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from arbtrio.core.instruments import Instrument
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.market import SimMarket

__all__ = [
    "ApiKeys",
    "AsgiWebSocket",
    "EmuConnection",
    "EmulatorApp",
    "Endpoints",
    "FaultSwitch",
    "HttpRequest",
    "OrderRecord",
    "PublishedLadder",
    "TwoSocketEmulator",
    "diff_ladder",
    "drain",
    "read_http_request",
    "run_connection",
    "send_http_response",
    "serve_asgi",
    "ws_url",
]

P = TypeVar("P", bound=Hashable)
S = TypeVar("S")
Ladder = list[tuple[Decimal, Decimal]]
_ZERO = Decimal(0)


def _hidden(_: object) -> str:
    return "'***'"


@attrs.frozen(kw_only=True)
class ApiKeys:
    """The emulated account's API keys, as the emulator checks them (``repr`` hides secrets).

    The CEXs use ``api_key``/``api_secret`` (+ ``passphrase`` on Bitget and KuCoin);
    Hyperliquid uses ``private_key`` (the API wallet, hex) and ``account_address`` (the
    master account whose state the emulator serves).
    """

    api_key: str = attrs.field(default="", repr=_hidden)
    api_secret: str = attrs.field(default="", repr=_hidden)
    passphrase: str = attrs.field(default="", repr=_hidden)
    private_key: str = attrs.field(default="", repr=_hidden)
    account_address: str = ""


@attrs.frozen(kw_only=True)
class Endpoints:
    """Where a running emulator listens (loopback), as :meth:`EmulatorApp.serve` reports it."""

    venue: str
    rest_url: str  # e.g. "http://127.0.0.1:43121"
    ws_url: str  # public stream, e.g. "ws://127.0.0.1:43121/ws" (venue-shaped path)
    private_ws_url: str = ""  # private stream where the venue separates it
    credentials: ApiKeys = ApiKeys()


async def serve_asgi(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until cancelled; ``task_status.started("http://host:port")``."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"emulators serve on loopback only, not {host!r}")
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 0.5
    config.websocket_ping_interval = None
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(serve, app, config)
        task_status.started(binds[0])


@attrs.frozen(kw_only=True)
class OrderRecord:
    """One order placement the emulator received and authenticated, and what became of it.

    The emulator's own record of the venue side, independent of any client: a crash test
    compares it with the service's journal (every venue order journaled, no client order
    id sent twice). ``outcome`` is ``"executed"`` (``filled`` may be 0 for an IOC that
    found nothing, or partial), ``"rejected"`` (``reason`` is the venue's error code and
    message) or ``"unknown"`` (the emulator withheld the answer: an ack-timeout fault).
    """

    venue: str
    client_order_id: str
    symbol: str
    side: str  # "buy" | "sell"
    qty: str  # base units, as a decimal string
    price: str
    reduce_only: bool
    outcome: str
    filled: str = "0"
    reason: str = ""
    ts: float = 0.0  # the emulator's trio clock at receipt

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


CONTROL_PATH = "/__emulator__/orders"  # the emulator's own records, not a venue path


class EmulatorApp:
    """Base of a venue emulator: the ASGI entry point and :meth:`serve`.

    Subclasses set ``venue``, call ``super().__init__(market, driver, credentials)`` (which
    also builds ``instruments``, the venue's simulated instruments by symbol) and implement
    :meth:`http`, :meth:`websocket` and :meth:`endpoints`; :meth:`background` (default:
    none) runs beside the server, e.g. a market publisher. ``base_url`` is the bound
    ``http://host:port``.

    Every order placement a subclass authenticates goes to :meth:`record_order`;
    ``GET /__emulator__/orders`` (not a venue path) answers ``{"venue", "orders": [...],
    "positions": {symbol: qty}}``: every :class:`OrderRecord` in arrival order and the
    emulated account's position per symbol (base units, decimal strings), for tests and the
    crash harness.
    """

    venue: str
    base_url: str = ""

    def __init__(self, market: SimMarket, driver: MarketDriver, credentials: ApiKeys) -> None:
        self.market = market
        self.driver = driver
        self.credentials = credentials
        self.instruments: dict[str, Instrument] = {
            i.symbol: i for i in market.instruments(self.venue)
        }
        self.order_log: list[OrderRecord] = []

    def record_order(self, **fields: Any) -> OrderRecord:
        """Append one :class:`OrderRecord` (``venue`` and ``ts`` filled in)."""
        record = OrderRecord(venue=self.venue, ts=trio.current_time(), **fields)
        self.order_log.append(record)
        return record

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http" and scope["path"] == CONTROL_PATH:
            positions = {
                symbol: str(self.market.position(self.venue, symbol)) for symbol in self.instruments
            }
            body = json.dumps(
                {
                    "venue": self.venue,
                    "orders": [r.to_json() for r in self.order_log],
                    "positions": positions,
                }
            ).encode()
            await send_http_response(send, 200, body)
        elif kind == "http":
            await self.http(scope, receive, send)
        elif kind == "websocket":
            await self.websocket(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def http(self, scope: Any, receive: Any, send: Any) -> None:
        raise NotImplementedError

    async def websocket(self, scope: Any, receive: Any, send: Any) -> None:
        raise NotImplementedError

    def endpoints(self, base_url: str) -> Endpoints:
        """Where the venue's REST and streams are, given the bound ``http://host:port``."""
        raise NotImplementedError

    async def background(self) -> None:
        """A task run beside the server until it stops (default: nothing)."""

    async def serve(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        task_status: trio.TaskStatus[Endpoints] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until cancelled; ``task_status.started(self.endpoints(base_url))``."""
        async with trio.open_nursery() as nursery:
            self.base_url = await nursery.start(partial(serve_asgi, self, host=host, port=port))
            nursery.start_soon(self.background)
            task_status.started(self.endpoints(self.base_url))


class TwoSocketEmulator(EmulatorApp, Generic[S]):
    """An emulator whose public stream is at ``public_path`` and private one at
    ``private_path`` on the same port.

    A public connection runs the venue's :meth:`_publisher` (market pushes), its
    :meth:`_public_reader` (client ops) and an injector (:meth:`inject_public`, for tests)
    sharing one lock, around per-connection state from :meth:`_public_state`; it ends when
    the reader returns. The venue's :meth:`_private_ws` registers authenticated connections
    in ``_private`` (outbox, subscribed names) and :meth:`_broadcast` fans pushes out.
    ``_ids`` numbers connections (a venue may draw other ids from it too).
    """

    public_path: ClassVar[str]
    private_path: ClassVar[str]

    def __init__(self, market: SimMarket, driver: MarketDriver, credentials: ApiKeys) -> None:
        super().__init__(market, driver, credentials)
        self._ids = itertools.count(1)
        self._private: dict[int, tuple[trio.MemorySendChannel[str], set[str]]] = {}
        self._public_inject: dict[int, trio.MemorySendChannel[str]] = {}

    def endpoints(self, base_url: str) -> Endpoints:
        return Endpoints(
            venue=self.venue,
            rest_url=base_url,
            ws_url=ws_url(base_url, self.public_path),
            private_ws_url=ws_url(base_url, self.private_path),
            credentials=self.credentials,
        )

    async def websocket(self, scope: Any, receive: Any, send: Any) -> None:
        ws = AsgiWebSocket(receive, send)
        if scope["path"] == self.public_path:
            await self._public(ws)
        elif scope["path"] == self.private_path:
            await self._private_ws(ws)
        else:
            await ws.close(4004)

    def inject_public(self, text: str) -> None:
        """Send ``text`` verbatim on every public connection (tests: malformed frames)."""
        for channel in self._public_inject.values():
            channel.send_nowait(text)

    # -- the venue's side --------------------------------------------------------------------
    def _public_state(self) -> S:
        """A new public connection's subscriptions."""
        raise NotImplementedError

    async def _publisher(
        self, ws: AsgiWebSocket, state: S, lock: trio.Lock, cancel_scope: trio.CancelScope
    ) -> None:
        raise NotImplementedError

    async def _public_reader(
        self, ws: AsgiWebSocket, conn_id: int, state: S, lock: trio.Lock
    ) -> None:
        """Handle the client's ops until it leaves (returns when the socket closes)."""
        raise NotImplementedError

    async def _private_ws(self, ws: AsgiWebSocket) -> None:
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------
    async def _public(self, ws: AsgiWebSocket) -> None:
        if not await ws.accept():
            return
        conn_id = next(self._ids)
        state = self._public_state()
        lock = trio.Lock()
        inject_send, inject_recv = trio.open_memory_channel[str](100)
        self._public_inject[conn_id] = inject_send
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._publisher, ws, state, lock, nursery.cancel_scope)
                nursery.start_soon(_injector, ws, inject_recv, lock)
                await self._public_reader(ws, conn_id, state, lock)
                nursery.cancel_scope.cancel()
        except trio.ClosedResourceError:
            pass
        finally:
            del self._public_inject[conn_id]

    def _broadcast(self, text: str, wants: Callable[[set[str]], bool]) -> None:
        """Queue ``text`` on every private connection whose subscriptions it ``wants``; a
        client too slow to take it is dropped from the fan-out."""
        for conn_id, (outbox, subscribed) in list(self._private.items()):
            if wants(subscribed):
                try:
                    outbox.send_nowait(text)
                except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                    self._private.pop(conn_id, None)


async def _injector(
    ws: AsgiWebSocket, recv: trio.MemoryReceiveChannel[str], lock: trio.Lock
) -> None:
    async for text in recv:
        async with lock:
            await ws.send_text(text)


def ws_url(base_url: str, path: str = "") -> str:
    """``http://host:port`` → ``ws://host:port`` + ``path``."""
    return "ws" + base_url[len("http") :] + path


# -- small ASGI plumbing -------------------------------------------------------------------
class HttpRequest:
    """One HTTP request as an emulator sees it: raw query string and body, lower-case headers."""

    __slots__ = ("body", "headers", "method", "path", "query")

    def __init__(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body


async def read_http_request(scope: Any, receive: Any) -> HttpRequest:
    """Read the whole request (headers decoded latin-1, body concatenated)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    return HttpRequest(
        scope["method"], scope["path"], scope["query_string"].decode("latin-1"), headers,
        b"".join(chunks),
    )  # fmt: skip


async def send_http_response(
    send: Any,
    status: int,
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    content_type: str = "application/json",
) -> None:
    """Send a complete response (JSON unless ``content_type`` says otherwise)."""
    raw = [(b"content-type", content_type.encode("latin-1"))]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class AsgiWebSocket:
    """A text WebSocket over ASGI ``receive``/``send``: ``receive_text`` is None once closed."""

    def __init__(self, receive: Any, send: Any) -> None:
        self._receive = receive
        self._send = send
        self.closed = False

    async def accept(self) -> bool:
        """Complete the handshake; False if the client went away first."""
        message = await self._receive()
        if message["type"] != "websocket.connect":
            self.closed = True
            return False
        await self._send({"type": "websocket.accept"})
        return True

    async def receive_text(self) -> str | None:
        while not self.closed:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                self.closed = True
                return None
            if message["type"] == "websocket.receive":
                text = message.get("text")
                if text is None:
                    text = (message.get("bytes") or b"").decode("utf-8", "replace")
                return str(text)
        return None

    async def send_text(self, text: str) -> None:
        """Send one text frame; raises trio.ClosedResourceError once the socket is closed."""
        if self.closed:
            raise trio.ClosedResourceError("websocket closed")
        try:
            await self._send({"type": "websocket.send", "text": text})
        except Exception as exc:  # hypercorn raises its own error types after a disconnect
            self.closed = True
            raise trio.ClosedResourceError(f"websocket closed: {exc!r}") from None

    async def close(self, code: int = 1000) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                await self._send({"type": "websocket.close", "code": code})


async def drain(ws: AsgiWebSocket, outbox: trio.MemoryReceiveChannel[str]) -> None:
    """Send every queued frame, in order, until the outbox closes."""
    async for text in outbox:
        await ws.send_text(text)


# -- connections with an outbox ------------------------------------------------------------
class EmuConnection:
    """Server side of one WebSocket: ``offer`` queues a frame, ``kill`` drops the client."""

    def __init__(self, ws: AsgiWebSocket, outbox_size: int = 2000) -> None:
        self.ws = ws
        self._send, self._recv = trio.open_memory_channel[str](outbox_size)
        self._scope: trio.CancelScope | None = None
        self.closed = False
        self.state: dict[str, Any] = {}  # per-venue session data (subscriptions, token, ...)
        self.drop_next_book = False  # sequence_gap fault: swallow the next book frame
        self.mute_until = 0.0  # stale_feed fault: send no book frames until then

    def offer(self, text: str) -> None:
        """Queue ``text`` without blocking; a full outbox kills the connection."""
        if self.closed:
            return
        try:
            self._send.send_nowait(text)
        except trio.WouldBlock:
            self.kill()

    def kill(self) -> None:
        """Close the connection abruptly (from any task)."""
        self.closed = True
        if self._scope is not None:
            self._scope.cancel()

    async def _writer(self) -> None:
        async for text in self._recv:
            await self.ws.send_text(text)


async def run_connection(
    conn: EmuConnection, reader: Callable[[EmuConnection], Awaitable[None]]
) -> None:
    """Run ``reader(conn)`` (handles client frames until the client leaves) alongside the
    writer; close the socket when either ends or :meth:`EmuConnection.kill` is called."""
    try:
        async with trio.open_nursery() as nursery:
            conn._scope = nursery.cancel_scope
            if conn.closed:
                nursery.cancel_scope.cancel()
            nursery.start_soon(conn._writer)
            await reader(conn)
            nursery.cancel_scope.cancel()
    finally:
        conn.closed = True
        with trio.move_on_after(1.0, shield=True), contextlib.suppress(Exception):
            await conn.ws.close(1000)


class FaultSwitch:
    """Fault draws for one venue: the market's deterministic draw, or a forced one."""

    def __init__(self, market: SimMarket, venue: str) -> None:
        self.market = market
        self.venue = venue
        self.forced: Counter[str] = Counter()
        self.fired: Counter[str] = Counter()

    def force(self, kind: str, times: int = 1) -> None:
        """Make the next ``times`` draws of ``kind`` fire (tests)."""
        self.forced[kind] += times

    def __call__(self, kind: str) -> bool:
        drawn = self.market.fault(self.venue, kind)
        if self.forced[kind] > 0:
            self.forced[kind] -= 1
            drawn = True
        if drawn:
            self.fired[kind] += 1
        return drawn


class PublishedLadder:
    """One symbol's book as the emulator last published it, and its update id."""

    __slots__ = ("asks", "bids", "id", "version")

    def __init__(self, first_id: int) -> None:
        self.id = first_id
        self.version = -1
        self.bids: Ladder = []
        self.asks: Ladder = []

    def refresh(
        self, market: SimMarket, venue: str, symbol: str, depth: int
    ) -> tuple[Ladder, Ladder] | None:
        """Catch up with the market: ``(bid_changes, ask_changes)`` (absolute sizes, 0 =
        removed, removals first), or None when nothing changed. The caller assigns ids."""
        version = market.book_version(venue, symbol)
        if version == self.version:
            return None
        self.version = version
        bids, asks = market.book_levels(venue, symbol, depth)
        db = diff_ladder(self.bids, bids, _ZERO)
        da = diff_ladder(self.asks, asks, _ZERO)
        self.bids, self.asks = bids, asks
        if not db and not da:
            return None
        return (db, da)


# -- ladders ---------------------------------------------------------------------------------
def diff_ladder(
    old: Iterable[tuple[P, S]], new: Sequence[tuple[P, S]], zero: Any = 0
) -> list[tuple[P, S]]:
    """Levels that turn ladder ``old`` into ladder ``new`` (one side of one book).

    Returns removed levels first, as ``(price, zero)`` in ``old``'s order, then new or resized
    levels as ``(price, new_size)`` in ``new``'s order. Removals first means a consumer that
    applies changes one at a time (KuCoin sends one change per message) never sees a level
    that both ladders agree is gone cross the other side. Unchanged levels are omitted, so
    equal ladders give ``[]``. Prices within one ladder must be distinct.
    """
    before = dict(old)
    after = dict(new)
    if len(after) != len(new):
        raise ValueError("ladder has duplicate prices")
    removed = [(price, zero) for price in before if price not in after]
    changed = [(price, size) for price, size in new if before.get(price) != size]
    return removed + changed
