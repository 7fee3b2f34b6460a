"""A Bybit V5 (linear) emulator on loopback, backed by the shared simulated market.

Independent of the Bybit client: nothing here imports ``arbtrio.venues``. Every request is
read, every signature checked and every error coded by the emulator's own reading of the
venue documentation, kept in :mod:`arbtrio.emulators.bybit_protocol` (one place per rule),
so a bug in the client's codecs or signing cannot be mirrored on this side of the loopback.
See specs/011-bybit.md for what is faithful and what is simplified.

* public stream ``/v5/public/linear``: ``subscribe``/``unsubscribe``/``ping`` with Bybit's
  acks and pong; ``orderbook.{1,50,200,1000}.{symbol}``: a snapshot on subscribe, then a
  delta per market tick in which the ladder changed (``u`` + 1 each, ``seq`` cross
  sequence, size ``"0"`` deletes); level 1 is snapshot-only, pushed when the top changes
  and re-pushed with the same ``u`` after 3 s unchanged. Every book frame carries ``ts``
  (its creation on the emulator's wall clock, ms) and ``cts`` (2 ms earlier); the
  :attr:`BybitEmulator.book_delay_s` knob holds every book frame back that long while it
  keeps its timestamps (a lagging but flowing feed).
* private stream ``/v5/private``: ``auth`` with the expires signature, then ``order``,
  ``execution``, ``position`` and ``wallet`` pushes for every order the REST API executes.
* REST: market time, instruments (paginated), orderbook, tickers, fee rate, wallet,
  positions, order create/cancel/realtime/history, execution list; account info,
  set-margin-mode (the unified account's, account-wide) and set-leverage (per symbol),
  reported in account info and in position rows and pushes with the mark and the
  liquidation price (:func:`~arbtrio.emulators.bybit_protocol.isolated_liq_price`,
  :func:`~arbtrio.emulators.bybit_protocol.cross_liq_price`). Signed endpoints check
  the key, the timestamp window and the HMAC, then the per-UID endpoint budget (with the
  ``X-Bapi-Limit*`` headers); every path counts towards the IP pool (HTTP 403 ban). Answers
  are the ``{retCode, retMsg, result, retExtInfo, time}`` envelope with Bybit's codes.
* Faults (:class:`FaultSwitch` over ``market.fault("bybit", kind)``; ``emulator.faults``
  forces them in tests): per order ``reject``, ``rate_limit``, ``ack_timeout_executed`` /
  ``_not_executed`` (the answer is held past any client timeout), ``duplicate_fill`` (an
  execution pushed twice); per feed tick ``feed_disconnect`` (socket closed),
  ``sequence_gap`` (a delta is lost), ``stale_feed`` (a tick is withheld). ``partial_fill``
  happens inside ``market.execute``.
* Every authenticated order placement goes to the order record (:meth:`_create`), served at
  ``GET /__emulator__/orders``.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, TypeVar

import attrs
import msgspec
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
from arbtrio.emulators.bybit_protocol import (
    BOOK_DEPTHS,
    DEFAULT_RECV_WINDOW,
    IP_BAN_S,
    IP_LIMIT,
    IP_WINDOW_S,
    LEVEL1_REPUSH_S,
    MARGIN_MODES,
    MMR,
    PRIVATE_PATH,
    PRIVATE_TOPIC_WALLET,
    PRIVATE_TOPICS_ALL_IN_ONE,
    PRIVATE_TOPICS_LINEAR,
    PUBLIC_ARGS_MAX_CHARS,
    PUBLIC_PATH,
    UID_LIMITS,
    UID_WINDOW_S,
    ApiError,
    BadFrame,
    Code,
    CreateOrder,
    check_timestamp,
    cross_liq_price,
    decimal_string,
    decode_cancel,
    decode_create,
    decode_set_leverage,
    decode_set_margin_mode,
    decode_ws_op,
    isolated_liq_price,
    json_object,
    params_error,
    parse_query,
    plain,
    rest_prehash,
    signature_matches,
    valid_link_id,
    wire_text,
    ws_auth_prehash,
)
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.market import SimMarket

__all__ = ["ApiError", "BybitEmulator"]

log = structlog.get_logger("arbtrio.emulators.bybit")

VENUE = "bybit"
ZERO = Decimal(0)
# What instruments-info publishes and create enforces (one value for every symbol).
MAX_ORDER_QTY = Decimal("1190")
MAX_MKT_ORDER_QTY = Decimal("500")
MAX_PRICE = Decimal("1999999.80")
TIME_IN_FORCE = frozenset({"GTC", "IOC", "FOK", "PostOnly", "RPI"})
RECENT_CLOSED = 500  # realtime openOnly=1 keeps this many recent closed orders
DEFAULT_LEVERAGE = Decimal(10)  # a symbol's leverage until set (the docs' examples show 10)
LEVERAGE_STEP = Decimal("0.01")  # leverageFilter.leverageStep
BOOK_QUEUE = 10_000  # book frames one public connection may have waiting; more drops it
_SIDES = {"Buy": Side.BUY, "Sell": Side.SELL}
_STATUS = {
    OrderStatus.FILLED: "Filled",
    OrderStatus.CANCELLED: "Cancelled",
    OrderStatus.REJECTED: "Rejected",
    OrderStatus.OPEN: "New",
    OrderStatus.PENDING: "New",
}
T = TypeVar("T")


def _decimals(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


@attrs.define(eq=False)
class _Topic:
    symbol: str
    depth: int
    u: int
    version: int
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]
    pushed_at: float
    restarts: int = 0  # the emulator's restart count this topic has caught up with


class _Public:
    """One public connection: its topics, and its book frames waiting to go out (due time,
    text), in order, so that a delayed feed keeps its order (``book_delay_s``)."""

    __slots__ = ("outbox", "overflowed", "queued", "topics")

    def __init__(self) -> None:
        self.topics: dict[str, _Topic] = {}
        self.outbox, self.queued = trio.open_memory_channel[tuple[float, str]](BOOK_QUEUE)
        self.overflowed = False


@attrs.define(eq=False)
class _Order:
    order_id: str
    link_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    reduce_only: bool
    created_ms: int
    executions: list[dict[str, Any]] = attrs.Factory(list)  # the rows pushed, for REST


@attrs.define(eq=False)
class _Call:
    """One REST request being answered: its parameters and the limit headers it earned."""

    req: HttpRequest
    params: dict[str, str]
    headers: dict[str, str] = attrs.Factory(dict)


@attrs.define(eq=False)
class _Draft:
    """An order placement's fields as the body gave them (strings kept as sent; fields
    that are missing or of the wrong type are empty), for the order record."""

    client_order_id: str = ""
    symbol: str = ""
    side: str = ""
    qty: str = ""
    price: str = ""
    reduce_only: bool = False
    recorded: bool = False

    @classmethod
    def of(cls, body: bytes) -> _Draft:
        try:
            obj = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return cls()
        if not isinstance(obj, dict):
            return cls()

        def text(name: str) -> str:
            value = obj.get(name)
            return value if isinstance(value, str) else ""

        side = {"Buy": "buy", "Sell": "sell"}.get(text("side"), "")
        return cls(client_order_id=text("orderLinkId"), symbol=text("symbol"), side=side,
                   qty=text("qty"), price=text("price"),
                   reduce_only=obj.get("reduceOnly") is True)  # fmt: skip


class BybitEmulator(TwoSocketEmulator[_Public]):
    """The ASGI application; :meth:`serve` runs it on loopback.

    Options: ``wall_clock`` (the venue's clock, seconds: timestamps, the signature window,
    ``time``), ``timeout_hold_s`` (how long an ack-timeout fault holds the answer),
    ``page_size`` (caps every page of instruments-info), ``ip_limit``/``ip_ban_s`` (the IP
    pool per 5 s and the ban). ``requests`` counts REST requests received; ``faults`` is the
    :class:`FaultSwitch`; ``orders`` maps orderLinkId to the orders it accepted;
    ``margin_mode`` (the account's) and ``leverage`` (per symbol) are the settings;
    ``book_delay_s`` (tests, settable at any time) holds every book frame back.
    """

    venue = VENUE
    public_path = PUBLIC_PATH
    private_path = PRIVATE_PATH

    def __init__(
        self,
        market: SimMarket,
        driver: MarketDriver,
        credentials: ApiKeys,
        *,
        wall_clock: Callable[[], float] = time.time,
        timeout_hold_s: float = 30.0,
        page_size: int = 500,
        ip_limit: int = IP_LIMIT,
        ip_ban_s: float = IP_BAN_S,
    ) -> None:
        super().__init__(market, driver, credentials)
        self.wall_clock = wall_clock
        self.timeout_hold_s = timeout_hold_s
        self.page_size = page_size
        self.ip_limit = ip_limit
        self.ip_ban_s = ip_ban_s
        self.faults = FaultSwitch(market, VENUE)
        self.orders: dict[str, _Order] = {}  # orderLinkId → order
        self.by_order_id: dict[str, str] = {}
        self._push_ids = itertools.count(1)
        self._first_u = itertools.count(100_001)
        self._cross_seq = itertools.count(7_961_638_724)
        self._restarts = 0
        self._restart_type = "snapshot"
        self._uid_calls: dict[str, deque[float]] = {}
        self._ip_calls: deque[float] = deque()
        self._ip_banned_until = float("-inf")
        self.requests = 0  # REST requests received (tests read it)
        self.margin_mode = "REGULAR_MARGIN"  # the account's ("Default is regular margin")
        self.leverage: dict[str, Decimal] = {}  # per symbol; DEFAULT_LEVERAGE until set
        self.settings_updated_ms = 0
        self.book_delay_s = 0.0

    def _now_ms(self) -> int:
        return int(self.wall_clock() * 1000)

    # -- formatting ---------------------------------------------------------------------------
    def _levels(
        self, inst: Instrument, levels: Sequence[tuple[Decimal, Decimal]]
    ) -> list[list[str]]:
        """``[[price, size], ...]`` as strings on the instrument's decimals; a removed level
        (size 0) is ``"0"``, as the docs write a delete."""
        pd, sd = _decimals(inst.tick_size), _decimals(inst.lot_size)
        return [[f"{p:.{pd}f}", f"{s:.{sd}f}" if s else "0"] for p, s in levels]

    def _book_frame(self, topic: _Topic, kind: str, bids: Any, asks: Any) -> str:
        inst = self.instruments[topic.symbol]
        now_ms = self._now_ms()
        frame = {
            "topic": f"orderbook.{topic.depth}.{topic.symbol}",
            "type": kind,
            "ts": now_ms,
            "data": {
                "s": topic.symbol,
                "b": self._levels(inst, bids),
                "a": self._levels(inst, asks),
                "u": topic.u,
                "seq": next(self._cross_seq),
            },
            "cts": now_ms - 2,
        }
        return msgspec.json.encode(frame).decode()

    # -- public stream ------------------------------------------------------------------------
    def _public_state(self) -> _Public:
        return _Public()

    def _queue_book(self, conn: _Public, text: str) -> None:
        """Queue a book frame (its timestamps already set) to go out after ``book_delay_s``;
        a connection too slow to take :data:`BOOK_QUEUE` of them is dropped."""
        try:
            conn.outbox.send_nowait((trio.current_time() + self.book_delay_s, text))
        except trio.WouldBlock:
            conn.overflowed = True

    async def _book_sender(self, ws: AsgiWebSocket, conn: _Public, lock: trio.Lock) -> None:
        async for due, text in conn.queued:
            await trio.sleep_until(due)
            async with lock:
                await ws.send_text(text)

    def restart_books(self, frame_type: str = "snapshot") -> None:
        """Emulate a restart of the venue's book service (tests): on the next tick every
        subscribed topic gets its whole book with ``u == 1`` (documented: ``u == 1`` is a
        full snapshot after a service restart, to overwrite the local book) and counts on
        from 1. ``frame_type`` labels that frame on topics deeper than level 1 ("snapshot"
        or "delta"); level 1 is snapshot-only."""
        if frame_type not in ("snapshot", "delta"):
            raise ValueError(f"frame_type must be 'snapshot' or 'delta', got {frame_type!r}")
        self._restarts += 1
        self._restart_type = frame_type

    async def _public_reader(
        self, ws: AsgiWebSocket, conn_id: int, conn: _Public, lock: trio.Lock
    ) -> None:
        topics = conn.topics
        while (text := await ws.receive_text()) is not None:
            try:
                op = decode_ws_op(text)
            except BadFrame:
                await ws.send_text(_ack("", False, "error:invalid json", conn_id, ""))
                continue
            if op.op == "ping":
                await ws.send_text(_ack("ping", True, "pong", conn_id, op.req_id))
                continue
            if op.op not in ("subscribe", "unsubscribe"):
                await ws.send_text(
                    _ack(op.op, False, f"error:unknown op {op.op}", conn_id, op.req_id)
                )
                continue
            async with lock:
                error = self._topics_op(op.op, op.args, topics)
                await ws.send_text(_ack(op.op, not error, error, conn_id, op.req_id))
                if op.op == "subscribe" and not error:
                    for name in op.args:
                        self._queue_book(conn, self._subscribe(name, topics))

    def _topics_op(self, op: str, args: list[Any], topics: dict[str, _Topic]) -> str:
        """Why ``op`` on ``args`` is refused ("" when it is not); unsubscribing is applied."""
        names = [a for a in args if isinstance(a, str)]
        bad = [n for n in names if self._parse_topic(n) is None]
        if bad or len(names) != len(args):
            return f"error:handler not found,topic:{','.join(map(str, bad or args))}"
        if op == "unsubscribe":
            for name in names:
                topics.pop(name, None)
            return ""
        dup = [n for n in dict.fromkeys(names) if n in topics or names.count(n) > 1]
        if dup:
            return f"error:already subscribed,topic:{','.join(dup)}"
        if sum(map(len, [*topics, *names])) > PUBLIC_ARGS_MAX_CHARS:
            return f"error:args length exceeds {PUBLIC_ARGS_MAX_CHARS} characters"
        return ""

    def _subscribe(self, name: str, topics: dict[str, _Topic]) -> str:
        """Register topic ``name`` and return its snapshot frame."""
        parsed = self._parse_topic(name)
        assert parsed is not None
        symbol, depth = parsed
        bids, asks = self.market.book_levels(VENUE, symbol, depth)
        topic = _Topic(symbol=symbol, depth=depth, u=next(self._first_u),
                       version=self.market.book_version(VENUE, symbol), bids=bids, asks=asks,
                       pushed_at=trio.current_time(), restarts=self._restarts)  # fmt: skip
        topics[name] = topic
        return self._book_frame(topic, "snapshot", bids, asks)

    def _parse_topic(self, name: str) -> tuple[str, int] | None:
        """``orderbook.{depth}.{symbol}`` → (symbol, depth), or None (other topics are not
        served)."""
        parts = name.split(".")
        if len(parts) != 3 or parts[0] != "orderbook" or not parts[1].isdecimal():
            return None
        depth = int(parts[1])
        if depth not in BOOK_DEPTHS or parts[2] not in self.instruments:
            return None
        return parts[2], depth

    async def _publisher(
        self,
        ws: AsgiWebSocket,
        conn: _Public,
        lock: trio.Lock,
        cancel_scope: trio.CancelScope,
    ) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._book_sender, ws, conn, lock)
            await self._publish(ws, conn, lock, cancel_scope)
            nursery.cancel_scope.cancel()

    async def _publish(
        self, ws: AsgiWebSocket, conn: _Public, lock: trio.Lock, cancel_scope: trio.CancelScope
    ) -> None:
        topics = conn.topics
        while True:
            await self.driver.wait_tick()
            if conn.overflowed:
                log.info("bybit.emulator.slow_consumer", queued=BOOK_QUEUE)
                await ws.close(1008)
                cancel_scope.cancel()
                return
            if not topics:
                continue
            if self.faults("feed_disconnect"):
                log.info("bybit.emulator.fault", kind="feed_disconnect")
                await ws.close(1001)
                cancel_scope.cancel()
                return
            if self.faults("stale_feed"):
                continue
            lose = self.faults("sequence_gap")
            now = trio.current_time()
            async with lock:
                for topic in list(topics.values()):
                    frame = self._next_frame(topic, now)
                    if frame is None:
                        continue
                    if lose and topic.depth != 1:
                        lose = False  # this delta is lost on the wire: the client sees a gap
                        log.info("bybit.emulator.fault", kind="sequence_gap", u=topic.u)
                        continue
                    self._queue_book(conn, frame)

    def _next_frame(self, topic: _Topic, now: float) -> str | None:
        """The frame this tick owes ``topic`` (state advanced), or None."""
        version = self.market.book_version(VENUE, topic.symbol)
        if topic.restarts != self._restarts:
            topic.restarts, topic.u = self._restarts, 1
            topic.version, topic.pushed_at = version, now
            topic.bids, topic.asks = self.market.book_levels(VENUE, topic.symbol, topic.depth)
            kind = "snapshot" if topic.depth == 1 else self._restart_type
            return self._book_frame(topic, kind, topic.bids, topic.asks)
        if topic.depth == 1:
            if version == topic.version and now - topic.pushed_at < LEVEL1_REPUSH_S:
                return None
            topic.version = version
            bids, asks = self.market.book_levels(VENUE, topic.symbol, 1)
            changed = (bids, asks) != (topic.bids, topic.asks)
            if not changed and now - topic.pushed_at < LEVEL1_REPUSH_S:
                return None
            if changed:
                topic.u += 1
            topic.bids, topic.asks, topic.pushed_at = bids, asks, now
            return self._book_frame(topic, "snapshot", bids, asks)
        if version == topic.version:
            return None
        bids, asks = self.market.book_levels(VENUE, topic.symbol, topic.depth)
        db = diff_ladder(topic.bids, bids, ZERO)
        da = diff_ladder(topic.asks, asks, ZERO)
        topic.version, topic.bids, topic.asks = version, bids, asks
        if not db and not da:
            return None
        topic.u += 1
        topic.pushed_at = now
        return self._book_frame(topic, "delta", db, da)

    # -- private stream -----------------------------------------------------------------------
    async def _private_ws(self, ws: AsgiWebSocket) -> None:
        if not await ws.accept():
            return
        conn_id = next(self._ids)
        outbox_send, outbox_recv = trio.open_memory_channel[str](1000)
        subscribed: set[str] = set()
        authed = False
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(drain, ws, outbox_recv)
                while (text := await ws.receive_text()) is not None:
                    try:
                        op = decode_ws_op(text)
                    except BadFrame:
                        outbox_send.send_nowait(_ack("", False, "error:invalid json", conn_id, ""))
                        continue
                    if op.op == "auth":
                        error = self._check_ws_auth(op.args)
                        outbox_send.send_nowait(_ack("auth", not error, error, conn_id, op.req_id))
                        if error:
                            await trio.sleep(0.05)  # let the refusal out before closing
                            await ws.close(1008)
                            break
                        authed = True
                        self._private[conn_id] = (outbox_send, subscribed)
                    elif op.op == "ping":
                        pong = {"req_id": op.req_id, "op": "pong", "args": [str(self._now_ms())],
                                "conn_id": str(conn_id)}  # fmt: skip
                        outbox_send.send_nowait(msgspec.json.encode(pong).decode())
                    elif not authed:
                        outbox_send.send_nowait(
                            _ack(op.op, False, "Request not authorized", conn_id, op.req_id)
                        )
                    elif op.op == "subscribe":
                        error = _private_topics_error(op.args)
                        if not error:
                            subscribed.update(op.args)
                        outbox_send.send_nowait(
                            _ack("subscribe", not error, error, conn_id, op.req_id)
                        )
                    else:
                        outbox_send.send_nowait(
                            _ack(op.op, False, f"error:unknown op {op.op}", conn_id, op.req_id)
                        )
                nursery.cancel_scope.cancel()
        except trio.ClosedResourceError:
            pass
        finally:
            self._private.pop(conn_id, None)

    def _check_ws_auth(self, args: list[Any]) -> str:
        """Why ``auth`` args ``[api_key, expires_ms (int, in the future), signature]`` are
        refused, or "" when they pass."""
        if len(args) != 3:
            return "error:params error"
        key, expires, sign = args
        if not isinstance(key, str) or not isinstance(sign, str):
            return "error:params error"
        if not isinstance(expires, int) or isinstance(expires, bool):
            return "error:params error"
        if key != self.credentials.api_key:
            return "error:API key is invalid"
        if expires <= self._now_ms():
            return "error:params error: request expired"
        if not signature_matches(self.credentials.api_secret, ws_auth_prehash(expires), sign):
            return "error:signature verification failed"
        return ""

    def _push(self, topic: str, data: list[Any]) -> None:
        frame = {
            "id": f"{topic}-{next(self._push_ids)}",
            "topic": topic,
            "creationTime": self._now_ms(),
            "data": data,
        }
        text = msgspec.json.encode(frame).decode()
        self._broadcast(text, lambda names: topic in names or f"{topic}.linear" in names)

    # -- REST: the request path ---------------------------------------------------------------
    async def http(self, scope: Any, receive: Any, send: Any) -> None:
        req = await read_http_request(scope, receive)
        self.requests += 1
        if not self._ip_admits():
            await send_http_response(send, 403, b"access too frequent", content_type="text/plain")
            return
        handler = _ROUTES.get((req.method, req.path))
        if handler is None:
            body = _envelope(ApiError(Code.ROUTE, "route not found"), self._now_ms())
            await send_http_response(send, 404, body)
            return
        if req.method == "GET" and req.body:
            await send_http_response(
                send, 403, b"GET requests carry no body", content_type="text/plain"
            )
            return
        call = _Call(req, parse_query(req.query))
        status = 200
        try:
            result: Any = await handler(self, call)
        except ApiError as exc:
            status, result = exc.http_status, exc
        await send_http_response(send, status, _envelope(result, self._now_ms()), call.headers)

    def _ip_admits(self) -> bool:
        """Count the request in the IP pool; False while banned or when it breaches the pool
        (which starts a ban)."""
        now = trio.current_time()
        if now < self._ip_banned_until:
            return False
        calls = self._ip_calls
        while calls and calls[0] <= now - IP_WINDOW_S:
            calls.popleft()
        if len(calls) >= self.ip_limit:
            self._ip_banned_until = now + self.ip_ban_s
            log.info("bybit.emulator.ip_ban", seconds=self.ip_ban_s)
            return False
        calls.append(now)
        return True

    def _authenticate(self, req: HttpRequest) -> None:
        """Check the signed request's key, timestamp window and signature (raises
        :class:`ApiError`): missing auth headers or an unknown key → HTTP 401 with 10003;
        a timestamp outside the window → 10002; a wrong signature → 10004."""
        h = req.headers
        key = h.get("x-bapi-api-key", "")
        timestamp = h.get("x-bapi-timestamp", "")
        sign = h.get("x-bapi-sign", "")
        required = (("X-BAPI-API-KEY", key), ("X-BAPI-TIMESTAMP", timestamp),
                    ("X-BAPI-SIGN", sign))  # fmt: skip
        missing = [name for name, value in required if not value]
        if missing:
            raise ApiError(Code.API_KEY, f"missing auth headers: {', '.join(missing)}",
                           http_status=401)  # fmt: skip
        if key != self.credentials.api_key:
            raise ApiError(Code.API_KEY, "API key is invalid.", http_status=401)
        recv_window = h.get("x-bapi-recv-window", DEFAULT_RECV_WINDOW)
        if not all(v.isascii() and v.isdigit() for v in (timestamp, recv_window)):
            raise params_error("X-BAPI-TIMESTAMP and X-BAPI-RECV-WINDOW must be integers")
        check_timestamp(int(timestamp), int(recv_window), self._now_ms())
        raw = req.query.encode("latin-1") if req.method == "GET" else req.body
        text = rest_prehash(timestamp, key, recv_window, wire_text(raw))
        if not signature_matches(self.credentials.api_secret, text, sign):
            raise ApiError(Code.SIGN, "error sign! please check your signature")

    def _spend(self, call: _Call) -> None:
        """Count the call in its endpoint's per-UID 1 s window and set the limit headers
        (reset time when the window is used up, else now); 10006 when over."""
        limit = UID_LIMITS.get(call.req.path)
        if limit is None:
            return
        now = trio.current_time()
        calls = self._uid_calls.setdefault(call.req.path, deque())
        while calls and calls[0] <= now - UID_WINDOW_S:
            calls.popleft()
        over = len(calls) >= limit
        if not over:
            calls.append(now)
        remaining = limit - len(calls)
        reset = now if remaining > 0 else calls[0] + UID_WINDOW_S
        call.headers = {
            "X-Bapi-Limit": str(limit),
            "X-Bapi-Limit-Status": str(remaining),
            "X-Bapi-Limit-Reset-Timestamp": str(int((self.wall_clock() + reset - now) * 1000)),
        }
        if over:
            raise ApiError(Code.TOO_MANY_VISITS, "Too many visits!")

    def _signed(self, call: _Call) -> None:
        """A private endpoint's checks: authentication, then the UID budget."""
        self._authenticate(call.req)
        self._spend(call)

    @staticmethod
    def _linear(params: dict[str, str]) -> None:
        category = params.get("category", "")
        if category != "linear":
            raise params_error(f"category {category!r} is not supported (linear only)")

    def _inst(self, symbol: str) -> Instrument:
        inst = self.instruments.get(symbol)
        if inst is None:
            raise params_error(f"symbol invalid: {symbol!r}")
        return inst

    # -- REST: market data --------------------------------------------------------------------
    async def _time(self, call: _Call) -> Any:
        now = self.wall_clock()
        return {"timeSecond": str(int(now)), "timeNano": str(int(now * 1e9))}

    async def _instruments_info(self, call: _Call) -> Any:
        params = call.params
        self._linear(params)
        insts = list(self.instruments.values())
        if "symbol" in params:
            insts = [self._inst(params["symbol"])]
        if params.get("status", "Trading") != "Trading":
            insts = []
        page, nxt = _page(insts, params, default=500, maximum=1000, cap=self.page_size)
        return {"category": "linear", "list": [_instrument_info(i) for i in page],
                "nextPageCursor": nxt}  # fmt: skip

    async def _orderbook(self, call: _Call) -> Any:
        params = call.params
        self._linear(params)
        inst = self._inst(params.get("symbol", ""))
        depth = _bounded_int(params, "limit", default=25, low=1, high=1000)
        bids, asks = self.market.book_levels(VENUE, inst.symbol, depth)
        now_ms = self._now_ms()
        return {"s": inst.symbol, "b": self._levels(inst, bids), "a": self._levels(inst, asks),
                "ts": now_ms, "u": self.market.book_version(VENUE, inst.symbol),
                "seq": next(self._cross_seq), "cts": now_ms - 2}  # fmt: skip

    async def _tickers(self, call: _Call) -> Any:
        params = call.params
        self._linear(params)
        symbols = [self._inst(params["symbol"]).symbol] if "symbol" in params else list(
            self.instruments)  # fmt: skip
        out = []
        for symbol in symbols:
            inst = self.instruments[symbol]
            fr = self.market.funding_rate(VENUE, symbol)
            bids, asks = self.market.book_levels(VENUE, symbol, 1)
            nxt = fr.next_funding_ts
            next_ms = int((self.wall_clock() + (nxt - trio.current_time())) * 1000) if nxt else 0
            bid, bid_size = self._levels(inst, bids)[0] if bids else ["", ""]
            ask, ask_size = self._levels(inst, asks)[0] if asks else ["", ""]
            out.append({"symbol": symbol, "lastPrice": bid, "markPrice": bid,
                        "bid1Price": bid, "bid1Size": bid_size, "ask1Price": ask,
                        "ask1Size": ask_size, "fundingRate": plain(fr.rate),
                        "nextFundingTime": str(next_ms),
                        "fundingIntervalHour": str(fr.interval_hours)})  # fmt: skip
        return {"category": "linear", "list": out}

    # -- REST: account ------------------------------------------------------------------------
    async def _fee_rate(self, call: _Call) -> Any:
        self._signed(call)
        params = call.params
        self._linear(params)
        insts = [self._inst(params["symbol"])] if "symbol" in params else self.instruments.values()
        return {"list": [{"symbol": i.symbol, "takerFeeRate": plain(i.taker_fee),
                          "makerFeeRate": plain(i.maker_fee)} for i in insts]}  # fmt: skip

    async def _wallet(self, call: _Call) -> Any:
        self._signed(call)
        params = call.params
        if params.get("accountType") != "UNIFIED":
            raise params_error("accountType must be UNIFIED")
        coins = {c for c in params.get("coin", "").split(",") if c}
        return {"list": [self._wallet_account(coins)]}

    def _wallet_account(self, coins: set[str] | None = None) -> dict[str, Any]:
        """The UNIFIED account: totals and ``coin[]`` (zero balances omitted; only ``coins``
        when given)."""
        rows, equity, available = [], ZERO, ZERO
        for b in self.market.balances(VENUE):
            equity += b.total
            available += b.available
            if b.total == 0 or (coins and b.currency not in coins):
                continue
            rows.append({"coin": b.currency, "equity": plain(b.total),
                         "walletBalance": plain(b.total), "locked": "0",
                         "unrealisedPnl": "0"})  # fmt: skip
        return {"accountType": "UNIFIED", "totalEquity": plain(equity),
                "totalWalletBalance": plain(equity), "totalAvailableBalance": plain(available),
                "coin": rows}  # fmt: skip

    async def _position_list(self, call: _Call) -> Any:
        """With ``symbol``: its row even when flat; with ``settleCoin``: rows of size > 0."""
        self._signed(call)
        params = call.params
        self._linear(params)
        if "symbol" in params:
            rows = [self._position_row(self._inst(params["symbol"]).symbol)]
        elif params.get("settleCoin"):
            rows = [self._position_row(p.symbol) for p in self.market.positions(VENUE)
                    if p.qty != 0
                    and self.instruments[p.symbol].quote == params["settleCoin"]]  # fmt: skip
        else:
            raise params_error("symbol or settleCoin is required")
        page, nxt = _page(rows, params, default=20, maximum=200)
        return {"category": "linear", "list": page, "nextPageCursor": nxt}

    def _position_row(self, symbol: str, *, push: bool = False) -> dict[str, Any]:
        """A position as ``/v5/position/list`` (``push``: the ``position`` topic) reports it:
        size and side, entry, the symbol's leverage, the mark (the book's mid on the tick)
        and the liquidation price (:meth:`_liq_price`; ``""`` when there is none, ``"0"`` on
        a flat push, as the docs' examples write them)."""
        qty = self.market.position(VENUE, symbol)
        entry = next(
            (p.entry_price for p in self.market.positions(VENUE) if p.symbol == symbol), None
        )
        side = "Buy" if qty > 0 else "Sell" if qty < 0 else ""
        price = plain(entry) if entry is not None else "0"
        mark = self._mark(symbol)
        liq = self._liq_price(symbol, qty, entry) if qty and entry else None
        row = {"category": "linear", "symbol": symbol, "side": side, "size": plain(abs(qty)),
               "positionIdx": 0, "avgPrice": price, "tradeMode": 0,
               "leverage": plain(self._leverage(symbol)),
               "markPrice": plain(mark) if mark is not None else "",
               "liqPrice": plain(liq) if liq is not None else ("0" if push and not qty else ""),
               "positionValue": plain(abs(qty) * entry) if entry is not None else "0",
               "positionStatus": "Normal", "updatedTime": str(self._now_ms())}  # fmt: skip
        if push:
            row["entryPrice"] = price  # the WS example's name for it
            del row["avgPrice"]
        return row

    def _leverage(self, symbol: str) -> Decimal:
        return self.leverage.get(symbol, DEFAULT_LEVERAGE)

    def _mark(self, symbol: str) -> Decimal | None:
        """The emulator's mark: the book's mid, on the tick (None with an empty book)."""
        bids, asks = self.market.book_levels(VENUE, symbol, 1)
        tops = [levels[0][0] for levels in (bids, asks) if levels]
        if not tops:
            return None
        tick = self.instruments[symbol].tick_size
        return (sum(tops, ZERO) / len(tops) / tick).to_integral_value(ROUND_HALF_EVEN) * tick

    def _liq_price(self, symbol: str, qty: Decimal, entry: Decimal) -> Decimal | None:
        """The position's liquidation price under the account's margin mode: isolated from
        its entry and leverage, cross from the account's balance (see
        :func:`isolated_liq_price`, :func:`cross_liq_price`); None (reported ``""``) when it
        falls at or below the minimum price or at or above the maximum, as the docs say."""
        inst = self.instruments[symbol]
        if self.margin_mode == "ISOLATED_MARGIN":
            liq = isolated_liq_price(entry, qty, self._leverage(symbol), inst.tick_size)
        else:
            equity = sum((b.total for b in self.market.balances(VENUE) if b.currency == inst.quote),
                         ZERO)  # fmt: skip
            for other in self.market.positions(VENUE):
                mark = self._mark(other.symbol)
                if other.symbol == symbol or other.entry_price is None or mark is None:
                    continue
                equity += other.qty * (mark - other.entry_price) - MMR * abs(other.qty) * mark
            liq = cross_liq_price(entry, qty, equity, inst.tick_size)
        return liq if inst.tick_size < liq < MAX_PRICE else None

    # -- REST: margin -------------------------------------------------------------------------
    async def _account_info(self, call: _Call) -> Any:
        """The unified account's settings: its margin mode (account-wide)."""
        self._signed(call)
        return {"marginMode": self.margin_mode, "updatedTime": str(self.settings_updated_ms),
                "unifiedMarginStatus": 6, "isMasterTrader": False, "spotHedgingStatus": "OFF",
                "dcpStatus": "OFF", "timeWindow": 0, "smpGroup": 0}  # fmt: skip

    async def _set_margin_mode(self, call: _Call) -> Any:
        """Switch the account's margin mode: ``{"reasons": []}``, also when it is already in
        that mode; refused (110073 with ``reasons``) while any linear position is open, and
        for portfolio margin (not emulated)."""
        self._signed(call)
        mode = decode_set_margin_mode(json_object(call.req.body)).setMarginMode
        if mode not in MARGIN_MODES:
            raise params_error(f"setMarginMode invalid: {mode!r}")
        if mode == "PORTFOLIO_MARGIN":
            raise _margin_mode_failed("portfolio margin is not emulated")
        if mode != self.margin_mode:
            held = [p.symbol for p in self.market.positions(VENUE) if p.qty != 0]
            if held:
                raise _margin_mode_failed(f"positions are open: {', '.join(held)}")
            self.margin_mode = mode
            self.settings_updated_ms = self._now_ms()
        return {"reasons": []}

    async def _set_leverage(self, call: _Call) -> Any:
        """Set a symbol's leverage: ``buyLeverage`` = ``sellLeverage`` (one-way mode), decimal
        strings on the 0.01 step in ``[1, maxLeverage]`` (10001 otherwise); the leverage in
        place already answers 110043 "leverage not modified"."""
        self._signed(call)
        body = decode_set_leverage(json_object(call.req.body))
        if body.category != "linear":
            raise params_error(f"category {body.category!r} is not supported (linear only)")
        inst = self._inst(body.symbol)
        buy, sell = decimal_string(body.buyLeverage), decimal_string(body.sellLeverage)
        if buy is None or sell is None:
            raise params_error("buyLeverage and sellLeverage must be decimal strings")
        if buy != sell:
            raise params_error("buyLeverage must be the same as sellLeverage in one-way mode")
        maximum = Decimal(inst.max_leverage or 100)
        if not 1 <= buy <= maximum or buy % LEVERAGE_STEP:
            raise params_error(f"leverage {body.buyLeverage} is not in [1, {maximum}] by 0.01")
        if buy == self._leverage(inst.symbol):
            raise ApiError(Code.LEVERAGE_NOT_MODIFIED, "leverage not modified")
        self.leverage[inst.symbol] = buy
        self.settings_updated_ms = self._now_ms()
        return {}

    # -- REST: orders -------------------------------------------------------------------------
    async def _create(self, call: _Call) -> Any:
        """Place one order: limit IOC only, one-way mode (``positionIdx`` 0), a required
        ``orderLinkId``.

        Every placement that passes authentication (key, timestamp, signature) is written to
        the order record, its fields as the body gave them (see :class:`_Draft`), with:

        * ``"executed"``: matched by the market (``filled`` may be 0 or partial: IOC), also
          when an ``ack_timeout_executed`` fault then withholds the answer, since the venue
          did execute it;
        * ``"rejected"``: answered with a retCode (``reason`` = ``"<code> <message>"``): the
          UID budget or the ``rate_limit`` fault (10006), a malformed or invalid body,
          a duplicate orderLinkId (110072), the ``reject`` fault (110007) or a matching
          refusal such as reduce-only with nothing to reduce (110017);
        * ``"unknown"``: the ``ack_timeout_not_executed`` fault: nothing is executed and the
          answer (10016) is held past any client timeout, so the client cannot know the
          outcome; recorded when the hold starts.

        A request refused by authentication is not a placement and is not recorded.
        """
        self._authenticate(call.req)
        draft = _Draft.of(call.req.body)
        try:
            return await self._place(call, draft)
        except ApiError as exc:
            if not draft.recorded:
                self._record(draft, "rejected", reason=exc.reason)
            raise

    def _record(self, draft: _Draft, outcome: str, *, filled: str = "0", reason: str = "") -> None:
        draft.recorded = True
        self.record_order(client_order_id=draft.client_order_id, symbol=draft.symbol,
                          side=draft.side, qty=draft.qty, price=draft.price,
                          reduce_only=draft.reduce_only, outcome=outcome, filled=filled,
                          reason=reason)  # fmt: skip

    async def _place(self, call: _Call, draft: _Draft) -> Any:
        market = self.market
        self._spend(call)
        body = decode_create(json_object(call.req.body))
        inst, side, qty, price = self._validate_create(body)
        if self.faults("rate_limit"):
            raise ApiError(Code.TOO_MANY_VISITS, "Too many visits!")
        cid = body.orderLinkId
        if cid in self.orders or market.order(VENUE, cid) is not None:
            raise ApiError(Code.LINK_ID_DUPLICATE, "OrderLinkedID is duplicate")
        await trio.sleep(market.latency(VENUE, "ack"))
        now = trio.current_time()
        if self.faults("reject"):
            market.reject(VENUE, inst.symbol, side=side, qty=qty, price=price,
                          reduce_only=body.reduceOnly, client_order_id=cid,
                          reason="available balance insufficient (injected)", now=now)  # fmt: skip
            raise ApiError(Code.AB_NOT_ENOUGH, "ab not enough for new order")
        if self.faults("ack_timeout_not_executed"):
            self._record(draft, "unknown", reason="not executed; answer withheld (ack timeout)")
            await trio.sleep(self.timeout_hold_s)
            raise ApiError(Code.SERVER, "Server Timeout")
        executed_late = self.faults("ack_timeout_executed")
        ex = market.execute(VENUE, inst.symbol, side=side, qty=qty, price=price,
                            reduce_only=body.reduceOnly, client_order_id=cid, now=now)  # fmt: skip
        if ex.status is OrderStatus.REJECTED:
            raise ApiError(*_reject_code(ex.reason))
        order = _Order(order_id=ex.venue_order_id, link_id=cid, symbol=inst.symbol, side=side,
                       qty=qty, price=price, reduce_only=body.reduceOnly,
                       created_ms=self._now_ms())  # fmt: skip
        self.orders[cid] = order
        self.by_order_id[order.order_id] = cid
        notes = [ex.reason, "answer withheld (ack timeout)" if executed_late else ""]
        reason = "; ".join(n for n in notes if n)
        self._record(draft, "executed", filled=plain(ex.filled_qty), reason=reason)
        self._push_order_events(order)
        if executed_late:
            await trio.sleep(self.timeout_hold_s)
        return {"orderId": order.order_id, "orderLinkId": cid}

    def _validate_create(self, body: CreateOrder) -> tuple[Instrument, Side, Decimal, Decimal]:
        """The documented create rules the emulator applies, in the order it applies them."""
        if body.category != "linear":
            raise params_error(f"category {body.category!r} is not supported (linear only)")
        inst = self._inst(body.symbol)
        side = _SIDES.get(body.side)
        if side is None:
            raise params_error(f"side invalid: {body.side!r}")
        if body.orderType not in ("Limit", "Market"):
            raise params_error(f"orderType invalid: {body.orderType!r}")
        if body.orderType != "Limit":
            raise params_error("the emulator takes Limit orders only")
        if body.timeInForce not in TIME_IN_FORCE:
            raise params_error(f"timeInForce invalid: {body.timeInForce!r}")
        if body.timeInForce != "IOC":
            raise params_error("the emulator takes timeInForce IOC only")
        if body.positionIdx != 0:
            raise ApiError(Code.PARAMS, "position idx not match position mode")
        if not valid_link_id(body.orderLinkId):
            raise params_error("orderLinkId must be 1 to 36 characters of [0-9A-Za-z_-]")
        if body.price is None:
            raise params_error("price is required for Limit orders")
        qty, price = decimal_string(body.qty), decimal_string(body.price)
        if qty is None or price is None:
            raise params_error("qty and price must be decimal strings")
        if not is_valid_price(inst, price):
            raise params_error(f"price {body.price} is not a multiple of tickSize")
        if not inst.tick_size <= price <= MAX_PRICE:
            raise ApiError(Code.PRICE_RANGE, "The order price is outside the allowed range")
        steps = qty / inst.lot_size
        if qty <= 0 or steps != steps.to_integral_value():
            raise ApiError(
                Code.QTY_TRUNCATED,
                "orderQty will be truncated to zero or is not a qtyStep multiple",
            )
        if not body.reduceOnly:  # reduce-only orders may close any remainder
            if qty > MAX_ORDER_QTY:
                raise ApiError(Code.PARAMS, "The number of contracts exceeds maximum limit allowed")
            if qty < inst.min_size:
                raise ApiError(Code.PARAMS, "The number of contracts exceeds minimum limit allowed")
            if qty * price < inst.min_notional:
                raise ApiError(Code.MIN_NOTIONAL, "Order does not meet minimum order value")
        return inst, side, qty, price

    def _push_order_events(self, order: _Order) -> None:
        """Private pushes for an executed order: one ``execution`` per fill, then ``order``,
        ``position`` (pushed on every create) and ``wallet``."""
        report = self.market.order(VENUE, order.link_id)
        assert report is not None
        leaves = order.qty
        for fill in report.fills:
            leaves -= fill.qty
            row = self._execution_row(order, fill, leaves)
            order.executions.append(row)
            self._push("execution", [row])
            if self.faults("duplicate_fill"):
                self._push("execution", [row])
        self._push("order", [self._order_row(order, report)])
        self._push("position", [self._position_row(order.symbol, push=True)])
        self._push("wallet", [self._wallet_account()])

    def _execution_row(self, order: _Order, fill: Fill, leaves: Decimal) -> dict[str, Any]:
        inst = self.instruments[order.symbol]
        return {
            "category": "linear", "symbol": order.symbol, "orderId": order.order_id,
            "orderLinkId": order.link_id, "side": _side(order.side),
            "orderPrice": plain(order.price), "orderQty": plain(order.qty),
            "leavesQty": plain(leaves), "orderType": "Limit", "execId": fill.trade_id,
            "execPrice": plain(fill.price), "execQty": plain(fill.qty),
            "execValue": plain(fill.price * fill.qty), "execFee": plain(fill.fee),
            "feeRate": plain(inst.taker_fee), "feeCurrency": inst.quote, "execType": "Trade",
            "execTime": str(order.created_ms), "isMaker": False,
            "seq": next(self._cross_seq),
        }  # fmt: skip

    def _order_row(self, order: _Order, report: OrderReport) -> dict[str, Any]:
        value = sum((f.qty * f.price for f in report.fills), ZERO)
        fee = sum((f.fee for f in report.fills), ZERO)
        rejected = report.status is OrderStatus.REJECTED
        leaves = ZERO if report.status.is_terminal else order.qty - report.filled_qty
        return {
            "category": "linear", "orderId": order.order_id, "orderLinkId": order.link_id,
            "symbol": order.symbol, "side": _side(order.side), "orderType": "Limit",
            "price": plain(order.price), "qty": plain(order.qty), "timeInForce": "IOC",
            "orderStatus": _STATUS[report.status],
            "avgPrice": plain(report.avg_price) if report.avg_price is not None else "",
            "leavesQty": plain(leaves), "leavesValue": plain(leaves * order.price),
            "cumExecQty": plain(report.filled_qty), "cumExecValue": plain(value),
            "cumExecFee": plain(fee), "reduceOnly": order.reduce_only, "closeOnTrigger": False,
            "rejectReason": report.reason if rejected else "EC_NoError",
            "cancelType": "CancelByIOC" if report.status is OrderStatus.CANCELLED else "UNKNOWN",
            "positionIdx": 0, "createdTime": str(order.created_ms),
            "updatedTime": str(self._now_ms()),
        }  # fmt: skip

    def _lookup(self, params: dict[str, str]) -> list[_Order]:
        """Orders matching a query, by the documented priority: orderId, then orderLinkId,
        then symbol, baseCoin, settleCoin (all orders when none is given)."""
        if params.get("orderId"):
            cid = self.by_order_id.get(params["orderId"], "")
            return [self.orders[cid]] if cid else []
        if params.get("orderLinkId"):
            order = self.orders.get(params["orderLinkId"])
            return [order] if order else []
        orders = list(self.orders.values())
        for key, attr in (("symbol", "symbol"), ("baseCoin", "asset"), ("settleCoin", "quote")):
            if params.get(key):
                return [o for o in orders
                        if getattr(self.instruments[o.symbol], attr) == params[key]]  # fmt: skip
        return orders

    async def _cancel(self, call: _Call) -> Any:
        self._signed(call)
        body = decode_cancel(json_object(call.req.body))
        if body.category != "linear":
            raise params_error(f"category {body.category!r} is not supported (linear only)")
        self._inst(body.symbol)
        if not body.orderId and not body.orderLinkId:
            raise params_error("orderId or orderLinkId is required")
        # Every emulated order is IOC, terminal by the time its create call answers: only
        # unfilled or partially filled orders can be cancelled.
        raise ApiError(Code.ORDER_NOT_EXISTS, "order not exists or too late to cancel")

    async def _realtime(self, call: _Call) -> Any:
        """``openOnly=0`` (default): open orders; ``openOnly=1``: up to 500 recent closed
        orders. One of symbol, baseCoin, settleCoin is required."""
        self._signed(call)
        params = call.params
        self._linear(params)
        if not any(params.get(k) for k in ("symbol", "baseCoin", "settleCoin")):
            raise params_error("symbol, baseCoin or settleCoin is required")
        open_only = params.get("openOnly", "0")
        if open_only not in ("0", "1"):
            raise params_error(f"openOnly invalid: {open_only!r}")
        rows = self._order_rows(params, closed=open_only == "1")
        if open_only == "1":
            rows = rows[-RECENT_CLOSED:]
        page, nxt = _page(rows, params, default=20, maximum=50)
        return {"category": "linear", "list": page, "nextPageCursor": nxt}

    async def _history(self, call: _Call) -> Any:
        """Closed orders (every emulated order, once its create call has answered)."""
        self._signed(call)
        params = call.params
        self._linear(params)
        page, nxt = _page(self._order_rows(params, closed=True), params, default=20, maximum=50)
        return {"category": "linear", "list": page, "nextPageCursor": nxt}

    def _order_rows(self, params: dict[str, str], *, closed: bool) -> list[dict[str, Any]]:
        rows = []
        for order in self._lookup(params):
            report = self.market.order(VENUE, order.link_id)
            if report is not None and report.status.is_terminal == closed:
                rows.append(self._order_row(order, report))
        return rows

    async def _execution_list(self, call: _Call) -> Any:
        self._signed(call)
        params = call.params
        self._linear(params)
        rows = [row for order in self._lookup(params) for row in order.executions]
        page, nxt = _page(rows, params, default=50, maximum=100)
        return {"category": "linear", "list": page, "nextPageCursor": nxt}


