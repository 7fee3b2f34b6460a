"""The Bitget client against the Bitget emulator over real loopback sockets (virtual time:
Trio's MockClock with autojump; signature timestamps come from the wall clock)."""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import pytest
import trio
from trio.testing import MockClock
from trio_websocket import open_websocket_url
from venues.rig import Rig, open_rig, wait_until

from arbtrio.core.book import L2Book
from arbtrio.core.types import Fill, OrderEvent, OrderRequest, OrderStatus, OrderUpdate, Side
from arbtrio.emulators.bitget import BitgetEmulator
from arbtrio.sim.config import FaultRates
from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    Credentials,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
)
from arbtrio.venues.bitget.client import BitgetClient
from arbtrio.venues.bitget.feed import SendBudget
from arbtrio.venues.reconnect import Backoff
from arbtrio.venues.stream import Send

CREDS = Credentials(api_key="test-key", api_secret="test_secret", passphrase="test-pass")
FAST = Backoff(base=0.02, cap=0.1)


def rig(
    faults: FaultRates | None = None,
    *,
    credentials: Credentials | None = CREDS,
    emulator_kwargs: dict[str, Any] | None = None,
    **client_kwargs: Any,
) -> AbstractAsyncContextManager[Rig]:
    """Market seed 3, the Bitget emulator, and a client (``credentials``) against it."""
    return open_rig(
        BitgetEmulator,
        BitgetClient,
        seed=3,
        emulator_credentials=CREDS,
        credentials=credentials,
        backoff=FAST,
        faults=faults,
        emulator_kwargs=emulator_kwargs,
        **client_kwargs,
    )


SYMBOL = "BTCUSDT"


def matches_market(r: Rig, book: L2Book, depth: int = 50) -> bool:
    bids, asks = r.market.book_levels("bitget", SYMBOL, depth)
    want_b = [(float(p), float(s)) for p, s in bids]
    want_a = [(float(p), float(s)) for p, s in asks]
    return book.tradable and book.levels(Side.BUY) == want_b and book.levels(Side.SELL) == want_a


async def stream_books(r: Rig, nursery: trio.Nursery) -> None:
    await nursery.start(r.client.run_books, [SYMBOL], lambda _b: None)


def buy(r: Rig, cid: str, qty: str = "0.05", through_bps: int = 20, **kw: object) -> OrderRequest:
    _, asks = r.market.book_levels("bitget", SYMBOL, 1)
    price = (asks[0][0] * (1 + Decimal(through_bps) / 10_000)).quantize(Decimal("0.1"))
    return OrderRequest(venue="bitget", symbol=SYMBOL, client_order_id=cid, side=Side.BUY,
                        qty=Decimal(qty), price=price, **kw)  # type: ignore[arg-type]  # fmt: skip


async def next_update(recv: trio.MemoryReceiveChannel[OrderEvent]) -> list[OrderEvent]:
    events: list[OrderEvent] = []
    with trio.fail_after(5):
        while not any(isinstance(e, OrderUpdate) for e in events):
            events.append(await recv.receive())
    return events


async def test_books_stream_with_checksums_and_track_the_market(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as n:
        await stream_books(r, n)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: book.tradable and book.updates >= 3)
        await wait_until(lambda: matches_market(r, book))
        assert r.client.health.resyncs == 0 and r.client.health.malformed == 0
        n.cancel_scope.cancel()


async def test_snapshot_channel_books5(autojump_clock: MockClock) -> None:
    async with rig(channel="books5") as r, trio.open_nursery() as n:
        await stream_books(r, n)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: matches_market(r, book, depth=5))
        n.cancel_scope.cancel()


async def test_bad_checksum_resubscribes_and_recovers(autojump_clock: MockClock) -> None:
    async with rig(FaultRates(bad_checksum=0.3)) as r, trio.open_nursery() as n:
        await stream_books(r, n)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: r.client.health.resyncs >= 2)
        await wait_until(lambda: book.tradable and book.invalid_reason == "")
        assert r.client.health.reconnects == 0
        n.cancel_scope.cancel()


async def test_lost_update_is_caught_by_the_checksum(autojump_clock: MockClock) -> None:
    async with rig(FaultRates(sequence_gap=0.3)) as r, trio.open_nursery() as n:
        await stream_books(r, n)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: r.client.health.resyncs >= 1)
        await wait_until(lambda: matches_market(r, book))
        n.cancel_scope.cancel()


async def test_disconnect_reconnects_and_resubscribes(autojump_clock: MockClock) -> None:
    async with rig(FaultRates(feed_disconnect=0.2)) as r, trio.open_nursery() as n:
        await stream_books(r, n)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: r.client.health.reconnects >= 2)
        await wait_until(lambda: book.tradable)
        n.cancel_scope.cancel()


