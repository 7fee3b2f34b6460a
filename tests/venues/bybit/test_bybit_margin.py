"""The Bybit client's margin side against the Bybit emulator over loopback sockets, on
Trio's MockClock (``autojump_clock``): leverage and margin mode set, already set and
refused; positions with the venue's mark and liquidation price, over REST and pushed; the
wallet push; the book's exchange time and the lag of a feed that keeps flowing late."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import pytest
import trio
from venues.rig import Rig, open_rig, wait_until

from arbtrio.core.book import L2Book
from arbtrio.core.types import OrderEvent, OrderRequest, Side
from arbtrio.emulators.bybit import BybitEmulator
from arbtrio.venues.base import BadRequest, Credentials
from arbtrio.venues.bybit.client import BybitClient
from arbtrio.venues.reconnect import Backoff

CREDS = Credentials(api_key="test-key", api_secret="test_secret")
FAST = Backoff(base=0.02, cap=0.1)
SYMBOL = "BTCUSDT"
TICK = Decimal("0.1")
MMR = Decimal("0.005")  # the lowest risk tier's maintenance margin rate (spec 011)
EPOCH = 1_700_000_000.0


def wall() -> float:
    """One wall clock for the venue and the client: epoch time that moves with Trio's."""
    return EPOCH + trio.current_time()


@asynccontextmanager
async def rig(**client_kwargs: Any) -> AsyncIterator[Rig]:
    """Market seed 3, the Bybit emulator and a client sharing :func:`wall`, instruments
    loaded."""
    async with open_rig(
        BybitEmulator, BybitClient, seed=3, emulator_credentials=CREDS, credentials=CREDS,
        backoff=FAST, symbol=SYMBOL, emulator_kwargs={"wall_clock": wall}, wall_clock=wall,
        **client_kwargs,
    ) as r:  # fmt: skip
        await r.client.load_instruments()
        yield r


def buy(r: Rig, cid: str, qty: str = "0.005", side: Side = Side.BUY) -> OrderRequest:
    """An IOC order 20 bps through the market's far touch (it fills)."""
    bids, asks = r.market.book_levels("bybit", SYMBOL, 1)
    if side is Side.BUY:
        price = (asks[0][0] * Decimal("1.002")).quantize(TICK)
    else:
        price = (bids[0][0] * Decimal("0.998")).quantize(TICK)
    return OrderRequest(venue="bybit", symbol=SYMBOL, client_order_id=cid, side=side,
                        qty=Decimal(qty), price=price)  # fmt: skip


def isolated_liq(entry: Decimal, qty: Decimal, leverage: int) -> Decimal:
    """``entry × (1 ∓ 1/leverage ± mmr)``, on the tick towards the entry (spec 011)."""
    if qty > 0:
        price, rounding = entry * (1 - Decimal(1) / leverage + MMR), ROUND_CEILING
    else:
        price, rounding = entry * (1 + Decimal(1) / leverage - MMR), ROUND_FLOOR
    return (price / TICK).to_integral_value(rounding) * TICK


def venue_mark(r: Rig) -> Decimal:
    bids, asks = r.market.book_levels("bybit", SYMBOL, 1)
    return ((bids[0][0] + asks[0][0]) / 2 / TICK).to_integral_value() * TICK


# -- leverage and margin mode ------------------------------------------------------------------
async def test_configure_instrument_sets_the_margin_mode_then_the_leverage(
    autojump_clock: Any,
) -> None:
    async with rig() as r:
        emu: BybitEmulator = r.emulator
        assert (emu.margin_mode, emu.leverage) == ("REGULAR_MARGIN", {})
        await r.client.configure_instrument(SYMBOL, leverage=5, margin_mode="isolated")
        assert (emu.margin_mode, emu.leverage) == ("ISOLATED_MARGIN", {SYMBOL: Decimal(5)})
        assert (r.client.margin_mode, r.client.leverage) == ("isolated", {SYMBOL: 5})


