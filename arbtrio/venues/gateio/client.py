"""The Gate.io API v4 (USDT perpetual futures) venue client: REST through
:class:`~arbtrio.venues.rest.RestClient`, streams through :class:`~arbtrio.venues.stream.Stream`.
Implements :class:`arbtrio.venues.base.VenueClient`; the rules are in ``specs/013-gateio.md``.

* Instruments: ``GET /futures/usdt/contracts``; sizes are contracts (× ``quanto_multiplier``
  = base units), converted only in :mod:`arbtrio.venues.gateio.convert`.
* Books: :class:`~arbtrio.venues.gateio.feed.GateBookFeed` (``futures.order_book_update`` +
  REST snapshots ``with_id=true``, fetched when the protocol asks).
* Orders: ``POST /futures/usdt/orders`` (signed contracts, ``text`` = the client order id,
  ``tif`` ioc), built by :func:`~arbtrio.venues.gateio.prepare.prepare_order`; query and
  cancel by the numeric id when this client placed the order (the ``text`` lookup only
  works up to 60 s after an order finishes), else by ``text``.
* Private stream: :class:`~arbtrio.venues.gateio.feed.GateOrderFeed`; every order placed
  here is posted to it with its venue order id (:class:`~arbtrio.venues.tracking.Placed`:
  fills pushed before the answer wait for it), and its REST re-queries come back here as
  fetches (``query_order``).
* Margin: :meth:`GateClient.configure_instrument` (``positions/cross_mode``, then
  ``positions/{contract}/leverage``; the answer must report the setting). Positions carry
  the venue's mark and liquidation price; ``pushed_positions`` / ``pushed_balances`` are
  the private stream's ``futures.positions`` / ``futures.balances``.
* Lists the venue answers (contracts, positions, orders, trades) decode item by item: an
  item that does not decode, or one foreign to this client (a position in a contract it
  does not trade, another order's trade), is skipped and counted in ``health.skipped``,
  never failing the call (``specs/013-gateio.md``, "Decoding").
* Rate limits and errors: :class:`GateRules` (a token bucket per endpoint class, see
  :data:`RATE_LIMITS`; non-2xx answers mapped by :mod:`arbtrio.venues.gateio.errors`).
* Symbol hints: assets (``"BTC"``) or contracts (``"BTC_USDT"``), resolved against the
  loaded instruments (:attr:`GateClient.hinted_symbols`); unknown hints are logged, never
  an error.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, TypeVar

import httpx
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
    MarginMode,
    OrderNotFound,
    OrderRejected,
    PreparedRequest,
    VenueHealth,
)
from arbtrio.venues.gateio import codecs, convert
from arbtrio.venues.gateio.codecs import VENUE
from arbtrio.venues.gateio.errors import ORDER_FINISHED, error_for
from arbtrio.venues.gateio.feed import GateBookFeed, GateOrderFeed, MarginInUse
from arbtrio.venues.gateio.prepare import (
    ORDER_ENDPOINT,
    GateAccount,
    prepare_order,
    prepare_request,
)
from arbtrio.venues.ratelimit import TokenBucket
from arbtrio.venues.reconnect import Backoff
from arbtrio.venues.rest import Budget, RestClient
from arbtrio.venues.stream import Stream, websocket
from arbtrio.venues.tracking import Placed, Requery
from arbtrio.venues.wire import open_websocket

__all__ = ["DEFAULT_REST_URL", "DEFAULT_WS_URL", "RATE_LIMITS", "GateClient", "GateRules"]

log = structlog.get_logger("arbtrio.venues.gateio")

DEFAULT_REST_URL = "https://api.gateio.ws/api/v4"
DEFAULT_WS_URL = "wss://fx-ws.gateio.ws/v4/ws/usdt"

# Endpoint classes → (capacity, refill per second), from the v4.75 frequency-limit table:
# public 200 / 10 s per endpoint; orders place+amend 100 /s; cancel 200 /s; other private
# 200 / 10 s per endpoint. A bucket admits up to capacity + rate × W requests in any W
# seconds, so each gets half of N as its burst and N / (2 W) as its rate: never more than N
# in any window, however Gate counts it.
RATE_LIMITS: dict[str, tuple[float, float]] = {
    "public": (100, 10.0),
    "place": (50, 50.0),
    "cancel": (100, 100.0),
    "private": (100, 10.0),
}

LEVERAGE_ENDPOINT = "/futures/usdt/positions/{}/leverage"  # ``{}``: the contract
CROSS_MODE_ENDPOINT = "/futures/usdt/positions/cross_mode"
MARGIN_MODES = {"cross": "CROSS", "isolated": "ISOLATED"}  # ours → cross_mode's ``mode``

# (method, endpoint) → rate class; ``{}`` stands for the last path segment (an id or a
# contract). "place" and "cancel" are one bucket each (the venue counts them in total);
# "public" and "private" are one bucket per endpoint. An endpoint not listed here gets its
# own "private" bucket (Gate's public and other-private limits are the same).
ENDPOINT_CLASSES: Mapping[tuple[str, str], str] = {
    ("GET", "/futures/usdt/contracts"): "public",
    ("GET", "/futures/usdt/contracts/{}"): "public",
    ("GET", "/futures/usdt/order_book"): "public",
    ("POST", ORDER_ENDPOINT): "place",
    ("DELETE", "/futures/usdt/orders/{}"): "cancel",
    ("GET", "/futures/usdt/orders/{}"): "private",
    ("GET", ORDER_ENDPOINT): "private",
    ("GET", "/futures/usdt/my_trades"): "private",
    ("GET", "/futures/usdt/accounts"): "private",
    ("GET", "/futures/usdt/positions"): "private",
    ("GET", "/account/detail"): "private",
    ("POST", LEVERAGE_ENDPOINT): "private",
    ("POST", CROSS_MODE_ENDPOINT): "private",
}

DEFAULT_BACKOFF = Backoff()
NO_CHANGE = "NO_CHANGE"  # Gate's label for a setting already in place: success here
MAX_ORDER_IDS = 10_000  # client id → numeric id of orders placed here, oldest forgotten
_SAFE_QUERY = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-.!,")
T = TypeVar("T")


class GateRules:
    """Gate.io's REST rules (:class:`~arbtrio.venues.rest.RestRules`): one token bucket per
    endpoint class (:data:`ENDPOINT_CLASSES`); a 2xx answer's body is the payload (no
    envelope), anything else the error its label maps to, with ``retry_after`` from
    ``X-Gate-RateLimit-Reset-Timestamp``.

    ``buckets`` maps ``"place"``, ``"cancel"``, ``"public:<endpoint>"`` and
    ``"private:<endpoint>"`` to the buckets made so far."""

    def __init__(self, wall_clock: Callable[[], float]) -> None:
        self.wall_clock = wall_clock
        self.buckets: dict[str, TokenBucket] = {}
        self._budgets: dict[tuple[str, str], Budget] = {}

    def budget(self, method: str, path: str) -> Budget:
        """The bucket of the request's endpoint class (one bucket, weight 1)."""
        budget = self._budgets.get((method, path))  # endpoints without an id
        if budget is None:
            templates = _templates(path)
            budget = next(
                (b for t in templates if (b := self._budgets.get((method, t))) is not None), None
            )
            if budget is None:
                budget = self._new_budget(method, path, templates)
        return budget

    def _new_budget(self, method: str, path: str, templates: Sequence[str]) -> Budget:
        endpoint = path
        kind = ENDPOINT_CLASSES.get((method, path))
        if kind is None:
            for template in templates:
                if (method, template) in ENDPOINT_CLASSES:
                    endpoint, kind = template, ENDPOINT_CLASSES[(method, template)]
                    break
        if kind is None:
            kind = "private"
        key = kind if kind in ("place", "cancel") else f"{kind}:{endpoint}"
        bucket = self.buckets.get(key)
        if bucket is None:
            capacity, rate = RATE_LIMITS[kind]
            bucket = self.buckets[key] = TokenBucket(f"{VENUE}:{key}", capacity, rate)
        budget: Budget = ((bucket, 1.0),)
        self._budgets[(method, endpoint)] = budget
        return budget

    def observe(self, resp: httpx.Response, path: str, budget: Budget) -> None:
        """Nothing: the buckets are sized to the documented limits (the limit headers are
        read only on a refusal, for ``retry_after``)."""

    def unwrap(self, resp: httpx.Response, path: str, mutating: bool) -> bytes:
        """The body of a 2xx answer, or the mapped error (a placement's refusals are order
        rejections; see :func:`~arbtrio.venues.gateio.errors.error_for`)."""
        if resp.status_code < 300:
            return resp.content
        raise error_for(
            resp.status_code,
            resp.content,
            f"{_method_of(resp)} {path}",
            placing=mutating and path == ORDER_ENDPOINT,  # the one mutating POST there
            retry_after=_retry_after(resp.headers, self.wall_clock()),
        )


