"""Gate.io client against the Gate.io emulator (loopback, virtual time): leverage and margin
mode, positions with mark and liquidation price, the pushed positions and balances, and the
books' exchange time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import attrs
import pytest
import trio
from trio.testing import MockClock
from venues import rig as shared_rig
from venues.rig import Rig, open_rig

from arbtrio.core.book import L2Book
from arbtrio.core.types import OrderEvent, Side
from arbtrio.emulators.gateio import GateEmulator
from arbtrio.venues.base import BadRequest, Credentials
from arbtrio.venues.gateio import GateClient
from arbtrio.venues.reconnect import Backoff

CREDS = Credentials(api_key="gate-test-key", api_secret="gate-test-secret")
FAST = Backoff(base=0.05, cap=0.2)
SYMBOL = "BTC_USDT"
EPOCH = 1_765_000_000.0  # the wall clock both sides read: EPOCH + virtual time


def wall() -> float:
    return EPOCH + trio.current_time()


@asynccontextmanager
async def rig(**emulator_kwargs: Any) -> AsyncIterator[Rig]:
    """Market seed 5, the emulator and a signed client, both on the virtual wall clock."""
    async with open_rig(
        GateEmulator, GateClient, seed=5, emulator_credentials=CREDS, credentials=CREDS,
        backoff=FAST, emulator_kwargs={"wall_clock": wall} | emulator_kwargs, symbol=SYMBOL,
        wall_clock=wall,
    ) as r:  # fmt: skip
        yield r


async def wait_until(predicate: Callable[[], bool], guard_s: float = 20.0) -> None:
    await shared_rig.wait_until(predicate, guard_s)


async def open_long(r: Rig, nursery: trio.Nursery, qty: str = "0.01") -> None:
    """Books and the order stream running, then a filled IOC buy of ``qty``."""
    await nursery.start(r.client.run_books, [SYMBOL], lambda book: None)
    await wait_until(lambda: r.client.books[SYMBOL].tradable)
    send, receive = trio.open_memory_channel[OrderEvent](100)
    nursery.start_soon(_drain, receive)
    await nursery.start(r.client.run_order_stream, send)
    await r.client.place_order(r.order(Side.BUY, qty))
    await wait_until(lambda: r.market.position("gateio", SYMBOL) == Decimal(qty))


async def _drain(receive: trio.MemoryReceiveChannel[OrderEvent]) -> None:
    async for _ in receive:
        pass


# -- leverage and margin mode ------------------------------------------------------------------
async def test_configure_sets_mode_and_leverage_and_a_repeat_is_success(
    autojump_clock: MockClock,
) -> None:
    async with rig() as r:
        await r.client.configure_instrument(SYMBOL, leverage=5, margin_mode="isolated")
        assert (r.emulator.margin[SYMBOL].mode, r.emulator.margin[SYMBOL].leverage) == (
            "isolated", 5,
        )  # fmt: skip
        asked = r.emulator.requests
        await r.client.configure_instrument(SYMBOL, leverage=5, margin_mode="isolated")
        assert r.emulator.requests == asked + 2  # sent again, answered 200: already set
        await r.client.configure_instrument(SYMBOL, leverage=20, margin_mode="cross")
        assert (r.emulator.margin[SYMBOL].mode, r.emulator.margin[SYMBOL].leverage) == (
            "cross", 20,
        )  # fmt: skip
        assert r.emulator.margin["ETH_USDT"].leverage == 10  # per contract
        assert r.emulator.auth_failures == 0


@pytest.mark.parametrize("leverage", [0, -3, 101])
async def test_a_leverage_the_contract_cannot_take_is_refused_before_sending(
    autojump_clock: MockClock, leverage: int
) -> None:
    async with rig() as r:
        await r.client.load_instruments()
        asked = r.emulator.requests
        with pytest.raises(BadRequest, match=rf"leverage.*{leverage}"):
            await r.client.configure_instrument(SYMBOL, leverage=leverage, margin_mode="cross")
        assert r.emulator.requests == asked


async def test_the_venue_refusing_a_leverage_is_a_bad_request_naming_it(
    autojump_clock: MockClock,
) -> None:
    async with rig() as r:
        await r.client.load_instruments()
        inst = r.client.instruments[SYMBOL]
        r.client.instruments[SYMBOL] = attrs.evolve(inst, max_leverage=None)  # not checked here
        with pytest.raises(BadRequest, match="isolated leverage 150 refused") as info:
            await r.client.configure_instrument(SYMBOL, leverage=150, margin_mode="isolated")
        assert info.value.code == "INVALID_PARAM_VALUE"
        assert r.emulator.margin[SYMBOL].leverage == 10  # unchanged
        assert "leverage_max" in info.value.message


async def test_a_mode_change_with_an_open_position_is_refused(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await open_long(r, nursery)
        with pytest.raises(BadRequest, match=r"margin mode isolated refused.*open position"):
            await r.client.configure_instrument(SYMBOL, leverage=5, margin_mode="isolated")
        assert r.emulator.margin[SYMBOL].mode == "cross"
        await r.client.configure_instrument(SYMBOL, leverage=25, margin_mode="cross")
        assert r.emulator.margin[SYMBOL].leverage == 25  # the same mode: allowed
        nursery.cancel_scope.cancel()


# -- positions, mark and liquidation price -------------------------------------------------------
async def test_positions_carry_the_venues_mark_and_liquidation_price(
    autojump_clock: MockClock,
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await r.client.configure_instrument(SYMBOL, leverage=10, margin_mode="isolated")
        await open_long(r, nursery)
        (position,) = await r.client.fetch_positions()
        inst = r.client.instruments[SYMBOL]
        qty = r.market.position("gateio", SYMBOL)
        entry = position.entry_price
        assert position.qty == qty == Decimal("0.01") and entry is not None
        liq = r.emulator._liquidation_price(inst, qty, entry, r.emulator.margin[SYMBOL])
        assert position.liquidation_price == liq and liq is not None
        assert entry * Decimal("0.9") < liq < entry  # long at 10×: ~9.5 % below entry
        assert position.mark_price == r.emulator._mark_price(inst)
        # cross (set behind the open position), the whole balance behind a small long: none
        r.emulator.margin[SYMBOL] = attrs.evolve(r.emulator.margin[SYMBOL], mode="cross")
        (position,) = await r.client.fetch_positions()
        assert position.liquidation_price is None and position.mark_price is not None
        nursery.cancel_scope.cancel()


async def test_a_fill_updates_the_pushed_position_and_balance(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await r.client.configure_instrument(SYMBOL, leverage=10, margin_mode="isolated")
        assert r.client.pushed_positions == {} and r.client.pushed_balances == {}
        await open_long(r, nursery)
        await wait_until(lambda: SYMBOL in r.client.pushed_positions)
        await wait_until(lambda: "USDT" in r.client.pushed_balances)
        pushed = r.client.pushed_positions[SYMBOL]
        (fetched,) = await r.client.fetch_positions()
        assert pushed.qty == fetched.qty == Decimal("0.01")
        assert pushed.entry_price == fetched.entry_price
        assert pushed.liquidation_price == fetched.liquidation_price is not None
        assert pushed.mark_price is None  # Gate's position push carries no mark
        balance = r.client.pushed_balances["USDT"]
        assert balance.total == r.market.balances("gateio")[0].total
        assert set(r.client.pushed_positions) == {SYMBOL}  # traded contracts only
        nursery.cancel_scope.cancel()


# -- exchange time on books ----------------------------------------------------------------------
@pytest.mark.parametrize("delay", [0.0, 0.8])
async def test_a_lagging_but_flowing_feed_shows_its_lag(
    autojump_clock: MockClock, delay: float
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await nursery.start(r.client.run_books, [SYMBOL], lambda book: None)
        book: L2Book = r.client.books[SYMBOL]
        await wait_until(lambda: book.tradable and book.updates > 5)
        assert book.exchange_ts > EPOCH and book.lag_s == pytest.approx(0.0, abs=0.01)
        r.emulator.book_delay_s = delay
        updates = book.updates
        await wait_until(lambda: book.updates > updates + 20)
        assert book.tradable and r.client.health.resyncs == 0  # late, not broken
        assert book.lag_s == pytest.approx(delay, abs=0.02)
        assert book.last_update_ts - (book.exchange_ts - EPOCH) == pytest.approx(delay, abs=0.02)
        nursery.cancel_scope.cancel()