def _envelope(result: Any, now_ms: int) -> bytes:
    """``{retCode, retMsg, result, retExtInfo, time}``: 0/"OK" with ``result``, or the
    error's code and message with an empty result."""
    if isinstance(result, ApiError):
        body = {"retCode": result.code, "retMsg": result.message, "result": result.result,
                "retExtInfo": {}, "time": now_ms}  # fmt: skip
    else:
        body = {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now_ms}
    return msgspec.json.encode(body)


def _bounded_int(params: dict[str, str], name: str, *, default: int, low: int, high: int) -> int:
    """Integer parameter ``name`` in ``[low, high]`` (``default`` when absent); 10001 else."""
    text = params.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise params_error(f"{name} must be an integer in [{low}, {high}]")
    return int(text)


def _page(
    items: list[T], params: dict[str, str], *, default: int, maximum: int, cap: int = 0
) -> tuple[list[T], str]:
    """One page by ``limit`` (1 to ``maximum``, ``default`` when absent; pages are cut to
    ``cap`` when set) and ``cursor`` (opaque to clients: the page's offset), with the next
    page's cursor ("" on the last)."""
    limit = _bounded_int(params, "limit", default=default, low=1, high=maximum)
    if cap:
        limit = min(limit, cap)
    cursor = params.get("cursor") or "0"
    if not (cursor.isascii() and cursor.isdigit()):
        raise params_error("cursor invalid")
    start = int(cursor)
    end = start + limit
    return items[start:end], str(end) if end < len(items) else ""


