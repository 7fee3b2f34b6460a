"""A Bitget V2 mix emulator on loopback, backed by the shared simulated market.

The venue's side of what the client speaks (specs/012-bitget.md lists what is simplified):

* public stream ``/v2/ws/public``: text ``ping``/``pong``; ``subscribe``/``unsubscribe``
  with ``{"event": "subscribe", "arg": …}`` acks and ``30001`` errors; channel ``books``:
  a snapshot on subscribe then an ``update`` per market tick with changed levels, ``seq``
  + 1 and the CRC32 checksum of the top 25 levels of the raw strings it sent;
  ``books1/5/15``: a snapshot per change.
* private stream ``/v2/ws/private``: ``login`` (seconds timestamp, 30 s expiry, base64
  signature), then ``orders``, ``fill``, ``positions`` and ``account`` pushes.
* REST: server time, contracts, current funding, trade rate, accounts, all-position,
  place-order, cancel-order, order detail, fills; signatures (with passphrase) and a 30 s
  timestamp window verified; answers in the ``code``/``msg``/``data`` envelope with HTTP
  400 (429 for rate limits) on errors.
* Faults from ``market.fault("bitget", kind)``: per order ``reject``, ``rate_limit``,
  ``ack_timeout_executed``/``_not_executed``, ``duplicate_fill``; per feed tick
  ``feed_disconnect``, ``sequence_gap`` (an update lost: the next checksum will not match),
  ``bad_checksum`` (a corrupted checksum), ``stale_feed`` (a tick withheld).
"""

from __future__ import annotations

import hmac
import time
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
from arbtrio.venues.bitget import codecs as c
from arbtrio.venues.bitget.book import checksum
from arbtrio.venues.bitget.client import ENDPOINT_LIMITS, PRIVATE_PATH, PUBLIC_PATH
from arbtrio.venues.bitget.signing import login_signature, rest_signature

log = structlog.get_logger("arbtrio.venues.bitget.emulator")

VENUE = "bitget"
PRODUCT = c.PRODUCT_TYPE
CHANNEL_DEPTH = {"books": 50, "books1": 1, "books5": 5, "books15": 15}
PRIVATE_CHANNELS = frozenset({"orders", "fill", "positions", "account"})
REST_WINDOW_MS = 30_000
LOGIN_WINDOW_S = 30
ZERO = Decimal(0)
_STATUS = {
    OrderStatus.FILLED: "filled",
    OrderStatus.CANCELLED: "canceled",
    OrderStatus.REJECTED: "canceled",
    OrderStatus.OPEN: "live",
    OrderStatus.PENDING: "live",
}
_CLIENT_OID_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-+_#")


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _decimals(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


@attrs.define(eq=False)
class _Sub:
    symbol: str
    channel: str
    seq: int
    version: int
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]


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


