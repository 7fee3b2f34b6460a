"""The Bybit V5 (category ``linear``) venue client: REST over httpx, streams over trio-websocket.

Implements :class:`arbtrio.venues.base.VenueClient`. Facts it relies on are from Bybit's
official V5 documentation; the choices are in ``specs/011-bybit.md``.

* Books: ``orderbook.{depth}.{symbol}`` (depth 50 by default, 1 for top-of-book only) kept by
  :class:`~arbtrio.venues.bybit.book.BybitBook`; a gap or a malformed frame invalidates the
  book and resubscribes the topic; JSON ``ping`` every 20 s; silence for ``idle_timeout``
  or too many failed resyncs ends the session and :func:`run_reconnecting` reconnects.
* Orders: ``POST /v5/order/create`` limit orders (IOC by default) with ``orderLinkId`` =
  the request's client order id; errors mapped by :mod:`arbtrio.venues.bybit.errors`.
* Leverage and margin mode (:meth:`BybitClient.configure_instrument`): the unified
  account's margin mode is account-wide (``GET /v5/account/info``, then
  ``POST /v5/account/set-margin-mode`` only when it differs), the leverage per symbol
  (``POST /v5/position/set-leverage``, buy = sell); "not modified" answers are success.
* Private stream: ``auth`` then ``order``, ``execution``, ``position``, ``wallet``
  (:class:`~arbtrio.venues.bybit.feed.BybitOrderFeed`), which keeps ``pushed_positions``
  and ``pushed_balances`` current; every order placed here is posted
  to it (:class:`~arbtrio.venues.tracking.Placed`, with the venue order id), and its REST
  re-queries (``Fetch(Requery)``) are answered by :meth:`BybitClient.query_order`: after
  every (re)subscription, a malformed private frame, and periodically.
* Lists (REST pages and pushes) are decoded item by item; items left out (another
  category, malformed) are counted in ``health.skipped`` (REST) and
  ``private_health.skipped`` (private stream).
* Rate limits: a token bucket per endpoint (the venue's UID limits) plus the IP pool, tuned
  by every response's ``X-Bapi-Limit``/``-Status``/``-Reset-Timestamp`` headers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import httpx
import msgspec
import structlog
import trio

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
    VenuePosition,
)
from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    BookCallback,
    Credentials,
    MalformedMessage,
    MarginMode,
    OrderNotFound,
    OutcomeUnknown,
    PreparedRequest,
    VenueHealth,
)
from arbtrio.venues.bybit import codecs as c
from arbtrio.venues.bybit.errors import error_for, http_error_for
from arbtrio.venues.bybit.feed import (
    FILL_EXEC_TYPES,
    BybitBookFeed,
    BybitOrderFeed,
    fill_of,
    order_update_of,
    position_of,
    wallet_balances,
)
from arbtrio.venues.bybit.prepare import (
    ORDER_PATH,
    BybitAccount,
    prepare_order,
    prepare_request,
)
from arbtrio.venues.bybit.signing import DEFAULT_RECV_WINDOW, query_string
from arbtrio.venues.ratelimit import TokenBucket
from arbtrio.venues.reconnect import Backoff
from arbtrio.venues.rest import Budget, RestClient
from arbtrio.venues.stream import Stream, websocket
from arbtrio.venues.tracking import Placed, Requery
from arbtrio.venues.wire import private_url_for as _private_url_for

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
# Per-endpoint UID limits (requests per second), the V5 rate-limit page.
ENDPOINT_LIMITS: Mapping[str, float] = {
    "/v5/order/create": 10,
    "/v5/order/cancel": 10,
    "/v5/order/realtime": 50,
    "/v5/order/history": 50,
    "/v5/execution/list": 50,
    "/v5/position/list": 50,
    "/v5/account/wallet-balance": 50,
    "/v5/account/fee-rate": 5,
    "/v5/account/info": 50,
    "/v5/position/set-leverage": 10,
    "/v5/account/set-margin-mode": 5,
}
# The unified account's margin modes (GET /v5/account/info, set-margin-mode); portfolio
# margin is neither and is switched away from when asked for either.
MARGIN_MODES: Mapping[str, str] = {"cross": "REGULAR_MARGIN", "isolated": "ISOLATED_MARGIN"}
# "Not modified" answers, success for an idempotent setting: 110043 "Set leverage has not
# been modified", 110026 "Cross/isolated margin mode has not been modified".
NOT_MODIFIED = frozenset({"110043", "110026"})

T = TypeVar("T")


def private_url_for(ws_url: str) -> str:
    """The private stream URL on the same host as the public ``…/v5/public/linear`` URL."""
    return _private_url_for(ws_url, PUBLIC_PATH, PRIVATE_PATH)


class BybitRules:
    """Bybit's REST rules (:class:`~arbtrio.venues.rest.RestRules`): the IP pool plus a
    per-endpoint bucket; the ``retCode`` envelope; ``X-Bapi-Limit*`` headers adopted."""

    def __init__(self, wall_clock: Callable[[], float]) -> None:
        self.wall_clock = wall_clock
        self.ip = TokenBucket(f"{VENUE}:ip", capacity=IP_POOL[0], rate=IP_POOL[1])
        self.endpoints = {
            path: TokenBucket(f"{VENUE}:{path}", capacity=limit, rate=limit)
            for path, limit in ENDPOINT_LIMITS.items()
        }

    def budget(self, method: str, path: str) -> Budget:
        bucket = self.endpoints.get(path)
        return ((self.ip, 1.0),) if bucket is None else ((self.ip, 1.0), (bucket, 1.0))

    def observe(self, resp: httpx.Response, path: str, budget: Budget) -> None:
        """Adopt the venue's per-endpoint limit; block the bucket when none remains."""
        bucket = self.endpoints.get(path)
        if bucket is None or "x-bapi-limit-status" not in resp.headers:
            return
        try:
            limit = float(resp.headers.get("x-bapi-limit", bucket.capacity))
        except ValueError:
            return
        if limit > 0 and limit != bucket.capacity:
            bucket.capacity = bucket.rate = limit
            bucket.tokens = min(bucket.tokens, limit)
        wait = self._reset_in(resp.headers)
        if wait is not None:
            bucket.penalize(wait, trio.current_time())

    def _reset_in(self, headers: httpx.Headers) -> float | None:
        """Seconds until the venue's reset when the endpoint limit is exhausted, else None."""
        try:
            remaining = float(headers["x-bapi-limit-status"])
            reset_ms = float(headers.get("x-bapi-limit-reset-timestamp", 0))
        except (KeyError, ValueError):
            return None
        if remaining > 0:
            return None
        return min(max(reset_ms / 1000.0 - self.wall_clock(), 0.0), 10.0) or 1.0

    def unwrap(self, resp: httpx.Response, path: str, mutating: bool) -> msgspec.Raw:
        """``result`` of a ``retCode: 0`` envelope, or the mapped error."""
        try:
            env = c.decode_envelope(resp.content)
        except MalformedMessage:
            if resp.status_code != 200:
                raise http_error_for(resp.status_code, resp.text, mutating=mutating) from None
            if mutating:
                raise OutcomeUnknown(VENUE, f"{path}: undecodable answer") from None
            raise
        if env.retCode != 0:
            message = env.retMsg or ""
            reasons = c.error_reasons(env.result)
            raise error_for(
                env.retCode,
                f"{message} ({reasons})" if reasons else message,
                mutating=mutating,
                reset_in=self._reset_in(resp.headers),
            )
        return env.result