async def test_malformed_frame_is_counted_and_the_book_resynced(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as n:
        await stream_books(r, n)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: book.tradable)
        bad = ('{"action":"update","arg":{"instType":"USDT-FUTURES","channel":"books",'
               '"instId":"BTCUSDT"},"data":[{"asks":[["abc","1"]],"bids":[],"checksum":0,'
               '"seq":1,"ts":"1"}],"ts":1}')  # fmt: skip
        r.emulator.inject_public(bad)
        r.emulator.inject_public("{truncated")
        await wait_until(lambda: r.client.health.malformed >= 2)
        await wait_until(lambda: book.tradable)
        assert r.client.health.resyncs >= 2 and r.client.health.reconnects == 0
        n.cancel_scope.cancel()


async def test_resync_storm_stays_under_the_send_limit(autojump_clock: MockClock) -> None:
    """Three unreadable frames resync both books three times: twelve unsubscribe/subscribe
    messages at once, more than the venue takes in a second (it would answer 30007 and
    close). The protocol's send budget spreads them out: no reconnect, both books back."""
    async with rig() as r, trio.open_nursery() as n:
        await n.start(r.client.run_books, ["BTCUSDT", "ETHUSDT"], lambda _b: None)
        books = [r.client.books[s] for s in ("BTCUSDT", "ETHUSDT")]
        await wait_until(lambda: all(b.tradable for b in books))
        for _ in range(3):
            r.emulator.inject_public("{truncated")
        await wait_until(lambda: r.client.health.malformed >= 3)
        await wait_until(lambda: r.client.health.resyncs >= 6)
        await trio.sleep(3)  # every queued message sent, each acked
        assert all(b.tradable for b in books)
        assert r.client.health.reconnects == 0 and r.client.health.connected
        n.cancel_scope.cancel()


async def test_instruments_fees_and_funding(autojump_clock: MockClock) -> None:
    async with rig() as r:
        insts = {i.symbol: i for i in await r.client.load_instruments()}
        want = {i.symbol: i for i in r.market.instruments("bitget")}
        assert set(insts) == set(want)
        for sym, inst in insts.items():
            w = want[sym]
            assert (inst.tick_size, inst.lot_size, inst.min_size, inst.min_notional) == (
                w.tick_size, w.lot_size, w.min_size, w.min_notional)  # fmt: skip
            assert (inst.taker_fee, inst.maker_fee) == (w.taker_fee, w.maker_fee)
            assert inst.funding_interval_hours == w.funding_interval_hours
        (fr,) = await r.client.fetch_funding([SYMBOL])
        assert fr.rate == r.market.funding_rate("bitget", SYMBOL).rate and fr.interval_hours == 8


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
    async with rig(symbols_hint=hints) as r:
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


async def test_public_client_refuses_orders(autojump_clock: MockClock) -> None:
    async with rig(credentials=None) as r:
        assert len(await r.client.load_instruments()) == 2
        with pytest.raises(AuthenticationFailed, match="public-data only"):
            await r.client.place_order(buy(r, "a" * 32))