def _private_topics_error(args: list[Any]) -> str:
    """Why a private ``subscribe`` is refused ("" when it is not): only the served topics,
    and the all-in-one and categorised forms not mixed in one request."""
    names = [a for a in args if isinstance(a, str)]
    served = PRIVATE_TOPICS_ALL_IN_ONE | PRIVATE_TOPICS_LINEAR | {PRIVATE_TOPIC_WALLET}
    if not names or len(names) != len(args) or not set(names) <= served:
        return f"error:handler not found,topic:{args}"
    if set(names) & PRIVATE_TOPICS_ALL_IN_ONE and set(names) & PRIVATE_TOPICS_LINEAR:
        return "error:all-in-one and categorised topics cannot be mixed in one request"
    return ""


def _margin_mode_failed(why: str) -> ApiError:
    """set-margin-mode's refusal: 110073 "Set margin mode failed" and the reason in
    ``result.reasons`` (the docs' shape; the reason code is the emulator's)."""
    reasons = [{"reasonCode": str(int(Code.SET_MARGIN_MODE_FAILED)), "reasonMsg": why}]
    return ApiError(Code.SET_MARGIN_MODE_FAILED, "Set margin mode failed",
                    result={"reasons": reasons})  # fmt: skip


def _ack(op: str, ok: bool, msg: str, conn_id: int, req_id: str) -> str:
    frame = {"success": ok, "ret_msg": msg, "conn_id": str(conn_id), "req_id": req_id, "op": op}
    return msgspec.json.encode(frame).decode()


