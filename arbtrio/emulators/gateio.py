"""Gate.io API v4 (USDT perpetual futures) emulator: the venue's protocol on loopback,
backed by the shared :class:`~arbtrio.sim.market.SimMarket`.

Independent of the Gate.io client: nothing here (or in :mod:`.gateio_protocol` /
:mod:`.gateio_auth`) imports ``arbtrio.venues``; requests are parsed, signatures verified,
paths, labels and rate limits kept by the emulator's own code, written from the venue's
documentation. Served as one ASGI app (:class:`~arbtrio.emulators.app.EmulatorApp`):

* REST under ``/api/v4`` (:data:`ROUTES`): ``futures/usdt/contracts[/{contract}]``,
  ``order_book`` (``with_id=true`` adds the published book's id), ``spot/time``; signed
  ``POST/GET /futures/usdt/orders``, ``GET/DELETE /futures/usdt/orders/{order_id}``,
  ``DELETE /futures/usdt/orders`` (cancel all open: there are none), ``my_trades``,
  ``accounts``, ``positions[/{contract}]``, ``POST positions/{contract}/leverage`` and
  ``POST positions/cross_mode`` (the account's margin setting per contract, kept and
  reported in every position with its mark and liquidation price), ``/account/detail``.
  Signed requests are verified as Gate does
  (:func:`~arbtrio.emulators.gateio_auth.verify_rest`); every route is rate limited by
  :class:`~arbtrio.emulators.gateio_protocol.RateLimiter` (429 ``TOO_MANY_REQUESTS`` with
  ``X-Gate-RateLimit-*`` headers); errors are ``{"label", "message"}``.
  ``X-Gate-Size-Decimal: 1`` makes every REST size a string; ``X-Client-Request-Id`` is
  echoed; ``x-gate-exptime`` (ms) refuses a placement or cancel received after it.
  A ``text`` works as an order id only while the order is open or up to 60 s after it
  finished; a finished order with zero fill vanishes 10 minutes after it finished.
* WS ``/v4/ws/usdt``: ``futures.order_book_update`` pushes (``U``/``u`` ids; one id per
  changed level; payload ``[contract, "20ms"|"100ms", level?]``, the level being the
  emulator's ``depth``), ``futures.ping``/``pong``, private ``futures.orders``/
  ``usertrades``/``positions``/``balances`` (and the other documented private channels,
  which never push) with per-message auth, the user id first in the payload and a
  contract or ``"!all"`` filter. Book pushes carry the venue's time ``t`` (ms, the wall
  clock when made); :attr:`GateEmulator.book_delay_s` delays them, ``t`` unchanged.

Faults (``market.fault("gateio", kind)``, or :attr:`GateEmulator.faults` ``.force``):
per market tick with book subscribers ``feed_disconnect`` (close every book socket),
``sequence_gap`` (each book socket misses its next push), ``bad_checksum`` (a malformed
frame: Gate has no checksum), ``stale_feed`` (no pushes for ``stale_s``); per order
``rate_limit`` (429 ``TOO_MANY_REQUESTS``), ``reject`` (``INSUFFICIENT_AVAILABLE``),
``ack_timeout_not_executed`` / ``ack_timeout_executed`` (no answer for ``hold_s``, then
504, with the order not executed / executed), ``duplicate_fill`` (a usertrade pushed twice).
:meth:`GateEmulator.inject_public` sends a frame verbatim to every book subscriber.
Only limit IOC orders are supported (the simulator has no resting orders).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import attrs
import msgspec
import trio

from arbtrio.core.instruments import Instrument, format_decimal, is_valid_price
from arbtrio.core.types import Fill, OrderStatus, Side
from arbtrio.emulators.app import (
    ApiKeys,
    AsgiWebSocket,
    EmuConnection,
    EmulatorApp,
    Endpoints,
    FaultSwitch,
    HttpRequest,
    PublishedLadder,
    read_http_request,
    run_connection,
    send_http_response,
    ws_url,
)
from arbtrio.emulators.gateio_auth import verify_rest, verify_ws
from arbtrio.emulators.gateio_protocol import (
    API_PREFIX,
    BOOK_CHANNEL,
    CLIENT_REQUEST_ID_HEADER,
    DEFAULT_LEVERAGE,
    ENABLE_DECIMAL,
    EXPTIME_HEADER,
    MAINTENANCE_RATE,
    ORDER_SIZE_MAX,
    PING_CHANNEL,
    PONG_CHANNEL,
    PRIVATE_CHANNELS,
    SIZE_DECIMAL_HEADER,
    TEXT_LOOKUP_WINDOW_S,
    UNFILLED_RETENTION_S,
    VENUE,
    WS_EVENTS,
    WS_INVALID_ARGUMENT,
    WS_PATH,
    GateError,
    GateWsError,
    OrderCreate,
    OrderDraft,
    RateLimiter,
    Response,
    WsRequest,
    decode_ws_request,
    int_param,
    parse_book_payload,
    parse_cross_mode,
    parse_leverage_query,
    parse_order_create,
    parse_private_payload,
    query_params,
    required_param,
)
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.execution import DUPLICATE_CLIENT_ORDER_ID
from arbtrio.sim.market import SimMarket

__all__ = ["ROUTES", "GateEmulator", "Route"]

_ZERO = Decimal(0)
_json = msgspec.json.Encoder(decimal_format="number")


@attrs.define(eq=False)
class _Trade:
    id: int
    size: Decimal  # signed contracts
    price: Decimal
    fee: Decimal
    wall_time: float


@attrs.define(eq=False)
class _Order:
    id: int
    contract: str
    size: Decimal  # signed contracts
    left: Decimal  # signed contracts
    price: Decimal
    fill_price: Decimal
    tif: str
    text: str
    reduce_only: bool
    finish_as: str
    wall_time: float  # venue timestamps (wall clock)
    finished_at: float  # market clock, for the text-lookup and retention windows
    trades: list[_Trade]


@attrs.frozen
class _Margin:
    """One contract's margin setting: ``mode`` ``"cross"`` | ``"isolated"`` at ``leverage``
    (the cross leverage limit when cross)."""

    mode: str
    leverage: int


@attrs.frozen
class _Call:
    """One routed REST request: path parameters, query parameters, size format."""

    req: HttpRequest
    path_params: dict[str, str]
    params: dict[str, str]
    decimal_sizes: bool


Handler = Callable[["GateEmulator", _Call], Awaitable[Response]]


@attrs.frozen
class Route:
    """``method`` + ``path`` (under ``/api/v4``; ``{name}`` segments are parameters),
    its rate-limit class (``public`` routes are unsigned) and handler."""

    method: str
    path: str
    kind: str  # "public" | "private" | "place" | "cancel"
    handler: Handler

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        want, got = self.path.split("/"), path.split("/")
        if len(want) != len(got):
            return None
        params: dict[str, str] = {}
        for w, g in zip(want, got, strict=True):
            if w.startswith("{"):
                if not g:
                    return None
                params[w[1:-1]] = g
            elif w != g:
                return None
        return params


class GateEmulator(EmulatorApp):
    """One emulated Gate.io account (``user_id``) over the shared simulated market.

    Options: ``depth`` (levels published and the only book level served), ``hold_s`` (how
    long an ack-timeout fault withholds the answer), ``stale_s`` (a ``stale_feed`` mute),
    ``wall_clock`` (venue timestamps and the signature windows). Tests read ``requests``
    (REST requests received), ``auth_failures`` (REST and WS), ``faults``, ``_published``
    (the book as pushed), ``_private_conns`` and ``order_log``.

    Order record: every authenticated ``POST /futures/usdt/orders`` is recorded once
    (:meth:`~arbtrio.emulators.app.EmulatorApp.record_order`): ``executed`` when it
    reached the market (``filled`` may be 0 for an IOC that found nothing) — including an
    ``ack_timeout_executed`` fault, whose answer is withheld but whose order the venue did
    execute (``reason`` says so); ``rejected`` with ``reason`` = ``"LABEL: message"`` for
    every refusal (rate limit, malformed or invalid body, the ``reject`` fault, the
    simulator's own rejections); ``unknown`` for ``ack_timeout_not_executed`` (the client
    cannot know; the venue did not execute it). ``qty`` is in base units; fields a
    refused body did not carry readably are ``""`` (``side`` too).
    """

    venue = VENUE

    def __init__(
        self,
        market: SimMarket,
        driver: MarketDriver,
        credentials: ApiKeys,
        *,
        user_id: int = 10_001,
        depth: int = 50,
        hold_s: float = 30.0,
        stale_s: float = 2.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(market, driver, credentials)
        self.user_id = user_id
        self.depth = depth
        self.hold_s = hold_s
        self.stale_s = stale_s
        self.wall = wall_clock
        self.faults = FaultSwitch(market, VENUE)
        self.limits = RateLimiter()
        self._published = {
            s: PublishedLadder(first_id=1_000_000 * (n + 1)) for n, s in enumerate(self.instruments)
        }
        self._book_conns: set[EmuConnection] = set()
        self._private_conns: set[EmuConnection] = set()
        self._orders: dict[int, _Order] = {}
        self._by_text: dict[str, int] = {}
        self._next_order_id = 58_000_000_000
        self._next_trade_id = 9_000_000
        self.requests = 0
        self.auth_failures = 0
        self.margin = {s: _Margin("cross", DEFAULT_LEVERAGE) for s in self.instruments}
        # Test knob: book pushes reach their sockets this much later, their ``t`` and
        # ``time_ms`` still the moment they were made (a feed that lags but flows).
        self.book_delay_s = 0.0
        self._delayed_send, self._delayed = trio.open_memory_channel[
            tuple[float, EmuConnection, str]
        ](math.inf)

    # -- serving ---------------------------------------------------------------------------
    def endpoints(self, base_url: str) -> Endpoints:
        ws = ws_url(base_url, WS_PATH)
        return Endpoints(
            venue=VENUE,
            rest_url=base_url + API_PREFIX,
            ws_url=ws,
            private_ws_url=ws,
            credentials=self.credentials,
        )

    async def http(self, scope: Any, receive: Any, send: Any) -> None:
        request = await read_http_request(scope, receive)
        status, body, headers = await self._http(request)
        await send_http_response(send, status, _json.encode(body), headers)

    async def websocket(self, scope: Any, receive: Any, send: Any) -> None:
        ws = AsgiWebSocket(receive, send)
        if scope["path"] != WS_PATH or not await ws.accept():
            return
        conn = EmuConnection(ws)
        try:
            await run_connection(conn, self._ws_reader)
        finally:
            self._book_conns.discard(conn)
            self._private_conns.discard(conn)

    def inject_public(self, text: str) -> None:
        """Send ``text`` verbatim to every book subscriber (tests: malformed frames)."""
        for conn in list(self._book_conns):
            conn.offer(text)

    # -- market data -----------------------------------------------------------------------
    async def background(self) -> None:
        """Publish the market's book changes after every tick; deliver delayed pushes."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._deliver_delayed)
            while True:
                await self.driver.wait_tick()
                self.publish_tick()

    async def _deliver_delayed(self) -> None:
        """Send each book push held back by ``book_delay_s`` when its time comes (in the
        order made: the delay is one value at a time)."""
        async for release_at, conn, frame in self._delayed:
            await trio.sleep_until(release_at)
            conn.offer(frame)

    def publish_tick(self) -> None:
        """Push every changed book to its subscribers, then apply this tick's feed faults."""
        for symbol in self.instruments:
            self._refresh(symbol)
        if not self._book_conns:
            return
        now = trio.current_time()
        if self.faults("stale_feed"):
            for conn in self._book_conns:
                conn.mute_until = now + self.stale_s
        if self.faults("sequence_gap"):
            for conn in self._book_conns:
                conn.drop_next_book = True
        if self.faults("bad_checksum"):
            self.inject_public(
                '{"time":1,"channel":"futures.order_book_update","event":"update","result":{"s":'
            )
        if self.faults("feed_disconnect"):
            for conn in list(self._book_conns):
                conn.kill()

    def _refresh(self, symbol: str) -> None:
        """Catch the published book up with the market and push the change (if any):
        ``U`` = the previous id + 1, ``u`` = ``U`` + changed levels − 1."""
        pub = self._published[symbol]
        changes = pub.refresh(self.market, VENUE, symbol, self.depth)
        if changes is None:
            return
        bids, asks = changes
        first = pub.id + 1
        pub.id += len(bids) + len(asks)
        inst = self.instruments[symbol]
        wall = self.wall()
        frame = _json.encode(
            {
                "time": int(wall),
                "time_ms": int(wall * 1000),
                "channel": BOOK_CHANNEL,
                "event": "update",
                "result": {
                    "t": int(wall * 1000),
                    "s": symbol,
                    "U": first,
                    "u": pub.id,
                    "b": _levels(inst, bids, decimal_sizes=False),
                    "a": _levels(inst, asks, decimal_sizes=False),
                    "l": str(self.depth),
                },
            }
        ).decode()
        now = trio.current_time()
        for conn in list(self._book_conns):
            if symbol not in conn.state.get("books", ()):
                continue
            if conn.drop_next_book:
                conn.drop_next_book = False
                continue
            if now < conn.mute_until:
                continue
            if self.book_delay_s > 0:
                self._delayed_send.send_nowait((now + self.book_delay_s, conn, frame))
            else:
                conn.offer(frame)

    # -- WebSocket -------------------------------------------------------------------------
    async def _ws_reader(self, conn: EmuConnection) -> None:
        while (text := await conn.ws.receive_text()) is not None:
            self._ws_text(conn, text)

    def _ws_text(self, conn: EmuConnection, text: str) -> None:
        """Answer one client frame; a refusal is an error reply on its channel and event
        (an undecodable frame: code 1 on channel "")."""
        req: WsRequest | None = None
        try:
            req = decode_ws_request(text)
            self._ws_request(conn, req)
        except GateWsError as err:
            channel, event, req_id = ("", "", None) if req is None else (
                req.channel, req.event, req.id
            )  # fmt: skip
            conn.offer(self._ws_reply(channel, event, req_id, err))

    def _ws_request(self, conn: EmuConnection, req: WsRequest) -> None:
        if req.channel == PING_CHANNEL:
            wall = self.wall()
            conn.offer(
                _json.encode(
                    {
                        "time": int(wall),
                        "time_ms": int(wall * 1000),
                        "channel": PONG_CHANNEL,
                        "event": "",
                        "result": None,
                    }
                ).decode()
            )
            return
        if req.event not in WS_EVENTS:
            raise GateWsError(WS_INVALID_ARGUMENT, f"invalid event {req.event!r}")
        if req.channel == BOOK_CHANNEL:
            self._ws_book(conn, req)
        elif req.channel in PRIVATE_CHANNELS:
            self._ws_private(conn, req)
        else:
            raise GateWsError(WS_INVALID_ARGUMENT, f"channel {req.channel!r} is not served")
        conn.offer(self._ws_reply(req.channel, req.event, req.id))

    def _ws_reply(
        self, channel: str, event: str, req_id: int | None, error: GateWsError | None = None
    ) -> str:
        """A subscribe/unsubscribe answer: ``result {"status": "success"}`` or ``error``."""
        wall = self.wall()
        body: dict[str, Any] = {
            "time": int(wall),
            "time_ms": int(wall * 1000),
            "channel": channel,
            "event": event,
            "error": None if error is None else {"code": error.code, "message": error.message},
            "result": {"status": "success"} if error is None else None,
        }
        if req_id is not None:
            body["id"] = req_id
        return _json.encode(body).decode()

    def _ws_book(self, conn: EmuConnection, req: WsRequest) -> None:
        sub = parse_book_payload(req.payload, req.event)
        if sub.contract not in self.instruments:
            raise GateWsError(WS_INVALID_ARGUMENT, f"unknown contract {sub.contract!r}")
        books: set[str] = conn.state.setdefault("books", set())
        if req.event == "unsubscribe":
            books.discard(sub.contract)
            return
        if sub.level is not None and sub.level != str(self.depth):
            raise GateWsError(WS_INVALID_ARGUMENT, f"this emulator serves level {self.depth} only")
        self._refresh(sub.contract)  # publish pending changes before this subscriber joins
        books.add(sub.contract)
        self._book_conns.add(conn)

    def _ws_private(self, conn: EmuConnection, req: WsRequest) -> None:
        try:
            verify_ws(req, self.credentials, self.wall())
        except GateWsError:
            self.auth_failures += 1
            raise
        contract = parse_private_payload(req.channel, req.payload, self.user_id)
        if contract is not None and contract not in self.instruments:
            raise GateWsError(WS_INVALID_ARGUMENT, f"unknown contract {contract!r}")
        subscribed: dict[str, set[str | None]] = conn.state.setdefault("private", {})
        if req.event == "subscribe":
            subscribed.setdefault(req.channel, set()).add(contract)
            self._private_conns.add(conn)
        else:
            subscribed.get(req.channel, set()).discard(contract)

    def _push_private(
        self, channel: str, contract: str | None, result: list[dict[str, Any]], times: int = 1
    ) -> None:
        """Push ``result`` to every connection subscribed to ``channel`` for ``contract``
        (or ``"!all"``); ``contract`` None (balances) goes to every subscriber."""
        wall = self.wall()
        frame = _json.encode(
            {
                "time": int(wall),
                "time_ms": int(wall * 1000),
                "channel": channel,
                "event": "update",
                "result": result,
            }
        ).decode()
        for conn in list(self._private_conns):
            filters = conn.state.get("private", {}).get(channel)
            if filters and (contract is None or None in filters or contract in filters):
                for _ in range(times):
                    conn.offer(frame)

    # -- REST ------------------------------------------------------------------------------
    async def _http(self, req: HttpRequest) -> Response:
        """Answer one REST request (every refusal is a :class:`GateError`)."""
        self.requests += 1
        try:
            status, body, headers = await self._route(req)
        except GateError as err:
            status, body, headers = err.response()
        request_id = req.headers.get(CLIENT_REQUEST_ID_HEADER)
        if request_id is not None:
            headers[CLIENT_REQUEST_ID_HEADER] = request_id
        return (status, body, headers)

    async def _route(self, req: HttpRequest) -> Response:
        if not req.path.startswith(API_PREFIX + "/"):
            raise GateError("NOT_FOUND", f"no route {req.path}")
        path = req.path[len(API_PREFIX) :]
        for route in ROUTES:
            path_params = route.match(req.method, path)
            if path_params is not None:
                break
        else:
            raise GateError("NOT_FOUND", f"no route {req.method} {path}")
        if route.kind != "public":
            self._authenticate(req)
        call = _Call(
            req, path_params, query_params(req.query), req.headers.get(SIZE_DECIMAL_HEADER) == "1"
        )
        limit_headers: dict[str, str] = {}
        try:
            limit_headers = self._admit(route)
            if route.kind in ("place", "cancel"):
                self._check_exptime(req)
            status, body, headers = await route.handler(self, call)
        except GateError as err:
            err.headers = limit_headers | err.headers
            if route.kind == "place":
                self._record_refused(call, err)
            raise
        return (status, body, limit_headers | headers)

    def _authenticate(self, req: HttpRequest) -> None:
        try:
            verify_rest(req, self.credentials, self.wall())
        except GateError:
            self.auth_failures += 1
            raise

    def _check_signature(self, req: HttpRequest) -> Response | None:
        """None when ``req`` is signed correctly, else the answer Gate gives (tests)."""
        try:
            self._authenticate(req)
        except GateError as err:
            return err.response()
        return None

    def _admit(self, route: Route) -> dict[str, str]:
        """Count ``route`` against its rate limit: the ``X-Gate-RateLimit-*`` headers, or
        429 ``TOO_MANY_REQUESTS`` when the window is used up."""
        limit, remaining, reset_in = self.limits.admit(
            route.kind, route.endpoint, trio.current_time()
        )
        headers = {
            "X-Gate-RateLimit-Limit": str(limit),
            "X-Gate-RateLimit-Requests-Remain": str(max(0, remaining)),
            "X-Gate-RateLimit-Reset-Timestamp": str(int((self.wall() + reset_in) * 1000)),
        }
        if remaining < 0:
            raise GateError("TOO_MANY_REQUESTS", "Request Rate limit Exceeded", headers=headers)
        return headers

    def _check_exptime(self, req: HttpRequest) -> None:
        """``x-gate-exptime: <ms>``: refuse a request received after that time (the label is
        the emulator's choice; the documentation names none)."""
        raw = req.headers.get(EXPTIME_HEADER)
        if raw is None:
            return
        if not raw.isascii() or not raw.isdigit():
            raise GateError("INVALID_PARAM_VALUE", f"{EXPTIME_HEADER} must be milliseconds")
        if self.wall() * 1000 > int(raw):
            raise GateError("REQUEST_EXPIRED", f"received after {EXPTIME_HEADER}")

    # public
    async def _contracts(self, call: _Call) -> Response:
        body = [self._contract_json(i, call.decimal_sizes) for i in self.instruments.values()]
        return (200, body, {})

    async def _contract(self, call: _Call) -> Response:
        inst = self._instrument(call.path_params["contract"])
        return (200, self._contract_json(inst, call.decimal_sizes), {})

    def _instrument(self, contract: str) -> Instrument:
        inst = self.instruments.get(contract)
        if inst is None:
            raise GateError("CONTRACT_NOT_FOUND", f"contract {contract} not found")
        return inst

    def _contract_json(self, inst: Instrument, decimal_sizes: bool) -> dict[str, Any]:
        mult = inst.contract_multiplier
        funding = self.market.funding_rate(VENUE, inst.symbol)
        next_apply = 0
        if funding.next_funding_ts is not None:
            next_apply = int(self.wall() + funding.next_funding_ts - trio.current_time())
        return {
            "name": inst.symbol,
            "type": "direct",
            "quanto_multiplier": format_decimal(mult),
            "order_price_round": format_decimal(inst.tick_size),
            "mark_price_round": format_decimal(inst.tick_size),
            "order_size_min": _size(inst.min_size / mult, decimal_sizes),
            "order_size_max": _size(Decimal(ORDER_SIZE_MAX), decimal_sizes),
            "maker_fee_rate": format_decimal(inst.maker_fee),
            "taker_fee_rate": format_decimal(inst.taker_fee),
            "funding_rate": format_decimal(funding.rate),
            "funding_interval": inst.funding_interval_hours * 3600,
            "funding_next_apply": next_apply,
            "leverage_min": "1",
            "leverage_max": str(_leverage_max(inst)),
            "maintenance_rate": format_decimal(MAINTENANCE_RATE),
            "status": "trading",
            "in_delisting": False,
            "enable_decimal": ENABLE_DECIMAL,
        }

    async def _order_book(self, call: _Call) -> Response:
        """``?contract=&interval=0&limit=&with_id=``: the published book (``limit`` default
        10, at most the published depth), its id when ``with_id=true``."""
        params = call.params
        inst = self._instrument(required_param(params, "contract"))
        if params.get("interval", "0") != "0":
            raise GateError("INVALID_PARAM_VALUE", "interval must be 0")
        limit = int_param(params, "limit", 10)
        if params.get("with_id", "false") not in ("true", "false"):
            raise GateError("INVALID_PARAM_VALUE", "with_id must be true or false")
        self._refresh(inst.symbol)
        pub = self._published[inst.symbol]
        body: dict[str, Any] = {
            "current": self.wall(),
            "update": self.wall(),
            "asks": _levels(inst, pub.asks[:limit], decimal_sizes=call.decimal_sizes),
            "bids": _levels(inst, pub.bids[:limit], decimal_sizes=call.decimal_sizes),
        }
        if params.get("with_id") == "true":
            body["id"] = pub.id
        return (200, body, {})

    async def _server_time(self, call: _Call) -> Response:
        return (200, {"server_time": int(self.wall() * 1000)}, {})

    # orders
    async def _place(self, call: _Call) -> Response:
        """Place a limit IOC order. Refusals before the market are raised (and recorded by
        :meth:`_route`); outcomes after it are recorded here and returned."""
        order = parse_order_create(call.req.body, decimal_sizes=call.decimal_sizes)
        inst = self._order_instrument(order)
        contracts, price = order.size, order.price
        side = Side.BUY if contracts > 0 else Side.SELL
        qty = abs(contracts) * inst.contract_multiplier
        now = trio.current_time()
        if self.faults("rate_limit"):
            reset = str(int((self.wall() + 1.0) * 1000))
            raise GateError(
                "TOO_MANY_REQUESTS",
                "Request Rate limit Exceeded",
                headers={"X-Gate-RateLimit-Reset-Timestamp": reset},
            )
        if self.faults("reject"):
            self.market.reject(
                VENUE, inst.symbol, side=side, qty=qty, price=price,
                reduce_only=order.reduce_only, client_order_id=order.text,
                reason="INSUFFICIENT_AVAILABLE", now=now,
            )  # fmt: skip
            raise GateError("INSUFFICIENT_AVAILABLE", "insufficient available balance")
        if self.faults("ack_timeout_not_executed"):
            self._record(order, "unknown", reason="ack_timeout_not_executed: not executed")
            await trio.sleep(self.hold_s)
            return GateError("SERVER_ERROR", "gateway timeout", status=504).response()
        timeout_after = self.faults("ack_timeout_executed")
        await trio.sleep(self.market.latency(VENUE, "ack"))
        execution = self.market.execute(
            VENUE, inst.symbol, side=side, qty=qty, price=price,
            reduce_only=order.reduce_only, client_order_id=order.text, now=trio.current_time(),
        )  # fmt: skip
        if execution.status is OrderStatus.REJECTED:
            error = GateError(_rejection_label(execution.reason), execution.reason)
            self._record(order, "rejected", reason=str(error))
            return error.response()
        booked = self._book_order(inst, order, execution.fills, execution.status)
        filled = abs(booked.size - booked.left) * inst.contract_multiplier
        if timeout_after:
            self._record(
                order, "executed", filled=filled,
                reason=f"{booked.finish_as}; ack_timeout_executed: answer withheld",
            )  # fmt: skip
            await trio.sleep(self.hold_s)
            return GateError("SERVER_ERROR", "gateway timeout", status=504).response()
        self._record(order, "executed", filled=filled, reason=booked.finish_as)
        return (201, self._order_json(booked, call.decimal_sizes, rest=True), {})

    def _order_instrument(self, order: OrderCreate) -> Instrument:
        """The contract's own rules for a parsed order: known contract, integral size (no
        contract has ``enable_decimal``), size within ``order_size_min``..``order_size_max``
        (a reduce-only order may be smaller), price a multiple of ``order_price_round``."""
        inst = self._instrument(order.contract)
        contracts = abs(order.size)
        if not ENABLE_DECIMAL and contracts != contracts.to_integral_value():
            raise GateError("INVALID_PARAM_VALUE", "size must be an integer (enable_decimal off)")
        if contracts > ORDER_SIZE_MAX:
            raise GateError("SIZE_TOO_LARGE", "size above order_size_max")
        if not is_valid_price(inst, order.price):
            raise GateError("INVALID_PARAM_VALUE", "price must be a multiple of order_price_round")
        if not order.reduce_only and contracts * inst.contract_multiplier < inst.min_size:
            raise GateError("SIZE_TOO_SMALL", "size below order_size_min")
        return inst

    def _record(
        self, order: OrderCreate, outcome: str, *, filled: Decimal = _ZERO, reason: str = ""
    ) -> None:
        self._record_fields(
            order.text, order.contract, order.size, format_decimal(order.price),
            order.reduce_only, outcome, filled, reason,
        )  # fmt: skip

    def _record_refused(self, call: _Call, error: GateError) -> None:
        """Record a placement refused before it reached the market, from what its body
        says (read leniently: it may be the reason for the refusal)."""
        draft = OrderDraft.read(call.req.body, decimal_sizes=call.decimal_sizes)
        self._record_fields(
            draft.text, draft.contract, draft.size, draft.price, draft.reduce_only,
            "rejected", _ZERO, str(error),
        )  # fmt: skip

    def _record_fields(
        self, text: str, contract: str, size: Decimal | None, price: str, reduce_only: bool,
        outcome: str, filled: Decimal, reason: str,
    ) -> None:  # fmt: skip
        inst = self.instruments.get(contract)
        qty = ""
        if inst is not None and size is not None:
            qty = format_decimal(abs(size) * inst.contract_multiplier)
        side = "" if not size else ("buy" if size > 0 else "sell")
        self.record_order(
            client_order_id=text, symbol=contract, side=side, qty=qty, price=price,
            reduce_only=reduce_only, outcome=outcome, filled=format_decimal(filled),
            reason=reason,
        )  # fmt: skip

    def _book_order(
        self,
        inst: Instrument,
        body: OrderCreate,
        fills: tuple[Fill, ...],
        status: OrderStatus,
    ) -> _Order:
        """Record an executed IOC order and push its private events."""
        self._next_order_id += 1
        mult = inst.contract_multiplier
        contracts = body.size
        filled = sum((f.qty for f in fills), _ZERO) / mult
        cost = sum((f.qty * f.price for f in fills), _ZERO)
        sign_ = 1 if contracts > 0 else -1
        wall = self.wall()
        order = _Order(
            id=self._next_order_id,
            contract=inst.symbol,
            size=contracts,
            left=(abs(contracts) - filled) * sign_,
            price=body.price,
            fill_price=(cost / (filled * mult)) if filled else _ZERO,
            tif=body.tif,
            text=body.text,
            reduce_only=body.reduce_only,
            finish_as="filled" if status is OrderStatus.FILLED else "ioc",
            wall_time=wall,
            finished_at=trio.current_time(),
            trades=[],
        )
        for fill in fills:
            self._next_trade_id += 1
            order.trades.append(
                _Trade(self._next_trade_id, fill.qty / mult * sign_, fill.price, fill.fee, wall)
            )
        self._orders[order.id] = order
        self._by_text[order.text] = order.id
        symbol = inst.symbol
        self._push_private("futures.orders", symbol, [self._order_json(order, False, rest=False)])
        for trade in order.trades:
            times = 2 if self.faults("duplicate_fill") else 1
            self._push_private("futures.usertrades", symbol, [_trade_ws(order, trade)], times)
        self._push_private("futures.positions", symbol, [self._position_json(inst, False, ws=True)])
        balance = self.market.balances(VENUE)[0]
        self._push_private(
            "futures.balances",
            None,
            [
                {
                    "balance": balance.total,
                    "change": -sum((f.fee for f in fills), _ZERO),
                    "text": f"{inst.symbol}:{order.id}",
                    "time": int(wall),
                    "time_ms": int(wall * 1000),
                    "type": "fee",
                    "user": str(self.user_id),
                    "currency": "usdt",
                }
            ],
        )
        return order

    def _order_json(self, order: _Order, decimal_sizes: bool, *, rest: bool) -> dict[str, Any]:
        """An order object: REST prices are strings, WS (``futures.orders``) prices floats
        and sizes integers."""
        if rest:
            price: Any = format_decimal(order.price)
            fill_price: Any = format_decimal(order.fill_price)
        else:
            price, fill_price = order.price, order.fill_price
        inst = self.instruments[order.contract]
        return {
            "id": order.id,
            "user": self.user_id,
            "contract": order.contract,
            "create_time": order.wall_time,
            "create_time_ms": int(order.wall_time * 1000),
            "finish_time": order.wall_time,
            "finish_time_ms": int(order.wall_time * 1000),
            "finish_as": order.finish_as,
            "status": "finished",
            "size": _size(order.size, decimal_sizes),
            "left": _size(order.left, decimal_sizes),
            "iceberg": 0,
            "price": price,
            "fill_price": fill_price,
            "tif": order.tif,
            "text": order.text,
            "is_reduce_only": order.reduce_only,
            "is_close": False,
            "is_liq": False,
            "tkfr": format_decimal(inst.taker_fee),
            "mkfr": format_decimal(inst.maker_fee),
            "update_time": int(order.wall_time * 1000),
        }

    def _visible(self, order: _Order, now: float) -> bool:
        """Gate drops finished orders with zero fill 10 minutes after they finished."""
        return order.left != order.size or now - order.finished_at <= UNFILLED_RETENTION_S

    def _find(self, ref: str) -> _Order | None:
        """The order with numeric id ``ref``, or with text ``ref`` while that still works."""
        now = trio.current_time()
        if ref.isascii() and ref.isdigit():
            order = self._orders.get(int(ref))
        else:
            order_id = self._by_text.get(ref)
            order = None if order_id is None else self._orders[order_id]
            if order is not None and now - order.finished_at > TEXT_LOOKUP_WINDOW_S:
                return None
        return order if order is not None and self._visible(order, now) else None

    async def _get_order(self, call: _Call) -> Response:
        order = self._find(call.path_params["order_id"])
        if order is None:
            raise GateError("ORDER_NOT_FOUND", "Order not found")
        return (200, self._order_json(order, call.decimal_sizes, rest=True), {})

    async def _cancel_order(self, call: _Call) -> Response:
        if self._find(call.path_params["order_id"]) is None:
            raise GateError("ORDER_NOT_FOUND", "Order not found")
        raise GateError("ORDER_FINISHED", "Order finished")  # IOC orders never rest

    async def _cancel_all(self, call: _Call) -> Response:
        """``DELETE /futures/usdt/orders?contract=[&side=bid|ask]``: the cancelled open
        orders — always none (IOC orders never rest)."""
        self._instrument(required_param(call.params, "contract"))
        if call.params.get("side", "bid") not in ("bid", "ask"):
            raise GateError("INVALID_PARAM_VALUE", "side must be bid or ask")
        return (200, [], {})

    async def _list_orders(self, call: _Call) -> Response:
        """``?contract=&status=open|finished&limit=&offset=`` (newest first; ``limit``
        default 100, at most 1000)."""
        params = call.params
        status = required_param(params, "status")
        if status not in ("open", "finished"):
            raise GateError("INVALID_PARAM_VALUE", "status must be open or finished")
        contract = params.get("contract")
        if contract:
            self._instrument(contract)
        limit = min(1000, int_param(params, "limit", 100))
        offset = int_param(params, "offset", 0, minimum=0)
        now = trio.current_time()
        orders = [] if status == "open" else [
            o for o in reversed(self._orders.values())
            if (not contract or o.contract == contract) and self._visible(o, now)
        ]  # fmt: skip
        page = orders[offset : offset + limit]
        headers = {"X-Pagination-Limit": str(limit), "X-Pagination-Offset": str(offset)}
        return (200, [self._order_json(o, call.decimal_sizes, rest=True) for o in page], headers)

    async def _my_trades(self, call: _Call) -> Response:
        """``?contract=&order=``: this account's trades (of one order when given)."""
        contract = call.params.get("contract")
        if contract:
            self._instrument(contract)
        order_ref = call.params.get("order")
        trades = [
            _trade_rest(order, t, call.decimal_sizes)
            for order in self._orders.values()
            if (not contract or order.contract == contract)
            and (not order_ref or str(order.id) == order_ref)
            for t in order.trades
        ]
        return (200, trades, {})

    async def _accounts(self, call: _Call) -> Response:
        balance = self.market.balances(VENUE)[0]
        return (
            200,
            {
                "total": format_decimal(balance.total),
                "available": format_decimal(balance.available),
                "unrealised_pnl": "0",
                "position_margin": format_decimal(balance.total - balance.available),
                "order_margin": "0",
                "point": "0",
                "currency": balance.currency,
                "in_dual_mode": False,
            },
            {},
        )

    async def _positions(self, call: _Call) -> Response:
        result = [
            self._position_json(inst, call.decimal_sizes) for inst in self.instruments.values()
        ]
        return (200, result, {})

    async def _position(self, call: _Call) -> Response:
        inst = self._instrument(call.path_params["contract"])
        return (200, self._position_json(inst, call.decimal_sizes), {})

    def _position_json(
        self, inst: Instrument, decimal_sizes: bool, *, ws: bool = False
    ) -> dict[str, Any]:
        """A position as ``GET /futures/usdt/positions`` answers it (prices as strings,
        ``mark_price``, ``pos_margin_mode``) or as ``futures.positions`` pushes it (numbers,
        no mark price, ``time``/``time_ms``). ``leverage`` 0 is cross at
        ``cross_leverage_limit``; ``liq_price`` 0 is none (flat, or nothing liquidates)."""
        qty = self.market.position(VENUE, inst.symbol)
        entry = next(
            (p.entry_price for p in self.market.positions(VENUE) if p.symbol == inst.symbol), None
        )
        margin = self.margin[inst.symbol]
        liq = self._liquidation_price(inst, qty, entry or _ZERO, margin) or _ZERO
        cross = margin.mode == "cross"
        contracts = qty / inst.contract_multiplier
        if ws:
            wall = self.wall()
            return {
                "contract": inst.symbol,
                "size": int(contracts),
                "entry_price": entry or _ZERO,
                "mode": "single",
                "user": str(self.user_id),
                "leverage": 0 if cross else margin.leverage,
                "cross_leverage_limit": margin.leverage if cross else 0,
                "leverage_max": _leverage_max(inst),
                "maintenance_rate": MAINTENANCE_RATE,
                "liq_price": liq,
                "time": int(wall),
                "time_ms": int(wall * 1000),
            }
        mark = self._mark_price(inst)
        return {
            "user": self.user_id,
            "contract": inst.symbol,
            "size": _size(contracts, decimal_sizes),
            "leverage": "0" if cross else str(margin.leverage),
            "cross_leverage_limit": str(margin.leverage) if cross else "0",
            "leverage_max": str(_leverage_max(inst)),
            "maintenance_rate": format_decimal(MAINTENANCE_RATE),
            "value": format_decimal(abs(qty) * mark),
            "entry_price": format_decimal(entry) if entry else "0",
            "liq_price": format_decimal(liq),
            "mark_price": format_decimal(mark),
            "mode": "single",
            "pos_margin_mode": margin.mode,
        }

    def _mark_price(self, inst: Instrument) -> Decimal:
        """The emulator's mark: the simulated market's mid, on the contract's tick."""
        mid = Decimal(repr(self.market.mid(VENUE, inst.asset)))
        return mid.quantize(inst.tick_size)

    def _liquidation_price(
        self, inst: Instrument, qty: Decimal, entry: Decimal, margin: _Margin
    ) -> Decimal | None:
        """Where a position of ``qty`` (base units, signed) entered at ``entry`` is
        liquidated, None when flat or never. ``m`` = :data:`MAINTENANCE_RATE`, maintenance
        margin counted on the larger of the entry and liquidation notionals:

        * isolated at leverage L (only the initial margin ``entry·|qty|/L`` backs it): long
          ``entry·(1 − 1/L + m)``; short ``entry·(1 + 1/L)/(1 + m)``;
        * cross: the account's balance less the maintenance margin of its other positions
          (``B``) backs it: long ``(entry − B/|qty|)/(1 − m)``, short
          ``(entry + B/|qty|)/(1 + m)``.

        Rounded to the tick toward the entry price (specs/013-gateio.md)."""
        if not qty or entry <= 0:
            return None
        m = MAINTENANCE_RATE
        size = abs(qty)
        if margin.mode == "isolated":
            inverse = 1 / Decimal(margin.leverage)
            price = entry * (1 - inverse + m) if qty > 0 else entry * (1 + inverse) / (1 + m)
        else:
            others = sum(
                (m * abs(p.qty) * (p.entry_price or _ZERO) for p in self.market.positions(VENUE)
                 if p.symbol != inst.symbol),
                _ZERO,
            )  # fmt: skip
            backing = self.market.balances(VENUE)[0].total - others
            if qty > 0:
                price = (entry - backing / size) / (1 - m)
            else:
                price = (entry + backing / size) / (1 + m)
        if price <= 0:
            return None
        tick = inst.tick_size
        toward_entry = ROUND_CEILING if qty > 0 else ROUND_FLOOR
        return (price / tick).to_integral_value(toward_entry) * tick

    # leverage and margin mode
    async def _set_leverage(self, call: _Call) -> Response:
        """``POST .../positions/{contract}/leverage?leverage=N[&cross_leverage_limit=M]``:
        ``leverage`` > 0 sets isolated margin at N, 0 cross at M (or the current
        leverage). A setting already in place is answered like any other: 200."""
        inst = self._instrument(call.path_params["contract"])
        req = parse_leverage_query(call.params, call.req.body)
        current = self.margin[inst.symbol]
        if req.leverage == 0:
            setting = _Margin("cross", req.cross_limit or current.leverage)
        else:
            setting = _Margin("isolated", req.leverage)
        return self._configure(inst, setting, call.decimal_sizes)

    async def _set_cross_mode(self, call: _Call) -> Response:
        """``POST .../positions/cross_mode`` ``{"mode": "CROSS"|"ISOLATED", "contract"}``:
        the margin mode, the leverage kept."""
        contract, mode = parse_cross_mode(call.req.body)
        inst = self._instrument(contract)
        setting = _Margin(mode, self.margin[inst.symbol].leverage)
        return self._configure(inst, setting, call.decimal_sizes)

    def _configure(self, inst: Instrument, setting: _Margin, decimal_sizes: bool) -> Response:
        """Apply ``setting`` or refuse it (``INVALID_PARAM_VALUE``): a leverage outside
        1..``leverage_max``; a margin-mode change while a position is open. Pushes the
        position and answers it."""
        limit = _leverage_max(inst)
        if not 1 <= setting.leverage <= limit:
            raise GateError(
                "INVALID_PARAM_VALUE",
                f"leverage {setting.leverage} out of range 1..{limit} (leverage_max)",
            )
        current = self.margin[inst.symbol]
        if setting.mode != current.mode and self.market.position(VENUE, inst.symbol):
            raise GateError(
                "INVALID_PARAM_VALUE",
                f"cannot switch {inst.symbol} to {setting.mode} margin with an open position",
            )
        self.margin[inst.symbol] = setting
        self._push_private(
            "futures.positions", inst.symbol, [self._position_json(inst, False, ws=True)]
        )
        return (200, self._position_json(inst, decimal_sizes), {})

    async def _account_detail(self, call: _Call) -> Response:
        return (200, {"user_id": self.user_id, "ip_whitelist": [], "currency_pairs": []}, {})


