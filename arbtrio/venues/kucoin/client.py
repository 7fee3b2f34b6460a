"""The KuCoin Futures (USDT-margined) venue client: REST through :class:`RestClient`, streams
through :class:`Stream`. Implements :class:`arbtrio.venues.base.VenueClient`; the choices
are in ``specs/014-kucoin.md``.

* Instruments: ``GET /api/v1/contracts/active``; sizes are lots (× ``multiplier`` = base
  units), converted only in :mod:`arbtrio.venues.kucoin.convert`. XBT is BTC.
* REST: :class:`KucoinRules` — every endpoint's weight pool and weight (:data:`ENDPOINTS`,
  a table), the ``code`` envelope and the error table of :mod:`arbtrio.venues.kucoin.errors`.
* Streams: the connect step (:meth:`KucoinClient.connect`) fetches a **fresh** bullet token
  (``POST /api/v1/bullet-public``, or the signed ``bullet-private``) and connects to the
  instance server it names with ``token`` and ``connectId``; the protocols of
  :mod:`arbtrio.venues.kucoin.feed` do the rest (welcome, subscriptions, pings, token
  lifetime, book sync, private pushes). Snapshots (``GET /api/v1/level2/snapshot``) and
  re-queries of unfinished orders are the protocols' :class:`~arbtrio.venues.stream.Fetch`
  requests, answered here; orders placed here reach the order protocol as
  :class:`~arbtrio.venues.tracking.Placed` notes.
* Orders: ``POST /api/v1/orders`` (limit, IOC, lots, ``clientOid``) built by
  :func:`~arbtrio.venues.kucoin.prepare.prepare_order`; query and cancel by clientOid.
* ``symbols_hint`` (the symbols whose fee rates the order stream loads) may name assets
  (``"BTC"``) or venue symbols (``"XBTUSDTM"``); a hint no instrument matches is skipped.
* Lists (contracts, positions, fills) are decoded item by item: an item that does not
  decode, or names a contract arbtrio does not trade (inverse, USDC-settled, delisted), is
  skipped, counted in ``health.skipped`` and logged; its neighbours are kept.
* ``key_version`` is the API key's version (``"2"``, or ``"3"`` for current keys), sent as
  ``KC-API-KEY-VERSION``.
* Leverage and margin mode (:meth:`KucoinClient.configure_instrument`): the symbol's margin
  mode is read (``GET /api/v2/position/getMarginMode``) and switched only when it differs
  (``POST /api/v2/position/changeMarginMode``); in cross mode the symbol's leverage likewise
  (``GET /api/v2/getCrossUserLeverage``, ``POST /api/v2/changeCrossUserLeverage``). Isolated
  leverage has no setting on KuCoin: it is sent with every opening order. Orders of a
  configured symbol carry its margin mode and leverage.
* The private stream keeps :attr:`KucoinClient.pushed_positions` and
  :attr:`KucoinClient.pushed_balances` current (``/contract/positionAll``,
  ``/contractAccount/wallet``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, Final, TypeVar
from urllib.parse import quote

import httpx
import msgspec
import structlog
import trio
from trio_websocket import WebSocketConnection

from arbtrio.core.book import L2Book
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
    AuthenticationFailed,
    BadRequest,
    BookCallback,
    Credentials,
    MalformedMessage,
    MarginMode,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    PreparedRequest,
    RateLimited,
    VenueHealth,
)
from arbtrio.venues.kucoin import codecs, convert, sign
from arbtrio.venues.kucoin.codecs import OK, VENUE, Envelope, decode, decode_items
from arbtrio.venues.kucoin.errors import NOT_CANCELABLE, error_for
from arbtrio.venues.kucoin.feed import (
    FeeRates,
    KucoinBookFeed,
    KucoinOrderFeed,
)
from arbtrio.venues.kucoin.prepare import (
    ORDER_ENDPOINT,
    KucoinAccount,
    prepare_order,
    prepare_request,
)
from arbtrio.venues.ratelimit import TokenBucket
from arbtrio.venues.reconnect import Backoff
from arbtrio.venues.rest import Budget, RestClient
from arbtrio.venues.stream import Connect, Stream
from arbtrio.venues.tracking import Placed, Requery
from arbtrio.venues.wire import open_websocket

__all__ = ["DEFAULT_REST_URL", "DEFAULT_WS_URL", "ENDPOINTS", "KucoinClient", "KucoinRules"]

log = structlog.get_logger("arbtrio.venues.kucoin")

DEFAULT_REST_URL = "https://api-futures.kucoin.com"
DEFAULT_WS_URL = DEFAULT_REST_URL  # the WS endpoint comes from the bullet answer
DEFAULT_BACKOFF = Backoff()
T = TypeVar("T")
FILLS_PAGE_SIZE = 1000  # the venue's maximum
MAX_FILLS_PAGES = 20
TOKENS_KEPT = 100  # tokens_used keeps the latest

# Weight pools (VIP0): capacity per 30 s window, refilled evenly. Public: unsigned calls
# (per IP); Futures: signed calls (per account).
POOLS: Final[Mapping[str, tuple[float, float]]] = {
    "public": (2000, 2000 / 30),
    "futures": (2000, 2000 / 30),
}
# Every endpoint the client calls: (method, path as the budget names it) → (pool, weight),
# from the venue's API list. A request is signed exactly when its pool is "futures".
ENDPOINTS: Final[Mapping[tuple[str, str], tuple[str, float]]] = {
    ("GET", "/api/v1/contracts/active"): ("public", 3),
    ("GET", "/api/v1/level2/snapshot"): ("public", 3),
    ("POST", "/api/v1/bullet-public"): ("public", 10),
    ("GET", "/api/v1/funding-rate/{symbol}/current"): ("public", 2),
    ("POST", "/api/v1/bullet-private"): ("futures", 10),
    ("POST", ORDER_ENDPOINT): ("futures", 2),
    ("DELETE", "/api/v1/orders/client-order/{clientOid}"): ("futures", 1),
    ("GET", "/api/v1/orders/byClientOid"): ("futures", 5),
    ("GET", "/api/v1/fills"): ("futures", 5),
    ("GET", "/api/v1/positions"): ("futures", 2),
    ("GET", "/api/v1/account-overview"): ("futures", 5),
    ("GET", "/api/v1/trade-fees"): ("futures", 3),
    ("GET", "/api/v2/position/getMarginMode"): ("futures", 2),
    ("POST", "/api/v2/position/changeMarginMode"): ("futures", 2),
    ("GET", "/api/v2/getCrossUserLeverage"): ("futures", 2),
    ("POST", "/api/v2/changeCrossUserLeverage"): ("futures", 2),
}
# The unified margin mode → KuCoin's name of it.
MARGIN_MODE_NAMES: Final[Mapping[str, str]] = {"cross": "CROSS", "isolated": "ISOLATED"}
# Refusals of a setting (whatever the code): reported as BadRequest naming the value.
SETTING_REFUSED: Final = (BadRequest, OrderRejected, OrderNotFound)


class KucoinRules:
    """KuCoin's REST rules (:class:`~arbtrio.venues.rest.RestRules`): the weight pools as
    token buckets (:attr:`buckets`), the ``code: "200000"`` envelope, the error table."""

    def __init__(self) -> None:
        self.buckets = {
            pool: TokenBucket(f"{VENUE}:{pool}", capacity, rate)
            for pool, (capacity, rate) in POOLS.items()
        }

    def budget(self, method: str, path: str) -> Budget:
        pool, weight = ENDPOINTS[(method, path)]
        return ((self.buckets[pool], weight),)

    def observe(self, resp: httpx.Response, path: str, budget: Budget) -> None:
        """Nothing: the pools' headers are read only on a refusal (``retry_after``)."""

    def unwrap(self, resp: httpx.Response, path: str, mutating: bool) -> bytes:
        """The whole body of a ``code: 200000`` answer (decoded by the caller's envelope),
        or the mapped error. Only an order placement is ``placing`` for the error table
        (a cancel is mutating too, but its unknown codes are not rejections)."""
        method = resp.request.method
        placing = mutating and method == "POST" and path == ORDER_ENDPOINT
        try:
            status = codecs.status_decoder.decode(resp.content)
        except (msgspec.DecodeError, msgspec.ValidationError):
            status = None
        if status is not None and str(status.code) == OK and resp.status_code < 300:
            return resp.content
        what = f"{method} {path}"
        if status is None:
            if resp.status_code >= 500 or (placing and resp.status_code < 300):
                raise OutcomeUnknown(VENUE, f"{what}: HTTP {resp.status_code}, unreadable body")
            if resp.status_code == 429:
                raise RateLimited(VENUE, f"{what}: HTTP 429", code="429")
            raise BadRequest(VENUE, f"{what}: HTTP {resp.status_code}, unreadable body")
        raise error_for(
            str(status.code), status.msg, resp.status_code, what, placing=placing,
            retry_after=_retry_after(resp.headers),
        )  # fmt: skip


