"""Gate.io API v4 (USDT perpetual futures) emulator: the venue's protocol on loopback,
backed by the shared :class:`~arbtrio.sim.market.SimMarket`.

Served as one ASGI app (:class:`arbtrio.venues.emulator.EmulatorApp`):

* REST under ``/api/v4``: contracts, ``order_book?with_id=true`` (the published book and
  its id), signed ``POST/GET/DELETE /futures/usdt/orders``, ``GET /futures/usdt/orders``
  (list), ``my_trades``, ``accounts``, ``positions``, ``/account/detail``, ``/spot/time``.
  Signed requests are verified exactly as Gate does (``KEY``/``Timestamp``/``SIGN``, 60 s
  window); errors are ``{"label", "message"}`` with the venue's status codes. A ``text``
  works as an order id only while the order is open or up to 60 s after it finished.
* WS ``/v4/ws/usdt``: ``futures.order_book_update`` pushes (``U``/``u`` ids; one id per
  changed level), ``futures.ping``/``pong``, private ``futures.orders``/``usertrades``/
  ``positions``/``balances`` with per-message auth and the user id as first payload item.

Faults (``market.fault("gateio", kind)``, or :attr:`GateEmulator.faults` ``.force``):
per market tick with book subscribers ``feed_disconnect`` (close every book socket),
``sequence_gap`` (each book socket misses its next push), ``bad_checksum`` (a malformed
frame: Gate has no checksum), ``stale_feed`` (no pushes for ``stale_s``); per order
``rate_limit`` (429 ``TOO_MANY_REQUESTS``), ``reject`` (``INSUFFICIENT_AVAILABLE``),
``ack_timeout_not_executed`` / ``ack_timeout_executed`` (no answer for ``hold_s``, then
504, with the order not executed / executed), ``duplicate_fill`` (a usertrade pushed twice).
Only limit IOC orders are supported (the simulator has no resting orders).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
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
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.execution import DUPLICATE_CLIENT_ORDER_ID
from arbtrio.sim.market import SimMarket
from arbtrio.venues.gateio import codecs, sign
from arbtrio.venues.gateio.books import BOOK_CHANNEL

VENUE = codecs.VENUE
API = "/api/v4"
WS_PATH = "/v4/ws/usdt"
PRIVATE_CHANNELS = ("futures.orders", "futures.usertrades", "futures.positions", "futures.balances")
TEXT_LOOKUP_WINDOW_S = 60.0
SIGN_WINDOW_S = 60.0
_ZERO = Decimal(0)
_json = msgspec.json.Encoder(decimal_format="number")

Response = tuple[int, Any, dict[str, str]]


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
    finished_at: float  # market clock, for the 60 s text-lookup window
    trades: list[_Trade]


class GateEmulator(EmulatorApp):
    """One emulated Gate.io account (``user_id``) over the shared simulated market."""

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

    # -- serving ---------------------------------------------------------------------------
    def endpoints(self, base_url: str) -> Endpoints:
        ws = ws_url(base_url, WS_PATH)
        return Endpoints(
            venue=VENUE,
            rest_url=base_url + API,
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

    # -- market data -----------------------------------------------------------------------
    async def background(self) -> None:
        """Publish the market's book changes after every tick."""
        while True:
            await self.driver.wait_tick()
            self.publish_tick()

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
            garbage = (
                '{"time":1,"channel":"futures.order_book_update","event":"update","result":{"s":'
            )
            for conn in self._book_conns:
                conn.offer(garbage)
        if self.faults("feed_disconnect"):
            for conn in list(self._book_conns):
                conn.kill()

    def _refresh(self, symbol: str) -> None:
        """Catch the published book up with the market and push the change (if any)."""
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
                    "b": [{"p": format_decimal(p), "s": _contracts(inst, s)} for p, s in bids],
                    "a": [{"p": format_decimal(p), "s": _contracts(inst, s)} for p, s in asks],
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
            conn.offer(frame)

    # -- WebSocket -------------------------------------------------------------------------
    async def _ws_reader(self, conn: EmuConnection) -> None:
        while (text := await conn.ws.receive_text()) is not None:
            try:
                req = codecs.ws_request_decoder.decode(text)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                conn.offer(self._ws_reply("", "", None, 1, f"invalid request: {exc}"))
                continue
            if req.channel == "futures.ping":
                wall = self.wall()
                conn.offer(
                    _json.encode(
                        {
                            "time": int(wall),
                            "time_ms": int(wall * 1000),
                            "channel": "futures.pong",
                            "event": "",
                            "result": None,
                        }
                    ).decode()
                )
            elif req.channel == BOOK_CHANNEL:
                self._ws_book(conn, req)
            elif (
                req.channel in ("futures.orders", "futures.usertrades", "futures.positions")
                or req.channel == "futures.balances"
            ):
                self._ws_private(conn, req)
            else:
                conn.offer(self._ws_reply(req.channel, req.event, req.id, 2, "unknown channel"))

    def _ws_reply(
        self, channel: str, event: str, req_id: int | None, code: int = 0, message: str = ""
    ) -> str:
        wall = self.wall()
        body: dict[str, Any] = {
            "time": int(wall),
            "time_ms": int(wall * 1000),
            "channel": channel,
            "event": event,
            "error": {"code": code, "message": message} if code else None,
            "result": None if code else {"status": "success"},
        }
        if req_id is not None:
            body["id"] = req_id
        return _json.encode(body).decode()

    def _ws_book(self, conn: EmuConnection, req: codecs.WsRequest) -> None:
        books: set[str] = conn.state.setdefault("books", set())
        if not req.payload or req.payload[0] not in self.instruments:
            conn.offer(self._ws_reply(req.channel, req.event, req.id, 2, "unknown contract"))
            return
        symbol = req.payload[0]
        if req.event == "subscribe":
            if len(req.payload) > 2 and req.payload[2] not in ("20", "50", "100"):
                conn.offer(self._ws_reply(req.channel, req.event, req.id, 2, "invalid level"))
                return
            self._refresh(symbol)  # publish pending changes before this subscriber joins
            books.add(symbol)
            self._book_conns.add(conn)
        elif req.event == "unsubscribe":
            books.discard(symbol)
        conn.offer(self._ws_reply(req.channel, req.event, req.id))

    def _ws_private(self, conn: EmuConnection, req: codecs.WsRequest) -> None:
        creds = self.credentials
        auth = req.auth
        if (
            auth is None
            or not hmac.compare_digest(auth.KEY, creds.api_key)
            or abs(req.time - self.wall()) > SIGN_WINDOW_S
            or not hmac.compare_digest(
                auth.SIGN, sign.ws_sign(creds.api_secret, req.channel, req.event, req.time)
            )
        ):
            self.auth_failures += 1
            message = '{"label":"INVALID_KEY","message":"Invalid key or signature"}'
            conn.offer(self._ws_reply(req.channel, req.event, req.id, 4, message))
            return
        if not req.payload or req.payload[0] != str(self.user_id):
            conn.offer(self._ws_reply(req.channel, req.event, req.id, 2, "invalid user id"))
            return
        channels: set[str] = conn.state.setdefault("private", set())
        if req.event == "subscribe":
            channels.add(req.channel)
            self._private_conns.add(conn)
        else:
            channels.discard(req.channel)
        conn.offer(self._ws_reply(req.channel, req.event, req.id))

    def _push_private(self, channel: str, result: list[dict[str, Any]], times: int = 1) -> None:
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
            if channel in conn.state.get("private", ()):
                for _ in range(times):
                    conn.offer(frame)

    # -- REST ------------------------------------------------------------------------------
    async def _http(self, req: HttpRequest) -> Response:
        self.requests += 1
        if not req.path.startswith(API):
            return _error(404, "NOT_FOUND", f"no route {req.path}")
        path = req.path[len(API) :]
        public = PUBLIC_ROUTES.get((req.method, path))
        if public is not None:
            return public(self, req)
        if req.method == "GET" and path.startswith("/futures/usdt/contracts/"):
            return self._contract(path.rsplit("/", 1)[1])
        auth = self._check_signature(req)
        if auth is not None:
            return auth
        decimal_sizes = req.headers.get("x-gate-size-decimal") == "1"
        if (req.method, path) == ("POST", "/futures/usdt/orders"):
            return await self._place(req, decimal_sizes)
        if path.startswith("/futures/usdt/orders/"):
            ref = path.rsplit("/", 1)[1]
            if req.method == "GET":
                return self._get_order(ref, decimal_sizes)
            if req.method == "DELETE":
                return self._cancel_order(ref, decimal_sizes)
        private = PRIVATE_ROUTES.get((req.method, path))
        if private is not None:
            return private(self, req, decimal_sizes)
        return _error(404, "NOT_FOUND", f"no route {req.method} {path}")

    def _check_signature(self, req: HttpRequest) -> Response | None:
        key, ts, signature = (req.headers.get(h) for h in ("key", "timestamp", "sign"))
        creds = self.credentials
        if not key or not ts or not signature:
            self.auth_failures += 1
            return _error(401, "MISSING_REQUIRED_HEADER", "KEY, Timestamp and SIGN are required")
        if not hmac.compare_digest(key, creds.api_key):
            self.auth_failures += 1
            return _error(401, "INVALID_KEY", "Invalid key provided")
        try:
            ts_value = float(ts)
        except ValueError:
            ts_value = float("nan")
        if not abs(ts_value - self.wall()) <= SIGN_WINDOW_S:
            self.auth_failures += 1
            return _error(401, "REQUEST_EXPIRED", "gap between request Timestamp and server time")
        expected = sign.rest_sign(creds.api_secret, req.method, req.path, req.query, req.body, ts)
        if not hmac.compare_digest(signature, expected):
            self.auth_failures += 1
            return _error(401, "INVALID_SIGNATURE", "Signature mismatch")
        return None

    # public
    def _contracts(self, req: HttpRequest) -> Response:
        return (200, [self._contract_json(i) for i in self.instruments.values()], {})

    def _contract(self, name: str) -> Response:
        inst = self.instruments.get(name)
        if inst is None:
            return _error(404, "CONTRACT_NOT_FOUND", f"contract {name} not found")
        return (200, self._contract_json(inst), {})

    def _contract_json(self, inst: Instrument) -> dict[str, Any]:
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
            "order_size_min": int(inst.min_size / mult),
            "order_size_max": 1_000_000,
            "maker_fee_rate": format_decimal(inst.maker_fee),
            "taker_fee_rate": format_decimal(inst.taker_fee),
            "funding_rate": format_decimal(funding.rate),
            "funding_interval": inst.funding_interval_hours * 3600,
            "funding_next_apply": next_apply,
            "leverage_min": "1",
            "leverage_max": str(inst.max_leverage or 100),
            "status": "trading",
            "in_delisting": False,
            "enable_decimal": False,
        }

    def _order_book(self, req: HttpRequest) -> Response:
        params = _params(req.query)
        symbol = params.get("contract", "")
        if symbol not in self.instruments:
            return _error(400, "CONTRACT_NOT_FOUND", f"contract {symbol} not found")
        try:
            limit = int(params.get("limit", "10"))
        except ValueError:
            return _error(400, "INVALID_PARAM_VALUE", "limit")
        self._refresh(symbol)
        pub = self._published[symbol]
        inst = self.instruments[symbol]
        body: dict[str, Any] = {
            "current": self.wall(),
            "update": self.wall(),
            "asks": [{"p": format_decimal(p), "s": _contracts(inst, s)} for p, s in pub.asks][
                :limit
            ],
            "bids": [{"p": format_decimal(p), "s": _contracts(inst, s)} for p, s in pub.bids][
                :limit
            ],
        }
        if params.get("with_id") == "true":
            body["id"] = pub.id
        return (200, body, {})

    def _server_time(self, req: HttpRequest) -> Response:
        return (200, {"server_time": int(self.wall() * 1000)}, {})

    # orders
    async def _place(self, req: HttpRequest, decimal_sizes: bool) -> Response:
        try:
            body = codecs.order_create_decoder.decode(req.body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return _error(400, "INVALID_REQUEST_BODY", str(exc))
        inst = self.instruments.get(body.contract)
        if inst is None:
            return _error(400, "CONTRACT_NOT_FOUND", f"contract {body.contract} not found")
        problem = _validate_order(inst, body)
        if problem:
            return problem
        contracts = Decimal(str(body.size))
        price = Decimal(body.price)
        side = Side.BUY if contracts > 0 else Side.SELL
        qty = abs(contracts) * inst.contract_multiplier
        now = trio.current_time()
        if self.faults("rate_limit"):
            reset = str(int((self.wall() + 1.0) * 1000))
            return _error(
                429,
                "TOO_MANY_REQUESTS",
                "Request Rate limit Exceeded",
                {"X-Gate-RateLimit-Reset-Timestamp": reset},
            )
        if self.faults("reject"):
            self.market.reject(
                VENUE, inst.symbol, side=side, qty=qty, price=price,
                reduce_only=body.reduce_only, client_order_id=body.text,
                reason="INSUFFICIENT_AVAILABLE", now=now,
            )  # fmt: skip
            return _error(400, "INSUFFICIENT_AVAILABLE", "insufficient available balance")
        if self.faults("ack_timeout_not_executed"):
            await trio.sleep(self.hold_s)
            return _error(504, "SERVER_ERROR", "gateway timeout")
        timeout_after = self.faults("ack_timeout_executed")
        await trio.sleep(self.market.latency(VENUE, "ack"))
        execution = self.market.execute(
            VENUE, inst.symbol, side=side, qty=qty, price=price,
            reduce_only=body.reduce_only, client_order_id=body.text, now=trio.current_time(),
        )  # fmt: skip
        if execution.status is OrderStatus.REJECTED:
            label = _rejection_label(execution.reason)
            return _error(400, label, execution.reason)
        order = self._book_order(inst, body, contracts, price, execution.fills, execution.status)
        if timeout_after:
            await trio.sleep(self.hold_s)
            return _error(504, "SERVER_ERROR", "gateway timeout")
        return (201, self._order_json(order, decimal_sizes, rest=True), {})

    def _book_order(
        self,
        inst: Instrument,
        body: codecs.OrderCreate,
        contracts: Decimal,
        price: Decimal,
        fills: tuple[Fill, ...],
        status: OrderStatus,
    ) -> _Order:
        """Record an executed IOC order and push its private events."""
        self._next_order_id += 1
        mult = inst.contract_multiplier
        filled = sum((f.qty for f in fills), _ZERO) / mult
        cost = sum((f.qty * f.price for f in fills), _ZERO)
        sign_ = 1 if contracts > 0 else -1
        wall = self.wall()
        order = _Order(
            id=self._next_order_id,
            contract=inst.symbol,
            size=contracts,
            left=(abs(contracts) - filled) * sign_,
            price=price,
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
        self._push_private("futures.orders", [self._order_json(order, False, rest=False)])
        for trade in order.trades:
            times = 2 if self.faults("duplicate_fill") else 1
            self._push_private("futures.usertrades", [_trade_ws(order, trade)], times)
        self._push_private("futures.positions", [self._position_json(inst, ws=True)])
        balance = self.market.balances(VENUE)[0]
        self._push_private(
            "futures.balances",
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
        size: Any = _size(order.size, decimal_sizes)
        left: Any = _size(order.left, decimal_sizes)
        if rest:
            price: Any = format_decimal(order.price)
            fill_price: Any = format_decimal(order.fill_price)
        else:  # WS numeric types differ from REST: prices are floats there
            price, fill_price = order.price, order.fill_price
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
            "size": size,
            "left": left,
            "iceberg": 0,
            "price": price,
            "fill_price": fill_price,
            "tif": order.tif,
            "text": order.text,
            "is_reduce_only": order.reduce_only,
            "is_close": False,
            "is_liq": False,
            "tkfr": format_decimal(self.instruments[order.contract].taker_fee),
            "mkfr": format_decimal(self.instruments[order.contract].maker_fee),
            "update_time": int(order.wall_time * 1000),
        }

    def _find(self, ref: str) -> _Order | None:
        if ref.isdigit():
            return self._orders.get(int(ref))
        order_id = self._by_text.get(ref)
        if order_id is None:
            return None
        order = self._orders[order_id]
        if trio.current_time() - order.finished_at > TEXT_LOOKUP_WINDOW_S:
            return None  # Gate: text lookups work only up to 60 s after the order finished
        return order

    def _get_order(self, ref: str, decimal_sizes: bool) -> Response:
        order = self._find(ref)
        if order is None:
            return _error(404, "ORDER_NOT_FOUND", "Order not found")
        return (200, self._order_json(order, decimal_sizes, rest=True), {})

    def _cancel_order(self, ref: str, decimal_sizes: bool) -> Response:
        order = self._find(ref)
        if order is None:
            return _error(404, "ORDER_NOT_FOUND", "Order not found")
        return _error(400, "ORDER_FINISHED", "Order finished")  # IOC orders never rest

    def _list_orders(self, req: HttpRequest, decimal_sizes: bool) -> Response:
        params = _params(req.query)
        contract = params.get("contract")
        if params.get("status") == "open":
            return (200, [], {})
        try:
            limit = min(1000, int(params.get("limit", "100")))
        except ValueError:
            return _error(400, "INVALID_PARAM_VALUE", "limit")
        orders = [o for o in reversed(self._orders.values()) if o.contract == contract][:limit]
        return (200, [self._order_json(o, decimal_sizes, rest=True) for o in orders], {})

    def _my_trades(self, req: HttpRequest, decimal_sizes: bool) -> Response:
        params = _params(req.query)
        contract = params.get("contract")
        order_ref = params.get("order")
        trades = [
            _trade_rest(order, t, decimal_sizes)
            for order in self._orders.values()
            if order.contract == contract and (not order_ref or str(order.id) == order_ref)
            for t in order.trades
        ]
        return (200, trades, {})

    def _accounts(self, req: HttpRequest, decimal_sizes: bool) -> Response:
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

    def _positions(self, req: HttpRequest, decimal_sizes: bool) -> Response:
        result = []
        for inst in self.instruments.values():
            entry = self._position_json(inst, ws=False)
            entry["size"] = _size(Decimal(entry["size"]), decimal_sizes)
            result.append(entry)
        return (200, result, {})

    def _position_json(self, inst: Instrument, *, ws: bool) -> dict[str, Any]:
        qty = self.market.position(VENUE, inst.symbol)
        entry = next(
            (p.entry_price for p in self.market.positions(VENUE) if p.symbol == inst.symbol), None
        )
        body: dict[str, Any] = {
            "contract": inst.symbol,
            "size": int(qty / inst.contract_multiplier),
            "entry_price": format_decimal(entry) if entry else "0",
            "mode": "single",
            "user": str(self.user_id) if ws else self.user_id,
            "leverage": "0",
        }
        if ws:
            body["time_ms"] = int(self.wall() * 1000)
        return body

    def _account_detail(self, req: HttpRequest, decimal_sizes: bool) -> Response:
        return (200, {"user_id": self.user_id, "ip_whitelist": [], "currency_pairs": []}, {})


PUBLIC_ROUTES: dict[tuple[str, str], Callable[[GateEmulator, HttpRequest], Response]] = {
    ("GET", "/futures/usdt/contracts"): GateEmulator._contracts,
    ("GET", "/futures/usdt/order_book"): GateEmulator._order_book,
    ("GET", "/spot/time"): GateEmulator._server_time,
}
PRIVATE_ROUTES: dict[tuple[str, str], Callable[[GateEmulator, HttpRequest, bool], Response]] = {
    ("GET", "/futures/usdt/orders"): GateEmulator._list_orders,
    ("GET", "/futures/usdt/my_trades"): GateEmulator._my_trades,
    ("GET", "/futures/usdt/accounts"): GateEmulator._accounts,
    ("GET", "/futures/usdt/positions"): GateEmulator._positions,
    ("GET", "/account/detail"): GateEmulator._account_detail,
}

# simulator rejection reasons → Gate labels (first matching fragment wins)
REJECTION_LABELS: tuple[tuple[str, str], ...] = (
    (DUPLICATE_CLIENT_ORDER_ID, "INVALID_PARAM_VALUE"),
    ("no open position", "POSITION_EMPTY"),
    ("would increase", "INCREASE_POSITION"),
    ("below the minimum size", "SIZE_TOO_SMALL"),
    ("below the minimum", "SIZE_TOO_SMALL"),
)


def _rejection_label(reason: str) -> str:
    for fragment, label in REJECTION_LABELS:
        if fragment in reason:
            return label
    return "INVALID_PARAM_VALUE"


def _validate_order(inst: Instrument, body: codecs.OrderCreate) -> Response | None:
    """Gate's own request checks, before anything reaches the market."""
    if body.tif != "ioc":
        return _error(400, "INVALID_PARAM_VALUE", "the emulator supports tif=ioc only")
    text = body.text
    if not text.startswith("t-") or not 2 < len(text.encode()) <= 30:
        return _error(400, "INVALID_PARAM_VALUE", "text must be 't-' + at most 28 bytes")
    if not set(text[2:]) <= _TEXT_CHARS:
        return _error(400, "INVALID_PARAM_VALUE", "text has invalid characters")
    try:
        contracts = Decimal(str(body.size))
        price = Decimal(body.price)
    except InvalidOperation:
        return _error(400, "INVALID_PARAM_VALUE", "size and price must be numbers")
    if not contracts.is_finite() or contracts == 0 or contracts != contracts.to_integral_value():
        return _error(400, "INVALID_PARAM_VALUE", "size must be a non-zero integer")
    if not price.is_finite() or price <= 0 or not is_valid_price(inst, price):
        return _error(400, "INVALID_PARAM_VALUE", "price must be a multiple of order_price_round")
    if not body.reduce_only and abs(contracts) * inst.contract_multiplier < inst.min_size:
        return _error(400, "SIZE_TOO_SMALL", "size below order_size_min")
    return None


_TEXT_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_.-")


def _trade_ws(order: _Order, t: _Trade) -> dict[str, Any]:
    """A ``futures.usertrades`` item (id a string, fee a number)."""
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
        "close_size": 0,
        "price": format_decimal(t.price),
        "role": "taker",
        "text": order.text,
        "fee": format_decimal(t.fee),
        "point_fee": "0",
    }


def _contracts(inst: Instrument, qty: Decimal) -> int:
    return int(qty / inst.contract_multiplier)


def _size(contracts: Decimal, decimal_sizes: bool) -> int | str:
    return format_decimal(contracts) if decimal_sizes else int(contracts)


def _params(query: str) -> dict[str, str]:
    pairs = (part.split("=", 1) for part in query.split("&") if part)
    return {k: v for k, v in (p if len(p) == 2 else (p[0], "") for p in pairs)}


def _error(
    status: int, label: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return (status, {"label": label, "message": message}, headers or {})

