"""The Bitget V2 mix (``USDT-FUTURES``) venue client: REST over httpx, streams over WebSocket.

Implements :class:`arbtrio.venues.base.VenueClient`. Facts: ``bybit_bitget.md`` part B;
choices: ``specs/012-bitget.md``.

* Books: channel ``books`` (snapshot then updates with the CRC32 checksum, kept by
  :class:`~arbtrio.venues.bitget.book.BitgetBook`); a mismatch, a backwards ``seq`` or a
  malformed frame invalidates the book and resubscribes it; text ``ping`` every 30 s;
  at most 10 messages a second per connection (the venue's limit) through a local bucket.
* Orders: ``place-order`` limit IOC (``force: "ioc"``) with ``clientOid`` = the request's
  client order id, ``reduceOnly "YES"/"NO"`` in one-way mode, ``tradeSide`` in hedge mode.
* Private stream: ``login`` (seconds timestamp), ``orders``/``fill``/``positions``/
  ``account``; fills de-duplicated by ``tradeId``; fee sign flipped (Bitget reports paid
  fees as negative numbers).
* Rate limits: a bucket per endpoint (doc B.5) plus the 6000/min IP pool; the
  ``x-mbx-used-remain-limit`` header at 0 blocks the endpoint for a second.
"""

from __future__ import annotations

import time
from collections import OrderedDict
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
from arbtrio.venues.bitget import codecs as c
from arbtrio.venues.bitget.book import BitgetBook, Verdict
from arbtrio.venues.bitget.errors import error_for, http_error_for
from arbtrio.venues.bitget.prepare import (
    ORDER_PATH,
    BitgetAccount,
    order_body,
    prepare_order,
    prepare_request,
)
from arbtrio.venues.bitget.signing import login_args, query_string
from arbtrio.venues.envelope import EnvelopeClient
from arbtrio.venues.envelope import private_url_for as _private_url_for
from arbtrio.venues.ratelimit import TokenBucket
from arbtrio.venues.reconnect import Backoff, Readiness
from arbtrio.venues.wire import RecentIds, open_websocket, read_private_pushes

log = structlog.get_logger("arbtrio.venues.bitget")

VENUE = "bitget"
PRODUCT = c.PRODUCT_TYPE
DEFAULT_REST_URL = "https://api.bitget.com"
DEFAULT_WS_URL = "wss://ws.bitget.com/v2/ws/public"
PUBLIC_PATH = "/v2/ws/public"
PRIVATE_PATH = "/v2/ws/private"
BOOK_CHANNELS = ("books", "books1", "books5", "books15")
DEFAULT_BACKOFF = Backoff()

ENDPOINT_LIMITS: Mapping[str, float] = {
    "/api/v2/mix/market/contracts": 20,
    "/api/v2/mix/market/current-fund-rate": 20,
    "/api/v2/public/time": 20,
    "/api/v2/common/trade-rate": 10,
    "/api/v2/mix/order/place-order": 10,
    "/api/v2/mix/order/cancel-order": 10,
    "/api/v2/mix/order/detail": 10,
    "/api/v2/mix/order/fills": 10,
    "/api/v2/mix/account/accounts": 10,
    "/api/v2/mix/position/all-position": 5,
}
ORDER_STATUS: Mapping[str, OrderStatus] = {
    "live": OrderStatus.OPEN,
    "new": OrderStatus.OPEN,
    "init": OrderStatus.OPEN,
    "partially_filled": OrderStatus.OPEN,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
}
SIDES = {"buy": Side.BUY, "sell": Side.SELL}

T = TypeVar("T")


def private_url_for(ws_url: str) -> str:
    return _private_url_for(ws_url, PUBLIC_PATH, PRIVATE_PATH)