LEVERAGE_PATH = "/futures/usdt/positions/{contract}/leverage"

# The REST paths the emulator serves, under /api/v4 (first match wins).
ROUTES: tuple[Route, ...] = (
    Route("GET", "/futures/usdt/contracts", "public", GateEmulator._contracts),
    Route("GET", "/futures/usdt/contracts/{contract}", "public", GateEmulator._contract),
    Route("GET", "/futures/usdt/order_book", "public", GateEmulator._order_book),
    Route("GET", "/spot/time", "public", GateEmulator._server_time),
    Route("POST", "/futures/usdt/orders", "place", GateEmulator._place),
    Route("GET", "/futures/usdt/orders", "private", GateEmulator._list_orders),
    Route("DELETE", "/futures/usdt/orders", "cancel", GateEmulator._cancel_all),
    Route("GET", "/futures/usdt/orders/{order_id}", "private", GateEmulator._get_order),
    Route("DELETE", "/futures/usdt/orders/{order_id}", "cancel", GateEmulator._cancel_order),
    Route("GET", "/futures/usdt/my_trades", "private", GateEmulator._my_trades),
    Route("GET", "/futures/usdt/accounts", "private", GateEmulator._accounts),
    Route("GET", "/futures/usdt/positions", "private", GateEmulator._positions),
    Route("POST", "/futures/usdt/positions/cross_mode", "private", GateEmulator._set_cross_mode),
    Route("GET", "/futures/usdt/positions/{contract}", "private", GateEmulator._position),
    Route("POST", LEVERAGE_PATH, "private", GateEmulator._set_leverage),
    Route("GET", "/account/detail", "private", GateEmulator._account_detail),
)

