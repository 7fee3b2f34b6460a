"""Venue conformance: every behaviour the five clients share, tested once, parametrised over
the registry of venues (``registry.py``), each client against its own emulator over real
loopback sockets.

On Trio's MockClock only (``autojump_clock``; :func:`registry.open_venue` refuses another
clock): timeouts, pings, backoff and the market's ticks run on virtual time and every wait
is for an observable condition, bounded by a guard in virtual seconds. Signature timestamps
and nonces use the wall clock, which the emulators check them against.

What a venue answers (its codes, words, multipliers, which refusals it has) is in its
registry entry; a check only one venue has is in that venue's wire file.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import pytest
import trio
from trio.testing import MockClock

from arbtrio.core.types import (
    Fill,
    FundingRate,
    OrderAck,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Side,
)
from arbtrio.sim.config import FaultRates
from arbtrio.venues.base import AuthenticationFailed, OrderNotFound, OutcomeUnknown
from venues.registry import (
    GUARD_S,
    REFUSALS,
    VENUES,
    Expect,
    Ladders,
    Venue,
    ladders_of,
    open_venue,
    order_request,
    raises,
)
from venues.rig import Rig, wait_until

ids = str


def each(where: Callable[[Venue], bool] = lambda v: True) -> pytest.MarkDecorator:
    """Parametrise over the venues ``where`` holds for."""
    return pytest.mark.parametrize("venue", [v for v in VENUES if where(v)], ids=ids)


async def wait_for(predicate: Callable[[], bool]) -> None:
    await wait_until(predicate, GUARD_S)


# -- books -------------------------------------------------------------------------------------
def same_ladders(got: Ladders, want: Ladders, tolerance: float) -> bool:
    """Level for level: prices equal, sizes equal within ``tolerance`` (relative)."""
    for g, w in zip(got, want, strict=True):
        if [p for p, _ in g] != [p for p, _ in w]:
            return False
        sizes = zip([s for _, s in g], [s for _, s in w], strict=True)
        if not all(math.isclose(a, b, rel_tol=tolerance) for a, b in sizes):
            return False
    return True


def in_step(r: Rig, venue: Venue, symbol: str) -> bool:
    """The client's book is tradable and at what the emulator last published (by update id
    where the emulator keeps one, else level for level)."""
    book = r.client.books.get(symbol)
    if book is None or not book.tradable:
        return False
    if venue.published_seq is not None:
        return bool(book.seq == venue.published_seq(r, symbol))
    return same_ladders(ladders_of(book), venue.published(r, symbol), venue.size_tolerance)


async def assert_in_step(r: Rig, venue: Venue, symbols: tuple[str, ...] = ()) -> None:
    """Wait until each book is in step, then: it equals what was published, level for level
    (base units), is not crossed and holds at most the venue's depth."""
    for symbol in symbols or (venue.symbol,):
        await wait_for(lambda s=symbol: in_step(r, venue, s))  # type: ignore[misc]
        book = r.client.books[symbol]
        want = venue.published(r, symbol)
        got = ladders_of(book)
        for side in (0, 1):
            assert [p for p, _ in got[side]] == [p for p, _ in want[side]]
            assert [s for _, s in got[side]] == pytest.approx(
                [s for _, s in want[side]], rel=venue.size_tolerance, abs=0
            )
        assert book.best_bid() is not None and book.best_ask() is not None
        assert not book.is_crossed()
        assert max(book.depth()) <= venue.book_depth


async def start_books(
    r: Rig, nursery: trio.Nursery, symbols: tuple[str, ...], on_update: Any = None
) -> None:
    await nursery.start(r.client.run_books, list(symbols), on_update or (lambda _b: None))


