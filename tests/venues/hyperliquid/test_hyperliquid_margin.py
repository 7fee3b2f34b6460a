"""Margin and feed lag, the Hyperliquid client against its emulator over loopback (the shared
rig), on Trio's MockClock (``autojump_clock``): ``configure_instrument`` (set, already set,
refused, the shared rate budget), positions with mark and liquidation price as the emulator
reports them, the ``clearinghouseState`` pushes following a fill, and the books' exchange
time with the emulator's delay knob. Both sides read one wall clock that runs with Trio's
virtual clock (the venue's ``time`` fields and the nonces), so lag is measured on one time
base; every wait is for an observable condition, bounded by a guard in virtual seconds.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock
from venues.rig import Rig, open_rig, wait_until

from arbtrio.core.book import L2Book
from arbtrio.core.ids import client_order_id
from arbtrio.core.instruments import round_price
from arbtrio.core.types import OrderRequest, Side, VenuePosition
from arbtrio.emulators.hyperliquid import HyperliquidEmulator, Margin
from arbtrio.venues.base import BadRequest, Credentials
from arbtrio.venues.hyperliquid import HyperliquidClient
from arbtrio.venues.reconnect import Backoff

KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
CREDS = Credentials(private_key=KEY)
FAST = Backoff(base=0.05, cap=0.2)
EPOCH = 1_750_000_000.0  # the shared wall clock reads EPOCH + Trio's clock
D = Decimal


def wall() -> float:
    return EPOCH + trio.current_time()


@asynccontextmanager
async def session(**emulator_options: Any) -> AsyncIterator[tuple[Rig, trio.Nursery]]:
    """The rig (BTC) with a nursery for the client's streams; both stop on exit."""
    options: dict[str, Any] = {"heartbeat_s": 0.2, "wall_clock": wall} | emulator_options
    async with open_rig(
        HyperliquidEmulator, HyperliquidClient, seed=7, emulator_credentials=CREDS,
        credentials=CREDS, backoff=FAST, emulator_kwargs=options, symbol="BTC",
        wall_clock=wall, ping_interval=0.5, stale_after=1.0,
    ) as rig, trio.open_nursery() as nursery:  # fmt: skip
        await rig.client.load_instruments()
        try:
            yield rig, nursery
        finally:
            nursery.cancel_scope.cancel()


def marketable(
    rig: Rig, side: Side, qty: str, attempt: int, *, reduce: bool = False
) -> OrderRequest:
    """An IOC order 1 % through the simulator's touch, on the venue's price grid."""
    inst = rig.market.instrument("hyperliquid", "BTC")
    bids, asks = rig.market.book_levels("hyperliquid", "BTC", 1)
    if side is Side.BUY:
        price = round_price(inst, asks[0][0] * D("1.01"), "down")
    else:
        price = round_price(inst, bids[0][0] * D("0.99"), "up")
    return OrderRequest(
        venue="hyperliquid", symbol="BTC", side=side, qty=D(qty), price=price,
        client_order_id=client_order_id("hyperliquid", "margin", side.value, attempt),
        reduce_only=reduce,
    )  # fmt: skip


async def info(rig: Rig, **request: Any) -> Any:
    """One ``/info`` read straight from the emulator (what the venue reports)."""
    async with httpx.AsyncClient() as http:
        resp = await http.post(rig.client.rest_url + "/info", content=json.dumps(request))
    assert resp.status_code == 200, resp.text
    return resp.json()


def nonces_used(rig: Rig) -> int:
    """Actions the emulator accepted past its signature check (one nonce each)."""
    return sum(len(seen) for seen in rig.emulator.nonces.values())


# -- configure_instrument -------------------------------------------------------------------------
async def test_configure_sets_leverage_and_mode_and_already_set_is_success(
    autojump_clock: MockClock,
) -> None:
    async with session() as (rig, _):
        emu, client = rig.emulator, rig.client
        assert emu.margin("BTC") == Margin(10, cross=True)  # the account's default
        await client.configure_instrument("BTC", leverage=5, margin_mode="isolated")
        assert emu.margin("BTC") == Margin(5, cross=False)
        data = await info(rig, type="activeAssetData", user=client.user, coin="BTC")
        assert data["leverage"] == {"type": "isolated", "value": 5, "rawUsd": "0.0"}
        sent = nonces_used(rig)
        await client.configure_instrument("BTC", leverage=5, margin_mode="isolated")  # again
        assert nonces_used(rig) == sent + 1 and emu.margin("BTC") == Margin(5, cross=False)
        await client.configure_instrument("ETH", leverage=20, margin_mode="cross")
        assert emu.margin("ETH") == Margin(20) and emu.margin("BTC").leverage == 5


async def test_refusals_raise_bad_request_naming_the_value(autojump_clock: MockClock) -> None:
    async with session() as (rig, _):
        emu, client = rig.emulator, rig.client
        with pytest.raises(BadRequest, match=r"leverage 51 cross refused: Invalid leverage value"):
            await client.configure_instrument("BTC", leverage=51, margin_mode="cross")
        sent = nonces_used(rig)
        for bad in (0, -3, True, 2.5):  # not sent: the venue could not deserialise them
            with pytest.raises(BadRequest, match="leverage must be an integer"):
                await client.configure_instrument("BTC", leverage=bad, margin_mode="cross")
        with pytest.raises(BadRequest, match="margin_mode"):
            await client.configure_instrument("BTC", leverage=5, margin_mode="portfolio")
        with pytest.raises(BadRequest, match="unknown or delisted coin 'LOOM'"):
            await client.configure_instrument("LOOM", leverage=2, margin_mode="isolated")
        assert nonces_used(rig) == sent and emu.margin("BTC") == Margin(10)
        # with a position open the venue keeps the mode, not the leverage
        await client.place_order(marketable(rig, Side.BUY, "0.01", 0))
        with pytest.raises(BadRequest, match="Cannot switch leverage type with open position"):
            await client.configure_instrument("BTC", leverage=10, margin_mode="isolated")
        await client.configure_instrument("BTC", leverage=3, margin_mode="cross")
        assert emu.margin("BTC") == Margin(3, cross=True)