def _side(side: Side) -> str:
    return "Buy" if side is Side.BUY else "Sell"


def _reject_code(reason: str) -> tuple[int, str]:
    """The retCode of a refusal by the simulated matching engine."""
    text = reason.lower()
    if "duplicate" in text:
        return Code.LINK_ID_DUPLICATE, "OrderLinkedID is duplicate"
    if "reduce-only" in text:
        message = f"current position is zero, cannot fix reduce-only order qty ({reason})"
        return Code.QTY_TRUNCATED, message
    if "notional" in text:
        return Code.MIN_NOTIONAL, f"Order does not meet minimum order value ({reason})"
    return Code.PARAMS, f"params error: {reason}"


def _instrument_info(inst: Instrument) -> dict[str, Any]:
    return {
        "symbol": inst.symbol, "contractType": "LinearPerpetual", "status": "Trading",
        "baseCoin": inst.asset, "quoteCoin": inst.quote, "settleCoin": inst.quote,
        "priceScale": str(_decimals(inst.tick_size)),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": f"{inst.max_leverage or 100}.00",
                           "leverageStep": "0.01"},
        "priceFilter": {"minPrice": plain(inst.tick_size), "maxPrice": plain(MAX_PRICE),
                        "tickSize": plain(inst.tick_size)},
        "lotSizeFilter": {"maxOrderQty": f"{MAX_ORDER_QTY:.3f}",
                          "minOrderQty": plain(inst.min_size), "qtyStep": plain(inst.lot_size),
                          "maxMktOrderQty": f"{MAX_MKT_ORDER_QTY:.3f}",
                          "minNotionalValue": plain(inst.min_notional)},
        "fundingInterval": inst.funding_interval_hours * 60,
        "upperFundingRate": "0.005", "lowerFundingRate": "-0.005",
    }  # fmt: skip