@each()
async def test_books_stream_and_track_the_market(venue: Venue, autojump_clock: MockClock) -> None:
    async with open_venue(venue) as r, trio.open_nursery() as n:
        await start_books(r, n, venue.symbols)
        book = r.client.books[venue.symbol]
        await wait_for(lambda: book.tradable and book.updates >= venue.book_updates)
        await assert_in_step(r, venue, venue.symbols)
        health = r.client.health
        assert health.resyncs == 0 and health.malformed == 0 and health.reconnects == 0
        n.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("venue", "fault"), [(v, f) for v in VENUES for f in v.resync_faults], ids=ids
)
async def test_lost_or_corrupt_update_resyncs_and_recovers(
    venue: Venue, fault: str, autojump_clock: MockClock
) -> None:
    """An update lost on the wire (``sequence_gap``) or carrying a wrong checksum
    (``bad_checksum``) is caught: the book is resynced without a reconnect, twice."""
    async with open_venue(venue) as r, trio.open_nursery() as n:
        await start_books(r, n, (venue.symbol,))
        await assert_in_step(r, venue)
        health, book = r.client.health, r.client.books[venue.symbol]
        for times in (1, 2):
            await provoke(r, fault, lambda t=times: health.resyncs >= t)  # type: ignore[misc]
            assert health.resyncs == times and r.emulator.faults.fired[fault] >= times
            await assert_in_step(r, venue)
            assert book.invalid_reason == ""
        assert health.reconnects == 0
        n.cancel_scope.cancel()


async def provoke(r: Rig, fault: str, happened: Callable[[], bool]) -> None:
    """Force ``fault`` until ``happened()``: a forced draw can fire when there is nothing to
    lose (no change that tick), so it is forced again once used up without effect."""
    faults = r.emulator.faults
    with trio.fail_after(GUARD_S):
        while not happened():
            if faults.forced[fault] == 0:
                faults.force(fault)
            with trio.move_on_after(1.0):
                await wait_for(happened)


@each()
async def test_disconnect_reconnects_and_resubscribes(
    venue: Venue, autojump_clock: MockClock
) -> None:
    reasons: list[str] = []

    def on_update(book: Any) -> None:
        if not book.tradable:
            reasons.append(book.invalid_reason)

    async with open_venue(venue) as r, trio.open_nursery() as n:
        await start_books(r, n, (venue.symbol,), on_update)
        await assert_in_step(r, venue)
        health, book = r.client.health, r.client.books[venue.symbol]
        for times in (1, 2):
            r.emulator.faults.force("feed_disconnect")
            await wait_for(lambda t=times: health.reconnects == t)  # type: ignore[misc]
            assert r.emulator.faults.fired["feed_disconnect"] == times
            await wait_for(lambda: book.tradable and health.connected)
            await assert_in_step(r, venue)
        assert "disconnected" in reasons
        assert not health.down
        n.cancel_scope.cancel()


@each()
async def test_malformed_frame_is_counted_and_the_book_resynced(
    venue: Venue, autojump_clock: MockClock
) -> None:
    """A venue-shaped frame that does not parse, one that is not JSON, and the one the
    emulator's own fault sends (where it has one): each counted once, each answered with a
    resync (no reconnect), the book back in step."""
    async with open_venue(venue) as r, trio.open_nursery() as n:
        await start_books(r, n, (venue.symbol,))
        await assert_in_step(r, venue)
        health = r.client.health
        frames: list[str | None] = [*venue.malformed_frames, "not json at all"]
        if venue.malformed_fault is not None:
            frames.append(None)  # the emulator's own fault sends one
        for count, frame in enumerate(frames, 1):
            resyncs = health.resyncs
            if frame is None:
                r.emulator.faults.force(venue.malformed_fault)
            else:
                r.emulator.inject_public(frame)
            await wait_for(lambda c=count: health.malformed == c)  # type: ignore[misc]
            await assert_in_step(r, venue)
            assert health.resyncs > resyncs
        assert health.malformed == len(frames) and health.reconnects == 0
        n.cancel_scope.cancel()


