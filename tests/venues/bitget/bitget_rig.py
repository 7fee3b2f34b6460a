"""Loopback fixtures: a simulated market, its driver, the Bitget emulator and a client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio

from arbtrio.sim.config import FaultRates, default_sim_config
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.market import SimMarket
from arbtrio.venues.base import Credentials
from arbtrio.venues.bitget.client import BitgetClient
from arbtrio.venues.bitget.emulator import BitgetEmulator
from arbtrio.venues.reconnect import Backoff

CREDS = Credentials(api_key="test-key", api_secret="test_secret", passphrase="test-pass")
FAST = Backoff(base=0.02, cap=0.1)


class Rig:
    def __init__(self, market: SimMarket, emulator: BitgetEmulator, client: BitgetClient) -> None:
        self.market = market
        self.emulator = emulator
        self.client = client


@asynccontextmanager
async def rig(
    faults: FaultRates | None = None,
    *,
    credentials: Credentials | None = CREDS,
    emulator_kwargs: dict[str, Any] | None = None,
    **client_kwargs: Any,
) -> AsyncIterator[Rig]:
    market = SimMarket(default_sim_config(seed=3, faults=faults))
    driver = MarketDriver(market)
    emulator = BitgetEmulator(market, driver, CREDS, **(emulator_kwargs or {}))
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.run)
        ep = await nursery.start(emulator.serve)
        client = BitgetClient(
            rest_url=ep.rest_url,
            ws_url=ep.ws_url,
            credentials=credentials,
            backoff=FAST,
            **({"request_timeout": 2.0} | client_kwargs),
        )
        try:
            yield Rig(market, emulator, client)
        finally:
            await client.aclose()
            nursery.cancel_scope.cancel()


async def wait_until(predicate: Callable[[], bool], guard_s: float = 10.0) -> None:
    """Poll ``predicate``, state other tasks change (no timing assertion: the guard only
    bounds a hung test)."""
    with trio.fail_after(guard_s):
        while not predicate():  # noqa: ASYNC110 - no event to wait on for arbitrary state
            await trio.sleep(0.01)
