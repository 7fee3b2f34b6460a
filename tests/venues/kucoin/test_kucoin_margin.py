"""KuCoin client against the KuCoin emulator (loopback, virtual time): leverage and margin
mode per symbol, positions with mark and liquidation price, the private stream's pushed
positions and balances, and the book's exchange-time lag."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import pytest
import trio
from trio.testing import MockClock
from venues import rig as shared_rig
from venues.rig import Rig, open_rig

from arbtrio.core.book import L2Book
from arbtrio.core.types import OrderEvent, Side, VenuePosition
from arbtrio.emulators.kucoin import KucoinEmulator
from arbtrio.emulators.kucoin_protocol import MAINT_MARGIN_RATE
from arbtrio.venues.base import BadRequest, Credentials
from arbtrio.venues.kucoin import KucoinClient
from arbtrio.venues.reconnect import Backoff

CREDS = Credentials(api_key="kc-test-key", api_secret="kc-test-secret", passphrase="kc-pass")
SYMBOL = "XBTUSDTM"
EPOCH = 1_750_000_000.0


def rig(**client_kwargs: Any) -> AbstractAsyncContextManager[Rig]:
    return open_rig(
        KucoinEmulator, KucoinClient, seed=7, emulator_credentials=CREDS, credentials=CREDS,
        backoff=Backoff(base=0.05, cap=0.2), symbol=SYMBOL, pass_ws_url=False, **client_kwargs,
    )  # fmt: skip


async def wait_until(predicate: Callable[[], bool], guard_s: float = 20.0) -> None:
    await shared_rig.wait_until(predicate, guard_s)


async def books(r: Rig, nursery: trio.Nursery, on_update: Callable[[L2Book], None]) -> L2Book:
    await nursery.start(r.client.run_books, [SYMBOL], on_update)
    book: L2Book = r.client.books[SYMBOL]
    await wait_until(lambda: book.tradable)
    return book


async def order_stream(r: Rig, nursery: trio.Nursery) -> None:
    send, receive = trio.open_memory_channel[OrderEvent](1000)
    nursery.start_soon(_drain, receive)
    await nursery.start(r.client.run_order_stream, send)


async def _drain(receive: trio.MemoryReceiveChannel[OrderEvent]) -> None:
    async for _ in receive:
        pass


def venue_position(r: Rig) -> dict[str, Any]:
    """The emulator's own report of the position (what the venue would answer)."""
    inst = r.emulator.instruments[SYMBOL]
    report: dict[str, Any] = r.emulator._position_json(inst)
    return report


