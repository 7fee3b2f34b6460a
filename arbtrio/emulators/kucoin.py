"""KuCoin Futures emulator: the venue's protocol on loopback, backed by the shared
:class:`~arbtrio.sim.market.SimMarket`.

Written from the venue documentation (the facts are summarised in ``specs/014-kucoin.md``)
and independent of the client: nothing here imports :mod:`arbtrio.venues`. The venue's
facts — endpoints and weights, error codes, order and WebSocket command shapes, the order
checks — are in :mod:`arbtrio.emulators.kucoin_protocol`; the signature check and the
weight pools in :mod:`arbtrio.emulators.kucoin_gateway`.

Served as one ASGI app (:class:`arbtrio.emulators.app.EmulatorApp`):

* REST with the ``{"code": "200000", "data": ...}`` envelope (business errors HTTP 200 with
  their code, gateway errors 401, rate limits 429): contracts, ``level2/snapshot`` (the
  published book and its sequence), ``bullet-public`` and the signed ``bullet-private``
  (tokens valid 24 h of market time, one instance server), signed orders (place; list;
  query by clientOid or id; cancel by clientOid, by id, all), fills, positions, account overview
  (USDT only when asked: the venue's default currency is XBT), trade fees, funding,
  timestamp. Every signed call is verified as KuCoin does (headers, key, key version, 5 s
  timestamp window, signed passphrase, signature) and every call is charged to its
  weight pool (``gw-ratelimit-*`` headers; 429 ``429000`` when exhausted).
* WS at the instance server (``/?token=...&connectId=...``): an unknown token gets the
  401 error frame ``token invalid``, an expired one ``token is expired``, the 51st session
  509; each then is closed. Otherwise ``welcome``, then ``subscribe``/``unsubscribe``
  (``ack`` when ``response`` is true; 100 topics per request, 300 per session),
  ``ping``/``pong``, and pushes. A client silent for ``pingInterval + pingTimeout`` gets
  the 400 ``ping timeout`` error frame and is dropped.
* ``/contractMarket/level2:SYMBOL[,SYMBOL...]``: one push per changed level, ``sequence``
  +1 each, removals first (so applying pushes one by one never crosses the book).
* Private (``privateChannel: true`` on a private token): ``/contractMarket/tradeOrders``
  (``match`` per fill, then ``filled``/``canceled``), ``/contract/positionAll``
  (``position.change`` after a fill, with mark and liquidation price),
  ``/contractAccount/wallet`` (``walletBalance.change`` after a fill).
* Margin mode and leverage per account and symbol: ``getMarginMode`` /
  ``changeMarginMode`` (a switch is refused while the symbol holds a position),
  ``getCrossUserLeverage`` / ``changeCrossUserLeverage`` (1..``maxLeverage``); orders must
  carry the symbol's mode (``330005``); an isolated position takes the leverage of its
  opening order. Positions report ``marginMode``, ``crossMode``, ``leverage``,
  ``markPrice`` and the ``liquidationPrice`` of
  :func:`~arbtrio.emulators.kucoin_protocol.liquidation_price` (maintenance rate plus the
  taker fee of the closing trade; cross: the account's free balance behind the position).

Faults (``market.fault("kucoin", kind)`` or :attr:`KucoinEmulator.faults` ``.force``): per
tick with book subscribers ``feed_disconnect`` (close every book socket and expire its
token), ``sequence_gap``, ``bad_checksum`` (a malformed push: KuCoin has no checksum),
``stale_feed``; per order ``rate_limit`` (429 / ``429000``), ``reject`` (``300003``),
``ack_timeout_not_executed`` / ``ack_timeout_executed`` (no answer for ``hold_s``, then
500), ``duplicate_fill``. Tests can also :meth:`KucoinEmulator.expire_tokens`, and set
:attr:`KucoinEmulator.book_delay_s` to deliver every book push that much later with its
original ``timestamp`` (a feed that flows but lags). Only limit IOC orders are supported
(the simulated market keeps no resting orders).

Order record (``GET /__emulator__/orders``): every authenticated ``POST /api/v1/orders`` is
recorded once, when its fate is decided: ``executed`` (matched by the market; ``filled``
may be 0 or partial), ``rejected`` (refused with a code: by the order checks, the weight
pool, the ``rate_limit`` or ``reject`` fault, or the market; ``reason`` is "code message")
or ``unknown`` for ``ack_timeout_not_executed`` (the venue withholds the answer and never
executes the order). ``ack_timeout_executed`` is recorded ``executed`` with what filled —
the venue did execute it, only the answer is lost — and its ``reason`` names the fault.
A refused body that is not an order object is recorded with empty fields.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any
from urllib.parse import parse_qsl

import attrs
import msgspec
import trio

from arbtrio.core.instruments import Instrument, format_decimal
from arbtrio.core.types import Fill, OrderStatus, VenuePosition
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
from arbtrio.emulators.kucoin_gateway import (
    KEY_VERSIONS,
    POOL_LIMITS,
    WeightPool,
    verify_signed_request,
)
from arbtrio.emulators.kucoin_protocol import (
    DEFAULT_CROSS_LEVERAGE,
    MAINT_MARGIN_RATE,
    MARGIN_MODES,
    MAX_SESSIONS,
    MAX_TOPICS_PER_REQUEST,
    MAX_TOPICS_PER_SESSION,
    MODE_SWITCH_REFUSED,
    OK,
    ORDER_NOT_EXIST,
    PING_INTERVAL_MS,
    PING_TIMEOUT_MS,
    PLACE_ROUTE,
    PRIVATE_TOPICS,
    ROUTES,
    TOKEN_TTL_S,
    TOPIC_LEVEL2,
    VENUE,
    Code,
    KucoinError,
    ValidOrder,
    WsCommand,
    WsError,
    check_leverage,
    decode_cross_leverage,
    decode_margin_mode,
    decode_order,
    decode_ws_command,
    find_route,
    liquidation_price,
    lot_step,
    validate_order,
)
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.execution import DUPLICATE_CLIENT_ORDER_ID
from arbtrio.sim.market import SimMarket

__all__ = ["KucoinEmulator"]

_ZERO = Decimal(0)
_json = msgspec.json.Encoder(decimal_format="number")  # REST snapshot prices are numbers

Response = tuple[int, Any, dict[str, str]]
Handler = Callable[[HttpRequest, dict[str, str]], Awaitable[Response]]
_SERVER_ERROR: Response = (500, {"code": Code.INTERNAL, "msg": "Internal Server Error"}, {})


@attrs.define(eq=False)
class _Token:
    private: bool
    issued_at: float  # market clock
    expired: bool = False


@attrs.define(eq=False)
class _Trade:
    id: str
    price: Decimal
    lots: Decimal
    fee: Decimal
    ts_ns: int


@attrs.define(eq=False)
class _Order:
    id: str
    symbol: str
    side: str
    lots: Decimal
    filled: Decimal
    price: Decimal
    client_oid: str
    reduce_only: bool
    margin_mode: str
    leverage: Decimal | None
    created_ms: int
    trades: list[_Trade]


class KucoinEmulator(EmulatorApp):
    """One emulated KuCoin Futures account over the shared simulated market.

    Options: ``depth`` (levels published), ``hold_s`` (how long an ack-timeout fault holds
    the answer), ``stale_s`` (a ``stale_feed`` mute), ``wall_clock`` (server time for
    signatures and timestamps), ``key_version`` (the API key's version: ``KC-API-KEY-
    VERSION`` must equal it; "1" keys send a plain passphrase), ``margin_mode`` (every
    symbol's margin mode until the account switches it; orders must match it) and
    ``pool_limits`` (weight per 30 s window by pool, ``public``/``futures``; VIP0 2000 each
    by default).

    Test hooks: ``faults``, ``auth_failures``, ``token_rejections``, ``expire_tokens()``,
    ``inject_public(text)``, ``publish_tick()``, ``_published`` (the book as published),
    ``_conns`` (open sessions; ``conn.state["private"]``), ``_check_signature(request)``,
    ``order_log``, ``margin_modes`` / ``cross_leverage`` (the account's settings per symbol),
    ``config_log`` (every setting changed: ``(symbol, field, value)``), ``book_delay_s``.
    """

    venue = VENUE

    def __init__(
        self,
        market: SimMarket,
        driver: MarketDriver,
        credentials: ApiKeys,
        *,
        depth: int = 50,
        hold_s: float = 30.0,
        stale_s: float = 2.0,
        wall_clock: Callable[[], float] = time.time,
        key_version: str = "2",
        margin_mode: str = "ISOLATED",
        pool_limits: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(market, driver, credentials)
        if key_version not in KEY_VERSIONS:
            raise ValueError(f"kucoin emulator: key_version must be one of {KEY_VERSIONS}")
        if margin_mode not in MARGIN_MODES:
            raise ValueError(f"kucoin emulator: margin_mode must be one of {MARGIN_MODES}")
        self.depth = depth
        self.hold_s = hold_s
        self.stale_s = stale_s
        self.wall = wall_clock
        self.key_version = key_version
        self.margin_mode = margin_mode
        limits = POOL_LIMITS | dict(pool_limits or {})
        self.pools = {pool: WeightPool(limit) for pool, limit in limits.items()}
        self.faults = FaultSwitch(market, VENUE)
        self._published = {
            s: PublishedLadder(first_id=1_700_000_000_000 + 10**9 * n)
            for n, s in enumerate(self.instruments)
        }
        self._tokens: dict[str, _Token] = {}
        self._token_ids = itertools.count(1)
        self._conns: set[EmuConnection] = set()
        self._orders: dict[str, _Order] = {}
        self._by_oid: dict[str, str] = {}
        self._order_ids = itertools.count(234_125_150_956_625_920)
        self._trade_ids = itertools.count(1_000_000_000)
        self._handlers: dict[str, Handler] = {
            route.handler: getattr(self, f"_{route.handler}") for route in ROUTES
        }
        self.auth_failures = 0
        self.token_rejections = 0
        # the account's settings per symbol, as getMarginMode / getCrossUserLeverage report
        self.margin_modes = {s: margin_mode for s in self.instruments}
        self.cross_leverage = {s: DEFAULT_CROSS_LEVERAGE for s in self.instruments}
        self._isolated_leverage: dict[str, Decimal] = {}  # the last opening order's
        self.config_log: list[tuple[str, str, str]] = []
        # book pushes delivered late (their timestamps as built): (due, connection, frame)
        self.book_delay_s = 0.0
        self._late_send, self._late_recv = trio.open_memory_channel[
            tuple[float, EmuConnection, str]
        ](math.inf)
        self._late = 0  # pushes queued and not yet delivered
        self._late_due = -math.inf  # the last one's due time (delivery stays in order)

    # -- serving ---------------------------------------------------------------------------
    def endpoints(self, base_url: str) -> Endpoints:
        return Endpoints(
            venue=VENUE,
            rest_url=base_url,
            ws_url=base_url,  # the stream URL comes from the bullet answer
            credentials=self.credentials,
        )

    async def http(self, scope: Any, receive: Any, send: Any) -> None:
        request = await read_http_request(scope, receive)
        status, body, headers = await self._http(request)
        await send_http_response(send, status, _json.encode(body), headers)

    def expire_tokens(self) -> None:
        """Expire every token issued so far and drop their connections (tests)."""
        for token in self._tokens.values():
            token.expired = True
        for conn in list(self._conns):
            conn.kill()

    def inject_public(self, text: str) -> None:
        """Send ``text`` verbatim on every session with a book subscription (tests:
        malformed frames; the ``bad_checksum`` fault sends a truncated push this way)."""
        for conn in [c for c in self._conns if c.state.get("books")]:
            conn.offer(text)

    def _now_ms(self) -> int:
        return int(self.wall() * 1000)

    # -- market data -----------------------------------------------------------------------
    async def background(self) -> None:
        """Publish the market's book changes after every tick (and deliver late pushes)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._deliver_late)
            while True:
                await self.driver.wait_tick()
                self.publish_tick()

    def _offer_book(self, conn: EmuConnection, frame: str, now: float) -> None:
        """Send a book push now, or ``book_delay_s`` later (after every push still
        queued: a lagging feed keeps its order)."""
        if self.book_delay_s <= 0 and not self._late:
            conn.offer(frame)
            return
        self._late_due = max(self._late_due, now + self.book_delay_s)
        self._late += 1
        self._late_send.send_nowait((self._late_due, conn, frame))

    async def _deliver_late(self) -> None:
        async for due, conn, frame in self._late_recv:
            await trio.sleep_until(due)
            self._late -= 1
            conn.offer(frame)

    def publish_tick(self) -> None:
        for symbol in self.instruments:
            self._refresh(symbol)
        book_conns = [c for c in self._conns if c.state.get("books")]
        if not book_conns:
            return
        now = trio.current_time()
        if self.faults("stale_feed"):
            for conn in book_conns:
                conn.mute_until = now + self.stale_s
        if self.faults("sequence_gap"):
            for conn in book_conns:
                conn.drop_next_book = True
        if self.faults("bad_checksum"):
            self.inject_public('{"topic":"/contractMarket/level2:","type":"message","data":{"seq')
        if self.faults("feed_disconnect"):
            for conn in book_conns:
                self._tokens[conn.state["token"]].expired = True
                conn.kill()

    def _refresh(self, symbol: str) -> None:
        """Publish ``symbol``'s changed levels: one level2 push per level, removals first
        (bids then asks), then new sizes; each takes the next sequence."""
        pub = self._published[symbol]
        changes = pub.refresh(self.market, VENUE, symbol, self.depth)
        if changes is None:
            return
        bids, asks = changes
        inst = self.instruments[symbol]
        ordered = [("buy", p, s) for p, s in bids if s == 0] + [
            ("sell", p, s) for p, s in asks if s == 0
        ]
        ordered += [("buy", p, s) for p, s in bids if s != 0]
        ordered += [("sell", p, s) for p, s in asks if s != 0]
        topic = TOPIC_LEVEL2 + symbol
        ms = self._now_ms()
        subscribers = [c for c in self._conns if symbol in c.state.get("books", ())]
        now = trio.current_time()
        for side, price, size in ordered:
            pub.id += 1
            if not subscribers:
                continue
            frame = _json.encode(
                {
                    "topic": topic,
                    "type": "message",
                    "subject": "level2",
                    "sn": pub.id,
                    "data": {
                        "sequence": pub.id,
                        "change": f"{format_decimal(price)},{side},{_lots(inst, size)}",
                        "timestamp": ms,
                    },
                }
            ).decode()
            for conn in subscribers:
                if conn.drop_next_book:
                    conn.drop_next_book = False
                elif now >= conn.mute_until:
                    self._offer_book(conn, frame, now)

    # -- WebSocket -------------------------------------------------------------------------
    async def websocket(self, scope: Any, receive: Any, send: Any) -> None:
        params = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        ws = AsgiWebSocket(receive, send)
        if scope["path"] not in ("/", "/endpoint") or not await ws.accept():
            return
        connect_id = params.get("connectId", "")
        token = self._tokens.get(params.get("token", ""))
        refusal: tuple[int, str] | None = None
        if token is None:
            refusal = WsError.TOKEN_INVALID
        elif token.expired or trio.current_time() - token.issued_at > TOKEN_TTL_S:
            refusal = WsError.TOKEN_EXPIRED
        elif len(self._conns) >= MAX_SESSIONS:
            refusal = WsError.TOO_MANY_SESSIONS
        if refusal is not None:
            if refusal[0] == 401:
                self.token_rejections += 1
            await ws.send_text(_ws_error(connect_id, refusal))
            await ws.close(1000)
            return
        assert token is not None
        conn = EmuConnection(ws)
        conn.state.update(
            token=params["token"], private=token.private, books=set(), topics=set(),
            connect_id=connect_id,
        )  # fmt: skip
        conn.offer(_json.encode({"id": connect_id, "type": "welcome"}).decode())
        self._conns.add(conn)
        try:
            await run_connection(conn, self._ws_reader)
        finally:
            self._conns.discard(conn)

    async def _ws_reader(self, conn: EmuConnection) -> None:
        idle = (PING_INTERVAL_MS + PING_TIMEOUT_MS) / 1000
        while True:
            with trio.move_on_after(idle):
                text = await conn.ws.receive_text()
                if text is None:
                    return
                self._ws_request(conn, text)
                continue
            # the client stopped pinging: KuCoin says so and drops the connection
            frame = _ws_error(conn.state["connect_id"], WsError.PING_TIMEOUT)
            with trio.move_on_after(1.0), contextlib.suppress(trio.ClosedResourceError):
                await conn.ws.send_text(frame)
            return

    def _ws_request(self, conn: EmuConnection, text: str) -> None:
        command = decode_ws_command(text)
        if command is None:
            conn.offer(_ws_error("", WsError.COMMAND_INVALID))
            return
        if command.type == "ping":
            conn.offer(_json.encode({"id": command.id, "type": "pong"}).decode())
            return
        if command.type not in ("subscribe", "unsubscribe"):
            conn.offer(_ws_error(command.id, WsError.COMMAND_INVALID))
            return
        problem = self._subscription(conn, command)
        if problem is not None:
            conn.offer(_ws_error(command.id, problem))
        elif command.response:
            conn.offer(_json.encode({"id": command.id, "type": "ack"}).decode())

    def _subscription(self, conn: EmuConnection, command: WsCommand) -> tuple[int, str] | None:
        """Apply a subscribe/unsubscribe; the error frame's (code, text) if refused."""
        books: set[str] = conn.state["books"]
        topics: set[str] = conn.state["topics"]
        topic = command.topic
        symbols: list[str] = []
        if topic in PRIVATE_TOPICS:
            if not conn.state["private"] or not command.privateChannel:
                return WsError.LOGIN_REQUIRED
        elif topic.startswith(TOPIC_LEVEL2):
            symbols = topic[len(TOPIC_LEVEL2) :].split(",")
            if "" in symbols:
                return WsError.TOPIC_INVALID
            if not all(s in self.instruments for s in symbols):
                return WsError.TOPIC_NOT_EXIST
        elif not topic:
            return WsError.TOPIC_INVALID
        else:
            return WsError.TOPIC_NOT_EXIST
        if len(symbols) > MAX_TOPICS_PER_REQUEST:
            return WsError.TOO_MANY_TOPICS
        if command.type == "unsubscribe":
            books.difference_update(symbols)
            topics.discard(topic)
            return None
        after = len(books | set(symbols)) + len(topics | ({topic} if not symbols else set()))
        if after > MAX_TOPICS_PER_SESSION:
            return WsError.TOO_MANY_SESSION_TOPICS
        if not symbols:
            topics.add(topic)
        for symbol in symbols:
            self._refresh(symbol)  # publish pending changes before joining
            books.add(symbol)
        return None

    def _push_private(self, topic: str, subject: str, data: dict[str, Any], times: int = 1) -> None:
        wanted = "/contract/positionAll" if topic.startswith("/contract/position") else topic
        frame = _json.encode(
            {
                "topic": topic,
                "type": "message",
                "subject": subject,
                "channelType": "private",
                "data": data,
            }
        ).decode()
        for conn in list(self._conns):
            if wanted in conn.state["topics"]:
                for _ in range(times):
                    conn.offer(frame)

    # -- REST ------------------------------------------------------------------------------
    async def _http(self, req: HttpRequest) -> Response:
        """Route, authenticate (signed endpoints), charge the weight pool, answer. Every
        refusal is the venue's ``{"code", "msg"}`` answer; a refused placement is recorded."""
        limits: dict[str, str] = {}
        placing = False
        try:
            route, params = find_route(req.method, req.path)
            if route.signed:
                problem = self._check_signature(req)
                if problem is not None:
                    return problem
                placing = route.handler == PLACE_ROUTE
            limits = self.pools[route.pool].charge(route.weight, trio.current_time())
            status, body, headers = await self._handlers[route.handler](req, params)
        except KucoinError as exc:
            if placing:
                self._record_refused(req.body, exc)
            status, body, headers = exc.answer()
        return (status, body, limits | headers)

    def _check_signature(self, req: HttpRequest) -> Response | None:
        """None when ``req`` is signed with the account's keys, else the gateway's 401
        answer (counted in ``auth_failures``). The signed endpoint is the path and the raw
        query string as received."""
        endpoint = req.path + (f"?{req.query}" if req.query else "")
        try:
            verify_signed_request(
                req.headers, req.method, endpoint, req.body, self.credentials,
                key_version=self.key_version, now_ms=self.wall() * 1000,
            )  # fmt: skip
        except KucoinError as exc:
            self.auth_failures += 1
            return exc.answer()
        return None

    def _instrument(self, symbol: str) -> Instrument:
        inst = self.instruments.get(symbol)
        if inst is None:
            raise KucoinError(Code.CONTRACT_INVALID, "Contract not exists")
        return inst

    # bullets
    async def _bullet_public(self, req: HttpRequest, params: dict[str, str]) -> Response:
        return self._bullet(private=False)

    async def _bullet_private(self, req: HttpRequest, params: dict[str, str]) -> Response:
        return self._bullet(private=True)

    def _bullet(self, *, private: bool) -> Response:
        token = f"{'prv' if private else 'pub'}-{next(self._token_ids):08d}-emulator"
        self._tokens[token] = _Token(private=private, issued_at=trio.current_time())
        server = {
            "endpoint": ws_url(self.base_url, "/"),
            "encrypt": False,  # loopback: ws://
            "protocol": "websocket",
            "pingInterval": PING_INTERVAL_MS,
            "pingTimeout": PING_TIMEOUT_MS,
        }
        return _ok({"token": token, "instanceServers": [server]})

    # public
    async def _timestamp(self, req: HttpRequest, params: dict[str, str]) -> Response:
        return _ok(self._now_ms())

    async def _contracts(self, req: HttpRequest, params: dict[str, str]) -> Response:
        return _ok([self._contract_json(i) for i in self.instruments.values()])

    async def _contract(self, req: HttpRequest, params: dict[str, str]) -> Response:
        return _ok(self._contract_json(self._instrument(params["symbol"])))

    def _contract_json(self, inst: Instrument) -> dict[str, Any]:
        funding = self.market.funding_rate(VENUE, inst.symbol)
        until_ms = None
        if funding.next_funding_ts is not None:
            until_ms = int((funding.next_funding_ts - trio.current_time()) * 1000)
        return {
            "symbol": inst.symbol,
            "rootSymbol": "USDT",
            "type": "FFWCSX",
            "baseCurrency": "XBT" if inst.asset == "BTC" else inst.asset,
            "quoteCurrency": "USDT",
            "settleCurrency": "USDT",
            "multiplier": inst.contract_multiplier,
            "lotSize": lot_step(inst),
            "tickSize": inst.tick_size,
            "maxOrderQty": 1_000_000,
            "maxPrice": 1_000_000,
            "maxLeverage": self._max_leverage(inst),
            "initialMargin": 1 / Decimal(self._max_leverage(inst)),
            "maintainMargin": MAINT_MARGIN_RATE,
            "makerFeeRate": inst.maker_fee,
            "takerFeeRate": inst.taker_fee,
            "fundingFeeRate": funding.rate,
            "predictedFundingFeeRate": funding.rate,
            "fundingRateGranularity": inst.funding_interval_hours * 3_600_000,
            "nextFundingRateTime": until_ms,
            "status": "Open",
            "isInverse": False,
            "supportCross": True,
        }

    async def _snapshot(self, req: HttpRequest, params: dict[str, str]) -> Response:
        inst = self._instrument(_query(req).get("symbol", ""))
        self._refresh(inst.symbol)
        pub = self._published[inst.symbol]
        return _ok(
            {
                "sequence": pub.id,
                "symbol": inst.symbol,
                "bids": [[p, _lots(inst, s)] for p, s in pub.bids],
                "asks": [[p, _lots(inst, s)] for p, s in pub.asks],
                "ts": int(self.wall() * 1e9),
            }
        )

    async def _funding(self, req: HttpRequest, params: dict[str, str]) -> Response:
        inst = self._instrument(params["symbol"])
        funding = self.market.funding_rate(VENUE, inst.symbol)
        granularity = inst.funding_interval_hours * 3_600_000
        next_ms = None
        if funding.next_funding_ts is not None:
            next_ms = int((self.wall() + funding.next_funding_ts - trio.current_time()) * 1000)
        return _ok(
            {
                "symbol": f".{inst.symbol}FPI8H",
                "granularity": granularity,
                "timePoint": (next_ms or 0) - granularity,
                "value": funding.rate,
                "predictedValue": funding.rate,
                "fundingRateCap": Decimal("0.003"),
                "fundingRateFloor": Decimal("-0.003"),
                "period": 0,
                "fundingTime": next_ms,
            }
        )

    # orders
    async def _place(self, req: HttpRequest, params: dict[str, str]) -> Response:
        """``POST /api/v1/orders``: the venue's checks, the per-order faults, then the
        market. A refusal raises KucoinError (recorded by :meth:`_http`); an executed or
        withheld order is recorded here."""
        body = decode_order(req.body)
        inst = self._instrument(body.symbol)
        order = validate_order(inst, body, self.margin_modes[inst.symbol])
        qty = order.lots * inst.contract_multiplier
        if self.faults("rate_limit"):
            raise KucoinError(
                Code.TOO_MANY_REQUESTS, "Too Many Requests", 429,
                {"gw-ratelimit-reset": "1000", "gw-ratelimit-remaining": "0"},
            )  # fmt: skip
        if self.faults("reject"):
            self.market.reject(
                VENUE, inst.symbol, side=order.side, qty=qty, price=order.price,
                reduce_only=order.reduce_only, client_order_id=order.client_oid,
                reason="300003 balance not enough", now=trio.current_time(),
            )  # fmt: skip
            raise KucoinError(Code.BALANCE_NOT_ENOUGH, "Balance not enough")
        if self.faults("ack_timeout_not_executed"):
            self._record(inst, order, "unknown", reason="ack_timeout_not_executed: not executed")
            await trio.sleep(self.hold_s)
            return _SERVER_ERROR
        timeout_after = self.faults("ack_timeout_executed")
        await trio.sleep(self.market.latency(VENUE, "ack"))
        execution = self.market.execute(
            VENUE, inst.symbol, side=order.side, qty=qty, price=order.price,
            reduce_only=order.reduce_only, client_order_id=order.client_oid,
            now=trio.current_time(),
        )  # fmt: skip
        if execution.status is OrderStatus.REJECTED:
            raise KucoinError(_rejection_code(execution.reason), execution.reason)
        if execution.fills and not order.reduce_only and order.leverage is not None:
            self._isolated_leverage[inst.symbol] = order.leverage
        booked = self._book_order(inst, order, execution.fills)
        self._record(
            inst, order, "executed", filled=sum((f.qty for f in execution.fills), _ZERO),
            reason="ack_timeout_executed: answer withheld" if timeout_after else "",
        )  # fmt: skip
        if timeout_after:
            await trio.sleep(self.hold_s)
            return _SERVER_ERROR
        return _ok({"orderId": booked.id, "clientOid": booked.client_oid})

    def _record(
        self, inst: Instrument, order: ValidOrder, outcome: str, *, filled: Decimal = _ZERO,
        reason: str = "",
    ) -> None:  # fmt: skip
        self.record_order(
            client_order_id=order.client_oid, symbol=inst.symbol, side=order.side_text,
            qty=format_decimal(order.lots * inst.contract_multiplier),
            price=format_decimal(order.price), reduce_only=order.reduce_only,
            outcome=outcome, filled=format_decimal(filled), reason=reason,
        )  # fmt: skip

    def _record_refused(self, body: bytes, error: KucoinError) -> None:
        """Record a refused placement with what its body says (empty fields where it says
        nothing readable)."""
        fields: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            loaded = json.loads(body)
            if isinstance(loaded, dict):
                fields = loaded
        inst = self.instruments.get(str(fields.get("symbol", "")))
        size, qty = fields.get("size"), ""
        if inst is not None and isinstance(size, int) and not isinstance(size, bool):
            qty = format_decimal(size * inst.contract_multiplier)
        elif isinstance(fields.get("qty"), str):
            qty = fields["qty"]
        self.record_order(
            client_order_id=str(fields.get("clientOid", "")),
            symbol=str(fields.get("symbol", "")), side=str(fields.get("side", "")), qty=qty,
            price=str(fields.get("price", "")), reduce_only=fields.get("reduceOnly") is True,
            outcome="rejected", reason=f"{error.code} {error.msg}",
        )  # fmt: skip

    def _book_order(self, inst: Instrument, order: ValidOrder, fills: tuple[Fill, ...]) -> _Order:
        """Keep the executed order (query, fills) and push its events: a ``match`` per fill
        (twice under ``duplicate_fill``), then ``filled`` or ``canceled``; after fills, the
        position and the wallet."""
        mult = inst.contract_multiplier
        now_ms = self._now_ms()
        booked = _Order(
            id=str(next(self._order_ids)),
            symbol=inst.symbol,
            side=order.side_text,
            lots=Decimal(order.lots),
            filled=_ZERO,
            price=order.price,
            client_oid=order.client_oid,
            reduce_only=order.reduce_only,
            margin_mode=order.margin_mode,
            leverage=order.leverage,
            created_ms=now_ms,
            trades=[],
        )
        self._orders[booked.id] = booked
        self._by_oid[booked.client_oid] = booked.id
        for fill in fills:
            trade = _Trade(str(next(self._trade_ids)), fill.price, fill.qty / mult, fill.fee,
                           now_ms * 1_000_000)  # fmt: skip
            booked.trades.append(trade)
            booked.filled += trade.lots
            data = self._order_change(booked, "match", "match")
            data.update(
                matchPrice=format_decimal(trade.price), matchSize=format_decimal(trade.lots),
                tradeId=trade.id, liquidity="taker", feeType="takerFee",
            )  # fmt: skip
            times = 2 if self.faults("duplicate_fill") else 1
            self._push_private("/contractMarket/tradeOrders", "orderChange", data, times)
        done = "filled" if booked.filled == booked.lots else "canceled"
        self._push_private(
            "/contractMarket/tradeOrders", "orderChange", self._order_change(booked, done, "done")
        )
        if fills:
            self._push_private(
                f"/contract/position:{inst.symbol}", "position.change", self._position_json(inst)
            )
            balance = self.market.balances(VENUE)[0]
            self._push_private(
                "/contractAccount/wallet",
                "walletBalance.change",
                {
                    "currency": balance.currency,
                    "walletBalance": format_decimal(balance.total),
                    "availableBalance": format_decimal(balance.available),
                    "holdBalance": "0",
                    "equity": format_decimal(balance.total),
                    "version": str(now_ms),
                    "timestamp": str(now_ms),
                },
            )
        return booked

    def _order_change(self, order: _Order, kind: str, status: str) -> dict[str, Any]:
        remain = order.lots - order.filled if status != "done" else _ZERO
        return {
            "symbol": order.symbol,
            "orderType": "limit",
            "side": order.side,
            "orderId": order.id,
            "clientOid": order.client_oid,
            "marginMode": order.margin_mode,
            "type": kind,
            "status": status,
            "size": format_decimal(order.lots),
            "filledSize": format_decimal(order.filled),
            "remainSize": format_decimal(remain),
            "canceledSize": format_decimal(
                order.lots - order.filled if kind == "canceled" else _ZERO
            ),
            "price": format_decimal(order.price),
            "tradeType": "trade",
            "orderTime": order.created_ms * 1_000_000,
            "ts": int(self.wall() * 1e9),
        }

    def _order_json(self, order: _Order) -> dict[str, Any]:
        mult = self.instruments[order.symbol].contract_multiplier
        value = sum((t.price * t.lots * mult for t in order.trades), _ZERO)
        filled_qty = order.filled * mult
        return {
            "id": order.id,
            "symbol": order.symbol,
            "type": "limit",
            "side": order.side,
            "price": format_decimal(order.price),
            "size": order.lots,
            "value": format_decimal(order.price * order.lots * mult),
            "filledSize": order.filled,
            "filledValue": format_decimal(value),
            "dealSize": order.filled,
            "dealValue": format_decimal(value),
            "avgDealPrice": format_decimal(value / filled_qty) if filled_qty else "0",
            "status": "done",
            "isActive": False,
            "cancelExist": order.filled < order.lots,
            "clientOid": order.client_oid,
            "leverage": format_decimal(order.leverage) if order.leverage is not None else None,
            "marginMode": order.margin_mode,
            "reduceOnly": order.reduce_only,
            "closeOrder": False,
            "timeInForce": "IOC",
            "postOnly": False,
            "createdAt": order.created_ms,
            "updatedAt": order.created_ms,
            "endAt": order.created_ms,
            "orderTime": order.created_ms * 1_000_000,
            "settleCurrency": "USDT",
        }

    def _known_order(self, order_id: str | None) -> _Order:
        order = self._orders.get(order_id or "")
        if order is None:
            raise KucoinError(Code.INVALID_PARAMETER, ORDER_NOT_EXIST)
        return order

    async def _order_by_client_oid(self, req: HttpRequest, params: dict[str, str]) -> Response:
        order = self._known_order(self._by_oid.get(_query(req).get("clientOid", "")))
        return _ok(self._order_json(order))

    async def _order_list(self, req: HttpRequest, params: dict[str, str]) -> Response:
        """``GET /api/v1/orders?status=active|done[&symbol=]``: nothing is ever active."""
        query = _query(req)
        status, symbol = query.get("status", ""), query.get("symbol", "")
        if status not in ("active", "done"):
            raise KucoinError(Code.INVALID_PARAMETER, "Parameter status must be active or done")
        if symbol:
            self._instrument(symbol)
        items = [
            self._order_json(o)
            for o in self._orders.values()
            if status == "done" and symbol in ("", o.symbol)
        ]
        return _ok(
            {"currentPage": 1, "pageSize": max(50, len(items)), "totalNum": len(items),
             "totalPage": 1, "items": items}
        )  # fmt: skip

    async def _order_by_id(self, req: HttpRequest, params: dict[str, str]) -> Response:
        return _ok(self._order_json(self._known_order(params["orderId"])))

    async def _cancel_by_oid(self, req: HttpRequest, params: dict[str, str]) -> Response:
        """``DELETE /api/v1/orders/client-order/{clientOid}?symbol=``: every order is an
        IOC, done on arrival, so a known one is ``100004`` (not cancelable)."""
        symbol = _query(req).get("symbol", "")
        if not symbol:
            raise KucoinError(Code.INVALID_PARAMETER, "Parameter symbol is required")
        order = self._known_order(self._by_oid.get(params["clientOid"]))
        if order.symbol != symbol:
            raise KucoinError(Code.INVALID_PARAMETER, ORDER_NOT_EXIST)
        raise KucoinError(Code.NOT_CANCELABLE, "The order cannot be canceled")

    async def _cancel_by_id(self, req: HttpRequest, params: dict[str, str]) -> Response:
        self._known_order(params["orderId"])
        raise KucoinError(Code.NOT_CANCELABLE, "The order cannot be canceled")

    async def _cancel_all(self, req: HttpRequest, params: dict[str, str]) -> Response:
        """``DELETE /api/v3/orders?symbol=``: nothing ever rests, so nothing is cancelled."""
        self._instrument(_query(req).get("symbol", ""))
        return _ok({"cancelledOrderIds": []})

    async def _fills(self, req: HttpRequest, params: dict[str, str]) -> Response:
        order = self._orders.get(_query(req).get("orderId", ""))
        items = []
        if order is not None:
            inst = self.instruments[order.symbol]
            mult = inst.contract_multiplier
            items = [
                {
                    "symbol": order.symbol,
                    "tradeId": t.id,
                    "orderId": order.id,
                    "side": order.side,
                    "liquidity": "taker",
                    "forceTaker": False,
                    "price": format_decimal(t.price),
                    "size": t.lots,
                    "value": format_decimal(t.price * t.lots * mult),
                    "feeRate": format_decimal(inst.taker_fee),
                    "fixFee": "0",
                    "feeCurrency": "USDT",
                    "fee": format_decimal(t.fee),
                    "openFeePay": format_decimal(_ZERO if order.reduce_only else t.fee),
                    "closeFeePay": format_decimal(t.fee if order.reduce_only else _ZERO),
                    "orderType": "limit",
                    "tradeType": "trade",
                    "createdAt": order.created_ms,
                    "tradeTime": t.ts_ns,
                }
                for t in order.trades
            ]
        return _ok(
            {"currentPage": 1, "pageSize": 50, "totalNum": len(items), "totalPage": 1,
             "items": items}
        )  # fmt: skip

    async def _position(self, req: HttpRequest, params: dict[str, str]) -> Response:
        return _ok(self._position_json(self._instrument(_query(req).get("symbol", ""))))

    async def _positions(self, req: HttpRequest, params: dict[str, str]) -> Response:
        return _ok([self._position_json(inst) for inst in self.instruments.values()])

    def _position_json(self, inst: Instrument) -> dict[str, Any]:
        """The position of ``inst`` as the venue reports it (REST and ``position.change``):
        the symbol's margin mode and leverage, the mark price, and the liquidation and
        bankruptcy prices of :meth:`_liquidation` (0 when flat)."""
        symbol = inst.symbol
        held = {p.symbol: p for p in self.market.positions(VENUE)}
        qty = self.market.position(VENUE, symbol)
        entry = held[symbol].entry_price if symbol in held else None
        mode = self.margin_modes[symbol]
        leverage = self._leverage(symbol)
        liquidation = bankrupt = _ZERO
        if qty and entry:
            rate = MAINT_MARGIN_RATE + inst.taker_fee
            liquidation = self._liquidation(inst, qty, entry, held, rate)
            bankrupt = self._liquidation(inst, qty, entry, held, _ZERO)
        return {
            "symbol": symbol,
            "currentQty": _lots(inst, qty) if qty >= 0 else -_lots(inst, -qty),
            "avgEntryPrice": entry if entry else 0,
            "isOpen": qty != 0,
            "markPrice": self._mark(inst),
            "liquidationPrice": liquidation,
            "bankruptPrice": bankrupt,
            "maintMarginReq": MAINT_MARGIN_RATE,
            "leverage": leverage,
            "marginMode": mode,
            "crossMode": mode == "CROSS",
            "positionSide": "BOTH",
            "settleCurrency": "USDT",
            "changeReason": "positionChange",
            "currentTimestamp": self._now_ms(),
        }

    def _leverage(self, symbol: str) -> Decimal:
        """The symbol's leverage: the cross setting, or (isolated) the last opening
        order's leverage (the cross setting until one opened)."""
        cross = Decimal(self.cross_leverage[symbol])
        if self.margin_modes[symbol] == "CROSS":
            return cross
        return self._isolated_leverage.get(symbol, cross)

    def _liquidation(
        self, inst: Instrument, qty: Decimal, entry: Decimal,
        held: Mapping[str, VenuePosition], rate: Decimal,
    ) -> Decimal:  # fmt: skip
        """:func:`liquidation_price` on the tick, rounded towards the entry (a long's up, a
        short's down): isolated, the position's own margin stands behind it; cross, the
        account's balance less the margin of every other position."""
        symbol = inst.symbol
        if self.margin_modes[symbol] == "CROSS":
            others = sum(
                (abs(p.qty) * (p.entry_price or _ZERO) / self._leverage(s)
                 for s, p in held.items() if s != symbol),
                _ZERO,
            )  # fmt: skip
            collateral = self.market.balances(VENUE)[0].total - others
        else:
            collateral = abs(qty) * entry / self._leverage(symbol)
        price = liquidation_price(entry, qty, collateral, rate)
        rounding = ROUND_CEILING if qty > 0 else ROUND_FLOOR
        return price.quantize(inst.tick_size, rounding=rounding)

    def _mark(self, inst: Instrument) -> Decimal:
        """The mark price: the venue's mid, on the tick."""
        return Decimal(repr(self.market.mid(VENUE, inst.asset))).quantize(inst.tick_size)

    def _max_leverage(self, inst: Instrument) -> int:
        return inst.max_leverage or 125

    # margin mode and leverage
    async def _get_margin_mode(self, req: HttpRequest, params: dict[str, str]) -> Response:
        inst = self._instrument(_query(req).get("symbol", ""))
        return _ok({"symbol": inst.symbol, "marginMode": self.margin_modes[inst.symbol]})

    async def _change_margin_mode(self, req: HttpRequest, params: dict[str, str]) -> Response:
        """Switch a symbol's margin mode (the mode it already has: nothing changes, the
        same answer); refused while the symbol holds a position."""
        request = decode_margin_mode(req.body)
        inst = self._instrument(request.symbol)
        symbol, mode = inst.symbol, request.marginMode
        if mode != self.margin_modes[symbol]:
            if self.market.position(VENUE, symbol) != 0:
                raise KucoinError(Code.ILLEGAL_PARAMETER, MODE_SWITCH_REFUSED)
            self.margin_modes[symbol] = mode
            self.config_log.append((symbol, "marginMode", mode))
        return _ok({"symbol": symbol, "marginMode": mode})

    async def _get_cross_leverage(self, req: HttpRequest, params: dict[str, str]) -> Response:
        inst = self._instrument(_query(req).get("symbol", ""))
        return _ok({"symbol": inst.symbol, "leverage": str(self.cross_leverage[inst.symbol])})

    async def _change_cross_leverage(self, req: HttpRequest, params: dict[str, str]) -> Response:
        """Set a symbol's cross leverage (1..maxLeverage; the same value: nothing changes)."""
        symbol, requested = decode_cross_leverage(req.body)
        inst = self._instrument(symbol)
        leverage = check_leverage(requested, self._max_leverage(inst))
        if leverage != self.cross_leverage[inst.symbol]:
            self.cross_leverage[inst.symbol] = leverage
            self.config_log.append((inst.symbol, "leverage", str(leverage)))
        return _ok(True)

    async def _account_overview(self, req: HttpRequest, params: dict[str, str]) -> Response:
        """The account in ``currency`` (the venue's default is XBT, which this account does
        not hold: all zero)."""
        currency = _query(req).get("currency") or "XBT"
        balance = self.market.balances(VENUE)[0]
        total, available = (balance.total, balance.available) if currency == "USDT" else (0, 0)
        return _ok(
            {
                "accountEquity": total,
                "unrealisedPNL": 0,
                "marginBalance": total,
                "positionMargin": total - available,
                "orderMargin": 0,
                "frozenFunds": 0,
                "availableBalance": available,
                "currency": currency,
            }
        )

    async def _trade_fees(self, req: HttpRequest, params: dict[str, str]) -> Response:
        inst = self._instrument(_query(req).get("symbol", ""))
        return _ok(
            {
                "symbol": inst.symbol,
                "takerFeeRate": format_decimal(inst.taker_fee),
                "makerFeeRate": format_decimal(inst.maker_fee),
            }
        )


# simulator rejection reasons → KuCoin codes (first matching fragment wins)
REJECTION_CODES: tuple[tuple[str, str], ...] = (
    (DUPLICATE_CLIENT_ORDER_ID, Code.INVALID_PARAMETER),
    ("no open position", Code.NO_POSITION),
    ("would increase", Code.NO_POSITION),
    ("below the minimum", Code.INVALID_PARAMETER),
)


def _rejection_code(reason: str) -> str:
    for fragment, code in REJECTION_CODES:
        if fragment in reason:
            return code
    return Code.INVALID_PARAMETER


def _lots(inst: Instrument, qty: Decimal) -> int:
    return int(qty / inst.contract_multiplier)


def _query(req: HttpRequest) -> dict[str, str]:
    return dict(parse_qsl(req.query, keep_blank_values=True))


def _ok(data: Any) -> Response:
    return (200, {"code": OK, "data": data}, {})


def _ws_error(req_id: str | int, error: tuple[int, str]) -> str:
    code, text = error
    return _json.encode({"id": req_id, "type": "error", "code": code, "data": text}).decode()
