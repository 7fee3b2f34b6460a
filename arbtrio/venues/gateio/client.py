"""The Gate.io API v4 (USDT perpetual futures) venue client: REST over httpx, WS over
trio-websocket. Implements :class:`arbtrio.venues.base.VenueClient`.

Facts: ``/work/shared/venues/gate_kucoin.md`` part A; choices: ``specs/013-gateio.md``.

* Instruments: ``GET /futures/usdt/contracts``; sizes are contracts (× ``quanto_multiplier``
  = base units), converted only in :mod:`arbtrio.venues.gateio.convert`.
* Books: ``futures.order_book_update`` + REST snapshot ``with_id=true``, kept by
  :class:`~arbtrio.venues.gateio.books.GateBooks`; ``futures.ping`` every ``ping_interval``;
  silence for ``idle_timeout`` or an ``upgrade`` event ends the session, and
  :func:`run_reconnecting` reconnects with backoff and resubscribes.
* Orders: ``POST /futures/usdt/orders`` (signed contracts, ``text`` = the client order id,
  ``tif`` ioc); query and cancel by the numeric id when this client placed the order (the
  ``text`` lookup only works up to 60 s after an order finishes), else by ``text``.
* Private stream: ``futures.orders``, ``futures.usertrades`` (fills de-duplicated by trade
  id), ``futures.positions``, ``futures.balances``, each subscribe signed; after every
  (re)subscription and every malformed private frame, orders this client placed and has not
  yet seen finish are re-queried over REST and their state and fills re-emitted.
* Rate limits: a token bucket per endpoint class (see :data:`RATE_LIMITS`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

import structlog
import trio
from trio_websocket import WebSocketConnection

from arbtrio.core.instruments import Instrument
from arbtrio.core.types import (
    Balance,
    FundingRate,
    OrderAck,
    OrderEvent,
    OrderReport,
    OrderRequest,
    VenuePosition,
)
from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    BookCallback,
    Credentials,
    Disconnected,
    MalformedMessage,
    OrderNotFound,
    OutcomeUnknown,
    PreparedRequest,
    RateLimited,
)
from arbtrio.venues.contract_client import ContractClient, contract_position
from arbtrio.venues.gateio import codecs, convert, sign
from arbtrio.venues.gateio.books import BOOK_CHANNEL, GateBooks
from arbtrio.venues.gateio.codecs import VENUE, WsAuth, WsEnvelope, WsRequest, decode
from arbtrio.venues.gateio.errors import ORDER_FINISHED, error_for
from arbtrio.venues.gateio.prepare import (
    ORDER_ENDPOINT,
    GateAccount,
    prepare_order,
    prepare_request,
)
from arbtrio.venues.ratelimit import TokenBucket
from arbtrio.venues.reconnect import Backoff, Readiness, run_reconnecting
from arbtrio.venues.wire import (
    PlacedOrders,
    RecentIds,
    Wakeup,
    collapse_group,
    open_websocket,
    run_reconciler,
    run_snapshot_fetcher,
    send_http,
)

log = structlog.get_logger("arbtrio.venues.gateio")

DEFAULT_REST_URL = "https://api.gateio.ws/api/v4"
DEFAULT_WS_URL = "wss://fx-ws.gateio.ws/v4/ws/usdt"

# Endpoint classes → (capacity, refill per second), from the v4.75 frequency-limit table:
# public 200 / 10 s per endpoint; orders place+amend 100 /s; cancel 200 /s; other private
# 200 / 10 s per endpoint. Buckets are per (class, endpoint). A bucket admits up to
# capacity + rate × W requests in any W seconds, so each gets half of N as its burst and
# N / (2 W) as its rate: never more than N in any window, however Gate counts it.
RATE_LIMITS: dict[str, tuple[float, float]] = {
    "public": (100, 10.0),
    "place": (50, 50.0),
    "cancel": (100, 100.0),
    "private": (100, 10.0),
}

DEFAULT_BACKOFF = Backoff()
PRIVATE_CHANNELS = ("futures.orders", "futures.usertrades", "futures.positions", "futures.balances")
AUTH_WS_CODES = frozenset({4, 6, 11})
_SAFE_QUERY = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-.!,")


class GateClient(ContractClient):
    """One Gate.io account (or public data only when ``credentials`` is None)."""

    name = VENUE

    def __init__(
        self,
        *,
        rest_url: str = DEFAULT_REST_URL,
        ws_url: str = DEFAULT_WS_URL,
        credentials: Credentials | None = None,
        symbols_hint: Sequence[str] = (),
        wall_clock: Callable[[], float] = time.time,
        request_timeout: float = 5.0,
        ping_interval: float = 10.0,
        idle_timeout: float = 30.0,
        depth: int = 50,
        frequency: str = "100ms",
        snapshot_retry_s: float = 0.25,
        first_delta_wait_s: float = 1.0,
        backoff: Backoff = DEFAULT_BACKOFF,
        decimal_sizes: bool = True,
    ) -> None:
        if depth not in (20, 50, 100):
            raise ValueError(f"gateio: depth must be 20, 50 or 100, got {depth}")
        super().__init__(
            rest_url=rest_url,
            credentials=credentials,
            symbols_hint=symbols_hint,
            wall_clock=wall_clock,
            request_timeout=request_timeout,
        )
        self.ws_url = ws_url
        self.ping_interval = ping_interval
        self.idle_timeout = idle_timeout
        self.depth = depth
        self.frequency = frequency
        self.snapshot_retry_s = snapshot_retry_s
        self.first_delta_wait_s = first_delta_wait_s
        self.backoff = backoff
        self.decimal_sizes = decimal_sizes
        self._buckets: dict[str, TokenBucket] = {}
        self._uid: int | None = None
        self._placed = PlacedOrders()  # text -> numeric order id, contract, finished?
        self._trades = RecentIds()
        self.stream_positions: dict[str, VenuePosition] = {}
        self.stream_balance: Balance | None = None

    # -- plumbing --------------------------------------------------------------------------
    def _bucket(self, kind: str, endpoint: str) -> TokenBucket:
        key = f"{kind}:{endpoint}" if kind in ("public", "private") else kind
        bucket = self._buckets.get(key)
        if bucket is None:
            capacity, rate = RATE_LIMITS[kind]
            bucket = self._buckets[key] = TokenBucket(f"{VENUE}:{key}", capacity, rate)
        return bucket

    async def _request(
        self,
        method: str,
        endpoint: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: object | None = None,
        signed: bool = False,
        kind: str = "public",
        bucket_endpoint: str | None = None,
        placing: bool = False,
    ) -> bytes:
        """One REST call; returns the 2xx body or raises the unified error."""
        for key, value in query:
            if not set(value) <= _SAFE_QUERY:
                raise BadRequest(VENUE, f"query parameter {key!r} has unsafe characters")
        q = "&".join(f"{k}={v}" for k, v in query)
        prepared = prepare_request(
            method,
            self._prefix + endpoint,
            q,
            codecs.encode(body) if body is not None else None,
            decimal_sizes=self.decimal_sizes,
            account=self._account() if signed else None,
            ts_ms=self._ts_ms(),
        )
        return await self._send_prepared(
            prepared, self._bucket(kind, bucket_endpoint or endpoint), endpoint, placing=placing
        )

    def _account(self) -> GateAccount:
        return GateAccount.from_credentials(
            self._require_credentials(), self._prefix, self.decimal_sizes
        )

    def _ts_ms(self) -> int:
        return int(self._wall() * 1000)

    async def _send_prepared(
        self, prepared: PreparedRequest, bucket: TokenBucket, endpoint: str, *, placing: bool
    ) -> bytes:
        """Send a built request after ``bucket`` admits it; the 2xx body or the error."""
        method = prepared.method
        await bucket.acquire()
        resp = await send_http(
            self._client(), VENUE, method, self._origin + prepared.path,
            headers=prepared.headers, content=prepared.body,
        )  # fmt: skip
        if resp.status_code < 300:
            return resp.content
        retry_after = _retry_after(resp.headers, self._wall())
        error = error_for(
            resp.status_code,
            resp.content,
            f"{method} {endpoint}",
            placing=placing,
            retry_after=retry_after,
        )
        if isinstance(error, RateLimited):
            bucket.penalize(retry_after or 1.0, trio.current_time())
        raise error

    # -- instruments -----------------------------------------------------------------------
    async def load_instruments(self) -> list[Instrument]:
        raw = await self._request(
            "GET", "/futures/usdt/contracts", kind="public", bucket_endpoint="contracts"
        )
        contracts = decode(codecs.contracts_decoder, raw, "contracts")
        instruments = {
            c.name: convert.instrument_from_contract(c)
            for c in contracts
            if convert.is_tradable_contract(c)
        }
        self._instruments = instruments
        return list(instruments.values())

    # -- books -----------------------------------------------------------------------------
    async def run_books(
        self,
        symbols: Sequence[str],
        on_update: BookCallback,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        instruments = {s: await self._instrument(s) for s in symbols}
        machine = GateBooks(instruments, self.health, on_update, depth=self.depth, books=self.books)
        on_subscribed = Readiness(task_status, self.health)

        async def session() -> None:
            try:
                await self._book_session(list(symbols), machine, on_subscribed)
            except BaseExceptionGroup as group:
                raise collapse_group(group) from None
            finally:
                for book in machine.books.values():
                    book.invalidate("disconnected")
                    on_update(book)

        await run_reconnecting(session, self.health, what="books", backoff=self.backoff)

    async def _book_session(
        self, symbols: list[str], machine: GateBooks, on_subscribed: Callable[[], None]
    ) -> None:
        now = trio.current_time()
        machine.pending.clear()
        for symbol in symbols:
            machine.resync(symbol, "connecting", now)
        wake = Wakeup()
        async with open_websocket(self.ws_url) as ws:
            ids: dict[int, str] = {}
            for i, symbol in enumerate(symbols, 1):
                ids[i] = symbol
                payload = [symbol, self.frequency, str(self.depth)]
                await self._send(ws, BOOK_CHANNEL, "subscribe", payload, req_id=i)
            acked: set[int] = set()
            keepalive = _Keepalive(now)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._ping_loop, ws, keepalive)
                nursery.start_soon(
                    functools.partial(
                        run_snapshot_fetcher,
                        VENUE,
                        machine,
                        self._fetch_snapshot,
                        wake,
                        retry_s=self.snapshot_retry_s,
                        first_delta_wait_s=self.first_delta_wait_s,
                    )
                )
                while True:
                    raw = await ws.get_message()
                    now = trio.current_time()
                    keepalive.last_rx = now
                    self.health.message_received(now)
                    env = machine.on_frame(raw, now)
                    if machine.pending:
                        wake.set()
                    if env is None:
                        continue
                    if env.event == "subscribe" and env.channel == BOOK_CHANNEL:
                        _check_ack(env)
                        if env.id in ids:
                            acked.add(env.id)
                            if len(acked) == len(ids):
                                on_subscribed()
                    else:
                        _handle_control(env)

    async def _fetch_snapshot(self, symbol: str) -> codecs.OrderBookSnapshot:
        query = [
            ("contract", symbol),
            ("interval", "0"),
            ("limit", str(self.depth)),
            ("with_id", "true"),
        ]
        raw = await self._request(
            "GET", "/futures/usdt/order_book", query=query, bucket_endpoint="order_book"
        )
        return decode(codecs.snapshot_decoder, raw, "order_book")

    async def _send(
        self,
        ws: WebSocketConnection,
        channel: str,
        event: str,
        payload: list[str],
        *,
        req_id: int | None = None,
        signed: bool = False,
    ) -> None:
        t = int(self._wall())
        auth = None
        if signed:
            creds = self._require_credentials()
            auth = WsAuth(KEY=creds.api_key, SIGN=sign.ws_sign(creds.api_secret, channel, event, t))
        request = WsRequest(
            time=t, channel=channel, event=event, payload=payload, auth=auth, id=req_id
        )
        await ws.send_message(codecs.encode(request).decode())

    async def _ping_loop(self, ws: WebSocketConnection, keepalive: _Keepalive) -> None:
        """``futures.ping`` every ``ping_interval``; end the session after ``idle_timeout``
        of silence (the connection is dead even if the socket is not)."""
        while True:
            await trio.sleep(self.ping_interval)
            if trio.current_time() - keepalive.last_rx > self.idle_timeout:
                raise Disconnected(VENUE, f"no message for {self.idle_timeout} s")
            await ws.send_message(
                codecs.encode(WsRequest(time=int(self._wall()), channel="futures.ping")).decode()
            )

    # -- orders ----------------------------------------------------------------------------
    async def place_order(self, request: OrderRequest) -> OrderAck:
        account = self._account()
        inst = await self._instrument(request.symbol)
        cid = request.client_order_id
        prepared = prepare_order(request, inst, account, self._ts_ms())
        raw = await self._send_prepared(
            prepared, self._bucket("place", ORDER_ENDPOINT), ORDER_ENDPOINT, placing=True
        )
        try:
            order = decode(codecs.order_decoder, raw, "order")
        except MalformedMessage as exc:  # accepted (2xx) but unreadable: it may exist
            raise OutcomeUnknown(
                VENUE, f"order accepted with unreadable answer: {exc.message}"
            ) from None
        self._placed.remember(cid, str(order.id), inst.symbol)
        return OrderAck(
            venue=VENUE,
            client_order_id=cid,
            venue_order_id=str(order.id),
            ts=trio.current_time(),
        )

    def _order_ref(self, cid: str) -> str:
        """The numeric id when this client placed the order (text lookups expire 60 s after
        an order finishes), else the text itself."""
        return self._placed.venue_order_id(cid) or cid

    async def cancel_order(self, symbol: str, client_order_id: str) -> None:
        self._require_credentials()
        endpoint = f"/futures/usdt/orders/{self._order_ref(client_order_id)}"
        try:
            await self._request(
                "DELETE", endpoint, signed=True, kind="cancel", bucket_endpoint="cancel"
            )
        except BadRequest as exc:
            if exc.code == ORDER_FINISHED:
                return  # already terminal: nothing to cancel
            raise
        except OrderNotFound:
            raise OrderNotFound(VENUE, f"no order {client_order_id!r} on {symbol}") from None

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        self._require_credentials()
        inst = await self._instrument(symbol)
        ref = self._order_ref(client_order_id)
        try:
            raw = await self._request(
                "GET", f"/futures/usdt/orders/{ref}", signed=True, kind="private",
                bucket_endpoint="order",
            )  # fmt: skip
            order = decode(codecs.order_decoder, raw, "order")
        except OrderNotFound:
            # Gate resolves a text only until 60 s after the order finished: search the
            # contract's recent finished orders (e.g. after a restart).
            found = await self._find_finished(symbol, client_order_id)
            if found is None:
                raise OrderNotFound(VENUE, f"no order {client_order_id!r} on {symbol}") from None
            order = found
        trades: list[codecs.MyTrade] = []
        if abs(order.size) != abs(order.left):
            query = [("contract", symbol), ("order", str(order.id))]
            raw = await self._request(
                "GET",
                "/futures/usdt/my_trades",
                query=query,
                signed=True,
                kind="private",
                bucket_endpoint="my_trades",
            )
            trades = decode(codecs.my_trades_decoder, raw, "my_trades")
        return convert.order_report(inst, order, trades, trio.current_time())

    async def _find_finished(self, symbol: str, text: str) -> codecs.FuturesOrder | None:
        query = [("contract", symbol), ("status", "finished"), ("limit", "100")]
        raw = await self._request(
            "GET", "/futures/usdt/orders", query=query, signed=True, kind="private",
            bucket_endpoint="orders",
        )  # fmt: skip
        orders = decode(codecs.orders_decoder, raw, "orders")
        return next((o for o in orders if o.text == text), None)

    # -- account ---------------------------------------------------------------------------
    async def fetch_balances(self) -> list[Balance]:
        raw = await self._request(
            "GET", "/futures/usdt/accounts", signed=True, kind="private", bucket_endpoint="accounts"
        )
        account = decode(codecs.account_decoder, raw, "accounts")
        currency = (account.currency or "USDT").upper()
        return [
            Balance(
                venue=VENUE, currency=currency, total=account.total, available=account.available
            )
        ]

    async def fetch_positions(self) -> list[VenuePosition]:
        raw = await self._request(
            "GET",
            "/futures/usdt/positions",
            signed=True,
            kind="private",
            bucket_endpoint="positions",
        )
        positions = decode(codecs.positions_decoder, raw, "positions")
        result = []
        for p in positions:
            if p.size == 0:
                continue
            inst = await self._instrument(p.contract)
            result.append(_position(inst, p.size, p.entry_price))
        return result

    async def fetch_funding(self, symbols: Sequence[str]) -> list[FundingRate]:
        result = []
        for symbol in symbols:
            raw = await self._request(
                "GET", f"/futures/usdt/contracts/{symbol}", bucket_endpoint="contract"
            )
            c = decode(codecs.contract_decoder, raw, "contract")
            hours = max(1, round(c.funding_interval / 3600)) if c.funding_interval > 0 else 8
            next_ts = None
            if c.funding_next_apply > 0:  # wall-clock seconds → this runtime's clock
                next_ts = trio.current_time() + (c.funding_next_apply - self._wall())
            result.append(
                FundingRate(
                    venue=VENUE,
                    symbol=symbol,
                    rate=c.funding_rate,
                    interval_hours=hours,
                    next_funding_ts=next_ts,
                )
            )
        return result

    # -- private stream --------------------------------------------------------------------
    async def _user_id(self) -> int:
        if self._uid is None:
            raw = await self._request(
                "GET", "/account/detail", signed=True, kind="private", bucket_endpoint="detail"
            )
            self._uid = decode(codecs.account_detail_decoder, raw, "account detail").user_id
        return self._uid

    async def run_order_stream(
        self,
        send: trio.MemorySendChannel[OrderEvent],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self._require_credentials()
        if not self._instruments:
            await self.load_instruments()
        uid = await self._user_id()
        on_subscribed = Readiness(task_status, self.health)

        async def session() -> None:
            try:
                await self._private_session(uid, send, on_subscribed)
            except BaseExceptionGroup as group:
                raise collapse_group(group) from None

        await run_reconnecting(session, self.health, what="orders", backoff=self.backoff)

    async def _private_session(
        self,
        uid: int,
        send: trio.MemorySendChannel[OrderEvent],
        on_subscribed: Callable[[], None],
    ) -> None:
        async with open_websocket(self.ws_url) as ws:
            ids: dict[int, str] = {}
            for i, channel in enumerate(PRIVATE_CHANNELS, 1):
                ids[i] = channel
                payload = [str(uid)] if channel == "futures.balances" else [str(uid), "!all"]
                await self._send(ws, channel, "subscribe", payload, req_id=i, signed=True)
            acked: set[int] = set()
            keepalive = _Keepalive(trio.current_time())
            reconcile = Wakeup()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._ping_loop, ws, keepalive)
                nursery.start_soon(
                    run_reconciler, VENUE, self._placed, self.query_order, send, self._trades,
                    reconcile,
                )  # fmt: skip
                while True:
                    raw = await ws.get_message()
                    now = trio.current_time()
                    keepalive.last_rx = now
                    self.health.message_received(now)
                    try:
                        env = decode(codecs.envelope_decoder, raw, "private message")
                        if env.event == "subscribe":
                            _check_ack(env)
                            if env.id in ids:
                                acked.add(env.id)
                                if len(acked) == len(ids):
                                    on_subscribed()
                                    reconcile.set()
                            continue
                        if env.event != "update":
                            _handle_control(env)
                            continue
                        events = self._private_events(env, now)
                    except MalformedMessage as exc:
                        self.health.malformed += 1
                        log.warning("venue.malformed", venue=VENUE, error=exc.message)
                        reconcile.set()
                        continue
                    for event in events:
                        await send.send(event)

    def _private_events(self, env: WsEnvelope, now: float) -> list[OrderEvent]:
        """Translate one private update into order events (positions/balances are cached)."""
        channel = env.channel
        events: list[OrderEvent] = []
        if channel == "futures.orders":
            for o in decode(codecs.ws_orders_decoder, env.result, channel):
                inst = self._instruments.get(o.contract)
                if inst is None:
                    continue
                update = convert.order_update(inst, o, now)
                if update.status.is_terminal:
                    self._placed.finished(o.text)
                events.append(update)
        elif channel == "futures.usertrades":
            for t in decode(codecs.ws_usertrades_decoder, env.result, channel):
                inst = self._instruments.get(t.contract)
                if inst is None or not self._trades.add(codecs.id_str(t.id)):
                    continue
                events.append(convert.fill_from_trade(inst, t, t.text, now))
        elif channel == "futures.positions":
            for p in decode(codecs.ws_positions_decoder, env.result, channel):
                inst = self._instruments.get(p.contract)
                if inst is not None:
                    self.stream_positions[p.contract] = _position(inst, p.size, p.entry_price)
        elif channel == "futures.balances":
            for b in decode(codecs.ws_balances_decoder, env.result, channel):
                self.stream_balance = Balance(
                    venue=VENUE, currency=b.currency.upper(), total=b.balance, available=b.balance
                )
        return events


# -- helpers -------------------------------------------------------------------------------
class _Keepalive:
    __slots__ = ("last_rx",)

    def __init__(self, now: float) -> None:
        self.last_rx = now


def _check_ack(env: WsEnvelope) -> None:
    """A subscribe answer: success, or the unified error for its error code."""
    if env.error is None:
        return
    err = env.error
    text = f"{env.channel} subscribe: code {err.code} {err.message}"
    if err.code in AUTH_WS_CODES:
        raise AuthenticationFailed(VENUE, text, code=str(err.code))
    raise BadRequest(VENUE, text, code=str(err.code))


def _handle_control(env: WsEnvelope) -> None:
    """Non-data messages: pong is fine, ``upgrade`` asks us to reconnect."""
    if env.event == "upgrade":
        raise Disconnected(VENUE, "server requested reconnect (upgrade)")
    if env.error is not None:
        log.warning("venue.ws_error", venue=VENUE, channel=env.channel, code=env.error.code)


def _position(inst: Instrument, contracts: Decimal, entry: Decimal) -> VenuePosition:
    return contract_position(VENUE, inst, contracts, entry)


def _retry_after(headers: Mapping[str, str], wall_now: float) -> float | None:
    """Seconds until ``X-Gate-RateLimit-Reset-Timestamp`` (ms or s), when present."""
    value = headers.get("x-gate-ratelimit-reset-timestamp")
    if not value:
        return None
    try:
        reset = float(value)
    except ValueError:
        return None
    if reset > 1e11:
        reset /= 1000.0
    return max(0.0, min(60.0, reset - wall_now))


__all__ = ["DEFAULT_REST_URL", "DEFAULT_WS_URL", "GateClient"]