async def test_configure_instrument_again_is_success_also_after_a_restart_with_a_position(
    autojump_clock: Any,
) -> None:
    """The leverage in place is answered 110043 "leverage not modified": success. A new
    client (a restart) finds the mode in place in account info and switches nothing, so an
    open position does not stop it."""
    async with rig() as r:
        emu: BybitEmulator = r.emulator
        await r.client.configure_instrument(SYMBOL, leverage=7, margin_mode="isolated")
        before = emu.requests
        await r.client.configure_instrument(SYMBOL, leverage=7, margin_mode="isolated")
        assert emu.requests == before + 1  # set-leverage only, answered 110043
        await r.client.place_order(buy(r, "m-open-1"))
        assert r.market.position("bybit", SYMBOL) == Decimal("0.005")
        for mode in ("isolated", "cross"):  # two restarts: the same mode, the other one
            restarted = BybitClient(rest_url=r.client.rest_url, credentials=CREDS,
                                    wall_clock=wall)  # fmt: skip
            try:
                if mode == "isolated":
                    await restarted.configure_instrument(SYMBOL, leverage=7, margin_mode=mode)
                    assert restarted.margin_mode == "isolated"
                    continue
                with pytest.raises(BadRequest, match=r"margin mode cross .* positions are open"):
                    await restarted.configure_instrument(SYMBOL, leverage=7, margin_mode=mode)
            finally:
                await restarted.aclose()
        assert (emu.margin_mode, emu.leverage) == ("ISOLATED_MARGIN", {SYMBOL: Decimal(7)})


async def test_refusals_raise_bad_request_naming_the_value(autojump_clock: Any) -> None:
    async with rig() as r:
        emu: BybitEmulator = r.emulator
        with pytest.raises(BadRequest, match="BTCUSDT: leverage 101 refused") as refused:
            await r.client.configure_instrument(SYMBOL, leverage=101, margin_mode="cross")
        assert refused.value.code == "10001"  # above the contract's maxLeverage (100)
        assert emu.leverage == {}
        before = emu.requests
        bad: list[tuple[Any, Any, str]] = [
            (0, "cross", "leverage 0 must"),
            (True, "cross", "leverage True must"),
            (3, "portfolio", "margin mode 'portfolio' is not"),
        ]
        for leverage, mode, says in bad:
            with pytest.raises(BadRequest, match=says):
                await r.client.configure_instrument(SYMBOL, leverage=leverage, margin_mode=mode)
        assert emu.requests == before  # refused before sending
        # the margin mode is the account's: another symbol cannot ask for the other mode
        await r.client.configure_instrument(SYMBOL, leverage=3, margin_mode="cross")
        sent = emu.requests
        with pytest.raises(BadRequest, match=r"ETHUSDT: margin mode isolated .* account-wide"):
            await r.client.configure_instrument("ETHUSDT", leverage=3, margin_mode="isolated")
        assert emu.requests == sent  # refused before sending
        assert emu.margin_mode == "REGULAR_MARGIN"


async def test_concurrent_calls_asking_both_modes_switch_the_account_once(
    autojump_clock: Any,
) -> None:
    """Two symbols configured at once, one cross and one isolated: the account's mode is
    read and set by one of them (Trio picks which runs first); the other is refused, the
    mode left as the first set it."""
    async with rig() as r:
        outcomes: dict[str, str] = {}

        async def configure(symbol: str, mode: Any) -> None:
            try:
                await r.client.configure_instrument(symbol, leverage=2, margin_mode=mode)
                outcomes[symbol] = "set"
            except BadRequest as exc:
                outcomes[symbol] = exc.message

        async with trio.open_nursery() as nursery:
            nursery.start_soon(configure, SYMBOL, "isolated")
            nursery.start_soon(configure, "ETHUSDT", "cross")
        (winner,) = [symbol for symbol, outcome in outcomes.items() if outcome == "set"]
        (loser,) = set(outcomes) - {winner}
        assert "account-wide" in outcomes[loser]  # whichever ran second
        want = "ISOLATED_MARGIN" if winner == SYMBOL else "REGULAR_MARGIN"
        assert (r.emulator.margin_mode, r.emulator.leverage) == (want, {winner: Decimal(2)})


