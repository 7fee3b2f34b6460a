"""The Bitget V2 mix emulator: REST and both streams on one loopback port.

What it serves (the facts are in :mod:`~arbtrio.emulators.bitget.protocol`; requests are
parsed by :mod:`~arbtrio.emulators.bitget.wire`, signatures checked by
:mod:`~arbtrio.emulators.bitget.auth`, checksums computed by
:mod:`~arbtrio.emulators.bitget.checksum`):

* public stream ``/v2/ws/public``: text ``ping`` → text ``pong``; ``subscribe`` /
  ``unsubscribe`` with ``{"event": op, "arg": …}`` acks, ``30001`` (no such channel),
  ``30002`` (unparseable), ``30003`` (other ops) errors; ``books``: a snapshot on subscribe
  then an ``update`` per market tick carrying the changed levels (size ``"0"`` = deleted),
  a growing ``seq`` and the signed CRC32 of the best 25 levels of the strings it sent;
  ``books1/5/15``: a snapshot per change.
* private stream ``/v2/ws/private``: ``login`` (seconds timestamp, 30 s window; a failed
  login answers ``30011–30016`` and closes the connection), then ``orders`` / ``fill``
  (instId ``default`` or a symbol), ``positions`` (``default``) and ``account`` (coin
  ``default``) subscriptions and pushes.
* both streams: at most 10 client messages per second (more: ``30007`` and the connection
  is closed), 4096 bytes per request, 240 subscribe requests per hour and 1000 channels
  per connection, closed after ``ping_timeout_s`` (2 min) without a ``ping``; at most 100
  connections open and 300 opened per 5 minutes (refused at the handshake).
* REST (:data:`~arbtrio.emulators.bitget.protocol.ENDPOINTS`): the ``code``/``msg``/
  ``requestTime``/``data`` envelope (``"00000"`` on success, HTTP 400 on errors, 429 on
  rate limits); signed endpoints check the key, passphrase, a 30 s timestamp window and
  the signature over the raw query and body; per-endpoint limits per second (counted after
  authentication for the per-UID ones) with ``x-mbx-used-remain-limit``, and the IP pool
  of 6000 per minute (exceeded: every request refused for 5 minutes).
* Faults (``self.faults``, a :class:`~arbtrio.emulators.app.FaultSwitch` over
  ``market.fault("bitget", kind)``): per order ``rate_limit`` (HTTP 429), ``reject``
  (40754), ``ack_timeout_not_executed`` (answer held ``timeout_hold_s``, then 45001, not
  executed), ``ack_timeout_executed`` (executed, answer held), ``duplicate_fill`` (a fill
  pushed twice); per feed tick ``feed_disconnect`` (socket closed), ``stale_feed`` (the
  tick withheld), ``sequence_gap`` (an update lost: ``seq`` skips and the next checksum
  disagrees with the client's book), ``bad_checksum`` (one update's checksum corrupted).
  ``partial_fill`` happens inside ``market.execute``.

* margin settings (:mod:`~arbtrio.emulators.bitget.margin`): ``set-margin-mode`` and
  ``set-leverage`` kept per symbol (``settings``; ``crossed`` 20× until configured) and
  reported by ``GET account``, the position rows and pushes and the order pushes; a mode
  change with a position open is 45117, a leverage above the contract's ``maxLever``
  45045, an unchanged leverage 40814. Positions carry ``markPrice`` and the conservative
  ``liquidationPrice`` of :func:`~arbtrio.emulators.bitget.margin.liquidation_price`;
  every ``positions`` push is the snapshot of all open positions (``[]`` once flat).
* ``book_delay_s``: book frames sent that much later than made, their ``ts`` kept.

Simplified: one-way position mode only (``tradeSide`` → 40774), limit ``force: "ioc"``
orders only, so every order is terminal when its place call answers (cancel → 22001, no
pending orders); a synchronous rejection leaves no order behind.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
import structlog
import trio

from arbtrio.core.instruments import Instrument, is_valid_price
from arbtrio.core.types import Fill, OrderReport, OrderStatus, Side
from arbtrio.emulators.app import (
    ApiKeys,
    AsgiWebSocket,
    FaultSwitch,
    HttpRequest,
    TwoSocketEmulator,
    diff_ladder,
    drain,
    read_http_request,
    send_http_response,
)
from arbtrio.emulators.bitget import auth, wire
from arbtrio.emulators.bitget import protocol as p
from arbtrio.emulators.bitget.checksum import RawLevel, book_checksum, corrupted
from arbtrio.emulators.bitget.margin import (
    Setting,
    isolated_margin,
    liquidation_price,
)
from arbtrio.emulators.bitget.protocol import ApiError
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.market import SimMarket

log = structlog.get_logger("arbtrio.emulators.bitget")

VENUE = "bitget"
PLACE_ORDER = ("POST", "/api/v2/mix/order/place-order")
ZERO = Decimal(0)
MMR = Decimal(p.MAINTENANCE_MARGIN_RATE)
Ladder = list[tuple[Decimal, Decimal]]
_STATUS = {
    OrderStatus.FILLED: "filled",
    OrderStatus.CANCELLED: "canceled",
    OrderStatus.REJECTED: "canceled",
    OrderStatus.OPEN: "live",
    OrderStatus.PENDING: "live",
}


def _decimals(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def _trim(times: deque[float], since: float) -> None:
    while times and times[0] <= since:
        times.popleft()


def _admit(times: deque[float], now: float, window: float, limit: int) -> bool:
    """Count one event at ``now`` if fewer than ``limit`` happened in the last ``window``."""
    _trim(times, now - window)
    if len(times) >= limit:
        return False
    times.append(now)
    return True


@attrs.define(eq=False)
class _Session:
    """One stream connection's budget: client messages per second, subscribe requests
    per hour, channels held, and when the client last pinged."""

    last_ping: float
    messages: deque[float] = attrs.Factory(deque)
    subscribes: deque[float] = attrs.Factory(deque)

    def admit_message(self, now: float) -> bool:
        return _admit(self.messages, now, 1.0, p.WS_MAX_MSGS_PER_S)

    def admit_subscribe(self, now: float) -> bool:
        return _admit(self.subscribes, now, 3600.0, p.WS_MAX_SUBSCRIBE_PER_HOUR)


@attrs.define(eq=False)
class _Sub:
    """One public book subscription: the ladder as last published and its ``seq``."""

    symbol: str
    channel: str
    seq: int
    version: int
    bids: Ladder
    asks: Ladder


def _book_queue() -> tuple[
    trio.MemorySendChannel[tuple[float, str]], trio.MemoryReceiveChannel[tuple[float, str]]
]:
    return trio.open_memory_channel[tuple[float, str]](math.inf)


@attrs.define(eq=False)
class _Public:
    """A public connection's state: its session and book subscriptions, and the book
    frames held back by :attr:`BitgetEmulator.book_delay_s` (due time, text), in order."""

    session: _Session
    subs: dict[tuple[str, str], _Sub] = attrs.Factory(dict)
    held: tuple[
        trio.MemorySendChannel[tuple[float, str]], trio.MemoryReceiveChannel[tuple[float, str]]
    ] = attrs.Factory(_book_queue)
    holding: int = 0  # frames queued in ``held`` and not sent yet


@attrs.define(eq=False)
class _Order:
    order_id: str
    client_oid: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    reduce_only: bool
    created_ms: int
    margin_mode: str = p.DEFAULT_MARGIN_MODE


class BitgetEmulator(TwoSocketEmulator[_Public]):
    """The ASGI application; :meth:`serve` runs it on loopback.

    Options: ``wall_clock`` (epoch seconds: timestamps sent and checked),
    ``timeout_hold_s`` (how long an ack-timeout fault holds the answer),
    ``ping_timeout_s`` (a stream without a ``ping`` for that long is closed).
    Test hooks: ``requests`` (REST requests received), ``orders`` (executed orders by
    clientOid), ``faults``, :meth:`inject_public`, ``order_log``, ``settings`` (symbol →
    its margin :class:`~arbtrio.emulators.bitget.margin.Setting`), ``book_delay_s`` (book
    frames sent that much later than made, their ``ts`` kept: a lagging, flowing feed).
    """

    venue = VENUE
    public_path = p.PUBLIC_PATH
    private_path = p.PRIVATE_PATH

    def __init__(
        self,
        market: SimMarket,
        driver: MarketDriver,
        credentials: ApiKeys,
        *,
        wall_clock: Callable[[], float] = time.time,
        timeout_hold_s: float = 30.0,
        ping_timeout_s: float = p.WS_PING_TIMEOUT_S,
    ) -> None:
        super().__init__(market, driver, credentials)
        self.wall_clock = wall_clock
        self.timeout_hold_s = timeout_hold_s
        self.ping_timeout_s = ping_timeout_s
        self.faults = FaultSwitch(market, VENUE)
        self.orders: dict[str, _Order] = {}  # clientOid → order
        self.by_order_id: dict[str, str] = {}
        self.requests = 0
        self._calls: dict[str, deque[float]] = {}
        self._ip_calls: deque[float] = deque()
        self._ip_blocked_until = float("-inf")
        self._ws_open = 0
        self._ws_connects: deque[float] = deque()
        self.settings: dict[str, Setting] = {}
        self.book_delay_s = 0.0

    def _now_ms(self) -> int:
        return int(self.wall_clock() * 1000)

    # -- connections ---------------------------------------------------------------------------
    async def websocket(self, scope: Any, receive: Any, send: Any) -> None:
        """Refuse the handshake past the per-IP connection limits, else route the stream."""
        now = trio.current_time()
        if self._ws_open >= p.WS_MAX_CONNECTIONS or not _admit(
            self._ws_connects, now, p.WS_CONNECT_WINDOW_S, p.WS_MAX_CONNECTS
        ):
            log.info("bitget.emulator.connection_refused", open=self._ws_open)
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 1008})
            return
        self._ws_open += 1
        try:
            await super().websocket(scope, receive, send)
        finally:
            self._ws_open -= 1

    async def _next_frame(self, ws: AsgiWebSocket, session: _Session) -> str | None:
        """The client's next frame, or None once it left or stopped pinging (then the
        caller closes the socket)."""
        with trio.move_on_at(session.last_ping + self.ping_timeout_s):
            return await ws.receive_text()
        log.info("bitget.emulator.ping_timeout")
        return None

    def _session_reply(self, text: str, session: _Session) -> tuple[str | None, bool]:
        """Rules every stream applies before parsing a frame: ``(reply, close)``.

        ``("pong", False)`` for a ping; ``(30007 error, True)`` past 10 messages per
        second; ``(30002 error, False)`` for a request over 4096 bytes; else
        ``(None, False)``: the caller parses it."""
        now = trio.current_time()
        if not session.admit_message(now):
            return _event_error(p.WS_OVER_LIMIT, "request too many, connection closed"), True
        if text == "ping":
            session.last_ping = now
            return "pong", False
        if len(text.encode("utf-8")) > p.WS_MAX_REQUEST_BYTES:
            return _event_error(p.WS_ILLEGAL_REQUEST, "request exceeds 4096 bytes"), False
        return None, False

    # -- public stream -------------------------------------------------------------------------
    def _public_state(self) -> _Public:
        return _Public(_Session(last_ping=trio.current_time()))

    def _raw(self, inst: Instrument, levels: Iterable[tuple[Decimal, Decimal]]) -> list[RawLevel]:
        """Levels as sent: price to ``pricePlace`` and size to ``volumePlace`` decimals
        (trailing zeros kept), a removed level's size as ``"0"``."""
        pd, sd = _decimals(inst.tick_size), _decimals(inst.lot_size)
        return [(f"{px:.{pd}f}", f"{sz:.{sd}f}" if sz else p.DELETED_SIZE) for px, sz in levels]

    def _book_frame(self, sub: _Sub, action: str, bids: Ladder, asks: Ladder, bad: bool) -> str:
        inst = self.instruments[sub.symbol]
        n = p.CHECKSUM_LEVELS
        crc = book_checksum(self._raw(inst, sub.bids[:n]), self._raw(inst, sub.asks[:n]))
        now_ms = self._now_ms()
        data = {"asks": self._raw(inst, asks), "bids": self._raw(inst, bids),
                "checksum": corrupted(crc) if bad else crc, "seq": sub.seq,
                "ts": str(now_ms)}  # fmt: skip
        arg = {"instType": p.PRODUCT_TYPE, "channel": sub.channel, "instId": sub.symbol}
        return wire.encode({"action": action, "arg": arg, "data": [data], "ts": now_ms})

    async def _public_reader(
        self, ws: AsgiWebSocket, conn_id: int, state: _Public, lock: trio.Lock
    ) -> None:
        while (text := await self._next_frame(ws, state.session)) is not None:
            reply, close = self._session_reply(text, state.session)
            if reply is not None:
                async with lock:
                    await ws.send_text(reply)
                    if close:
                        await ws.close(1008)
                        return
                continue
            try:
                req = wire.decode_ws_request(text)
                args = [wire.convert_arg(a) for a in req.args]
            except wire.Malformed:
                async with lock:
                    await ws.send_text(_event_error(p.WS_ILLEGAL_REQUEST, "illegal request"))
                continue
            async with lock:
                if req.op not in ("subscribe", "unsubscribe"):
                    await ws.send_text(_event_error(p.WS_INVALID_OP, f"invalid op {req.op}"))
                    continue
                if req.op == "subscribe" and not state.session.admit_subscribe(trio.current_time()):
                    await ws.send_text(
                        _event_error(p.WS_TOO_MANY_REQUESTS, "too many subscribe requests")
                    )
                    continue
                for arg in args:
                    await self._public_op(ws, req.op, arg, state)
        async with lock:
            await ws.close(1000)

    async def _public_op(self, ws: AsgiWebSocket, op: str, arg: wire.Arg, state: _Public) -> None:
        key = (arg.channel, arg.instId)
        if (arg.instType.upper() != p.PRODUCT_TYPE or arg.channel not in p.BOOK_CHANNELS
                or arg.instId not in self.instruments):  # fmt: skip
            await ws.send_text(_event_error(p.WS_CHANNEL_UNKNOWN, "channel doesn't exist", arg))
            return
        if op == "subscribe" and key not in state.subs and len(state.subs) >= p.WS_MAX_CHANNELS:
            await ws.send_text(_event_error(p.WS_TOO_MANY_REQUESTS, "too many channels", arg))
            return
        ack = {"event": op, "arg": {"instType": p.PRODUCT_TYPE, "channel": arg.channel,
                                    "instId": arg.instId}}  # fmt: skip
        await ws.send_text(wire.encode(ack))
        if op == "unsubscribe":
            state.subs.pop(key, None)
            return
        bids, asks = self.market.book_levels(VENUE, arg.instId, p.BOOK_CHANNELS[arg.channel])
        sub = _Sub(symbol=arg.instId, channel=arg.channel, seq=next(self._ids) * 1000,
                   version=self.market.book_version(VENUE, arg.instId), bids=bids,
                   asks=asks)  # fmt: skip
        state.subs[key] = sub
        await self._send_book(ws, state, self._book_frame(sub, "snapshot", bids, asks, False))

    async def _send_book(self, ws: AsgiWebSocket, state: _Public, text: str) -> None:
        """Send a book frame now (the caller holds the lock), or, while ``book_delay_s`` is
        set or frames are still held, queue it for ``book_delay_s`` later (in order)."""
        delay = self.book_delay_s
        if delay <= 0 and not state.holding:
            await ws.send_text(text)
            return
        state.holding += 1
        state.held[0].send_nowait((trio.current_time() + max(delay, 0.0), text))

    async def _held_sender(self, ws: AsgiWebSocket, state: _Public, lock: trio.Lock) -> None:
        """Send each held book frame at its due time, in the order made."""
        async for due, text in state.held[1]:
            await trio.sleep_until(due)
            async with lock:
                await ws.send_text(text)
            state.holding -= 1

    async def _publisher(
        self, ws: AsgiWebSocket, state: _Public, lock: trio.Lock, cancel_scope: trio.CancelScope
    ) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._held_sender, ws, state, lock)
            await self._publish(ws, state, lock, cancel_scope)
            nursery.cancel_scope.cancel()

    async def _publish(
        self, ws: AsgiWebSocket, state: _Public, lock: trio.Lock, cancel_scope: trio.CancelScope
    ) -> None:
        market, subs = self.market, state.subs
        while True:
            await self.driver.wait_tick()
            if not subs:
                continue
            if self.faults("feed_disconnect"):
                log.info("bitget.emulator.fault", kind="feed_disconnect")
                await ws.close(1001)
                cancel_scope.cancel()
                return
            if self.faults("stale_feed"):
                continue
            lose = self.faults("sequence_gap")
            corrupt = self.faults("bad_checksum")
            async with lock:
                for sub in list(subs.values()):
                    version = market.book_version(VENUE, sub.symbol)
                    if version == sub.version:
                        continue
                    depth = p.BOOK_CHANNELS[sub.channel]
                    bids, asks = market.book_levels(VENUE, sub.symbol, depth)
                    if sub.channel == p.INCREMENTAL_CHANNEL:
                        db, da = (
                            diff_ladder(sub.bids, bids, ZERO),
                            diff_ladder(sub.asks, asks, ZERO),
                        )
                        action = "update"
                    else:
                        db, da, action = bids, asks, "snapshot"
                    sub.version, sub.bids, sub.asks = version, bids, asks
                    if not db and not da:
                        continue
                    sub.seq += 1
                    if lose and action == "update":
                        lose = False
                        log.info("bitget.emulator.fault", kind="sequence_gap", seq=sub.seq)
                        continue
                    bad = corrupt and action == "update"
                    corrupt = corrupt and not bad
                    await self._send_book(ws, state, self._book_frame(sub, action, db, da, bad))

    # -- private stream ------------------------------------------------------------------------
    async def _private_ws(self, ws: AsgiWebSocket) -> None:
        if not await ws.accept():
            return
        conn_id = next(self._ids)
        outbox, outbox_recv = trio.open_memory_channel[str](1000)
        channels: set[str] = set()  # "channel:scope"
        session = _Session(last_ping=trio.current_time())
        authed = False
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(drain, ws, outbox_recv)
                while (text := await self._next_frame(ws, session)) is not None:
                    reply, close = self._session_reply(text, session)
                    if close:
                        await _close_after(ws, outbox, reply or "")
                        break
                    if reply is not None:
                        outbox.send_nowait(reply)
                        continue
                    try:
                        req = wire.decode_ws_request(text)
                    except wire.Malformed:
                        outbox.send_nowait(_event_error(p.WS_ILLEGAL_REQUEST, "illegal request"))
                        continue
                    if req.op == "login":
                        code, msg = self._check_login(req.args)
                        if code:  # a failed login disconnects
                            await _close_after(ws, outbox, _event_error(code, msg))
                            break
                        authed = True
                        self._private[conn_id] = (outbox, channels)
                        outbox.send_nowait('{"event":"login","code":"0","msg":""}')
                    elif not authed:
                        outbox.send_nowait(_event_error(p.WS_LOGIN_REQUIRED, "User not logged in"))
                    elif req.op in ("subscribe", "unsubscribe"):
                        if req.op == "subscribe" and not session.admit_subscribe(
                            trio.current_time()
                        ):
                            outbox.send_nowait(
                                _event_error(p.WS_TOO_MANY_REQUESTS, "too many subscribe requests")
                            )
                            continue
                        for raw_arg in req.args:
                            outbox.send_nowait(self._private_op(req.op, raw_arg, channels))
                    else:
                        outbox.send_nowait(_event_error(p.WS_INVALID_OP, f"invalid op {req.op}"))
                await ws.close(1000)
                nursery.cancel_scope.cancel()
        except trio.ClosedResourceError:
            pass
        finally:
            self._private.pop(conn_id, None)

    def _check_login(self, args: list[Any]) -> tuple[str, str]:
        """``("", "")`` for an accepted login request's args, else the error to answer."""
        if len(args) != 1:
            return p.WS_PARAM_ERROR, "param error"
        try:
            login = wire.convert_login(args[0])
        except wire.Malformed:
            return p.WS_PARAM_ERROR, "param error"
        return auth.check_login(login, self.credentials, self.wall_clock())

    def _private_op(self, op: str, raw_arg: Any, channels: set[str]) -> str:
        """Apply one private (un)subscribe arg to ``channels``; the ack or error frame."""
        try:
            arg = wire.convert_arg(raw_arg)
        except wire.Malformed:
            return _event_error(p.WS_PARAM_ERROR, "param error")
        if arg.channel == p.ACCOUNT_CHANNEL:
            scope_ok, scope = arg.coin == p.DEFAULT_SCOPE, arg.coin
        elif arg.channel in p.SYMBOL_SCOPED_CHANNELS:
            scope_ok = arg.instId == p.DEFAULT_SCOPE or arg.instId in self.instruments
            scope = arg.instId
        else:
            scope_ok, scope = arg.instId == p.DEFAULT_SCOPE, arg.instId
        if (arg.instType.upper() != p.PRODUCT_TYPE or arg.channel not in p.PRIVATE_CHANNELS
                or not scope_ok):  # fmt: skip
            return _event_error(p.WS_CHANNEL_UNKNOWN, "channel doesn't exist", arg)
        key = f"{arg.channel}:{scope}"
        if op == "subscribe":
            if key not in channels and len(channels) >= p.WS_MAX_CHANNELS:
                return _event_error(p.WS_TOO_MANY_REQUESTS, "too many channels", arg)
            channels.add(key)
        else:
            channels.discard(key)
        return wire.encode({"event": op, "arg": arg})

    def _push(self, channel: str, data: list[Any], symbol: str = "") -> None:
        """Push ``data`` to every connection subscribed to ``channel`` (``default``, or
        ``symbol`` for the symbol-scoped channels), each with the arg it subscribed."""
        scopes = [p.DEFAULT_SCOPE]
        if symbol and channel in p.SYMBOL_SCOPED_CHANNELS:
            scopes.append(symbol)
        field = "coin" if channel == p.ACCOUNT_CHANNEL else "instId"
        ts = self._now_ms()
        for scope in scopes:
            arg = {"instType": p.PRODUCT_TYPE, "channel": channel, field: scope}
            text = wire.encode({"action": "snapshot", "arg": arg, "data": data, "ts": ts})
            self._broadcast(text, _subscribed_to(f"{channel}:{scope}"))

    # -- REST ----------------------------------------------------------------------------------
    async def http(self, scope: Any, receive: Any, send: Any) -> None:
        req = await read_http_request(scope, receive)
        self.requests += 1
        route = (req.method, req.path)
        handler = _ROUTES.get(route)
        headers: dict[str, str] = {}
        authenticated = False
        try:
            self._admit_ip()
            limit = p.ENDPOINTS.get(route)
            if handler is None or limit is None:
                raise p.NOT_FOUND()
            if limit.private:
                self._authenticate(req)
                authenticated = True
            remaining = self._count(req.path, limit)
            headers["x-mbx-used-remain-limit"] = str(max(remaining, 0))
            if remaining < 0:
                raise p.TOO_MANY_REQUESTS()
            data = await handler(self, req)
            body = {"code": "00000", "msg": "success", "requestTime": self._now_ms(),
                    "data": data}  # fmt: skip
            status = 200
        except ApiError as exc:
            if authenticated and route == PLACE_ORDER and not exc.recorded:
                self._record_refused(req, exc)
            body = {"code": exc.code, "msg": exc.message, "requestTime": self._now_ms(),
                    "data": None}  # fmt: skip
            status = exc.status
        await send_http_response(send, status, wire.encoder.encode(body), headers)

    def _admit_ip(self) -> None:
        """The IP pool: 6000 requests per minute; once exceeded, 429 for 5 minutes."""
        now = trio.current_time()
        if now < self._ip_blocked_until:
            raise p.TOO_MANY_REQUESTS()
        if not _admit(self._ip_calls, now, 60.0, p.IP_LIMIT_PER_MIN):
            self._ip_blocked_until = now + p.IP_BLOCK_S
            raise p.TOO_MANY_REQUESTS()

    def _count(self, path: str, limit: p.Limit) -> int:
        """Remaining calls in this endpoint's 1 s window after this one (< 0: over)."""
        calls = self._calls.setdefault(path, deque())
        if not _admit(calls, trio.current_time(), 1.0, limit.per_s):
            return -1
        return limit.per_s - len(calls)

    def _authenticate(self, req: HttpRequest) -> None:
        """Raise the venue's ApiError unless ``req`` is signed right (see
        :func:`~arbtrio.emulators.bitget.auth.check_rest`)."""
        auth.check_rest(req, self.credentials, self._now_ms())

    def _params(self, req: HttpRequest, *required: str) -> dict[str, str]:
        """The query, with each ``required`` parameter present and ``productType`` (when
        given) the USDT-FUTURES one."""
        params = wire.query_params(req.query)
        for name in required:
            if not params.get(name):
                raise p.PARAM_INVALID(detail=f"{name} cannot be empty")
        _product_type(params.get("productType"))
        return params

    def _inst(self, symbol: str) -> Instrument:
        inst = self.instruments.get(symbol)
        if inst is None:
            raise p.SYMBOL_UNKNOWN(value=symbol)
        return inst

    async def _time(self, req: HttpRequest) -> Any:
        return {"serverTime": str(self._now_ms())}

    async def _contracts(self, req: HttpRequest) -> Any:
        params = self._params(req, "productType")
        if params.get("symbol"):
            return [_contract(self._inst(params["symbol"]))]
        return [_contract(i) for i in self.instruments.values()]

    async def _fund_rate(self, req: HttpRequest) -> Any:
        params = self._params(req, "productType")
        if params.get("symbol"):
            symbols = [self._inst(params["symbol"]).symbol]
        else:
            symbols = list(self.instruments)
        out = []
        for s in symbols:
            fr = self.market.funding_rate(VENUE, s)
            nxt = fr.next_funding_ts
            next_ms = int((self.wall_clock() + (nxt - trio.current_time())) * 1000) if nxt else 0
            out.append({"symbol": s, "fundingRate": str(fr.rate),
                        "fundingRateInterval": str(fr.interval_hours), "nextUpdate": str(next_ms),
                        "minFundingRate": "-0.003", "maxFundingRate": "0.003"})  # fmt: skip
        return out

    async def _trade_rate(self, req: HttpRequest) -> Any:
        params = self._params(req, "symbol")
        # the parameter table says businessType, the docs' curl example says business
        business = params.get("businessType") or params.get("business") or ""
        if business.lower() != "mix":
            raise p.PARAM_INVALID(detail=f"businessType {business!r} (this account: mix)")
        inst = self._inst(params["symbol"])
        return {"makerFeeRate": str(inst.maker_fee), "takerFeeRate": str(inst.taker_fee)}

    async def _accounts(self, req: HttpRequest) -> Any:
        self._params(req, "productType")
        return [
            {"marginCoin": b.currency, "locked": "0", "available": str(b.available),
             "crossedMaxAvailable": str(b.available), "isolatedMaxAvailable": str(b.available),
             "maxTransferOut": str(b.available), "accountEquity": str(b.total),
             "usdtEquity": str(b.total), "crossedRiskRate": "0", "unrealizedPL": "0",
             "coupon": "0", "assetMode": "single"}
            for b in self.market.balances(VENUE)
        ]  # fmt: skip

    def _account_push_rows(self) -> list[dict[str, Any]]:
        """The ``account`` channel's data (its own field names, not the REST ones)."""
        return [
            {"marginCoin": b.currency, "frozen": "0", "available": str(b.available),
             "maxOpenPosAvailable": str(b.available), "maxTransferOut": str(b.available),
             "equity": str(b.total), "usdtEquity": str(b.total), "crossedRiskRate": "0",
             "unrealizedPL": "0", "assetsMode": "single"}
            for b in self.market.balances(VENUE)
        ]  # fmt: skip

    async def _all_position(self, req: HttpRequest) -> Any:
        params = self._params(req, "productType")
        coin = params.get("marginCoin", p.MARGIN_COIN)
        if coin.upper() != p.MARGIN_COIN:
            raise p.PARAM_INVALID(detail=f"marginCoin {coin!r}")
        return self._position_rows(rest=True)

    def _setting(self, symbol: str) -> Setting:
        """``symbol``'s settings (the defaults until configured)."""
        setting = self.settings.get(symbol)
        if setting is None:
            lev = p.DEFAULT_LEVERAGE
            setting = self.settings[symbol] = Setting(p.DEFAULT_MARGIN_MODE, lev, lev, lev)
        return setting

    def _mark(self, inst: Instrument) -> Decimal:
        """The mark price: the venue's mid, on the tick."""
        return Decimal(repr(self.market.mid(VENUE, inst.asset))).quantize(inst.tick_size)

    def _position_rows(self, *, rest: bool) -> list[dict[str, Any]]:
        """Every open position: REST ``all-position`` rows (keyed ``symbol``) or the
        ``positions`` push's snapshot (keyed ``instId``; a closed position is left out).
        Leverage and margin mode are the symbol's settings; the liquidation price is
        :func:`~arbtrio.emulators.bitget.margin.liquidation_price` — the position's
        isolated margin, or for cross the wallet balance less every other position's
        initial margin and unrealised loss."""
        positions = [pos for pos in self.market.positions(VENUE) if pos.qty != 0]
        wallet = sum((b.total for b in self.market.balances(VENUE)
                      if b.currency == p.MARGIN_COIN), ZERO)  # fmt: skip
        facts = []
        for pos in positions:
            inst = self.instruments[pos.symbol]
            entry = pos.entry_price or self._mark(inst)
            lev = self._setting(pos.symbol).leverage(pos.qty > 0)
            mark = self._mark(inst)
            facts.append((pos, inst, entry, lev, mark, isolated_margin(pos.qty, entry, lev),
                          pos.qty * (mark - entry)))  # fmt: skip
        rows = []
        for pos, inst, entry, lev, mark, im, upnl in facts:
            setting = self._setting(pos.symbol)
            if setting.margin_mode == "isolated":
                margin = im
            else:
                others = [f for f in facts if f[0].symbol != pos.symbol]
                margin = (wallet - sum((f[5] for f in others), ZERO)
                          + sum((min(f[6], ZERO) for f in others), ZERO))  # fmt: skip
            liq = liquidation_price(pos.qty, entry, margin, MMR)
            liq_text = f"{liq:.{_decimals(inst.tick_size)}f}" if liq > 0 else (
                p.NO_LIQUIDATION_PRICE)  # fmt: skip
            size = str(abs(pos.qty))
            row = {"symbol" if rest else "instId": pos.symbol, "marginCoin": p.MARGIN_COIN,
                   "holdSide": "long" if pos.qty > 0 else "short", "total": size,
                   "available": size, "openPriceAvg": str(entry),
                   "marginMode": setting.margin_mode, "posMode": "one_way_mode",
                   "leverage": str(lev), "marginSize": str(im), "achievedProfits": "0",
                   "unrealizedPL": str(upnl), "liquidationPrice": liq_text,
                   "keepMarginRate": p.MAINTENANCE_MARGIN_RATE, "markPrice": str(mark),
                   "totalFee": "", "deductedFee": "0", "assetMode": "single",
                   "cTime": str(self._now_ms()), "uTime": str(self._now_ms())}  # fmt: skip
            row |= {"locked": "0", "openDelegateSize": "0"} if rest else {"frozen": "0"}
            rows.append(row)
        return rows

    # -- margin settings -------------------------------------------------------------------------
    def _settings_target(self, symbol: str | None, product_type: str | None,
                         margin_coin: str | None) -> Instrument:  # fmt: skip
        _product_type(product_type)
        if margin_coin != p.MARGIN_COIN:
            raise p.PARAM_INVALID(detail=f"marginCoin {margin_coin!r} (capitalised USDT)")
        return self._inst(symbol or "")

    async def _single_account(self, req: HttpRequest) -> Any:
        """``GET account``: the margin coin's balance and ``symbol``'s settings."""
        params = self._params(req, "symbol", "productType", "marginCoin")
        inst = self._settings_target(params["symbol"], params["productType"],
                                     params["marginCoin"].upper())  # fmt: skip
        setting = self._setting(inst.symbol)
        balance = next((b for b in self.market.balances(VENUE)
                        if b.currency == p.MARGIN_COIN), None)  # fmt: skip
        total = str(balance.total) if balance else "0"
        available = str(balance.available) if balance else "0"
        return {"marginCoin": p.MARGIN_COIN, "locked": "0", "available": available,
                "crossedMaxAvailable": available, "isolatedMaxAvailable": available,
                "maxTransferOut": available, "accountEquity": total, "usdtEquity": total,
                "crossedRiskRate": "0", "crossedMarginLeverage": str(setting.cross_leverage),
                "isolatedLongLever": str(setting.long_leverage),
                "isolatedShortLever": str(setting.short_leverage),
                "marginMode": setting.margin_mode, "posMode": "one_way_mode",
                "unrealizedPL": "", "coupon": "0", "crossedUnrealizedPL": "0",
                "isolatedUnrealizedPL": "0", "assetMode": "single"}  # fmt: skip

    async def _set_margin_mode(self, req: HttpRequest) -> Any:
        """Change ``symbol``'s margin mode: an unchanged mode is success; a change while
        the symbol has a position is refused (45117; orders never rest here)."""
        try:
            body = wire.decode_set_margin_mode(req.body)
        except wire.Malformed as exc:
            raise p.PARAM_INVALID(detail=exc.reason) from None
        inst = self._settings_target(body.symbol, body.productType, body.marginCoin)
        if body.marginMode not in p.MARGIN_MODES:
            raise p.PARAM_INVALID(detail=f"marginMode {body.marginMode!r}")
        setting = self._setting(inst.symbol)
        if body.marginMode != setting.margin_mode:
            if self.market.position(VENUE, inst.symbol) != 0:
                raise p.MARGIN_MODE_LOCKED()
            setting.margin_mode = body.marginMode
        answer = setting.as_answer(inst.symbol, p.MARGIN_COIN)
        del answer["crossMarginLeverage"]  # not in this answer (the docs' example)
        return answer

    async def _set_leverage(self, req: HttpRequest) -> Any:
        """Set ``symbol``'s leverage in its margin mode: cross takes ``longLeverage`` else
        ``leverage``; isolated (one-way) ``leverage`` for both sides (or the ``holdSide``
        one) and ``longLeverage`` / ``shortLeverage`` per side. Integers from 1 to the
        contract's ``maxLever`` (above: 45045); nothing changed: 40814."""
        try:
            body = wire.decode_set_leverage(req.body)
        except wire.Malformed as exc:
            raise p.PARAM_INVALID(detail=exc.reason) from None
        inst = self._settings_target(body.symbol, body.productType, body.marginCoin)
        maximum = inst.max_leverage or p.MAX_LEVERAGE

        def lever(name: str, text: str | None) -> int | None:
            if text is None:
                return None
            if not text.isdigit() or int(text) < p.MIN_LEVERAGE:
                raise p.PARAM_INVALID(detail=f"{name} {text!r}")
            if int(text) > maximum:
                raise p.LEVERAGE_OVER_MAX(maximum=maximum)
            return int(text)

        both, long, short = (lever("leverage", body.leverage),
                             lever("longLeverage", body.longLeverage),
                             lever("shortLeverage", body.shortLeverage))  # fmt: skip
        if body.holdSide is not None and body.holdSide not in ("long", "short"):
            raise p.PARAM_INVALID(detail=f"holdSide {body.holdSide!r}")
        setting = self._setting(inst.symbol)
        before = attrs.evolve(setting)
        if setting.margin_mode == "crossed":
            chosen = long if long is not None else both
            if chosen is None:
                raise p.PARAM_INVALID(detail="leverage cannot be empty")
            setting.cross_leverage = chosen
        else:
            if both is None and long is None and short is None:
                raise p.PARAM_INVALID(detail="leverage cannot be empty")
            if both is not None:
                if body.holdSide != "short":
                    setting.long_leverage = both
                if body.holdSide != "long":
                    setting.short_leverage = both
            setting.long_leverage = long if long is not None else setting.long_leverage
            setting.short_leverage = short if short is not None else setting.short_leverage
        if setting == before:
            raise p.NO_CHANGE_IN_LEVERAGE()
        return setting.as_answer(inst.symbol, p.MARGIN_COIN)

    # -- orders --------------------------------------------------------------------------------
    async def _place(self, req: HttpRequest) -> Any:
        """Validate, draw the order faults, execute as limit-IOC against the market, push
        the events; ``{"orderId", "clientOid"}``.

        Order record (``record_order``): a refusal raised from here or from the endpoint
        limit is recorded by :meth:`http` as ``"rejected"`` with ``"code msg"`` as reason;
        an execution is recorded here as ``"executed"`` (``filled`` may be 0 or partial),
        before any ack-timeout hold — ``ack_timeout_executed`` is ``"executed"`` because
        the venue did execute it; ``ack_timeout_not_executed`` is recorded ``"unknown"``
        (filled 0, nothing executed) before the hold, since the client is never told
        whether the order exists (it gets 45001, "retry / query") — the record says what
        the client could know, its ``reason`` what the venue did.
        """
        market = self.market
        try:
            body = wire.decode_place(req.body)
        except wire.Malformed as exc:
            raise p.PARAM_INVALID(detail=exc.reason) from None
        inst, side, qty, price, reduce_only = self._validate_place(body)
        if self.faults("rate_limit"):
            raise p.TOO_MANY_REQUESTS()
        cid = body.clientOid or f"emu{next(self._ids)}"
        if cid in self.orders or market.order(VENUE, cid) is not None:
            raise p.CLIENT_OID_DUPLICATE()
        await trio.sleep(market.latency(VENUE, "ack"))
        now = trio.current_time()
        record = {"client_order_id": cid, "symbol": inst.symbol, "side": side.value,
                  "qty": str(qty), "price": str(price), "reduce_only": reduce_only}  # fmt: skip
        if self.faults("reject"):
            market.reject(VENUE, inst.symbol, side=side, qty=qty, price=price,
                          reduce_only=reduce_only, client_order_id=cid,
                          reason="balance not enough (injected)", now=now)  # fmt: skip
            raise p.BALANCE_NOT_ENOUGH()
        if self.faults("ack_timeout_not_executed"):
            self.record_order(**record, outcome="unknown", filled="0",
                              reason=f"answer held {self.timeout_hold_s}s, then 45001; "
                                     "not executed")  # fmt: skip
            await trio.sleep(self.timeout_hold_s)
            raise ApiError(p.SYSTEM_BUSY.code, p.SYSTEM_BUSY.text, p.SYSTEM_BUSY.status,
                           recorded=True)  # fmt: skip
        executed_late = self.faults("ack_timeout_executed")
        ex = market.execute(VENUE, inst.symbol, side=side, qty=qty, price=price,
                            reduce_only=reduce_only, client_order_id=cid, now=now)  # fmt: skip
        if ex.status is OrderStatus.REJECTED:
            raise _reject_error(ex.reason)
        self.record_order(**record, outcome="executed", filled=str(ex.filled_qty),
                          reason=f"answer held {self.timeout_hold_s}s" if executed_late
                          else ex.reason)  # fmt: skip
        order = _Order(order_id=ex.venue_order_id, client_oid=cid, symbol=inst.symbol, side=side,
                       qty=qty, price=price, reduce_only=reduce_only,
                       created_ms=self._now_ms(), margin_mode=body.marginMode)  # fmt: skip
        self.orders[cid] = order
        self.by_order_id[order.order_id] = cid
        self._push_order_events(order)
        if executed_late:
            await trio.sleep(self.timeout_hold_s)
        return {"orderId": order.order_id, "clientOid": cid}

    def _record_refused(self, req: HttpRequest, exc: ApiError) -> None:
        """Record an authenticated placement refused with ``exc`` (fields as sent)."""
        f = wire.loose_fields(req.body)
        self.record_order(
            client_order_id=str(f.get("clientOid") or ""), symbol=str(f.get("symbol") or ""),
            side=str(f.get("side") or ""), qty=str(f.get("size") or ""),
            price=str(f.get("price") or ""), reduce_only=f.get("reduceOnly") == "YES",
            outcome="rejected", filled="0", reason=f"{exc.code} {exc.message}",
        )  # fmt: skip

    def _validate_place(
        self, body: wire.PlaceOrder
    ) -> tuple[Instrument, Side, Decimal, Decimal, bool]:
        """The documented field rules, then the instrument's (step, minimums)."""
        _product_type(body.productType)
        inst = self._inst(body.symbol)
        if body.marginCoin != p.MARGIN_COIN:
            raise p.PARAM_INVALID(detail=f"marginCoin {body.marginCoin!r}")
        if body.marginMode not in p.MARGIN_MODES:
            raise p.PARAM_INVALID(detail=f"marginMode {body.marginMode!r}")
        if body.side not in p.SIDES:
            raise p.PARAM_INVALID(detail=f"side {body.side!r}")
        side = Side.BUY if body.side == "buy" else Side.SELL
        if body.orderType not in p.ORDER_TYPES:
            raise p.PARAM_INVALID(detail=f"orderType {body.orderType!r}")
        if body.orderType == "limit" and (body.price is None or body.force is None):
            raise p.PARAM_INVALID(detail="price and force are required for limit orders")
        if body.force is not None and body.force not in p.FORCES:
            raise p.PARAM_INVALID(detail=f"force {body.force!r}")
        if body.tradeSide is not None and body.tradeSide not in p.TRADE_SIDES:
            raise p.PARAM_INVALID(detail=f"tradeSide {body.tradeSide!r}")
        if body.reduceOnly is not None and body.reduceOnly not in p.REDUCE_ONLY:
            raise p.PARAM_INVALID(detail=f"reduceOnly {body.reduceOnly!r} (YES or NO)")
        if body.stpMode is not None and body.stpMode not in p.STP_MODES:
            raise p.PARAM_INVALID(detail=f"stpMode {body.stpMode!r}")
        cid = body.clientOid
        if cid is not None and (not cid or len(cid) > p.CLIENT_OID_MAX_LEN
                                or not set(cid) <= p.CLIENT_OID_CHARS):  # fmt: skip
            raise p.PARAM_INVALID(detail=f"clientOid {cid!r}")
        # documented, but not what this emulator's account does:
        if body.tradeSide is not None:
            raise p.HEDGE_ORDER_ON_ONE_WAY()
        if body.orderType != "limit" or body.force != "ioc":
            raise p.PARAM_INVALID(detail="the emulator takes limit orders with force ioc only")
        presets = (body.presetStopSurplusPrice, body.presetStopLossPrice,
                   body.presetStopSurplusExecutePrice, body.presetStopLossExecutePrice)  # fmt: skip
        if any(x is not None for x in presets):
            raise p.PARAM_INVALID(detail="preset take-profit/stop-loss is not emulated")
        try:
            qty, price = Decimal(body.size), Decimal(body.price or "")
        except InvalidOperation:
            raise p.PARAM_INVALID(detail="size/price") from None
        if not (qty.is_finite() and price.is_finite() and price > 0 and qty > 0):
            raise p.PARAM_INVALID(detail="size/price")
        if not is_valid_price(inst, price):
            raise p.PRICE_STEP(step=inst.tick_size)
        if qty % inst.lot_size != 0:
            raise p.BELOW_MIN_QTY(detail=f"(size must be a multiple of {inst.lot_size})")
        reduce_only = p.REDUCE_ONLY.get(body.reduceOnly or "NO", False)
        if not reduce_only:
            if qty < inst.min_size:
                raise p.BELOW_MIN_QTY(detail=str(inst.min_size))
            if qty * price < inst.min_notional:
                raise p.BELOW_MIN_AMOUNT(amount=inst.min_notional)
        return inst, side, qty, price, reduce_only

    def _push_order_events(self, order: _Order) -> None:
        report = self.market.order(VENUE, order.client_oid)
        assert report is not None
        for fill in report.fills:
            row = self._fill_row(order, fill)
            self._push("fill", [row], order.symbol)
            if self.faults("duplicate_fill"):
                self._push("fill", [row], order.symbol)
        self._push("orders", [self._order_push(order, report)], order.symbol)
        self._push("positions", self._position_rows(rest=False))  # every open one (or none)
        self._push(p.ACCOUNT_CHANNEL, self._account_push_rows())

    def _fill_row(self, order: _Order, fill: Fill) -> dict[str, Any]:
        """A ``fill`` push / ``fills`` row: fees negative (paid), as Bitget reports them."""
        fee = str(-fill.fee)
        return {"orderId": order.order_id, "tradeId": fill.trade_id, "symbol": order.symbol,
                "side": order.side.value, "orderType": "limit", "posMode": "one_way_mode",
                "price": str(fill.price), "baseVolume": str(fill.qty),
                "quoteVolume": str(fill.qty * fill.price), "profit": "0",
                "tradeSide": f"{order.side.value}_single", "tradeScope": "taker",
                "feeDetail": [{"feeCoin": "USDT", "deduction": "no", "totalDeductionFee": "0",
                               "totalFee": fee}],
                "cTime": str(order.created_ms), "uTime": str(order.created_ms),
                "clientOid": order.client_oid}  # fmt: skip

    def _order_push(self, order: _Order, report: OrderReport) -> dict[str, Any]:
        """An ``orders`` push: cumulative ``accBaseVolume``, the latest fill's fields."""
        fee = sum((f.fee for f in report.fills), ZERO)
        last = report.fills[-1] if report.fills else None
        return {"orderId": order.order_id, "clientOid": order.client_oid,
                "instId": order.symbol, "price": str(order.price), "size": str(order.qty),
                "side": order.side.value, "posSide": "net",
                "tradeSide": f"{order.side.value}_single", "posMode": "one_way_mode",
                "orderType": "limit", "force": "ioc", "marginMode": order.margin_mode,
                "marginCoin": p.MARGIN_COIN, "leverage": self._order_leverage(order),
                "status": _STATUS[report.status],
                "accBaseVolume": str(report.filled_qty),
                "priceAvg": str(report.avg_price) if report.avg_price is not None else "",
                "tradeId": last.trade_id if last else "",
                "fillPrice": str(last.price) if last else "",
                "baseVolume": str(last.qty) if last else "",
                "fillTime": str(order.created_ms) if last else "",
                "fillFee": str(-last.fee) if last else "",
                "fillFeeCoin": p.MARGIN_COIN if last else "",
                "tradeScope": "T" if last else "",
                "feeDetail": [{"feeCoin": p.MARGIN_COIN, "fee": str(-fee)}],
                "reduceOnly": "yes" if order.reduce_only else "no",
                "pnl": "0", "totalProfits": "0", "stpMode": "none", "enterPointSource": "API",
                "cancelReason": "" if report.status is OrderStatus.FILLED else "normal_cancel",
                "cTime": str(order.created_ms), "uTime": str(self._now_ms())}  # fmt: skip

    def _order_leverage(self, order: _Order) -> str:
        return str(self._setting(order.symbol).leverage(order.side is Side.BUY))

    def _find(self, order_id: str | None, client_oid: str | None) -> _Order | None:
        """The order by ``orderId`` (which wins when both are given) or ``clientOid``."""
        cid = self.by_order_id.get(order_id, "") if order_id else client_oid
        return self.orders.get(cid) if cid else None

    async def _cancel(self, req: HttpRequest) -> Any:
        try:
            body = wire.decode_cancel(req.body)
        except wire.Malformed as exc:
            raise p.PARAM_INVALID(detail=exc.reason) from None
        _product_type(body.productType)
        self._inst(body.symbol)
        if not body.orderId and not body.clientOid:
            raise p.PARAM_INVALID(detail="orderId or clientOid is required")
        raise p.NO_ORDER_TO_CANCEL()  # every emulated order is IOC: terminal already

    async def _detail(self, req: HttpRequest) -> Any:
        params = self._params(req, "symbol", "productType")
        self._inst(params["symbol"])
        if not params.get("orderId") and not params.get("clientOid"):
            raise p.PARAM_INVALID(detail="orderId or clientOid is required")
        order = self._find(params.get("orderId"), params.get("clientOid"))
        report = self.market.order(VENUE, order.client_oid) if order else None
        if order is None or report is None:
            raise p.ORDER_NOT_FOUND()
        fee = sum((f.fee for f in report.fills), ZERO)
        return {"symbol": order.symbol, "size": str(order.qty), "orderId": order.order_id,
                "clientOid": order.client_oid, "baseVolume": str(report.filled_qty),
                "priceAvg": str(report.avg_price) if report.avg_price is not None else "",
                "fee": str(-fee), "price": str(order.price), "state": _STATUS[report.status],
                "side": order.side.value, "force": "ioc", "totalProfits": "0", "posSide": "net",
                "marginCoin": p.MARGIN_COIN, "orderType": "limit",
                "leverage": self._order_leverage(order), "marginMode": order.margin_mode,
                "reduceOnly": "YES" if order.reduce_only else "NO",
                "tradeSide": f"{order.side.value}_single", "posMode": "one_way_mode",
                "orderSource": "normal", "cancelReason": "",
                "cTime": str(order.created_ms), "uTime": str(order.created_ms)}  # fmt: skip

    async def _pending(self, req: HttpRequest) -> Any:
        params = self._params(req, "productType")
        if params.get("symbol"):
            self._inst(params["symbol"])
        return {"entrustedList": [], "endId": ""}  # IOC only: nothing ever rests

    async def _fills(self, req: HttpRequest) -> Any:
        params = self._params(req, "productType")
        if params.get("orderId"):
            orders = [self._find(params["orderId"], None)]
        else:
            orders = list(self.orders.values())
        rows: list[dict[str, Any]] = []
        for order in orders:
            report = self.market.order(VENUE, order.client_oid) if order else None
            if order is None or report is None:
                continue
            if params.get("symbol") and params["symbol"] != order.symbol:
                continue
            rows.extend(self._fill_row(order, f) for f in report.fills)
        return {"fillList": rows, "endId": rows[-1]["tradeId"] if rows else ""}


