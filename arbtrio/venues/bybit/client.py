"""The Bybit V5 (category ``linear``) venue client: REST over httpx, streams over trio-websocket.

Implements :class:`arbtrio.venues.base.VenueClient`. Facts it relies on are in
``/work/shared/venues/bybit_bitget.md`` part A and the choices in ``specs/011-bybit.md``.

* Books: ``orderbook.{depth}.{symbol}`` (depth 50 by default, 1 for top-of-book only) kept by
  :class:`~arbtrio.venues.bybit.book.BybitBook`; a gap or a malformed frame invalidates the
  book and resubscribes the topic; JSON ``ping`` every 20 s; silence for ``idle_timeout``
  or too many failed resyncs ends the session and :func:`run_reconnecting` reconnects.
* Orders: ``POST /v5/order/create`` limit orders (IOC by default) with ``orderLinkId`` =
  the request's client order id; errors mapped by :mod:`arbtrio.venues.bybit.errors`.
* Private stream: ``auth`` then ``order``, ``execution``, ``position``, ``wallet``; fills
  de-duplicated by ``execId``.
* Rate limits: a token bucket per endpoint (the venue's UID limits) plus the IP pool, tuned
  by every response's ``X-Bapi-Limit``/``-Status``/``-Reset-Timestamp`` headers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import msgspec
import structlog
import trio
from trio_websocket import WebSocketConnection

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.core.types import (
    Balance,
    Fill,
    FundingRate,
    OrderAck,
    OrderEvent,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Side,
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
    VenueHealth,
)
from arbtrio.venues.bybit import codecs as c
from arbtrio.venues.bybit.book import BybitBook, Verdict
from arbtrio.venues.bybit.errors import error_for, http_error_for
from arbtrio.venues.bybit.prepare import (
    ORDER_PATH,
    BybitAccount,
    prepare_order,
    prepare_request,
)
from arbtrio.venues.bybit.signing import DEFAULT_RECV_WINDOW, auth_args, query_string
from arbtrio.venues.envelope import EnvelopeClient
from arbtrio.venues.envelope import private_url_for as _private_url_for
from arbtrio.venues.ratelimit import TokenBucket
from arbtrio.venues.reconnect import Backoff, Readiness
from arbtrio.venues.wire import RecentIds, open_websocket, read_private_pushes

log = structlog.get_logger("arbtrio.venues.bybit")

VENUE = "bybit"
DEFAULT_REST_URL = "https://api.bybit.com"
DEFAULT_WS_URL = "wss://stream.bybit.com/v5/public/linear"
PUBLIC_PATH = "/v5/public/linear"
PRIVATE_PATH = "/v5/private"
SUPPORTED_DEPTHS = (1, 50, 200, 1000)
DEFAULT_BACKOFF = Backoff()
DEFAULT_TAKER_FEE = Decimal("0.00055")  # VIP0 linear, used only without credentials
DEFAULT_MAKER_FEE = Decimal("0.0002")

# The IP pool (capacity, refill per second). The venue allows 600 requests per 5 s and
# answers a breach with an IP ban of at least 10 minutes, with no header to steer by; a
# bucket admits up to capacity + 5 s x rate in 5 s, so 300 + 5 x 60 = 600 at most.
IP_POOL = (300, 60)
# Per-endpoint UID limits (requests per second), venue doc A.5.
ENDPOINT_LIMITS: Mapping[str, float] = {
    "/v5/order/create": 10,
    "/v5/order/cancel": 10,
    "/v5/order/realtime": 50,
    "/v5/order/history": 50,
    "/v5/execution/list": 50,
    "/v5/position/list": 50,
    "/v5/account/wallet-balance": 50,
    "/v5/account/fee-rate": 5,
}
ORDER_STATUS: Mapping[str, OrderStatus] = {
    "New": OrderStatus.OPEN,
    "PartiallyFilled": OrderStatus.OPEN,
    "Untriggered": OrderStatus.OPEN,
    "Triggered": OrderStatus.OPEN,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELLED,
    "PartiallyFilledCanceled": OrderStatus.CANCELLED,
    "Deactivated": OrderStatus.CANCELLED,
    "Rejected": OrderStatus.REJECTED,
}
SIDES = {"Buy": Side.BUY, "Sell": Side.SELL}
FILL_EXEC_TYPES = frozenset({"Trade", "AdlTrade", "BustTrade", "Delivery"})

T = TypeVar("T")


def private_url_for(ws_url: str) -> str:
    """The private stream URL on the same host as the public ``…/v5/public/linear`` URL."""
    return _private_url_for(ws_url, PUBLIC_PATH, PRIVATE_PATH)


class BybitClient(EnvelopeClient[BybitBook]):
    """A :class:`~arbtrio.venues.base.VenueClient` for Bybit USDT linear perpetuals."""

    name = VENUE

    def __init__(
        self,
        *,
        rest_url: str = DEFAULT_REST_URL,
        ws_url: str = DEFAULT_WS_URL,
        private_ws_url: str | None = None,
        credentials: Credentials | None = None,
        symbols_hint: Sequence[str] = (),
        depth: int = 50,
        recv_window: int = DEFAULT_RECV_WINDOW,
        request_timeout: float = 5.0,
        ping_interval: float = 20.0,
        idle_timeout: float = 60.0,
        max_resyncs: int = 5,
        backoff: Backoff = DEFAULT_BACKOFF,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if depth not in SUPPORTED_DEPTHS:
            raise ValueError(f"depth must be one of {SUPPORTED_DEPTHS}, got {depth}")
        super().__init__(
            rest_url=rest_url,
            credentials=credentials,
            request_timeout=request_timeout,
            ip_limit=IP_POOL,
            endpoint_limits=ENDPOINT_LIMITS,
        )
        self.ws_url = ws_url
        self.private_ws_url = private_ws_url or private_url_for(ws_url)
        self.symbols_hint = tuple(symbols_hint)
        self.depth = depth
        self.recv_window = recv_window
        self.request_timeout = request_timeout
        self.ping_interval = ping_interval
        self.idle_timeout = idle_timeout
        self.max_resyncs = max_resyncs
        self.backoff = backoff
        self.wall_clock = wall_clock
        self.health = VenueHealth(venue=VENUE)
        self.private_health = VenueHealth(venue=VENUE)
        self.books: dict[str, L2Book] = {}
        self.instruments: dict[str, Instrument] = {}
        self.positions: dict[str, c.PositionInfo] = {}  # latest private pushes
        self.wallet: dict[str, c.WalletCoin] = {}
        self._seen_fills = RecentIds(50_000)
        self._req = 0

    # -- REST: the venue's rules for EnvelopeRest._request --------------------------------
    encoder = c.encoder
    payload_field = "result"

    def _query_string(self, params: Mapping[str, str]) -> str:
        return query_string(params)

    def _prepare(
        self, signed: bool, method: str, path: str, query: str, body: bytes | None
    ) -> PreparedRequest:
        account = self._account() if signed else None
        return prepare_request(account, method, path, query, body, self._ts_ms())

    def _account(self) -> BybitAccount:
        return BybitAccount.from_credentials(self._require_credentials(), self.recv_window)

    def _ts_ms(self) -> int:
        """The signature timestamp, taken right before sending (doc A.6 #2)."""
        return int(self.wall_clock() * 1000)

    def _unwrap(
        self, resp: httpx.Response, bucket: TokenBucket | None, path: str, mutating: bool
    ) -> msgspec.Raw:
        """``result`` of a ``retCode: 0`` envelope; limit headers tune the endpoint bucket."""
        reset_in = self._note_limits(bucket, resp.headers)
        try:
            env = c.decode_envelope(resp.content)
        except MalformedMessage:
            if resp.status_code != 200:
                raise http_error_for(resp.status_code, resp.text, mutating=mutating) from None
            if mutating:
                raise OutcomeUnknown(VENUE, f"{path}: undecodable answer") from None
            raise
        if env.retCode != 0:
            err = error_for(env.retCode, env.retMsg, mutating=mutating, reset_in=reset_in)
            if isinstance(err, RateLimited) and bucket is not None:
                bucket.penalize(err.retry_after or 1.0, trio.current_time())
            raise err
        return env.result

    def _decode(self, result_type: Any, raw: Any, path: str) -> Any:
        return c.decode_result(result_type, raw)

    def _note_limits(self, bucket: TokenBucket | None, headers: httpx.Headers) -> float | None:
        """Adopt the venue's per-endpoint limit; block the bucket when none remains.

        Returns the seconds until the venue's reset when the limit is exhausted.
        """
        if bucket is None or "x-bapi-limit-status" not in headers:
            return None
        try:
            limit = float(headers.get("x-bapi-limit", bucket.capacity))
            remaining = float(headers["x-bapi-limit-status"])
            reset_ms = float(headers.get("x-bapi-limit-reset-timestamp", 0))
        except ValueError:
            return None
        if limit > 0 and limit != bucket.capacity:
            bucket.capacity = bucket.rate = limit
            bucket.tokens = min(bucket.tokens, limit)
        if remaining > 0:
            return None
        wait = min(max(reset_ms / 1000.0 - self.wall_clock(), 0.0), 10.0) or 1.0
        bucket.penalize(wait, trio.current_time())
        return wait

    # -- instruments, account --------------------------------------------------------------
    async def load_instruments(self) -> list[Instrument]:
        """All trading USDT linear perpetuals (paginated), fees from the fee-rate endpoint."""
        infos: list[c.InstrumentInfo] = []
        cursor = ""
        while True:
            params = {"category": "linear", "limit": "1000"}
            if cursor:
                params["cursor"] = cursor
            page = await self._request(
                "GET", "/v5/market/instruments-info", c.InstrumentsResult, params=params
            )
            infos.extend(page.list)
            if not page.nextPageCursor or page.nextPageCursor == cursor or not page.list:
                break
            cursor = page.nextPageCursor
        fees: dict[str, c.FeeRate] = {}
        if self.credentials is not None:
            rates = await self._request(
                "GET",
                "/v5/account/fee-rate",
                c.FeeRateResult,
                params={"category": "linear"},
                signed=True,
            )
            fees = {f.symbol: f for f in rates.list}
        else:
            log.info("bybit.fees.default", reason="no credentials", taker=str(DEFAULT_TAKER_FEE))
        result = []
        for info in infos:
            if (
                info.contractType != "LinearPerpetual"
                or info.quoteCoin != "USDT"
                or info.status != "Trading"
            ):
                continue
            fee = fees.get(info.symbol)
            try:
                inst = Instrument(
                    venue=VENUE,
                    symbol=info.symbol,
                    asset=info.baseCoin,
                    quote=info.quoteCoin,
                    tick_size=info.priceFilter.tickSize,
                    lot_size=info.lotSizeFilter.qtyStep,
                    min_size=info.lotSizeFilter.minOrderQty,
                    min_notional=info.lotSizeFilter.minNotionalValue,
                    taker_fee=fee.takerFeeRate if fee else DEFAULT_TAKER_FEE,
                    maker_fee=fee.makerFeeRate if fee else DEFAULT_MAKER_FEE,
                    funding_interval_hours=max(1, info.fundingInterval // 60),
                    max_leverage=int(info.leverageFilter.maxLeverage),
                )
            except (ValueError, ArithmeticError) as exc:
                log.warning("bybit.instrument.skipped", symbol=info.symbol, error=str(exc))
                continue
            result.append(inst)
            self.instruments[inst.symbol] = inst
        return result

    async def fetch_balances(self) -> list[Balance]:
        """UNIFIED wallet coins; USDT ``available`` is the account's totalAvailableBalance."""
        res = await self._request(
            "GET",
            "/v5/account/wallet-balance",
            c.WalletResult,
            params={"accountType": "UNIFIED"},
            signed=True,
        )
        out = []
        for account in res.list:
            account_available = c.parse_decimal(
                account.totalAvailableBalance, "totalAvailableBalance"
            )
            for coin in account.coin:
                locked = c.parse_decimal(coin.locked, "locked") or Decimal(0)
                available = coin.walletBalance - locked
                if coin.coin == "USDT" and account_available is not None:
                    available = account_available
                out.append(
                    Balance(venue=VENUE, currency=coin.coin, total=coin.equity, available=available)
                )
        return out

    async def fetch_positions(self) -> list[VenuePosition]:
        res = await self._request(
            "GET",
            "/v5/position/list",
            c.PositionListResult,
            params={"category": "linear", "settleCoin": "USDT", "limit": "200"},
            signed=True,
        )
        return [_position(p) for p in res.list if p.size != 0]

    async def fetch_funding(self, symbols: Sequence[str]) -> list[FundingRate]:
        """Current funding rate, interval and next settlement (on the runtime clock)."""
        res = await self._request(
            "GET", "/v5/market/tickers", c.TickersResult, params={"category": "linear"}
        )
        wanted = set(symbols)
        out = []
        for t in res.list:
            if t.symbol not in wanted:
                continue
            rate = c.parse_decimal(t.fundingRate, "fundingRate")
            if rate is None:
                continue
            hours = int(t.fundingIntervalHour) if t.fundingIntervalHour.isdigit() else None
            if hours is None:
                inst = self.instruments.get(t.symbol)
                hours = inst.funding_interval_hours if inst else 8
            nxt = c.parse_decimal(t.nextFundingTime, "nextFundingTime")
            next_ts = None
            if nxt is not None:
                next_ts = trio.current_time() + (float(nxt) / 1000.0 - self.wall_clock())
            out.append(
                FundingRate(
                    venue=VENUE,
                    symbol=t.symbol,
                    rate=rate,
                    interval_hours=hours,
                    next_funding_ts=next_ts,
                )
            )
        return out

    # -- orders ----------------------------------------------------------------------------
    async def place_order(self, request: OrderRequest) -> OrderAck:
        """``POST /v5/order/create``: a limit order, ``orderLinkId`` = client order id."""
        account = self._account()
        bucket = await self._acquire(ORDER_PATH)
        prepared = prepare_order(request, None, account, self._ts_ms())
        res = await self._send(prepared, bucket, c.OrderIdResult, mutating=True)
        return OrderAck(
            venue=VENUE,
            client_order_id=request.client_order_id,
            venue_order_id=res.orderId,
            ts=trio.current_time(),
        )

    async def cancel_order(self, symbol: str, client_order_id: str) -> None:
        body = c.CancelOrder(category="linear", symbol=symbol, orderLinkId=client_order_id)
        await self._request(
            "POST", "/v5/order/cancel", c.OrderIdResult, body=body, signed=True, mutating=True
        )

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """Realtime query (then recent closed, then history) plus the order's executions."""
        base = {"category": "linear", "symbol": symbol, "orderLinkId": client_order_id}
        order: c.OrderInfo | None = None
        for path, extra in (
            ("/v5/order/realtime", {}),
            ("/v5/order/realtime", {"openOnly": "1"}),
            ("/v5/order/history", {}),
        ):
            res = await self._request(
                "GET", path, c.OrderListResult, params=base | extra, signed=True
            )
            order = next((o for o in res.list if o.orderLinkId == client_order_id), None)
            if order is not None:
                break
        if order is None:
            raise OrderNotFound(VENUE, f"no order with orderLinkId {client_order_id}")
        fills: tuple[Fill, ...] = ()
        if order.cumExecQty > 0:
            execs = await self._request(
                "GET", "/v5/execution/list", c.ExecutionListResult, params=base, signed=True
            )
            now = trio.current_time()
            fills = tuple(_fill(e, now) for e in execs.list if e.execType in FILL_EXEC_TYPES)
        update = _order_update(order, trio.current_time())
        return OrderReport(
            venue=VENUE,
            client_order_id=client_order_id,
            status=update.status,
            filled_qty=update.filled_qty,
            avg_price=update.avg_price,
            fills=fills,
            reason=update.reason,
        )

    # -- public stream -----------------------------------------------------------------------
    def _trackers(self, symbols: Sequence[str]) -> dict[str, BybitBook]:
        """An ``orderbook.{depth}.{symbol}`` book keeper per symbol, keyed by topic."""
        trackers: dict[str, BybitBook] = {}
        for symbol in symbols:
            book = self.books.setdefault(symbol, L2Book(VENUE, symbol))
            tracker = BybitBook(book, self.depth)
            trackers[tracker.topic] = tracker
        return trackers

    async def _books_session(
        self, trackers: dict[str, BybitBook], on_update: BookCallback, subscribed: Readiness
    ) -> None:
        health = self.health
        async with open_websocket(self.ws_url) as ws:
            topics = list(trackers)
            pending: dict[str, list[str]] = {}
            for i in range(0, len(topics), 10):
                chunk = topics[i : i + 10]
                pending[await self._send_op(ws, "subscribe", chunk)] = chunk
            resyncs: dict[str, int] = dict.fromkeys(topics, 0)

            async def resync(topic: str) -> None:
                health.resyncs += 1
                resyncs[topic] += 1
                if resyncs[topic] > self.max_resyncs:
                    raise Disconnected(VENUE, f"{topic}: {resyncs[topic]} resyncs without recovery")
                await self._send_op(ws, "unsubscribe", [topic])
                await self._send_op(ws, "subscribe", [topic])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pinger, ws)
                while True:
                    with trio.fail_after(self.idle_timeout):
                        raw = await ws.get_message()
                    now = trio.current_time()
                    health.message_received(now)
                    try:
                        frame = c.decode_public(raw)
                    except MalformedMessage as exc:
                        health.malformed += 1
                        topic = c.topic_of(raw)
                        log.warning("bybit.malformed", error=exc.message, topic=topic)
                        for t in [topic] if topic in trackers else list(trackers):
                            trackers[t].invalidate("malformed message")
                            on_update(trackers[t].book)
                            await resync(t)
                        continue
                    tracker = trackers.get(frame.topic)
                    if tracker is not None and frame.data is not None:
                        verdict = tracker.apply(frame, now)
                        if verdict is Verdict.APPLIED:
                            if frame.type == "snapshot":
                                resyncs[frame.topic] = 0
                            on_update(tracker.book)
                        elif verdict is Verdict.RESYNC:
                            log.warning("bybit.resync", topic=frame.topic, reason=tracker.reason)
                            on_update(tracker.book)
                            await resync(frame.topic)
                    elif frame.op == "subscribe" and frame.req_id in pending:
                        chunk = pending.pop(frame.req_id)
                        if not frame.success:
                            log.error("bybit.subscribe.failed", topics=chunk, msg=frame.ret_msg)
                            health.last_error = f"subscribe failed: {frame.ret_msg}"
                        if not pending:
                            subscribed()
                    elif frame.op in ("subscribe", "unsubscribe") and frame.success is False:
                        log.warning("bybit.op.failed", op=frame.op, msg=frame.ret_msg)

    async def _send_op(self, ws: WebSocketConnection, op: str, args: Sequence[str | int]) -> str:
        self._req += 1
        req_id = f"{op[:5]}{self._req}"
        await ws.send_message(
            c.encoder.encode(c.WsOp(op=op, args=list(args), req_id=req_id)).decode()
        )
        return req_id

    async def _pinger(self, ws: WebSocketConnection) -> None:
        while True:
            await trio.sleep(self.ping_interval)
            await self._send_op(ws, "ping", [])

    # -- private stream ----------------------------------------------------------------------
    async def _private_session(
        self,
        creds: Credentials,
        send: trio.MemorySendChannel[OrderEvent],
        subscribed: Readiness,
    ) -> None:
        """``auth`` (expires signature), subscribe order/execution/position/wallet, read."""
        async with open_websocket(self.private_ws_url) as ws:
            expires = int((self.wall_clock() + 5.0) * 1000)
            await self._send_op(ws, "auth", auth_args(creds.api_key, creds.api_secret, expires))
            with trio.fail_after(self.request_timeout):
                while True:
                    frame = c.decode_private(await ws.get_message())
                    if frame.op == "auth":
                        break
            if not frame.success:
                raise AuthenticationFailed(VENUE, f"stream auth refused: {frame.ret_msg}")
            await self._send_op(ws, "subscribe", ["order", "execution", "position", "wallet"])
            subscribed()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pinger, ws)
                await read_private_pushes(
                    ws, self.private_health, send,
                    lambda raw, now: self._private_events(c.decode_private(raw), now),
                    idle_timeout=self.idle_timeout, logger=log,
                )  # fmt: skip

    def _private_events(self, frame: c.PrivateFrame, now: float) -> list[OrderEvent]:
        """Order events of one private push (fills already seen are dropped)."""
        topic = frame.topic.split(".", 1)[0]
        if topic == "execution":
            fills: list[OrderEvent] = []
            for e in c.decode_executions(frame.data):
                if e.category != "linear" or e.execType not in FILL_EXEC_TYPES:
                    continue
                if not self._seen_fills.add(e.execId):
                    continue
                fills.append(_fill(e, now))
            return fills
        if topic == "order":
            return [
                _order_update(o, now) for o in c.decode_orders(frame.data) if o.category == "linear"
            ]
        if topic == "position":
            for p in c.decode_positions(frame.data):
                self.positions[p.symbol] = p
        elif topic == "wallet":
            for account in c.decode_wallets(frame.data):
                for coin in account.coin:
                    self.wallet[coin.coin] = coin
        elif frame.op == "subscribe" and frame.success is False:
            raise BadRequest(VENUE, f"private subscribe refused: {frame.ret_msg}")
        return []


