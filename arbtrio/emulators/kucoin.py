"""KuCoin Futures emulator: the venue's protocol on loopback, backed by the shared
:class:`~arbtrio.sim.market.SimMarket`.

Served as one ASGI app (:class:`arbtrio.venues.emulator.EmulatorApp`):

* REST under ``/api/v1`` with the ``{"code": "200000", "data": ...}`` envelope: contracts,
  ``level2/snapshot`` (the published book and its sequence), ``bullet-public`` and the
  signed ``bullet-private`` (tokens valid 24 h of market time, one instance server), signed
  orders (place, query by clientOid or id, cancel by clientOid), fills, positions, account
  overview, trade fees, funding, timestamp. Signatures are verified exactly as KuCoin does
  (key, passphrase signed with the secret, key version, 5 s timestamp window, sign).
* WS at the instance server (``/?token=...&connectId=...``): an unknown or expired token gets
  ``{"type":"error","code":401,"data":"token is expired"}`` and a close; otherwise
  ``welcome``, then ``subscribe``/``ack``, ``ping``/``pong``, and pushes. The connection is
  closed when the client is silent for ``pingInterval + pingTimeout``.
* ``/contractMarket/level2:SYMBOL``: one push per changed level, ``sequence`` +1 each,
  removals first (so applying pushes one by one never crosses the book).
* Private: ``/contractMarket/tradeOrders`` (``match`` per fill, then ``filled``/``canceled``),
  ``/contract/positionAll``, ``/contractAccount/wallet``.

Faults (``market.fault("kucoin", kind)`` or :attr:`KucoinEmulator.faults` ``.force``): per
tick with book subscribers ``feed_disconnect`` (close every book socket and expire its
token), ``sequence_gap``, ``bad_checksum`` (a malformed push), ``stale_feed``; per order
``rate_limit`` (429 / ``429000``), ``reject`` (``300003``), ``ack_timeout_not_executed`` /
``ack_timeout_executed`` (no answer for ``hold_s``, then 500), ``duplicate_fill``. Tests can
also :meth:`KucoinEmulator.expire_tokens`. Only limit IOC orders are supported.
"""

from __future__ import annotations

import hmac
import itertools
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

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
from arbtrio.venues.kucoin import codecs, sign
from arbtrio.venues.kucoin.books import TOPIC_PREFIX

VENUE = codecs.VENUE
TOKEN_TTL_S = 24 * 3600.0
SIGN_WINDOW_MS = 5_000
PING_INTERVAL_MS = 18_000
PING_TIMEOUT_MS = 10_000
PRIVATE_TOPICS = frozenset(
    {"/contractMarket/tradeOrders", "/contract/positionAll", "/contractAccount/wallet"}
)
_ZERO = Decimal(0)
_json = msgspec.json.Encoder(decimal_format="number")

Response = tuple[int, Any, dict[str, str]]


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
    created_ms: int
    trades: list[_Trade]


