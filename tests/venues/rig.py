"""Loopback rig shared by the venue wire tests: a simulated market, its driver, one venue's
emulator served on 127.0.0.1 and a client of that venue pointed at it. The conformance
suite opens it through ``registry.open_venue``; a venue's own wire tests may too."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from decimal import Decimal
from typing import Any

import httpx._transports.default as httpx_transports
import trio

from arbtrio.core.ids import client_order_id
from arbtrio.core.types import OrderRequest, Side
from arbtrio.emulators.app import HttpRequest
from arbtrio.sim.config import FaultRates, default_sim_config
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.market import SimMarket
from arbtrio.venues.base import Credentials, PreparedRequest
from arbtrio.venues.reconnect import Backoff


def as_received(prepared: PreparedRequest) -> HttpRequest:
    """``prepared`` as an emulator receives it (path and raw query split, headers lowered)."""
    path, _, query = prepared.path.partition("?")
    headers = {k.lower(): v for k, v in prepared.headers}
    return HttpRequest(prepared.method, path, query, headers, prepared.body)


def offline_emulator(emulator_cls: Callable[..., Any], credentials: Credentials, **kw: Any) -> Any:
    """An emulator over a fresh simulated market, not served: for checking requests."""
    market = SimMarket(default_sim_config(seed=1))
    return emulator_cls(market, MarketDriver(market), credentials, **kw)


class Rig:
    """What a wire test holds: the market, the emulator and the client (and, for tests
    that place orders through :meth:`order`, the symbol and its tick)."""

    def __init__(
        self, market: SimMarket, emulator: Any, client: Any, *, symbol: str = "",
        tick: Decimal = Decimal("0.1"),
    ) -> None:  # fmt: skip
        self.market = market
        self.emulator = emulator
        self.client = client
        self.symbol = symbol
        self.tick = tick

    def order(
        self, side: Side, qty: str, *, cross_ticks: int = 50, key: str = "p", attempt: int = 0,
        reduce_only: bool = False,
    ) -> OrderRequest:  # fmt: skip
        """An IOC order priced ``cross_ticks`` through the far touch of the live book."""
        venue = self.client.name
        book = self.client.books[self.symbol]
        top = book.best_ask() if side is Side.BUY else book.best_bid()
        assert top is not None
        price = Decimal(repr(top[0])).quantize(self.tick) + side.sign * cross_ticks * self.tick
        return OrderRequest(
            venue=venue, symbol=self.symbol, side=side, qty=Decimal(qty), price=price,
            client_order_id=client_order_id(venue, key, side.value, attempt),
            reduce_only=reduce_only,
        )  # fmt: skip


_REAL_TLS = httpx_transports.create_ssl_context  # type: ignore[attr-defined]
_TLS: list[ssl.SSLContext] = []  # the one shared default context, once built
_TLS_USERS = [0]  # rigs (and other callers) inside shared_tls_context()


def _cached_tls(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
    if verify is not True or cert is not None or not trust_env:
        return _REAL_TLS(verify=verify, cert=cert, trust_env=trust_env)
    if not _TLS:
        _TLS.append(_REAL_TLS())
    return _TLS[0]


@contextmanager
def shared_tls_context() -> Iterator[None]:
    """Meanwhile, every httpx client built with the default TLS settings shares one context.

    Each venue client's REST session is an ``httpx.AsyncClient``, whose construction loads
    the CA bundle into a fresh TLS context (tens of milliseconds: most of a wire test's own
    cost). The rig speaks plain HTTP to loopback, so no test reaches TLS at all: the bundle
    is loaded once per process instead of once per client. Overlapping users are counted;
    the last one out puts httpx back as it was."""
    if _TLS_USERS[0] == 0:
        httpx_transports.create_ssl_context = _cached_tls  # type: ignore[attr-defined]
    _TLS_USERS[0] += 1
    try:
        yield
    finally:
        _TLS_USERS[0] -= 1
        if _TLS_USERS[0] == 0:
            httpx_transports.create_ssl_context = _REAL_TLS  # type: ignore[attr-defined]


@asynccontextmanager
async def open_rig(
    emulator_cls: Callable[..., Any],
    client_cls: Callable[..., Any],
    *,
    seed: int,
    emulator_credentials: Credentials,
    credentials: Credentials | None,
    backoff: Backoff,
    faults: FaultRates | None = None,
    emulator_kwargs: dict[str, Any] | None = None,
    pass_ws_url: bool = True,
    symbol: str = "",
    **client_kwargs: Any,
) -> AsyncIterator[Rig]:
    """Run the market's driver and ``emulator_cls(market, driver, emulator_credentials)``
    and yield a :class:`Rig` with ``client_cls`` connected to it (``request_timeout`` 2 s
    unless given; ``ws_url`` passed when ``pass_ws_url``). Everything stops on exit."""
    market = SimMarket(default_sim_config(seed=seed, faults=faults))
    driver = MarketDriver(market)
    emulator = emulator_cls(market, driver, emulator_credentials, **(emulator_kwargs or {}))
    with shared_tls_context():
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            ep = await nursery.start(emulator.serve)
            urls = {"rest_url": ep.rest_url} | ({"ws_url": ep.ws_url} if pass_ws_url else {})
            client = client_cls(
                **urls,
                credentials=credentials,
                backoff=backoff,
                **({"request_timeout": 2.0} | client_kwargs),
            )
            try:
                yield Rig(market, emulator, client, symbol=symbol)
            finally:
                await client.aclose()
                nursery.cancel_scope.cancel()


async def wait_until(predicate: Callable[[], bool], guard_s: float = 10.0) -> None:
    """Poll ``predicate``, state other tasks change (no timing assertion: the guard only
    bounds a hung test)."""
    with trio.fail_after(guard_s):
        while not predicate():  # noqa: ASYNC110 - no event to wait on for arbitrary state
            await trio.sleep(0.01)