# -- conversions -----------------------------------------------------------------------------
def _side(text: str) -> Side:
    side = SIDES.get(text)
    if side is None:
        raise MalformedMessage(VENUE, f"field side is not Buy/Sell: {text!r}")
    return side


def _fill(e: c.ExecutionInfo, now: float) -> Fill:
    if e.execQty <= 0:
        raise MalformedMessage(VENUE, f"execution {e.execId}: execQty {e.execQty} <= 0")
    return Fill(
        venue=VENUE,
        client_order_id=e.orderLinkId,
        trade_id=e.execId,
        side=_side(e.side),
        qty=e.execQty,
        price=e.execPrice,
        fee=e.execFee,  # Bybit: positive is paid
        ts=now,
    )


def _order_update(o: c.OrderInfo, now: float) -> OrderUpdate:
    status = ORDER_STATUS.get(o.orderStatus)
    if status is None:
        raise MalformedMessage(VENUE, f"field orderStatus unknown: {o.orderStatus!r}")
    avg = c.parse_decimal(o.avgPrice, "avgPrice")
    reason = o.rejectReason if o.rejectReason not in ("", "EC_NoError") else ""
    if not reason and status is OrderStatus.CANCELLED:
        reason = o.cancelType or "cancelled"
    return OrderUpdate(
        venue=VENUE,
        client_order_id=o.orderLinkId,
        status=status,
        filled_qty=o.cumExecQty,
        avg_price=avg if avg else None,
        ts=now,
        reason=reason,
    )


def _position(p: c.PositionInfo) -> VenuePosition:
    sign = {"Buy": 1, "Sell": -1}.get(p.side)
    if sign is None:
        raise MalformedMessage(VENUE, f"position {p.symbol}: side {p.side!r} with size {p.size}")
    entry = c.parse_decimal(p.avgPrice or p.entryPrice, "avgPrice")
    return VenuePosition(venue=VENUE, symbol=p.symbol, qty=sign * p.size, entry_price=entry)