class BitgetClient(EnvelopeClient[BitgetBook]):
    """A :class:`~arbtrio.venues.base.VenueClient` for Bitget USDT-M perpetuals."""

    name = VENUE

    def __init__(
        self,
        *,
        rest_url: str = DEFAULT_REST_URL,
        ws_url: str = DEFAULT_WS_URL,
        private_ws_url: str | None = None,
        credentials: Credentials | None = None,
        symbols_hint: Sequence[str] = (),
        channel: str = "books",
        margin_mode: str = "crossed",
        hedge_mode: bool = False,
        request_timeout: float = 5.0,
        ping_interval: float = 30.0,
        idle_timeout: float = 60.0,
        max_resyncs: int = 5,
        backoff: Backoff = DEFAULT_BACKOFF,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if channel not in BOOK_CHANNELS:
            raise ValueError(f"channel must be one of {BOOK_CHANNELS}, got {channel!r}")
        if margin_mode not in ("crossed", "isolated"):
            raise ValueError(f"margin_mode must be crossed or isolated, got {margin_mode!r}")
        super().__init__(
            rest_url=rest_url,
            credentials=credentials,
            request_timeout=request_timeout,
            ip_limit=(100, 100),  # 6000 / min
            endpoint_limits=ENDPOINT_LIMITS,
        )
        self.ws_url = ws_url
        self.private_ws_url = private_ws_url or private_url_for(ws_url)
        self.symbols_hint = tuple(symbols_hint)
        self.channel = channel
        self.margin_mode = margin_mode
        self.hedge_mode = hedge_mode
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
        self.positions: dict[tuple[str, str], c.PositionPush] = {}
        self.accounts: dict[str, c.AccountPush] = {}
        self._seen_fills = RecentIds(50_000)
        self._cid_by_order_id: OrderedDict[str, str] = OrderedDict()

    # -- REST: the venue's rules for EnvelopeRest._request ----------------------------------
    encoder = c.encoder
    payload_field = "data"

    def _query_string(self, params: Mapping[str, str]) -> str:
        return query_string(params)

    def _prepare(
        self, signed: bool, method: str, path: str, query: str, body: bytes | None
    ) -> PreparedRequest:
        account = self._account() if signed else None
        return prepare_request(account, method, path, query, body, self._ts_ms())

    def _account(self) -> BitgetAccount:
        return BitgetAccount.from_credentials(
            self._require_credentials(), self.margin_mode, self.hedge_mode
        )

    def _ts_ms(self) -> int:
        """The signature timestamp, taken right before sending."""
        return int(self.wall_clock() * 1000)

    def _unwrap(
        self, resp: httpx.Response, bucket: TokenBucket | None, path: str, mutating: bool
    ) -> msgspec.Raw:
        """``data`` of a ``code: "00000"`` envelope; ``x-mbx-used-remain-limit: 0`` blocks
        the endpoint for a second."""
        remain = resp.headers.get("x-mbx-used-remain-limit")
        if bucket is not None and remain is not None and remain.strip() == "0":
            bucket.penalize(1.0, trio.current_time())
        try:
            env = c.decode_envelope(resp.content)
        except MalformedMessage:
            err = http_error_for(resp.status_code, resp.text, mutating=mutating)
            if resp.status_code == 200:
                if mutating:
                    raise OutcomeUnknown(VENUE, f"{path}: undecodable answer") from None
                raise
            self._penalize(bucket, err)
            raise err from None
        if env.code != "00000":
            err = error_for(env.code, env.msg, mutating=mutating)
            self._penalize(bucket, err)
            raise err
        return env.data

    def _decode(self, result_type: Any, raw: Any, path: str) -> Any:
        return c.decode_data(result_type, raw, path)

    def _penalize(self, bucket: TokenBucket | None, err: Exception) -> None:
        if isinstance(err, RateLimited):
            (bucket or self._ip_bucket).penalize(err.retry_after or 1.0, trio.current_time())

    # -- instruments, account ------------------------------------------------------------------
    async def load_instruments(self) -> list[Instrument]:
        """Every ``normal`` USDT perpetual; tick = priceEndStep × 10^−pricePlace."""
        contracts: list[c.Contract] = await self._request(
            "GET", "/api/v2/mix/market/contracts", list[c.Contract],
            params={"productType": PRODUCT},
        )  # fmt: skip
        rate: c.TradeRate | None = None
        if self.credentials is not None and contracts:
            symbol = next((s for s in self.symbols_hint), contracts[0].symbol)
            rate = await self._request(
                "GET", "/api/v2/common/trade-rate", c.TradeRate,
                params={"symbol": symbol, "businessType": "mix"}, signed=True,
            )  # fmt: skip
        result = []
        for k in contracts:
            if k.symbolStatus != "normal" or k.symbolType != "perpetual" or k.quoteCoin != "USDT":
                continue
            try:
                tick = k.priceEndStep.scaleb(-int(k.pricePlace))
                inst = Instrument(
                    venue=VENUE,
                    symbol=k.symbol,
                    asset=k.baseCoin,
                    quote=k.quoteCoin,
                    tick_size=tick,
                    lot_size=k.sizeMultiplier,
                    min_size=k.minTradeNum,
                    min_notional=k.minTradeUSDT,
                    taker_fee=rate.takerFeeRate if rate else k.takerFeeRate,
                    maker_fee=rate.makerFeeRate if rate else k.makerFeeRate,
                    funding_interval_hours=int(k.fundInterval or 8),
                    max_leverage=int(k.maxLever) if k.maxLever.isdigit() else None,
                )
            except (ValueError, ArithmeticError) as exc:
                log.warning("bitget.instrument.skipped", symbol=k.symbol, error=str(exc))
                continue
            result.append(inst)
            self.instruments[inst.symbol] = inst
        return result

    async def fetch_balances(self) -> list[Balance]:
        rows: list[c.AccountPush] = await self._request(
            "GET", "/api/v2/mix/account/accounts", list[c.AccountPush],
            params={"productType": PRODUCT}, signed=True,
        )  # fmt: skip
        out = []
        for row in rows:
            total = c.parse_decimal(row.accountEquity or row.equity, "accountEquity")
            out.append(Balance(venue=VENUE, currency=row.marginCoin,
                               total=total if total is not None else row.available,
                               available=row.available))  # fmt: skip
        return out

    async def fetch_positions(self) -> list[VenuePosition]:
        rows: list[c.PositionPush] = await self._request(
            "GET", "/api/v2/mix/position/all-position", list[c.PositionPush],
            params={"productType": PRODUCT, "marginCoin": "USDT"}, signed=True,
        )  # fmt: skip
        return [_position(p) for p in rows if p.total != 0]

    async def fetch_funding(self, symbols: Sequence[str]) -> list[FundingRate]:
        rows: list[c.FundRate] = await self._request(
            "GET", "/api/v2/mix/market/current-fund-rate", list[c.FundRate],
            params={"productType": PRODUCT},
        )  # fmt: skip
        wanted = set(symbols)
        out = []
        for r in rows:
            if r.symbol not in wanted:
                continue
            hours = int(r.fundingRateInterval) if r.fundingRateInterval.isdigit() else None
            if hours is None:
                inst = self.instruments.get(r.symbol)
                hours = inst.funding_interval_hours if inst else 8
            nxt = c.parse_decimal(r.nextUpdate, "nextUpdate")
            next_ts = None
            if nxt is not None:
                next_ts = trio.current_time() + (float(nxt) / 1000.0 - self.wall_clock())
            out.append(FundingRate(venue=VENUE, symbol=r.symbol, rate=r.fundingRate,
                                   interval_hours=hours, next_funding_ts=next_ts))  # fmt: skip
        return out

    # -- orders ------------------------------------------------------------------------------
    def order_body(self, request: OrderRequest) -> c.PlaceOrder:
        """The place-order body with this client's margin and position mode."""
        return order_body(request, self.margin_mode, self.hedge_mode)

    async def place_order(self, request: OrderRequest) -> OrderAck:
        account = self._account()
        bucket = await self._acquire(ORDER_PATH)
        prepared = prepare_order(request, None, account, self._ts_ms())
        ids: c.OrderIds = await self._send(prepared, bucket, c.OrderIds, mutating=True)
        if ids.orderId:
            self._remember(ids.orderId, request.client_order_id)
        return OrderAck(venue=VENUE, client_order_id=request.client_order_id,
                        venue_order_id=ids.orderId, ts=trio.current_time())  # fmt: skip

    async def cancel_order(self, symbol: str, client_order_id: str) -> None:
        body = c.CancelOrder(symbol=symbol, productType=PRODUCT, marginCoin="USDT",
                             clientOid=client_order_id)  # fmt: skip
        await self._request("POST", "/api/v2/mix/order/cancel-order", c.OrderIds, body=body,
                            signed=True, mutating=True)  # fmt: skip

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """Order detail by clientOid, plus its fills when anything was filled."""
        detail: c.OrderDetail | None = await self._request(
            "GET", "/api/v2/mix/order/detail", c.OrderDetail | None,
            params={"symbol": symbol, "productType": PRODUCT, "clientOid": client_order_id},
            signed=True,
        )  # fmt: skip
        if detail is None:
            raise OrderNotFound(VENUE, f"no order with clientOid {client_order_id}")
        status_text = detail.status or detail.state
        status = ORDER_STATUS.get(status_text)
        if status is None:
            raise MalformedMessage(VENUE, f"order detail: unknown status {status_text!r}")
        fills: tuple[Fill, ...] = ()
        if detail.baseVolume > 0:
            res: c.FillList = await self._request(
                "GET", "/api/v2/mix/order/fills", c.FillList,
                params={"productType": PRODUCT, "symbol": symbol, "orderId": detail.orderId},
                signed=True,
            )  # fmt: skip
            now = trio.current_time()
            fills = tuple(self._fill(f, now, client_order_id) for f in res.fillList or ())
        avg = c.parse_decimal(detail.priceAvg, "priceAvg")
        return OrderReport(
            venue=VENUE,
            client_order_id=client_order_id,
            status=status,
            filled_qty=detail.baseVolume,
            avg_price=avg if avg else None,
            fills=fills,
            reason=detail.cancelReason,
        )

    # -- public stream -------------------------------------------------------------------------
    def _trackers(self, symbols: Sequence[str]) -> dict[str, BitgetBook]:
        """A book keeper of channel ``self.channel`` per symbol, keyed by symbol."""
        return {
            s: BitgetBook(self.books.setdefault(s, L2Book(VENUE, s)), self.channel) for s in symbols
        }

    def _arg(self, symbol: str) -> dict[str, str]:
        return {"instType": PRODUCT, "channel": self.channel, "instId": symbol}

    async def _books_session(
        self, trackers: dict[str, BitgetBook], on_update: BookCallback, ready: Readiness
    ) -> None:
        health = self.health
        sender = _Sender()
        async with open_websocket(self.ws_url) as ws:
            symbols = list(trackers)
            pending = set(symbols)
            for i in range(0, len(symbols), 20):  # well under the 4096-byte request limit
                args = [self._arg(s) for s in symbols[i : i + 20]]
                await sender.send(ws, {"op": "subscribe", "args": args})
            resyncs = dict.fromkeys(symbols, 0)

            async def resync(symbol: str) -> None:
                health.resyncs += 1
                resyncs[symbol] += 1
                if resyncs[symbol] > self.max_resyncs:
                    raise Disconnected(
                        VENUE, f"{symbol}: {resyncs[symbol]} resyncs without recovery"
                    )
                await sender.send(ws, {"op": "unsubscribe", "args": [self._arg(symbol)]})
                await sender.send(ws, {"op": "subscribe", "args": [self._arg(symbol)]})

            def subscribed(symbol: str) -> None:
                pending.discard(symbol)
                if not pending:
                    ready()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pinger, ws, sender)
                while True:
                    with trio.fail_after(self.idle_timeout):
                        raw = await ws.get_message()
                    now = trio.current_time()
                    health.message_received(now)
                    if raw == "pong":
                        continue
                    try:
                        frame = c.decode_public(raw)
                        arg = frame.arg
                        tracker = trackers.get(arg.instId) if arg is not None else None
                        verdict = None
                        if (
                            tracker is not None
                            and frame.data
                            and arg
                            and arg.channel == self.channel
                        ):
                            if len(frame.data) != 1:
                                raise MalformedMessage(
                                    VENUE, f"books push with {len(frame.data)} entries"
                                )
                            verdict = tracker.apply(frame.action, frame.data[0], now)
                    except MalformedMessage as exc:
                        health.malformed += 1
                        bad = c.arg_of(raw)
                        log.warning("bitget.malformed", error=exc.message,
                                    inst=bad.instId if bad else "")  # fmt: skip
                        targets = [bad.instId] if bad and bad.instId in trackers else list(trackers)
                        for symbol in targets:
                            trackers[symbol].invalidate("malformed message")
                            on_update(trackers[symbol].book)
                            await resync(symbol)
                        continue
                    if verdict is Verdict.APPLIED:
                        assert tracker is not None and arg is not None
                        if frame.action == "snapshot":
                            resyncs[arg.instId] = 0
                            subscribed(arg.instId)
                        on_update(tracker.book)
                    elif verdict is Verdict.RESYNC:
                        assert tracker is not None and arg is not None
                        log.warning("bitget.resync", inst=arg.instId, reason=tracker.reason)
                        on_update(tracker.book)
                        await resync(arg.instId)
                    elif frame.event == "error":
                        log.error("bitget.stream.error", code=str(frame.code), msg=frame.msg)
                        health.last_error = f"{frame.code}: {frame.msg}"
                        if frame.arg is not None and frame.arg.instId in pending:
                            subscribed(frame.arg.instId)  # refused: do not wait for it

    async def _pinger(self, ws: WebSocketConnection, sender: _Sender) -> None:
        while True:
            await trio.sleep(self.ping_interval)
            await sender.send_text(ws, "ping")

    # -- private stream ----------------------------------------------------------------------
    async def _private_session(
        self,
        creds: Credentials,
        send: trio.MemorySendChannel[OrderEvent],
        subscribed: Readiness,
    ) -> None:
        """``login`` (seconds timestamp), subscribe orders/fill/positions/account, read."""
        sender = _Sender()
        async with open_websocket(self.private_ws_url) as ws:
            args = login_args(creds.api_key, creds.api_secret, creds.passphrase,
                              int(self.wall_clock()))  # fmt: skip
            await sender.send(ws, {"op": "login", "args": args})
            with trio.fail_after(self.request_timeout):
                while True:
                    raw = await ws.get_message()
                    if raw == "pong":
                        continue
                    frame = c.decode_private(raw)
                    if frame.event in ("login", "error"):
                        break
            if frame.event != "login" or str(frame.code) != "0":
                raise AuthenticationFailed(VENUE, f"stream login refused: {frame.code} {frame.msg}")
            subs = [
                {"instType": PRODUCT, "channel": "orders", "instId": "default"},
                {"instType": PRODUCT, "channel": "fill", "instId": "default"},
                {"instType": PRODUCT, "channel": "positions", "instId": "default"},
                {"instType": PRODUCT, "channel": "account", "coin": "default"},
            ]
            await sender.send(ws, {"op": "subscribe", "args": subs})
            subscribed()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pinger, ws, sender)
                await read_private_pushes(
                    ws, self.private_health, send,
                    lambda raw, now: self._private_events(c.decode_private(raw), now),
                    idle_timeout=self.idle_timeout, logger=log, skip="pong",
                )  # fmt: skip

    def _private_events(self, frame: c.PrivateFrame, now: float) -> list[OrderEvent]:
        channel = frame.arg.channel if frame.arg is not None else ""
        if frame.event == "error":
            raise BadRequest(VENUE, f"private stream error {frame.code}: {frame.msg}")
        if frame.event:  # login / subscribe / unsubscribe acks carry no data
            return []
        if channel == "fill":
            out: list[OrderEvent] = []
            for f in c.decode_data(list[c.FillPush], frame.data, "fill push"):
                if not self._seen_fills.add(f.tradeId):
                    continue
                out.append(
                    self._fill(f, now, f.clientOid or self._cid_by_order_id.get(f.orderId, ""))
                )
            return out
        if channel == "orders":
            out = []
            for o in c.decode_data(list[c.OrderPush], frame.data, "orders push"):
                self._remember(o.orderId, o.clientOid)
                out.append(_order_update(o, now))
            return out
        if channel == "positions":
            for p in c.decode_data(list[c.PositionPush], frame.data, "positions push"):
                self.positions[(p.instId or p.symbol, p.holdSide)] = p
        elif channel == "account":
            for a in c.decode_data(list[c.AccountPush], frame.data, "account push"):
                self.accounts[a.marginCoin] = a
        return []

    def _remember(self, order_id: str, client_order_id: str) -> None:
        self._cid_by_order_id[order_id] = client_order_id
        if len(self._cid_by_order_id) > 50_000:
            self._cid_by_order_id.popitem(last=False)

    def _fill(self, f: c.FillPush, now: float, client_order_id: str) -> Fill:
        if f.baseVolume <= 0:
            raise MalformedMessage(VENUE, f"fill {f.tradeId}: baseVolume {f.baseVolume} <= 0")
        side = SIDES.get(f.side)
        if side is None:
            raise MalformedMessage(VENUE, f"fill {f.tradeId}: side {f.side!r}")
        if f.tradeSide == "close":  # hedge mode reports the position's side (doc B.2)
            side = side.opposite
        fee = -sum((d.totalFee for d in f.feeDetail), Decimal(0))  # negative = paid
        return Fill(venue=VENUE, client_order_id=client_order_id, trade_id=f.tradeId, side=side,
                    qty=f.baseVolume, price=f.price, fee=fee, ts=now)  # fmt: skip


