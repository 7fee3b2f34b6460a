"""The KuCoin Futures (USDT-margined) venue client: REST over httpx, WS over trio-websocket.
Implements :class:`arbtrio.venues.base.VenueClient`.

Facts: ``/work/shared/venues/gate_kucoin.md`` part B; choices: ``specs/014-kucoin.md``.

* Instruments: ``GET /api/v1/contracts/active``; sizes are lots (× ``multiplier`` = base
  units), converted only in :mod:`arbtrio.venues.kucoin.convert`. XBT is BTC.
* Every WS session starts with a **fresh** bullet token (``POST /api/v1/bullet-public``, or
  the signed ``bullet-private``), connects to the returned instance server with
  ``token`` and ``connectId``, waits for ``welcome``, subscribes (one topic per symbol,
  ``response: true``) and pings at the server's ``pingInterval``. Silence for
  ``pingInterval + pingTimeout``, an error frame (401 "token is expired"), or the token's
  age reaching ``max_session_s`` end the session; :func:`run_reconnecting` reconnects.
* Books: ``/contractMarket/level2:SYMBOL`` + ``GET /api/v1/level2/snapshot``, kept by
  :class:`~arbtrio.venues.kucoin.books.KucoinBooks` (sequence +1 or resync).
* Orders: ``POST /api/v1/orders`` (limit, IOC, lots, ``clientOid``), query by clientOid,
  cancel by clientOid; the ``code`` envelope mapped by :mod:`arbtrio.venues.kucoin.errors`.
* Private stream: ``/contractMarket/tradeOrders`` (a fill is ``type: match``; fills
  de-duplicated by ``tradeId``), ``/contract/positionAll``, ``/contractAccount/wallet``; REST
  re-query of unfinished orders after every (re)subscription and malformed frame.
* Rate limits: the venue's weight pools (Public and Futures, 2000 per 30 s at VIP0) as
  token buckets charged with each endpoint's weight.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from urllib.parse import quote

import msgspec
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
    BadRequest,
    BookCallback,
    Credentials,
    Disconnected,
    MalformedMessage,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    PreparedRequest,
    RateLimited,
)
from arbtrio.venues.contract_client import ContractClient, contract_position
from arbtrio.venues.kucoin import codecs, convert
from arbtrio.venues.kucoin.books import KucoinBooks
from arbtrio.venues.kucoin.codecs import OK, VENUE, WsMessage, WsRequest, decode
from arbtrio.venues.kucoin.errors import NOT_CANCELABLE, error_for
from arbtrio.venues.kucoin.prepare import (
    ORDER_ENDPOINT,
    KucoinAccount,
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

log = structlog.get_logger("arbtrio.venues.kucoin")

DEFAULT_REST_URL = "https://api-futures.kucoin.com"
DEFAULT_WS_URL = DEFAULT_REST_URL  # the WS endpoint comes from the bullet answer
DEFAULT_BACKOFF = Backoff()

# Weight pools (VIP0): capacity per 30 s window, refilled evenly.
POOLS: dict[str, tuple[float, float]] = {"public": (2000, 2000 / 30), "futures": (2000, 2000 / 30)}
# Endpoint weights, from the venue's API list.
WEIGHTS: dict[str, float] = {
    "contracts": 3,
    "snapshot": 3,
    "bullet": 10,
    "funding": 2,
    "place": 2,
    "cancel": 1,
    "order": 5,
    "fills": 5,
    "positions": 2,
    "account": 5,
    "fees": 3,
}
PRIVATE_TOPICS = ("/contractMarket/tradeOrders", "/contract/positionAll", "/contractAccount/wallet")


class KucoinClient(ContractClient):
    """One KuCoin Futures account (or public data only when ``credentials`` is None)."""

    name = VENUE

    def __init__(
        self,
        *,
        rest_url: str = DEFAULT_REST_URL,
        credentials: Credentials | None = None,
        symbols_hint: Sequence[str] = (),
        wall_clock: Callable[[], float] = time.time,
        request_timeout: float = 5.0,
        welcome_timeout: float = 10.0,
        max_session_s: float = 23 * 3600.0,
        snapshot_retry_s: float = 0.25,
        first_delta_wait_s: float = 1.0,
        backoff: Backoff = DEFAULT_BACKOFF,
        margin_mode: str = "ISOLATED",
        leverage: int = 5,
    ) -> None:
        if margin_mode not in ("ISOLATED", "CROSS"):
            raise ValueError(f"kucoin: margin_mode must be ISOLATED or CROSS, got {margin_mode}")
        super().__init__(
            rest_url=rest_url,
            credentials=credentials,
            symbols_hint=symbols_hint,
            wall_clock=wall_clock,
            request_timeout=request_timeout,
        )
        self.welcome_timeout = welcome_timeout
        self.max_session_s = max_session_s
        self.snapshot_retry_s = snapshot_retry_s
        self.first_delta_wait_s = first_delta_wait_s
        self.backoff = backoff
        self.margin_mode = margin_mode
        self.leverage = leverage
        self._buckets = {k: TokenBucket(f"{VENUE}:{k}", c, r) for k, (c, r) in POOLS.items()}
        self._fee_rates: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (taker, maker)
        self._placed = PlacedOrders()
        self._trades = RecentIds()
        self._ids = itertools.count(1)
        self.tokens_used: list[str] = []  # every bullet token this client connected with
        self.stream_positions: dict[str, VenuePosition] = {}
        self.stream_balance: Balance | None = None

    # -- plumbing --------------------------------------------------------------------------
    async def _request(
        self,
        method: str,
        endpoint: str,
        *,
        weight: str,
        query: Sequence[tuple[str, str]] = (),
        body: object | None = None,
        signed: bool = False,
        placing: bool = False,
    ) -> bytes:
        """One REST call; returns the body of a ``code: 200000`` answer or raises."""
        q = "&".join(f"{k}={quote(v, safe='')}" for k, v in query)
        prepared = prepare_request(
            method,
            self._prefix + endpoint + (f"?{q}" if q else ""),
            codecs.encode(body) if body is not None else None,
            account=self._account() if signed else None,
            ts_ms=self._ts_ms(),
        )
        pool = "futures" if signed else "public"
        return await self._send_prepared(
            prepared, endpoint, pool=pool, weight=weight, placing=placing
        )

    def _account(self) -> KucoinAccount:
        return KucoinAccount.from_credentials(
            self._require_credentials(), self.margin_mode, self.leverage, self._prefix
        )

    def _ts_ms(self) -> int:
        return int(self._wall() * 1000)

    async def _send_prepared(
        self, prepared: PreparedRequest, endpoint: str, *, pool: str, weight: str, placing: bool
    ) -> bytes:
        """Send a built request once ``pool`` admits ``weight``; the body of a ``code:
        200000`` answer or the mapped error."""
        method = prepared.method
        bucket = self._buckets[pool]
        await bucket.acquire(WEIGHTS[weight])
        resp = await send_http(
            self._client(), VENUE, method, self._origin + prepared.path,
            headers=prepared.headers, content=prepared.body,
        )  # fmt: skip
        try:
            status = codecs.status_decoder.decode(resp.content)
        except (msgspec.DecodeError, msgspec.ValidationError):
            status = None
        if status is not None and str(status.code) == OK and resp.status_code < 300:
            return resp.content
        what = f"{method} {endpoint}"
        if status is None:
            if resp.status_code >= 500 or (placing and resp.status_code < 300):
                raise OutcomeUnknown(VENUE, f"{what}: HTTP {resp.status_code}, unreadable body")
            if resp.status_code == 429:
                raise RateLimited(VENUE, f"{what}: HTTP 429", code="429")
            raise BadRequest(VENUE, f"{what}: HTTP {resp.status_code}, unreadable body")
        retry_after = _retry_after(resp.headers)
        error = error_for(
            str(status.code), status.msg, resp.status_code, what, placing=placing,
            retry_after=retry_after,
        )  # fmt: skip
        if isinstance(error, RateLimited):
            bucket.penalize(error.retry_after or 1.0, trio.current_time())
        raise error

    # -- instruments -----------------------------------------------------------------------
    async def load_instruments(self) -> list[Instrument]:
        raw = await self._request("GET", "/api/v1/contracts/active", weight="contracts")
        contracts = decode(codecs.contracts_decoder, raw, "contracts").data
        self._instruments = {
            c.symbol: convert.instrument_from_contract(c)
            for c in contracts
            if convert.is_tradable_contract(c)
        }
        return list(self._instruments.values())

    # -- WebSocket connection --------------------------------------------------------------
    async def _bullet(self, private: bool) -> tuple[str, codecs.InstanceServer]:
        """A fresh token and the instance server to connect to (never reused)."""
        endpoint = "/api/v1/bullet-private" if private else "/api/v1/bullet-public"
        raw = await self._request("POST", endpoint, weight="bullet", signed=private)
        bullet = decode(codecs.bullet_decoder, raw, "bullet").data
        if not bullet.instanceServers:
            raise MalformedMessage(VENUE, "bullet: no instance servers")
        return bullet.token, bullet.instanceServers[0]

    async def _connect(
        self, private: bool, topics: Sequence[str], on_frame: Callable[[str | bytes, float], bool],
        on_subscribed: Callable[[], None],
    ) -> None:  # fmt: skip
        """One session: bullet → connect → welcome → subscribe → read until it ends.

        ``on_frame(raw, now)`` handles data frames and returns True when it consumed the
        frame; anything else is a control frame handled here.
        """
        token, server = await self._bullet(private)
        connect_id = f"{VENUE}{next(self._ids)}"
        separator = "&" if "?" in server.endpoint else "?"
        url = f"{server.endpoint}{separator}token={token}&connectId={connect_id}"
        self.tokens_used.append(token)
        ping_s = max(1.0, server.pingInterval / 1000 * 0.8)
        idle_s = (server.pingInterval + server.pingTimeout) / 1000
        async with open_websocket(url) as ws:
            with trio.fail_after(self.welcome_timeout):
                welcome = self._control(await ws.get_message())
                if welcome.type != "welcome":
                    raise Disconnected(VENUE, f"expected welcome, got {welcome.type!r}")
            ids: set[str] = set()
            for topic in topics:
                req_id = str(next(self._ids))
                ids.add(req_id)
                request = WsRequest(
                    id=req_id, type="subscribe", topic=topic, privateChannel=private,
                    response=True,
                )  # fmt: skip
                await ws.send_message(codecs.encode(request).decode())
            last_rx = [trio.current_time()]
            started = trio.current_time()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._ping_loop, ws, ping_s, idle_s, last_rx, started)
                while True:
                    raw = await ws.get_message()
                    now = trio.current_time()
                    last_rx[0] = now
                    self.health.message_received(now)
                    if on_frame(raw, now):
                        continue
                    msg = self._control(raw)
                    if msg.type == "ack" and msg.id in ids:
                        ids.discard(msg.id)
                        if not ids:
                            on_subscribed()

    def _control(self, raw: str | bytes) -> WsMessage:
        """Decode a control frame; an ``error`` frame ends the session."""
        msg = decode(codecs.ws_message_decoder, raw, "ws control")
        if msg.type == "error":
            text = bytes(msg.data).decode("utf-8", "replace")[:200]
            if str(msg.code) == "401":
                raise Disconnected(VENUE, f"token rejected: {text}", code="401")
            raise BadRequest(VENUE, f"ws error {msg.code}: {text}", code=str(msg.code))
        return msg

    async def _ping_loop(
        self, ws: WebSocketConnection, every: float, idle: float, last_rx: list[float],
        started: float,
    ) -> None:  # fmt: skip
        while True:
            await trio.sleep(every)
            now = trio.current_time()
            if now - last_rx[0] > idle:
                raise Disconnected(VENUE, f"no message for {idle} s")
            if now - started > self.max_session_s:
                raise Disconnected(VENUE, "token lifetime reached: reconnecting with a new one")
            ping = WsRequest(id=str(next(self._ids)), type="ping")
            await ws.send_message(codecs.encode(ping).decode())

    # -- books -----------------------------------------------------------------------------
    async def run_books(
        self,
        symbols: Sequence[str],
        on_update: BookCallback,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        instruments = {s: await self._instrument(s) for s in symbols}
        machine = KucoinBooks(instruments, self.health, on_update, books=self.books)
        on_subscribed = Readiness(task_status, self.health)

        async def session() -> None:
            now = trio.current_time()
            machine.pending.clear()
            machine.resync_all("connecting", now)
            wake = Wakeup()

            def on_frame(raw: str | bytes, now: float) -> bool:
                msg = machine.on_frame(raw, now)
                if machine.pending:
                    wake.set()
                if msg is None:
                    return True
                return msg.type in ("pong", "message")

            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(
                        functools.partial(
                            run_snapshot_fetcher, VENUE, machine, self._fetch_snapshot, wake,
                            retry_s=self.snapshot_retry_s,
                            first_delta_wait_s=self.first_delta_wait_s,
                        )
                    )  # fmt: skip
                    await self._connect(False, machine.topics(), on_frame, on_subscribed)
            except BaseExceptionGroup as group:
                raise collapse_group(group) from None
            finally:
                for book in machine.books.values():
                    book.invalidate("disconnected")
                    on_update(book)

        await run_reconnecting(session, self.health, what="books", backoff=self.backoff)

    async def _fetch_snapshot(self, symbol: str) -> codecs.Level2Snapshot:
        raw = await self._request(
            "GET", "/api/v1/level2/snapshot", weight="snapshot", query=[("symbol", symbol)]
        )
        return decode(codecs.snapshot_decoder, raw, "level2 snapshot").data

    # -- orders ----------------------------------------------------------------------------
    async def place_order(self, request: OrderRequest) -> OrderAck:
        account = self._account()
        inst = await self._instrument(request.symbol)
        cid = request.client_order_id
        prepared = prepare_order(request, inst, account, self._ts_ms())
        raw = await self._send_prepared(
            prepared, ORDER_ENDPOINT, pool="futures", weight="place", placing=True
        )
        try:
            created = decode(codecs.order_created_decoder, raw, "order").data
        except MalformedMessage as exc:
            raise OutcomeUnknown(
                VENUE, f"order accepted with unreadable answer: {exc.message}"
            ) from None
        self._placed.remember(cid, created.orderId, inst.symbol)
        return OrderAck(
            venue=VENUE, client_order_id=cid, venue_order_id=created.orderId,
            ts=trio.current_time(),
        )  # fmt: skip

    async def cancel_order(self, symbol: str, client_order_id: str) -> None:
        self._require_credentials()
        try:
            await self._request(
                "DELETE", f"/api/v1/orders/client-order/{quote(client_order_id, safe='')}",
                weight="cancel", query=[("symbol", symbol)], signed=True,
            )  # fmt: skip
        except OrderRejected as exc:
            if exc.code == NOT_CANCELABLE:
                return  # already done: nothing to cancel
            raise
        except BadRequest as exc:
            if exc.code == NOT_CANCELABLE:
                return
            raise

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        self._require_credentials()
        inst = await self._instrument(symbol)
        raw = await self._request(
            "GET", "/api/v1/orders/byClientOid", weight="order",
            query=[("clientOid", client_order_id)], signed=True,
        )  # fmt: skip
        detail = decode(codecs.order_detail_decoder, raw, "order").data
        if detail is None:
            raise OrderNotFound(VENUE, f"no order {client_order_id!r} on {symbol}")
        fills: list[codecs.TradeFill] = []
        if detail.filledSize > 0:
            raw = await self._request(
                "GET", "/api/v1/fills", weight="fills", query=[("orderId", detail.id)],
                signed=True,
            )  # fmt: skip
            fills = decode(codecs.fills_decoder, raw, "fills").data.items
        return convert.order_report(inst, detail, fills, trio.current_time())

    # -- account ---------------------------------------------------------------------------
    async def fetch_balances(self) -> list[Balance]:
        raw = await self._request(
            "GET", "/api/v1/account-overview", weight="account", query=[("currency", "USDT")],
            signed=True,
        )  # fmt: skip
        acct = decode(codecs.account_decoder, raw, "account overview").data
        return [
            Balance(
                venue=VENUE, currency=acct.currency, total=acct.accountEquity,
                available=acct.availableBalance,
            )
        ]  # fmt: skip

    async def fetch_positions(self) -> list[VenuePosition]:
        raw = await self._request("GET", "/api/v1/positions", weight="positions", signed=True)
        result = []
        for p in decode(codecs.positions_decoder, raw, "positions").data:
            if p.currentQty == 0:
                continue
            result.append(
                _position(await self._instrument(p.symbol), p.currentQty, p.avgEntryPrice)
            )
        return result

    async def fetch_funding(self, symbols: Sequence[str]) -> list[FundingRate]:
        result = []
        for symbol in symbols:
            raw = await self._request(
                "GET", f"/api/v1/funding-rate/{symbol}/current", weight="funding"
            )
            f = decode(codecs.funding_decoder, raw, "funding rate").data
            next_ts = None
            if f.fundingTime:  # wall-clock ms → this runtime's clock
                next_ts = trio.current_time() + (f.fundingTime / 1000 - self._wall())
            result.append(
                FundingRate(
                    venue=VENUE, symbol=symbol, rate=f.value,
                    interval_hours=max(1, round(f.granularity / 3_600_000)),
                    next_funding_ts=next_ts,
                )
            )  # fmt: skip
        return result

    async def _load_fee_rates(self, symbols: Sequence[str]) -> None:
        """The account's own rates (``/api/v1/trade-fees``), else the contract's."""
        for symbol in symbols:
            inst = self._instruments[symbol]
            try:
                raw = await self._request(
                    "GET", "/api/v1/trade-fees", weight="fees", query=[("symbol", symbol)],
                    signed=True,
                )  # fmt: skip
                fees = decode(codecs.trade_fees_decoder, raw, "trade fees").data
                self._fee_rates[symbol] = (fees.takerFeeRate, fees.makerFeeRate)
            except (BadRequest, MalformedMessage, OrderNotFound) as exc:
                log.info("venue.fee_rates_fallback", venue=VENUE, symbol=symbol, error=str(exc))
                self._fee_rates[symbol] = (inst.taker_fee, inst.maker_fee)

    # -- private stream --------------------------------------------------------------------
    async def run_order_stream(
        self,
        send: trio.MemorySendChannel[OrderEvent],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self._require_credentials()
        if not self._instruments:
            await self.load_instruments()
        await self._load_fee_rates(list(self.symbols_hint or self._instruments))
        subscribed = Readiness(task_status, self.health)

        async def session() -> None:
            reconcile = Wakeup()
            outbox: deque[OrderEvent] = deque()
            ready = trio.Event()

            def on_subscribed() -> None:
                subscribed()
                reconcile.set()

            def on_frame(raw: str | bytes, now: float) -> bool:
                try:
                    msg = decode(codecs.ws_message_decoder, raw, "private message")
                    if msg.type != "message":
                        return False
                    outbox.extend(self._private_events(msg, now))
                except MalformedMessage as exc:
                    self.health.malformed += 1
                    log.warning("venue.malformed", venue=VENUE, error=exc.message)
                    reconcile.set()
                if outbox:
                    ready.set()
                return True

            async def forward() -> None:
                nonlocal ready
                while True:
                    await ready.wait()
                    ready = trio.Event()
                    while outbox:
                        await send.send(outbox.popleft())

            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(forward)
                    nursery.start_soon(
                        run_reconciler, VENUE, self._placed, self.query_order, send,
                        self._trades, reconcile,
                    )  # fmt: skip
                    await self._connect(True, PRIVATE_TOPICS, on_frame, on_subscribed)
            except BaseExceptionGroup as group:
                raise collapse_group(group) from None

        await run_reconnecting(session, self.health, what="orders", backoff=self.backoff)

    def _private_events(self, msg: WsMessage, now: float) -> list[OrderEvent]:
        """Translate one private push (positions and balances are cached, not emitted)."""
        topic = msg.topic
        events: list[OrderEvent] = []
        if topic.startswith("/contractMarket/tradeOrders"):
            o = decode(codecs.order_change_decoder, msg.data, "orderChange")
            inst = self._instruments.get(o.symbol)
            if inst is None:
                return events
            if o.type == "match":
                taker, maker = self._fee_rates.get(o.symbol, (inst.taker_fee, inst.maker_fee))
                try:
                    fill = convert.fill_from_match(
                        inst, o, maker if o.liquidity == "maker" else taker, now
                    )
                except ValueError as exc:
                    raise MalformedMessage(VENUE, f"orderChange: {exc}") from None
                if self._trades.add(fill.trade_id):
                    events.append(fill)
            update = convert.order_update(inst, o, now)
            if update.status.is_terminal:
                self._placed.finished(o.clientOid)
            events.append(update)
        elif topic.startswith("/contract/position"):
            p = decode(codecs.position_change_decoder, msg.data, "position.change")
            inst = self._instruments.get(p.symbol)
            if inst is not None and msg.subject == "position.change":
                self.stream_positions[p.symbol] = _position(inst, p.currentQty, p.avgEntryPrice)
        elif topic.startswith("/contractAccount/wallet"):
            w = decode(codecs.wallet_decoder, msg.data, "wallet")
            self.stream_balance = Balance(
                venue=VENUE, currency=w.currency, total=w.walletBalance,
                available=w.availableBalance,
            )  # fmt: skip
        return events


# -- helpers -------------------------------------------------------------------------------
def _position(inst: Instrument, contracts: Decimal, entry: Decimal) -> VenuePosition:
    return contract_position(VENUE, inst, contracts, entry)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """``gw-ratelimit-reset`` (ms until the pool resets), when present."""
    value = headers.get("gw-ratelimit-reset")
    try:
        return max(0.0, min(60.0, float(value) / 1000)) if value else None
    except ValueError:
        return None


__all__ = ["DEFAULT_REST_URL", "DEFAULT_WS_URL", "KucoinClient"]