class BybitClient:
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
        reconcile_every_s: float = 60.0,
    ) -> None:
        if depth not in SUPPORTED_DEPTHS:
            raise ValueError(f"depth must be one of {SUPPORTED_DEPTHS}, got {depth}")
        self.rest_url = rest_url.rstrip("/")
        self.credentials = credentials if credentials and credentials.api_key else None
        self.rules = BybitRules(wall_clock)
        self.rest = RestClient(VENUE, self.rest_url, self.rules, timeout=request_timeout)
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
        self.orders = BybitOrderFeed(
            self.credentials or Credentials(),
            self.private_health,
            wall_clock,
            instruments=self.instruments,
            ping_interval=ping_interval,
            idle_timeout=idle_timeout,
            auth_timeout=request_timeout,
            reconcile_every_s=reconcile_every_s,
        )
        self.order_stream = Stream(
            VENUE, "orders", self.orders, websocket(self.private_ws_url), self.private_health,
            fetch=self._requery, backoff=backoff,
        )  # fmt: skip
        # The order stream's own maps (written only by its reader): coin -> balance, venue
        # symbol -> position, from the wallet and position pushes.
        self.pushed_balances: dict[str, Balance] = self.orders.pushed_balances
        self.pushed_positions: dict[str, VenuePosition] = self.orders.pushed_positions
        # What configure_instrument set: the account's margin mode, per symbol the leverage.
        self.margin_mode: MarginMode | None = None
        self.leverage: dict[str, int] = {}
        self._margin_lock = trio.Lock()  # one reader/switcher of the account's mode at once

    def _require_credentials(self) -> Credentials:
        if self.credentials is None:
            raise AuthenticationFailed(VENUE, "no API credentials: this client is public-data only")
        return self.credentials

    def _account(self) -> BybitAccount:
        return BybitAccount.from_credentials(self._require_credentials(), self.recv_window)

    def _ts_ms(self) -> int:
        """The signature timestamp, taken right before sending (the documented window rule)."""
        return int(self.wall_clock() * 1000)

    async def _request(
        self,
        method: str,
        path: str,
        result_type: type[T],
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        signed: bool = False,
        mutating: bool = False,
    ) -> T:
        """One REST call: its decoded ``result`` or the mapped error."""
        account = self._account() if signed else None
        qs = query_string(params or {})
        content = c.encoder.encode(body) if body is not None else None

        def build() -> PreparedRequest:
            return prepare_request(account, method, path, qs, content, self._ts_ms())

        def decode(raw: Any) -> T:
            return c.decode_result(result_type, raw)

        return await self.rest.call(method, path, build, decode, mutating=mutating)

    async def _page(self, path: str, params: Mapping[str, str], *, signed: bool = False) -> c.Page:
        """One GET of a list result, its items still raw (:meth:`_items` decodes them)."""
        account = self._account() if signed else None
        qs = query_string(params)

        def build() -> PreparedRequest:
            return prepare_request(account, "GET", path, qs, None, self._ts_ms())

        def decode(raw: Any) -> c.Page:
            return c.decode_page(raw, path)

        return await self.rest.call("GET", path, build, decode)

    def _items(
        self, page: c.Page, item_type: type[T], what: str, *, category: str | None = c.LINEAR
    ) -> list[T]:
        """A page's items decoded one by one; those left out counted in ``health.skipped``."""
        items = c.page_items(page, item_type, what, category=category)
        for skip in items.skipped:
            self._skipped(what, skip.reason, skip.symbol, foreign=skip.foreign)
        return items.items

    def _skipped(self, what: str, reason: str, symbol: str = "", *, foreign: bool = False) -> None:
        self.health.skipped += 1
        event = "bybit.rest.skipped"
        if foreign:
            log.debug(event, what=what, symbol=symbol, reason=reason)
        else:
            log.warning(event, what=what, symbol=symbol, reason=reason)

    # -- instruments, account --------------------------------------------------------------
    async def load_instruments(self) -> list[Instrument]:
        """All trading USDT linear perpetuals (paginated), fees from the fee-rate endpoint."""
        infos: list[c.InstrumentInfo] = []
        cursor = ""
        while True:
            params = {"category": "linear", "limit": "1000"}
            if cursor:
                params["cursor"] = cursor
            page = await self._page("/v5/market/instruments-info", params)
            infos += self._items(page, c.InstrumentInfo, "instrument")
            cursor_next = page.nextPageCursor or ""
            if not cursor_next or cursor_next == cursor or not page.list:
                break
            cursor = cursor_next
        fees: dict[str, c.FeeRate] = {}
        if self.credentials is not None:
            rates = await self._page("/v5/account/fee-rate", {"category": "linear"}, signed=True)
            fees = {f.symbol: f for f in self._items(rates, c.FeeRate, "fee rate", category=None)}
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
                    min_notional=info.lotSizeFilter.minNotionalValue or Decimal(0),
                    taker_fee=fee.takerFeeRate if fee else DEFAULT_TAKER_FEE,
                    maker_fee=fee.makerFeeRate if fee else DEFAULT_MAKER_FEE,
                    funding_interval_hours=max(1, (info.fundingInterval or 480) // 60),
                    max_leverage=_max_leverage(info.leverageFilter),
                )
            except (ValueError, ArithmeticError) as exc:
                self._skipped("instrument", str(exc), info.symbol)
                continue
            result.append(inst)
            self.instruments[inst.symbol] = inst
        return result

    async def configure_instrument(
        self, symbol: str, *, leverage: int, margin_mode: MarginMode
    ) -> None:
        """Margin mode, then leverage, for ``symbol`` (at start-up, before any order).

        The unified account's margin mode is account-wide: it is read
        (``GET /v5/account/info``) and switched (``POST /v5/account/set-margin-mode``) only
        when it differs, and a later call asking another mode than one this client set is
        refused before anything is sent (it would switch every symbol). The leverage is
        ``POST /v5/position/set-leverage`` with buy = sell (one-way mode). "Not modified"
        (110043, 110026) is success. A refusal raises :class:`BadRequest` naming the value
        (with the venue's message and code); rate limits, authentication and transport
        errors raise as on any call. Idempotent: safe to repeat after any error."""
        if isinstance(leverage, bool) or not isinstance(leverage, int) or leverage < 1:
            raise BadRequest(VENUE, f"{symbol}: leverage {leverage!r} must be an integer >= 1")
        mode = MARGIN_MODES.get(margin_mode)
        if mode is None:
            raise BadRequest(VENUE, f"{symbol}: margin mode {margin_mode!r} is not cross/isolated")
        async with self._margin_lock:
            await self._ensure_margin_mode(symbol, margin_mode, mode)
        lev = str(leverage)
        body = c.SetLeverage(category=c.LINEAR, symbol=symbol, buyLeverage=lev, sellLeverage=lev)
        await self._setting(
            "/v5/position/set-leverage", body, c.Empty, f"{symbol}: leverage {leverage}"
        )
        self.leverage[symbol] = leverage

    async def _ensure_margin_mode(self, symbol: str, margin_mode: MarginMode, mode: str) -> None:
        """The account's margin mode, read once and switched only when it differs; another
        mode than the one this client set is refused before sending."""
        if self.margin_mode is not None:
            if margin_mode != self.margin_mode:
                raise BadRequest(
                    VENUE,
                    f"{symbol}: margin mode {margin_mode} refused: the account's margin mode "
                    f"is account-wide and already set to {self.margin_mode}",
                )
            return
        info = await self._request("GET", "/v5/account/info", c.AccountInfo, signed=True)
        if info.marginMode != mode:
            what = f"{symbol}: margin mode {margin_mode} ({mode})"
            answer = await self._setting(
                "/v5/account/set-margin-mode", c.SetMarginMode(setMarginMode=mode),
                c.MarginModeResult, what,
            )  # fmt: skip
            if answer is not None and answer.reasons:
                reasons = "; ".join(f"{r.reasonCode} {r.reasonMsg}" for r in answer.reasons)
                raise BadRequest(VENUE, f"{what} refused: {reasons}")
        self.margin_mode = margin_mode

    async def _setting(self, path: str, body: Any, result_type: type[T], what: str) -> T | None:
        """One signed settings POST: its result, None for a "not modified" answer; a
        refusal as BadRequest naming ``what``."""
        try:
            return await self._request("POST", path, result_type, body=body, signed=True)
        except BadRequest as exc:
            if exc.code in NOT_MODIFIED:
                return None
            raise BadRequest(VENUE, f"{what} refused: {exc.message}", code=exc.code) from exc

    async def fetch_balances(self) -> list[Balance]:
        """UNIFIED wallet coins; USDT ``available`` is the account's totalAvailableBalance."""
        page = await self._page(
            "/v5/account/wallet-balance", {"accountType": "UNIFIED"}, signed=True
        )
        out = []
        for account in self._items(page, c.WalletAccount, "wallet account", category=None):
            balances = wallet_balances(account)
            for skip in balances.skipped:
                self._skipped("wallet coin", skip.reason, skip.symbol)
            out += balances.items
        return out

    async def fetch_positions(self) -> list[VenuePosition]:
        page = await self._page(
            "/v5/position/list",
            {"category": "linear", "settleCoin": "USDT", "limit": "200"},
            signed=True,
        )
        out = []
        for p in self._items(page, c.PositionInfo, "position"):
            if p.size == 0:
                continue
            try:
                out.append(position_of(p))
            except MalformedMessage as exc:
                self._skipped("position", exc.message, p.symbol)
        return out

    async def fetch_funding(self, symbols: Sequence[str]) -> list[FundingRate]:
        """Current funding rate, interval and next settlement (on the runtime clock)."""
        page = await self._page("/v5/market/tickers", {"category": "linear"})
        wanted = set(symbols)
        out = []
        for t in self._items(page, c.Ticker, "ticker"):
            if t.symbol not in wanted:
                continue
            try:
                rate = c.parse_decimal(t.fundingRate, "fundingRate")
                nxt = c.parse_decimal(t.nextFundingTime, "nextFundingTime")
            except MalformedMessage as exc:
                self._skipped("ticker", exc.message, t.symbol)
                continue
            if rate is None:
                continue
            interval = t.fundingIntervalHour or ""
            hours = int(interval) if interval.isdigit() and int(interval) > 0 else None
            if hours is None:
                inst = self.instruments.get(t.symbol)
                hours = inst.funding_interval_hours if inst else 8
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

        def build() -> PreparedRequest:
            return prepare_order(request, None, account, self._ts_ms())

        def decode(raw: Any) -> c.OrderIdResult:
            return c.decode_result(c.OrderIdResult, raw)

        sent_at = trio.current_time()
        res = await self.rest.call("POST", ORDER_PATH, build, decode, mutating=True)
        self.order_stream.post(
            Placed(request.client_order_id, request.symbol, venue_order_id=res.orderId,
                   sent_at=sent_at)
        )  # fmt: skip
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
            page = await self._page(path, base | extra, signed=True)
            rows = self._items(page, c.OrderInfo, "order")
            order = next((o for o in rows if o.orderLinkId == client_order_id), None)
            if order is not None:
                break
        if order is None:
            raise OrderNotFound(VENUE, f"no order with orderLinkId {client_order_id}")
        fills: list[Fill] = []
        if order.cumExecQty > 0:
            page = await self._page("/v5/execution/list", base | {"limit": "100"}, signed=True)
            now = trio.current_time()
            for e in self._items(page, c.ExecutionInfo, "execution"):
                ours = e.orderId == order.orderId or e.orderLinkId == client_order_id
                if not ours:
                    continue
                if not e.execType:
                    self._skipped("execution", "no execType", e.symbol)
                    continue
                if e.execType not in FILL_EXEC_TYPES:
                    continue
                try:
                    fill = fill_of(e, now)
                except MalformedMessage as exc:
                    self._skipped("execution", exc.message, e.symbol)
                    continue
                fills.append(attrs.evolve(fill, client_order_id=client_order_id))
        update = order_update_of(order, trio.current_time())
        return OrderReport(
            venue=VENUE,
            client_order_id=client_order_id,
            status=update.status,
            filled_qty=update.filled_qty,
            avg_price=update.avg_price,
            fills=tuple(fills),
            reason=update.reason,
        )

    async def _requery(self, key: Hashable) -> OrderReport:
        """The order protocol's ``Fetch(Requery)``: the order's state and fills."""
        if not isinstance(key, Requery):
            raise TypeError(f"bybit orders: unexpected fetch {key!r}")
        return await self.query_order(key.symbol, key.client_order_id)

    # -- streams ------------------------------------------------------------------------------
    async def run_books(
        self,
        symbols: Sequence[str],
        on_update: BookCallback,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Maintain the books of ``symbols`` until cancelled (:class:`BybitBookFeed`)."""
        feed = BybitBookFeed(
            self.books, symbols, self.depth, self.health,
            ping_interval=self.ping_interval, idle_timeout=self.idle_timeout,
            max_resyncs=self.max_resyncs,
        )  # fmt: skip
        stream = Stream(
            VENUE, "books", feed, websocket(self.ws_url), self.health,
            on_change=on_update, backoff=self.backoff,
        )  # fmt: skip
        await stream.run(task_status=task_status)

    async def run_order_stream(
        self,
        send: trio.MemorySendChannel[OrderEvent],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Deliver the account's order events into ``send`` (:class:`BybitOrderFeed`)."""
        self._require_credentials()
        self.order_stream.deliver = send
        await self.order_stream.run(task_status=task_status)

    async def aclose(self) -> None:
        await self.rest.aclose()


# -- conversions ----------------------------------------------------------------------------
def _max_leverage(f: c.LeverageFilter | None) -> int | None:
    return int(f.maxLeverage) if f is not None and f.maxLeverage is not None else None