class BitgetEmulator(TwoSocketEmulator[dict[tuple[str, str], _Sub]]):
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
    ) -> None:
        super().__init__(market, driver, credentials)
        self.wall_clock = wall_clock
        self.timeout_hold_s = timeout_hold_s
        self.orders: dict[str, _Order] = {}  # clientOid → order
        self.by_order_id: dict[str, str] = {}
        self._calls: dict[str, list[float]] = {}
        self.requests = 0

    # -- formatting -----------------------------------------------------------------------------
    def _raw(
        self, inst: Instrument, levels: list[tuple[Decimal, Decimal]]
    ) -> list[tuple[str, str]]:
        pd, sd = _decimals(inst.tick_size), _decimals(inst.lot_size)
        return [(f"{p:.{pd}f}", f"{s:.{sd}f}") for p, s in levels]

    def _book_frame(self, sub: _Sub, action: str, bids: Any, asks: Any, corrupt: bool) -> str:
        inst = self.instruments[sub.symbol]
        now_ms = int(self.wall_clock() * 1000)
        crc = checksum(self._raw(inst, sub.bids), self._raw(inst, sub.asks))
        if corrupt:
            crc = crc + 1 if crc < 2**31 - 1 else crc - 1
        data = {"asks": self._raw(inst, asks), "bids": self._raw(inst, bids), "checksum": crc,
                "seq": sub.seq, "ts": str(now_ms)}  # fmt: skip
        frame = {"action": action, "arg": {"instType": PRODUCT, "channel": sub.channel,
                 "instId": sub.symbol}, "data": [data], "ts": now_ms}  # fmt: skip
        return msgspec.json.encode(frame).decode()

    # -- public stream ----------------------------------------------------------------------------
    def _public_state(self) -> dict[tuple[str, str], _Sub]:
        return {}

    async def _public_reader(
        self, ws: AsgiWebSocket, conn_id: int, subs: dict[tuple[str, str], _Sub], lock: trio.Lock
    ) -> None:
        while (text := await ws.receive_text()) is not None:
            if text == "ping":
                async with lock:
                    await ws.send_text("pong")
                continue
            try:
                op = c.decode_ws_op(text)
                args = [msgspec.convert(a, c.Arg) for a in op.args]
            except (MalformedMessage, msgspec.ValidationError):
                async with lock:
                    await ws.send_text(_event_error("30002", "illegal request"))
                continue
            async with lock:
                if op.op not in ("subscribe", "unsubscribe"):
                    await ws.send_text(_event_error("30003", f"invalid op {op.op}"))
                    continue
                for arg in args:
                    key = (arg.channel, arg.instId)
                    if (arg.instType.upper() != PRODUCT or arg.channel not in CHANNEL_DEPTH
                            or arg.instId not in self.instruments):  # fmt: skip
                        await ws.send_text(_event_error("30001", f"channel doesn't exist: {arg}",
                                                        arg))  # fmt: skip
                        continue
                    ack = {"event": op.op, "arg": {"instType": PRODUCT, "channel": arg.channel,
                                                   "instId": arg.instId}}  # fmt: skip
                    await ws.send_text(msgspec.json.encode(ack).decode())
                    if op.op == "unsubscribe":
                        subs.pop(key, None)
                        continue
                    depth = CHANNEL_DEPTH[arg.channel]
                    bids, asks = self.market.book_levels(VENUE, arg.instId, depth)
                    sub = _Sub(symbol=arg.instId, channel=arg.channel, seq=next(self._ids) * 1000,
                               version=self.market.book_version(VENUE, arg.instId), bids=bids,
                               asks=asks)  # fmt: skip
                    subs[key] = sub
                    await ws.send_text(self._book_frame(sub, "snapshot", bids, asks, False))

    async def _publisher(
        self,
        ws: AsgiWebSocket,
        subs: dict[tuple[str, str], _Sub],
        lock: trio.Lock,
        cancel_scope: trio.CancelScope,
    ) -> None:
        market = self.market
        while True:
            await self.driver.wait_tick()
            if not subs:
                continue
            if market.fault(VENUE, "feed_disconnect"):
                log.info("bitget.emulator.fault", kind="feed_disconnect")
                await ws.close(1001)
                cancel_scope.cancel()
                return
            if market.fault(VENUE, "stale_feed"):
                continue
            lose = market.fault(VENUE, "sequence_gap")
            corrupt = market.fault(VENUE, "bad_checksum")
            async with lock:
                for sub in list(subs.values()):
                    version = market.book_version(VENUE, sub.symbol)
                    if version == sub.version:
                        continue
                    bids, asks = market.book_levels(VENUE, sub.symbol, CHANNEL_DEPTH[sub.channel])
                    if sub.channel == "books":
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
                    await ws.send_text(self._book_frame(sub, action, db, da, bad))

    # -- private stream ---------------------------------------------------------------------------
    async def _private_ws(self, ws: AsgiWebSocket) -> None:
        if not await ws.accept():
            return
        conn_id = next(self._ids)
        outbox_send, outbox_recv = trio.open_memory_channel[str](1000)
        channels: set[str] = set()
        authed = False
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(drain, ws, outbox_recv)
                while (text := await ws.receive_text()) is not None:
                    if text == "ping":
                        outbox_send.send_nowait("pong")
                        continue
                    try:
                        op = c.decode_ws_op(text)
                    except MalformedMessage:
                        outbox_send.send_nowait(_event_error("30002", "illegal request"))
                        continue
                    if op.op == "login":
                        code, msg = self._check_login(op.args)
                        if code:
                            outbox_send.send_nowait(_event_error(code, msg))
                            await trio.sleep(0.05)  # a failed login disconnects (doc B.2)
                            await ws.close(1008)
                            break
                        authed = True
                        self._private[conn_id] = (outbox_send, channels)
                        outbox_send.send_nowait('{"event":"login","code":"0","msg":""}')
                    elif not authed:
                        outbox_send.send_nowait(_event_error("30004", "User not logged in"))
                    elif op.op == "subscribe":
                        for raw_arg in op.args:
                            try:
                                arg = msgspec.convert(raw_arg, c.Arg)
                            except msgspec.ValidationError:
                                outbox_send.send_nowait(_event_error("30016", "param error"))
                                continue
                            if arg.channel not in PRIVATE_CHANNELS:
                                outbox_send.send_nowait(
                                    _event_error("30001", "channel doesn't exist")
                                )
                                continue
                            channels.add(arg.channel)
                            ack = {"event": "subscribe", "arg": msgspec.to_builtins(arg)}
                            outbox_send.send_nowait(msgspec.json.encode(ack).decode())
                    else:
                        outbox_send.send_nowait(_event_error("30003", f"invalid op {op.op}"))
                nursery.cancel_scope.cancel()
        except trio.ClosedResourceError:
            pass
        finally:
            self._private.pop(conn_id, None)

    def _check_login(self, args: list[Any]) -> tuple[str, str]:
        if len(args) != 1:
            return "30016", "param error"
        try:
            login = c.decode_login(args[0])
        except MalformedMessage:
            return "30016", "param error"
        if login.apiKey != self.credentials.api_key:
            return "30011", "invalid ACCESS_KEY"
        if login.passphrase != self.credentials.passphrase:
            return "30012", "invalid ACCESS_PASSPHRASE"
        if not login.timestamp.isdigit():
            return "30013", "invalid ACCESS_TIMESTAMP"
        if abs(int(self.wall_clock()) - int(login.timestamp)) > LOGIN_WINDOW_S:
            return "30014", "Request timestamp expired"
        good = login_signature(self.credentials.api_secret, int(login.timestamp))
        if not hmac.compare_digest(login.sign, good):
            return "30015", "Invalid sign"
        return "", ""

    def _push(self, channel: str, data: list[Any]) -> None:
        arg = {"instType": PRODUCT, "channel": channel}
        arg |= {"coin": "default"} if channel == "account" else {"instId": "default"}
        frame = {"action": "snapshot", "arg": arg, "data": data,
                 "ts": int(self.wall_clock() * 1000)}  # fmt: skip
        text = c.encoder.encode(frame).decode()
        self._broadcast(text, lambda channels: channel in channels)

    # -- REST ------------------------------------------------------------------------------------
    async def http(self, scope: Any, receive: Any, send: Any) -> None:
        req = await read_http_request(scope, receive)
        self.requests += 1
        handler = _ROUTES.get((req.method, req.path))
        now_ms = int(self.wall_clock() * 1000)
        if handler is None:
            body = {"code": "40404", "msg": "Request URL NOT FOUND", "requestTime": now_ms,
                    "data": None}  # fmt: skip
            await send_http_response(send, 404, c.encoder.encode(body))
            return
        headers = {}
        try:
            remaining = self._count(req.path)
            headers["x-mbx-used-remain-limit"] = str(max(remaining, 0))
            if remaining < 0:
                raise ApiError("429", "Too Many Requests", 429)
            data = await handler(self, req)
            body = {"code": "00000", "msg": "success", "requestTime": now_ms, "data": data}
            status = 200
        except ApiError as exc:
            body = {"code": exc.code, "msg": exc.message, "requestTime": now_ms, "data": None}
            status = exc.status
        await send_http_response(send, status, c.encoder.encode(body), headers)

    def _count(self, path: str) -> int:
        """Remaining calls in this endpoint's 1 s window after this one (< 0: over)."""
        limit = int(ENDPOINT_LIMITS.get(path, 20))
        now = trio.current_time()
        calls = [t for t in self._calls.get(path, []) if t > now - 1.0]
        if len(calls) >= limit:
            self._calls[path] = calls
            return -1
        calls.append(now)
        self._calls[path] = calls
        return limit - len(calls)

    def _authenticate(self, req: HttpRequest) -> None:
        h = req.headers
        key, sign = h.get("access-key", ""), h.get("access-sign", "")
        ts_text, passphrase = h.get("access-timestamp", ""), h.get("access-passphrase", "")
        if not key:
            raise ApiError("40001", "ACCESS_KEY cannot be empty")
        if not sign:
            raise ApiError("40002", "ACCESS_SIGN cannot be empty")
        if not ts_text:
            raise ApiError("40003", "ACCESS_TIMESTAMP cannot be empty")
        if not ts_text.isdigit():
            raise ApiError("40005", "Invalid ACCESS_TIMESTAMP")
        if key != self.credentials.api_key:
            raise ApiError("40006", "Invalid ACCESS_KEY")
        if not passphrase:
            raise ApiError("40011", "ACCESS_PASSPHRASE cannot be empty")
        if passphrase != self.credentials.passphrase:
            raise ApiError("40012", "apikey/password is incorrect")
        if abs(int(self.wall_clock() * 1000) - int(ts_text)) > REST_WINDOW_MS:
            raise ApiError("40008", "Request timestamp expired")
        good = rest_signature(self.credentials.api_secret, int(ts_text), req.method, req.path,
                              req.query, req.body.decode("utf-8", "replace"))  # fmt: skip
        if not hmac.compare_digest(sign, good):
            raise ApiError("40009", "sign signature error")

    def _params(self, req: HttpRequest) -> dict[str, str]:
        params = dict(parse_qsl(req.query, keep_blank_values=True))
        if "productType" in params and params["productType"].upper() != PRODUCT:
            raise ApiError("40020", f"Parameter productType error: {params['productType']}")
        return params

    def _inst(self, symbol: str) -> Instrument:
        inst = self.instruments.get(symbol)
        if inst is None:
            raise ApiError("40034", f"Parameter {symbol!r} does not exist")
        return inst

    async def _time(self, req: HttpRequest) -> Any:
        return {"serverTime": str(int(self.wall_clock() * 1000))}

    async def _contracts(self, req: HttpRequest) -> Any:
        params = self._params(req)
        insts = (
            [self._inst(params["symbol"])]
            if params.get("symbol")
            else list(self.instruments.values())
        )
        return [_contract(i) for i in insts]

    async def _fund_rate(self, req: HttpRequest) -> Any:
        params = self._params(req)
        symbols = (
            [self._inst(params["symbol"]).symbol]
            if params.get("symbol")
            else list(self.instruments)
        )
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
        self._authenticate(req)
        inst = self._inst(self._params(req).get("symbol", ""))
        return {"makerFeeRate": str(inst.maker_fee), "takerFeeRate": str(inst.taker_fee)}

    async def _accounts(self, req: HttpRequest) -> Any:
        self._authenticate(req)
        self._params(req)
        return [self._account_row(b.currency, b.total, b.available)
                for b in self.market.balances(VENUE)]  # fmt: skip

    def _account_row(self, coin: str, total: Decimal, available: Decimal) -> dict[str, Any]:
        return {"marginCoin": coin, "locked": "0", "available": str(available),
                "accountEquity": str(total), "usdtEquity": str(total), "equity": str(total),
                "crossedMaxAvailable": str(available), "unrealizedPL": "0"}  # fmt: skip

    async def _all_position(self, req: HttpRequest) -> Any:
        self._authenticate(req)
        self._params(req)
        return [self._position_row(p.symbol) for p in self.market.positions(VENUE)]

    def _position_row(self, symbol: str) -> dict[str, Any]:
        qty = self.market.position(VENUE, symbol)
        entry = next((p.entry_price for p in self.market.positions(VENUE) if p.symbol == symbol),
                     None)  # fmt: skip
        return {"symbol": symbol, "instId": symbol, "marginCoin": "USDT",
                "holdSide": "long" if qty >= 0 else "short", "total": str(abs(qty)),
                "available": str(abs(qty)), "openPriceAvg": str(entry) if entry else "",
                "marginMode": "crossed", "posMode": "one_way_mode"}  # fmt: skip

    # -- orders ------------------------------------------------------------------------------------
    async def _place(self, req: HttpRequest) -> Any:
        self._authenticate(req)
        market = self.market
        try:
            body = c.decode_place(req.body)
        except MalformedMessage as exc:
            raise ApiError("400172", f"Parameter verification failed: {exc.message}") from None
        inst, side, qty, price = self._validate_place(body)
        if market.fault(VENUE, "rate_limit"):
            raise ApiError("429", "Too Many Requests", 429)
        cid = body.clientOid
        if cid in self.orders or market.order(VENUE, cid) is not None:
            raise ApiError("45034", "Duplicate clientOid")
        reduce_only = body.reduceOnly == "YES"
        await trio.sleep(market.latency(VENUE, "ack"))
        now = trio.current_time()
        if market.fault(VENUE, "reject"):
            market.reject(VENUE, inst.symbol, side=side, qty=qty, price=price,
                          reduce_only=reduce_only, client_order_id=cid,
                          reason="balance not enough (injected)", now=now)  # fmt: skip
            raise ApiError("40754", "balance not enough")
        if market.fault(VENUE, "ack_timeout_not_executed"):
            await trio.sleep(self.timeout_hold_s)
            raise ApiError("45001", "Unknown error", 500)
        executed_late = market.fault(VENUE, "ack_timeout_executed")
        ex = market.execute(VENUE, inst.symbol, side=side, qty=qty, price=price,
                            reduce_only=reduce_only, client_order_id=cid, now=now)  # fmt: skip
        if ex.status is OrderStatus.REJECTED:
            raise ApiError(*_reject_code(ex.reason))
        order = _Order(order_id=ex.venue_order_id, client_oid=cid, symbol=inst.symbol, side=side,
                       qty=qty, price=price, reduce_only=reduce_only,
                       created_ms=int(self.wall_clock() * 1000))  # fmt: skip
        self.orders[cid] = order
        self.by_order_id[order.order_id] = cid
        self._push_order_events(order)
        if executed_late:
            await trio.sleep(self.timeout_hold_s)
        return {"orderId": order.order_id, "clientOid": cid}

    def _validate_place(self, body: c.PlaceOrder) -> tuple[Instrument, Side, Decimal, Decimal]:
        if body.productType.upper() != PRODUCT:
            raise ApiError("40020", f"Parameter productType error: {body.productType}")
        inst = self._inst(body.symbol)
        if body.marginCoin.upper() != "USDT" or body.marginMode not in ("crossed", "isolated"):
            raise ApiError("400172", "Parameter verification failed: marginCoin/marginMode")
        side = {"buy": Side.BUY, "sell": Side.SELL}.get(body.side)
        if side is None:
            raise ApiError("400172", f"Parameter verification failed: side {body.side!r}")
        if body.tradeSide:
            raise ApiError("40774", "The order type for unilateral position must also be the "
                                    "unilateral position type.")  # fmt: skip
        if body.orderType != "limit" or body.force != "ioc":
            raise ApiError("400172", "the emulator takes limit orders with force ioc only")
        if body.reduceOnly not in ("", "YES", "NO"):
            raise ApiError(
                "400172", f"Parameter verification failed: reduceOnly {body.reduceOnly!r}"
            )
        cid = body.clientOid
        if not cid or len(cid) >= 50 or not set(cid) <= _CLIENT_OID_CHARS:
            raise ApiError("400172", "Parameter verification failed: clientOid")
        try:
            qty, price = Decimal(body.size), Decimal(body.price)
        except InvalidOperation:
            raise ApiError("400172", "Parameter verification failed: size/price") from None
        if not (qty.is_finite() and price.is_finite() and price > 0 and qty > 0):
            raise ApiError("400172", "Parameter verification failed: size/price")
        if not is_valid_price(inst, price):
            raise ApiError("45115", "The price you enter should be a multiple of the price step")
        steps = qty / inst.lot_size
        if steps != steps.to_integral_value():
            raise ApiError("45111", f"size must be a multiple of {inst.lot_size}")
        if body.reduceOnly != "YES":
            if qty < inst.min_size:
                raise ApiError("45111", f"less than the minimum order quantity {inst.min_size}")
            if qty * price < inst.min_notional:
                raise ApiError("45110", f"less than the minimum amount {inst.min_notional} USDT")
        return inst, side, qty, price

    def _push_order_events(self, order: _Order) -> None:
        report = self.market.order(VENUE, order.client_oid)
        assert report is not None
        for fill in report.fills:
            row = self._fill_row(order, fill)
            self._push("fill", [row])
            if self.market.fault(VENUE, "duplicate_fill"):
                self._push("fill", [row])
        self._push("orders", [self._order_push(order, report)])
        qty = self.market.position(VENUE, order.symbol)
        if qty != 0:
            self._push("positions", [self._position_row(order.symbol)])
        self._push("account", [self._account_row(b.currency, b.total, b.available)
                               for b in self.market.balances(VENUE)])  # fmt: skip

    def _fill_row(self, order: _Order, fill: Any) -> dict[str, Any]:
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
        fee = sum((f.fee for f in report.fills), ZERO)
        last = report.fills[-1] if report.fills else None
        return {"orderId": order.order_id, "clientOid": order.client_oid,
                "instId": order.symbol, "price": str(order.price), "size": str(order.qty),
                "side": order.side.value, "posSide": "net",
                "tradeSide": f"{order.side.value}_single",
                "orderType": "limit", "force": "ioc", "marginMode": "crossed",
                "marginCoin": "USDT", "status": _STATUS[report.status],
                "accBaseVolume": str(report.filled_qty),
                "priceAvg": str(report.avg_price) if report.avg_price is not None else "",
                "tradeId": last.trade_id if last else "",
                "fillPrice": str(last.price) if last else "",
                "baseVolume": str(last.qty) if last else "",
                "feeDetail": [{"feeCoin": "USDT", "fee": str(-fee)}],
                "reduceOnly": "yes" if order.reduce_only else "no",
                "cancelReason": "" if report.status is OrderStatus.FILLED else "normal_cancel",
                "cTime": str(order.created_ms),
                "uTime": str(int(self.wall_clock() * 1000))}  # fmt: skip

    def _find(self, params: dict[str, str]) -> _Order | None:
        cid = params.get("clientOid") or self.by_order_id.get(params.get("orderId", ""), "")
        return self.orders.get(cid) if cid else None

    async def _cancel(self, req: HttpRequest) -> Any:
        self._authenticate(req)
        try:
            body = c.decode_cancel(req.body)
        except MalformedMessage as exc:
            raise ApiError("400172", f"Parameter verification failed: {exc.message}") from None
        self._inst(body.symbol)
        if not body.orderId and not body.clientOid:
            raise ApiError("400172", "Parameter verification failed: orderId or clientOid")
        raise ApiError("22001", "No order to cancel")  # every emulated order is IOC

    async def _detail(self, req: HttpRequest) -> Any:
        self._authenticate(req)
        params = self._params(req)
        self._inst(params.get("symbol", ""))
        order = self._find(params)
        report = self.market.order(VENUE, order.client_oid) if order else None
        if order is None or report is None:
            raise ApiError(
                "40109", "The data of the order cannot be found, please confirm the order number"
            )
        fee = sum((f.fee for f in report.fills), ZERO)
        return {"symbol": order.symbol, "size": str(order.qty), "orderId": order.order_id,
                "clientOid": order.client_oid, "baseVolume": str(report.filled_qty),
                "priceAvg": str(report.avg_price) if report.avg_price is not None else "",
                "fee": str(-fee), "price": str(order.price), "state": _STATUS[report.status],
                "side": order.side.value, "force": "ioc", "totalProfits": "0", "posSide": "net",
                "marginCoin": "USDT", "orderType": "limit", "leverage": "20",
                "marginMode": "crossed", "reduceOnly": "YES" if order.reduce_only else "NO",
                "tradeSide": f"{order.side.value}_single", "posMode": "one_way_mode",
                "orderSource": "normal", "cancelReason": "",
                "cTime": str(order.created_ms), "uTime": str(order.created_ms)}  # fmt: skip

    async def _fills(self, req: HttpRequest) -> Any:
        self._authenticate(req)
        params = self._params(req)
        orders = [self._find(params)] if params.get("orderId") else list(self.orders.values())
        rows: list[dict[str, Any]] = []
        for order in orders:
            report = self.market.order(VENUE, order.client_oid) if order else None
            if order is None or report is None:
                continue
            if params.get("symbol") and params["symbol"] != order.symbol:
                continue
            rows.extend(self._fill_row(order, f) for f in report.fills)
        return {"fillList": rows, "endId": rows[-1]["tradeId"] if rows else ""}