@each()
async def test_public_client_serves_data_but_refuses_orders(
    venue: Venue, autojump_clock: MockClock
) -> None:
    async with open_venue(venue, credentials=None) as r, trio.open_nursery() as n:
        instruments = await r.client.load_instruments()
        assert {i.symbol for i in instruments} == set(venue.symbols)
        await start_books(r, n, venue.symbols)
        await assert_in_step(r, venue, venue.symbols)
        bids, _ = r.market.book_levels(venue.name, venue.symbol, 1)
        best = r.client.books[venue.symbol].best_bid()
        assert best is not None and abs(best[0] - float(bids[0][0])) / float(bids[0][0]) < 0.01
        with pytest.raises(AuthenticationFailed, match=venue.public_refusal):
            await r.client.place_order(order_request(r, Side.BUY, venue.order_qty, "pub"))
        n.cancel_scope.cancel()
    package = importlib.import_module(f"arbtrio.venues.{venue.name}")
    client = package.create_client()
    assert client.rest_url == venue.default_rest_url
    await client.aclose()


# -- instruments and funding -------------------------------------------------------------------
@each()
async def test_instruments_and_funding_match_the_venue(
    venue: Venue, autojump_clock: MockClock
) -> None:
    """Every listed instrument, converted at the client's edge (contracts → base units):
    ticks, lots, minimums, fees and funding interval as the venue's simulator has them."""
    async with open_venue(venue) as r:
        instruments = {i.symbol: i for i in await r.client.load_instruments()}
        sim = {i.symbol: i for i in r.market.instruments(venue.name)}
        assert set(instruments) == set(sim) == set(venue.symbols)
        for symbol, inst in instruments.items():
            for field in venue.instrument_fields:
                got, want = getattr(inst, field), getattr(sim[symbol], field)
                assert got == want, f"{symbol}.{field}: {got!r} != {want!r}"
            assert inst.funding_interval_hours == venue.funding_interval_hours
        traded = instruments[venue.symbol]
        assert traded.contract_multiplier == venue.contract_multiplier
        served = spy_funding(r)
        (funding,) = await r.client.fetch_funding([venue.symbol])
        assert served, "the emulator answered without reading the market's funding rate"
        assert funding.rate == served[-1].rate  # the rate served, not the market's later one
        assert funding.interval_hours == venue.funding_interval_hours
        if venue.funding_next_ts:
            assert funding.next_funding_ts is not None


def spy_funding(r: Rig) -> list[FundingRate]:
    """Record every funding rate of the traded symbol the emulator reads from the market
    from now on (the market's rate moves every tick)."""
    real = r.market.funding_rate
    served: list[FundingRate] = []

    def spy(venue: str, symbol: str) -> FundingRate:
        rate = real(venue, symbol)
        if symbol == r.symbol:
            served.append(rate)
        return rate

    r.market.funding_rate = spy  # type: ignore[method-assign]
    return served


# -- orders ------------------------------------------------------------------------------------
async def open_order_stream(r: Rig, nursery: trio.Nursery) -> trio.MemoryReceiveChannel[OrderEvent]:
    send, receive = trio.open_memory_channel[OrderEvent](100)
    await nursery.start(r.client.run_order_stream, send)
    await r.client.load_instruments()
    return receive


async def settle(
    receive: trio.MemoryReceiveChannel[OrderEvent], cid: str
) -> tuple[list[OrderEvent], list[Fill], OrderUpdate]:
    """The stream's events up to a terminal update of ``cid`` whose filled quantity the fills
    so far add up to (fills and updates may come on two channels, in either order). The
    tests place one order at a time: every event must be that order's."""
    events: list[OrderEvent] = []
    with trio.fail_after(GUARD_S):
        async for event in receive:
            events.append(event)
            assert getattr(event, "client_order_id", None) == cid, event
            fills = [e for e in events if isinstance(e, Fill)]
            final = [e for e in events if isinstance(e, OrderUpdate) and e.status.is_terminal]
            if final and final[-1].filled_qty == sum(f.qty for f in fills):
                return events, fills, final[-1]
    raise AssertionError("order stream ended")