async def test_order_filled_with_stream_events_and_query(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as n:
        send, recv = trio.open_memory_channel[OrderEvent](100)
        await n.start(r.client.run_order_stream, send)
        ack = await r.client.place_order(buy(r, "c1"))
        assert ack.venue_order_id
        events = await next_update(recv)
        update = next(e for e in events if isinstance(e, OrderUpdate))
        fills = [e for e in events if isinstance(e, Fill)]
        assert update.status is OrderStatus.FILLED and update.filled_qty == Decimal("0.05")
        assert sum(f.qty for f in fills) == Decimal("0.05") and all(f.fee > 0 for f in fills)
        report = await r.client.query_order(SYMBOL, "c1")
        assert report.status is OrderStatus.FILLED
        assert [(f.trade_id, f.qty, f.price, f.fee) for f in report.fills] == [
            (f.trade_id, f.qty, f.price, f.fee) for f in fills]  # fmt: skip
        (pos,) = await r.client.fetch_positions()
        assert pos.qty == Decimal("0.05") == r.market.position("bitget", SYMBOL)
        (bal,) = await r.client.fetch_balances()
        assert bal.total == r.market.balances("bitget")[0].total
        with pytest.raises(OrderNotFound):
            await r.client.cancel_order(SYMBOL, "c1")
        assert r.client.private_health.malformed == 0  # login/subscribe acks are not pushes
        n.cancel_scope.cancel()


async def test_partial_fill_and_duplicate_fill_pushes_are_deduplicated(
    autojump_clock: MockClock,
) -> None:
    async with rig(FaultRates(partial_fill=1.0, duplicate_fill=1.0)) as r, trio.open_nursery() as n:
        send, recv = trio.open_memory_channel[OrderEvent](100)
        await n.start(r.client.run_order_stream, send)
        await r.client.place_order(buy(r, "p1", qty="1.00"))
        events = await next_update(recv)
        update = next(e for e in events if isinstance(e, OrderUpdate))
        fills = [e for e in events if isinstance(e, Fill)]
        assert update.status is OrderStatus.CANCELLED and 0 < update.filled_qty < 1
        assert len({f.trade_id for f in fills}) == len(fills)
        assert sum(f.qty for f in fills) == update.filled_qty
        n.cancel_scope.cancel()


async def test_rejects_and_bad_requests(autojump_clock: MockClock) -> None:
    async with rig(FaultRates(reject=1.0)) as r:
        with pytest.raises(OrderRejected) as exc:
            await r.client.place_order(buy(r, "r1"))
        assert exc.value.code == "40754"
        with pytest.raises(OrderNotFound):
            await r.client.query_order(SYMBOL, "r1")
    async with rig() as r:
        with pytest.raises(OrderRejected) as exc:
            await r.client.place_order(buy(r, "r2", qty="0.01", through_bps=-9990))
        assert exc.value.code == "45110"
        with pytest.raises(BadRequest):  # the emulator takes force ioc only
            await r.client.place_order(buy(r, "r3", time_in_force="GTC"))
        await r.client.place_order(buy(r, "r4"))
        with pytest.raises(OutcomeUnknown, match="already used"):
            await r.client.place_order(buy(r, "r4"))
    async with rig(hedge_mode=True) as r:  # tradeSide in one-way mode: 40774
        with pytest.raises(BadRequest) as bad:
            await r.client.place_order(buy(r, "r5"))
        assert bad.value.code == "40774"


async def test_timeouts_are_resolved_by_query(autojump_clock: MockClock) -> None:
    async with rig(FaultRates(ack_timeout_executed=1.0), request_timeout=0.5) as r:
        with pytest.raises(OutcomeUnknown):
            await r.client.place_order(buy(r, "t1"))
        report = await r.client.query_order(SYMBOL, "t1")
        assert report.status is OrderStatus.FILLED and report.fills
    async with rig(FaultRates(ack_timeout_not_executed=1.0), request_timeout=0.5) as r:
        with pytest.raises(OutcomeUnknown):
            await r.client.place_order(buy(r, "t2"))
        with pytest.raises(OrderNotFound):
            await r.client.query_order(SYMBOL, "t2")


async def test_rate_limit_fault(autojump_clock: MockClock) -> None:
    async with rig(FaultRates(rate_limit=1.0)) as r:
        with pytest.raises(RateLimited) as exc:
            await r.client.place_order(buy(r, "l1"))
        assert exc.value.code == "429"


async def test_bad_signature_passphrase_and_clock_fail_authentication(
    autojump_clock: MockClock,
) -> None:
    wrong = Credentials(api_key=CREDS.api_key, api_secret="nope", passphrase=CREDS.passphrase)
    async with rig(credentials=wrong) as r, trio.open_nursery() as n:
        with pytest.raises(AuthenticationFailed) as exc:
            await r.client.fetch_balances()
        assert exc.value.code == "40009" and "nope" not in str(exc.value)
        send, _recv = trio.open_memory_channel[OrderEvent](10)
        with pytest.raises(AuthenticationFailed, match="30015"):
            await n.start(r.client.run_order_stream, send)
    bad_pass = Credentials(api_key=CREDS.api_key, api_secret=CREDS.api_secret, passphrase="x")
    async with rig(credentials=bad_pass) as r:
        with pytest.raises(AuthenticationFailed) as exc:
            await r.client.fetch_positions()
        assert exc.value.code == "40012"
    async with rig(wall_clock=lambda: time.time() - 60) as r:
        with pytest.raises(AuthenticationFailed) as exc:
            await r.client.fetch_positions()
        assert exc.value.code == "40008"


async def test_stream_sender_stays_under_ten_messages_a_second(autojump_clock: MockClock) -> None:
    """The venue takes at most 10 messages a second per connection, pings included, and
    disconnects past that (the emulator answers 30007 and closes); the protocols' send
    budget must never get there, even from a standing start with a full budget: 16 pings
    written as soon as the budget admits each (polled every 10 ms, as the shell would)."""
    async with rig() as r, open_websocket_url(r.client.ws_url) as ws:
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
