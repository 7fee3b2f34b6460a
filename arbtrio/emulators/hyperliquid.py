"""A Hyperliquid emulator: the venue's side of ``POST /info``, ``POST /exchange`` and ``/ws``
on loopback, backed by the shared :class:`~arbtrio.sim.market.SimMarket`.

Independent of the client (``arbtrio.venues`` is never imported): requests are parsed by
:mod:`arbtrio.emulators.hyperliquid_wire`, signatures checked by
:mod:`arbtrio.emulators.hyperliquid_signing`, both written from the venue documentation.

What is real: the message shapes; the L1 signature check (the signer is recovered from the
EIP-712 digest of the action *as the venue re-serialises it* — documented key order,
canonical numbers, lower-case cloids, ``f: false`` dropped — so a client that hashed
anything else recovers another address and gets "L1 error: User or API Wallet 0x… does not
exist."); the signers (the API wallet, and the master account itself); the nonce rules per
signer (unique, above the smallest of the 100 highest, within (T − 2 d, T + 1 d)); the IP
weight budget (1200 a minute, the documented weights; HTTP 429); the order rules (asset id
= index in a universe that contains a delisted coin, size ≤ szDecimals decimals, price ≤ 5
significant figures unless an integer and ≤ 6 − szDecimals decimals, $10 minimum value,
80 % from the reference price refused for the whole batch) with the documented error
strings; ``updateLeverage`` kept per account and coin with the venue's refusals, reported in
``clearinghouseState`` and ``activeAssetData``; the margin summaries and liquidation prices
(:class:`AccountState`, :func:`liquidation_px`: the documented formula, made conservative);
the greeting; full-snapshot ``l2Book`` and ``bbo`` channels; ``orderUpdates`` /
``userFills`` (snapshot on subscribe); ``clearinghouseState`` pushes; ``pong``; WebSocket
``post`` of info requests and actions; the 60 s idle close.

What is faked (see specs/010-hyperliquid.md): only limit-IOC orders execute (GTC/ALO/trigger
get an error), nothing ever rests, fills are taker fills from the simulator's ladder,
``time`` fields are ``wall_clock`` ms, l2Book pushes on a ladder change or every
``heartbeat_s``; the test knob ``book_delay_s`` delivers book frames that much later, their
``time`` kept. Faults (drawn through a :class:`~arbtrio.emulators.app.FaultSwitch`, so a
test may force them): per order request ``rate_limit`` (HTTP 429), ``reject`` (margin
error), ``ack_timeout_not_executed`` and ``ack_timeout_executed`` (the request is held
``hold_s`` and answered 504, with or without execution); per tick ``feed_disconnect`` (book
sockets closed), ``stale_feed`` (one subscription goes silent until resubscribed),
``bad_checksum`` (one corrupt frame).

The order record (``GET /__emulator__/orders``): every order of an authenticated order
action is recorded once — ``"executed"`` when it reached the book (``filled`` is what it
took, ``"0"`` for an IOC that matched nothing, whose ``reason`` is the venue's IocCancel
string), also when an ``ack_timeout_executed`` fault withheld the answer (``reason`` says
so); ``"rejected"`` with ``reason`` = ``"<orderStatus status>: <venue error string>"``; and
``"unknown"`` for an ``ack_timeout_not_executed`` fault: the answer was withheld and the order
never reached the book (the venue's side knows it was not executed, but the record keeps
"unknown" for what the client was told: nothing). ``client_order_id`` is the cloid as the
venue keeps it (lower-case), ``""`` without one.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import attrs
import msgspec
import trio

from arbtrio.core.instruments import Instrument
from arbtrio.core.types import OrderStatus, Side
from arbtrio.emulators import hyperliquid_wire as w
from arbtrio.emulators.app import (
    ApiKeys,
    EmulatorApp,
    Endpoints,
    FaultSwitch,
    read_http_request,
    send_http_response,
    ws_url,
)
from arbtrio.emulators.hyperliquid_signing import BadSignature, address_of_key, recover_l1_signer
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.execution import Execution
from arbtrio.sim.market import SimMarket

VENUE = "hyperliquid"
_DAY_MS = 86_400_000
_MAX_DECIMALS = 6  # perps: price decimals ≤ 6 − szDecimals
_MAX_SIG_FIGS = 5
_MIN_NOTIONAL = Decimal(10)
_FAR_FROM_REFERENCE = Decimal("0.8")
_MAX_POSTS_IN_FLIGHT = 100
_DELISTED: dict[str, Any] = {  # the documented meta entry of a delisted coin
    "name": "LOOM", "szDecimals": 1, "maxLeverage": 3, "isDelisted": True,
    "marginMode": "strictIsolated", "onlyIsolated": True,
}  # fmt: skip
_CLOSE = object()
_ZERO = Decimal(0)
_LIQ_QUANTUM = Decimal("1e-8")
Send = Callable[[dict[str, Any]], Awaitable[None]]
Answer = tuple[int, Any]  # (HTTP status, JSON-able body when 200, else the text body)


@attrs.define(eq=False)
class _Order:
    """An order the venue accepted for matching (or rejected after acceptance)."""

    oid: int
    cloid: str | None
    coin: str
    side: str  # "B" | "A"
    limit_px: Decimal
    orig_sz: Decimal
    sz: Decimal  # remaining
    status: str  # an orderStatus status
    timestamp: int
    reduce_only: bool

    def ws_order(self) -> dict[str, Any]:
        """The ``orderUpdates`` order: coin, side, limitPx, sz, oid, timestamp, origSz, cloid?"""
        out: dict[str, Any] = {
            "coin": self.coin, "side": self.side, "limitPx": w.wire_num(self.limit_px),
            "sz": w.wire_num(self.sz), "oid": self.oid, "timestamp": self.timestamp,
            "origSz": w.wire_num(self.orig_sz),
        }  # fmt: skip
        if self.cloid is not None:
            out["cloid"] = self.cloid
        return out

    def frontend_order(self) -> dict[str, Any]:
        """The ``orderStatus`` / ``frontendOpenOrders`` order (the frontend fields too)."""
        return {
            "coin": self.coin, "side": self.side, "limitPx": w.wire_num(self.limit_px),
            "sz": w.wire_num(self.sz), "oid": self.oid, "timestamp": self.timestamp,
            "triggerCondition": "N/A", "isTrigger": False, "triggerPx": "0.0", "children": [],
            "isPositionTpsl": False, "reduceOnly": self.reduce_only, "orderType": "Limit",
            "origSz": w.wire_num(self.orig_sz), "tif": "Ioc", "cloid": self.cloid,
        }  # fmt: skip


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
    nursery: trio.Nursery | None = None
    posts_in_flight: int = 0
    user_state: str | None = None  # the user whose clearinghouseState it subscribed
    delayed: trio.MemorySendChannel[tuple[float, Any]] | None = None  # late book frames
    pending: int = 0  # book frames waiting in ``delayed``

    def push(self, frame: Any) -> None:
        """Queue a frame (bytes/str or _CLOSE); a client that cannot keep up is dropped."""
        try:
            self.out.send_nowait(frame)
        except trio.WouldBlock:
            self.out.close()  # the writer drains what is queued, then closes the socket
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


@attrs.define
class _IpBudget:
    """The per-IP weight budget as a token bucket: ``per_minute`` deep, refilled at
    ``per_minute / 60`` a second (the emulator's reading of "1200 per minute")."""

    per_minute: int
    tokens: float = 0.0
    at: float | None = None

    def take(self, weight: int, now: float) -> bool:
        if self.at is None:
            self.tokens = float(self.per_minute)
        else:
            self.tokens = min(
                float(self.per_minute), self.tokens + (now - self.at) * self.per_minute / 60
            )
        self.at = now
        if self.tokens < weight:
            return False
        self.tokens -= weight
        return True


class HyperliquidEmulator(EmulatorApp):
    """The emulator's state and ASGI app. ``serve()`` binds it; tests may poke at it.

    ``credentials.private_key`` is the API wallet (agent) whose signatures are accepted;
    ``credentials.account_address`` the master account (also an accepted signer) whose
    state ``/info`` serves (the agent's address when not given). Options: ``is_mainnet``
    (phantom agent source "a" instead of "b"), ``hold_s`` (how long an ack-timeout fault
    holds the request), ``heartbeat_s`` (l2Book re-push interval without a change),
    ``idle_timeout_s``, ``schedule_cancel_volume`` (traded volume the dead-man switch
    needs), ``book_depth`` (levels per side, at most 20 on the venue),
    ``ip_weight_per_minute`` (None: no IP budget).
    """

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
        ip_weight_per_minute: int | None = w.IP_WEIGHT_PER_MINUTE,
        wall_clock: Callable[[], float] = time.time,
        book_delay_s: float = 0.0,
    ) -> None:
        if not credentials.private_key:
            raise ValueError("the emulator needs credentials.private_key (the API wallet)")
        super().__init__(market, driver, credentials)
        self.is_mainnet = is_mainnet
        self.agent = address_of_key(credentials.private_key)
        self.user = (credentials.account_address or self.agent).lower()
        self.signers = {self.agent, self.user}
        self.hold_s = hold_s
        self.heartbeat_s = heartbeat_s
        self.idle_timeout_s = idle_timeout_s
        self.schedule_cancel_volume = schedule_cancel_volume
        self.book_depth = book_depth
        self.wall_clock = wall_clock
        self.book_delay_s = book_delay_s  # a test knob: book frames late, their times kept
        self.faults = FaultSwitch(market, VENUE)
        self.ip_budget = None if ip_weight_per_minute is None else _IpBudget(ip_weight_per_minute)
        # The universe carries a delisted coin at index 1: asset ids are never "filtered".
        self.universe: list[dict[str, Any]] = [
            self._asset_meta(i) for i in self.instruments.values()
        ]
        self.universe.insert(min(1, len(self.universe)), dict(_DELISTED))
        self._meta_by_name = {meta["name"]: meta for meta in self.universe}
        self.orders: dict[int, _Order] = {}
        self.by_cloid: dict[str, int] = {}
        self.fills: list[dict[str, Any]] = []
        self.nonces: dict[str, list[int]] = {}  # per signer: the 100 highest, ascending
        self.conns: set[_Conn] = set()
        self.volume = _ZERO
        self.scheduled_cancel: int | None = None
        # (account, coin) -> its leverage setting; the default until updateLeverage.
        self.margins: dict[tuple[str, str], Margin] = {}
        self.default_leverage = market.account(VENUE).leverage
        self._states_pushed_at = 0.0
        self._next_oid = 77_738_308
        self._next_tid = 118_906_512_037_719
        self._last_ms = 0

    # -- serving -------------------------------------------------------------------------
    def endpoints(self, base_url: str) -> Endpoints:
        ws = ws_url(base_url, w.WS_PATH)
        return Endpoints(
            venue=VENUE, rest_url=base_url, ws_url=ws, private_ws_url=ws,
            credentials=self.credentials,
        )  # fmt: skip

    async def websocket(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope.get("path") != w.WS_PATH:
            await receive()
            await send({"type": "websocket.close", "code": 4004})
            return
        await self._websocket(receive, send)

    # -- helpers -------------------------------------------------------------------------
    def now_ms(self) -> int:
        """Wall-clock ms (``wall_clock``), strictly increasing: the venue's ``time`` fields."""
        self._last_ms = max(int(self.wall_clock() * 1000), self._last_ms + 1)
        return self._last_ms

    @staticmethod
    def _asset_meta(inst: Instrument) -> dict[str, Any]:
        return {
            "name": inst.symbol,
            "szDecimals": _sz_decimals(inst),
            "maxLeverage": inst.max_leverage or 50,
        }

    def _inst(self, coin: str) -> Instrument:
        return self.instruments[coin]

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

    def inject_public(self, text: str) -> None:
        """Send ``text`` verbatim on every connection with a book subscription (tests)."""
        self.broadcast(text, books=True)

    def disconnect_all(self, *, books_only: bool = False) -> None:
        for conn in list(self.conns):
            if not books_only or conn.books or conn.bbos:
                conn.push(_CLOSE)

    def _charge(self, weight: int) -> bool:
        """Take ``weight`` from the IP budget; False (answer 429) when it is spent."""
        return self.ip_budget is None or self.ip_budget.take(weight, trio.current_time())

    # ====================================================================================
    # HTTP
    # ====================================================================================
    async def http(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        req = await read_http_request(scope, receive)
        if req.method != "POST" or req.path not in (w.INFO_PATH, w.EXCHANGE_PATH):
            await send_http_response(send, 404, b"Not Found", content_type="text/plain")
            return
        if req.path == w.INFO_PATH:
            status, body = self._info_http(req.body)
        else:
            status, body = await self._exchange(req.body)
        if status == 200:
            await send_http_response(send, 200, w.encode(body))
        else:
            await send_http_response(send, status, str(body).encode(), content_type="text/plain")

    # -- /info ---------------------------------------------------------------------------
    def _info_http(self, body: bytes) -> Answer:
        try:
            req = w.parse_info(body)
        except w.Undecodable as exc:
            self._charge(w.info_weight(""))
            return 422, f"{w.UNDECODABLE}: {exc}"
        if not self._charge(w.info_weight(req.type)):
            return 429, "null"
        answer = self._info(req)
        if isinstance(answer, list):  # paginated kinds cost 1 more per 20 items, after the fact
            extra = w.info_weight(req.type, len(answer)) - w.info_weight(req.type)
            if extra:
                self._charge(extra)
        return 200, answer

    def _info(self, req: w.InfoRequest) -> Any:
        """The answer to a parsed info request (JSON-able)."""
        kind = req.type
        if kind == "meta":
            return self._meta()
        if kind == "metaAndAssetCtxs":
            return [self._meta(), self._ctxs()]
        if kind == "allMids":
            mids = {a["name"]: self._mid(a["name"]) for a in self.universe if not _delisted(a)}
            return {coin: w.wire_num(mid) for coin, mid in mids.items() if mid is not None}
        if kind == "l2Book":
            assert req.coin is not None
            return self._book_snapshot(req.coin) if req.coin in self.instruments else None
        if kind == "orderStatus":
            return self._order_status(req)
        if kind in ("openOrders", "frontendOpenOrders"):
            return []  # nothing ever rests here
        if kind == "userFills":
            return list(reversed(self.fills[-2000:])) if self._is_user(req.user) else []
        if kind == "clearinghouseState":
            return self._clearinghouse(req.user)
        if kind == "activeAssetData":
            assert req.user is not None and req.coin is not None
            return self._active_asset_data(req.user, req.coin)
        assert kind == "userFees"  # parse_info admits only the kinds above
        return self._user_fees()

    def _is_user(self, user: str | None) -> bool:
        return user is not None and user.lower() == self.user

    def _meta(self) -> dict[str, Any]:
        return {"universe": self.universe, "marginTables": [], "collateralToken": 0}

    def _ctxs(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for asset in self.universe:
            if _delisted(asset):
                zero = "0.0"
                out.append({
                    "dayNtlVlm": zero, "funding": zero, "impactPxs": None, "markPx": zero,
                    "midPx": None, "openInterest": zero, "oraclePx": zero, "premium": None,
                    "prevDayPx": zero, "dayBaseVlm": zero,
                })  # fmt: skip
                continue
            name = asset["name"]
            mid = self._mid(name)
            px = w.wire_num(mid.quantize(Decimal("0.000001"))) if mid else "0.0"
            bids, asks = self.market.book_levels(VENUE, name, 1)
            impact: list[str] | None = None
            if bids and asks:
                impact = [w.wire_num(bids[0][0]), w.wire_num(asks[0][0])]
            out.append({
                "dayNtlVlm": "0.0",
                "funding": w.wire_num(self.market.funding_rate(VENUE, name).rate),
                "impactPxs": impact, "markPx": px, "midPx": px if mid else None,
                "openInterest": "0.0", "oraclePx": px, "premium": "0.0", "prevDayPx": px,
                "dayBaseVlm": "0.0",
            })  # fmt: skip
        return out

    def _levels(self, coin: str, depth: int) -> tuple[list[Any], list[Any]]:
        bids, asks = self.market.book_levels(VENUE, coin, depth)
        return [_level(p, s) for p, s in bids], [_level(p, s) for p, s in asks]

    def _book_snapshot(self, coin: str) -> dict[str, Any]:
        return {"coin": coin, "time": self.now_ms(), "levels": self._levels(coin, self.book_depth)}

    def _order_status(self, req: w.InfoRequest) -> dict[str, Any]:
        if not self._is_user(req.user):
            return {"status": "unknownOid"}
        oid = self.by_cloid.get(req.oid.lower()) if isinstance(req.oid, str) else req.oid
        order = self.orders.get(oid) if isinstance(oid, int) else None
        if order is None:
            return {"status": "unknownOid"}
        return {"status": "order", "order": {
            "order": order.frontend_order(), "status": order.status,
            "statusTimestamp": order.timestamp,
        }}  # fmt: skip

    def _clearinghouse(self, user: str | None) -> dict[str, Any]:
        """The account's ``clearinghouseState`` (another user's is empty): every position
        with its leverage setting, mark value, margin and liquidation price
        (:func:`liquidation_px`), and the margin summaries (:meth:`_account_state`)."""
        if not self._is_user(user):
            empty = _margin_summary(_ZERO, _ZERO, _ZERO, _ZERO)
            return {
                "assetPositions": [], "crossMaintenanceMarginUsed": "0.0",
                "crossMarginSummary": empty, "marginSummary": empty, "time": self.now_ms(),
                "withdrawable": "0.0",
            }  # fmt: skip
        state = self._account_state()
        return {
            "assetPositions": [row.wire() for row in state.rows],
            "crossMaintenanceMarginUsed": w.wire_num(_usd(state.cross_maintenance)),
            "crossMarginSummary": _margin_summary(
                state.cross_value, state.cross_used, state.cross_ntl, state.cross_raw
            ),
            "marginSummary": _margin_summary(
                state.account_value, state.margin_used, state.ntl, state.raw_usd
            ),
            "time": self.now_ms(),
            "withdrawable": w.wire_num(_usd(state.withdrawable)),
        }

    def _account_state(self) -> AccountState:
        """The account's margin arithmetic, the venue's way (``specs/010-hyperliquid.md``).

        ``raw`` is the simulator's balance (deposits, realised pnl, fees, funding);
        account value = raw + every position's unrealised pnl (mark = the book's mid).
        A cross position uses ``|szi| × mark / leverage`` of margin and ``mmr × |szi| ×
        mark`` of maintenance, mmr = 1 / (2 × maxLeverage); an isolated one holds its own
        margin (posted at the leverage in force when it was added, kept when the leverage
        changes later) plus its unrealised pnl. The cross account value is the account value
        less the isolated positions' equity; withdrawable = cross account value − cross
        margin used (not below 0)."""
        raw = self.market.balances(VENUE)[0].total
        rows: list[PositionRow] = []
        for pos in self.market.positions(VENUE):
            coin = pos.symbol
            setting = self.margin(coin)
            mark = self._mid(coin) or pos.entry_price or _ZERO
            entry = pos.entry_price if pos.entry_price is not None else mark
            meta = self._meta_by_name[coin]
            rows.append(PositionRow(
                coin=coin, qty=pos.qty, entry=entry, mark=mark, setting=attrs.evolve(setting),
                max_leverage=int(meta["maxLeverage"]), mmr=maintenance_rate(meta),
            ))  # fmt: skip
        return AccountState.of(raw, rows)

    def _active_asset_data(self, user: str, coin: str) -> dict[str, Any] | None:
        """``activeAssetData``: the account's leverage setting for ``coin`` (also without a
        position), what it could trade at it, and the mark (``null`` for an unknown coin)."""
        meta = self._meta_by_name.get(coin)
        if meta is None or _delisted(meta):
            return None
        setting = self.margin(coin)
        mark = self._mid(coin) or _ZERO
        available = self._account_state().withdrawable if self._is_user(user) else _ZERO
        size = _ZERO
        if mark > 0:
            lot = Decimal(1).scaleb(-int(meta["szDecimals"]))
            size = (available * setting.leverage / mark // lot) * lot
        held = [r for r in self._account_state().rows if r.coin == coin]
        leverage = leverage_wire(setting, held[0].raw_usd if held else _ZERO)
        return {
            "user": user.lower(), "coin": coin, "leverage": leverage,
            "maxTradeSzs": [w.wire_num(size), w.wire_num(size)],
            "availableToTrade": [w.wire_num(_usd(available)), w.wire_num(_usd(available))],
            "markPx": w.wire_num(mark),
        }  # fmt: skip

    def margin(self, coin: str) -> Margin:
        """The account's setting for ``coin`` (created at the default on first use: cross,
        the simulator's leverage capped at the coin's maximum; isolated for a coin that only
        allows isolated margin)."""
        key = (self.user, coin)
        setting = self.margins.get(key)
        if setting is None:
            meta = self._meta_by_name[coin]
            cap = int(meta["maxLeverage"])
            setting = Margin(min(self.default_leverage, cap), cross=not _isolated_only(meta))
            self.margins[key] = setting
        return setting

    def _user_fees(self) -> dict[str, Any]:
        inst = next(iter(self.instruments.values()))
        taker, maker = w.wire_num(inst.taker_fee), w.wire_num(inst.maker_fee)
        return {
            "dailyUserVlm": [],
            "feeSchedule": {
                "cross": taker, "add": maker, "spotCross": "0.0007", "spotAdd": "0.0004",
                "tiers": {"vip": [], "mm": []}, "referralDiscount": "0.0",
                "stakingDiscountTiers": [],
            },
            "userCrossRate": taker, "userAddRate": maker, "activeReferralDiscount": "0.0",
            "activeStakingDiscount": None,
        }  # fmt: skip

    # -- /exchange -----------------------------------------------------------------------
    async def _exchange(self, body: bytes, *, charge: bool = True) -> Answer:
        """One ``/exchange`` request: parse, IP budget (unless not ``charge``: a WebSocket
        post), order faults (drawn up front, in the simulator's fixed order),
        :meth:`_verify`, then the action."""
        try:
            req = w.parse_exchange(body)
        except w.Undecodable as exc:
            if charge:
                self._charge(w.exchange_weight(0))
            return 422, f"{w.UNDECODABLE}: {exc}"
        action = req.action
        batch = len(action.orders) if isinstance(action, w.OrderAction) else (
            len(action.cancels) if isinstance(action, w.CancelAction | w.CancelByCloidAction)
            else 0
        )  # fmt: skip
        if charge and not self._charge(w.exchange_weight(batch)):
            return 429, "null"
        if isinstance(action, w.OrderAction):
            rate_limited = self.faults("rate_limit")
            rejected = self.faults("reject")
            lost_before = self.faults("ack_timeout_not_executed")
            lost_after = self.faults("ack_timeout_executed")
            if rate_limited:
                return 429, "null"
        error = self._verify(req)
        if error:
            return 200, w.err_body(error)
        if isinstance(action, w.OrderAction):
            return await self._order_action(action, rejected, lost_before, lost_after)
        if isinstance(action, w.CancelByCloidAction | w.CancelAction):
            # Only IOC orders exist here: nothing ever rests, so there is nothing to cancel.
            return 200, w.ok_body("cancel", [{"error": w.MISSING_ORDER} for _ in action.cancels])
        if isinstance(action, w.UpdateLeverageAction):
            return 200, self._update_leverage(action)
        if isinstance(action, w.ScheduleCancelAction):
            if self.volume < self.schedule_cancel_volume:
                return 200, w.err_body(w.SCHEDULE_CANCEL_VOLUME.format(
                    required=self.schedule_cancel_volume, traded=self.volume
                ))  # fmt: skip
            if action.time is not None and action.time < self.now_ms() + 5000:
                return 200, w.err_body(
                    "Scheduled cancel time too early, must be at least 5 seconds from now."
                )
            self.scheduled_cancel = action.time
            return 200, w.ok_body("default")
        return 200, w.ok_body("default")  # noop: the nonce is now used

    def _update_leverage(self, action: w.UpdateLeverageAction) -> dict[str, Any]:
        """``updateLeverage``: the account's setting for the asset, kept per account and
        coin. Refused (``status:"err"``): an asset outside the universe, a leverage outside
        1..maxLeverage ("Invalid leverage value"), cross on a coin that only allows isolated
        margin, a switch between cross and isolated while the coin's position is open. A
        setting already in place answers like a change: ``{"type":"default"}``. The margin an
        open isolated position holds does not change with its leverage."""
        meta = self._meta_of(action.asset)
        if meta is None:
            return w.err_body(f"Invalid asset {action.asset}")
        coin = meta["name"]
        if not 1 <= action.leverage <= int(meta["maxLeverage"]):
            return w.err_body(w.INVALID_LEVERAGE)
        if action.isCross and _isolated_only(meta):
            return w.err_body(w.CROSS_NOT_ALLOWED)
        setting = self.margin(coin)
        held = coin in self.instruments and self.market.position(VENUE, coin) != 0
        if action.isCross != setting.cross and held:
            return w.err_body(w.SWITCH_WITH_POSITION)
        setting.leverage, setting.cross = action.leverage, action.isCross
        self._push_states()
        return w.ok_body("default")

    def _verify(self, req: w.ExchangeRequest) -> str:
        """The venue's whole-request checks — signer, vault, expiry, nonce — on a parsed
        request: '' when it may proceed, else the ``status:"err"`` message.

        The signer is recovered over :func:`~arbtrio.emulators.hyperliquid_wire.hash_view`
        of the action (the venue's re-serialisation), not over the bytes the client sent.
        """
        try:
            signer = recover_l1_signer(
                w.hash_view(req.action), req.nonce, req.vaultAddress, req.signature_ints(),
                self.is_mainnet, req.expiresAfter,
            )  # fmt: skip
        except BadSignature:
            return "Invalid signature"
        if signer not in self.signers:
            return w.UNKNOWN_SIGNER.format(address=signer)
        if req.vaultAddress is not None:
            return f"Vault not registered: {req.vaultAddress.lower()}"
        now = self.now_ms()
        if req.expiresAfter is not None and req.expiresAfter < now:
            return f"Action expired at {req.expiresAfter}"
        nonce = req.nonce
        if not now - 2 * _DAY_MS < nonce < now + _DAY_MS:
            return f"Invalid nonce: nonce {nonce} is outside the allowed window"
        seen = self.nonces.setdefault(signer, [])
        if nonce in seen:
            return w.DUPLICATE_NONCE.format(nonce=nonce)
        if len(seen) >= 100 and nonce <= seen[0]:
            return f"Invalid nonce: nonce {nonce} is too low"
        seen.append(nonce)
        seen.sort()
        del seen[:-100]
        return ""

    async def _order_action(
        self, action: w.OrderAction, rejected: bool, lost_before: bool, lost_after: bool
    ) -> Answer:
        latency = self.market.latency(VENUE, "ack")
        await trio.sleep(latency / 2)
        if lost_before:
            for order in action.orders:
                self._log_order(order, "unknown", reason="ack_timeout_not_executed: answer "
                                "withheld (504 after hold_s), never reached the book")  # fmt: skip
            await trio.sleep(self.hold_s)
            return 504, "Gateway Timeout"
        batch_error = self._batch_error(action.orders)
        if batch_error:
            for order in action.orders:
                self._log_order(order, "rejected", reason=f"rejected: {batch_error}")
            statuses: list[Any] = [{"error": batch_error}]
        else:
            statuses = [
                self._place(order, rejected, withheld=lost_after) for order in action.orders
            ]
        if lost_after:
            await trio.sleep(self.hold_s)
            return 504, "Gateway Timeout"
        await trio.sleep(latency / 2)
        return 200, w.ok_body("order", statuses)

    def _batch_error(self, orders: list[w.OrderWire]) -> str:
        """Pre-validation that refuses the whole batch with one error: an empty batch, or a
        price more than 80 % away from the reference price (the book's mid here)."""
        if not orders:
            return "Order batch is empty."
        for order in orders:
            meta = self._meta_of(order.a)
            if meta is None or _delisted(meta):
                continue
            mid = self._mid(meta["name"])
            price = w.parse_number(order.p, "p")
            if mid and abs(price - mid) > mid * _FAR_FROM_REFERENCE:
                return w.FAR_FROM_REFERENCE
        return ""

    def _meta_of(self, asset: int) -> dict[str, Any] | None:
        return self.universe[asset] if 0 <= asset < len(self.universe) else None

    def _refusal(self, order: w.OrderWire) -> str:
        """The venue's per-order checks before matching: '' or the error string."""
        meta = self._meta_of(order.a)
        if meta is None:
            return f"Invalid asset {order.a}"
        if _delisted(meta):
            return f"Trading is halted for {meta['name']}. asset={order.a}"
        if order.t.limit is None or order.t.limit.tif != "Ioc":
            return "Emulator supports limit IOC orders only."
        sz_decimals = int(meta["szDecimals"])
        price, qty = w.parse_number(order.p, "p"), w.parse_number(order.s, "s")
        if qty == 0:
            return w.ZERO_SIZE
        if qty < 0 or _decimals(qty) > sz_decimals:
            return w.INVALID_SIZE
        if price <= 0 or _decimals(price) > _MAX_DECIMALS - sz_decimals:
            return w.INVALID_PRICE
        if _decimals(price) > 0 and _sig_figs(price) > _MAX_SIG_FIGS:
            return w.TICK
        return ""

    def _place(self, order: w.OrderWire, fault_reject: bool, *, withheld: bool) -> Any:
        """One order of an authenticated batch: checks, then the simulator; its status."""
        refusal = self._refusal(order)
        if refusal:
            self._log_order(order, "rejected", reason=f"rejected: {refusal}")
            return {"error": refusal}
        meta = self.universe[order.a]
        coin = meta["name"]
        inst = self._inst(coin)
        price, qty = w.parse_number(order.p, "p"), w.parse_number(order.s, "s")
        oid = self._next_oid
        self._next_oid += 1
        cloid = order.c.lower() if order.c else None
        kwargs: dict[str, Any] = {
            "side": Side.BUY if order.b else Side.SELL, "qty": qty, "price": price,
            "reduce_only": order.r, "client_order_id": cloid or f"hl-oid-{oid}",
            "now": trio.current_time(),
        }  # fmt: skip
        if fault_reject:
            reason = f"{w.PERP_MARGIN} asset={order.a}"
            execution = self.market.reject(VENUE, coin, reason=reason, **kwargs)
        elif not order.r and qty * price < _MIN_NOTIONAL:
            execution = self.market.reject(VENUE, coin, reason=w.MIN_NOTIONAL, **kwargs)
        else:
            execution = self.market.execute(VENUE, coin, **kwargs)
        ms = self.now_ms()
        record = _Order(
            oid=oid, cloid=cloid, coin=coin, side="B" if order.b else "A", limit_px=price,
            orig_sz=qty, sz=qty - execution.filled_qty, status="open", timestamp=ms,
            reduce_only=order.r,
        )  # fmt: skip
        note = "; answer withheld (504 after hold_s)" if withheld else ""
        if execution.status is OrderStatus.REJECTED:
            if execution.venue_order_id == "":  # a duplicate cloid: nothing was recorded
                message = f"Duplicate cloid {cloid}"
                self._log_order(order, "rejected", reason=f"rejected: {message}{note}")
                return {"error": message}
            record.status, message = _rejection(execution.reason, order.a)
            self._keep(record)
            self._log_order(order, "rejected", reason=f"{record.status}: {message}{note}")
            return {"error": message}
        if execution.filled_qty == 0:
            record.status = "iocCancelRejected"
            self._keep(record)
            self._log_order(order, "executed", reason=f"{w.IOC_CANCEL}{note}")
            return {"error": w.IOC_CANCEL}
        record.status = "filled" if execution.status is OrderStatus.FILLED else "canceled"
        self._keep(record)
        self._log_order(order, "executed", filled=execution.filled_qty, reason=note.lstrip("; "))
        self._emit_fills(record, execution, ms)
        assert execution.avg_price is not None
        return {"filled": {
            "totalSz": w.wire_num(execution.filled_qty),
            "avgPx": w.wire_num(_px(inst, execution.avg_price)), "oid": oid,
        }}  # fmt: skip

    def _log_order(
        self, order: w.OrderWire, outcome: str, *, filled: Decimal = _ZERO, reason: str = ""
    ) -> None:
        """The order record of one order of an authenticated order action."""
        meta = self._meta_of(order.a)
        self.record_order(
            client_order_id=order.c.lower() if order.c else "",
            symbol=meta["name"] if meta is not None else f"asset={order.a}",
            side="buy" if order.b else "sell",
            qty=w.canonical_number(w.parse_number(order.s, "s")),
            price=w.canonical_number(w.parse_number(order.p, "p")),
            reduce_only=order.r,
            outcome=outcome,
            filled=w.canonical_number(filled),
            reason=reason,
        )

    def _keep(self, record: _Order) -> None:
        self.orders[record.oid] = record
        if record.cloid:
            self.by_cloid[record.cloid] = record.oid

    def _emit_fills(self, record: _Order, execution: Execution, ms: int) -> None:
        fills = execution.fills
        position = self.market.position(VENUE, record.coin)
        start = position - sum((f.qty * f.side.sign for f in fills), _ZERO)
        setting = self.margin(record.coin)
        wire = []
        for fill in fills:
            setting.filled(start, fill.qty * fill.side.sign, fill.price)
            self._next_tid += 1
            if fill.side is Side.BUY:
                direction = "Open Long" if start >= 0 else "Close Short"
            else:
                direction = "Open Short" if start <= 0 else "Close Long"
            uf = {
                "closedPnl": "0.0", "coin": record.coin, "crossed": True, "dir": direction,
                "hash": "0x" + f"{self._next_tid:064x}", "oid": record.oid,
                "px": w.wire_num(fill.price), "side": record.side,
                "startPosition": w.wire_num(start), "sz": w.wire_num(fill.qty), "time": ms,
                "fee": w.wire_num(_usd(fill.fee)), "feeToken": "USDC", "tid": self._next_tid,
            }  # fmt: skip
            start += fill.qty * fill.side.sign
            self.volume += fill.qty * fill.price
            self.fills.append(uf)
            wire.append(uf)
        update = {"channel": "orderUpdates", "data": [{
            "order": record.ws_order(), "status": record.status, "statusTimestamp": ms,
        }]}  # fmt: skip
        fills_msg = {"channel": "userFills", "data": {"user": self.user, "fills": wire}}
        update_frame, fills_frame = w.encode(update), w.encode(fills_msg)
        # duplicate_fill (drawn per fill): those fills are pushed once more, after the update
        again = [uf for uf in wire if self.faults("duplicate_fill")]
        again_frame = (
            w.encode({"channel": "userFills", "data": {"user": self.user, "fills": again}})
            if again
            else None
        )
        for conn in list(self.conns):
            if conn.user_fills:
                conn.push(fills_frame)
            if conn.user_orders:
                conn.push(update_frame)
            if conn.user_fills and again_frame is not None:
                conn.push(again_frame)
        self._push_states()

    def _push_states(self) -> None:
        """Push ``clearinghouseState`` to every connection subscribed to it."""
        self._states_pushed_at = trio.current_time()
        frames: dict[str, bytes] = {}
        for conn in list(self.conns):
            user = conn.user_state
            if user is None:
                continue
            frame = frames.get(user)
            if frame is None:
                frame = frames[user] = self._state_frame(user)
            conn.push(frame)

    def _state_frame(self, user: str) -> bytes:
        """The ``clearinghouseState`` push of ``user`` on the first perp dex: ``{"dex":"",
        "user", "clearinghouseState": <the /info answer>}``."""
        data = {"dex": "", "user": user, "clearinghouseState": self._clearinghouse(user)}
        return w.encode({"channel": "clearinghouseState", "data": data})

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
        conn.push(w.GREETING)
        self.conns.add(conn)
        try:
            async with trio.open_nursery() as nursery:
                conn.nursery = nursery
                nursery.start_soon(self._writer, inbox, send, nursery.cancel_scope)
                conn.delayed, late = trio.open_memory_channel[tuple[float, Any]](1000)
                nursery.start_soon(self._delayer, conn, late)
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

    async def _delayer(
        self, conn: _Conn, late: trio.MemoryReceiveChannel[tuple[float, Any]]
    ) -> None:
        """Deliver the book frames :meth:`_push_market` held back, each at its due time, in
        the order they were made."""
        async for due, frame in late:
            await trio.sleep_until(due)
            conn.pending -= 1
            conn.push(frame)

    def _push_market(self, conn: _Conn, frame: bytes) -> None:
        """Send a book frame (l2Book, bbo) now, or ``book_delay_s`` late — its ``time`` as
        made — while the knob is set or earlier late frames still wait (order is kept)."""
        delay = self.book_delay_s
        late = conn.delayed
        if late is None or (delay <= 0 and conn.pending == 0):
            conn.push(frame)
            return
        try:
            late.send_nowait((trio.current_time() + max(delay, 0.0), frame))
        except trio.WouldBlock:
            conn.out.close()  # too far behind: dropped, as a slow consumer is
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        else:
            conn.pending += 1

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
        """The venue closes a connection that sent nothing for 60 s.

        The deadline is compared as computed: ``now - last >= idle`` can be false at
        ``now == last + idle`` in binary floating point, and on a MockClock (where time
        stops at the deadline) that spun forever."""
        while True:
            deadline = last[0] + self.idle_timeout_s
            await trio.sleep_until(deadline)
            if last[0] + self.idle_timeout_s <= trio.current_time():
                conn.push(_CLOSE)
                return

    def _ws_error(self, conn: _Conn, message: str) -> None:
        conn.push(w.encode({"channel": "error", "data": message}))

    def _ws_request(self, conn: _Conn, text: str) -> None:
        try:
            req = w.parse_ws(text)
        except w.Undecodable:
            self._ws_error(conn, w.WS_UNPARSABLE.format(text=text[:200]))
            return
        if req.method == "ping":
            conn.push(w.encode({"channel": "pong"}))
            return
        if req.method == "post":
            self._ws_post(conn, req)
            return
        sub = req.subscription
        assert sub is not None  # parse_ws checked
        kind, on = sub["type"], req.method == "subscribe"
        coin, user = str(sub.get("coin") or ""), str(sub.get("user") or "")
        if kind in ("l2Book", "bbo"):
            if coin not in self.instruments:
                self._ws_error(conn, f"Unknown coin {coin}")
                return
            target = conn.books if kind == "l2Book" else conn.bbos
            (target.add if on else target.discard)(coin)
            conn.stale.discard(coin)
        elif kind == "orderUpdates":
            conn.user_orders = on and user.lower() == self.user
        elif kind == "userFills":
            conn.user_fills = on and user.lower() == self.user
        elif kind == "clearinghouseState":
            conn.user_state = user.lower() if on else None
        else:
            self._ws_error(conn, f"Unsupported subscription {kind}")
            return
        echo = dict(sub)
        if kind == "l2Book":  # the venue echoes the normalised subscription
            echo.setdefault("nSigFigs", None)
            echo.setdefault("mantissa", None)
        ack = {"channel": "subscriptionResponse", "data": {"method": req.method,
                                                            "subscription": echo}}  # fmt: skip
        conn.push(w.encode(ack))
        if not on:
            return
        if kind == "l2Book":
            self._push_book(conn, coin, trio.current_time())
        elif kind == "bbo":
            self._push_bbo(conn, coin, force=True)
        elif kind == "userFills" and conn.user_fills:
            snapshot = {"isSnapshot": True, "user": self.user, "fills": self.fills[-2000:]}
            conn.push(w.encode({"channel": "userFills", "data": snapshot}))
        elif kind == "clearinghouseState" and conn.user_state is not None:
            conn.push(self._state_frame(conn.user_state))

    # -- post ----------------------------------------------------------------------------
    def _ws_post(self, conn: _Conn, req: w.WsRequest) -> None:
        """``{"method":"post","id":…,"request":{"type":"info"|"action","payload":…}}``: the
        payload is an ``/info`` or ``/exchange`` body, answered on the ``post`` channel.
        Posts are not charged to the IP budget (the documentation leaves it open; the
        socket has its own limits, of which only the 100 in flight is emulated)."""
        assert req.id is not None and req.request is not None
        post_id, request = req.id, req.request
        body = msgspec.json.encode(request.payload)
        if request.type == "info":
            try:
                info = w.parse_info(body)
            except w.Undecodable as exc:
                self._post_reply(conn, post_id, 422, f"{w.UNDECODABLE}: {exc}")
                return
            self._post_reply(conn, post_id, 200, {"type": info.type, "data": self._info(info)},
                             kind="info")  # fmt: skip
            return
        if conn.posts_in_flight >= _MAX_POSTS_IN_FLIGHT or conn.nursery is None:
            self._post_reply(conn, post_id, 429, "Too many in-flight post requests")
            return
        conn.posts_in_flight += 1
        conn.nursery.start_soon(self._ws_post_action, conn, post_id, body)

    async def _ws_post_action(self, conn: _Conn, post_id: int, body: bytes) -> None:
        try:
            status, answer = await self._exchange(body, charge=False)
        finally:
            conn.posts_in_flight -= 1
        self._post_reply(conn, post_id, status, answer, kind="action")

    def _post_reply(
        self, conn: _Conn, post_id: int, status: int, answer: Any, *, kind: str = "info"
    ) -> None:
        """A ``post`` answer: the payload on success, else an ``error`` whose payload is a
        string mirroring the HTTP status and description."""
        if status == 200:
            response = {"type": kind, "payload": answer}
        else:
            response = {"type": "error", "payload": f"{status} {answer}"}
        conn.push(w.encode({"channel": "post", "data": {"id": post_id, "response": response}}))

    # -- market pushes ---------------------------------------------------------------------
    def _push_book(self, conn: _Conn, coin: str, now: float) -> None:
        conn.sent_version[coin] = self.market.book_version(VENUE, coin)
        conn.sent_at[coin] = now
        self._push_market(conn, w.encode({"channel": "l2Book", "data": self._book_snapshot(coin)}))

    def _push_bbo(self, conn: _Conn, coin: str, *, force: bool = False) -> None:
        bids, asks = self.market.book_levels(VENUE, coin, 1)
        top = (bids[0] if bids else None, asks[0] if asks else None)
        if not force and conn.sent_bbo.get(coin) == top:
            return
        conn.sent_bbo[coin] = top
        bbo = [None if lv is None else _level(*lv) for lv in top]
        data = {"coin": coin, "time": self.now_ms(), "bbo": bbo}
        self._push_market(conn, w.encode({"channel": "bbo", "data": data}))

    async def background(self) -> None:
        """Each market tick: draw the feed faults once, then push changed books and tops."""
        pick = self.market.stream(f"hl-emulator:{id(self)}")
        while True:
            await self.driver.wait_tick()
            now = trio.current_time()
            disconnect = self.faults("feed_disconnect")
            stale = self.faults("stale_feed")
            corrupt = self.faults("bad_checksum")
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
            if now - self._states_pushed_at >= self.heartbeat_s:
                self._push_states()  # marks move: pnl, margin and liquidation prices with them
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


# -- margin ---------------------------------------------------------------------------------
@attrs.define
class Margin:
    """One account's setting for one coin: its leverage, cross or isolated, and the USDC an
    open isolated position holds (0 when flat or cross)."""

    leverage: int
    cross: bool = True
    isolated: Decimal = _ZERO

    def filled(self, start: Decimal, signed: Decimal, price: Decimal) -> None:
        """Book one fill of ``signed`` base units at ``price`` on a position of ``start``:
        an isolated position that opens or grows posts ``size × price / leverage``; one that
        shrinks releases its margin pro rata (a flip closes, then opens the rest)."""
        if self.cross:
            return
        size = abs(signed)
        if start != 0 and (start > 0) != (signed > 0):
            closed = min(size, abs(start))
            self.isolated -= self.isolated * closed / abs(start)
            size -= closed
        self.isolated += size * price / self.leverage
        if start + signed == 0:
            self.isolated = _ZERO


def maintenance_rate(meta: dict[str, Any]) -> Decimal:
    """The maintenance margin rate of a coin: half the initial margin at its maximum
    leverage, ``1 / (2 × maxLeverage)`` (the documented rule; margin tiers not emulated)."""
    return Decimal(1) / (2 * int(meta["maxLeverage"]))


def liquidation_px(
    qty: Decimal, price: Decimal, available: Decimal, mmr: Decimal
) -> Decimal | None:
    """The liquidation price of a position of signed ``qty`` valued at ``price``, with
    ``available`` = its margin (isolated: at ``price`` = the entry; cross: the cross account
    value) less the maintenance margin ``mmr × |qty| × price``.

    The venue's formula is ``price − side × available / |qty| / (1 − mmr × side)``: the
    maintenance margin is charged on the notional at the liquidation price. Here it is
    charged on the larger of the notional at ``price`` and at the liquidation price, so the
    price reported is never further from ``price`` than the venue's: a long (liquidated
    below ``price``) keeps the maintenance at ``price`` — ``price − available / qty``,
    isolated ``entry × (1 − 1/leverage + mmr)`` —, a short (above) is the venue's formula
    — ``price + available / (|qty| × (1 + mmr))``, isolated ``entry × (1 + 1/leverage) /
    (1 + mmr)``. None when the price is not above 0 (a long that cannot be liquidated: the
    venue sends null)."""
    if qty > 0:  # noqa: SIM108 - one formula per side, as documented above
        liquidation = price - available / qty
    else:
        liquidation = price + available / (-qty * (1 + mmr))
    return liquidation.quantize(_LIQ_QUANTUM) if liquidation > 0 else None


def leverage_wire(setting: Margin, raw_usd: Decimal) -> dict[str, Any]:
    """The ``leverage`` object: ``{"type":"cross","value":n}`` or, isolated,
    ``{"type":"isolated","value":n,"rawUsd":…}`` (rawUsd: the isolated margin less the
    signed entry notional, as the documented example shows)."""
    if setting.cross:
        return {"type": "cross", "value": setting.leverage}
    return {"type": "isolated", "value": setting.leverage, "rawUsd": w.wire_num(_usd(raw_usd))}


@attrs.frozen
class PositionRow:
    """One position as ``clearinghouseState`` reports it (``liquidation`` filled in by
    :meth:`AccountState.of`)."""

    coin: str
    qty: Decimal
    entry: Decimal
    mark: Decimal
    setting: Margin  # a copy, taken with the row
    max_leverage: int
    mmr: Decimal
    liquidation: Decimal | None = None

    @property
    def value(self) -> Decimal:
        return abs(self.qty) * self.mark

    @property
    def pnl(self) -> Decimal:
        return (self.mark - self.entry) * self.qty

    @property
    def margin_used(self) -> Decimal:
        """Cross: the initial margin at the mark; isolated: its margin plus its pnl."""
        if self.setting.cross:
            return self.value / self.setting.leverage
        return self.setting.isolated + self.pnl

    @property
    def raw_usd(self) -> Decimal:
        return self.setting.isolated - self.entry * self.qty

    def wire(self) -> dict[str, Any]:
        used = self.margin_used
        setting = self.setting
        initial = self.value / setting.leverage if setting.cross else setting.isolated
        return {"type": "oneWay", "position": {
            "coin": self.coin, "szi": w.wire_num(self.qty), "entryPx": w.wire_num(self.entry),
            "leverage": leverage_wire(self.setting, self.raw_usd),
            "liquidationPx": None if self.liquidation is None else w.wire_num(self.liquidation),
            "marginUsed": w.wire_num(_usd(used)), "maxLeverage": self.max_leverage,
            "positionValue": w.wire_num(_usd(self.value)),
            "returnOnEquity": w.wire_num(_usd(self.pnl / initial)) if initial else "0.0",
            "unrealizedPnl": w.wire_num(_usd(self.pnl)),
            "cumFunding": {"allTime": "0.0", "sinceChange": "0.0", "sinceOpen": "0.0"},
        }}  # fmt: skip


@attrs.frozen
class AccountState:
    """The account's margin summary (see :meth:`HyperliquidEmulator._account_state`)."""

    raw: Decimal
    rows: list[PositionRow]
    account_value: Decimal
    margin_used: Decimal
    ntl: Decimal
    cross_value: Decimal
    cross_used: Decimal
    cross_ntl: Decimal
    cross_maintenance: Decimal
    withdrawable: Decimal

    @property
    def raw_usd(self) -> Decimal:
        """``totalRawUsd``: the account value less the signed notional at the mark."""
        return self.account_value - sum((r.qty * r.mark for r in self.rows), _ZERO)

    @property
    def cross_raw(self) -> Decimal:
        cross = (r.qty * r.mark for r in self.rows if r.setting.cross)
        return self.cross_value - sum(cross, _ZERO)

    @classmethod
    def of(cls, raw: Decimal, rows: list[PositionRow]) -> AccountState:
        cross = [r for r in rows if r.setting.cross]
        isolated = [r for r in rows if not r.setting.cross]
        account_value = raw + sum((r.pnl for r in rows), _ZERO)
        cross_value = account_value - sum((r.margin_used for r in isolated), _ZERO)
        cross_used = sum((r.margin_used for r in cross), _ZERO)
        cross_mm = sum((r.mmr * r.value for r in cross), _ZERO)
        priced = []
        for r in rows:
            if r.setting.cross:
                liq = liquidation_px(r.qty, r.mark, cross_value - cross_mm, r.mmr)
            else:
                available = r.setting.isolated - r.mmr * abs(r.qty) * r.entry
                liq = liquidation_px(r.qty, r.entry, available, r.mmr)
            priced.append(attrs.evolve(r, liquidation=liq))
        return cls(
            raw=raw, rows=priced, account_value=account_value,
            margin_used=cross_used + sum((r.margin_used for r in isolated), _ZERO),
            ntl=sum((r.value for r in rows), _ZERO), cross_value=cross_value,
            cross_used=cross_used, cross_ntl=sum((r.value for r in cross), _ZERO),
            cross_maintenance=cross_mm, withdrawable=max(_ZERO, cross_value - cross_used),
        )  # fmt: skip


def _isolated_only(meta: dict[str, Any]) -> bool:
    """Whether a coin refuses cross margin (``onlyIsolated``, or margin mode
    ``strictIsolated`` / ``noCross``)."""
    return bool(meta.get("onlyIsolated")) or meta.get("marginMode") in ("strictIsolated", "noCross")


# -- module helpers ------------------------------------------------------------------------
def _sz_decimals(inst: Instrument) -> int:
    """The venue's szDecimals of a simulated instrument: the decimals of its lot."""
    exponent = inst.lot_size.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def _delisted(meta: dict[str, Any]) -> bool:
    return bool(meta.get("isDelisted"))


def _decimals(value: Decimal) -> int:
    """Digits after the point in the canonical form (``1.50`` → 1, ``100`` → 0)."""
    text = w.canonical_number(value)
    return len(text.partition(".")[2])


def _sig_figs(value: Decimal) -> int:
    """Significant figures of the canonical form (``0.001234`` → 4, ``1234.5`` → 5)."""
    digits = w.canonical_number(abs(value)).replace(".", "").lstrip("0")
    return len(digits)


def _level(px: Decimal, sz: Decimal) -> dict[str, Any]:
    return {"px": w.wire_num(px), "sz": w.wire_num(sz), "n": 1}


def _usd(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)


def _margin_summary(
    account_value: Decimal, margin_used: Decimal, ntl: Decimal, raw_usd: Decimal
) -> dict[str, str]:
    return {
        "accountValue": w.wire_num(_usd(account_value)),
        "totalMarginUsed": w.wire_num(_usd(margin_used)),
        "totalNtlPos": w.wire_num(_usd(ntl)), "totalRawUsd": w.wire_num(_usd(raw_usd)),
    }  # fmt: skip


def _rejection(reason: str, asset: int) -> tuple[str, str]:
    """(orderStatus status, the venue's error string) for a simulator rejection reason."""
    if reason.startswith("Insufficient margin"):
        return "perpMarginRejected", reason
    if "reduce-only" in reason:
        return "reduceOnlyRejected", w.REDUCE_ONLY
    if reason == w.MIN_NOTIONAL or "notional" in reason or "minimum size" in reason:
        return "minTradeNtlRejected", w.MIN_NOTIONAL
    if "price" in reason:
        return "tickRejected", w.TICK
    return "rejected", f"{reason}. asset={asset}"


def _px(inst: Instrument, price: Decimal) -> Decimal:
    """An average price at the instrument's price decimals (6 − szDecimals)."""
    return price.quantize(Decimal(1).scaleb(-(_MAX_DECIMALS - _sz_decimals(inst))))
