"""Loopback rig: a simulated market, its driver, the KuCoin emulator and a client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import trio

from arbtrio.core.ids import client_order_id
from arbtrio.core.types import OrderRequest, Side
from arbtrio.sim.config import FaultRates, default_sim_config
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.market import SimMarket
from arbtrio.venues.base import Credentials
from arbtrio.venues.kucoin import KucoinClient, KucoinEmulator
from arbtrio.venues.reconnect import Backoff

CREDS = Credentials(api_key="kc-test-key", api_secret="kc-test-secret", passphrase="kc-pass")
FAST = Backoff(base=0.05, cap=0.2)
SYMBOL = "XBTUSDTM"


class Rig:
    def __init__(self, market: SimMarket, emulator: KucoinEmulator, client: KucoinClient) -> None:
        self.market = market
        self.emulator = emulator
        self.client = client

    def order(
        self, side: Side, qty: str, *, cross_ticks: int = 50, key: str = "p", attempt: int = 0,
        reduce_only: bool = False,
    ) -> OrderRequest:  # fmt: skip
        """An IOC order priced ``cross_ticks`` through the far touch of the live book."""
        book = self.client.books[SYMBOL]
        top = book.best_ask() if side is Side.BUY else book.best_bid()
        assert top is not None
        tick = Decimal("0.1")
        price = Decimal(repr(top[0])).quantize(tick) + side.sign * cross_ticks * tick
        return OrderRequest(
            venue="kucoin", symbol=SYMBOL, side=side, qty=Decimal(qty), price=price,
            client_order_id=client_order_id("kucoin", key, side.value, attempt),
            reduce_only=reduce_only,
        )  # fmt: skip


@asynccontextmanager
async def rig(
    faults: FaultRates | None = None,
    *,
    credentials: Credentials | None = CREDS,
    emulator_kwargs: dict[str, Any] | None = None,
    **client_kwargs: Any,
) -> AsyncIterator[Rig]:
    market = SimMarket(default_sim_config(seed=7, faults=faults))
    driver = MarketDriver(market)
    emulator = KucoinEmulator(market, driver, CREDS, **(emulator_kwargs or {}))
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.run)
        ep = await nursery.start(emulator.serve)
        client = KucoinClient(
            rest_url=ep.rest_url,
            credentials=credentials,
            backoff=FAST,
            **({"request_timeout": 2.0} | client_kwargs),
        )
        try:
            yield Rig(market, emulator, client)
        finally:
            await client.aclose()
            nursery.cancel_scope.cancel()


async def wait_until(predicate: Callable[[], bool], guard_s: float = 20.0) -> None:
    """Wait for state other tasks change; the guard only bounds a hung test."""
    with trio.fail_after(guard_s):
        while not predicate():  # noqa: ASYNC110 - no event to wait on for arbitrary state
            await trio.sleep(0.01)