# -- positions: mark and liquidation price -----------------------------------------------------
async def test_positions_carry_the_mark_and_the_liquidation_price(autojump_clock: Any) -> None:
    """Isolated: the emulator's documented formula from entry and leverage; cross with the
    simulated 100 000 USDT behind a small position: no liquidation price (reported "")."""
    async with rig() as r:
        await r.client.configure_instrument(SYMBOL, leverage=5, margin_mode="isolated")
        await r.client.place_order(buy(r, "m-long-1"))
        (p,) = await r.client.fetch_positions()
        assert p.qty == Decimal("0.005") and p.entry_price is not None
        assert p.liquidation_price == isolated_liq(p.entry_price, p.qty, 5)
        assert p.mark_price == venue_mark(r)
        await r.client.place_order(buy(r, "m-flip-1", "0.01", Side.SELL))
        (p,) = await r.client.fetch_positions()
        assert p.qty == Decimal("-0.005") and p.entry_price is not None
        assert p.liquidation_price == isolated_liq(p.entry_price, p.qty, 5) > p.entry_price
    async with rig() as r:  # a fresh account, cross by default
        await r.client.place_order(buy(r, "m-cross-1"))
        (p,) = await r.client.fetch_positions()
        assert p.liquidation_price is None and p.mark_price == venue_mark(r)


# -- pushes ------------------------------------------------------------------------------------
async def test_a_fill_updates_the_pushed_position_and_balance(autojump_clock: Any) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        client: BybitClient = r.client
        await client.configure_instrument(SYMBOL, leverage=4, margin_mode="isolated")
        send, _ = trio.open_memory_channel[OrderEvent](100)
        await nursery.start(client.run_order_stream, send)
        assert client.pushed_positions == {} and client.pushed_balances == {}  # no snapshot
        await client.place_order(buy(r, "m-push-1"))
        await wait_until(lambda: SYMBOL in client.pushed_positions)
        await wait_until(lambda: "USDT" in client.pushed_balances)
        (rest,) = await client.fetch_positions()
        pushed = client.pushed_positions[SYMBOL]
        assert (pushed.qty, pushed.entry_price) == (Decimal("0.005"), rest.entry_price)
        assert pushed.entry_price is not None
        assert pushed.liquidation_price == isolated_liq(pushed.entry_price, pushed.qty, 4)
        assert pushed.mark_price is not None and pushed.mark_price > 0
        (usdt,) = [b for b in await client.fetch_balances() if b.currency == "USDT"]
        assert client.pushed_balances["USDT"] == usdt  # the fee paid, the margin used
        assert usdt.total < Decimal(100_000) and usdt.available < usdt.total
        await client.place_order(buy(r, "m-push-2", side=Side.SELL))  # flat again
        await wait_until(lambda: client.pushed_positions[SYMBOL].qty == 0)
        flat = client.pushed_positions[SYMBOL]
        assert (flat.entry_price, flat.liquidation_price) == (None, None)  # "0" and "0"
        assert client.private_health.skipped == 0
        nursery.cancel_scope.cancel()


# -- exchange time on books --------------------------------------------------------------------
async def test_a_feed_held_back_shows_its_lag_while_it_keeps_flowing(autojump_clock: Any) -> None:
    """Book frames carry the emulator's ``ts``; with the delay knob at 0.8 s they arrive
    0.8 s late with their original timestamps: ``lag_s`` ≈ 0.8 above the floor the book
    saw before; back at 0 it is ≈ 0 again."""
    async with rig() as r, trio.open_nursery() as nursery:
        emu: BybitEmulator = r.emulator
        books: list[L2Book] = []
        await nursery.start(r.client.run_books, [SYMBOL], books.append)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: book.updates >= 20)
        assert book.tradable and book.lag_s == pytest.approx(0.0, abs=0.005)
        assert book.exchange_ts == pytest.approx(wall(), abs=1.0)
        emu.book_delay_s = 0.8
        await trio.sleep(5.0)
        updates = book.updates
        await wait_until(lambda: book.updates >= updates + 20)
        assert book.tradable and book.lag_s == pytest.approx(0.8, abs=0.005)
        assert book.last_update_ts - (book.exchange_ts - EPOCH) == pytest.approx(0.8, abs=0.005)
        emu.book_delay_s = 0.0
        await trio.sleep(5.0)
        assert book.tradable and book.lag_s == pytest.approx(0.0, abs=0.005)
        assert r.client.health.resyncs == 0  # held back in order: no gap
        nursery.cancel_scope.cancel()