async def _close_after(ws: AsgiWebSocket, outbox: trio.MemorySendChannel[str], text: str) -> None:
    """Queue ``text``, give the writer a moment to send it, then close the socket."""
    outbox.send_nowait(text)
    await trio.sleep(0.05)
    await ws.close(1008)


def _subscribed_to(key: str) -> Callable[[set[str]], bool]:
    return lambda subscribed: key in subscribed


def _event_error(code: str, msg: str, arg: wire.Arg | None = None) -> str:
    frame: dict[str, Any] = {"event": "error", "code": code, "msg": msg}
    if arg is not None:
        frame["arg"] = arg
    return wire.encode(frame)


def _product_type(value: str | None) -> None:
    """``productType`` when given must be USDT-FUTURES (the docs' examples also use the
    lower-case spelling)."""
    if value is not None and value.upper() != p.PRODUCT_TYPE:
        raise p.PRODUCT_TYPE_INVALID(value=value)


def _reject_error(reason: str) -> ApiError:
    """The venue's code for a market-side refusal (``Execution.reason``)."""
    text = reason.lower()
    if "duplicate" in text:
        return p.CLIENT_OID_DUPLICATE()
    if "reduce-only" in text:
        return p.SIZE_OVER_OPEN_MAX(reason=reason)
    if "notional" in text:
        return p.BELOW_MIN_AMOUNT(amount=f"({reason})")
    return p.PARAM_INVALID(detail=reason)


