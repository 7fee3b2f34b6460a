"""A Bybit V5 (linear) emulator on loopback, backed by the shared simulated market.

It speaks the venue's side of the protocol the client speaks (see specs/011-bybit.md for
what is faithful and what is simplified):

* public stream ``/v5/public/linear``: ``subscribe``/``unsubscribe``/``ping`` ops with
  Bybit's acks and pong; ``orderbook.{1,50,200}.{symbol}``: a snapshot on subscribe, then a
  delta per market tick in which the ladder changed (``u`` + 1 each, ``seq`` cross
  sequence); level 1 is snapshot-only and re-pushed with the same ``u`` after 3 s unchanged.
* private stream ``/v5/private``: ``auth`` with the expires signature, then ``order``,
  ``execution``, ``position`` and ``wallet`` pushes for every order the REST API executes.
* REST: market time, instruments (paginated), orderbook, tickers, fee rate, wallet,
  positions, order create/cancel/realtime/history, execution list — each verifying the
  HMAC signature and the timestamp window, answering the retCode envelope with Bybit's
  codes and the ``X-Bapi-Limit*`` headers.
* Faults from ``market.fault("bybit", kind)``: per order ``reject``, ``rate_limit``,
  ``ack_timeout_executed``/``_not_executed`` (the answer is held past any client
  timeout), ``duplicate_fill`` (an execution pushed twice); per feed tick
  ``feed_disconnect`` (socket closed), ``sequence_gap`` (a delta is lost), ``stale_feed``
  (a tick is withheld). ``partial_fill`` happens inside ``market.execute``.
"""

from __future__ import annotations

import hmac
import itertools
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import attrs
import msgspec
import structlog
import trio

from arbtrio.core.instruments import Instrument, is_valid_price
from arbtrio.core.types import OrderReport, OrderStatus, Side
from arbtrio.emulators.app import (
    ApiKeys,
    AsgiWebSocket,
    HttpRequest,
    TwoSocketEmulator,
    diff_ladder,
    drain,
    read_http_request,
    send_http_response,
)
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.market import SimMarket
from arbtrio.venues.base import MalformedMessage
from arbtrio.venues.bybit import codecs as c
from arbtrio.venues.bybit.client import ENDPOINT_LIMITS, PRIVATE_PATH, PUBLIC_PATH
from arbtrio.venues.bybit.signing import rest_signature, ws_auth_signature

log = structlog.get_logger("arbtrio.venues.bybit.emulator")

VENUE = "bybit"
PUBLIC_DEPTHS = (1, 50, 200)
PRIVATE_TOPICS = frozenset(
    {"order", "execution", "position", "wallet", "order.linear", "execution.linear",
     "position.linear"}
)  # fmt: skip
LEVEL1_REPUSH_S = 3.0
ZERO = Decimal(0)
_LINK_ID_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-")
_STATUS = {
    OrderStatus.FILLED: "Filled",
    OrderStatus.CANCELLED: "Cancelled",
    OrderStatus.REJECTED: "Rejected",
    OrderStatus.OPEN: "New",
    OrderStatus.PENDING: "New",
}