# -- leverage and margin mode ----------------------------------------------------------------
async def test_configure_sets_the_symbol_once_and_its_orders_follow(
    autojump_clock: MockClock,
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        client, em = r.client, r.emulator
        await client.configure_instrument(SYMBOL, leverage=10, margin_mode="cross")
        assert (em.margin_modes[SYMBOL], em.cross_leverage[SYMBOL]) == ("CROSS", 10)
        assert em.config_log == [(SYMBOL, "marginMode", "CROSS"), (SYMBOL, "leverage", "10")]
        used = em.pools["futures"].used
        await client.configure_instrument(SYMBOL, leverage=10, margin_mode="cross")
        assert len(em.config_log) == 2  # already set: nothing changed, nothing refused
        assert em.pools["futures"].used == used + 4  # the two reads, weight 2 each
        assert em.margin_modes["ETHUSDTM"] == "ISOLATED"  # per symbol
        await books(r, nursery, lambda book: None)
        await client.place_order(r.order(Side.BUY, "0.002"))  # a CROSS order: accepted
        (position,) = await client.fetch_positions()
        assert position.qty == Decimal("0.002") and venue_position(r)["leverage"] == 10
        nursery.cancel_scope.cancel()


async def test_refused_settings_are_bad_requests_naming_the_value(
    autojump_clock: MockClock,
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        client, em = r.client, r.emulator
        await books(r, nursery, lambda book: None)
        await client.configure_instrument(SYMBOL, leverage=3, margin_mode="isolated")
        assert em.config_log == [] and client.configured == {SYMBOL: (3, "ISOLATED")}
        await client.place_order(r.order(Side.SELL, "0.003"))  # opens an isolated 3x short
        with pytest.raises(BadRequest, match=r"margin mode CROSS refused.*300000") as info:
            await client.configure_instrument(SYMBOL, leverage=3, margin_mode="cross")
        assert info.value.code == "300000"  # the venue refuses a switch with a position
        assert em.margin_modes[SYMBOL] == "ISOLATED"
        assert client.configured == {SYMBOL: (3, "ISOLATED")}  # orders keep the old setting
        with pytest.raises(BadRequest, match=r"cross leverage 126 refused.*100001"):
            await client.configure_instrument("ETHUSDTM", leverage=126, margin_mode="cross")
        assert em.cross_leverage["ETHUSDTM"] == 5 and "ETHUSDTM" not in client.configured
        with pytest.raises(BadRequest, match="leverage 126 is above maxLeverage 125"):
            await client.configure_instrument("ETHUSDTM", leverage=126, margin_mode="isolated")
        nursery.cancel_scope.cancel()


# -- positions ------------------------------------------------------------------------------
async def test_positions_carry_the_venues_mark_and_liquidation_price(
    autojump_clock: MockClock,
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        client = r.client
        inst = r.emulator.instruments[SYMBOL]
        await books(r, nursery, lambda book: None)
        assert await client.fetch_positions() == []  # flat: no position at all
        await client.configure_instrument(SYMBOL, leverage=4, margin_mode="isolated")
        await client.place_order(r.order(Side.BUY, "0.005"))
        (position,) = await client.fetch_positions()
        assert position.entry_price is not None
        rate = MAINT_MARGIN_RATE + inst.taker_fee
        expected = position.entry_price * (1 - Decimal(1) / 4 + rate)  # isolated 4x long
        assert position.liquidation_price == expected.quantize(inst.tick_size, ROUND_CEILING)
        mid = r.market.mid("kucoin", inst.asset)
        assert position.mark_price == pytest.approx(Decimal(repr(mid)), abs=inst.tick_size)
        report = venue_position(r)
        assert (position.mark_price, position.liquidation_price) == (
            report["markPrice"], report["liquidationPrice"]
        )  # fmt: skip
        nursery.cancel_scope.cancel()


async def test_a_cross_position_is_liquidated_against_the_account_balance(
    autojump_clock: MockClock,
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        inst = r.emulator.instruments[SYMBOL]
        await r.client.configure_instrument(SYMBOL, leverage=20, margin_mode="cross")
        await books(r, nursery, lambda book: None)
        await r.client.place_order(r.order(Side.SELL, "0.004"))
        (position,) = await r.client.fetch_positions()
        assert position.entry_price is not None and position.qty == Decimal("-0.004")
        balance = r.market.balances("kucoin")[0].total
        rate = MAINT_MARGIN_RATE + inst.taker_fee
        expected = position.entry_price * (1 - rate) + balance / Decimal("0.004")
        assert position.liquidation_price == expected.quantize(inst.tick_size, ROUND_FLOOR)
        nursery.cancel_scope.cancel()


# -- the private stream's pushes -------------------------------------------------------------
async def test_a_fill_updates_the_pushed_position_and_balance(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        client = r.client
        await books(r, nursery, lambda book: None)
        await order_stream(r, nursery)
        assert client.pushed_positions == {} and client.pushed_balances == {}
        await client.configure_instrument(SYMBOL, leverage=5, margin_mode="isolated")
        await client.place_order(r.order(Side.BUY, "0.007"))

        def pushed() -> VenuePosition | None:
            return client.pushed_positions.get(SYMBOL)

        await wait_until(lambda: (p := pushed()) is not None and p.qty == Decimal("0.007"))
        await wait_until(lambda: "USDT" in client.pushed_balances)
        (fetched,) = await client.fetch_positions()
        assert pushed() == fetched  # the push says what REST says, mark and liquidation too
        assert fetched.liquidation_price is not None and fetched.mark_price is not None
        (balance,) = r.market.balances("kucoin")
        assert client.pushed_balances["USDT"].total == balance.total
        assert set(client.pushed_positions) == {SYMBOL} and client.health.malformed == 0
        nursery.cancel_scope.cancel()


# -- exchange time on books ------------------------------------------------------------------
@pytest.mark.parametrize("delay_s", [0.0, 0.8])
async def test_a_lagging_book_feed_shows_its_lag(delay_s: float, autojump_clock: MockClock) -> None:
    """The emulator's wall clock and the client's runtime clock advance together (virtual
    time); once the book has its floor, the emulator delays every push by ``delay_s``."""

    def wall() -> float:
        return EPOCH + trio.current_time()

    async with (
        open_rig(
            KucoinEmulator, KucoinClient, seed=7, emulator_credentials=CREDS, credentials=None,
            backoff=Backoff(base=0.05, cap=0.2), symbol=SYMBOL, pass_ws_url=False,
            emulator_kwargs={"wall_clock": wall}, wall_clock=wall,
        ) as r,
        trio.open_nursery() as nursery,
    ):  # fmt: skip
        lags: list[float] = []
        book = await books(r, nursery, lambda b: lags.append(b.lag_s))
        start = book.updates
        await wait_until(lambda: book.updates > start + 50)
        assert book.exchange_ts == pytest.approx(wall(), abs=1.0)  # epoch seconds
        assert max(lags[-40:]) < 0.05  # on time: no lag above the floor
        r.emulator.book_delay_s = delay_s
        lags.clear()
        await trio.sleep(5.0)
        assert len(lags) > 50 and book.tradable
        assert lags[-1] == pytest.approx(delay_s, abs=0.05)
        assert max(lags) < delay_s + 0.05
        nursery.cancel_scope.cancel()