def _templates(path: str) -> tuple[str, str]:
    """The endpoint templates ``path`` may be an instance of: its last segment as ``{}``
    (``.../orders/123``), or the one before it (``.../positions/BTC_USDT/leverage``)."""
    head, _, last = path.rpartition("/")
    parent = head.rpartition("/")[0]
    return (f"{head}/{{}}", f"{parent}/{{}}/{last}")


def _object(into: type[T], what: str) -> Callable[[Any], T]:
    def decode(raw: Any) -> T:
        return codecs.decode_object(into, raw, what)

    return decode


def _items(into: type[T], what: str) -> Callable[[Any], codecs.Items[T]]:
    def decode(raw: Any) -> codecs.Items[T]:
        return codecs.decode_items(into, raw, what)

    return decode


def _decode_snapshot(raw: Any) -> codecs.OrderBookSnapshot:
    return codecs.decode(codecs.snapshot_decoder, raw, "order_book")


_decode_contracts = _items(codecs.Contract, "contracts")
_decode_contract = _object(codecs.Contract, "contract")
_decode_order = _object(codecs.FuturesOrder, "order")
_decode_orders = _items(codecs.FuturesOrder, "orders")
_decode_trades = _items(codecs.MyTrade, "my_trades")
_decode_account = _object(codecs.Account, "accounts")
_decode_positions = _items(codecs.Position, "positions")
_decode_position = _object(codecs.Position, "position")
_decode_detail = _object(codecs.AccountDetail, "account detail")