class ApiError(Exception):
    """An error answer: ``retCode`` and ``retMsg`` (HTTP 200, as Bybit does)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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


class BybitEmulator(TwoSocketEmulator[dict[str, _Topic]]):
    """The ASGI application; :meth:`serve` runs it on loopback."""

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
    ) -> None:
        super().__init__(market, driver, credentials)
        self.wall_clock = wall_clock
        self.timeout_hold_s = timeout_hold_s
        self.page_size = page_size
        self.orders: dict[str, _Order] = {}  # orderLinkId → order
        self.by_order_id: dict[str, str] = {}
        self._exec_seq = itertools.count(1)
        self._cross_seq = itertools.count(7_961_638_724)
        self._calls: dict[str, deque[float]] = {}
        self.requests = 0  # REST requests served (tests read it)

    # -- formatting -------------------------------------------------------------------------
    def _levels(self, inst: Instrument, levels: list[tuple[Decimal, Decimal]]) -> list[list[str]]:
        pd, sd = _decimals(inst.tick_size), _decimals(inst.lot_size)
        return [[f"{p:.{pd}f}", f"{s:.{sd}f}"] for p, s in levels]

    def _book_frame(self, topic: _Topic, kind: str, bids: Any, asks: Any) -> str:
        inst = self.instruments[topic.symbol]
        now_ms = int(self.wall_clock() * 1000)
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
    def _public_state(self) -> dict[str, _Topic]:
        return {}

    async def _public_reader(
        self, ws: AsgiWebSocket, conn_id: int, topics: dict[str, _Topic], lock: trio.Lock
    ) -> None:
        while (text := await ws.receive_text()) is not None:
            try:
                op = c.decode_ws_op(text)
            except MalformedMessage:
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
            names = [a for a in op.args if isinstance(a, str)]
            bad = [n for n in names if self._parse_topic(n) is None]
            async with lock:
                if bad or len(names) != len(op.args):
                    msg = f"error:handler not found,topic:{','.join(map(str, bad or op.args))}"
                    await ws.send_text(_ack(op.op, False, msg, conn_id, op.req_id))
                    continue
                if op.op == "unsubscribe":
                    for name in names:
                        topics.pop(name, None)
                    await ws.send_text(_ack(op.op, True, "", conn_id, op.req_id))
                    continue
                dup = [n for n in names if n in topics]
                if dup:
                    msg = f"error:already subscribed,topic:{','.join(dup)}"
                    await ws.send_text(_ack(op.op, False, msg, conn_id, op.req_id))
                    continue
                await ws.send_text(_ack(op.op, True, "", conn_id, op.req_id))
                for name in names:
                    parsed = self._parse_topic(name)
                    assert parsed is not None
                    symbol, depth = parsed
                    bids, asks = self.market.book_levels(VENUE, symbol, depth)
                    topic = _Topic(
                        symbol=symbol,
                        depth=depth,
                        u=100_000 + next(self._exec_seq),
                        version=self.market.book_version(VENUE, symbol),
                        bids=bids,
                        asks=asks,
                        pushed_at=trio.current_time(),
                    )
                    topics[name] = topic
                    await ws.send_text(self._book_frame(topic, "snapshot", bids, asks))

    def _parse_topic(self, name: str) -> tuple[str, int] | None:
        parts = name.split(".")
        if len(parts) != 3 or parts[0] != "orderbook" or not parts[1].isdigit():
            return None
        depth = int(parts[1])
        if depth not in PUBLIC_DEPTHS or parts[2] not in self.instruments:
            return None
        return parts[2], depth

    async def _publisher(
        self,
        ws: AsgiWebSocket,
        topics: dict[str, _Topic],
        lock: trio.Lock,
        cancel_scope: trio.CancelScope,
    ) -> None:
        market = self.market
        while True:
            await self.driver.wait_tick()
            if not topics:
                continue
            if market.fault(VENUE, "feed_disconnect"):
                log.info("bybit.emulator.fault", kind="feed_disconnect")
                await ws.close(1001)
                cancel_scope.cancel()
                return
            if market.fault(VENUE, "stale_feed"):
                continue
            lose = market.fault(VENUE, "sequence_gap")
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
                    await ws.send_text(frame)

    def _next_frame(self, topic: _Topic, now: float) -> str | None:
        """The frame this tick owes ``topic`` (state advanced), or None."""
        version = self.market.book_version(VENUE, topic.symbol)
        if topic.depth == 1:
            if version == topic.version and now - topic.pushed_at < LEVEL1_REPUSH_S:
                return None
            bids, asks = self.market.book_levels(VENUE, topic.symbol, 1)
            if (bids, asks) != (topic.bids, topic.asks):
                topic.u += 1
            topic.version, topic.bids, topic.asks, topic.pushed_at = version, bids, asks, now
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
                        op = c.decode_ws_op(text)
                    except MalformedMessage:
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
                        now_ms = str(int(self.wall_clock() * 1000))
                        pong = {"req_id": op.req_id, "op": "pong", "args": [now_ms],
                                "conn_id": str(conn_id)}  # fmt: skip
                        outbox_send.send_nowait(msgspec.json.encode(pong).decode())
                    elif not authed:
                        outbox_send.send_nowait(
                            _ack(op.op, False, "Request not authorized", conn_id, op.req_id)
                        )
                    elif op.op == "subscribe":
                        names = {a for a in op.args if isinstance(a, str)}
                        ok = bool(names) and names <= PRIVATE_TOPICS
                        if ok:
                            subscribed |= names
                        msg = "" if ok else f"error:handler not found,topic:{op.args}"
                        outbox_send.send_nowait(_ack("subscribe", ok, msg, conn_id, op.req_id))
                    else:
                        outbox_send.send_nowait(
                            _ack(op.op, False, f"error:unknown op {op.op}", conn_id, op.req_id)
                        )
                nursery.cancel_scope.cancel()
        except trio.ClosedResourceError:
            pass
        finally:
            self._private.pop(conn_id, None)

    def _check_ws_auth(self, args: list[str | int]) -> str:
        if len(args) != 3:
            return "error:params error"
        key, expires, sign = args
        if not isinstance(expires, int):
            return "error:params error"
        if key != self.credentials.api_key:
            return "error:API key is invalid"
        if expires <= int(self.wall_clock() * 1000):
            return "error:params error: request expired"
        good = ws_auth_signature(self.credentials.api_secret, expires)
        if not hmac.compare_digest(str(sign), good):
            return "error:signature verification failed"
        return ""

    def _push(self, topic: str, data: list[Any]) -> None:
        frame = {
            "id": f"{topic}-{next(self._exec_seq)}",
            "topic": topic,
            "creationTime": int(self.wall_clock() * 1000),
            "data": data,
        }
        text = c.encoder.encode(frame).decode()
        self._broadcast(text, lambda names: topic in names or f"{topic}.linear" in names)

    # -- REST ----------------------------------------------------------------------------------
    async def http(self, scope: Any, receive: Any, send: Any) -> None:
        req = await read_http_request(scope, receive)
        self.requests += 1
        headers, over = self._limit_headers(req.path)
        handler = _ROUTES.get((req.method, req.path))
        if handler is None:
            await send_http_response(send, 404, b'{"retCode":10017,"retMsg":"route not found"}')
            return
        try:
            if over:
                raise ApiError(10006, "Too many visits!")
            result = await handler(self, req)
            body = {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}}
        except ApiError as exc:
            body = {"retCode": exc.code, "retMsg": exc.message, "result": {}, "retExtInfo": {}}
        body["time"] = int(self.wall_clock() * 1000)
        await send_http_response(send, 200, c.encoder.encode(body), headers)

    def _limit_headers(self, path: str) -> tuple[dict[str, str], bool]:
        """Count the call in the endpoint's 1 s window: (limit headers, over the limit)."""
        limit = ENDPOINT_LIMITS.get(path)
        if limit is None:
            return {}, False
        now = trio.current_time()
        calls = self._calls.setdefault(path, deque())
        while calls and calls[0] <= now - 1.0:
            calls.popleft()
        over = len(calls) >= limit
        if not over:
            calls.append(now)
        reset_ms = int((self.wall_clock() + (calls[0] + 1.0 - now if calls else 0.0)) * 1000)
        headers = {
            "X-Bapi-Limit": str(int(limit)),
            "X-Bapi-Limit-Status": str(int(limit) - len(calls)),
            "X-Bapi-Limit-Reset-Timestamp": str(reset_ms),
        }
        return headers, over

    def _authenticate(self, req: HttpRequest) -> None:
        h = req.headers
        key = h.get("x-bapi-api-key", "")
        ts_text = h.get("x-bapi-timestamp", "")
        sign = h.get("x-bapi-sign", "")
        recv_text = h.get("x-bapi-recv-window", "5000")
        if not key or key != self.credentials.api_key:
            raise ApiError(10003, "API key is invalid.")
        if not ts_text.isdigit() or not recv_text.isdigit():
            raise ApiError(10001, "params error: X-BAPI-TIMESTAMP or X-BAPI-RECV-WINDOW invalid")
        ts, recv = int(ts_text), int(recv_text)
        server = int(self.wall_clock() * 1000)
        if not server - recv <= ts < server + 1000:
            raise ApiError(
                10002,
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{ts}],server_timestamp[{server}],recv_window[{recv}]",
            )
        payload = req.query if req.method == "GET" else req.body.decode("utf-8", "replace")
        good = rest_signature(self.credentials.api_secret, ts, key, recv, payload)
        if not hmac.compare_digest(sign, good):
            raise ApiError(10004, "error sign! please check your signature")

    def _params(self, req: HttpRequest) -> dict[str, str]:
        params = dict(parse_qsl(req.query, keep_blank_values=True))
        if params.get("category", "linear") != "linear":
            raise ApiError(10001, f"params error: category {params['category']!r} not supported")
        return params

    def _inst(self, symbol: str) -> Instrument:
        inst = self.instruments.get(symbol)
        if inst is None:
            raise ApiError(10001, f"params error: symbol invalid: {symbol!r}")
        return inst

    async def _time(self, req: HttpRequest) -> Any:
        now = self.wall_clock()
        return {"timeSecond": str(int(now)), "timeNano": str(int(now * 1e9))}

    async def _instruments_info(self, req: HttpRequest) -> Any:
        params = self._params(req)
        items = (
            [self.instruments[params["symbol"]]]
            if "symbol" in params
            else list(self.instruments.values())
        )
        try:
            limit = min(int(params.get("limit", "500")), 1000, self.page_size)
            start = int(params.get("cursor") or 0)
        except ValueError:
            raise ApiError(10001, "params error: limit/cursor") from None
        page = items[start : start + limit]
        nxt = str(start + limit) if start + limit < len(items) else ""
        return {"category": "linear", "list": [_instrument_info(i) for i in page],
                "nextPageCursor": nxt}  # fmt: skip

    async def _orderbook(self, req: HttpRequest) -> Any:
        params = self._params(req)
        inst = self._inst(params.get("symbol", ""))
        depth = int(params.get("limit", "25")) if params.get("limit", "25").isdigit() else 25
        bids, asks = self.market.book_levels(VENUE, inst.symbol, min(depth, 1000))
        return {"s": inst.symbol, "b": self._levels(inst, bids), "a": self._levels(inst, asks),
                "ts": int(self.wall_clock() * 1000), "seq": next(self._cross_seq),
                "u": self.market.book_version(VENUE, inst.symbol)}  # fmt: skip

    async def _tickers(self, req: HttpRequest) -> Any:
        params = self._params(req)
        symbols = (
            [self._inst(params["symbol"]).symbol] if "symbol" in params else list(self.instruments)
        )
        out = []
        for symbol in symbols:
            inst = self.instruments[symbol]
            fr = self.market.funding_rate(VENUE, symbol)
            bids, asks = self.market.book_levels(VENUE, symbol, 1)
            nxt = fr.next_funding_ts
            next_ms = int((self.wall_clock() + (nxt - trio.current_time())) * 1000) if nxt else 0
            pd = _decimals(inst.tick_size)
            bid = f"{bids[0][0]:.{pd}f}" if bids else ""
            ask = f"{asks[0][0]:.{pd}f}" if asks else ""
            out.append({"symbol": symbol, "lastPrice": bid, "markPrice": bid,
                        "bid1Price": bid, "ask1Price": ask, "fundingRate": str(fr.rate),
                        "nextFundingTime": str(next_ms),
                        "fundingIntervalHour": str(fr.interval_hours)})  # fmt: skip
        return {"category": "linear", "list": out}

    async def _fee_rate(self, req: HttpRequest) -> Any:
        self._authenticate(req)
        params = self._params(req)
        insts = [self._inst(params["symbol"])] if "symbol" in params else self.instruments.values()
        return {"list": [{"symbol": i.symbol, "takerFeeRate": str(i.taker_fee),
                          "makerFeeRate": str(i.maker_fee)} for i in insts]}  # fmt: skip

    async def _wallet(self, req: HttpRequest) -> Any:
        self._authenticate(req)
        return {"list": [self._wallet_account()]}

    def _wallet_account(self) -> dict[str, Any]:
        coins, equity, available = [], ZERO, ZERO
        for b in self.market.balances(VENUE):
            coins.append({"coin": b.currency, "equity": str(b.total),
                          "walletBalance": str(b.total), "locked": "0",
                          "unrealisedPnl": "0"})  # fmt: skip
            equity += b.total
            available += b.available
        return {"accountType": "UNIFIED", "totalEquity": str(equity),
                "totalWalletBalance": str(equity), "totalAvailableBalance": str(available),
                "coin": coins}  # fmt: skip

    async def _position_list(self, req: HttpRequest) -> Any:
        self._authenticate(req)
        params = self._params(req)
        if "symbol" in params:
            inst = self._inst(params["symbol"])
            return {"category": "linear", "list": [self._position_row(inst.symbol)]}
        if params.get("settleCoin") != "USDT":
            raise ApiError(10001, "params error: symbol or settleCoin is required")
        rows = [self._position_row(p.symbol) for p in self.market.positions(VENUE)]
        return {"category": "linear", "list": rows, "nextPageCursor": ""}

    def _position_row(self, symbol: str) -> dict[str, Any]:
        qty = self.market.position(VENUE, symbol)
        entry = next(
            (p.entry_price for p in self.market.positions(VENUE) if p.symbol == symbol), None
        )
        side = "Buy" if qty > 0 else "Sell" if qty < 0 else ""
        return {"symbol": symbol, "side": side, "size": str(abs(qty)), "positionIdx": 0,
                "avgPrice": str(entry) if entry is not None else "0",
                "category": "linear"}  # fmt: skip

    # -- orders ------------------------------------------------------------------------------
    async def _create(self, req: HttpRequest) -> Any:
        self._authenticate(req)
        market = self.market
        try:
            body = c.decode_create(req.body)
        except MalformedMessage as exc:
            raise ApiError(10001, f"params error: {exc.message}") from None
        inst, side, qty, price = self._validate_create(body)
        if market.fault(VENUE, "rate_limit"):
            raise ApiError(10006, "Too many visits!")
        cid = body.orderLinkId
        if cid in self.orders or market.order(VENUE, cid) is not None:
            raise ApiError(110072, "OrderLinkedID is duplicate")
        await trio.sleep(market.latency(VENUE, "ack"))
        now = trio.current_time()
        if market.fault(VENUE, "reject"):
            market.reject(VENUE, inst.symbol, side=side, qty=qty, price=price,
                          reduce_only=body.reduceOnly, client_order_id=cid,
                          reason="available balance insufficient (injected)", now=now)  # fmt: skip
            raise ApiError(110007, "ab not enough for new order")
        if market.fault(VENUE, "ack_timeout_not_executed"):
            await trio.sleep(self.timeout_hold_s)
            raise ApiError(10016, "Server Timeout")
        executed_late = market.fault(VENUE, "ack_timeout_executed")
        ex = market.execute(VENUE, inst.symbol, side=side, qty=qty, price=price,
                            reduce_only=body.reduceOnly, client_order_id=cid, now=now)  # fmt: skip
        if ex.status is OrderStatus.REJECTED:
            raise ApiError(*_reject_code(ex.reason))
        order = _Order(order_id=ex.venue_order_id, link_id=cid, symbol=inst.symbol, side=side,
                       qty=qty, price=price, reduce_only=body.reduceOnly,
                       created_ms=int(self.wall_clock() * 1000))  # fmt: skip
        self.orders[cid] = order
        self.by_order_id[order.order_id] = cid
        self._push_order_events(order)
        if executed_late:
            await trio.sleep(self.timeout_hold_s)
        return {"orderId": order.order_id, "orderLinkId": cid}

    def _validate_create(self, body: c.CreateOrder) -> tuple[Instrument, Side, Decimal, Decimal]:
        if body.category != "linear":
            raise ApiError(10001, f"params error: category {body.category!r}")
        inst = self._inst(body.symbol)
        side = {"Buy": Side.BUY, "Sell": Side.SELL}.get(body.side)
        if side is None:
            raise ApiError(10001, f"params error: side invalid: {body.side!r}")
        if body.orderType != "Limit":
            raise ApiError(10001, "params error: the emulator takes Limit orders only")
        if body.timeInForce != "IOC":
            raise ApiError(10001, "params error: the emulator takes timeInForce IOC only")
        if body.positionIdx != 0:
            raise ApiError(10001, "position idx not match position mode")
        cid = body.orderLinkId
        if not cid or len(cid) > 36 or not set(cid) <= _LINK_ID_CHARS:
            raise ApiError(10001, "params error: orderLinkId invalid")
        try:
            qty, price = Decimal(body.qty), Decimal(body.price)
        except InvalidOperation:
            raise ApiError(10001, "params error: qty or price is not a number") from None
        if not (qty.is_finite() and price.is_finite() and price > 0):
            raise ApiError(10001, "params error: price invalid")
        if not is_valid_price(inst, price):
            raise ApiError(10001, f"params error: price {body.price} not a multiple of tickSize")
        steps = qty / inst.lot_size
        if qty <= 0 or steps != steps.to_integral_value():
            raise ApiError(
                110017, "orderQty will be truncated to zero or is not a qtyStep multiple"
            )
        if not body.reduceOnly:
            if qty < inst.min_size:
                raise ApiError(10001, "The number of contracts exceeds minimum limit allowed")
            if qty * price < inst.min_notional:
                raise ApiError(110094, "Order does not meet minimum order value")
        return inst, side, qty, price

    def _push_order_events(self, order: _Order) -> None:
        report = self.market.order(VENUE, order.link_id)
        assert report is not None
        inst = self.instruments[order.symbol]
        for fill in report.fills:
            execution = {
                "category": "linear", "symbol": order.symbol, "orderId": order.order_id,
                "orderLinkId": order.link_id, "side": _side(order.side),
                "orderPrice": str(order.price), "orderQty": str(order.qty),
                "leavesQty": "0", "orderType": "Limit", "execId": fill.trade_id,
                "execPrice": str(fill.price), "execQty": str(fill.qty),
                "execValue": str(fill.price * fill.qty), "execFee": str(fill.fee),
                "feeRate": str(inst.taker_fee), "feeCurrency": "USDT", "execType": "Trade",
                "execTime": str(order.created_ms), "isMaker": False,
                "seq": next(self._cross_seq),
            }  # fmt: skip
            self._push("execution", [execution])
            if self.market.fault(VENUE, "duplicate_fill"):
                self._push("execution", [execution])
        self._push("order", [self._order_row(order, report)])
        self._push("position", [self._position_row(order.symbol)])
        self._push("wallet", [self._wallet_account()])

    def _order_row(self, order: _Order, report: OrderReport) -> dict[str, Any]:
        value = sum((f.qty * f.price for f in report.fills), ZERO)
        fee = sum((f.fee for f in report.fills), ZERO)
        rejected = report.status is OrderStatus.REJECTED
        return {
            "category": "linear", "orderId": order.order_id, "orderLinkId": order.link_id,
            "symbol": order.symbol, "side": _side(order.side), "orderType": "Limit",
            "price": str(order.price), "qty": str(order.qty), "timeInForce": "IOC",
            "orderStatus": _STATUS[report.status],
            "avgPrice": str(report.avg_price) if report.avg_price is not None else "",
            "leavesQty": "0" if report.status.is_terminal else str(order.qty - report.filled_qty),
            "cumExecQty": str(report.filled_qty), "cumExecValue": str(value),
            "cumExecFee": str(fee), "reduceOnly": order.reduce_only,
            "rejectReason": report.reason if rejected else "EC_NoError",
            "cancelType": "CancelByIOC" if report.status is OrderStatus.CANCELLED else "UNKNOWN",
            "positionIdx": 0, "createdTime": str(order.created_ms),
            "updatedTime": str(int(self.wall_clock() * 1000)),
        }  # fmt: skip

    def _find(self, params: dict[str, str]) -> _Order | None:
        cid = params.get("orderLinkId") or self.by_order_id.get(params.get("orderId", ""), "")
        return self.orders.get(cid) if cid else None

    async def _cancel(self, req: HttpRequest) -> Any:
        self._authenticate(req)
        try:
            body = c.decode_cancel(req.body)
        except MalformedMessage as exc:
            raise ApiError(10001, f"params error: {exc.message}") from None
        self._inst(body.symbol)
        if not body.orderId and not body.orderLinkId:
            raise ApiError(10001, "params error: orderId or orderLinkId is required")
        # Every emulated order is IOC, terminal by the time its create call answers.
        raise ApiError(110001, "order not exists or too late to cancel")

    async def _order_list(self, req: HttpRequest) -> Any:
        self._authenticate(req)
        params = self._params(req)
        if not any(params.get(k) for k in ("symbol", "baseCoin", "settleCoin")):
            raise ApiError(10001, "params error: symbol, baseCoin or settleCoin is required")
        rows = []
        if params.get("orderLinkId") or params.get("orderId"):
            order = self._find(params)
            report = self.market.order(VENUE, order.link_id) if order else None
            if order is not None and report is not None:
                rows.append(self._order_row(order, report))
        return {"category": "linear", "list": rows, "nextPageCursor": ""}

    async def _execution_list(self, req: HttpRequest) -> Any:
        self._authenticate(req)
        params = self._params(req)
        orders = (
            [self._find(params)]
            if params.get("orderLinkId") or params.get("orderId")
            else list(self.orders.values())
        )
        rows: list[dict[str, Any]] = []
        for order in orders:
            report = self.market.order(VENUE, order.link_id) if order else None
            if order is None or report is None:
                continue
            inst = self.instruments[order.symbol]
            rows.extend({
                "category": "linear", "symbol": order.symbol, "orderId": order.order_id,
                "orderLinkId": order.link_id, "side": _side(order.side),
                "execId": f.trade_id, "execPrice": str(f.price), "execQty": str(f.qty),
                "execFee": str(f.fee), "execValue": str(f.price * f.qty),
                "feeRate": str(inst.taker_fee), "execType": "Trade",
                "execTime": str(order.created_ms), "isMaker": False,
            } for f in report.fills)  # fmt: skip
        return {"category": "linear", "list": rows, "nextPageCursor": ""}


