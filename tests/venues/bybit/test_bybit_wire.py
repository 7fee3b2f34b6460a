"""The Bybit client against the Bybit emulator over real loopback sockets."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import pytest
import trio
from venues.rig import Rig, open_rig, wait_until

from arbtrio.core.book import L2Book
from arbtrio.core.types import Fill, OrderEvent, OrderRequest, OrderStatus, OrderUpdate, Side
from arbtrio.emulators.bybit import BybitEmulator
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
from arbtrio.venues.bybit.client import BybitClient
from arbtrio.venues.reconnect import Backoff

CREDS = Credentials(api_key="test-key", api_secret="test_secret")
FAST = Backoff(base=0.02, cap=0.1)


def rig(
    faults: FaultRates | None = None,
    *,
    credentials: Credentials | None = CREDS,
    emulator_kwargs: dict[str, Any] | None = None,
    **client_kwargs: Any,
) -> AbstractAsyncContextManager[Rig]:
    """Market seed 3, the Bybit emulator, and a client (``credentials``) against it."""
    return open_rig(
        BybitEmulator,
        BybitClient,
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
    bids, asks = r.market.book_levels("bybit", SYMBOL, depth)
    want_b = [(float(p), float(s)) for p, s in bids]
    want_a = [(float(p), float(s)) for p, s in asks]
    from arbtrio.core.types import Side as S

    return book.tradable and book.levels(S.BUY) == want_b and book.levels(S.SELL) == want_a


async def stream_books(r: Rig, nursery: trio.Nursery, symbols: tuple[str, ...] = (SYMBOL,)) -> None:
    updates: list[L2Book] = []
    await nursery.start(r.client.run_books, list(symbols), updates.append)


def buy(r: Rig, cid: str, qty: str = "0.005", through_bps: int = 20, **kw: object) -> OrderRequest:
    _, asks = r.market.book_levels("bybit", SYMBOL, 1)
    price = (asks[0][0] * (1 + Decimal(through_bps) / 10_000)).quantize(Decimal("0.1"))
    return OrderRequest(venue="bybit", symbol=SYMBOL, client_order_id=cid, side=Side.BUY,
                        qty=Decimal(qty), price=price, **kw)  # type: ignore[arg-type]  # fmt: skip


async def test_books_stream_and_track_the_market() -> None:
    async with rig() as r, trio.open_nursery() as n:
        await stream_books(r, n)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: book.tradable and book.updates >= 3)
        # The emulator pushes each tick's changes; at some tick boundary both agree exactly.
        await wait_until(lambda: matches_market(r, book))
        assert r.client.health.resyncs == 0 and r.client.health.malformed == 0
        n.cancel_scope.cancel()


async def test_level1_topic_top_of_book() -> None:
    async with rig(depth=1) as r, trio.open_nursery() as n:
        await stream_books(r, n)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: matches_market(r, book, depth=1))
        assert book.depth() == (1, 1)
        n.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("depth", "frame_type"),
    [(1, "snapshot"), (50, "snapshot"), (50, "delta")],
)
async def test_service_restart_u1_overwrites_the_book(depth: int, frame_type: str) -> None:
    """After a venue-side restart the topic's ``u`` starts again at 1 (a full snapshot,
    documented: overwrite the local book): the book follows the market from there."""
    async with rig(depth=depth) as r, trio.open_nursery() as n:
        await stream_books(r, n)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: matches_market(r, book, depth) and book.seq > 100_000)
        r.emulator.restart_books(frame_type)
        await wait_until(lambda: book.seq < 100_000)
        await wait_until(lambda: matches_market(r, book, depth))
        assert r.client.health.reconnects == 0
        n.cancel_scope.cancel()


async def test_sequence_gap_resubscribes_and_recovers() -> None:
    async with rig(FaultRates(sequence_gap=0.3)) as r, trio.open_nursery() as n:
        await stream_books(r, n)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: r.client.health.resyncs >= 2)
        await wait_until(lambda: book.tradable and book.invalid_reason == "")
        assert r.client.health.reconnects == 0
        n.cancel_scope.cancel()


async def test_disconnect_reconnects_and_resubscribes() -> None:
    async with rig(FaultRates(feed_disconnect=0.2)) as r, trio.open_nursery() as n:
        invalidated: list[str] = []
        await n.start(
            r.client.run_books,
            [SYMBOL],
            lambda b: invalidated.append(b.invalid_reason) if not b.tradable else None,
        )
        book = r.client.books[SYMBOL]
        await wait_until(lambda: r.client.health.reconnects >= 2)
        assert "disconnected" in invalidated
        await wait_until(lambda: book.tradable)
        n.cancel_scope.cancel()


async def test_malformed_frame_is_counted_and_the_book_resynced() -> None:
    async with rig() as r, trio.open_nursery() as n:
        await stream_books(r, n)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: book.tradable)
        bad = ('{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,'
               '"data":{"s":"BTCUSDT","b":[["NaN","1"]],"a":[],"u":5}}')  # fmt: skip
        r.emulator.inject_public(bad)
        r.emulator.inject_public("not json at all")
        await wait_until(lambda: r.client.health.malformed >= 2)
        assert r.client.health.resyncs >= 2
        await wait_until(lambda: book.tradable)
        assert r.client.health.reconnects == 0
        n.cancel_scope.cancel()


async def test_instruments_paginated_fees_and_funding() -> None:
    async with rig(emulator_kwargs={"page_size": 1}) as r:
        insts = {i.symbol: i for i in await r.client.load_instruments()}
        want = {i.symbol: i for i in r.market.instruments("bybit")}
        assert set(insts) == set(want)
        for sym, inst in insts.items():
            w = want[sym]
            assert (inst.tick_size, inst.lot_size, inst.min_size, inst.min_notional) == (
                w.tick_size, w.lot_size, w.min_size, w.min_notional)  # fmt: skip
            assert (inst.taker_fee, inst.funding_interval_hours) == (
                w.taker_fee, w.funding_interval_hours)  # fmt: skip
        (fr,) = await r.client.fetch_funding([SYMBOL])
        assert fr.rate == r.market.funding_rate("bybit", SYMBOL).rate
        assert fr.interval_hours == 8 and fr.next_funding_ts is not None


async def test_public_client_refuses_orders() -> None:
    async with rig(credentials=None) as r:
        assert len(await r.client.load_instruments()) == 2  # public data works
        with pytest.raises(AuthenticationFailed, match="public-data only"):
            await r.client.place_order(buy(r, "a" * 32))


async def test_order_filled_with_stream_events_and_query() -> None:
    async with rig() as r, trio.open_nursery() as n:
        send, recv = trio.open_memory_channel[OrderEvent](100)
        await n.start(r.client.run_order_stream, send)
        ack = await r.client.place_order(buy(r, "c1"))
        assert ack.venue_order_id and ack.client_order_id == "c1"
        events: list[OrderEvent] = []
        with trio.fail_after(5):
            while not any(isinstance(e, OrderUpdate) for e in events):
                events.append(await recv.receive())
        update = next(e for e in events if isinstance(e, OrderUpdate))
        fills = [e for e in events if isinstance(e, Fill)]
        assert update.status is OrderStatus.FILLED and update.filled_qty == Decimal("0.005")
        assert sum(f.qty for f in fills) == Decimal("0.005")
        report = await r.client.query_order(SYMBOL, "c1")
        assert report.status is OrderStatus.FILLED
        assert {f.trade_id for f in report.fills} == {f.trade_id for f in fills}
        assert report.avg_price == update.avg_price
        (pos,) = await r.client.fetch_positions()
        assert pos.qty == Decimal("0.005") == r.market.position("bybit", SYMBOL)
        (bal,) = await r.client.fetch_balances()
        assert bal.currency == "USDT" and bal.total == r.market.balances("bybit")[0].total
        with pytest.raises(OrderNotFound):  # IOC: nothing left to cancel
            await r.client.cancel_order(SYMBOL, "c1")
        n.cancel_scope.cancel()


async def test_partial_fill_and_duplicate_fill_pushes_are_deduplicated() -> None:
    faults = FaultRates(partial_fill=1.0, duplicate_fill=1.0)
    async with rig(faults) as r, trio.open_nursery() as n:
        send, recv = trio.open_memory_channel[OrderEvent](100)
        await n.start(r.client.run_order_stream, send)
        await r.client.place_order(buy(r, "p1", qty="0.100"))
        events: list[OrderEvent] = []
        with trio.fail_after(5):
            while not any(isinstance(e, OrderUpdate) for e in events):
                events.append(await recv.receive())
        update = next(e for e in events if isinstance(e, OrderUpdate))
        fills = [e for e in events if isinstance(e, Fill)]
        assert update.status is OrderStatus.CANCELLED
        assert 0 < update.filled_qty < Decimal("0.100")
        assert len({f.trade_id for f in fills}) == len(fills)  # duplicates dropped
        assert sum(f.qty for f in fills) == update.filled_qty
        n.cancel_scope.cancel()


async def test_rejects_and_bad_requests() -> None:
    async with rig(FaultRates(reject=1.0)) as r:
        with pytest.raises(OrderRejected) as exc:
            await r.client.place_order(buy(r, "r1"))
        assert exc.value.code == "110007"
        with pytest.raises(OrderNotFound):  # a refused create leaves no order behind
            await r.client.query_order(SYMBOL, "r1")
    async with rig() as r:
        with pytest.raises(OrderRejected) as exc:  # below minNotionalValue
            await r.client.place_order(buy(r, "r2", qty="0.001", through_bps=-9990))
        assert exc.value.code == "110094"
        with pytest.raises(BadRequest) as bad:  # emulated venue takes IOC only
            await r.client.place_order(buy(r, "r3", time_in_force="GTC"))
        assert bad.value.code == "10001"
        await r.client.place_order(buy(r, "r4"))
        with pytest.raises(OutcomeUnknown, match="already used"):  # 110072: query it
            await r.client.place_order(buy(r, "r4"))
        with pytest.raises(OrderRejected) as exc:  # reduce-only with no position to reduce
            req = buy(r, "r5")
            await r.client.place_order(
                OrderRequest(
                    venue="bybit",
                    symbol=SYMBOL,
                    client_order_id="r5",
                    side=Side.BUY,
                    qty=req.qty,
                    price=req.price,
                    reduce_only=True,
                )
            )
        assert exc.value.code == "110017"


async def test_timeout_after_execution_is_resolved_by_query() -> None:
    async with rig(FaultRates(ack_timeout_executed=1.0), request_timeout=0.5) as r:
        with pytest.raises(OutcomeUnknown):
            await r.client.place_order(buy(r, "t1"))
        report = await r.client.query_order(SYMBOL, "t1")
        assert report.status is OrderStatus.FILLED and report.fills


async def test_timeout_without_execution_is_resolved_by_query() -> None:
    async with rig(FaultRates(ack_timeout_not_executed=1.0), request_timeout=0.5) as r:
        with pytest.raises(OutcomeUnknown):
            await r.client.place_order(buy(r, "t2"))
        with pytest.raises(OrderNotFound):
            await r.client.query_order(SYMBOL, "t2")


async def test_rate_limit_fault_and_endpoint_budget() -> None:
    async with rig(FaultRates(rate_limit=1.0)) as r:
        with pytest.raises(RateLimited) as exc:
            await r.client.place_order(buy(r, "l1"))
        assert exc.value.code == "10006" and exc.value.retry_after
    async with rig() as r:
        # The client's own per-endpoint bucket (10/s) keeps 11 creates under the venue's limit.
        for i in range(11):
            await r.client.place_order(buy(r, f"b{i}"))
        assert r.emulator.requests == 11


async def test_bad_signature_and_clock_skew_fail_authentication() -> None:
    wrong = Credentials(api_key=CREDS.api_key, api_secret="not-the-secret")
    async with rig(credentials=wrong) as r, trio.open_nursery() as n:
        with pytest.raises(AuthenticationFailed) as exc:
            await r.client.fetch_balances()
        assert exc.value.code == "10004"
        assert "not-the-secret" not in str(exc.value)
        send, _recv = trio.open_memory_channel[OrderEvent](10)
        with pytest.raises(AuthenticationFailed, match="auth refused"):
            await n.start(r.client.run_order_stream, send)
    async with rig(wall_clock=lambda: __import__("time").time() - 30) as r:
        with pytest.raises(AuthenticationFailed) as exc:
            await r.client.fetch_positions()
        assert exc.value.code == "10002"
