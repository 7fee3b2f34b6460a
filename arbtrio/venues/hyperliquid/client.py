"""The Hyperliquid venue client: REST ``/info`` + signed ``/exchange`` through
:class:`~arbtrio.venues.rest.RestClient`, the book and order streams through
:class:`~arbtrio.venues.stream.Stream`. Implements :class:`arbtrio.venues.base.VenueClient`;
the venue's rules are in ``specs/010-hyperliquid.md``.

Theory of operation
-------------------
* Instruments come from ``metaAndAssetCtxs`` (meta + per-asset contexts, same index). The
  asset id an order carries is the coin's index in the *full* universe, delisted entries
  included; delisted coins are simply not offered as instruments.
* REST (:class:`HyperliquidRules`): every request spends its weight from one shared
  1200/min IP :class:`TokenBucket` (``/exchange`` 1; ``l2Book``, ``allMids``,
  ``clearinghouseState``, ``orderStatus`` 2; other reads 20; ``userFills`` 1 more per 20
  fills returned), emptied for Retry-After or ``penalty_s`` after a 429. HTTP statuses and
  the ``/exchange`` ``status``/``response`` envelope map to the unified errors. Transport
  failures before the request left → ``Disconnected``; after → ``OutcomeUnknown`` for
  actions.
* Books: :class:`~arbtrio.venues.hyperliquid.feed.HyperliquidBookFeed` (``l2Book`` + ``bbo``
  per coin, pings, per-coin staleness) on one connection; ``idle_timeout`` of silence ends
  the session.
* Orders: ``order`` (limit, IOC by default, ``c`` = the request's client order id),
  ``cancelByCloid``; ``updateLeverage`` for :meth:`HyperliquidClient.configure_instrument`;
  one :class:`NonceSource` per signer, on the injected ``wall_clock``.
* Private stream: :class:`~arbtrio.venues.hyperliquid.feed.HyperliquidOrderFeed`
  (``orderUpdates`` + ``userFills`` + ``clearinghouseState`` of the master account; the last
  keeps ``pushed_balances`` / ``pushed_positions``) with the shared
  :class:`~arbtrio.venues.tracking.OrderTracker`. ``place_order`` *posts* every order it
  placed (:class:`~arbtrio.venues.tracking.Placed`, with the oid and the time it was sent;
  an instant fill's summary as :class:`~arbtrio.venues.hyperliquid.feed.InstantFill`) and
  ``query_order`` the oid it learned (:class:`~arbtrio.venues.hyperliquid.feed.OrderSeen`),
  so fills waiting for their order are released by the stream's reader, never written from
  here. The stream's re-queries of unfinished orders (``Fetch(Requery)``, after every
  subscription, malformed frame and ``reconcile_every_s``) are answered by ``query_order``.
* Answers are decoded item by item (:mod:`~arbtrio.venues.hyperliquid.convert`): a foreign
  or malformed universe entry, context, position or fill is skipped and counted in
  ``health.skipped`` (the private stream's in ``order_health.skipped``).
* ``symbols_hint`` may name assets or venue symbols (on Hyperliquid they coincide: the
  coin); :attr:`HyperliquidClient.hinted_symbols` is what they name among the loaded
  instruments. Nothing depends on them, and an unknown hint is logged, never fatal.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
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
    Disconnected,
    MalformedMessage,
    MarginMode,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    PreparedRequest,
    RateLimited,
    VenueError,
    VenueHealth,
)
from arbtrio.venues.hyperliquid import codecs as c
from arbtrio.venues.hyperliquid.convert import (
    Universe,
    balances_of,
    filled_of,
    fills_of,
    funding_of,
    order_status,
    positions_of,
    report_of,
    universe_of,
)
from arbtrio.venues.hyperliquid.feed import (
    HyperliquidBookFeed,
    HyperliquidOrderFeed,
    InstantFill,
    OrderSeen,
)
from arbtrio.venues.hyperliquid.prepare import (
    EXCHANGE_PATH,
    INFO_PATH,
    HyperliquidAccount,
    leverage_action,
    prepare_action,
    prepare_info,
    prepare_order,
)
from arbtrio.venues.hyperliquid.signing import NonceSource, Signer
from arbtrio.venues.ratelimit import TokenBucket
from arbtrio.venues.reconnect import Backoff
from arbtrio.venues.rest import Budget, RestClient
from arbtrio.venues.stream import Stream
from arbtrio.venues.tracking import Placed, Requery
from arbtrio.venues.wire import open_websocket

log = structlog.get_logger("arbtrio.venues.hyperliquid")

VENUE = c.VENUE
DEFAULT_REST_URL = "https://api.hyperliquid.xyz"
DEFAULT_WS_URL = "wss://api.hyperliquid.xyz/ws"
TESTNET_REST_URL = "https://api.hyperliquid-testnet.xyz"

# IP weights of the documented reads: 2 for the light ones, 20 for the rest; userFills also
# pays 1 per 20 fills returned (charged after the answer, see fetch_fills).
INFO_WEIGHT = {"l2Book": 2, "allMids": 2, "clearinghouseState": 2, "orderStatus": 2}
EXCHANGE_WEIGHT = 1  # one action, unbatched: 1 + floor(batch / 40)
WS_MAX_MESSAGE = 16 * 1024 * 1024  # userFills snapshots are large
_BACKOFF = Backoff()
_MISSING_ORDER = "Order was never placed, already canceled, or filled."
_AUTH_ERRORS = ("does not exist", "Must deposit before performing actions")


def info_path(kind: str) -> str:
    """The endpoint name budgets and errors use for an ``/info`` read of ``kind``."""
    return f"{INFO_PATH} {kind}"


def symbols_for_hints(hints: Iterable[str], instruments: Iterable[Instrument]) -> list[str]:
    """The venue symbols ``hints`` name, in hint order without repeats: an instrument
    matches a hint when its ``asset`` or its ``symbol`` equals it. Hints naming nothing
    are logged and skipped."""
    by_name: dict[str, str] = {}
    for inst in instruments:
        by_name.setdefault(inst.symbol, inst.symbol)
        by_name.setdefault(inst.asset, inst.symbol)
    out: dict[str, None] = {}
    for hint in hints:
        symbol = by_name.get(hint)
        if symbol is None:
            log.warning("hyperliquid.unknown_hint", hint=hint)
        else:
            out[symbol] = None
    return list(out)


class HyperliquidRules:
    """Hyperliquid's REST rules (:class:`~arbtrio.venues.rest.RestRules`).

    * budget: one IP pool (``ip``, 1200 weight a minute); a request's endpoint name is
      ``/exchange`` (weight 1) or ``/info <type>`` (:data:`INFO_WEIGHT`, else 20);
    * observe: nothing (the venue sends no limit headers);
    * unwrap: HTTP 429 → ``RateLimited`` (Retry-After, else ``penalty_s``), 5xx →
      ``OutcomeUnknown`` for actions and ``Disconnected`` for reads, 401/403 →
      ``AuthenticationFailed``, other 4xx → ``BadRequest``; an ``/info`` answer is returned
      as its bytes; an ``/exchange`` answer is its ``ok`` body, or ``status:"err"`` mapped
      ("…does not exist" / "Must deposit…" → ``AuthenticationFailed``, "Invalid nonce…" →
      ``BadRequest``, others → ``OrderRejected``); an unreadable one is ``OutcomeUnknown``,
      counted in ``health.malformed``.
    """

    def __init__(self, health: VenueHealth, *, penalty_s: float = 10.0) -> None:
        self.health = health
        self.penalty_s = penalty_s
        self.ip = TokenBucket(f"{VENUE}:ip", capacity=1200.0, rate=20.0)
        self._budgets: dict[str, Budget] = {}

    def budget(self, method: str, path: str) -> Budget:
        budget = self._budgets.get(path)
        if budget is None:
            if path == EXCHANGE_PATH:
                weight = EXCHANGE_WEIGHT
            else:
                weight = INFO_WEIGHT.get(path.partition(" ")[2], 20)
            budget = self._budgets[path] = ((self.ip, weight),)
        return budget

    def observe(self, resp: httpx.Response, path: str, budget: Budget) -> None:
        pass

    def unwrap(self, resp: httpx.Response, path: str, mutating: bool) -> Any:
        code = resp.status_code
        if code >= 400:
            raise self._http_error(resp, path, mutating)
        if path != EXCHANGE_PATH:
            return resp.content
        try:
            decoded: c.ExchangeResponse = c.decode("exchangeResponse", resp.content)
        except MalformedMessage as exc:
            self.health.malformed += 1
            raise OutcomeUnknown(VENUE, f"{path}: unreadable response ({exc.message})") from None
        if decoded.status == "err" or isinstance(decoded.response, str):
            message = str(decoded.response)
            if any(marker in message for marker in _AUTH_ERRORS):
                raise AuthenticationFailed(VENUE, message)
            if message.startswith("Invalid nonce"):
                raise BadRequest(VENUE, message)
            raise OrderRejected(VENUE, message)
        return decoded.response

    def _http_error(self, resp: httpx.Response, path: str, mutating: bool) -> VenueError:
        code = resp.status_code
        text = resp.text[:200]
        what = f"{path}: HTTP {code} {text}"
        if code == 429:
            retry = _retry_after(resp) or self.penalty_s
            return RateLimited(VENUE, what, code="429", retry_after=retry)
        if code >= 500:
            return (OutcomeUnknown if mutating else Disconnected)(VENUE, what, code=str(code))
        if code in (401, 403):
            return AuthenticationFailed(VENUE, what, code=str(code))
        return BadRequest(VENUE, what, code=str(code))


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
        idle_timeout: float = 60.0,
        penalty_s: float = 10.0,
        backoff: Backoff = _BACKOFF,
        vault_address: str | None = None,
        wall_clock: Callable[[], float] = time.time,
        reconcile_every_s: float = 60.0,
        max_orders: int = 10_000,
    ) -> None:
        self.rest_url = rest_url.rstrip("/")
        self.ws_url = ws_url
        self.symbols_hint = tuple(symbols_hint)
        self.hinted_symbols: list[str] = []  # what the hints name, once instruments load
        self.is_mainnet = (self.rest_url == DEFAULT_REST_URL) if is_mainnet is None else is_mainnet
        self.health = VenueHealth(venue=VENUE)
        self.order_health = VenueHealth(venue=VENUE)
        self.books: dict[str, L2Book] = {}
        self.instruments: dict[str, Instrument] = {}
        self.asset_ctxs: dict[str, c.AssetCtx] = {}
        self.request_timeout = request_timeout
        self.ping_interval = ping_interval
        self.stale_after = stale_after
        self.idle_timeout = idle_timeout
        self.penalty_s = penalty_s
        self.backoff = backoff
        self.wall_clock = wall_clock
        self.vault_address = vault_address.lower() if vault_address else None
        self.rules = HyperliquidRules(self.order_health, penalty_s=penalty_s)
        self.bucket = self.rules.ip
        self.rest = RestClient(VENUE, self.rest_url, self.rules, timeout=request_timeout)
        creds = credentials or Credentials()
        self._signer = (
            Signer(
                creds.private_key,
                is_mainnet=self.is_mainnet,
                nonces=NonceSource(lambda: wall_clock() * 1000),
            )
            if creds.private_key
            else None
        )
        user = creds.account_address or (self._signer.address if self._signer else "")
        self.user = user.lower()
        self._asset: dict[str, int] = {}
        self.clock: Callable[[], float] = trio.current_time  # the runtime's time base
        self.orders = HyperliquidOrderFeed(
            self.user, self.order_health, wall_clock,
            ping_interval=ping_interval, idle_timeout=idle_timeout,
            reconcile_every_s=reconcile_every_s, max_orders=max_orders,
        )  # fmt: skip
        # What the private stream's clearinghouseState pushes last said (the feed writes them).
        self.pushed_balances: dict[str, Balance] = self.orders.pushed_balances
        self.pushed_positions: dict[str, VenuePosition] = self.orders.pushed_positions
        # Created now so that notes posted before the stream runs wait for its first session.
        self._order_stream = Stream(
            VENUE, "orders", self.orders, self._connect, self.order_health,
            fetch=self._requery, backoff=backoff,
        )  # fmt: skip

    # ================================================================================
    # REST plumbing
    # ================================================================================
    def _at(self, prepared: PreparedRequest) -> PreparedRequest:
        """``prepared`` under the REST URL's path prefix, if it has one (Hyperliquid signs
        the body only, so the path may move)."""
        prefix = self.rest.prefix
        return attrs.evolve(prepared, path=prefix + prepared.path) if prefix else prepared

    async def _info(self, body: c.InfoRequest, kind: str | None = None) -> Any:
        """POST /info; decoded with the decoder of ``kind`` (default ``body.type``)."""
        prepared = self._at(prepare_info(body))
        decoder = kind or body.type

        def decode(raw: Any) -> Any:
            return c.decode(decoder, raw)

        return await self.rest.call("POST", info_path(body.type), lambda: prepared, decode)

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

    async def _exchange(self, action: Any) -> c.ExchangeOkBody:
        """Sign (with a fresh nonce, after the budget wait) and POST one action."""
        account = self._account()

        def build() -> PreparedRequest:
            return self._at(prepare_action(action, account, account.signer.nonces.next()))

        return await self._post_exchange(build)

    async def _post_exchange(self, build: Callable[[], PreparedRequest]) -> c.ExchangeOkBody:
        body: c.ExchangeOkBody = await self.rest.call(
            "POST", EXCHANGE_PATH, build, _ok_body, mutating=True
        )
        return body

    # ================================================================================
    # instruments, account
    # ================================================================================
    async def load_instruments(self) -> list[Instrument]:
        """The tradable first-dex perps of ``metaAndAssetCtxs`` (delisted, foreign and
        malformed entries skipped and counted in ``health.skipped``; asset ids are indices
        in the full universe); fees from ``userFees`` when an account is configured."""
        universe = await self._universe()
        taker, maker = c.BASE_TAKER_FEE, c.BASE_MAKER_FEE
        if self.user:
            try:
                fees: c.UserFees = await self._info(c.InfoRequest(type="userFees", user=self.user))
                taker = c.finite(fees.userCrossRate, "userCrossRate")
                maker = c.finite(fees.userAddRate, "userAddRate")
            except VenueError as exc:
                log.warning("hyperliquid.user_fees_unavailable", error=str(exc))
        instruments = [
            attrs.evolve(inst, taker_fee=taker, maker_fee=maker) for inst in universe.instruments
        ]
        self._asset.update(universe.assets)
        self.asset_ctxs.update(universe.ctxs)
        for inst in instruments:
            self.instruments[inst.symbol] = inst
        self.hinted_symbols = symbols_for_hints(self.symbols_hint, instruments)
        return instruments

    async def _universe(self) -> Universe:
        answer = await self._info(c.InfoRequest(type="metaAndAssetCtxs"))
        return universe_of(answer, self.health)

    async def _instrument(self, symbol: str) -> tuple[Instrument, int]:
        if symbol not in self.instruments:
            await self.load_instruments()
        try:
            return self.instruments[symbol], self._asset[symbol]
        except KeyError:
            raise BadRequest(VENUE, f"unknown or delisted coin {symbol!r}") from None

    async def configure_instrument(
        self, symbol: str, *, leverage: int, margin_mode: MarginMode
    ) -> None:
        """``updateLeverage`` (an L1-signed ``/exchange`` action, weight 1 of the IP budget)
        for ``symbol``: ``isCross`` = ``margin_mode == "cross"``, ``leverage`` an integer.
        The venue answers ``{"status":"ok","response":{"type":"default"}}`` for a change and
        for a setting already in place alike: both are success. A value it could not
        deserialise (checked here first: never sent) or refuses (``status:"err"``: "Invalid
        leverage value" above the coin's maximum, "Cannot switch leverage type with open
        position.", "Cross margin is not allowed for this asset.") raises BadRequest naming
        the value and the venue's reason; other errors as for any action (AuthenticationFailed,
        RateLimited; OutcomeUnknown when the answer was lost: the call is idempotent, repeat
        it)."""
        _inst, asset = await self._instrument(symbol)
        action = leverage_action(asset, leverage, margin_mode)
        try:
            await self._exchange(action)
        except OrderRejected as exc:
            raise BadRequest(
                VENUE, f"{symbol}: leverage {leverage!r} {margin_mode} refused: {exc.message}"
            ) from None
        log.info("hyperliquid.instrument_configured", symbol=symbol, leverage=leverage,
                 margin_mode=margin_mode)  # fmt: skip

    async def fetch_balances(self) -> list[Balance]:
        return balances_of(await self._clearinghouse())

    async def fetch_positions(self) -> list[VenuePosition]:
        """Open positions of the first dex with the venue's mark (``positionValue`` ÷
        |``szi``|) and liquidation price (None when it reports none); a foreign or malformed
        item is skipped and counted in ``health.skipped``."""
        return positions_of(await self._clearinghouse(), self.health)

    async def _clearinghouse(self) -> c.ClearinghouseState:
        user = self._require_user()
        state: c.ClearinghouseState = await self._info(
            c.InfoRequest(type="clearinghouseState", user=user)
        )
        return state

    async def fetch_funding(self, symbols: Sequence[str]) -> list[FundingRate]:
        """Current hourly rates; ``next_funding_ts`` is the next whole UTC hour on Trio's
        clock (funding is paid every hour). A coin without a usable context is skipped and
        counted (:func:`~arbtrio.venues.hyperliquid.convert.funding_of`)."""
        universe = await self._universe()
        wall = self.wall_clock()
        next_ts = trio.current_time() + (math.floor(wall / 3600) + 1) * 3600 - wall
        return funding_of(universe, symbols, next_ts, self.health)

    # ================================================================================
    # orders
    # ================================================================================
    async def place_order(self, request: OrderRequest) -> OrderAck:
        market = await self._instrument(request.symbol)
        cloid = request.client_order_id
        account = self._account()

        def build() -> PreparedRequest:
            return self._at(prepare_order(request, market, account, account.signer.nonces.next()))

        sent_at = trio.current_time()
        oid, filled = placement_of(await self._post_exchange(build), cloid)
        if filled is not None:
            self._order_stream.post(InstantFill(cloid, filled))
        placed = Placed(cloid, request.symbol, venue_order_id=str(oid), sent_at=sent_at)
        self._order_stream.post(placed)
        return OrderAck(
            venue=VENUE, client_order_id=cloid, venue_order_id=str(oid), ts=trio.current_time()
        )

    async def cancel_order(self, symbol: str, client_order_id: str) -> None:
        _inst, asset = await self._instrument(symbol)
        action = c.CancelByCloidAction(
            cancels=[c.CancelByCloidWire(asset=asset, cloid=client_order_id)]
        )
        cancel_outcome(await self._exchange(action), client_order_id)

    async def schedule_cancel(self, at_ms: int | None) -> None:
        """The dead-man switch: cancel every open order at ``at_ms`` (epoch ms, ≥ 5 s ahead),
        or unset it with ``None``. Needs $1M traded volume; the venue's refusal is raised as
        :class:`VenueError` with its message."""
        action = c.ScheduleCancelAction(time=at_ms)
        try:
            await self._exchange(action)
        except OrderRejected as exc:
            raise VenueError(VENUE, exc.message) from None

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """``orderStatus`` by cloid, plus the order's fills from ``userFills`` (one that does
        not convert is skipped and counted). The oid it learns is posted to the order stream
        (fills waiting for it are released there)."""
        user = self._require_user()
        resp: c.OrderStatusResponse = await self._info(
            c.InfoRequest(type="orderStatus", user=user, oid=client_order_id)
        )
        if resp.status != "order" or resp.order is None:
            raise OrderNotFound(VENUE, f"order {client_order_id}: {resp.status}")
        oid = resp.order.order.oid
        self._order_stream.post(OrderSeen(oid, client_order_id))
        fills = await self.fetch_fills(oid=oid)
        report = report_of(
            resp, client_order_id, fills, self.clock(), self.wall_clock(), self.health
        )
        assert report is not None  # an "order" answer
        return report

    async def fetch_fills(self, *, oid: int | None = None) -> list[c.UserFill]:
        """The account's recent fills over REST (at most 2000), optionally of one oid (a
        malformed item is skipped and counted in ``health.skipped``)."""
        user = self._require_user()
        items: list[Any] = await self._info(c.InfoRequest(type="userFills", user=user))
        if len(items) >= 20:  # the venue charges 1 more weight per 20 items returned
            await self.rules.ip.acquire(len(items) // 20)
        return [f for f in fills_of(items, self.health) if oid is None or f.oid == oid]

    async def _requery(self, key: Hashable) -> OrderReport:
        """The order stream's ``Fetch(Requery)``: the order's state and fills."""
        if not isinstance(key, Requery):
            raise TypeError(f"hyperliquid orders: unexpected fetch {key!r}")
        return await self.query_order(key.symbol, key.client_order_id)

    # ================================================================================
    # streams
    # ================================================================================
    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[tuple[WebSocketConnection, Any]]:
        """One session's socket to ``ws_url`` (``info`` None; messages up to 16 MiB)."""
        async with open_websocket(
            self.ws_url,
            connect_timeout=self.request_timeout,
            disconnect_timeout=1.0,
            max_message_size=WS_MAX_MESSAGE,
        ) as ws:
            yield ws, None

    async def run_books(
        self,
        symbols: Sequence[str],
        on_update: BookCallback,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Maintain the books of ``symbols`` (coins) until cancelled
        (:class:`~arbtrio.venues.hyperliquid.feed.HyperliquidBookFeed`); started once the
        first book moves."""
        feed = HyperliquidBookFeed(
            self.books, symbols, self.health,
            ping_interval=self.ping_interval, stale_after=self.stale_after,
            idle_timeout=self.idle_timeout,
        )  # fmt: skip
        stream = Stream(
            VENUE, "books", feed, self._connect, self.health,
            on_change=on_update, backoff=self.backoff,
        )  # fmt: skip
        await stream.run(task_status=task_status)

    async def run_order_stream(
        self,
        send: trio.MemorySendChannel[OrderEvent],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Deliver the account's order events into ``send`` until cancelled
        (:class:`~arbtrio.venues.hyperliquid.feed.HyperliquidOrderFeed`); one at a time."""
        self._require_user()
        self._order_stream.deliver = send
        await self._order_stream.run(task_status=task_status)

    async def aclose(self) -> None:
        await self.rest.aclose()


def _ok_body(body: Any) -> c.ExchangeOkBody:
    """The decode step of an ``/exchange`` call (:class:`HyperliquidRules` unwrapped it)."""
    assert isinstance(body, c.ExchangeOkBody)
    return body


def placement_of(body: c.ExchangeOkBody, cloid: str) -> tuple[int, c.Filled | None]:
    """The oid of one placement's answer (and its instant-fill summary): ``resting`` or
    ``filled``; ``error`` → ``OrderRejected``; anything but one status object (a TP/SL
    grouping's extra bare strings, a batch error) → ``OutcomeUnknown``: query it."""
    status = _single_status(body, f"order {cloid}")
    if status.error is not None:
        raise OrderRejected(VENUE, status.error)
    if status.resting is not None:
        return status.resting.oid, None
    if status.filled is not None:
        return status.filled.oid, status.filled
    raise OutcomeUnknown(VENUE, f"order {cloid}: status without resting/filled/error")


def cancel_outcome(body: c.ExchangeOkBody, cloid: str) -> None:
    """A cancel's answer: ``"success"`` is done; "Order was never placed, already canceled,
    or filled." → ``OrderNotFound``; another error → ``OrderRejected``; any other shape →
    ``OutcomeUnknown``."""
    statuses = body.data.statuses if body.data else []
    if statuses == ["success"]:
        return
    if len(statuses) == 1 and isinstance(statuses[0], c.OrderStatusObj):
        error = statuses[0].error or ""
        if error.startswith(_MISSING_ORDER):
            raise OrderNotFound(VENUE, error)
        raise OrderRejected(VENUE, error or "cancel: unexpected status")
    raise OutcomeUnknown(VENUE, f"cancel {cloid}: unexpected statuses {statuses!r}"[:300])


def _single_status(body: c.ExchangeOkBody, what: str) -> c.OrderStatusObj:
    statuses = body.data.statuses if body.data else []
    if len(statuses) != 1 or not isinstance(statuses[0], c.OrderStatusObj):
        raise OutcomeUnknown(VENUE, f"{what}: unexpected statuses {statuses!r}"[:300])
    return statuses[0]


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    try:
        return float(value) if value else None
    except ValueError:
        return None


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
    "HyperliquidRules",
    "cancel_outcome",
    "create_client",
    "filled_of",
    "order_status",
    "placement_of",
    "symbols_for_hints",
]