def _contract(inst: Instrument) -> dict[str, Any]:
    """A ``contracts`` row: tick = ``priceEndStep × 10^-pricePlace``, lot = ``sizeMultiplier``."""
    place = _decimals(inst.tick_size)
    end_step = inst.tick_size.scaleb(place)
    return {"symbol": inst.symbol, "baseCoin": inst.asset, "quoteCoin": inst.quote,
            "buyLimitPriceRatio": "0.01", "sellLimitPriceRatio": "0.01", "feeRateUpRatio": "0.005",
            "makerFeeRate": str(inst.maker_fee), "takerFeeRate": str(inst.taker_fee),
            "openCostUpRatio": "0.01", "supportMarginCoins": [p.MARGIN_COIN],
            "minTradeNum": str(inst.min_size), "priceEndStep": str(end_step.normalize()),
            "volumePlace": str(_decimals(inst.lot_size)), "pricePlace": str(place),
            "sizeMultiplier": str(inst.lot_size), "symbolType": "perpetual",
            "minTradeUSDT": str(inst.min_notional), "maxSymbolOrderNum": "999999",
            "maxProductOrderNum": "999999", "maxPositionNum": "150", "symbolStatus": "normal",
            "offTime": "-1", "limitOpenTime": "-1", "deliveryTime": "", "deliveryStartTime": "",
            "launchTime": "", "fundInterval": str(inst.funding_interval_hours),
            "minLever": "1", "maxLever": str(inst.max_leverage or 125), "posLimit": "0.05",
            "maintainTime": "", "maxMarketOrderQty": "220", "maxOrderQty": "1200"}  # fmt: skip