def _ignore(raw: Any) -> None:
    return None


class GateClient:
    """One Gate.io account (or public data only when ``credentials`` is None)."""

    name = VENUE

    def __init__(
        self,
        *,
        rest_url: str = DEFAULT_REST_URL,
        ws_url: str = DEFAULT_WS_URL,
        credentials: Credentials | None = None,
        symbols_hint: Sequence[str] = (),
        wall_clock: Callable[[], float] = time.time,
        request_timeout: float = 5.0,
        ping_interval: float = 10.0,
        idle_timeout: float = 30.0,
        depth: int = 50,
        frequency: str = "100ms",
        snapshot_retry_s: float = 0.25,
        first_delta_wait_s: float = 1.0,
        backoff: Backoff = DEFAULT_BACKOFF,
        decimal_sizes: bool = True,
    ) -> None:
        if depth not in (20, 50, 100):
            raise ValueError(f"gateio: depth must be 20, 50 or 100, got {depth}")
        self.rest_url = rest_url.rstrip("/")
        self.ws_url = ws_url
        self._creds = credentials if credentials and credentials.api_key else None
        self.symbols_hint = tuple(symbols_hint)
        self._wall = wall_clock
        self.ping_interval = ping_interval
        self.idle_timeout = idle_timeout
        self.depth = depth
        self.frequency = frequency
        self.snapshot_retry_s = snapshot_retry_s
        self.first_delta_wait_s = first_delta_wait_s
        self.backoff = backoff
        self.decimal_sizes = decimal_sizes
        self.rules = GateRules(wall_clock)
        self.rest = RestClient(VENUE, self.rest_url, self.rules, timeout=request_timeout)
        self.health = VenueHealth(VENUE)  # both streams (reconnects, failures, messages)
        self.books: dict[str, L2Book] = {}
        self.instruments: dict[str, Instrument] = {}  # contract → instrument, updated in place
        self.hinted_symbols: list[str] = []  # the hints as contracts (after load_instruments)
        self._uid: int | None = None
        self._order_ids: OrderedDict[str, str] = OrderedDict()  # placed here: text → id
        self.max_order_ids = MAX_ORDER_IDS
        self._untradable: frozenset[str] = frozenset()  # listed, not tradable (last load)
        self.orders = GateOrderFeed(
            self._creds or Credentials(), self.instruments, self.health, wall_clock,
            ping_interval=ping_interval, idle_timeout=idle_timeout,
        )  # fmt: skip
        self.order_stream = Stream(
            VENUE, "orders", self.orders, self._private_connect, self.health,
            fetch=self._requery, backoff=backoff,
        )  # fmt: skip

        # What the private stream pushes (the order protocol's own maps, written only by it):
        # ``futures.balances`` per settle currency, ``futures.positions`` per traded contract.
        self.pushed_balances: dict[str, Balance] = self.orders.balances
        self.pushed_positions: dict[str, VenuePosition] = self.orders.positions

    @property
    def stream_positions(self) -> dict[str, VenuePosition]:
        """The latest private-stream position push per contract (``pushed_positions``)."""
        return self.orders.positions

    @property
    def stream_balance(self) -> Balance | None:
        """The latest private-stream USDT balance push (``pushed_balances["USDT"]``)."""
        return self.orders.balance

    # -- plumbing --------------------------------------------------------------------------
    def _require_credentials(self) -> Credentials:
        if self._creds is None:
            raise AuthenticationFailed(VENUE, "no API credentials configured (public data only)")
        return self._creds

    def _account(self) -> GateAccount:
        return GateAccount.from_credentials(
            self._require_credentials(), self.rest.prefix, self.decimal_sizes
        )

    def _ts_ms(self) -> int:
        return int(self._wall() * 1000)

    def _skipped(self, what: str, reasons: Sequence[str]) -> None:
        """Count and log the items of a list answer that were left out (``health.skipped``):
        undecodable, or foreign to what this client trades."""
        if reasons:
            self.health.skipped += len(reasons)
            log.warning("venue.items_skipped", venue=VENUE, what=what, count=len(reasons),
                        first=reasons[0])  # fmt: skip

    async def _request(
        self,
        method: str,
        endpoint: str,
        decode: Callable[[Any], T],
        *,
        query: Sequence[tuple[str, str]] = (),
        body: object | None = None,
        signed: bool = False,
        mutating: bool = False,
    ) -> T:
        """One REST call to ``endpoint`` (without the ``/api/v4`` prefix): the decoded 2xx
        body, or the unified error. Query values outside ``[0-9A-Za-z_.!,-]`` are refused
        (Gate signs the query as sent, never encoded)."""
        for key, value in query:
            if not set(value) <= _SAFE_QUERY:
                raise BadRequest(VENUE, f"query parameter {key!r} has unsafe characters")
        q = "&".join(f"{k}={v}" for k, v in query)
        content = codecs.encode(body) if body is not None else None
        account = self._account() if signed else None
        path = self.rest.prefix + endpoint

        def build() -> PreparedRequest:
            return prepare_request(
                method, path, q, content, decimal_sizes=self.decimal_sizes, account=account,
                ts_ms=self._ts_ms(),
            )  # fmt: skip

        return await self.rest.call(method, endpoint, build, decode, mutating=mutating)

    async def _instrument(self, symbol: str) -> Instrument:
        """The instrument of ``symbol`` (reloading the list once if unknown); BadRequest if
        the venue has no such tradable contract."""
        if symbol not in self.instruments:
            await self.load_instruments()
        inst = self.instruments.get(symbol)
        if inst is None:
            raise BadRequest(VENUE, f"unknown or untradable contract {symbol!r}")
        return inst

    # -- instruments -----------------------------------------------------------------------
    async def load_instruments(self) -> list[Instrument]:
        """Every tradable ``*_USDT`` contract; also resolves the symbol hints. A contract
        that does not decode (or describes no valid instrument) is skipped and counted; the
        untradable ones (status, delisting, not USDT) are left out uncounted."""
        contracts = await self._request("GET", "/futures/usdt/contracts", _decode_contracts)
        self._skipped("contracts", contracts.errors)
        loaded: dict[str, Instrument] = {}
        invalid: list[str] = []
        for c in contracts.items:
            if not convert.is_tradable_contract(c):
                continue
            try:
                loaded[c.name] = convert.instrument_from_contract(c)
            except ValueError as exc:
                invalid.append(f"contract {c.name}: {exc}")
        self._skipped("contracts", invalid)
        self._untradable = frozenset(c.name for c in contracts.items) - loaded.keys()
        self.instruments.clear()  # in place: the order stream reads the same map
        self.instruments.update(loaded)
        self.hinted_symbols, unknown = convert.symbols_for_hints(loaded.values(), self.symbols_hint)
        if unknown:
            log.info("gateio.hints.unknown", hints=unknown, known=self.hinted_symbols)
        return list(loaded.values())

    # -- books -----------------------------------------------------------------------------
    async def run_books(
        self,
        symbols: Sequence[str],
        on_update: BookCallback,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Maintain the books of ``symbols`` until cancelled (:class:`GateBookFeed`)."""
        instruments = {s: await self._instrument(s) for s in symbols}
        feed = GateBookFeed(
            self.books, instruments, self.health, self._wall,
            depth=self.depth, frequency=self.frequency, ping_interval=self.ping_interval,
            idle_timeout=self.idle_timeout, snapshot_retry_s=self.snapshot_retry_s,
            first_delta_wait_s=self.first_delta_wait_s,
        )  # fmt: skip
        stream = Stream(
            VENUE, "books", feed, websocket(self.ws_url), self.health,
            on_change=on_update, fetch=self._fetch_snapshot, backoff=self.backoff,
        )  # fmt: skip
        await stream.run(task_status=task_status)

    async def _fetch_snapshot(self, key: Hashable) -> codecs.OrderBookSnapshot:
        """The book protocol's ``Fetch(contract)``: the REST snapshot with its id."""
        query = [
            ("contract", str(key)),
            ("interval", "0"),
            ("limit", str(self.depth)),
            ("with_id", "true"),
        ]
        return await self._request("GET", "/futures/usdt/order_book", _decode_snapshot, query=query)

    # -- orders ----------------------------------------------------------------------------
    async def place_order(self, request: OrderRequest) -> OrderAck:
        """``POST /futures/usdt/orders``; the placement is posted to the order stream."""
        account = self._account()
        inst = await self._instrument(request.symbol)
        cid = request.client_order_id

        def build() -> PreparedRequest:
            return prepare_order(request, inst, account, self._ts_ms())

        sent_at = trio.current_time()
        order = await self.rest.call("POST", ORDER_ENDPOINT, build, _decode_order, mutating=True)
        venue_order_id = str(order.id)
        self._order_ids[cid] = venue_order_id
        self._order_ids.move_to_end(cid)
        while len(self._order_ids) > self.max_order_ids:
            self._order_ids.popitem(last=False)
        self.order_stream.post(
            Placed(cid, inst.symbol, venue_order_id=venue_order_id, sent_at=sent_at)
        )
        return OrderAck(
            venue=VENUE, client_order_id=cid, venue_order_id=venue_order_id,
            ts=trio.current_time(),
        )  # fmt: skip

    def _order_ref(self, cid: str) -> str:
        """The numeric id when this client placed the order (text lookups expire 60 s after
        an order finishes), else the text itself."""
        return self._order_ids.get(cid) or cid

    async def cancel_order(self, symbol: str, client_order_id: str) -> None:
        self._require_credentials()
        endpoint = f"/futures/usdt/orders/{self._order_ref(client_order_id)}"
        try:
            await self._request("DELETE", endpoint, _ignore, signed=True, mutating=True)
        except BadRequest as exc:
            if exc.code == ORDER_FINISHED:
                return  # already terminal: nothing to cancel
            raise
        except OrderNotFound:
            raise OrderNotFound(VENUE, f"no order {client_order_id!r} on {symbol}") from None

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        self._require_credentials()
        inst = await self._instrument(symbol)
        ref = self._order_ref(client_order_id)
        try:
            order = await self._request(
                "GET", f"/futures/usdt/orders/{ref}", _decode_order, signed=True
            )
        except OrderNotFound:
            # Gate resolves a text only until 60 s after the order finished: search the
            # contract's recent finished orders (e.g. after a restart).
            found = await self._find_finished(symbol, client_order_id)
            if found is None:
                raise OrderNotFound(VENUE, f"no order {client_order_id!r} on {symbol}") from None
            order = found
        trades: list[codecs.MyTrade] = []
        if abs(order.size) != abs(order.left):
            query = [("contract", symbol), ("order", str(order.id))]
            rows = await self._request(
                "GET", "/futures/usdt/my_trades", _decode_trades, query=query, signed=True
            )
            self._skipped("my_trades", rows.errors)
            trades, foreign = convert.trades_of(order, rows.items)
            self._skipped("my_trades", foreign)
        return convert.order_report(inst, order, trades, trio.current_time())

    async def _find_finished(self, symbol: str, text: str) -> codecs.FuturesOrder | None:
        query = [("contract", symbol), ("status", "finished"), ("limit", "100")]
        orders = await self._request(
            "GET", ORDER_ENDPOINT, _decode_orders, query=query, signed=True
        )
        self._skipped("orders", orders.errors)
        self._skipped("orders", [f"order {o.id} of {o.contract}" for o in orders.items
                                 if o.contract != symbol])  # fmt: skip
        return next((o for o in orders.items if o.text == text and o.contract == symbol), None)

    # -- account ---------------------------------------------------------------------------
    async def fetch_balances(self) -> list[Balance]:
        """``GET /futures/usdt/accounts``: the futures account's total and available. The
        margin in use (total − available) is posted to a running order stream, which
        subtracts it from the balances it is pushed (the push carries no available)."""
        account = await self._request("GET", "/futures/usdt/accounts", _decode_account, signed=True)
        currency = (account.currency or "USDT").upper()
        if self.order_stream.deliver is not None:  # the order stream runs (or will again)
            in_use = max(Decimal(0), account.total - account.available)
            self.order_stream.post(MarginInUse(currency, in_use))
        return [
            Balance(
                venue=VENUE, currency=currency, total=account.total, available=account.available
            )
        ]

    # -- leverage and margin mode ----------------------------------------------------------
    async def configure_instrument(
        self, symbol: str, *, leverage: int, margin_mode: MarginMode
    ) -> None:
        """Set ``symbol``'s margin mode, then its leverage, as Gate documents them (single
        position mode): ``POST /futures/usdt/positions/cross_mode`` ``{"mode": "CROSS" |
        "ISOLATED", "contract"}``, then ``POST /futures/usdt/positions/{contract}/leverage``
        with ``leverage=N`` (isolated) or ``leverage=0&cross_leverage_limit=N`` (cross).
        Idempotent: a setting already in place answers 200 (or ``NO_CHANGE``), success.
        The leverage answer (the position) must report the setting asked for. Raises
        BadRequest naming the value for a leverage below 1 or above the contract's
        ``leverage_max`` (before sending) and for every venue refusal (a mode change with
        an open position, an account in dual mode: ``POSITION_DUAL_MODE``, …); rate limits,
        transport errors and unknown outcomes as every other call."""
        self._require_credentials()
        inst = await self._instrument(symbol)
        mode = MARGIN_MODES.get(margin_mode)
        if mode is None:
            raise BadRequest(VENUE, f"{symbol}: unknown margin mode {margin_mode!r}")
        if isinstance(leverage, bool) or not isinstance(leverage, int) or leverage < 1:
            raise BadRequest(VENUE, f"{symbol}: leverage must be an integer >= 1, got {leverage!r}")
        if inst.max_leverage is not None and leverage > inst.max_leverage:
            raise BadRequest(
                VENUE, f"{symbol}: leverage {leverage} above the contract's {inst.max_leverage}"
            )
        what = f"{symbol}: margin mode {margin_mode}"
        body = codecs.CrossModeRequest(mode=mode, contract=symbol)
        await self._setting("POST", CROSS_MODE_ENDPOINT, what, body=body)
        if margin_mode == "cross":
            query = [("leverage", "0"), ("cross_leverage_limit", str(leverage))]
        else:
            query = [("leverage", str(leverage))]
        what = f"{symbol}: {margin_mode} leverage {leverage}"
        answer = await self._setting("POST", LEVERAGE_ENDPOINT.format(symbol), what, query=query)
        if answer is not None:
            reported = convert.margin_setting(answer)
            if reported != (Decimal(leverage), margin_mode):
                raise BadRequest(
                    VENUE, f"{what}: the venue reports {reported[1]} leverage {reported[0]}"
                )

    async def _setting(
        self,
        method: str,
        endpoint: str,
        what: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: object | None = None,
    ) -> codecs.Position | None:
        """One signed setting call: the position answered, None for ``NO_CHANGE`` (already
        in place); any other refusal is BadRequest naming ``what``."""
        try:
            return await self._request(
                method, endpoint, _decode_position, query=query, body=body, signed=True,
                mutating=True,
            )  # fmt: skip
        except (BadRequest, OrderRejected, OrderNotFound) as exc:
            if exc.code == NO_CHANGE:
                return None
            raise BadRequest(VENUE, f"{what} refused: {exc.message}", code=exc.code) from None

    async def fetch_positions(self) -> list[VenuePosition]:
        """The account's open positions in the contracts this client trades. A position in
        any other contract (inverse, delisted, untradable) or one that does not decode is
        skipped and counted (``health.skipped``), never failing the rest; a contract the
        last instrument load did not list reloads the list once first."""
        rows = await self._request("GET", "/futures/usdt/positions", _decode_positions, signed=True)
        self._skipped("positions", rows.errors)
        known = self.instruments.keys() | self._untradable
        if any(p.size and p.contract not in known for p in rows.items):
            await self.load_instruments()  # listed since the last load?
        held, foreign = convert.positions_of(self.instruments, rows.items)
        self._skipped("positions", foreign)
        return held

    async def fetch_funding(self, symbols: Sequence[str]) -> list[FundingRate]:
        result = []
        for symbol in symbols:
            c = await self._request("GET", f"/futures/usdt/contracts/{symbol}", _decode_contract)
            hours = max(1, round(c.funding_interval / 3600)) if c.funding_interval > 0 else 8
            next_ts = None
            if c.funding_next_apply > 0:  # wall-clock seconds → this runtime's clock
                next_ts = trio.current_time() + (c.funding_next_apply - self._wall())
            result.append(
                FundingRate(
                    venue=VENUE,
                    symbol=symbol,
                    rate=c.funding_rate,
                    interval_hours=hours,
                    next_funding_ts=next_ts,
                )
            )
        return result

    # -- private stream --------------------------------------------------------------------
    async def _user_id(self) -> int:
        if self._uid is None:
            detail = await self._request("GET", "/account/detail", _decode_detail, signed=True)
            self._uid = detail.user_id
        return self._uid

    async def run_order_stream(
        self,
        send: trio.MemorySendChannel[OrderEvent],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Deliver the account's order events into ``send`` (:class:`GateOrderFeed`)."""
        self._require_credentials()
        self.order_stream.deliver = send
        await self.order_stream.run(task_status=task_status)

    @asynccontextmanager
    async def _private_connect(self) -> AsyncIterator[tuple[WebSocketConnection, Any]]:
        """One private session: the instruments (once) and the uid the subscriptions name
        (``info``), then the WebSocket."""
        if not self.instruments:
            await self.load_instruments()
        uid = await self._user_id()
        async with open_websocket(self.ws_url) as ws:
            yield ws, uid

    async def _requery(self, key: Hashable) -> OrderReport:
        """The order protocol's ``Fetch(Requery)``: the order's state and fills."""
        if not isinstance(key, Requery):
            raise TypeError(f"gateio orders: unexpected fetch {key!r}")
        return await self.query_order(key.symbol, key.client_order_id)

    async def aclose(self) -> None:
        await self.rest.aclose()


def _method_of(resp: httpx.Response) -> str:
    try:
        return resp.request.method
    except RuntimeError:  # a response built without its request
        return "?"


def _retry_after(headers: Mapping[str, str], wall_now: float) -> float | None:
    """Seconds until ``X-Gate-RateLimit-Reset-Timestamp`` (ms or s), when present."""
    value = headers.get("x-gate-ratelimit-reset-timestamp")
    if not value:
        return None
    try:
        reset = float(value)
    except ValueError:
        return None
    if reset > 1e11:
        reset /= 1000.0
    return max(0.0, min(60.0, reset - wall_now))
