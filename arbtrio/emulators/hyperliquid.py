"""A Hyperliquid emulator: the venue's side of ``/info``, ``/exchange`` and ``/ws`` on
loopback, backed by the shared :class:`~arbtrio.sim.market.SimMarket`.

What is real: the message shapes (codecs), the L1 signature check (the signer is recovered
from the EIP-712 digest of the *canonically re-encoded* action, so wrong key order or a
non-canonical number string recovers another address and gets the venue's "User or API
Wallet … does not exist"), the nonce rules (unique, > the smallest of the 100 highest,
within (T − 2 d, T + 1 d)), the greeting, full-snapshot ``l2Book`` and ``bbo`` channels,
``orderUpdates``/``userFills`` with a snapshot on subscribe, ``pong``, the 60 s idle close,
the documented error strings, and asset ids as indices into a universe that contains a
delisted coin (so a client that filters before indexing sends the wrong asset).

What is faked (see specs/010-hyperliquid.md): only limit-IOC orders execute (GTC/ALO/trigger
get an error), nothing ever rests, fills are taker fills from the simulator's ladder,
``time`` fields are wall-clock ms, l2Book pushes on a ladder change or every
``heartbeat_s``. Faults (drawn from ``market.fault("hyperliquid", kind)``): per order
request ``rate_limit`` (HTTP 429), ``reject`` (margin error), ``ack_timeout_not_executed``
and ``ack_timeout_executed`` (the request is held ``hold_s`` and answered 504, with or
without execution); per tick ``feed_disconnect`` (book sockets closed), ``stale_feed`` (one
subscription goes silent until resubscribed), ``bad_checksum`` (one corrupt frame).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import attrs
import msgspec
import structlog
import trio

from arbtrio.core.instruments import Instrument, floor_qty, format_decimal, is_valid_price
from arbtrio.core.types import OrderStatus, Side
from arbtrio.emulators.app import (
    ApiKeys,
    EmulatorApp,
    Endpoints,
    read_http_request,
    send_http_response,
    ws_url,
)
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.market import SimMarket
from arbtrio.venues.base import MalformedMessage
from arbtrio.venues.hyperliquid import codecs as c
from arbtrio.venues.hyperliquid.signing import address_of, recover_l1_signer

log = structlog.get_logger("arbtrio.venues.hyperliquid.emulator")

VENUE = c.VENUE
_DAY_MS = 86_400_000
_IOC_CANCEL = "Order could not immediately match against any resting orders."
_MISSING_ORDER = "Order was never placed, already canceled, or filled."
_DELISTED = c.AssetMeta(
    name="LOOM", szDecimals=1, maxLeverage=3, isDelisted=True, onlyIsolated=True
)
_CLOSE = object()
Send = Callable[[dict[str, Any]], Awaitable[None]]


@attrs.define(eq=False)
class _Order:
    oid: int
    cloid: str | None
    coin: str
    side: str  # "B" | "A"
    limit_px: Decimal
    orig_sz: Decimal
    sz: Decimal  # remaining
    status: str
    timestamp: int
    reduce_only: bool

    def info(self) -> c.OrderInfo:
        return c.OrderInfo(
            coin=self.coin,
            side=self.side,  # type: ignore[arg-type]
            limitPx=self.limit_px,
            sz=self.sz,
            oid=self.oid,
            timestamp=self.timestamp,
            origSz=self.orig_sz,
            cloid=self.cloid,
            reduceOnly=self.reduce_only,
            orderType="Limit",
            tif="Ioc",
            triggerCondition="N/A",
            isTrigger=False,
            triggerPx=Decimal(0),
            children=[],
            isPositionTpsl=False,
        )


@attrs.define(eq=False)
class _Conn:
    """One WebSocket connection: its subscriptions and outbound queue."""

    out: trio.MemorySendChannel[Any]
    books: set[str] = attrs.field(factory=set)
    bbos: set[str] = attrs.field(factory=set)
    user_orders: bool = False
    user_fills: bool = False
    stale: set[str] = attrs.field(factory=set)
    sent_version: dict[str, int] = attrs.field(factory=dict)
    sent_at: dict[str, float] = attrs.field(factory=dict)
    sent_bbo: dict[str, Any] = attrs.field(factory=dict)

    def push(self, frame: Any) -> None:
        """Queue a frame (bytes/str or _CLOSE); a client that cannot keep up is dropped."""
        try:
            self.out.send_nowait(frame)
        except trio.WouldBlock:
            self.out.close()  # the writer drains what is queued, then closes the socket
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


class HyperliquidEmulator(EmulatorApp):
    """The emulator's state and ASGI app. ``serve()`` binds it; tests may poke at it."""

    venue = VENUE

    def __init__(
        self,
        market: SimMarket,
        driver: MarketDriver,
        credentials: ApiKeys,
        *,
        is_mainnet: bool = False,
        hold_s: float = 30.0,
        heartbeat_s: float = 1.0,
        idle_timeout_s: float = 60.0,
        schedule_cancel_volume: Decimal = Decimal(1_000_000),
        book_depth: int = 20,
    ) -> None:
        if not credentials.private_key:
            raise ValueError("the emulator needs credentials.private_key (the API wallet)")
        super().__init__(market, driver, credentials)
        self.is_mainnet = is_mainnet
        self.agent = address_of(credentials.private_key)
        self.user = (credentials.account_address or self.agent).lower()
        self.hold_s = hold_s
        self.heartbeat_s = heartbeat_s
        self.idle_timeout_s = idle_timeout_s
        self.schedule_cancel_volume = schedule_cancel_volume
        self.book_depth = book_depth
        # The universe carries a delisted coin at index 1: asset ids are never "filtered".
        self.universe: list[c.AssetMeta] = [self._asset_meta(i) for i in self.instruments.values()]
        self.universe.insert(min(1, len(self.universe)), _DELISTED)
        self.orders: dict[int, _Order] = {}
        self.by_cloid: dict[str, int] = {}
        self.fills: list[c.UserFill] = []
        self.nonces: list[int] = []  # the 100 highest, ascending
        self.conns: set[_Conn] = set()
        self.volume = Decimal(0)
        self.scheduled_cancel: int | None = None
        self._next_oid = 77_738_308
        self._next_tid = 118_906_512_037_719
        self._last_ms = 0

    # -- serving -------------------------------------------------------------------------
    def endpoints(self, base_url: str) -> Endpoints:
        ws = ws_url(base_url, "/ws")
        return Endpoints(
            venue=VENUE, rest_url=base_url, ws_url=ws, private_ws_url=ws,
            credentials=self.credentials,
        )  # fmt: skip

    async def websocket(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        await self._websocket(receive, send)

    # -- helpers -------------------------------------------------------------------------
    def now_ms(self) -> int:
        """Wall-clock ms, strictly increasing (the venue's ``time`` fields)."""
        self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
        return self._last_ms

    @staticmethod
    def _asset_meta(inst: Instrument) -> c.AssetMeta:
        exponent = inst.lot_size.normalize().as_tuple().exponent
        assert isinstance(exponent, int)
        return c.AssetMeta(
            name=inst.symbol, szDecimals=max(0, -exponent), maxLeverage=inst.max_leverage or 50
        )

    def _mid(self, coin: str) -> Decimal | None:
        bids, asks = self.market.book_levels(VENUE, coin, 1)
        if not bids or not asks:
            return None
        return (bids[0][0] + asks[0][0]) / 2

    def broadcast(self, frame: bytes | str, *, books: bool = False) -> None:
        """Send a raw frame to every connection (``books``: only those with book subs)."""
        for conn in list(self.conns):
            if not books or conn.books or conn.bbos:
                conn.push(frame)

    def disconnect_all(self, *, books_only: bool = False) -> None:
        for conn in list(self.conns):
            if not books_only or conn.books or conn.bbos:
                conn.push(_CLOSE)

    # ====================================================================================
    # HTTP
    # ====================================================================================
    async def http(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        req = await read_http_request(scope, receive)
        if req.method != "POST" or req.path not in ("/info", "/exchange"):
            await send_http_response(send, 404, b"Not Found", content_type="text/plain")
            return
        try:
            if req.path == "/info":
                status, payload = self._info(req.body)
            else:
                status, payload = await self._exchange(req.body)
        except MalformedMessage:
            status, payload = 422, b"Failed to deserialize the JSON body into the target type"
        content_type = "application/json" if status == 200 else "text/plain"
        await send_http_response(send, status, payload, content_type=content_type)

    # -- /info ---------------------------------------------------------------------------
    def _info(self, body: bytes) -> tuple[int, bytes]:
        req: c.InfoRequest = c.decode("infoRequest", body)
        kind = req.type
        if kind == "meta":
            return 200, c.encode(self._meta())
        if kind == "metaAndAssetCtxs":
            return 200, c.encode([self._meta(), self._ctxs()])
        if kind == "l2Book":
            if req.coin not in self.instruments:
                return 200, b"null"
            return 200, c.encode(self._book_snapshot(req.coin))
        if kind == "orderStatus":
            return 200, c.encode(self._order_status(req))
        if kind == "userFills":
            mine = req.user is not None and req.user.lower() == self.user
            return 200, c.encode(list(reversed(self.fills[-2000:])) if mine else [])
        if kind == "clearinghouseState":
            return 200, c.encode(self._clearinghouse(req.user or ""))
        if kind == "userFees":
            inst = next(iter(self.instruments.values()))
            return 200, c.encode(
                c.UserFees(userCrossRate=inst.taker_fee, userAddRate=inst.maker_fee)
            )
        raise MalformedMessage(VENUE, f"unsupported info type {kind!r}")

    def _meta(self) -> c.Meta:
        return c.Meta(universe=self.universe, marginTables=[], collateralToken=0)

    def _ctxs(self) -> list[c.AssetCtx]:
        out = []
        for asset in self.universe:
            if asset.isDelisted:
                zero = Decimal(0)
                out.append(c.AssetCtx(funding=zero, openInterest=zero, markPx=zero, oraclePx=zero))
                continue
            mid = self._mid(asset.name) or Decimal(0)
            px = format_decimal(mid.quantize(Decimal("0.000001"))) if mid else "0"
            out.append(
                c.AssetCtx(
                    funding=self.market.funding_rate(VENUE, asset.name).rate,
                    openInterest=Decimal(0),
                    markPx=Decimal(px),
                    oraclePx=Decimal(px),
                    midPx=Decimal(px),
                    premium=Decimal(0),
                    prevDayPx=Decimal(px),
                    dayNtlVlm=Decimal(0),
                )
            )
        return out

    def _wire_levels(self, coin: str) -> tuple[list[c.WireLevel], list[c.WireLevel]]:
        bids, asks = self.market.book_levels(VENUE, coin, self.book_depth)
        return (
            [c.WireLevel(px=format_decimal(p), sz=format_decimal(s), n=1) for p, s in bids],
            [c.WireLevel(px=format_decimal(p), sz=format_decimal(s), n=1) for p, s in asks],
        )

    def _book_snapshot(self, coin: str) -> c.WireL2BookData:
        return c.WireL2BookData(coin=coin, time=self.now_ms(), levels=self._wire_levels(coin))

    def _order_status(self, req: c.InfoRequest) -> c.OrderStatusResponse:
        if req.user is None or req.user.lower() != self.user:
            return c.OrderStatusResponse(status="unknownOid")
        oid = self.by_cloid.get(req.oid) if isinstance(req.oid, str) else req.oid
        order = self.orders.get(oid) if isinstance(oid, int) else None
        if order is None:
            return c.OrderStatusResponse(status="unknownOid")
        return c.OrderStatusResponse(
            status="order",
            order=c.OrderStatusEntry(
                order=order.info(), status=order.status, statusTimestamp=order.timestamp
            ),
        )

    def _clearinghouse(self, user: str) -> c.ClearinghouseState:
        zero = Decimal(0)
        if user.lower() != self.user:
            empty = c.MarginSummary(
                accountValue=zero, totalMarginUsed=zero, totalNtlPos=zero, totalRawUsd=zero
            )
            return c.ClearinghouseState(
                assetPositions=[],
                marginSummary=empty,
                crossMarginSummary=empty,
                withdrawable=zero,
                time=self.now_ms(),
            )
        balance = self.market.balances(VENUE)[0]
        positions = []
        ntl = zero
        for pos in self.market.positions(VENUE):
            mid = self._mid(pos.symbol) or zero
            value = abs(pos.qty) * mid
            ntl += value
            positions.append(
                c.AssetPosition(
                    position=c.Position(
                        coin=pos.symbol,
                        szi=pos.qty,
                        entryPx=pos.entry_price,
                        leverage=c.Leverage(type="cross", value=10),
                        positionValue=value,
                        unrealizedPnl=(mid - (pos.entry_price or mid)) * pos.qty,
                    )
                )
            )
        summary = c.MarginSummary(
            accountValue=balance.total,
            totalMarginUsed=balance.total - balance.available,
            totalNtlPos=ntl,
            totalRawUsd=balance.total,
        )
        return c.ClearinghouseState(
            assetPositions=positions,
            marginSummary=summary,
            crossMarginSummary=summary,
            withdrawable=balance.available,
            time=self.now_ms(),
        )

    # -- /exchange -----------------------------------------------------------------------
    async def _exchange(self, body: bytes) -> tuple[int, bytes]:
        req: c.ExchangeRequest = c.decode("exchangeRequest", body)
        action = req.action
        if isinstance(action, c.OrderAction):
            # Order faults are drawn up front, in the simulator's fixed order.
            rate_limited = self.market.fault(VENUE, "rate_limit")
            rejected = self.market.fault(VENUE, "reject")
            lost_before = self.market.fault(VENUE, "ack_timeout_not_executed")
            lost_after = self.market.fault(VENUE, "ack_timeout_executed")
            if rate_limited:
                return 429, b"null"
        error = self._verify(req)
        if error:
            return 200, _err(error)
        if isinstance(action, c.OrderAction):
            latency = self.market.latency(VENUE, "ack")
            await trio.sleep(latency / 2)
            if lost_before:
                await trio.sleep(self.hold_s)
                return 504, b"Gateway Timeout"
            statuses = [self._place(order, rejected) for order in action.orders]
            if lost_after:
                await trio.sleep(self.hold_s)
                return 504, b"Gateway Timeout"
            await trio.sleep(latency / 2)
            return 200, _ok("order", statuses)
        if isinstance(action, c.CancelByCloidAction | c.CancelAction):
            # Only IOC orders exist here: nothing ever rests, so there is nothing to cancel.
            statuses = [c.OrderStatusObj(error=_MISSING_ORDER) for _ in action.cancels]
            return 200, _ok("cancel", statuses)
        if isinstance(action, c.ScheduleCancelAction):
            if self.volume < self.schedule_cancel_volume:
                return 200, _err(
                    "Cannot set scheduled cancel time until enough volume traded. "
                    f"Required: ${self.schedule_cancel_volume}. Traded: ${self.volume}."
                )
            if action.time is not None and action.time < self.now_ms() + 5000:
                return 200, _err(
                    "Scheduled cancel time too early, must be at least 5 seconds from now."
                )
            self.scheduled_cancel = action.time
            return 200, _ok("default", None)
        return 200, _ok("default", None)  # noop

    def _verify(self, req: c.ExchangeRequest) -> str:
        """The venue's whole-request checks: signer, vault, nonce, expiry. '' when fine."""
        try:
            canonical = _canonical(req.action)
            signer = recover_l1_signer(
                canonical,
                req.nonce,
                req.vaultAddress,
                msgspec.structs.asdict(req.signature),
                self.is_mainnet,
                req.expiresAfter,
            )
        except ValueError:
            return "Invalid signature"
        if signer != self.agent:
            return f"L1 error: User or API Wallet {signer} does not exist."
        if req.vaultAddress is not None:
            return f"Vault not registered: {req.vaultAddress}"
        now = self.now_ms()
        if req.expiresAfter is not None and req.expiresAfter < now:
            return f"Action expired at {req.expiresAfter}"
        nonce = req.nonce
        if not now - 2 * _DAY_MS < nonce < now + _DAY_MS:
            return f"Invalid nonce: nonce {nonce} is outside the allowed window"
        if nonce in self.nonces:
            return f"Invalid nonce: duplicate nonce {nonce}"
        if len(self.nonces) >= 100 and nonce <= self.nonces[0]:
            return f"Invalid nonce: nonce {nonce} is too low"
        self.nonces.append(nonce)
        self.nonces.sort()
        del self.nonces[:-100]
        return ""

    def _place(self, order: c.OrderWire, fault_reject: bool) -> c.OrderStatusObj:
        if not 0 <= order.a < len(self.universe):
            return c.OrderStatusObj(error=f"Invalid asset {order.a}")
        meta = self.universe[order.a]
        if meta.isDelisted:
            return c.OrderStatusObj(error=f"Trading is halted for {meta.name}. asset={order.a}")
        if order.t.limit is None or order.t.limit.tif != "Ioc":
            return c.OrderStatusObj(error="Emulator supports limit IOC orders only.")
        inst = self.instruments[meta.name]
        price, qty = Decimal(order.p), Decimal(order.s)
        if qty == 0:
            return c.OrderStatusObj(error="Order has zero size.")
        if qty < 0 or floor_qty(inst, qty) != qty:
            return c.OrderStatusObj(error="Order has invalid size")
        if not is_valid_price(inst, price):
            return c.OrderStatusObj(error="Order has invalid price.")
        mid = self._mid(meta.name)
        if mid and abs(price - mid) > mid * Decimal("0.8"):
            return c.OrderStatusObj(
                error="Order price cannot be more than 80% away from the reference price"
            )
        oid = self._next_oid
        self._next_oid += 1
        side = Side.BUY if order.b else Side.SELL
        cloid = order.c.lower() if order.c else None
        key = cloid or f"hl-oid-{oid}"
        kwargs: dict[str, Any] = {
            "side": side,
            "qty": qty,
            "price": price,
            "reduce_only": order.r,
            "client_order_id": key,
            "now": trio.current_time(),
        }
        if fault_reject:
            reason = f"Insufficient margin to place order. asset={order.a}"
            execution = self.market.reject(VENUE, meta.name, reason=reason, **kwargs)
        else:
            execution = self.market.execute(VENUE, meta.name, **kwargs)
        ms = self.now_ms()
        record = _Order(
            oid=oid, cloid=cloid, coin=meta.name, side="B" if order.b else "A", limit_px=price,
            orig_sz=qty, sz=qty - execution.filled_qty, status="open", timestamp=ms,
            reduce_only=order.r,
        )  # fmt: skip
        if execution.status is OrderStatus.REJECTED:
            if execution.venue_order_id == "":  # a duplicate cloid: nothing was recorded
                return c.OrderStatusObj(error=f"Duplicate cloid {cloid}")
            record.status, message = _rejection(execution.reason, order.a)
            self._record(record)
            return c.OrderStatusObj(error=message)
        if execution.filled_qty == 0:
            record.status = "iocCancelRejected"
            self._record(record)
            return c.OrderStatusObj(error=_IOC_CANCEL)
        record.status = "filled" if execution.status is OrderStatus.FILLED else "canceled"
        self._record(record)
        self._emit_fills(record, execution.fills, ms)
        assert execution.avg_price is not None
        return c.OrderStatusObj(
            filled=c.Filled(
                totalSz=execution.filled_qty, avgPx=_px(inst, execution.avg_price), oid=oid
            )
        )

    def _record(self, record: _Order) -> None:
        self.orders[record.oid] = record
        if record.cloid:
            self.by_cloid[record.cloid] = record.oid

    def _emit_fills(self, record: _Order, fills: Any, ms: int) -> None:
        position = self.market.position(VENUE, record.coin)
        start = position - sum((f.qty * f.side.sign for f in fills), Decimal(0))
        wire = []
        for fill in fills:
            self._next_tid += 1
            direction = (
                ("Open Long" if start >= 0 else "Close Short")
                if fill.side is Side.BUY
                else ("Open Short" if start <= 0 else "Close Long")
            )
            uf = c.UserFill(
                coin=record.coin, px=fill.price, sz=fill.qty, side=record.side, time=ms,  # type: ignore[arg-type]
                startPosition=start, dir=direction, closedPnl=Decimal(0),
                hash="0x" + f"{self._next_tid:064x}", oid=record.oid, crossed=True,
                fee=fill.fee.quantize(Decimal("0.000001")), tid=self._next_tid, feeToken="USDC",
            )  # fmt: skip
            start += fill.qty * fill.side.sign
            self.volume += fill.qty * fill.price
            self.fills.append(uf)
            wire.append(uf)
        update = c.OrderUpdatesMsg(
            data=[c.WsOrderUpdate(order=record.info(), status=record.status, statusTimestamp=ms)]
        )
        fills_msg = c.UserFillsMsg(data=c.UserFillsData(user=self.user, fills=wire))
        update_frame, fills_frame = c.encode(update), c.encode(fills_msg)
        for conn in list(self.conns):
            if conn.user_fills:
                conn.push(fills_frame)
            if conn.user_orders:
                conn.push(update_frame)

    # ====================================================================================
    # WebSocket
    # ====================================================================================
    async def _websocket(self, receive: Any, send: Send) -> None:
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        out, inbox = trio.open_memory_channel[Any](1000)
        conn = _Conn(out=out)
        conn.push(c.GREETING)
        self.conns.add(conn)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer, inbox, send, nursery.cancel_scope)
                last = [trio.current_time()]
                nursery.start_soon(self._idle_guard, conn, last)
                while True:
                    message = await receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    last[0] = trio.current_time()
                    text = message.get("text")
                    if text is None:
                        text = (message.get("bytes") or b"").decode(errors="replace")
                    self._ws_request(conn, text)
                nursery.cancel_scope.cancel()
        finally:
            self.conns.discard(conn)
            out.close()

    async def _writer(
        self, inbox: trio.MemoryReceiveChannel[Any], send: Send, scope: trio.CancelScope
    ) -> None:
        async for frame in inbox:
            if frame is _CLOSE:
                break
            if isinstance(frame, bytes):
                frame = frame.decode()
            await send({"type": "websocket.send", "text": frame})
        await send({"type": "websocket.close", "code": 1000})
        scope.cancel()

    async def _idle_guard(self, conn: _Conn, last: list[float]) -> None:
        """The venue closes a connection that sent nothing for 60 s."""
        while True:
            await trio.sleep_until(last[0] + self.idle_timeout_s)
            if trio.current_time() - last[0] >= self.idle_timeout_s:
                conn.push(_CLOSE)
                return

    def _ws_request(self, conn: _Conn, text: str) -> None:
        try:
            req: c.WsRequest = c.decode("wsRequest", text)
        except MalformedMessage:
            error = c.ErrorMsg(
                data=f"Error parsing JSON into valid websocket request: {text[:200]}"
            )
            conn.push(c.encode(error))
            return
        if req.method == "ping":
            conn.push(c.encode(c.PongMsg()))
            return
        sub = req.subscription
        if req.method == "post" or sub is None:
            conn.push(c.encode(c.ErrorMsg(data="Emulator does not support post requests")))
            return
        on = req.method == "subscribe"
        if sub.type in ("l2Book", "bbo"):
            if sub.coin not in self.instruments:
                conn.push(c.encode(c.ErrorMsg(data=f"Unknown coin {sub.coin}")))
                return
            target = conn.books if sub.type == "l2Book" else conn.bbos
            (target.add if on else target.discard)(sub.coin)
            conn.stale.discard(sub.coin)
        elif sub.type == "orderUpdates":
            conn.user_orders = on and (sub.user or "").lower() == self.user
        elif sub.type == "userFills":
            conn.user_fills = on and (sub.user or "").lower() == self.user
        else:
            conn.push(c.encode(c.ErrorMsg(data=f"Unsupported subscription {sub.type}")))
            return
        ack = c.SubscriptionResponseMsg(data=c.SubscriptionAck(method=req.method, subscription=sub))
        conn.push(c.encode(ack))
        if not on:
            return
        if sub.type == "l2Book":
            assert sub.coin is not None
            self._push_book(conn, sub.coin, trio.current_time())
        elif sub.type == "bbo":
            assert sub.coin is not None
            self._push_bbo(conn, sub.coin, force=True)
        elif sub.type == "userFills" and conn.user_fills:
            snapshot = c.UserFillsData(user=self.user, fills=self.fills[-2000:], isSnapshot=True)
            conn.push(c.encode(c.UserFillsMsg(data=snapshot)))

    def _push_book(self, conn: _Conn, coin: str, now: float) -> None:
        conn.sent_version[coin] = self.market.book_version(VENUE, coin)
        conn.sent_at[coin] = now
        conn.push(c.encode(c.WireL2BookMsg(data=self._book_snapshot(coin))))

    def _push_bbo(self, conn: _Conn, coin: str, *, force: bool = False) -> None:
        bids, asks = self.market.book_levels(VENUE, coin, 1)
        top = (bids[0] if bids else None, asks[0] if asks else None)
        if not force and conn.sent_bbo.get(coin) == top:
            return
        conn.sent_bbo[coin] = top
        wire = tuple(
            None
            if lv is None
            else c.WireLevel(px=format_decimal(lv[0]), sz=format_decimal(lv[1]), n=1)
            for lv in top
        )
        data = c.WireBboData(coin=coin, time=self.now_ms(), bbo=wire)  # type: ignore[arg-type]
        conn.push(c.encode(c.WireBboMsg(data=data)))

    async def background(self) -> None:
        """Each market tick: draw the feed faults once, then push changed books and tops."""
        pick = self.market.stream(f"hl-emulator:{id(self)}")
        while True:
            await self.driver.wait_tick()
            now = trio.current_time()
            disconnect = self.market.fault(VENUE, "feed_disconnect")
            stale = self.market.fault(VENUE, "stale_feed")
            corrupt = self.market.fault(VENUE, "bad_checksum")
            if disconnect:
                self.disconnect_all(books_only=True)
                continue
            subscribed = [(conn, coin) for conn in list(self.conns) for coin in sorted(conn.books)]
            if stale and subscribed:
                conn, coin = subscribed[int(pick.random() * len(subscribed))]
                conn.stale.add(coin)
            if corrupt and subscribed:
                conn, coin = subscribed[int(pick.random() * len(subscribed))]
                conn.push('{"channel":"l2Book","data":{"coin":"' + coin + '","time":')
            for conn in list(self.conns):
                for coin in list(conn.books):
                    if coin in conn.stale:
                        continue
                    changed = self.market.book_version(VENUE, coin) != conn.sent_version.get(coin)
                    if changed or now - conn.sent_at.get(coin, 0.0) >= self.heartbeat_s:
                        self._push_book(conn, coin, now)
                for coin in list(conn.bbos):
                    if coin not in conn.stale:
                        self._push_bbo(conn, coin)


# -- module helpers ------------------------------------------------------------------------
def _canonical(action: c.Action) -> c.Action:
    """The action as the server re-serialises it: numbers in canonical form, cloids lower."""
    if isinstance(action, c.OrderAction):
        orders = [
            msgspec.structs.replace(
                o,
                p=c.canonical_number(o.p),
                s=c.canonical_number(o.s),
                c=o.c.lower() if o.c else None,
            )
            for o in action.orders
        ]
        return msgspec.structs.replace(action, orders=orders)
    return action


def _rejection(reason: str, asset: int) -> tuple[str, str]:
    """(orderStatus status, the venue's error string) for a simulator rejection reason."""
    if reason.startswith("Insufficient margin"):
        return "perpMarginRejected", reason
    if "reduce-only" in reason:
        return "reduceOnlyRejected", "Reduce only order would increase position."
    if "notional" in reason or "minimum size" in reason:
        return "minTradeNtlRejected", "Order must have minimum value of $10."
    if "price" in reason:
        return "tickRejected", "Price must be divisible by tick size."
    return "rejected", f"{reason}. asset={asset}"


def _px(inst: Instrument, price: Decimal) -> Decimal:
    return price.quantize(Decimal(1).scaleb(-(inst.max_price_decimals or 6))).normalize()


def _ok(kind: str, statuses: list[Any] | None) -> bytes:
    data = None if statuses is None else c.Statuses(statuses=statuses)
    return c.encode(
        c.ExchangeResponse(status="ok", response=c.ExchangeOkBody(type=kind, data=data))
    )


def _err(message: str) -> bytes:
    return c.encode(c.ExchangeResponse(status="err", response=message))