class _Sender:
    """Keeps one connection under Bitget's 10 messages/second (pings included).

    A token bucket lets through at most ``capacity + rate × T`` messages in any window of
    T seconds, so capacity 2 + rate 7 = at most 9 in any second (one to spare for jitter);
    the former 8 + 8 let 16 through from a full bucket, and the venue disconnects past 10.
    """

    def __init__(self) -> None:
        self.bucket = TokenBucket("bitget:ws", capacity=2, rate=7)

    async def send(self, ws: WebSocketConnection, message: Any) -> None:
        await self.send_text(ws, c.encoder.encode(message).decode())

    async def send_text(self, ws: WebSocketConnection, text: str) -> None:
        await self.bucket.acquire()
        await ws.send_message(text)


def _order_update(o: c.OrderPush, now: float) -> OrderUpdate:
    status = ORDER_STATUS.get(o.status)
    if status is None:
        raise MalformedMessage(VENUE, f"orders push: unknown status {o.status!r}")
    avg = c.parse_decimal(o.priceAvg, "priceAvg")
    reason = o.cancelReason or (
        "IOC remainder cancelled" if status is OrderStatus.CANCELLED else ""
    )
    return OrderUpdate(venue=VENUE, client_order_id=o.clientOid, status=status,
                       filled_qty=o.accBaseVolume, avg_price=avg if avg else None, ts=now,
                       reason=reason)  # fmt: skip


def _position(p: c.PositionPush) -> VenuePosition:
    sign = {"long": 1, "short": -1}.get(p.holdSide)
    if sign is None:
        raise MalformedMessage(VENUE, f"position: holdSide {p.holdSide!r}")
    entry = c.parse_decimal(p.openPriceAvg, "openPriceAvg")
    return VenuePosition(venue=VENUE, symbol=p.symbol or p.instId, qty=sign * p.total,
                         entry_price=entry)  # fmt: skip
