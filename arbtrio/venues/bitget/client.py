"""The Bitget V2 mix (``USDT-FUTURES``) venue client: REST over httpx, streams over WebSocket.

Implements :class:`arbtrio.venues.base.VenueClient` in the shape of ``specs/006``; the
venue's rules and the choices made are in ``specs/012-bitget.md``.

* REST: every request through :class:`~arbtrio.venues.rest.RestClient` with
  :class:`BitgetRules` — the 6000/min IP pool plus a bucket per endpoint, the
  ``{code, msg, data}`` envelope (``"00000"`` is success) mapped by
  :mod:`arbtrio.venues.bitget.errors`, ``x-mbx-used-remain-limit: 0`` blocking the
  endpoint for a second. Requests are built and signed by :mod:`.prepare`.
* Orders: ``place-order`` limit IOC (``force: "ioc"``) with ``clientOid`` = the request's
  client order id, ``reduceOnly "YES"/"NO"`` in one-way mode, ``tradeSide`` in hedge mode;
  each placement is posted to the private stream's protocol
  (:class:`~arbtrio.venues.tracking.Placed`, with the venue's order id), which re-queries
  it over REST (``Fetch(Requery)``, answered by :meth:`BitgetClient.query_order`) until
  the stream or a re-query delivers its terminal state.
* Streams: both through :class:`~arbtrio.venues.stream.Stream` —
  :class:`~arbtrio.venues.bitget.feed.BitgetBookFeed` (books, checksums, resyncs) and
  :class:`~arbtrio.venues.bitget.feed.BitgetOrderFeed` (login, pushes, fills before acks,
  reconciliation through the shared order tracker), each keeping the venue's
  10-messages-a-second send limit.
* Margin: :meth:`BitgetClient.configure_instrument` sets a symbol's margin mode
  (``set-margin-mode``) then its leverage (``set-leverage``); answers meaning "already set"
  are success, any other refusal is ``BadRequest`` naming the value; the symbol's orders
  then carry that mode. Positions carry the venue's mark and liquidation price; the
  private stream keeps ``pushed_balances`` and ``pushed_positions``.
* Lists in REST answers (contracts, funding rates, balances, positions, fills) are decoded
  item by item: an item that does not decode, or names a contract this client does not
  trade, is skipped and counted in ``health.skipped`` (the private stream's in
  ``private_health.skipped``).
* ``symbols_hint`` may name assets (``"BTC"``: what ``arbtrio run`` passes) or venue
  symbols (``"BTCUSDT"``: what the simulator passes); hints are mapped through the loaded
  instruments and an unknown hint is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
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
    Disconnected,
    MalformedMessage,
    MarginMode,
    OrderNotFound,
    OutcomeUnknown,
    PreparedRequest,
    RateLimited,
    VenueError,
    VenueHealth,
)
from arbtrio.venues.bitget import codecs as c
from arbtrio.venues.bitget.errors import (
    MARGIN_MODE_LOCKED,
    NOT_MODIFIED,
    error_for,
    http_error_for,
)
from arbtrio.venues.bitget.feed import (
    ORDER_STATUS,
    BitgetBookFeed,
    BitgetOrderFeed,
    fill_of,
    position_of,
)
from arbtrio.venues.bitget.prepare import (
    ORDER_PATH,
    BitgetAccount,
    order_body,
    prepare_order,
    prepare_request,
)
from arbtrio.venues.bitget.signing import query_string
from arbtrio.venues.ratelimit import TokenBucket
from arbtrio.venues.reconnect import Backoff
from arbtrio.venues.rest import Budget, RestClient
from arbtrio.venues.stream import Stream, websocket
from arbtrio.venues.tracking import Placed, Requery
from arbtrio.venues.wire import private_url_for as _private_url_for

__all__ = ["DEFAULT_REST_URL", "DEFAULT_WS_URL", "BitgetClient", "BitgetRules", "hinted"]

log = structlog.get_logger("arbtrio.venues.bitget")

VENUE = "bitget"
PRODUCT = c.PRODUCT_TYPE
DEFAULT_REST_URL = "https://api.bitget.com"
DEFAULT_WS_URL = "wss://ws.bitget.com/v2/ws/public"
PUBLIC_PATH = "/v2/ws/public"
PRIVATE_PATH = "/v2/ws/private"
BOOK_CHANNELS = ("books", "books1", "books5", "books15")
DEFAULT_BACKOFF = Backoff()
IP_LIMIT = (100.0, 100.0)  # capacity, refill per second: the 6000 / min IP pool

# Requests per second by endpoint (capacity = one second's worth), Bitget's per-endpoint
# limits (spec 012, rate limits).
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
    "/api/v2/mix/account/account": 10,
    "/api/v2/mix/account/set-leverage": 5,
    "/api/v2/mix/account/set-margin-mode": 5,
}

DEFAULT_MAKER = Decimal("0.0002")  # the standard rates, when a contract names none
DEFAULT_TAKER = Decimal("0.0006")
SET_LEVERAGE = "/api/v2/mix/account/set-leverage"
SET_MARGIN_MODE = "/api/v2/mix/account/set-margin-mode"
SINGLE_ACCOUNT = "/api/v2/mix/account/account"
VENUE_MARGIN_MODES: Mapping[str, str] = {"cross": "crossed", "isolated": "isolated"}
# What a settings call may raise as itself; any other venue answer is a refusal (BadRequest).
_PASS_THROUGH = (AuthenticationFailed, RateLimited, Disconnected, OutcomeUnknown)
FILL_PAGE = 100  # rows per /order/fills page (the venue's maximum)
MAX_FILL_PAGES = 10
T = TypeVar("T")


def private_url_for(ws_url: str) -> str:
    """The private stream URL on the same host as the public ``…/v2/ws/public`` URL."""
    return _private_url_for(ws_url, PUBLIC_PATH, PRIVATE_PATH)


def hinted(instruments: Iterable[Instrument], hints: Iterable[str]) -> list[Instrument]:
    """The instruments ``hints`` name, in hint order, each once: an instrument matches a
    hint when its ``asset`` (``"BTC"``) or its venue ``symbol`` (``"BTCUSDT"``) equals it.
    A hint matching nothing is skipped (and logged)."""
    by_name: dict[str, Instrument] = {}
    for inst in instruments:
        by_name.setdefault(inst.symbol, inst)
        by_name.setdefault(inst.asset, inst)
    out: list[Instrument] = []
    for hint in hints:
        match = by_name.get(hint)
        if match is None:
            log.info("bitget.hint.unknown", hint=hint)
        elif match not in out:
            out.append(match)
    return out


class BitgetRules:
    """Bitget's REST rules (:class:`~arbtrio.venues.rest.RestRules`): the IP pool plus a
    per-endpoint bucket; the ``code``/``data`` envelope; ``x-mbx-used-remain-limit``.

    A ``RateLimited`` answer (HTTP 429 or a rate code) empties every budget the request
    spent, the IP pool's and the endpoint's, for its ``retry_after`` (1 s): Bitget's 429
    does not say which of the two limits it was."""

    def __init__(self) -> None:
        capacity, rate = IP_LIMIT
        self.ip = TokenBucket(f"{VENUE}:ip", capacity=capacity, rate=rate)
        self.endpoints = {
            path: TokenBucket(f"{VENUE}:{path}", capacity=limit, rate=limit)
            for path, limit in ENDPOINT_LIMITS.items()
        }

    def budget(self, method: str, path: str) -> Budget:
        bucket = self.endpoints.get(path)
        return ((self.ip, 1.0),) if bucket is None else ((self.ip, 1.0), (bucket, 1.0))

    def observe(self, resp: httpx.Response, path: str, budget: Budget) -> None:
        """``x-mbx-used-remain-limit: 0`` (none left this second) blocks the endpoint 1 s."""
        bucket = self.endpoints.get(path)
        remain = resp.headers.get("x-mbx-used-remain-limit")
        if bucket is not None and remain is not None and remain.strip() == "0":
            bucket.penalize(1.0, trio.current_time())

    def unwrap(self, resp: httpx.Response, path: str, mutating: bool) -> msgspec.Raw:
        """``data`` of a ``code: "00000"`` envelope, or the mapped error."""
        try:
            env = c.decode_envelope(resp.content)
        except MalformedMessage:
            if resp.status_code != 200:
                raise http_error_for(resp.status_code, resp.text, mutating=mutating) from None
            if mutating:
                raise OutcomeUnknown(VENUE, f"{path}: undecodable answer") from None
            raise
        code = str(env.code)
        if code != "00000":
            raise error_for(code, env.msg or "", mutating=mutating)
        return env.data


class BitgetClient:
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
        reconcile_every_s: float = 60.0,
    ) -> None:
        if channel not in BOOK_CHANNELS:
            raise ValueError(f"channel must be one of {BOOK_CHANNELS}, got {channel!r}")
        if margin_mode not in ("crossed", "isolated"):
            raise ValueError(f"margin_mode must be crossed or isolated, got {margin_mode!r}")
        self.rest_url = rest_url.rstrip("/")
        self.credentials = credentials if credentials and credentials.api_key else None
        self.rules = BitgetRules()
        self.rest = RestClient(VENUE, self.rest_url, self.rules, timeout=request_timeout)
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
        self.orders = BitgetOrderFeed(
            self.credentials or Credentials(),
            self.private_health,
            wall_clock,
            ping_interval=ping_interval,
            idle_timeout=idle_timeout,
            auth_timeout=request_timeout,
            instruments=self.instruments,
            reconcile_every_s=reconcile_every_s,
        )
        # What the private stream last pushed: the protocol's own maps, written by its reader.
        self.pushed_balances: dict[str, Balance] = self.orders.pushed_balances
        self.pushed_positions: dict[str, VenuePosition] = self.orders.pushed_positions
        self.margin_modes: dict[str, str] = {}  # symbol -> venue margin mode configured
        # Built now so that placements can post to it before (and while) it runs.
        self.order_stream = Stream(
            VENUE, "orders", self.orders, websocket(self.private_ws_url), self.private_health,
            fetch=self._requery, backoff=backoff,
        )  # fmt: skip

    @property
    def positions(self) -> dict[tuple[str, str], c.PositionPush]:
        """The latest private-stream ``positions`` push per (symbol, holdSide)."""
        return self.orders.positions

    @property
    def accounts(self) -> dict[str, c.AccountPush]:
        """The latest private-stream ``account`` push per margin coin."""
        return self.orders.accounts

    def _require_credentials(self) -> Credentials:
        if self.credentials is None:
            raise AuthenticationFailed(VENUE, "no API credentials: this client is public-data only")
        return self.credentials

    def _account(self, symbol: str = "") -> BitgetAccount:
        """Signing and order shape; the margin mode is ``symbol``'s configured one (else the
        client's ``margin_mode``)."""
        mode = self.margin_modes.get(symbol, self.margin_mode)
        return BitgetAccount.from_credentials(self._require_credentials(), mode, self.hedge_mode)

    def _ts_ms(self) -> int:
        """The signature timestamp, taken right before sending (after any budget wait)."""
        return int(self.wall_clock() * 1000)

    async def _request(
        self,
        method: str,
        path: str,
        result_type: Any,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        signed: bool = False,
        mutating: bool = False,
    ) -> Any:
        """One REST call: its decoded ``data`` as ``result_type``, or the mapped error."""
        account = self._account() if signed else None
        qs = query_string(params or {})
        content = c.encoder.encode(body) if body is not None else None

        def build() -> PreparedRequest:
            return prepare_request(account, method, path, qs, content, self._ts_ms())

        def decode(raw: Any) -> Any:
            return c.decode_data(result_type, raw, path)

        return await self.rest.call(method, path, build, decode, mutating=mutating)

    def _items(self, rows: Iterable[msgspec.Raw], item_type: type[T], what: str) -> list[T]:
        """The items of a REST list decoded one by one; one that does not decode is
        skipped, counted in ``health.skipped`` and logged."""
        out: list[T] = []
        for raw in rows:
            try:
                out.append(c.decode_item(item_type, raw, what))
            except MalformedMessage as exc:
                self._skipped(what, exc.message)
        return out

    def _skipped(self, what: str, why: str) -> None:
        self.health.skipped += 1
        log.warning("bitget.item_skipped", what=what, reason=why)

    async def _list(self, path: str, params: Mapping[str, str], *, signed: bool = False
                    ) -> list[msgspec.Raw]:  # fmt: skip
        rows: list[msgspec.Raw] = await self._request(
            "GET", path, list[msgspec.Raw] | None, params=params, signed=signed
        )
        return rows or []

    # -- instruments, account ------------------------------------------------------------------
    async def load_instruments(self) -> list[Instrument]:
        """Every ``normal`` USDT perpetual; tick = priceEndStep × 10^−pricePlace. With
        credentials, the account's fees from ``trade-rate``, asked for the first instrument
        ``symbols_hint`` names (assets or symbols; the first instrument when none does)."""
        path = "/api/v2/mix/market/contracts"
        rows = await self._list(path, {"productType": PRODUCT})
        result = []
        for k in self._items(rows, c.Contract, path):
            if k.symbolStatus != "normal" or k.symbolType != "perpetual" or k.quoteCoin != "USDT":
                self._skipped(path, f"{k.symbol}: {k.symbolStatus} {k.symbolType} {k.quoteCoin}")
                continue
            try:
                tick = k.priceEndStep.scaleb(-int(k.pricePlace))
                maker = c.parse_decimal(k.makerFeeRate, "makerFeeRate")
                taker = c.parse_decimal(k.takerFeeRate, "takerFeeRate")
                inst = Instrument(
                    venue=VENUE,
                    symbol=k.symbol,
                    asset=k.baseCoin,
                    quote=k.quoteCoin,
                    tick_size=tick,
                    lot_size=k.sizeMultiplier,
                    min_size=k.minTradeNum,
                    min_notional=c.parse_decimal(k.minTradeUSDT, "minTradeUSDT") or Decimal(0),
                    taker_fee=DEFAULT_TAKER if taker is None else taker,
                    maker_fee=DEFAULT_MAKER if maker is None else maker,
                    funding_interval_hours=int(k.fundInterval or 8),
                    max_leverage=int(k.maxLever) if k.maxLever and k.maxLever.isdigit() else None,
                )
            except (ValueError, ArithmeticError, MalformedMessage) as exc:
                self._skipped(path, f"{k.symbol}: {exc}")
                continue
            result.append(inst)
        if self.credentials is not None and result:
            symbol = next(iter(hinted(result, self.symbols_hint)), result[0]).symbol
            rate: c.TradeRate = await self._request(
                "GET", "/api/v2/common/trade-rate", c.TradeRate,
                params={"symbol": symbol, "businessType": "mix"}, signed=True,
            )  # fmt: skip
            result = [
                attrs.evolve(i, taker_fee=rate.takerFeeRate, maker_fee=rate.makerFeeRate)
                for i in result
            ]
        for inst in result:
            self.instruments[inst.symbol] = inst
        return result

    async def configure_instrument(
        self, symbol: str, *, leverage: int, margin_mode: MarginMode
    ) -> None:
        """Set ``symbol``'s margin mode, then its leverage (``set-margin-mode``, then
        ``set-leverage``; margin coin USDT). A setting already in place is success: the
        venue answers ``00000`` for an unchanged margin mode and ``40814``/``45054`` ("No
        change in leverage") for an unchanged leverage; a mode change refused for open
        positions or orders (``45117``) is success when the symbol's account already has
        that mode (``GET account``). Orders then carry this margin mode. Raises BadRequest
        naming the value for any refusal (leverage above the contract's maximum, a mode
        change with positions open); auth, rate-limit and transport errors as themselves."""
        venue_mode = VENUE_MARGIN_MODES.get(margin_mode)
        if venue_mode is None:
            raise BadRequest(VENUE, f"{symbol}: margin mode {margin_mode!r} is not cross/isolated")
        if isinstance(leverage, bool) or not isinstance(leverage, int) or leverage < 1:
            raise BadRequest(VENUE, f"{symbol}: leverage {leverage!r} must be an integer >= 1")
        mode_body = c.SetMarginMode(symbol=symbol, productType=PRODUCT, marginCoin="USDT",
                                    marginMode=venue_mode)  # fmt: skip
        try:
            await self._setting(SET_MARGIN_MODE, mode_body)
        except BadRequest as exc:
            if exc.code != MARGIN_MODE_LOCKED or await self._margin_mode_of(symbol) != venue_mode:
                raise BadRequest(VENUE, f"{symbol}: margin mode {venue_mode} refused: "
                                 f"{exc.message}", code=exc.code) from None  # fmt: skip
            log.info("bitget.margin_mode.already_set", symbol=symbol, mode=venue_mode)
        self.margin_modes[symbol] = venue_mode
        text = str(leverage)
        lev_body = c.SetLeverage(symbol=symbol, productType=PRODUCT, marginCoin="USDT")
        if venue_mode == "isolated" and self.hedge_mode:
            lev_body.longLeverage = lev_body.shortLeverage = text  # both sides, no holdSide
        else:
            lev_body.leverage = text
        try:
            await self._setting(SET_LEVERAGE, lev_body)
        except BadRequest as exc:
            if exc.code not in NOT_MODIFIED:
                raise BadRequest(VENUE, f"{symbol}: leverage {leverage} refused: {exc.message}",
                                 code=exc.code) from None  # fmt: skip
            log.info("bitget.leverage.already_set", symbol=symbol, leverage=leverage)

    async def _setting(self, path: str, body: Any) -> None:
        """One settings POST; every venue refusal as BadRequest (with the venue's code).
        The answer's ``data`` (the settings now in force) is not relied on."""
        try:
            await self._request("POST", path, msgspec.Raw, body=body, signed=True)
        except _PASS_THROUGH:
            raise
        except VenueError as exc:
            raise BadRequest(VENUE, exc.message, code=exc.code) from None

    async def _margin_mode_of(self, symbol: str) -> str:
        """The margin mode ``symbol``'s account reports (``""`` when it names none)."""
        acct: c.SingleAccount = await self._request(
            "GET", SINGLE_ACCOUNT, c.SingleAccount,
            params={"symbol": symbol, "productType": PRODUCT, "marginCoin": "USDT"}, signed=True,
        )  # fmt: skip
        return acct.marginMode or ""

    async def fetch_balances(self) -> list[Balance]:
        """Each margin coin's equity (``accountEquity``) and ``available`` (absent: 0)."""
        path = "/api/v2/mix/account/accounts"
        rows = await self._list(path, {"productType": PRODUCT}, signed=True)
        out = []
        for row in self._items(rows, c.AccountPush, path):
            try:
                available = c.parse_decimal(row.available, "available") or Decimal(0)
                total = c.parse_decimal(row.accountEquity or row.equity, "accountEquity")
            except MalformedMessage as exc:
                self._skipped(path, exc.message)
                continue
            out.append(Balance(venue=VENUE, currency=row.marginCoin.upper(),
                               total=total if total is not None else available,
                               available=available))  # fmt: skip
        return out

    async def fetch_positions(self) -> list[VenuePosition]:
        """Every open position (``total`` ≠ 0), long positive, short negative, with the
        venue's ``markPrice`` and ``liquidationPrice`` (absent, ``""``, ``null`` or <= 0:
        None — Bitget's "no liquidation price at this time")."""
        path = "/api/v2/mix/position/all-position"
        rows = await self._list(path, {"productType": PRODUCT, "marginCoin": "USDT"}, signed=True)
        out = []
        for p in self._items(rows, c.PositionPush, path):
            if p.total == 0:
                continue
            try:
                out.append(position_of(p))
            except MalformedMessage as exc:
                self._skipped(path, exc.message)
        return out

    async def fetch_funding(self, symbols: Sequence[str]) -> list[FundingRate]:
        """Current funding rate, interval and next settlement (on the runtime clock)."""
        path = "/api/v2/mix/market/current-fund-rate"
        rows = await self._list(path, {"productType": PRODUCT})
        wanted = set(symbols)
        out = []
        for r in self._items(rows, c.FundRate, path):
            symbol = r.symbol.upper()
            if symbol not in wanted:
                continue
            interval = r.fundingRateInterval or ""
            hours = int(interval) if interval.isdigit() else None
            if hours is None:
                inst = self.instruments.get(symbol)
                hours = inst.funding_interval_hours if inst else 8
            try:
                nxt = c.parse_decimal(r.nextUpdate, "nextUpdate")
            except MalformedMessage as exc:
                self._skipped(path, exc.message)
                continue
            next_ts = None
            if nxt is not None:
                next_ts = trio.current_time() + (float(nxt) / 1000.0 - self.wall_clock())
            out.append(FundingRate(venue=VENUE, symbol=symbol, rate=r.fundingRate,
                                   interval_hours=hours, next_funding_ts=next_ts))  # fmt: skip
        return out

    # -- orders ------------------------------------------------------------------------------
    def order_body(self, request: OrderRequest) -> c.PlaceOrder:
        """The place-order body with the symbol's margin mode and the position mode."""
        mode = self.margin_modes.get(request.symbol, self.margin_mode)
        return order_body(request, mode, self.hedge_mode)

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """``POST place-order`` (:func:`~arbtrio.venues.bitget.prepare.prepare_order`);
        the placement is posted to the private stream's protocol as a
        :class:`~arbtrio.venues.tracking.Placed` note with the venue's order id (fill
        pushes may carry only that id; the order is re-queried until it is seen finished)."""
        account = self._account(request.symbol)

        def build() -> PreparedRequest:
            return prepare_order(request, None, account, self._ts_ms())

        def decode(raw: Any) -> c.OrderIds:
            return c.decode_data(c.OrderIds, raw, ORDER_PATH)

        sent_at = trio.current_time()
        ids = await self.rest.call("POST", ORDER_PATH, build, decode, mutating=True)
        order_id = ids.orderId or ""
        self.order_stream.post(Placed(request.client_order_id, request.symbol,
                                      venue_order_id=order_id, sent_at=sent_at))  # fmt: skip
        return OrderAck(venue=VENUE, client_order_id=request.client_order_id,
                        venue_order_id=order_id, ts=trio.current_time())  # fmt: skip

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
        status_text = detail.status or detail.state or ""
        status = ORDER_STATUS.get(status_text)
        if status is None:
            raise MalformedMessage(VENUE, f"order detail: unknown status {status_text!r}")
        filled = c.parse_decimal(detail.baseVolume, "baseVolume") or Decimal(0)
        fills: tuple[Fill, ...] = ()
        if filled > 0:
            fills = await self._order_fills(symbol, detail.orderId, client_order_id)
        avg = c.parse_decimal(detail.priceAvg, "priceAvg")
        return OrderReport(
            venue=VENUE,
            client_order_id=client_order_id,
            status=status,
            filled_qty=filled,
            avg_price=avg if avg else None,
            fills=fills,
            reason=detail.cancelReason or "",
        )

    async def _order_fills(self, symbol: str, order_id: str, cid: str) -> tuple[Fill, ...]:
        """Every fill of ``order_id``, newest page first (``idLessThan`` = the page's
        ``endId`` while a page is full, at most :data:`MAX_FILL_PAGES` pages). A row that
        does not decode or names another order is skipped and counted."""
        path = "/api/v2/mix/order/fills"
        params = {"productType": PRODUCT, "symbol": symbol, "orderId": order_id,
                  "limit": str(FILL_PAGE)}  # fmt: skip
        fills: dict[str, Fill] = {}
        for _ in range(MAX_FILL_PAGES):
            res: c.FillList = await self._request("GET", path, c.FillList, params=params,
                                                  signed=True)  # fmt: skip
            rows = res.fillList or []
            now = trio.current_time()
            new = 0
            for f in self._items(rows, c.FillPush, path):
                if f.orderId != order_id:
                    self._skipped(path, f"fill {f.tradeId} of order {f.orderId}")
                    continue
                try:
                    fill = fill_of(f, now, cid)
                except MalformedMessage as exc:
                    self._skipped(path, exc.message)
                    continue
                if fill.trade_id not in fills:
                    fills[fill.trade_id] = fill
                    new += 1
            if len(rows) < FILL_PAGE or not new or not res.endId:
                break
            params = {**params, "idLessThan": res.endId}
        return tuple(fills.values())

    # -- streams ------------------------------------------------------------------------------
    async def run_books(
        self,
        symbols: Sequence[str],
        on_update: BookCallback,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Maintain the books of ``symbols`` until cancelled (:class:`BitgetBookFeed`)."""
        feed = BitgetBookFeed(
            self.books, symbols, self.channel, self.health,
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
        """Deliver the account's order events into ``send`` (:class:`BitgetOrderFeed`)."""
        self._require_credentials()
        self.order_stream.deliver = send
        await self.order_stream.run(task_status=task_status)

    async def _requery(self, key: Hashable) -> OrderReport:
        """The order protocol's ``Fetch(Requery)``: the order's state and fills."""
        if not isinstance(key, Requery):
            raise TypeError(f"bitget orders: unexpected fetch {key!r}")
        return await self.query_order(key.symbol, key.client_order_id)

    async def aclose(self) -> None:
        await self.rest.aclose()