def within_limit(request: OrderRequest, price: Decimal) -> bool:
    return price <= request.price if request.side is Side.BUY else price >= request.price


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL], ids=lambda s: s.value)
@each()
async def test_order_fills_with_stream_events_and_the_query_agrees(
    venue: Venue, side: Side, autojump_clock: MockClock
) -> None:
    async with open_venue(venue) as r, trio.open_nursery() as n:
        receive = await open_order_stream(r, n)
        request = order_request(r, side, venue.order_qty, "fill")
        cid, qty = request.client_order_id, request.qty
        ack = await r.client.place_order(request)
        assert ack.client_order_id == cid and ack.venue_order_id
        if venue.numeric_order_ids:
            assert ack.venue_order_id.isdigit() and int(ack.venue_order_id) > 0
        events, fills, final = await settle(receive, cid)
        if venue.stream_acks:
            assert isinstance(events[0], OrderAck)
        assert final.status is OrderStatus.FILLED and final.filled_qty == qty
        assert sum(f.qty for f in fills) == qty
        assert all(f.side is side and f.fee > 0 and within_limit(request, f.price) for f in fills)
        sim = r.market.order(venue.name, cid)
        assert sim is not None and sim.status is OrderStatus.FILLED and sim.filled_qty == qty
        assert sum(f.fee for f in fills) == sum(f.fee for f in sim.fills)  # rate × notional
        report = await r.client.query_order(venue.symbol, cid)
        assert report.status is OrderStatus.FILLED and report.filled_qty == qty
        assert report.avg_price == sim.avg_price
        if venue.update_avg_price:
            assert final.avg_price == report.avg_price
        assert [(f.trade_id, f.qty, f.price, f.fee) for f in report.fills] == [
            (f.trade_id, f.qty, f.price, f.fee) for f in fills
        ]
        assert [f.fee for f in report.fills] == [f.fee for f in sim.fills]
        position = side.sign * qty
        assert [(p.symbol, p.qty) for p in await r.client.fetch_positions()] == [
            (venue.symbol, position)
        ]
        assert r.market.position(venue.name, venue.symbol) == position
        (balance,) = await r.client.fetch_balances()
        assert balance.currency == venue.quote
        cash = r.market.balances(venue.name)[0].total
        if venue.balance_at_mark:  # equity: the open position's pnl at the book's mid
            bids, asks = r.market.book_levels(venue.name, venue.symbol)
            mid = (Decimal(str(bids[0][0])) + Decimal(str(asks[0][0]))) / 2
            (held,) = [p for p in r.market.positions(venue.name) if p.symbol == venue.symbol]
            assert held.entry_price is not None
            cash += held.qty * (mid - held.entry_price)
        assert balance.total == pytest.approx(cash, abs=Decimal("0.000001")) and cash > 0
        if venue.finished_cancel is None:
            await r.client.cancel_order(venue.symbol, cid)  # finished: a no-op
        else:
            await raises(venue.finished_cancel, r.client.cancel_order(venue.symbol, cid))
        assert venue.order_health(r.client).malformed == 0  # acks are not pushes
        n.cancel_scope.cancel()


@each()
async def test_partial_fill_and_duplicate_fill_pushes_are_deduplicated(
    venue: Venue, autojump_clock: MockClock
) -> None:
    """The venue fills part of an IOC and cancels the rest; every fill is pushed twice
    (where the emulator can): each trade is delivered once, and the query agrees."""
    faults = FaultRates(partial_fill=1.0, duplicate_fill=1.0)
    async with open_venue(venue, faults=faults) as r, trio.open_nursery() as n:
        receive = await open_order_stream(r, n)
        request = order_request(r, Side.SELL, venue.order_qty * 10, "part")
        cid = request.client_order_id
        await r.client.place_order(request)
        _events, fills, final = await settle(receive, cid)
        with trio.move_on_after(1):  # any late duplicate would come now
            async for event in receive:
                if isinstance(event, Fill) and event.client_order_id == cid:
                    fills.append(event)
        sim = r.market.order(venue.name, cid)
        assert sim is not None and sim.status is OrderStatus.CANCELLED
        assert final.status is OrderStatus.CANCELLED
        assert 0 < final.filled_qty == sim.filled_qty < request.qty
        assert sum(f.qty for f in fills) == final.filled_qty
        assert len({f.trade_id for f in fills}) == len(fills) == len(sim.fills)
        assert r.emulator.faults.fired["duplicate_fill"] >= len(fills)  # each pushed twice
        report = await r.client.query_order(venue.symbol, cid)
        assert report.status is OrderStatus.CANCELLED and report.filled_qty == final.filled_qty
        assert report.avg_price is not None and within_limit(request, report.avg_price)
        n.cancel_scope.cancel()


