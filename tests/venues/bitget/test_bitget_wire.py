"""What only Bitget has, against the Bitget emulator over real loopback sockets: the
``books5`` snapshot channel, the ten-messages-a-second stream limit (a resync storm, a
standing start), the trade-rate lookup of asset hints and ``tradeSide`` on a one-way
account. What every venue does (books with checksums, resyncs, reconnects, instruments,
orders, errors, authentication) is in ``tests/venues/test_conformance.py``, with Bitget's
values in ``registry.py``.

On Trio's MockClock (``autojump_clock``, enforced by :func:`registry.open_venue`);
signature timestamps come from the wall clock.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
from trio.testing import MockClock
from trio_websocket import open_websocket_url
from venues.registry import (
    BITGET,
    GUARD_S,
    Expect,
    ladders_of,
    market_ladders,
    open_venue,
    order_request,
    raises,
)
from venues.rig import wait_until

from arbtrio.core.types import Side
from arbtrio.venues.base import BadRequest
from arbtrio.venues.bitget.feed import SendBudget
from arbtrio.venues.stream import Send

SYMBOL = BITGET.symbol


async def test_snapshot_channel_books5(autojump_clock: MockClock) -> None:
    async with open_venue(BITGET, channel="books5") as r, trio.open_nursery() as n:
        await n.start(r.client.run_books, [SYMBOL], lambda _b: None)
        book = r.client.books[SYMBOL]
        await wait_until(
            lambda: book.tradable and ladders_of(book) == market_ladders(5)(r, SYMBOL), GUARD_S
        )
        n.cancel_scope.cancel()


async def test_resync_storm_stays_under_the_send_limit(autojump_clock: MockClock) -> None:
    """Three unreadable frames resync both books three times: twelve unsubscribe/subscribe
    messages at once, more than the venue takes in a second (it would answer 30007 and
    close). The protocol's send budget spreads them out: no reconnect, both books back."""
    async with open_venue(BITGET) as r, trio.open_nursery() as n:
        await n.start(r.client.run_books, list(BITGET.symbols), lambda _b: None)
        books = [r.client.books[s] for s in BITGET.symbols]
        await wait_until(lambda: all(b.tradable for b in books), GUARD_S)
        for _ in range(3):
            r.emulator.inject_public("{truncated")
        await wait_until(lambda: r.client.health.malformed >= 3, GUARD_S)
        await wait_until(lambda: r.client.health.resyncs >= 6, GUARD_S)
        await trio.sleep(3)  # virtual: every queued message sent, each acked
        assert all(b.tradable for b in books)
        assert r.client.health.reconnects == 0 and r.client.health.connected
        n.cancel_scope.cancel()


async def test_stream_sender_stays_under_ten_messages_a_second(autojump_clock: MockClock) -> None:
    """The venue takes at most 10 messages a second per connection, pings included, and
    disconnects past that (the emulator answers 30007 and closes); the protocols' send
    budget must never get there, even from a standing start with a full budget: 16 pings
    written as soon as the budget admits each (polled every 10 ms, as the shell would)."""
    async with open_venue(BITGET) as r, open_websocket_url(r.client.ws_url) as ws:
        budget = SendBudget()
        budget.reset(trio.current_time())
        with trio.fail_after(10):
            for _ in range(16):
                budget.push("ping")
            while budget.queue:
                for out in budget.drain(trio.current_time()):
                    assert isinstance(out, Send)
                    await ws.send_message(out.text)
                await trio.sleep(0.01)
            replies = [await ws.get_message() for _ in range(16)]
        assert replies == ["pong"] * 16


@pytest.mark.parametrize(
    ("hints", "asked"),
    [
        (("DOGE", "ETH", "BTC"), "ETHUSDT"),
        (("BTC", "ETH"), "BTCUSDT"),
        (("ETHUSDT",), "ETHUSDT"),
        (("DOGE",), "BTCUSDT"),  # nothing known: the first instrument, as without hints
    ],
)
async def test_asset_hints_are_mapped_to_symbols(
    hints: tuple[str, ...], asked: str, autojump_clock: MockClock
) -> None:
    """``arbtrio run`` hints assets ("BTC"), the simulator venue symbols ("BTCUSDT"): the
    fee lookup asks trade-rate for the symbol of the first known hint (the venue refuses an
    unknown symbol with 40034), and a hint the venue does not list is skipped."""
    async with open_venue(BITGET, symbols_hint=hints) as r:
        sent: list[str] = []
        real_send = r.client.rest.send

        async def spy(prepared: Any, *args: Any, **kw: Any) -> Any:
            sent.append(prepared.path)
            return await real_send(prepared, *args, **kw)

        r.client.rest.send = spy
        insts = {i.symbol: i for i in await r.client.load_instruments()}
        assert set(insts) == {i.symbol for i in r.market.instruments("bitget")}
        (rate_path,) = [p for p in sent if p.startswith("/api/v2/common/trade-rate")]
        assert f"symbol={asked}" in rate_path
        w = r.market.instruments("bitget")[0]
        assert all((i.taker_fee, i.maker_fee) == (w.taker_fee, w.maker_fee)
                   for i in insts.values())  # fmt: skip


async def test_trade_side_on_a_one_way_account_is_refused(autojump_clock: MockClock) -> None:
    """A hedge-mode client sends ``tradeSide``; the one-way account refuses it with 40774
    (spec 012: the documentation says it is ignored in one-way mode)."""
    async with open_venue(BITGET, hedge_mode=True) as r:
        request = order_request(r, Side.BUY, BITGET.order_qty, "r5")
        await raises(Expect(BadRequest, code="40774"), r.client.place_order(request))