class KucoinEmulator(EmulatorApp):
    """One emulated KuCoin Futures account over the shared simulated market."""

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
    ) -> None:
        super().__init__(market, driver, credentials)
        self.depth = depth
        self.hold_s = hold_s
        self.stale_s = stale_s
        self.wall = wall_clock
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
        self.auth_failures = 0
        self.token_rejections = 0

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

    # -- market data -----------------------------------------------------------------------
    async def background(self) -> None:
        """Publish the market's book changes after every tick."""
        while True:
            await self.driver.wait_tick()
            self.publish_tick()

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
            for conn in book_conns:
                conn.offer('{"topic":"/contractMarket/level2:","type":"message","data":{"seq')
        if self.faults("feed_disconnect"):
            for conn in book_conns:
                self._tokens[conn.state["token"]].expired = True
                conn.kill()

    def _refresh(self, symbol: str) -> None:
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
        topic = TOPIC_PREFIX + symbol
        ms = int(self.wall() * 1000)
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
                    conn.offer(frame)

    # -- WebSocket -------------------------------------------------------------------------
    async def websocket(self, scope: Any, receive: Any, send: Any) -> None:
        params = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        ws = AsgiWebSocket(receive, send)
        if scope["path"] not in ("/", "/endpoint") or not await ws.accept():
            return
        connect_id = params.get("connectId", "")
        token = self._tokens.get(params.get("token", ""))
        now = trio.current_time()
        if token is None or token.expired or now - token.issued_at > TOKEN_TTL_S:
            self.token_rejections += 1
            error = {"id": connect_id, "type": "error", "code": 401, "data": "token is expired"}
            await ws.send_text(_json.encode(error).decode())
            await ws.close(1000)
            return
        conn = EmuConnection(ws)
        conn.state.update(token=params["token"], private=token.private, books=set(), topics=set())
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
            return  # the client stopped pinging: KuCoin drops the connection

    def _ws_request(self, conn: EmuConnection, text: str) -> None:
        try:
            req = codecs.ws_request_decoder.decode(text)
        except (msgspec.DecodeError, msgspec.ValidationError):
            conn.offer(_ws_error("", 415, "command type invalid"))
            return
        if req.type == "ping":
            ms = int(self.wall() * 1000)
            conn.offer(_json.encode({"id": req.id, "type": "pong", "timestamp": ms}).decode())
            return
        if req.type not in ("subscribe", "unsubscribe"):
            conn.offer(_ws_error(req.id, 415, "command type invalid"))
            return
        books: set[str] = conn.state["books"]
        topics: set[str] = conn.state["topics"]
        if req.topic in PRIVATE_TOPICS:
            if not conn.state["private"] or not req.privateChannel:
                conn.offer(_ws_error(req.id, 403, "login required"))
                return
            (topics.add if req.type == "subscribe" else topics.discard)(req.topic)
        elif req.topic.startswith(TOPIC_PREFIX):
            symbols = req.topic[len(TOPIC_PREFIX) :].split(",")
            if not all(s in self.instruments for s in symbols):
                conn.offer(_ws_error(req.id, 404, "topic not exist"))
                return
            for symbol in symbols:
                if req.type == "subscribe":
                    self._refresh(symbol)  # publish pending changes before joining
                    books.add(symbol)
                else:
                    books.discard(symbol)
        else:
            conn.offer(_ws_error(req.id, 404, "topic not exist"))
            return
        if req.response:
            conn.offer(_json.encode({"id": req.id, "type": "ack"}).decode())

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
        route = (req.method, req.path)
        if route == ("POST", "/api/v1/bullet-public"):
            return self._bullet(private=False)
        public = PUBLIC_ROUTES.get(route)
        if public is not None:
            return public(self, req)
        if req.method == "GET" and req.path.startswith("/api/v1/contracts/"):
            return self._contract(req.path.rsplit("/", 1)[1])
        if req.method == "GET" and req.path.startswith("/api/v1/funding-rate/"):
            return self._funding(req.path.split("/")[4])
        problem = self._check_signature(req)
        if problem is not None:
            return problem
        if route == ("POST", "/api/v1/bullet-private"):
            return self._bullet(private=True)
        if route == ("POST", "/api/v1/orders"):
            return await self._place(req)
        if req.method == "DELETE" and req.path.startswith("/api/v1/orders/client-order/"):
            return self._cancel(req.path.rsplit("/", 1)[1])
        if (
            req.method == "GET"
            and req.path.startswith("/api/v1/orders/")
            and route not in (PRIVATE_ROUTES)
        ):
            return self._order_by_id(req.path.rsplit("/", 1)[1])
        private = PRIVATE_ROUTES.get(route)
        if private is not None:
            return private(self, req)
        return (404, {"code": "404000", "msg": f"no route {req.method} {req.path}"}, {})

    def _check_signature(self, req: HttpRequest) -> Response | None:
        h = req.headers
        creds = self.credentials
        key, signature, ts = h.get("kc-api-key"), h.get("kc-api-sign"), h.get("kc-api-timestamp")
        passphrase, version = h.get("kc-api-passphrase"), h.get("kc-api-key-version")
        problem: tuple[str, str] | None = None
        if not (key and signature and ts and passphrase):
            problem = ("400001", "Please check the header of your request for KC-API-*")
        elif not hmac.compare_digest(key, creds.api_key):
            problem = ("400003", "KC-API-KEY not exists")
        elif version not in ("2", "3"):
            problem = ("400009", "Invalid KC-API-KEY-VERSION")
        elif not ts.isdigit() or abs(int(ts) - self.wall() * 1000) > SIGN_WINDOW_MS:
            problem = ("400002", "Invalid KC-API-TIMESTAMP")
        elif not hmac.compare_digest(
            passphrase, sign.passphrase_sign(creds.api_secret, creds.passphrase)
        ):
            problem = ("400004", "Invalid KC-API-PASSPHRASE")
        else:
            endpoint = req.path + (f"?{req.query}" if req.query else "")
            expected = sign.rest_sign(
                creds.api_secret, ts, req.method, endpoint, req.body.decode("utf-8", "replace")
            )
            if not hmac.compare_digest(signature, expected):
                problem = ("400005", "Invalid KC-API-SIGN")
        if problem is None:
            return None
        self.auth_failures += 1
        return (401, {"code": problem[0], "msg": problem[1]}, {})

    def _bullet(self, *, private: bool) -> Response:
        token = f"{'prv' if private else 'pub'}-{next(self._token_ids):08d}-emulator"
        self._tokens[token] = _Token(private=private, issued_at=trio.current_time())
        endpoint = ws_url(self.base_url, "/")
        server = {
            "endpoint": endpoint,
            "encrypt": False,
            "protocol": "websocket",
            "pingInterval": PING_INTERVAL_MS,
            "pingTimeout": PING_TIMEOUT_MS,
        }
        return _ok({"token": token, "instanceServers": [server]})

    # public
    def _contracts(self, req: HttpRequest) -> Response:
        return _ok([self._contract_json(i) for i in self.instruments.values()])

    def _contract(self, symbol: str) -> Response:
        inst = self.instruments.get(symbol)
        if inst is None:
            return _fail("100003", "Contract not exists")
        return _ok(self._contract_json(inst))

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
            "lotSize": inst.lot_size / inst.contract_multiplier,
            "tickSize": inst.tick_size,
            "maxOrderQty": 1_000_000,
            "maxPrice": 1_000_000,
            "maxLeverage": inst.max_leverage or 125,
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

    def _snapshot(self, req: HttpRequest) -> Response:
        symbol = _params(req.query).get("symbol", "")
        inst = self.instruments.get(symbol)
        if inst is None:
            return _fail("100003", "Contract not exists")
        self._refresh(symbol)
        pub = self._published[symbol]
        return _ok(
            {
                "sequence": pub.id,
                "symbol": symbol,
                "bids": [[p, _lots(inst, s)] for p, s in pub.bids],
                "asks": [[p, _lots(inst, s)] for p, s in pub.asks],
                "ts": int(self.wall() * 1e9),
            }
        )

    def _timestamp(self, req: HttpRequest) -> Response:
        return _ok(int(self.wall() * 1000))

    def _funding(self, symbol: str) -> Response:
        inst = self.instruments.get(symbol)
        if inst is None:
            return _fail("100003", "Contract not exists")
        funding = self.market.funding_rate(VENUE, symbol)
        granularity = inst.funding_interval_hours * 3_600_000
        next_ms = None
        if funding.next_funding_ts is not None:
            next_ms = int((self.wall() + funding.next_funding_ts - trio.current_time()) * 1000)
        return _ok(
            {
                "symbol": f".{symbol}FPI8H",
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
    async def _place(self, req: HttpRequest) -> Response:
        try:
            body = codecs.order_create_decoder.decode(req.body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return _fail("100001", f"Parameter error: {exc}")
        inst = self.instruments.get(body.symbol)
        if inst is None:
            return _fail("100003", "Contract not exists")
        problem = _validate_order(inst, body)
        if problem is not None:
            return problem
        side = Side.BUY if body.side == "buy" else Side.SELL
        lots = Decimal(body.size)
        price = Decimal(body.price)
        qty = lots * inst.contract_multiplier
        if self.faults("rate_limit"):
            return (
                429,
                {"code": "429000", "msg": "Too Many Requests"},
                {"gw-ratelimit-reset": "1000", "gw-ratelimit-remaining": "0"},
            )
        if self.faults("reject"):
            self.market.reject(
                VENUE, inst.symbol, side=side, qty=qty, price=price,
                reduce_only=body.reduceOnly, client_order_id=body.clientOid,
                reason="300003 balance not enough", now=trio.current_time(),
            )  # fmt: skip
            return _fail("300003", "Balance not enough")
        if self.faults("ack_timeout_not_executed"):
            await trio.sleep(self.hold_s)
            return (500, {"code": "500000", "msg": "Internal Server Error"}, {})
        timeout_after = self.faults("ack_timeout_executed")
        await trio.sleep(self.market.latency(VENUE, "ack"))
        execution = self.market.execute(
            VENUE, inst.symbol, side=side, qty=qty, price=price, reduce_only=body.reduceOnly,
            client_order_id=body.clientOid, now=trio.current_time(),
        )  # fmt: skip
        if execution.status is OrderStatus.REJECTED:
            code = _rejection_code(execution.reason)
            return _fail(code, execution.reason)
        order = self._book_order(inst, body, lots, price, execution.fills)
        if timeout_after:
            await trio.sleep(self.hold_s)
            return (500, {"code": "500000", "msg": "Internal Server Error"}, {})
        return _ok({"orderId": order.id, "clientOid": order.client_oid})

    def _book_order(
        self,
        inst: Instrument,
        body: codecs.OrderCreate,
        lots: Decimal,
        price: Decimal,
        fills: tuple[Fill, ...],
    ) -> _Order:
        mult = inst.contract_multiplier
        now_ms = int(self.wall() * 1000)
        order = _Order(
            id=str(next(self._order_ids)),
            symbol=inst.symbol,
            side=body.side,
            lots=lots,
            filled=_ZERO,
            price=price,
            client_oid=body.clientOid,
            reduce_only=body.reduceOnly,
            margin_mode=body.marginMode,
            created_ms=now_ms,
            trades=[],
        )
        self._orders[order.id] = order
        self._by_oid[order.client_oid] = order.id
        for fill in fills:
            trade = _Trade(str(next(self._trade_ids)), fill.price, fill.qty / mult, fill.fee,
                           now_ms * 1_000_000)  # fmt: skip
            order.trades.append(trade)
            order.filled += trade.lots
            data = self._order_change(order, "match", "match")
            data.update(
                matchPrice=format_decimal(trade.price), matchSize=format_decimal(trade.lots),
                tradeId=trade.id, liquidity="taker", feeType="takerFee",
            )  # fmt: skip
            times = 2 if self.faults("duplicate_fill") else 1
            self._push_private("/contractMarket/tradeOrders", "orderChange", data, times)
        done = "filled" if order.filled == order.lots else "canceled"
        self._push_private(
            "/contractMarket/tradeOrders", "orderChange", self._order_change(order, done, "done")
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
        return order

    def _order_change(self, order: _Order, kind: str, status: str) -> dict[str, Any]:
        now_ns = int(self.wall() * 1e9)
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
            "ts": now_ns,
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
            "leverage": "5",
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

    def _order_by_oid(self, req: HttpRequest) -> Response:
        order_id = self._by_oid.get(_params(req.query).get("clientOid", ""))
        if order_id is None:
            return _fail("100001", "error.getOrder.orderNotExist")
        return _ok(self._order_json(self._orders[order_id]))

    def _order_by_id(self, order_id: str) -> Response:
        order = self._orders.get(order_id)
        if order is None:
            return _fail("100001", "error.getOrder.orderNotExist")
        return _ok(self._order_json(order))

    def _cancel(self, client_oid: str) -> Response:
        if client_oid not in self._by_oid:
            return _fail("100001", "error.getOrder.orderNotExist")
        return _fail("100004", "The order cannot be canceled")  # IOC orders never rest

    def _fills(self, req: HttpRequest) -> Response:
        order = self._orders.get(_params(req.query).get("orderId", ""))
        items = []
        if order is not None:
            mult = self.instruments[order.symbol].contract_multiplier
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
                    "feeRate": format_decimal(self.instruments[order.symbol].taker_fee),
                    "fixFee": "0",
                    "feeCurrency": "USDT",
                    "fee": format_decimal(t.fee),
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

    def _positions(self, req: HttpRequest) -> Response:
        return _ok([self._position_json(inst) for inst in self.instruments.values()])

    def _position_json(self, inst: Instrument) -> dict[str, Any]:
        qty = self.market.position(VENUE, inst.symbol)
        entry = next(
            (p.entry_price for p in self.market.positions(VENUE) if p.symbol == inst.symbol), None
        )
        return {
            "symbol": inst.symbol,
            "currentQty": _lots(inst, qty) if qty >= 0 else -_lots(inst, -qty),
            "avgEntryPrice": format_decimal(entry) if entry else "0",
            "isOpen": qty != 0,
            "marginMode": "ISOLATED",
            "positionSide": "BOTH",
            "settleCurrency": "USDT",
            "changeReason": "positionChange",
            "currentTimestamp": int(self.wall() * 1000),
        }

    def _account(self, req: HttpRequest) -> Response:
        balance = self.market.balances(VENUE)[0]
        return _ok(
            {
                "accountEquity": balance.total,
                "unrealisedPNL": 0,
                "marginBalance": balance.total,
                "positionMargin": balance.total - balance.available,
                "orderMargin": 0,
                "frozenFunds": 0,
                "availableBalance": balance.available,
                "currency": "USDT",
            }
        )

    def _trade_fees(self, req: HttpRequest) -> Response:
        inst = self.instruments.get(_params(req.query).get("symbol", ""))
        if inst is None:
            return _fail("100003", "Contract not exists")
        return _ok(
            {
                "symbol": inst.symbol,
                "takerFeeRate": format_decimal(inst.taker_fee),
                "makerFeeRate": format_decimal(inst.maker_fee),
            }
        )


PUBLIC_ROUTES: dict[tuple[str, str], Callable[[KucoinEmulator, HttpRequest], Response]] = {
    ("GET", "/api/v1/contracts/active"): KucoinEmulator._contracts,
    ("GET", "/api/v1/level2/snapshot"): KucoinEmulator._snapshot,
    ("GET", "/api/v1/timestamp"): KucoinEmulator._timestamp,
}
PRIVATE_ROUTES: dict[tuple[str, str], Callable[[KucoinEmulator, HttpRequest], Response]] = {
    ("GET", "/api/v1/orders/byClientOid"): KucoinEmulator._order_by_oid,
    ("GET", "/api/v1/fills"): KucoinEmulator._fills,
    ("GET", "/api/v1/positions"): KucoinEmulator._positions,
    ("GET", "/api/v1/account-overview"): KucoinEmulator._account,
    ("GET", "/api/v1/trade-fees"): KucoinEmulator._trade_fees,
}

# simulator rejection reasons → KuCoin codes (first matching fragment wins)
REJECTION_CODES: tuple[tuple[str, str], ...] = (
    (DUPLICATE_CLIENT_ORDER_ID, "100001"),
    ("no open position", "300009"),
    ("would increase", "300009"),
    ("below the minimum", "100001"),
)


def _rejection_code(reason: str) -> str:
    for fragment, code in REJECTION_CODES:
        if fragment in reason:
            return code
    return "100001"


_OID_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-")


def _validate_order(inst: Instrument, body: codecs.OrderCreate) -> Response | None:
    """KuCoin's own request checks, before anything reaches the market."""
    if not 0 < len(body.clientOid) <= 40 or not set(body.clientOid) <= _OID_CHARS:
        return _fail("100001", "Parameter clientOid invalid")
    if body.side not in ("buy", "sell"):
        return _fail("100001", "Parameter side invalid")
    if body.type != "limit" or body.timeInForce != "IOC":
        return _fail("100001", "the emulator supports limit IOC orders only")
    if body.marginMode not in ("ISOLATED", "CROSS"):
        return _fail("100001", "Parameter marginMode invalid")
    lot_lots = inst.lot_size / inst.contract_multiplier
    if body.size <= 0 or Decimal(body.size) % lot_lots != 0:
        return _fail("100001", "Order size must be a positive multiple of lotSize")
    try:
        price = Decimal(body.price)
    except InvalidOperation:
        return _fail("100001", "Parameter price invalid")
    if not price.is_finite() or not is_valid_price(inst, price):
        return _fail("100001", "Price must be a multiple of tickSize")
    if not body.reduceOnly and body.marginMode == "ISOLATED" and not body.leverage:
        return _fail("100001", "Parameter leverage is required")
    return None


def _lots(inst: Instrument, qty: Decimal) -> int:
    return int(qty / inst.contract_multiplier)


def _params(query: str) -> dict[str, str]:
    return dict(parse_qsl(query, keep_blank_values=True))


def _ok(data: Any) -> Response:
    return (200, {"code": codecs.OK, "data": data}, {})


def _fail(code: str, msg: str) -> Response:
    return (200, {"code": code, "msg": msg}, {})


def _ws_error(req_id: str, code: int, text: str) -> str:
    return _json.encode({"id": req_id, "type": "error", "code": code, "data": text}).decode()