class KucoinClient:
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
        key_version: str = sign.KEY_VERSION,
        reconcile_every_s: float = 60.0,
        fill_wait_s: float = 5.0,
        max_orders: int = 10_000,
    ) -> None:
        if margin_mode not in ("ISOLATED", "CROSS"):
            raise ValueError(f"kucoin: margin_mode must be ISOLATED or CROSS, got {margin_mode}")
        if key_version not in sign.KEY_VERSIONS:
            raise ValueError(f"kucoin: key_version must be one of {sign.KEY_VERSIONS}")
        self.rest_url = rest_url.rstrip("/")
        self.rules = KucoinRules()
        self.rest = RestClient(VENUE, self.rest_url, self.rules, timeout=request_timeout)
        self.credentials = credentials if credentials and credentials.api_key else None
        self.symbols_hint = tuple(symbols_hint)
        self.wall_clock = wall_clock
        self.welcome_timeout = welcome_timeout
        self.max_session_s = max_session_s
        self.snapshot_retry_s = snapshot_retry_s
        self.first_delta_wait_s = first_delta_wait_s
        self.backoff = backoff
        self.margin_mode = margin_mode
        self.leverage = leverage
        self.key_version = key_version
        self.health = VenueHealth(VENUE)  # both streams count here
        self.books: dict[str, L2Book] = {}
        # What the private stream last pushed; written only by the order protocol.
        self.pushed_balances: dict[str, Balance] = {}  # settle currency -> balance
        self.pushed_positions: dict[str, VenuePosition] = {}  # venue symbol -> position
        # configure_instrument's settings: venue symbol -> (leverage, KuCoin margin mode)
        self.configured: dict[str, tuple[int, str]] = {}
        self.instruments: dict[str, Instrument] = {}  # updated in place: the protocols read it
        self.not_traded: set[str] = set()  # listed but foreign, or held and not listed
        self.tokens_used: list[str] = []  # the bullet tokens connected with (latest 100)
        self._connect_ids = itertools.count(1)
        self.book_feed: KucoinBookFeed | None = None  # the protocol of the last run_books
        self.order_feed = KucoinOrderFeed(
            self.instruments, self.health, welcome_timeout=welcome_timeout,
            max_session_s=max_session_s, reconcile_every_s=reconcile_every_s,
            fill_wait_s=fill_wait_s, max_orders=max_orders, positions=self.pushed_positions,
            balances=self.pushed_balances,
        )  # fmt: skip
        self.order_stream = Stream(
            VENUE, "orders", self.order_feed, self.connect(private=True), self.health,
            fetch=self._requery, backoff=backoff,
        )  # fmt: skip

    @property
    def stream_positions(self) -> dict[str, VenuePosition]:
        """The latest private-stream position push per symbol (:attr:`pushed_positions`)."""
        return self.pushed_positions

    @property
    def stream_balance(self) -> Balance | None:
        """The latest private-stream USDT wallet push (in :attr:`pushed_balances`)."""
        return self.pushed_balances.get(convert.SETTLE)

    # -- REST ------------------------------------------------------------------------------
    def _require_credentials(self) -> Credentials:
        if self.credentials is None:
            raise AuthenticationFailed(VENUE, "no API credentials configured (public data only)")
        return self.credentials

    def _account(self, symbol: str = "") -> KucoinAccount:
        """The signing account; its margin mode and leverage are ``symbol``'s when
        :meth:`configure_instrument` set them, else the client's defaults."""
        leverage, mode = self.configured.get(symbol, (self.leverage, self.margin_mode))
        return KucoinAccount.from_credentials(
            self._require_credentials(), mode, leverage, self.rest.prefix, self.key_version,
        )  # fmt: skip

    def _ts_ms(self) -> int:
        """The signature timestamp (wall clock), taken when the request is built."""
        return int(self.wall_clock() * 1000)

    async def _request(
        self,
        method: str,
        route: str,
        decoder: msgspec.json.Decoder[Envelope[T]],
        what: str,
        *,
        endpoint: str | None = None,
        query: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
        mutating: bool = False,
    ) -> T:
        """One REST call to ``endpoint`` (``route``, the :data:`ENDPOINTS` key, by
        default) with the JSON ``body`` (None: none); the ``data`` of its answer, decoded,
        or the mapped error."""
        pool, _ = ENDPOINTS[(method, route)]
        account = self._account() if pool == "futures" else None
        q = "&".join(f"{k}={quote(v, safe='')}" for k, v in query)
        path = self.rest.prefix + (endpoint or route) + (f"?{q}" if q else "")

        def build() -> PreparedRequest:
            return prepare_request(method, path, body, account=account, ts_ms=self._ts_ms())

        def decode_data(raw: bytes) -> T:
            return decode(decoder, raw, what).data

        return await self.rest.call(method, route, build, decode_data, mutating=mutating)

    async def _instrument(self, symbol: str) -> Instrument:
        """The instrument of ``symbol`` (reloading the list once if unknown); BadRequest if
        the venue has no such tradable contract."""
        if symbol not in self.instruments:
            await self.load_instruments()
        inst = self.instruments.get(symbol)
        if inst is None:
            raise BadRequest(VENUE, f"unknown or untradable contract {symbol!r}")
        return inst

    def _skipped(self, refused: Sequence[str], *, foreign: bool = False, **fields: Any) -> None:
        """Count and log list items left out (``refused``: why each one was)."""
        self.health.skipped += len(refused)
        for reason in refused:
            if foreign:
                log.info("venue.item_foreign", venue=VENUE, reason=reason, **fields)
            else:
                log.warning("venue.item_skipped", venue=VENUE, reason=reason, **fields)

    # -- instruments -----------------------------------------------------------------------
    async def load_instruments(self) -> list[Instrument]:
        """The tradable contracts (item by item: foreign or undecodable ones are skipped and
        counted)."""
        raws = await self._request(
            "GET", "/api/v1/contracts/active", codecs.contracts_decoder, "contracts"
        )
        contracts, refused = decode_items(codecs.contract_item_decoder, raws, "contracts")
        self._skipped(refused)
        loaded: dict[str, Instrument] = {}
        foreign: list[str] = []
        for c in contracts:
            why = convert.foreign_contract(c)
            if why:
                foreign.append(f"{c.symbol}: {why}")
                continue
            try:
                loaded[c.symbol] = convert.instrument_from_contract(c)
            except ValueError as exc:
                self._skipped([f"{c.symbol}: {exc}"])
        self._skipped(foreign, foreign=True)
        self.instruments.clear()
        self.instruments.update(loaded)
        self.not_traded = {reason.partition(":")[0] for reason in foreign}
        return list(loaded.values())

    def hinted_symbols(self) -> list[str]:
        """The venue symbols ``symbols_hint`` names: an instrument matches a hint when its
        asset or its symbol equals it (all instruments without hints). Hints no instrument
        matches are logged and skipped."""
        if not self.symbols_hint:
            return list(self.instruments)
        hints = set(self.symbols_hint)
        matched = [i for i in self.instruments.values() if i.symbol in hints or i.asset in hints]
        unknown = hints - {i.symbol for i in matched} - {i.asset for i in matched}
        if unknown:
            log.info("venue.hints_unmatched", venue=VENUE, hints=sorted(unknown))
        return [i.symbol for i in matched]

    # -- streams ---------------------------------------------------------------------------
    def connect(self, *, private: bool) -> Connect:
        """The connect step of a stream: a fresh bullet token, then its instance server
        (``info``: the :class:`~arbtrio.venues.kucoin.codecs.InstanceServer`)."""

        @asynccontextmanager
        async def session() -> AsyncIterator[tuple[WebSocketConnection, Any]]:
            token, server = await self._bullet(private)
            separator = "&" if "?" in server.endpoint else "?"
            connect_id = f"{VENUE}{next(self._connect_ids)}"
            self._remember_token(token)
            url = f"{server.endpoint}{separator}token={token}&connectId={connect_id}"
            async with open_websocket(url) as ws:
                yield ws, server

        return session

    def _remember_token(self, token: str) -> None:
        """Record a token connected with in :attr:`tokens_used` (the latest 100 kept)."""
        self.tokens_used.append(token)
        del self.tokens_used[:-TOKENS_KEPT]

    async def _bullet(self, private: bool) -> tuple[str, codecs.InstanceServer]:
        """A fresh token and the instance server to connect to (never reused)."""
        route = "/api/v1/bullet-private" if private else "/api/v1/bullet-public"
        bullet = await self._request("POST", route, codecs.bullet_decoder, "bullet")
        if not bullet.instanceServers:
            raise MalformedMessage(VENUE, "bullet: no instance servers")
        return bullet.token, bullet.instanceServers[0]

    async def run_books(
        self,
        symbols: Sequence[str],
        on_update: BookCallback,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Maintain the books of ``symbols`` until cancelled (:class:`KucoinBookFeed`)."""
        instruments = {s: await self._instrument(s) for s in symbols}
        feed = KucoinBookFeed(
            self.books, instruments, self.health, welcome_timeout=self.welcome_timeout,
            max_session_s=self.max_session_s, snapshot_retry_s=self.snapshot_retry_s,
            first_delta_wait_s=self.first_delta_wait_s,
        )  # fmt: skip
        self.book_feed = feed
        stream = Stream(
            VENUE, "books", feed, self.connect(private=False), self.health,
            on_change=on_update, fetch=self._fetch_snapshot, backoff=self.backoff,
        )  # fmt: skip
        await stream.run(task_status=task_status)

    async def _fetch_snapshot(self, key: Hashable) -> codecs.Level2Snapshot:
        return await self._request(
            "GET", "/api/v1/level2/snapshot", codecs.snapshot_decoder, "level2 snapshot",
            query=[("symbol", str(key))],
        )  # fmt: skip

    async def run_order_stream(
        self,
        send: trio.MemorySendChannel[OrderEvent],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Deliver the account's order events into ``send`` (:class:`KucoinOrderFeed`)."""
        self._require_credentials()
        if not self.instruments:
            await self.load_instruments()
        self.order_stream.post(FeeRates(await self._fee_rates(self.hinted_symbols())))
        self.order_stream.deliver = send
        await self.order_stream.run(task_status=task_status)

    async def _fee_rates(self, symbols: Sequence[str]) -> dict[str, tuple[Decimal, Decimal]]:
        """The account's own rates (``/api/v1/trade-fees``), else the contract's."""
        rates: dict[str, tuple[Decimal, Decimal]] = {}
        for symbol in symbols:
            inst = self.instruments[symbol]
            try:
                fees = await self._request(
                    "GET", "/api/v1/trade-fees", codecs.trade_fees_decoder, "trade fees",
                    query=[("symbol", symbol)],
                )  # fmt: skip
                rates[symbol] = (fees.takerFeeRate, fees.makerFeeRate)
            except (BadRequest, MalformedMessage, OrderNotFound) as exc:
                log.info("venue.fee_rates_fallback", venue=VENUE, symbol=symbol, error=str(exc))
                rates[symbol] = (inst.taker_fee, inst.maker_fee)
        return rates

    async def _requery(self, key: Hashable) -> OrderReport:
        assert isinstance(key, Requery)
        return await self.query_order(key.symbol, key.client_order_id)

    # -- orders ----------------------------------------------------------------------------
    async def place_order(self, request: OrderRequest) -> OrderAck:
        """``POST /api/v1/orders`` (:func:`prepare_order`, with the symbol's margin mode and
        leverage); the order protocol is told."""
        account = self._account(request.symbol)
        inst = await self._instrument(request.symbol)
        cid = request.client_order_id

        def build() -> PreparedRequest:
            return prepare_order(request, inst, account, self._ts_ms())

        def decode_created(raw: bytes) -> codecs.OrderCreated:
            return decode(codecs.order_created_decoder, raw, "order").data

        sent_at = trio.current_time()
        created = await self.rest.call("POST", ORDER_ENDPOINT, build, decode_created, mutating=True)
        self.order_stream.post(
            Placed(cid, inst.symbol, venue_order_id=created.orderId, sent_at=sent_at)
        )
        return OrderAck(
            venue=VENUE, client_order_id=cid, venue_order_id=created.orderId,
            ts=trio.current_time(),
        )  # fmt: skip

    async def cancel_order(self, symbol: str, client_order_id: str) -> None:
        self._require_credentials()
        try:
            await self._request(
                "DELETE", "/api/v1/orders/client-order/{clientOid}",
                codecs.cancelled_decoder, "cancel",
                endpoint=f"/api/v1/orders/client-order/{quote(client_order_id, safe='')}",
                query=[("symbol", symbol)], mutating=True,
            )  # fmt: skip
        except (OrderRejected, BadRequest) as exc:
            if exc.code == NOT_CANCELABLE:
                return  # already done: nothing to cancel
            raise

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        self._require_credentials()
        inst = await self._instrument(symbol)
        detail = await self._request(
            "GET", "/api/v1/orders/byClientOid", codecs.order_detail_decoder, "order",
            query=[("clientOid", client_order_id)],
        )  # fmt: skip
        if detail is None:
            raise OrderNotFound(VENUE, f"no order {client_order_id!r} on {symbol}")
        fills = await self._fills(detail) if convert.filled_lots(detail) > 0 else []
        return convert.order_report(inst, detail, fills, client_order_id, trio.current_time())

    async def _fills(self, order: codecs.OrderDetail) -> list[codecs.TradeFill]:
        """Every fill of ``order`` (``GET /api/v1/fills?orderId=``, page by page; items of
        other orders, repeated or undecodable ones are skipped and counted)."""
        fills: dict[str, codecs.TradeFill] = {}
        page_no = 1
        while True:
            page = await self._request(
                "GET", "/api/v1/fills", codecs.fills_decoder, "fills",
                query=[("orderId", order.id), ("currentPage", str(page_no)),
                       ("pageSize", str(FILLS_PAGE_SIZE))],
            )  # fmt: skip
            items, refused = decode_items(codecs.trade_fill_item_decoder, page.items, "fills")
            new = 0
            for t in items:
                if t.orderId != order.id:
                    refused.append(f"fill {t.tradeId} of order {t.orderId}")
                elif t.tradeId not in fills:
                    fills[t.tradeId] = t
                    new += 1
            self._skipped(refused, order=order.id)
            last = page.totalPage or 1
            if page_no >= min(last, MAX_FILLS_PAGES) or not new:
                return list(fills.values())
            page_no += 1

    # -- account ---------------------------------------------------------------------------
    async def configure_instrument(
        self, symbol: str, *, leverage: int, margin_mode: MarginMode
    ) -> None:
        """Set ``symbol``'s margin mode and leverage, as KuCoin allows (``specs/014``):

        * margin mode: read (``GET /api/v2/position/getMarginMode``), switched only when it
          differs (``POST /api/v2/position/changeMarginMode``; the venue refuses a switch
          while the symbol has a position or active orders);
        * cross: the symbol's leverage likewise (``GET /api/v2/getCrossUserLeverage``,
          ``POST /api/v2/changeCrossUserLeverage``);
        * isolated: nothing to set on the venue (leverage is per order): checked against
          the contract's ``maxLeverage``, then sent with every opening order.

        A setting already in place sends nothing. A refusal (the venue's, or a leverage
        outside 1..``maxLeverage`` for isolated) raises BadRequest naming the value; the
        settings apply to later orders only once every step succeeded."""
        self._require_credentials()
        mode = MARGIN_MODE_NAMES.get(margin_mode)
        if mode is None:
            raise BadRequest(VENUE, f"{symbol}: unknown margin mode {margin_mode!r}")
        if isinstance(leverage, bool) or not isinstance(leverage, int) or leverage < 1:
            raise BadRequest(VENUE, f"{symbol}: leverage must be a whole number >= 1: {leverage!r}")
        inst = await self._instrument(symbol)
        if mode == "ISOLATED" and inst.max_leverage is not None and leverage > inst.max_leverage:
            raise BadRequest(
                VENUE, f"{symbol}: leverage {leverage} is above maxLeverage {inst.max_leverage}"
            )
        await self._set_margin_mode(symbol, mode)
        if mode == "CROSS":
            await self._set_cross_leverage(symbol, leverage)
        self.configured[symbol] = (leverage, mode)
        log.info("venue.configured", venue=VENUE, symbol=symbol, margin_mode=mode,
                 leverage=leverage)  # fmt: skip

    async def _set_margin_mode(self, symbol: str, mode: str) -> None:
        current = await self._request(
            "GET", "/api/v2/position/getMarginMode", codecs.margin_mode_decoder, "margin mode",
            query=[("symbol", symbol)],
        )  # fmt: skip
        if current.marginMode == mode:
            return
        change = codecs.encode(codecs.ChangeMarginMode(symbol=symbol, marginMode=mode))
        try:
            answer = await self._request(
                "POST", "/api/v2/position/changeMarginMode", codecs.margin_mode_decoder,
                "change margin mode", body=change, mutating=True,
            )  # fmt: skip
        except SETTING_REFUSED as exc:
            raise BadRequest(
                VENUE, f"{symbol}: margin mode {mode} refused: {exc.message}", code=exc.code
            ) from exc
        if answer.marginMode != mode:
            raise BadRequest(VENUE, f"{symbol}: margin mode {mode} not applied "
                                    f"(the venue answers {answer.marginMode})")  # fmt: skip

    async def _set_cross_leverage(self, symbol: str, leverage: int) -> None:
        current = await self._request(
            "GET", "/api/v2/getCrossUserLeverage", codecs.cross_leverage_decoder,
            "cross leverage", query=[("symbol", symbol)],
        )  # fmt: skip
        if codecs.amount(current.leverage, "cross leverage") == leverage:
            return
        change = codecs.encode(codecs.ChangeCrossLeverage(symbol=symbol, leverage=str(leverage)))
        try:
            changed = await self._request(
                "POST", "/api/v2/changeCrossUserLeverage", codecs.changed_decoder,
                "change cross leverage", body=change, mutating=True,
            )  # fmt: skip
        except SETTING_REFUSED as exc:
            raise BadRequest(
                VENUE, f"{symbol}: cross leverage {leverage} refused: {exc.message}",
                code=exc.code,
            ) from exc  # fmt: skip
        if bytes(changed).strip() == b"false":
            raise BadRequest(VENUE, f"{symbol}: cross leverage {leverage} not applied")

    async def fetch_balances(self) -> list[Balance]:
        acct = await self._request(
            "GET", "/api/v1/account-overview", codecs.account_decoder, "account overview",
            query=[("currency", "USDT")],
        )  # fmt: skip
        return [
            Balance(
                venue=VENUE, currency=acct.currency, total=acct.accountEquity,
                available=acct.availableBalance,
            )
        ]  # fmt: skip

    async def fetch_positions(self) -> list[VenuePosition]:
        """The account's open positions in the contracts arbtrio trades, with the venue's
        ``markPrice`` and ``liquidationPrice`` (None when it reports none: null, ``""`` or
        0). A position in any other contract (inverse, USDC-settled, delisted) or one that
        does not decode is skipped, counted in ``health.skipped`` and logged; the others are
        returned."""
        raws = await self._request(
            "GET", "/api/v1/positions", codecs.positions_decoder, "positions"
        )
        positions, refused = decode_items(codecs.position_item_decoder, raws, "positions")
        self._skipped(refused)
        held = [p for p in positions if p.currentQty != 0]
        unknown = {p.symbol for p in held} - set(self.instruments) - self.not_traded
        if unknown:  # a contract listed since the last load is known once reloaded
            await self.load_instruments()
            self.not_traded |= unknown - set(self.instruments)  # delisted: not asked again
        result = []
        foreign: list[str] = []
        broken: list[str] = []
        for p in held:
            inst = self.instruments.get(p.symbol)
            if inst is None:
                foreign.append(f"{p.symbol}: {p.currentQty} lots, not a traded contract")
                continue
            try:
                result.append(convert.reported_position(inst, p))
            except MalformedMessage as exc:
                broken.append(exc.message)
        self._skipped(broken)
        if foreign:
            self.health.skipped += len(foreign)
            log.warning("venue.positions_foreign", venue=VENUE, positions=foreign)
        return result

    async def fetch_funding(self, symbols: Sequence[str]) -> list[FundingRate]:
        result = []
        for symbol in symbols:
            f = await self._request(
                "GET", "/api/v1/funding-rate/{symbol}/current", codecs.funding_decoder,
                "funding rate", endpoint=f"/api/v1/funding-rate/{symbol}/current",
            )  # fmt: skip
            next_ts = None
            if f.fundingTime:  # wall-clock ms → this runtime's clock
                next_ts = trio.current_time() + (f.fundingTime / 1000 - self.wall_clock())
            result.append(
                FundingRate(
                    venue=VENUE, symbol=symbol, rate=f.value,
                    interval_hours=max(
                        1, round((f.granularity or convert.DEFAULT_FUNDING_MS) / 3_600_000)
                    ),
                    next_funding_ts=next_ts,
                )
            )  # fmt: skip
        return result

    async def aclose(self) -> None:
        await self.rest.aclose()


def _retry_after(headers: httpx.Headers) -> float | None:
    """``gw-ratelimit-reset`` (ms until the pool resets), when present."""
    value = headers.get("gw-ratelimit-reset")
    try:
        return max(0.0, min(60.0, float(value) / 1000)) if value else None
    except ValueError:
        return None