@each(lambda v: v.drop_private is not None)
async def test_order_stream_reconnects_and_reconciles_what_it_missed(
    venue: Venue, autojump_clock: MockClock
) -> None:
    """The venue drops the order stream; an order placed meanwhile has its pushes go
    nowhere: the re-subscribed stream's re-query delivers its fills and final state."""
    assert venue.drop_private is not None
    async with open_venue(venue) as r, trio.open_nursery() as n:
        receive = await open_order_stream(r, n)
        venue.drop_private(r.emulator)
        request = order_request(r, Side.BUY, venue.order_qty, "recon")
        await r.client.place_order(request)
        _events, fills, final = await settle(receive, request.client_order_id)
        assert final.status is OrderStatus.FILLED and sum(f.qty for f in fills) == request.qty
        assert len({f.trade_id for f in fills}) == len(fills)
        assert venue.order_health(r.client).reconnects >= 1
        n.cancel_scope.cancel()


async def refusal(r: Rig, venue: Venue, case: str, expect: Expect) -> None:
    """Provoke refusal ``case`` (:data:`registry.REFUSALS`) and check the venue's answer."""
    inst = r.market.instrument(venue.name, venue.symbol)
    qty = venue.order_qty

    def order(key: str, side: Side = Side.BUY, **fields: Any) -> OrderRequest:
        return order_request(r, side, fields.pop("qty", qty), key, **fields)

    if case == "reject_fault":
        r.emulator.faults.force("reject")
        request = order("rej")
        await raises(expect, r.client.place_order(request))
        if venue.rejected_query == "rejected":
            report = await r.client.query_order(venue.symbol, request.client_order_id)
            assert report.status is OrderStatus.REJECTED and report.filled_qty == 0
        else:  # a refused create leaves no order behind
            with pytest.raises(OrderNotFound):
                await r.client.query_order(venue.symbol, request.client_order_id)
    elif case == "reduce_only":
        await raises(expect, r.client.place_order(order("ro", Side.SELL, reduce_only=True)))
    elif case == "min_notional":
        small = max(inst.min_size, inst.lot_size)
        request = order("mn", qty=small, through_bps=venue.min_notional_bps)
        await raises(expect, r.client.place_order(request))
    elif case == "off_tick":
        request = order("px")
        off = attrs.evolve(request, price=request.price + inst.tick_size / 2)
        await raises(expect, r.client.place_order(off))
    elif case == "off_lot":
        await raises(expect, r.client.place_order(order("lot", qty=inst.lot_size * 3 / 2)))
    elif case == "unsupported_tif":
        await raises(expect, r.client.place_order(order("tif", time_in_force="GTC")))
    elif case == "duplicate_cid":  # query it, never re-send
        once = order("dup")
        await r.client.place_order(once)
        await raises(expect, r.client.place_order(once))
    elif case == "unknown_query":
        await raises(expect, r.client.query_order(venue.symbol, order("never").client_order_id))
    elif case == "unknown_cancel":
        await raises(expect, r.client.cancel_order(venue.symbol, order("never").client_order_id))
    else:
        raise AssertionError(f"unknown refusal case {case!r}")