def _ack(op: str, ok: bool, msg: str, conn_id: int, req_id: str) -> str:
    frame = {"success": ok, "ret_msg": msg, "conn_id": str(conn_id), "req_id": req_id, "op": op}
    return msgspec.json.encode(frame).decode()


def _side(side: Side) -> str:
    return "Buy" if side is Side.BUY else "Sell"


def _reject_code(reason: str) -> tuple[int, str]:
    text = reason.lower()
    if "duplicate" in text:
        return 110072, "OrderLinkedID is duplicate"
    if "reduce-only" in text:
        return 110017, f"current position is zero, cannot fix reduce-only order qty ({reason})"
    if "notional" in text:
        return 110094, f"Order does not meet minimum order value ({reason})"
    return 10001, f"params error: {reason}"


def _instrument_info(inst: Instrument) -> dict[str, Any]:
    return {
        "symbol": inst.symbol, "contractType": "LinearPerpetual", "status": "Trading",
        "baseCoin": inst.asset, "quoteCoin": inst.quote, "settleCoin": inst.quote,
        "priceScale": str(_decimals(inst.tick_size)),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": f"{inst.max_leverage or 100}.00",
                           "leverageStep": "0.01"},
        "priceFilter": {"minPrice": str(inst.tick_size), "maxPrice": "1999999.80",
                        "tickSize": str(inst.tick_size)},
        "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": str(inst.min_size),
                          "qtyStep": str(inst.lot_size), "maxMktOrderQty": "500.000",
                          "minNotionalValue": str(inst.min_notional)},
        "fundingInterval": inst.funding_interval_hours * 60,
        "upperFundingRate": "0.005", "lowerFundingRate": "-0.005",
    }  # fmt: skip


_ROUTES: dict[tuple[str, str], Callable[[BybitEmulator, HttpRequest], Any]] = {
    ("GET", "/v5/market/time"): BybitEmulator._time,
    ("GET", "/v5/market/instruments-info"): BybitEmulator._instruments_info,
    ("GET", "/v5/market/orderbook"): BybitEmulator._orderbook,
    ("GET", "/v5/market/tickers"): BybitEmulator._tickers,
    ("GET", "/v5/account/fee-rate"): BybitEmulator._fee_rate,
    ("GET", "/v5/account/wallet-balance"): BybitEmulator._wallet,
    ("GET", "/v5/position/list"): BybitEmulator._position_list,
    ("GET", "/v5/order/realtime"): BybitEmulator._order_list,
    ("GET", "/v5/order/history"): BybitEmulator._order_list,
    ("GET", "/v5/execution/list"): BybitEmulator._execution_list,
    ("POST", "/v5/order/create"): BybitEmulator._create,
    ("POST", "/v5/order/cancel"): BybitEmulator._cancel,
}