_Handler = Callable[[BybitEmulator, _Call], Awaitable[Any]]
_ROUTES: dict[tuple[str, str], _Handler] = {
    ("GET", "/v5/market/time"): BybitEmulator._time,
    ("GET", "/v5/market/instruments-info"): BybitEmulator._instruments_info,
    ("GET", "/v5/market/orderbook"): BybitEmulator._orderbook,
    ("GET", "/v5/market/tickers"): BybitEmulator._tickers,
    ("GET", "/v5/account/fee-rate"): BybitEmulator._fee_rate,
    ("GET", "/v5/account/wallet-balance"): BybitEmulator._wallet,
    ("GET", "/v5/account/info"): BybitEmulator._account_info,
    ("POST", "/v5/account/set-margin-mode"): BybitEmulator._set_margin_mode,
    ("POST", "/v5/position/set-leverage"): BybitEmulator._set_leverage,
    ("GET", "/v5/position/list"): BybitEmulator._position_list,
    ("GET", "/v5/order/realtime"): BybitEmulator._realtime,
    ("GET", "/v5/order/history"): BybitEmulator._history,
    ("GET", "/v5/execution/list"): BybitEmulator._execution_list,
    ("POST", "/v5/order/create"): BybitEmulator._create,
    ("POST", "/v5/order/cancel"): BybitEmulator._cancel,
}
