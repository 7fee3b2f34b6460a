"""The Hyperliquid venue client: REST ``/info`` + signed ``/exchange`` over httpx, WebSocket
books and the private order stream over trio-websocket. Implements
:class:`arbtrio.venues.base.VenueClient`.

Theory of operation
-------------------
* Instruments come from ``metaAndAssetCtxs`` (meta + per-asset contexts, same index). The
  asset id an order carries is the coin's index in the *full* universe, delisted entries
  included; delisted coins are simply not offered as instruments.
* Books: one WS connection subscribes ``l2Book`` and ``bbo`` per coin. Every ``l2Book`` is a
  full snapshot (≤ 20 levels a side), applied with :meth:`L2Book.apply_snapshot`; a ``bbo``
  newer than the snapshot moves the top in between (levels through the new top are removed).
  ``L2Book.seq`` holds the venue's ms ``time``; older messages are ignored. We ping every
  ``ping_interval`` (the venue closes a connection idle for 60 s). A coin quiet for
  ``stale_after`` seconds is invalidated and resubscribed (the subscription ack brings a
  fresh snapshot); three quiet rounds in a row reconnect. A malformed frame is counted,
  logged, every book of the connection is invalidated and resubscribed; the feed goes on.
* Orders: ``order`` (limit, IOC by default, ``c`` = the request's client order id),
  ``cancelByCloid``; one :class:`NonceSource` per signer; every REST call takes its weight
  from one shared 1200/min :class:`TokenBucket`, emptied for ``penalty_s`` after a 429.
  Transport failures before the request left → ``Disconnected``; after → ``OutcomeUnknown``.
* Private stream: ``orderUpdates`` and ``userFills`` (user = the master account). Fills
  carry the venue ``oid``; they are released once the oid's cloid is known (from our own
  place response or an ``orderUpdates`` entry) and de-duplicated by ``tid``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import httpx
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
    OrderRejected,
    OutcomeUnknown,
    PreparedRequest,
    RateLimited,
    VenueError,
    VenueHealth,
)
from arbtrio.venues.hyperliquid import codecs as c
from arbtrio.venues.hyperliquid.prepare import (
    HyperliquidAccount,
    prepare_action,
    prepare_order,
)
from arbtrio.venues.hyperliquid.signing import Signer
from arbtrio.venues.ratelimit import TokenBucket
from arbtrio.venues.reconnect import Backoff, Readiness, run_reconnecting, session_ok
from arbtrio.venues.wire import RecentIds, open_websocket

log = structlog.get_logger("arbtrio.venues.hyperliquid")

VENUE = c.VENUE
DEFAULT_REST_URL = "https://api.hyperliquid.xyz"
DEFAULT_WS_URL = "wss://api.hyperliquid.xyz/ws"
TESTNET_REST_URL = "https://api.hyperliquid-testnet.xyz"

_JSON = {"Content-Type": "application/json"}
_PING = b'{"method":"ping"}'
# Info weights (venue doc §6): 2 for the light reads, 20 for the rest; userFills also pays
# 1 per 20 fills returned (charged after the answer, see fetch_fills).
_INFO_WEIGHT = {"l2Book": 2, "allMids": 2, "clearinghouseState": 2, "orderStatus": 2}
_BACKOFF = Backoff()
_MISSING_ORDER = "Order was never placed, already canceled, or filled."
_AUTH_ERRORS = ("does not exist", "Must deposit before performing actions")


def order_status(status: str) -> OrderStatus:
    """Map a venue order status (§1.6) to the unified one; MalformedMessage if unknown."""
    if status in ("open", "triggered"):
        return OrderStatus.OPEN
    if status == "filled":
        return OrderStatus.FILLED
    if status == "rejected" or status.endswith("Rejected"):
        return OrderStatus.REJECTED
    if status in ("canceled", "scheduledCancel") or status.endswith("Canceled"):
        return OrderStatus.CANCELLED
    raise MalformedMessage(VENUE, f"unknown order status {status!r}")


def filled_of(order: c.OrderInfo, status: OrderStatus) -> Decimal:
    """Cumulative filled size of an order report: ``origSz − sz`` (``sz`` is what remains)."""
    if status is OrderStatus.REJECTED:
        return Decimal(0)
    if status is OrderStatus.FILLED:
        return c.finite(order.origSz, "origSz")
    return max(Decimal(0), c.finite(order.origSz, "origSz") - c.finite(order.sz, "sz"))


def _side(code: str) -> Side:
    return Side.BUY if code == "B" else Side.SELL


class HyperliquidClient:
    """One account (or public data only) on one Hyperliquid deployment."""

    name = VENUE

    def __init__(
        self,
        *,
        rest_url: str = DEFAULT_REST_URL,
        ws_url: str = DEFAULT_WS_URL,
        credentials: Credentials | None = None,
        symbols_hint: Sequence[str] = (),
        is_mainnet: bool | None = None,
        request_timeout: float = 10.0,
        ping_interval: float = 20.0,
        stale_after: float = 10.0,
        penalty_s: float = 10.0,
        backoff: Backoff = _BACKOFF,
        vault_address: str | None = None,
    ) -> None:
        self.rest_url = rest_url.rstrip("/")
        self.ws_url = ws_url
        self.symbols_hint = tuple(symbols_hint)
        self.is_mainnet = (self.rest_url == DEFAULT_REST_URL) if is_mainnet is None else is_mainnet
        self.health = VenueHealth(venue=VENUE)
        self.order_health = VenueHealth(venue=VENUE)
        self.books: dict[str, L2Book] = {}
        self.instruments: dict[str, Instrument] = {}
        self.asset_ctxs: dict[str, c.AssetCtx] = {}
        self.request_timeout = request_timeout
        self.ping_interval = ping_interval
        self.stale_after = stale_after
        self.penalty_s = penalty_s
        self.backoff = backoff
        self.vault_address = vault_address.lower() if vault_address else None
        self.bucket = TokenBucket(f"{VENUE}:ip", capacity=1200.0, rate=20.0)
        creds = credentials or Credentials()
        self._signer = (
            Signer(creds.private_key, is_mainnet=self.is_mainnet) if creds.private_key else None
        )
        user = creds.account_address or (self._signer.address if self._signer else "")
        self.user = user.lower()
        self._http = httpx.AsyncClient(base_url=self.rest_url, timeout=request_timeout)
        self._asset: dict[str, int] = {}
        # order bookkeeping shared by place_order and the stream (one Trio thread)
        self._oid_cloid: dict[int, str] = {}
        self._placed: dict[str, c.Filled] = {}
        self._pending_fills: dict[int, list[c.UserFill]] = {}
        self._seen_tids = RecentIds(100_000)
        self._stream_acked: set[str] = set()
        self._stream_fills: dict[int, list[c.UserFill]] = {}
        self._mapping_changed = trio.Event()
        self._closed = False
        self.clock: Callable[[], float] = trio.current_time  # the runtime's time base

    # ================================================================================
    # REST plumbing
    # ================================================================================
    async def _info(self, body: c.InfoRequest, kind: str | None = None) -> Any:
        """POST /info; decoded with the decoder of ``kind`` (default ``body.type``)."""
        await self.bucket.acquire(_INFO_WEIGHT.get(body.type, 20))
        try:
            resp = await self._http.post("/info", content=c.encode(body), headers=_JSON)
        except httpx.HTTPError as exc:
            raise Disconnected(VENUE, f"info {body.type}: {type(exc).__name__}") from None
        self._check_http(resp, f"info {body.type}", sent=False)
        return c.decode(kind or body.type, resp.content)

    def _check_http(self, resp: httpx.Response, what: str, *, sent: bool) -> None:
        code = resp.status_code
        if code < 400:
            return
        text = resp.text[:200]
        if code == 429:
            retry = _retry_after(resp) or self.penalty_s
            self.bucket.penalize(retry, trio.current_time())
            raise RateLimited(VENUE, f"{what}: HTTP 429 {text}", code="429", retry_after=retry)
        if code >= 500:
            cls = OutcomeUnknown if sent else Disconnected
            raise cls(VENUE, f"{what}: HTTP {code} {text}", code=str(code))
        if code in (401, 403):
            raise AuthenticationFailed(VENUE, f"{what}: HTTP {code} {text}", code=str(code))
        raise BadRequest(VENUE, f"{what}: HTTP {code} {text}", code=str(code))

    def _require_signer(self) -> Signer:
        if self._signer is None:
            raise AuthenticationFailed(
                VENUE, "no credentials: set the API wallet private_key to trade"
            )
        return self._signer

    def _require_user(self) -> str:
        if not self.user:
            raise AuthenticationFailed(VENUE, "no account_address or private_key configured")
        return self.user

    def _account(self) -> HyperliquidAccount:
        return HyperliquidAccount(self._require_signer(), self.vault_address)

    async def _exchange(self, action: Any, what: str) -> c.ExchangeOkBody:
        """Sign and POST one action. Returns the ok body; raises the typed errors."""
        account = self._account()
        prepared = prepare_action(action, account, account.signer.nonces.next())
        return await self._post_exchange(prepared, what)

    async def _post_exchange(self, prepared: PreparedRequest, what: str) -> c.ExchangeOkBody:
        """POST one signed ``/exchange`` request; the ok body or the typed errors."""
        await self.bucket.acquire(1)
        try:
            resp = await self._http.post(
                prepared.path, content=prepared.body, headers=prepared.headers
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise Disconnected(VENUE, f"{what}: not sent ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise OutcomeUnknown(VENUE, f"{what}: {type(exc).__name__} after sending") from None
        self._check_http(resp, what, sent=True)
        try:
            decoded: c.ExchangeResponse = c.decode("exchangeResponse", resp.content)
        except MalformedMessage as exc:
            self.order_health.malformed += 1
            raise OutcomeUnknown(VENUE, f"{what}: unreadable response ({exc.message})") from None
        if decoded.status == "err" or isinstance(decoded.response, str):
            message = str(decoded.response)
            if any(marker in message for marker in _AUTH_ERRORS):
                raise AuthenticationFailed(VENUE, message)
            if message.startswith("Invalid nonce"):
                raise BadRequest(VENUE, message)
            raise OrderRejected(VENUE, message)
        return decoded.response

    # ================================================================================
    # instruments, account
    # ================================================================================
    async def load_instruments(self) -> list[Instrument]:
        meta, ctxs = await self._info(c.InfoRequest(type="metaAndAssetCtxs"))
        if len(ctxs) != len(meta.universe):
            raise MalformedMessage(VENUE, "metaAndAssetCtxs: meta and contexts differ in length")
        taker, maker = c.BASE_TAKER_FEE, c.BASE_MAKER_FEE
        if self.user:
            try:
                fees: c.UserFees = await self._info(c.InfoRequest(type="userFees", user=self.user))
                taker, maker = fees.userCrossRate, fees.userAddRate
            except VenueError as exc:
                log.warning("hyperliquid.user_fees_unavailable", error=str(exc))
        instruments = []
        for index, (asset, ctx) in enumerate(zip(meta.universe, ctxs, strict=True)):
            self._asset[asset.name] = index  # the index in the FULL universe
            self.asset_ctxs[asset.name] = ctx
            if asset.isDelisted:
                continue
            inst = c.instrument_from_meta(asset, taker_fee=taker, maker_fee=maker)
            self.instruments[asset.name] = inst
            instruments.append(inst)
        return instruments

    async def _instrument(self, symbol: str) -> tuple[Instrument, int]:
        if symbol not in self.instruments:
            await self.load_instruments()
        try:
            return self.instruments[symbol], self._asset[symbol]
        except KeyError:
            raise BadRequest(VENUE, f"unknown or delisted coin {symbol!r}") from None

    async def fetch_balances(self) -> list[Balance]:
        state = await self._clearinghouse()
        return [
            Balance(
                venue=VENUE,
                currency="USDC",
                total=c.finite(state.marginSummary.accountValue, "accountValue"),
                available=c.finite(state.withdrawable, "withdrawable"),
            )
        ]

    async def fetch_positions(self) -> list[VenuePosition]:
        state = await self._clearinghouse()
        return [
            VenuePosition(
                venue=VENUE,
                symbol=p.position.coin,
                qty=c.finite(p.position.szi, "szi"),
                entry_price=p.position.entryPx,
            )
            for p in state.assetPositions
            if p.position.szi != 0
        ]

    async def _clearinghouse(self) -> c.ClearinghouseState:
        user = self._require_user()
        state: c.ClearinghouseState = await self._info(
            c.InfoRequest(type="clearinghouseState", user=user)
        )
        return state

    async def fetch_funding(self, symbols: Sequence[str]) -> list[FundingRate]:
        """Current hourly rates; ``next_funding_ts`` is the next whole UTC hour on Trio's
        clock (funding is paid every hour)."""
        meta, ctxs = await self._info(c.InfoRequest(type="metaAndAssetCtxs"))
        by_name = {a.name: ctx for a, ctx in zip(meta.universe, ctxs, strict=False)}
        wall = time.time()
        next_ts = trio.current_time() + (math.floor(wall / 3600) + 1) * 3600 - wall
        out = []
        for symbol in symbols:
            ctx = by_name.get(symbol)
            if ctx is None:
                raise BadRequest(VENUE, f"unknown coin {symbol!r}")
            out.append(
                FundingRate(
                    venue=VENUE,
                    symbol=symbol,
                    rate=c.finite(ctx.funding, "funding"),
                    interval_hours=1,
                    next_funding_ts=next_ts,
                )
            )
        return out

    # ================================================================================
    # orders
    # ================================================================================
    async def place_order(self, request: OrderRequest) -> OrderAck:
        market = await self._instrument(request.symbol)
        cloid = request.client_order_id
        account = self._account()
        prepared = prepare_order(request, market, account, account.signer.nonces.next())
        body = await self._post_exchange(prepared, f"order {cloid}")
        status = _single_status(body, f"order {cloid}")
        if status.error is not None:
            raise OrderRejected(VENUE, status.error)
        if status.resting is not None:
            oid = status.resting.oid
        elif status.filled is not None:
            oid = status.filled.oid
            self._placed[cloid] = status.filled
        else:
            raise OutcomeUnknown(VENUE, f"order {cloid}: status without resting/filled/error")
        self._remember(oid, cloid)
        return OrderAck(
            venue=VENUE, client_order_id=cloid, venue_order_id=str(oid), ts=trio.current_time()
        )

    async def cancel_order(self, symbol: str, client_order_id: str) -> None:
        _inst, asset = await self._instrument(symbol)
        action = c.CancelByCloidAction(
            cancels=[c.CancelByCloidWire(asset=asset, cloid=client_order_id)]
        )
        body = await self._exchange(action, f"cancel {client_order_id}")
        statuses = body.data.statuses if body.data else []
        if statuses == ["success"]:
            return
        if len(statuses) == 1 and isinstance(statuses[0], c.OrderStatusObj):
            error = statuses[0].error or ""
            if error.startswith(_MISSING_ORDER):
                raise OrderNotFound(VENUE, error)
            raise OrderRejected(VENUE, error or "cancel: unexpected status")
        raise OutcomeUnknown(VENUE, f"cancel {client_order_id}: unexpected statuses {statuses!r}")

    async def schedule_cancel(self, at_ms: int | None) -> None:
        """The dead-man switch: cancel every open order at ``at_ms`` (epoch ms, ≥ 5 s ahead),
        or unset it with ``None``. Needs $1M traded volume; the venue's refusal is raised as
        :class:`VenueError` with its message."""
        action = c.ScheduleCancelAction(time=at_ms)
        try:
            await self._exchange(action, "scheduleCancel")
        except OrderRejected as exc:
            raise VenueError(VENUE, exc.message) from None

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """``orderStatus`` by cloid, plus the order's fills from ``userFills``."""
        user = self._require_user()
        resp: c.OrderStatusResponse = await self._info(
            c.InfoRequest(type="orderStatus", user=user, oid=client_order_id)
        )
        if resp.status != "order" or resp.order is None:
            raise OrderNotFound(VENUE, f"order {client_order_id}: {resp.status}")
        entry = resp.order
        status = order_status(entry.status)
        self._remember(entry.order.oid, client_order_id)
        filled = filled_of(entry.order, status)
        fills = await self.fetch_fills(oid=entry.order.oid)
        events = tuple(self._fill_event(f, client_order_id) for f in fills)
        return OrderReport(
            venue=VENUE,
            client_order_id=client_order_id,
            status=status,
            filled_qty=filled,
            avg_price=_avg(fills, filled),
            fills=events,
            reason="" if status is OrderStatus.FILLED else entry.status,
        )

    async def fetch_fills(self, *, oid: int | None = None) -> list[c.UserFill]:
        """The account's recent fills over REST (at most 2000), optionally of one oid."""
        user = self._require_user()
        fills: list[c.UserFill] = await self._info(c.InfoRequest(type="userFills", user=user))
        if len(fills) >= 20:  # the venue charges 1 more weight per 20 items returned
            await self.bucket.acquire(len(fills) // 20)
        return [f for f in fills if oid is None or f.oid == oid]

    def _remember(self, oid: int, cloid: str) -> None:
        if self._oid_cloid.get(oid) != cloid:
            self._oid_cloid[oid] = cloid
            if oid in self._pending_fills:
                self._mapping_changed.set()

    def _fill_event(self, fill: c.UserFill, cloid: str) -> Fill:
        return Fill(
            venue=VENUE,
            client_order_id=cloid,
            trade_id=str(fill.tid),
            side=_side(fill.side),
            qty=c.finite(fill.sz, "sz"),
            price=c.finite(fill.px, "px"),
            fee=c.finite(fill.fee, "fee"),
            ts=_runtime_ts(fill.time, self.clock),
        )

    # ================================================================================
    # WebSocket: books
    # ================================================================================
    async def run_books(
        self,
        symbols: Sequence[str],
        on_update: BookCallback,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        coins = list(dict.fromkeys(symbols))
        for coin in coins:
            self.books.setdefault(coin, L2Book(VENUE, coin))
        subscribed = Readiness(task_status, None)  # health is ok once books progress

        async def session() -> None:
            feed = _BookFeed(self, coins, on_update)
            try:
                async with self._open_ws() as ws:
                    await feed.subscribe_all(ws)
                    subscribed()
                    await feed.run(ws)
            finally:
                feed.invalidate_all("disconnected")

        await run_reconnecting(session, self.health, what="books", backoff=self.backoff)

    # ================================================================================
    # WebSocket: private order stream
    # ================================================================================
    async def run_order_stream(
        self,
        send: trio.MemorySendChannel[OrderEvent],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        user = self._require_user()
        subscribed = Readiness(task_status, self.order_health)

        async def session() -> None:
            async with self._open_ws() as ws:
                for kind in ("orderUpdates", "userFills"):
                    sub = c.Subscription(type=kind, user=user)
                    await ws.send_message(
                        c.encode(c.WsRequest(method="subscribe", subscription=sub)).decode()
                    )
                subscribed()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._pinger, ws)
                    nursery.start_soon(self._flusher, send)
                    await self._order_reader(ws, send)
                    nursery.cancel_scope.cancel()

        await run_reconnecting(session, self.order_health, what="orders", backoff=self.backoff)

    def _open_ws(self) -> AbstractAsyncContextManager[WebSocketConnection]:
        """Connect to ``ws_url`` (messages up to 16 MiB: ``userFills`` snapshots are large)."""
        return open_websocket(
            self.ws_url,
            connect_timeout=self.request_timeout,
            disconnect_timeout=1.0,
            max_message_size=16 * 1024 * 1024,
        )

    async def _pinger(self, ws: WebSocketConnection) -> None:
        while True:
            await trio.sleep(self.ping_interval)
            await ws.send_message(_PING.decode())

    async def _flusher(self, send: trio.MemorySendChannel[OrderEvent]) -> None:
        """Release buffered fills whose oid became known through ``place_order``."""
        while True:
            await self._mapping_changed.wait()
            self._mapping_changed = trio.Event()
            for oid in [o for o in self._pending_fills if o in self._oid_cloid]:
                for fill in self._pending_fills.pop(oid):
                    await send.send(self._fill_event(fill, self._oid_cloid[oid]))

    async def _order_reader(
        self, ws: WebSocketConnection, send: trio.MemorySendChannel[OrderEvent]
    ) -> None:
        while True:
            raw = await ws.get_message()
            self.order_health.message_received(trio.current_time())
            try:
                msg = c.decode_ws(raw)
                if isinstance(msg, c.OrderUpdatesMsg):
                    for update in msg.data:
                        for event in self._order_events(update):
                            await send.send(event)
                elif isinstance(msg, c.UserFillsMsg):
                    for fill_event in self._fill_events(msg.data.fills):
                        await send.send(fill_event)
                elif isinstance(msg, c.ErrorMsg):
                    self.order_health.last_error = f"venue error: {msg.data!r}"[:200]
                    log.warning("hyperliquid.ws_error", stream="orders", data=str(msg.data)[:200])
            except MalformedMessage as exc:
                self.order_health.malformed += 1
                log.warning("hyperliquid.malformed", stream="orders", error=exc.message[:200])

    def _order_events(self, update: c.WsOrderUpdate) -> list[OrderEvent]:
        order = update.order
        cloid = order.cloid or self._oid_cloid.get(order.oid)
        if cloid is None:
            return []  # not an arbtrio order (manual, or another process)
        status = order_status(update.status)
        filled = filled_of(order, status)
        ts = _runtime_ts(update.statusTimestamp, self.clock)
        events: list[OrderEvent] = []
        if order.oid not in self._oid_cloid:
            self._oid_cloid[order.oid] = cloid
        if cloid not in self._stream_acked and status is not OrderStatus.REJECTED:
            self._stream_acked.add(cloid)
            events.append(
                OrderAck(venue=VENUE, client_order_id=cloid, venue_order_id=str(order.oid), ts=ts)
            )
        placed = self._placed.get(cloid)
        if placed is not None and placed.totalSz == filled:
            avg: Decimal | None = placed.avgPx
        else:
            avg = _avg(self._stream_fills.get(order.oid, []), filled)
        events.append(
            OrderUpdate(
                venue=VENUE,
                client_order_id=cloid,
                status=status,
                filled_qty=filled,
                avg_price=avg,
                ts=ts,
                reason="" if status is OrderStatus.FILLED else update.status,
            )
        )
        for fill in self._pending_fills.pop(order.oid, []):
            events.append(self._fill_event(fill, cloid))
        return events

    def _fill_events(self, fills: list[c.UserFill]) -> list[Fill]:
        out = []
        for fill in fills:
            if not self._seen_tids.add(fill.tid):
                continue
            self._stream_fills.setdefault(fill.oid, []).append(fill)
            cloid = fill.cloid or self._oid_cloid.get(fill.oid)
            if cloid is None:
                pending = self._pending_fills.setdefault(fill.oid, [])
                if len(self._pending_fills) <= 10_000:
                    pending.append(fill)
                continue
            out.append(self._fill_event(fill, cloid))
        return out

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._http.aclose()


class _BookFeed:
    """One book connection's state: subscriptions, staleness, message application."""

    def __init__(self, client: HyperliquidClient, coins: list[str], on_update: BookCallback):
        self.client = client
        self.coins = coins
        self.on_update = on_update
        self.books = client.books
        self.health = client.health
        now = client.clock()
        self.last_seen = dict.fromkeys(coins, now)
        self.quiet_rounds = dict.fromkeys(coins, 0)
        self.ws: WebSocketConnection | None = None
        self.progressed = False

    async def _send_sub(self, ws: WebSocketConnection, method: str, coin: str) -> None:
        for kind in ("l2Book", "bbo"):
            sub = c.Subscription(type=kind, coin=coin)
            await ws.send_message(c.encode(c.WsRequest(method=method, subscription=sub)).decode())  # type: ignore[arg-type]

    async def subscribe_all(self, ws: WebSocketConnection) -> None:
        for coin in self.coins:
            await self._send_sub(ws, "subscribe", coin)

    async def resubscribe(self, ws: WebSocketConnection, coin: str, reason: str) -> None:
        book = self.books[coin]
        book.invalidate(reason)
        self.on_update(book)
        self.health.resyncs += 1
        await self._send_sub(ws, "unsubscribe", coin)
        await self._send_sub(ws, "subscribe", coin)

    def invalidate_all(self, reason: str) -> None:
        for coin in self.coins:
            book = self.books[coin]
            if book.tradable:
                book.invalidate(reason)
                self.on_update(book)

    async def run(self, ws: WebSocketConnection) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.client._pinger, ws)
            nursery.start_soon(self._watchdog, ws)
            await self._reader(ws)
            nursery.cancel_scope.cancel()

    async def _watchdog(self, ws: WebSocketConnection) -> None:
        period = max(0.05, self.client.stale_after / 4)
        while True:
            await trio.sleep(period)
            now = trio.current_time()
            for coin in self.coins:
                if now - self.last_seen[coin] < self.client.stale_after:
                    continue
                self.quiet_rounds[coin] += 1
                self.last_seen[coin] = now
                if self.quiet_rounds[coin] >= 3:
                    raise Disconnected(VENUE, f"{coin}: feed stale after 3 resubscriptions")
                log.warning("hyperliquid.stale_feed", coin=coin, rounds=self.quiet_rounds[coin])
                await self.resubscribe(ws, coin, "stale feed")

    async def _reader(self, ws: WebSocketConnection) -> None:
        while True:
            raw = await ws.get_message()
            now = trio.current_time()
            self.health.message_received(now)
            try:
                self.apply(c.decode_ws(raw), now)
            except MalformedMessage as exc:
                self.health.malformed += 1
                self.health.last_error = exc.message[:200]
                log.warning("hyperliquid.malformed", stream="books", error=exc.message[:200])
                for coin in self.coins:
                    await self.resubscribe(ws, coin, "malformed message")

    def apply(self, msg: c.WsMessage | None, now: float) -> None:
        """Apply one decoded frame (raises MalformedMessage for an impossible one)."""
        if isinstance(msg, c.L2BookMsg):
            data = msg.data
            book = self._book_for(data.coin)
            if book is None or data.time < book.seq:
                return
            (bid_px, bid_sz), (ask_px, ask_sz) = c.book_ladders(data.levels)
            book.apply_sorted_snapshot(bid_px, bid_sz, ask_px, ask_sz, now, seq=data.time)
            self._seen(data.coin, now)
            if book.is_crossed():
                raise MalformedMessage(VENUE, f"{data.coin}: crossed l2Book snapshot")
            self.on_update(book)
        elif isinstance(msg, c.BboMsg):
            self._apply_bbo(msg.data, now)
        elif isinstance(msg, c.ErrorMsg):
            self.health.last_error = f"venue error: {msg.data!r}"[:200]
            log.warning("hyperliquid.ws_error", stream="books", data=str(msg.data)[:200])
        elif msg is None or isinstance(msg, c.PongMsg | c.SubscriptionResponseMsg):
            return
        else:
            raise MalformedMessage(VENUE, f"unexpected {type(msg).__name__} on the book feed")

    def _book_for(self, coin: str) -> L2Book | None:
        book = self.books.get(coin)
        if book is None or coin not in self.last_seen:
            log.info("hyperliquid.unsubscribed_coin", coin=coin)
            return None
        return book

    def _seen(self, coin: str, now: float) -> None:
        self.last_seen[coin] = now
        self.quiet_rounds[coin] = 0
        if not self.progressed:
            self.progressed = True
            session_ok(self.health)

    def _apply_bbo(self, data: c.BboData, now: float) -> None:
        book = self._book_for(data.coin)
        if book is None:
            return
        self._seen(data.coin, now)
        if not book.tradable or data.time < book.seq:
            return
        bid, ask = data.bbo
        for level in data.bbo:
            if level is not None and not (0.0 < level.px < math.inf and 0.0 <= level.sz < math.inf):
                raise MalformedMessage(VENUE, f"{data.coin}: bad bbo level {level}")
        bid_levels = [(bid.px, bid.sz)] if bid else []
        ask_levels = [(ask.px, ask.sz)] if ask else []
        # Levels better than the new top are gone (only scanned when the top moved inwards).
        top_b, top_a = book.best_bid(), book.best_ask()
        changes_b: list[tuple[float, float]] = []
        changes_a: list[tuple[float, float]] = []
        if top_b is not None and (bid is None or top_b[0] > bid.px):
            changes_b = [(px, 0.0) for px, _ in book.levels(Side.BUY) if not bid or px > bid.px]
        if top_a is not None and (ask is None or top_a[0] < ask.px):
            changes_a = [(px, 0.0) for px, _ in book.levels(Side.SELL) if not ask or px < ask.px]
        book.apply_delta(changes_b + bid_levels, changes_a + ask_levels, now, seq=data.time)
        if book.is_crossed():
            raise MalformedMessage(VENUE, f"{data.coin}: bbo crosses the book")
        self.on_update(book)


def _single_status(body: c.ExchangeOkBody, what: str) -> c.OrderStatusObj:
    statuses = body.data.statuses if body.data else []
    if len(statuses) != 1 or not isinstance(statuses[0], c.OrderStatusObj):
        raise OutcomeUnknown(VENUE, f"{what}: unexpected statuses {statuses!r}"[:300])
    return statuses[0]


def _avg(fills: Sequence[c.UserFill], filled: Decimal) -> Decimal | None:
    qty = sum((c.finite(f.sz, "sz") for f in fills), Decimal(0))
    if not fills or qty != filled or qty <= 0:
        return None
    return sum((c.finite(f.px, "px") * f.sz for f in fills), Decimal(0)) / qty


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _runtime_ts(venue_ms: int, clock: Callable[[], float]) -> float:
    """A venue epoch-ms timestamp on the runtime's clock."""
    return clock() - (time.time() - venue_ms / 1000.0)


def create_client(
    *,
    rest_url: str | None = None,
    ws_url: str | None = None,
    credentials: Credentials | None = None,
    symbols_hint: Sequence[str] = (),
    **options: Any,
) -> HyperliquidClient:
    """A client for ``rest_url``/``ws_url`` (mainnet by default); ``credentials=None`` gives
    public data only (order calls raise AuthenticationFailed)."""
    rest = rest_url or DEFAULT_REST_URL
    ws = ws_url or (DEFAULT_WS_URL if rest_url is None else _ws_from_rest(rest))
    return HyperliquidClient(
        rest_url=rest, ws_url=ws, credentials=credentials, symbols_hint=symbols_hint, **options
    )


def _ws_from_rest(rest_url: str) -> str:
    """The SDK's rule: ``"ws" + base_url[len("http"):] + "/ws"``."""
    return "ws" + rest_url.rstrip("/")[len("http") :] + "/ws"


__all__ = [
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "HyperliquidClient",
    "create_client",
    "filled_of",
    "order_status",
]