def _event_error(code: str, msg: str, arg: c.Arg | None = None) -> str:
    frame: dict[str, Any] = {"event": "error", "code": code, "msg": msg}
    if arg is not None:
        frame["arg"] = msgspec.to_builtins(arg)
    return msgspec.json.encode(frame).decode()


def _reject_code(reason: str) -> tuple[str, str]:
    text = reason.lower()
    if "duplicate" in text:
        return "45034", "Duplicate clientOid"
    if "reduce-only" in text:
        return "40762", f"The order amount exceeds the balance ({reason})"
    if "notional" in text:
        return "45110", f"less than the minimum amount ({reason})"
    return "400172", f"Parameter verification failed: {reason}"


def _contract(inst: Instrument) -> dict[str, Any]:
    place = _decimals(inst.tick_size)
    end_step = inst.tick_size.scaleb(place)
    return {"symbol": inst.symbol, "baseCoin": inst.asset, "quoteCoin": inst.quote,
            "buyLimitPriceRatio": "0.01", "sellLimitPriceRatio": "0.01", "feeRateUpRatio": "0.005",
            "makerFeeRate": str(inst.maker_fee), "takerFeeRate": str(inst.taker_fee),
            "openCostUpRatio": "0.01", "supportMarginCoins": ["USDT"],
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
    ("POST", "/api/v2/mix/order/place-order"): BitgetEmulator._place,
    ("POST", "/api/v2/mix/order/cancel-order"): BitgetEmulator._cancel,
    ("GET", "/api/v2/mix/order/detail"): BitgetEmulator._detail,
    ("GET", "/api/v2/mix/order/fills"): BitgetEmulator._fills,
}