async def test_configure_spends_the_shared_rate_budget(autojump_clock: MockClock) -> None:
    """updateLeverage waits for the IP budget like every request (here emptied for 30 s)."""
    async with session() as (rig, _):
        rig.client.bucket.penalize(30.0, trio.current_time())
        start = trio.current_time()
        await rig.client.configure_instrument("BTC", leverage=4, margin_mode="cross")
        assert trio.current_time() - start >= 30.0
        assert rig.emulator.margin("BTC") == Margin(4)


# -- positions: mark and liquidation price ---------------------------------------------------------
async def test_positions_carry_the_reported_mark_and_liquidation_price(
    autojump_clock: MockClock,
) -> None:
    async with session() as (rig, _):
        client = rig.client
        assert await client.fetch_positions() == []
        await client.configure_instrument("BTC", leverage=5, margin_mode="isolated")
        await client.place_order(marketable(rig, Side.BUY, "0.02", 1))
        (position,) = await client.fetch_positions()
        (reported,) = (await info(rig, type="clearinghouseState", user=client.user))[
            "assetPositions"
        ]
        p = reported["position"]
        assert (position.symbol, position.qty, position.entry_price) == (
            "BTC", D("0.02"), D(p["entryPx"]),
        )  # fmt: skip
        assert position.mark_price == D(p["positionValue"]) / D("0.02")
        assert position.liquidation_price == D(p["liquidationPx"])
        entry = D(p["entryPx"])  # isolated 5x, mmr 1 %: entry × (1 − 1/5 + 0.01)
        assert position.liquidation_price == (entry * D("0.81")).quantize(D("1e-8"))
        assert position.mark_price is not None and abs(position.mark_price - entry) < entry / 100


async def test_a_cross_long_with_ample_margin_has_no_liquidation_price(
    autojump_clock: MockClock,
) -> None:
    async with session() as (rig, _):
        await rig.client.place_order(marketable(rig, Side.BUY, "0.01", 2))
        (position,) = await rig.client.fetch_positions()
        assert position.liquidation_price is None  # the venue's null: none above 0
        assert position.mark_price is not None and position.mark_price > 0


# -- pushes ----------------------------------------------------------------------------------------
async def test_a_fill_updates_the_pushed_position_and_balance(autojump_clock: MockClock) -> None:
    async with session() as (rig, nursery):
        client = rig.client
        assert client.pushed_balances == {} and client.pushed_positions == {}
        send, receive = trio.open_memory_channel[Any](100)
        await nursery.start(client.run_order_stream, send)
        nursery.start_soon(_drain, receive)
        await wait_until(lambda: "USDC" in client.pushed_balances)  # the subscription's state
        before = client.pushed_balances["USDC"]
        assert client.pushed_positions == {} and before.total > 0
        request = marketable(rig, Side.SELL, "0.03", 3)
        await client.place_order(request)
        await wait_until(lambda: "BTC" in client.pushed_positions)
        pushed: VenuePosition = client.pushed_positions["BTC"]
        assert pushed.qty == D("-0.03") and pushed.entry_price is not None
        assert pushed.mark_price is not None and pushed.liquidation_price is not None
        assert pushed.liquidation_price > pushed.mark_price  # a short's is above
        assert client.pushed_balances["USDC"] != before  # the fee at least
        assert client.pushed_balances["USDC"].available < before.available  # margin in use
        (fetched,) = await client.fetch_positions()
        assert (fetched.qty, fetched.entry_price) == (pushed.qty, pushed.entry_price)
        await client.place_order(marketable(rig, Side.BUY, "0.03", 4, reduce=True))
        await wait_until(lambda: client.pushed_positions == {})  # flat again
        assert client.order_health.skipped == 0 and client.order_health.malformed == 0


async def _drain(receive: trio.MemoryReceiveChannel[Any]) -> None:
    async for _ in receive:
        pass


# -- book exchange time and lag --------------------------------------------------------------------
async def test_book_lag_follows_the_venue_delay(autojump_clock: MockClock) -> None:
    async with session() as (rig, nursery):
        emu, client = rig.emulator, rig.client
        seen: list[float] = []

        def on_update(book: L2Book) -> None:
            if book.tradable:
                seen.append(book.lag_s)

        await nursery.start(client.run_books, ["BTC"], on_update)
        book = client.books["BTC"]
        await wait_until(lambda: book.updates >= 20)
        assert max(seen) < 0.01  # on time: at the floor
        assert book.exchange_ts == pytest.approx(wall(), abs=0.5)
        emu.book_delay_s = 0.8  # the feed keeps flowing, 0.8 s late
        start = trio.current_time()
        await wait_until(lambda: trio.current_time() - start > 3.0 and book.lag_s > 0.7)
        assert 0.75 < book.lag_s < 0.85
        assert book.tradable and client.health.resyncs == 0  # flowing: never stale
        emu.book_delay_s = 0.0
        start = trio.current_time()
        await wait_until(lambda: trio.current_time() - start > 3.0 and book.lag_s < 0.1)
        assert book.lag_s < 0.01