# simulator rejection reasons → Gate labels (first matching fragment wins)
REJECTION_LABELS: tuple[tuple[str, str], ...] = (
    (DUPLICATE_CLIENT_ORDER_ID, "INVALID_PARAM_VALUE"),
    ("no open position", "POSITION_EMPTY"),
    ("would increase", "INCREASE_POSITION"),
    ("below the minimum", "SIZE_TOO_SMALL"),
)


def _leverage_max(inst: Instrument) -> int:
    """The contract's ``leverage_max`` (the instrument's, else 100)."""
    return inst.max_leverage or 100


def _rejection_label(reason: str) -> str:
    for fragment, label in REJECTION_LABELS:
        if fragment in reason:
            return label
    return "INVALID_PARAM_VALUE"


def _trade_ws(order: _Order, t: _Trade) -> dict[str, Any]:
    """A ``futures.usertrades`` item (id a string, size an integer, fee a number)."""
    return {
        "id": str(t.id),
        "create_time": int(t.wall_time),
        "create_time_ms": int(t.wall_time * 1000),
        "contract": order.contract,
        "order_id": str(order.id),
        "size": int(t.size),
        "price": format_decimal(t.price),
        "role": "taker",
        "text": order.text,
        "fee": t.fee,
        "point_fee": 0,
    }


def _trade_rest(order: _Order, t: _Trade, decimal_sizes: bool) -> dict[str, Any]:
    """A ``GET /futures/usdt/my_trades`` item (id a number, fee a string)."""
    return {
        "id": t.id,
        "create_time": t.wall_time,
        "contract": order.contract,
        "order_id": str(order.id),
        "size": _size(t.size, decimal_sizes),
        "close_size": _size(_ZERO, decimal_sizes),
        "price": format_decimal(t.price),
        "role": "taker",
        "text": order.text,
        "fee": format_decimal(t.fee),
        "point_fee": "0",
    }


def _levels(
    inst: Instrument, levels: list[tuple[Decimal, Decimal]], *, decimal_sizes: bool
) -> list[dict[str, Any]]:
    """Book levels ``{"p": price string, "s": contracts}`` from base-unit sizes."""
    mult = inst.contract_multiplier
    return [{"p": format_decimal(p), "s": _size(s / mult, decimal_sizes)} for p, s in levels]


def _size(contracts: Decimal, decimal_sizes: bool) -> int | str:
    """A size field: a string with ``X-Gate-Size-Decimal: 1``, else an integer (truncated
    toward zero)."""
    return format_decimal(contracts) if decimal_sizes else int(contracts)