_ROUTES: dict[tuple[str, str], Callable[[BitgetEmulator, HttpRequest], Any]] = {
    ("GET", "/api/v2/public/time"): BitgetEmulator._time,
    ("GET", "/api/v2/mix/market/contracts"): BitgetEmulator._contracts,
    ("GET", "/api/v2/mix/market/current-fund-rate"): BitgetEmulator._fund_rate,
    ("GET", "/api/v2/common/trade-rate"): BitgetEmulator._trade_rate,
    ("GET", "/api/v2/mix/account/accounts"): BitgetEmulator._accounts,
    ("GET", "/api/v2/mix/position/all-position"): BitgetEmulator._all_position,
    PLACE_ORDER: BitgetEmulator._place,
    ("POST", "/api/v2/mix/order/cancel-order"): BitgetEmulator._cancel,
    ("GET", "/api/v2/mix/order/detail"): BitgetEmulator._detail,
    ("GET", "/api/v2/mix/order/orders-pending"): BitgetEmulator._pending,
    ("GET", "/api/v2/mix/order/fills"): BitgetEmulator._fills,
    ("GET", "/api/v2/mix/account/account"): BitgetEmulator._single_account,
    ("POST", "/api/v2/mix/account/set-leverage"): BitgetEmulator._set_leverage,
    ("POST", "/api/v2/mix/account/set-margin-mode"): BitgetEmulator._set_margin_mode,
}
assert set(_ROUTES) == set(p.ENDPOINTS), "every served endpoint has its documented limit"