@each()
async def test_refusals_map_to_unified_errors(venue: Venue, autojump_clock: MockClock) -> None:
    """Each refusal the venue has (its entry's ``refusals``, in :data:`REFUSALS` order: the
    duplicate placement fills, so it comes last) raises the unified error with the venue's
    own code or words."""
    assert set(venue.refusals) <= set(REFUSALS)
    async with open_venue(venue) as r:
        await r.client.load_instruments()
        for case in REFUSALS:
            if case in venue.refusals:
                try:
                    await refusal(r, venue, case, venue.refusals[case])
                except AssertionError as exc:
                    raise AssertionError(f"{venue.name} {case}: {exc}") from exc


@pytest.mark.parametrize("executed", [True, False], ids=["executed", "not_executed"])
@each()
async def test_ack_timeout_is_unknown_then_resolved_by_query(
    venue: Venue, executed: bool, autojump_clock: MockClock
) -> None:
    async with open_venue(venue) as r:
        await r.client.load_instruments()
        r.emulator.faults.force("ack_timeout_executed" if executed else "ack_timeout_not_executed")
        request = order_request(r, Side.BUY, venue.order_qty, f"to{executed}")
        with pytest.raises(OutcomeUnknown):
            await r.client.place_order(request)
        if executed:
            report = await r.client.query_order(venue.symbol, request.client_order_id)
            assert report.status is OrderStatus.FILLED and report.filled_qty == request.qty
            sim = r.market.order(venue.name, request.client_order_id)
            assert sim is not None and len(report.fills) == len(sim.fills) >= 1
            assert sum(f.qty for f in report.fills) == request.qty
        else:
            with pytest.raises(OrderNotFound):
                await r.client.query_order(venue.symbol, request.client_order_id)


@each()
async def test_rate_limit_is_rate_limited_and_backs_the_budget_off(
    venue: Venue, autojump_clock: MockClock
) -> None:
    async with open_venue(venue) as r:
        await r.client.load_instruments()
        r.emulator.faults.force("rate_limit")
        request = order_request(r, Side.BUY, venue.order_qty, "rl")
        exc = await raises(venue.rate_limit, r.client.place_order(request))
        retry_after = getattr(exc, "retry_after", None)
        assert retry_after is not None and retry_after > 0
        if venue.retry_after is not None:
            assert retry_after == venue.retry_after
        budget = r.client.rules.budget(*venue.place_path)
        assert budget and all(b.blocked_until > trio.current_time() for b, _ in budget)


# -- authentication ----------------------------------------------------------------------------
@pytest.mark.parametrize(("venue", "case"), [(v, c) for v in VENUES for c in v.auth], ids=ids)
async def test_bad_credentials_and_clock_skew_fail_authentication(
    venue: Venue, case: str, autojump_clock: MockClock
) -> None:
    """A wrong key, secret or passphrase, or a clock outside the venue's window: every signed
    call fails as the venue says, and no secret is echoed in the error."""
    if case == "clock_skew":
        opened = open_venue(venue, wall_clock=lambda: time.time() + venue.clock_skew_s)
    else:
        opened = open_venue(venue, credentials=venue.bad_credentials[case])
    async with opened as r:
        calls = venue.signed_calls(r)
        for call in calls:
            exc = await raises(venue.auth[case], call())
            for secret in venue.secrets:
                assert secret not in str(exc) and secret not in repr(exc)
        if venue.auth_failures is not None:
            assert venue.auth_failures(r.emulator) == len(calls)


@each(lambda v: v.stream_auth is not None)
async def test_private_stream_with_a_bad_secret_stops_with_authentication_failed(
    venue: Venue, autojump_clock: MockClock
) -> None:
    assert venue.stream_auth is not None
    async with open_venue(venue, credentials=venue.bad_credentials["secret"]) as r:
        if venue.before_private_stream is not None:
            venue.before_private_stream(r)
        send, _receive = trio.open_memory_channel[OrderEvent](10)
        with pytest.raises(AuthenticationFailed) as info:
            await r.client.run_order_stream(send)
        venue.stream_auth.check(info.value)
        assert all(secret not in str(info.value) for secret in venue.secrets)
