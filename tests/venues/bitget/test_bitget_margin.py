"""The Bitget client against the Bitget emulator for margin: leverage and margin mode per
instrument, positions with mark and liquidation price, the balance and position pushes,
and the books' exchange time (loopback sockets, Trio's MockClock with autojump; both
sides' wall clocks run on the virtual clock, so exchange times and receipts agree)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import pytest
import trio
from trio.testing import MockClock
from venues.rig import Rig, open_rig, wait_until

from arbtrio.core.types import OrderEvent, OrderRequest, Side
from arbtrio.emulators.bitget import BitgetEmulator
from arbtrio.emulators.bitget.margin import Setting
from arbtrio.venues.base import BadRequest, Credentials
from arbtrio.venues.bitget.client import BitgetClient
from arbtrio.venues.reconnect import Backoff

CREDS = Credentials(api_key="test-key", api_secret="test_secret", passphrase="test-pass")
SYMBOL = "BTCUSDT"
EPOCH = 1_700_000_000.0
MMR = Decimal("0.004")  # the emulator's maintenance margin rate


def wall() -> float:
    return EPOCH + trio.current_time()


def rig(**client_kwargs: Any) -> AbstractAsyncContextManager[Rig]:
    return open_rig(
        BitgetEmulator, BitgetClient, seed=3, emulator_credentials=CREDS, credentials=CREDS,
        backoff=Backoff(base=0.02, cap=0.1), emulator_kwargs={"wall_clock": wall},
        wall_clock=wall, symbol=SYMBOL, **client_kwargs,
    )  # fmt: skip


def order(r: Rig, side: Side, qty: str, cid: str) -> OrderRequest:
    bids, asks = r.market.book_levels("bitget", SYMBOL, 1)
    touch = asks[0][0] * Decimal("1.002") if side is Side.BUY else bids[0][0] * Decimal("0.998")
    return OrderRequest(venue="bitget", symbol=SYMBOL, client_order_id=cid, side=side,
                        qty=Decimal(qty), price=touch.quantize(Decimal("0.1")))  # fmt: skip


async def test_configure_instrument_set_already_set_and_refused(autojump_clock: MockClock) -> None:
    async with rig() as r:
        client, emu = r.client, r.emulator
        await client.configure_instrument(SYMBOL, leverage=5, margin_mode="isolated")
        assert emu.settings[SYMBOL] == Setting("isolated", 20, 5, 5)
        before = emu.requests
        await client.configure_instrument(SYMBOL, leverage=5, margin_mode="isolated")
        assert emu.requests == before + 2  # asked again: unchanged mode 00000, leverage 40814
        with pytest.raises(BadRequest, match="leverage 200") as exc:
            await client.configure_instrument(SYMBOL, leverage=200, margin_mode="isolated")
        assert exc.value.code == "45045" and emu.settings[SYMBOL] == Setting("isolated", 20, 5, 5)
        await client.place_order(order(r, Side.BUY, "0.05", "iso-1"))
        assert emu.orders["iso-1"].margin_mode == "isolated"  # orders carry the setting
        with pytest.raises(BadRequest, match="margin mode crossed") as exc:
            await client.configure_instrument(SYMBOL, leverage=5, margin_mode="cross")
        assert exc.value.code == "45117" and emu.settings[SYMBOL].margin_mode == "isolated"
        assert client.margin_modes[SYMBOL] == "isolated"
        await client.configure_instrument(SYMBOL, leverage=8, margin_mode="isolated")
        assert emu.settings[SYMBOL] == Setting("isolated", 20, 8, 8)  # with the position open


async def test_positions_carry_the_venue_mark_and_liquidation_price(
    autojump_clock: MockClock,
) -> None:
    async with rig() as r:
        await r.client.configure_instrument(SYMBOL, leverage=10, margin_mode="isolated")
        await r.client.place_order(order(r, Side.SELL, "0.5", "short-1"))
        (pos,) = await r.client.fetch_positions()
        (venue,) = r.market.positions("bitget")
        assert (pos.qty, pos.entry_price) == (venue.qty, venue.entry_price)
        assert venue.qty < 0 and venue.entry_price is not None
        want = (venue.entry_price * Decimal("1.1") / (1 + MMR)).quantize(Decimal("0.1"))
        assert pos.liquidation_price == want > venue.entry_price
        mid = Decimal(repr(r.market.mid("bitget", "BTC"))).quantize(Decimal("0.1"))
        assert pos.mark_price == mid
        await r.client.configure_instrument(SYMBOL, leverage=10, margin_mode="isolated")
        await r.client.place_order(order(r, Side.BUY, "0.5", "flat-1"))
        await r.client.configure_instrument(SYMBOL, leverage=2, margin_mode="cross")
        await r.client.place_order(order(r, Side.BUY, "0.05", "long-1"))
        (pos,) = await r.client.fetch_positions()
        assert pos.qty > 0 and pos.liquidation_price is None  # 100 000 USDT behind 0.05 BTC


async def test_a_fill_updates_the_pushed_position_and_balance(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as n:
        await r.client.load_instruments()
        send, _recv = trio.open_memory_channel[OrderEvent](1000)
        await n.start(r.client.run_order_stream, send)
        assert r.client.pushed_positions == {} and r.client.pushed_balances == {}
        await r.client.configure_instrument(SYMBOL, leverage=10, margin_mode="isolated")
        await r.client.place_order(order(r, Side.BUY, "0.2", "push-1"))
        held = r.market.position("bitget", SYMBOL)
        await wait_until(lambda: SYMBOL in r.client.pushed_positions)
        pos = r.client.pushed_positions[SYMBOL]
        (venue,) = r.market.positions("bitget")
        assert (pos.qty, pos.entry_price) == (held, venue.entry_price) and held > 0
        assert venue.entry_price is not None
        want = (venue.entry_price * (Decimal("0.9") + MMR)).quantize(Decimal("0.1"))
        assert pos.liquidation_price == want and pos.mark_price is not None
        await wait_until(lambda: "USDT" in r.client.pushed_balances)
        (bal,) = r.market.balances("bitget")
        assert r.client.pushed_balances["USDT"].total == bal.total
        await r.client.place_order(order(r, Side.SELL, str(held), "push-2"))
        await wait_until(lambda: r.client.pushed_positions[SYMBOL].qty == 0)
        await wait_until(lambda: r.client.pushed_balances["USDT"].total != bal.total)
        assert r.client.pushed_balances["USDT"].total == r.market.balances("bitget")[0].total
        assert list(r.client.pushed_positions) == [SYMBOL]
        assert r.client.private_health.skipped == 0
        n.cancel_scope.cancel()


@pytest.mark.parametrize("delay", [0.8, 0.0])
async def test_a_lagging_feed_shows_its_lag_on_the_book(
    autojump_clock: MockClock, delay: float
) -> None:
    async with rig() as r, trio.open_nursery() as n:
        await n.start(r.client.run_books, [SYMBOL], lambda _b: None)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: book.tradable and book.updates >= 20)
        assert book.lag_s < 0.05
        r.emulator.book_delay_s = delay
        updates = book.updates
        await trio.sleep(5.0)
        assert book.updates > updates + 20  # still flowing
        assert abs(book.lag_s - delay) < 0.05, book.lag_s
        assert abs(book.exchange_ts - (wall() - delay)) < 0.5
        n.cancel_scope.cancel()
