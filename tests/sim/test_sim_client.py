"""SimVenueClient under Trio's MockClock: books mirror the market and survive feed faults;
order faults surface as the typed errors; a query resolves an unknown outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
import trio

from arbtrio.core.book import L2Book
from arbtrio.core.types import Fill as FillEvent
from arbtrio.core.types import OrderAck, OrderEvent, OrderRequest, OrderStatus, Side
from arbtrio.core.types import OrderUpdate as UpdateEvent
from arbtrio.sim.client import SimVenueClient
from arbtrio.sim.config import FaultRates, LatencyConfig, SimConfig
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.market import SimMarket
from arbtrio.venues.base import (
    BadRequest,
    Disconnected,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
)

FAST_MD = LatencyConfig(distribution="fixed", median_s=0.001, max_s=0.001)


def make_config(faults: FaultRates | None = None, **kwargs: object) -> SimConfig:
    return SimConfig(faults=faults or FaultRates(), md_latency=FAST_MD, **kwargs)  # type: ignore[arg-type]


@asynccontextmanager
async def running(
    config: SimConfig, venue: str = "bybit"
) -> AsyncIterator[tuple[SimMarket, MarketDriver, SimVenueClient, trio.Nursery]]:
    market = SimMarket(config)
    driver = MarketDriver(market)
    client = SimVenueClient(market, driver, venue)
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.run)
        yield market, driver, client, nursery
        await client.aclose()
        nursery.cancel_scope.cancel()


class Recorder:
    """on_update callback: remembers every invalidation reason and every recovery."""

    def __init__(self) -> None:
        self.invalidations: list[tuple[float, str, str]] = []
        self.recoveries: list[tuple[float, str]] = []
        self._down: set[str] = set()

    def __call__(self, book: L2Book) -> None:
        now = trio.current_time()
        if not book.tradable:
            if book.symbol not in self._down:
                self.invalidations.append((now, book.symbol, book.invalid_reason))
            self._down.add(book.symbol)
        elif book.symbol in self._down:
            self._down.discard(book.symbol)
            self.recoveries.append((now, book.symbol))


async def mirrors_the_market(
    market: SimMarket, driver: MarketDriver, client: SimVenueClient
) -> bool:
    """At a quiet moment (the frame of this tick applied, the next tick not yet due), every
    tradable book that has seen the venue's last message must equal the market's ladder
    exactly. Returns whether all books were checked."""
    await driver.wait_tick()
    await trio.sleep(0.01)
    all_up = True
    for symbol, book in client.books.items():
        lost_one = book.seq != client.venue_seq(symbol)  # detected on the next message
        if not book.tradable or client.stale_until > trio.current_time() or lost_one:
            all_up = False
            continue
        bids, asks = market.book_levels_float(client.name, symbol)
        assert book.levels(Side.BUY) == bids, symbol
        assert book.levels(Side.SELL) == asks, symbol
    return all_up


SYMBOLS = ["BTCUSDT", "ETHUSDT"]


async def test_books_stream_and_mirror_the_market(autojump_clock):
    async with running(make_config()) as (market, driver, client, nursery):
        recorder = Recorder()
        await nursery.start(client.run_books, SYMBOLS, recorder)
        assert all(client.books[s].tradable for s in SYMBOLS)
        await trio.sleep(30)
        for _ in range(5):
            assert await mirrors_the_market(market, driver, client)
        snap = client.health.snapshot(trio.current_time())
        assert snap["connected"] and snap["last_message_age_s"] < 0.1
        assert snap["resyncs"] == 0 and snap["reconnects"] == 0
        assert recorder.invalidations == []
        assert client.books["BTCUSDT"].updates > 100


@pytest.mark.parametrize(
    ("faults", "reason"),
    [
        (FaultRates(feed_disconnect=0.02), "disconnected"),
        (FaultRates(sequence_gap=0.05), "sequence gap"),
        (FaultRates(bad_checksum=0.05), "bad checksum"),
    ],
)
async def test_feed_faults_invalidate_then_recover_exactly(autojump_clock, faults, reason):
    async with running(make_config(faults)) as (market, driver, client, nursery):
        recorder = Recorder()
        await nursery.start(client.run_books, SYMBOLS, recorder)
        await trio.sleep(60)
        reasons = {r.split(":")[0] for _, _, r in recorder.invalidations}
        assert reasons == {reason}
        # Every invalidation is followed by a recovery (a reconnect or resync snapshot).
        for t, symbol, _ in recorder.invalidations[:-2]:
            assert any(s == symbol and t <= rt < t + 10 for rt, s in recorder.recoveries)
        # Once recovered, the books are exactly the market again: no ghost levels.
        checked = 0
        for _ in range(40):
            checked += await mirrors_the_market(market, driver, client)
        assert checked > 0
        if reason == "disconnected":
            assert client.health.reconnects >= 1
        else:
            assert client.health.resyncs >= 1 and client.health.reconnects == 0
            assert (client.gaps_detected if reason == "sequence gap" else client.bad_checksums) >= 1


async def test_stale_feed_stops_quotes_while_connected(autojump_clock):
    config = make_config(FaultRates(stale_feed=0.02), stale_feed_s=3.0)
    async with running(config) as (_, _, client, nursery):
        await nursery.start(client.run_books, SYMBOLS, Recorder())
        saw_stale = False
        for _ in range(600):
            await trio.sleep(0.1)
            snap = client.health.snapshot(trio.current_time())
            if snap["last_message_age_s"] > 2.0:
                saw_stale = True
                assert snap["connected"]
                book = client.books["BTCUSDT"]
                assert book.tradable  # only a quote-age check can catch a stale feed
                assert trio.current_time() - book.last_update_ts > 2.0
        assert saw_stale
        assert client.health.resyncs == 0 and client.health.reconnects == 0


# -- orders ------------------------------------------------------------------------------------
def buy(market: SimMarket, cid: str, lots: int = 10, venue: str = "bybit") -> OrderRequest:
    symbol = market.symbol_for(venue, "BTC")
    inst = market.instrument(venue, symbol)
    _, asks = market.book_levels(venue, symbol)
    return OrderRequest(
        venue=venue,
        symbol=symbol,
        client_order_id=cid,
        side=Side.BUY,
        qty=inst.lot_size * lots,
        price=asks[5][0],
    )


async def collect(client: SimVenueClient, nursery: trio.Nursery) -> list[OrderEvent]:
    events: list[OrderEvent] = []
    send, receive = trio.open_memory_channel[OrderEvent](0)

    async def drain() -> None:
        async for event in receive:
            events.append(event)

    nursery.start_soon(drain)
    await nursery.start(client.run_order_stream, send)
    return events


async def test_a_clean_order_acks_fills_and_streams(autojump_clock):
    async with running(make_config()) as (market, _, client, nursery):
        events = await collect(client, nursery)
        t0 = trio.current_time()
        ack = await client.place_order(buy(market, "a"))
        assert trio.current_time() - t0 >= market.config.ack_latency.min_s
        assert ack.client_order_id == "a" and ack.venue_order_id
        await trio.sleep(1)
        assert isinstance(events[0], OrderAck)
        fills = [e for e in events if isinstance(e, FillEvent)]
        (update,) = [e for e in events if isinstance(e, UpdateEvent)]
        assert update.status is OrderStatus.FILLED
        assert sum(f.qty for f in fills) == update.filled_qty == Decimal("0.010")
        report = await client.query_order("BTCUSDT", "a")
        assert report.fills == tuple(fills)
        (position,) = await client.fetch_positions()
        assert position.qty == Decimal("0.010")
        (balance,) = await client.fetch_balances()
        assert balance.total == market.config.starting_balance - sum(f.fee for f in fills)
        (funding,) = await client.fetch_funding(["BTCUSDT"])
        assert funding.interval_hours == 8
        await client.cancel_order("BTCUSDT", "a")  # terminal already: a no-op
        with pytest.raises(OrderRejected, match="duplicate client order id") as info:
            await client.place_order(buy(market, "a"))
        assert info.value.code == "duplicate"


async def test_unknown_orders_are_not_found(autojump_clock):
    async with running(make_config()) as (_, _, client, _):
        with pytest.raises(OrderNotFound):
            await client.query_order("BTCUSDT", "never-sent")
        with pytest.raises(OrderNotFound):
            await client.cancel_order("BTCUSDT", "never-sent")
        with pytest.raises(BadRequest, match="unknown symbol"):
            await client.fetch_funding(["NOPE"])


async def test_reject_fault(autojump_clock):
    async with running(make_config(FaultRates(reject=1.0))) as (market, _, client, nursery):
        events = await collect(client, nursery)
        with pytest.raises(OrderRejected, match="simulated reject"):
            await client.place_order(buy(market, "r"))
        report = await client.query_order("BTCUSDT", "r")
        assert report.status is OrderStatus.REJECTED and report.filled_qty == 0
        await trio.sleep(1)
        assert events == [] and market.position("bybit", "BTCUSDT") == 0


async def test_rate_limit_fault(autojump_clock):
    async with running(make_config(FaultRates(rate_limit=1.0))) as (market, _, client, _):
        with pytest.raises(RateLimited) as info:
            await client.place_order(buy(market, "rl"))
        assert info.value.retry_after and info.value.retry_after > 0
        with pytest.raises(OrderNotFound):
            await client.query_order("BTCUSDT", "rl")


async def test_ack_timeout_not_executed_then_query_says_not_found(autojump_clock):
    config = make_config(FaultRates(ack_timeout_not_executed=1.0))
    async with running(config) as (market, _, client, nursery):
        events = await collect(client, nursery)
        t0 = trio.current_time()
        with pytest.raises(OutcomeUnknown):
            await client.place_order(buy(market, "lost"))
        assert trio.current_time() - t0 >= config.ack_timeout_s
        with pytest.raises(OrderNotFound):
            await client.query_order("BTCUSDT", "lost")
        await trio.sleep(1)
        assert events == [] and market.position("bybit", "BTCUSDT") == 0


async def test_ack_timeout_executed_then_query_resolves_it(autojump_clock):
    config = make_config(FaultRates(ack_timeout_executed=1.0))
    async with running(config) as (market, _, client, nursery):
        events = await collect(client, nursery)
        with pytest.raises(OutcomeUnknown):
            await client.place_order(buy(market, "done"))
        report = await client.query_order("BTCUSDT", "done")
        assert report.status is OrderStatus.FILLED and report.filled_qty == Decimal("0.010")
        assert market.position("bybit", "BTCUSDT") == Decimal("0.010")
        # The private stream still told the truth.
        assert {e.trade_id for e in events if isinstance(e, FillEvent)} == {
            f.trade_id for f in report.fills
        }


async def test_duplicate_fill_fault_delivers_each_fill_twice(autojump_clock):
    async with running(make_config(FaultRates(duplicate_fill=1.0))) as (market, _, client, n):
        events = await collect(client, n)
        await client.place_order(buy(market, "dup", lots=400))
        await trio.sleep(1)
        fills = [e for e in events if isinstance(e, FillEvent)]
        trade_ids = [f.trade_id for f in fills]
        assert len(trade_ids) == 2 * len(set(trade_ids)) >= 2


async def test_partial_fill_fault_fills_less_than_the_book_could(autojump_clock):
    async with running(make_config(FaultRates(partial_fill=1.0))) as (market, _, client, n):
        events = await collect(client, n)
        await client.place_order(buy(market, "part", lots=50))
        await trio.sleep(1)
        (update,) = [e for e in events if isinstance(e, UpdateEvent)]
        assert update.status is OrderStatus.CANCELLED
        assert 0 < update.filled_qty < Decimal("0.050")


async def test_aclose_ends_streams_and_refuses_calls(autojump_clock):
    market = SimMarket(make_config())
    driver = MarketDriver(market)
    client = SimVenueClient(market, driver, "gateio")
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.run)
        await nursery.start(client.run_books, ["BTC_USDT"], Recorder())
        send, _receive = trio.open_memory_channel[OrderEvent](10)
        await nursery.start(client.run_order_stream, send)
        await trio.sleep(1)
        await client.aclose()
        await client.aclose()  # idempotent
        with pytest.raises(Disconnected):
            await client.query_order("BTC_USDT", "x")
        await trio.sleep(1)
        nursery.cancel_scope.cancel()  # only the driver is left running
    assert not client.health.connected
