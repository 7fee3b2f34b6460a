"""Gate.io client against the Gate.io emulator over real loopback sockets (virtual time)."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import attrs
import pytest
import trio
from trio.testing import MockClock
from venues import rig as shared_rig
from venues.rig import Rig, open_rig

from arbtrio.core.types import Fill, OrderEvent, OrderStatus, OrderUpdate, Side
from arbtrio.emulators.gateio import GateEmulator
from arbtrio.emulators.gateio_protocol import RATE_LIMITS as DOCUMENTED_RATE_LIMITS
from arbtrio.sim.config import FaultRates
from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    Credentials,
    OrderNotFound,
    OutcomeUnknown,
    RateLimited,
)
from arbtrio.venues.gateio import GateClient, create_client
from arbtrio.venues.gateio.client import RATE_LIMITS
from arbtrio.venues.ratelimit import TokenBucket
from arbtrio.venues.reconnect import Backoff

CREDS = Credentials(api_key="gate-test-key", api_secret="gate-test-secret")
FAST = Backoff(base=0.05, cap=0.2)
SYMBOL = "BTC_USDT"


def rig(
    faults: FaultRates | None = None,
    *,
    credentials: Credentials | None = CREDS,
    emulator_kwargs: dict[str, Any] | None = None,
    **client_kwargs: Any,
) -> AbstractAsyncContextManager[Rig]:
    """Market seed 5, the Gate.io emulator, and a client (``credentials``) against it."""
    return open_rig(
        GateEmulator,
        GateClient,
        seed=5,
        emulator_credentials=CREDS,
        credentials=credentials,
        backoff=FAST,
        faults=faults,
        emulator_kwargs=emulator_kwargs,
        symbol=SYMBOL,
        **client_kwargs,
    )


async def wait_until(predicate: Callable[[], bool], guard_s: float = 20.0) -> None:
    await shared_rig.wait_until(predicate, guard_s)


def assert_matches_published(r: Rig) -> None:
    """The client's book equals, level for level, what the emulator published (base units)."""
    pub = r.emulator._published[SYMBOL]
    book = r.client.books[SYMBOL]
    for side, levels in ((Side.BUY, pub.bids), (Side.SELL, pub.asks)):
        got = book.levels(side)
        assert [p for p, _ in got] == [float(p) for p, _ in levels]
        assert [s for _, s in got] == pytest.approx([float(s) for _, s in levels])


async def test_instruments_convert_contracts_to_base_units(autojump_clock: MockClock) -> None:
    async with rig() as r:
        instruments = {i.symbol: i for i in await r.client.load_instruments()}
        btc, sim = instruments[SYMBOL], r.market.instrument("gateio", SYMBOL)
        assert btc.contract_multiplier == Decimal("0.0001") == sim.contract_multiplier
        assert btc.lot_size == sim.lot_size and btc.tick_size == sim.tick_size
        assert btc.taker_fee == sim.taker_fee and btc.asset == "BTC"
        funding = (await r.client.fetch_funding([SYMBOL]))[0]
        assert funding.interval_hours == 8 and funding.next_funding_ts is not None


async def test_books_stream_in_base_units_and_track_the_market(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await nursery.start(r.client.run_books, [SYMBOL], lambda book: None)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: book.tradable and book.updates > 5)
        await wait_until(lambda: book.seq == r.emulator._published[SYMBOL].id)
        assert_matches_published(r)
        assert r.client.health.resyncs == 0 and r.client.health.malformed == 0
        nursery.cancel_scope.cancel()


async def test_sequence_gap_resyncs_and_recovers(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await nursery.start(r.client.run_books, [SYMBOL], lambda book: None)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: book.tradable)
        r.emulator.faults.force("sequence_gap")
        await wait_until(lambda: r.client.health.resyncs == 1)
        await wait_until(lambda: book.tradable)
        await wait_until(lambda: book.seq == r.emulator._published[SYMBOL].id)
        assert_matches_published(r)
        nursery.cancel_scope.cancel()


async def test_malformed_frame_is_counted_and_the_book_resynced(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await nursery.start(r.client.run_books, [SYMBOL], lambda book: None)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: book.tradable)
        r.emulator.faults.force("bad_checksum")
        await wait_until(lambda: r.client.health.malformed == 1)
        await wait_until(lambda: book.tradable)
        assert r.client.health.reconnects == 0
        nursery.cancel_scope.cancel()


async def test_disconnect_reconnects_and_resubscribes(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        seen_untradable: list[str] = []

        def on_update(book: object) -> None:
            if not r.client.books[SYMBOL].tradable:
                seen_untradable.append(r.client.books[SYMBOL].invalid_reason)

        await nursery.start(r.client.run_books, [SYMBOL], on_update)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: book.tradable)
        r.emulator.faults.force("feed_disconnect")
        await wait_until(lambda: r.client.health.reconnects == 1)
        await wait_until(lambda: book.tradable and r.client.health.connected)
        assert "disconnected" in seen_untradable
        nursery.cancel_scope.cancel()


async def test_public_client_needs_no_credentials_but_refuses_orders(
    autojump_clock: MockClock,
) -> None:
    async with rig(credentials=None) as r, trio.open_nursery() as nursery:
        await nursery.start(r.client.run_books, [SYMBOL], lambda book: None)
        await wait_until(lambda: r.client.books[SYMBOL].tradable)
        with pytest.raises(AuthenticationFailed, match="no API credentials"):
            await r.client.place_order(r.order(Side.BUY, "0.001"))
        nursery.cancel_scope.cancel()
    assert create_client().rest_url == "https://api.gateio.ws/api/v4"


async def test_asset_hints_map_to_contracts_and_unknown_hints_never_fail(
    autojump_clock: MockClock,
) -> None:
    """``arbtrio run`` passes the configured assets (``"BTC"``) as hints; a hint may also be
    a contract, or something the venue does not list."""
    hints = ("BTC", "ETH_USDT", "DOGE", "ETH")
    async with rig(symbols_hint=hints) as r, trio.open_nursery() as nursery:
        await r.client.load_instruments()
        assert r.client.hinted_symbols == [SYMBOL, "ETH_USDT"]
        await nursery.start(r.client.run_books, r.client.hinted_symbols, lambda book: None)
        await wait_until(lambda: all(b.tradable for b in r.client.books.values()))
        receive = await _stream(r, nursery)
        request = r.order(Side.BUY, "0.001", key="hint")
        await r.client.place_order(request)
        _fills, final = await _events_until_terminal(receive, request.client_order_id)
        assert final.status is OrderStatus.FILLED
        nursery.cancel_scope.cancel()
    client = create_client(symbols_hint=("BTC", "ETH"))  # the live path's call
    assert client.symbols_hint == ("BTC", "ETH") and client.hinted_symbols == []
    await client.aclose()


async def _stream(r: object, nursery: trio.Nursery) -> trio.MemoryReceiveChannel[OrderEvent]:
    send, receive = trio.open_memory_channel[OrderEvent](100)
    await nursery.start(r.client.run_order_stream, send)  # type: ignore[attr-defined]
    return receive


async def _events_until_terminal(
    receive: trio.MemoryReceiveChannel[OrderEvent], cid: str
) -> tuple[list[Fill], OrderUpdate]:
    """Read the stream until ``cid`` is terminal and its fills add up to its filled qty
    (Gate pushes ``futures.orders`` and ``futures.usertrades`` in either order)."""
    fills: list[Fill] = []
    final: OrderUpdate | None = None
    with trio.fail_after(10):
        async for event in receive:
            if isinstance(event, Fill) and event.client_order_id == cid:
                fills.append(event)
            elif (
                isinstance(event, OrderUpdate)
                and event.client_order_id == cid
                and event.status.is_terminal
            ):
                final = event
            if final is not None and sum(f.qty for f in fills) == final.filled_qty:
                return fills, final
    raise AssertionError("stream ended")


async def test_order_filled_with_stream_events_and_query(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await nursery.start(r.client.run_books, [SYMBOL], lambda book: None)
        await wait_until(lambda: r.client.books[SYMBOL].tradable)
        receive = await _stream(r, nursery)
        request = r.order(Side.BUY, "0.01")
        ack = await r.client.place_order(request)
        assert ack.venue_order_id.isdigit()
        _fills, final = await _events_until_terminal(receive, request.client_order_id)
        assert final.status is OrderStatus.FILLED and final.filled_qty == Decimal("0.01")
        report = await r.client.query_order(SYMBOL, request.client_order_id)
        sim = r.market.order("gateio", request.client_order_id)
        assert sim is not None and report.status is sim.status is OrderStatus.FILLED
        assert report.filled_qty == sim.filled_qty and report.avg_price == sim.avg_price
        assert sum(f.fee for f in report.fills) == sum(f.fee for f in sim.fills)
        assert r.market.position("gateio", SYMBOL) == Decimal("0.01")
        positions = await r.client.fetch_positions()
        assert [(p.symbol, p.qty) for p in positions] == [(SYMBOL, Decimal("0.01"))]
        balance = (await r.client.fetch_balances())[0]
        assert balance.total == r.market.balances("gateio")[0].total
        await r.client.cancel_order(SYMBOL, request.client_order_id)  # finished: a no-op
        nursery.cancel_scope.cancel()


async def test_partial_fill_and_duplicate_pushes_are_deduplicated(
    autojump_clock: MockClock,
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await nursery.start(r.client.run_books, [SYMBOL], lambda book: None)
        await wait_until(lambda: r.client.books[SYMBOL].tradable)
        receive = await _stream(r, nursery)
        r.emulator.faults.force("duplicate_fill", 5)
        book = r.client.books[SYMBOL]
        top = book.best_ask()
        assert top is not None
        request = r.order(Side.BUY, "5", cross_ticks=100)  # more than $10 of book holds
        await r.client.place_order(request)
        fills, final = await _events_until_terminal(receive, request.client_order_id)
        sim = r.market.order("gateio", request.client_order_id)
        assert sim is not None and sim.status is OrderStatus.CANCELLED
        assert Decimal(0) < final.filled_qty == sim.filled_qty < Decimal("5")
        assert final.status is OrderStatus.CANCELLED
        with trio.move_on_after(1):
            async for event in receive:
                if isinstance(event, Fill):
                    fills.append(event)
        assert len({f.trade_id for f in fills}) == len(fills) == len(sim.fills)
        nursery.cancel_scope.cancel()


async def test_rejections_map_to_unified_errors(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await nursery.start(r.client.run_books, [SYMBOL], lambda book: None)
        await wait_until(lambda: r.client.books[SYMBOL].tradable)
        r.emulator.faults.force("reject")
        with pytest.raises(Exception, match="INSUFFICIENT_AVAILABLE") as info:
            await r.client.place_order(r.order(Side.BUY, "0.001", key="rej"))
        assert type(info.value).__name__ == "OrderRejected"
        with pytest.raises(Exception, match="POSITION_EMPTY"):
            await r.client.place_order(r.order(Side.SELL, "0.001", key="ro", reduce_only=True))
        bad_price = r.order(Side.BUY, "0.001", key="px")
        with pytest.raises(BadRequest, match="INVALID_PARAM_VALUE"):
            await r.client.place_order(
                attrs.evolve(bad_price, price=bad_price.price + Decimal("0.05"))
            )
        with pytest.raises(BadRequest, match="not a multiple of the lot"):
            await r.client.place_order(r.order(Side.BUY, "0.00015", key="lot"))
        once = r.order(Side.BUY, "0.001", key="dup")
        await r.client.place_order(once)
        with pytest.raises(OutcomeUnknown, match="duplicate"):  # query it, never re-send
            await r.client.place_order(once)
        with pytest.raises(OrderNotFound):
            await r.client.query_order(SYMBOL, "t-neverplaced")
        with pytest.raises(OrderNotFound):
            await r.client.cancel_order(SYMBOL, "t-neverplaced")
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("executed", [True, False])
async def test_ack_timeout_is_unknown_then_resolved_by_query(
    executed: bool, autojump_clock: MockClock
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await nursery.start(r.client.run_books, [SYMBOL], lambda book: None)
        await wait_until(lambda: r.client.books[SYMBOL].tradable)
        r.emulator.faults.force("ack_timeout_executed" if executed else "ack_timeout_not_executed")
        request = r.order(Side.BUY, "0.001", key=f"to{executed}")
        with pytest.raises(OutcomeUnknown):
            await r.client.place_order(request)
        if executed:
            report = await r.client.query_order(SYMBOL, request.client_order_id)
            assert report.status is OrderStatus.FILLED and report.filled_qty == Decimal("0.001")
            assert len(report.fills) == 1
        else:
            with pytest.raises(OrderNotFound):
                await r.client.query_order(SYMBOL, request.client_order_id)
        nursery.cancel_scope.cancel()


async def test_text_lookup_expires_and_the_finished_list_finds_it(
    autojump_clock: MockClock,
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await nursery.start(r.client.run_books, [SYMBOL], lambda book: None)
        await wait_until(lambda: r.client.books[SYMBOL].tradable)
        request = r.order(Side.BUY, "0.001", key="late")
        ack = await r.client.place_order(request)
        await trio.sleep(61)
        report = await r.client.query_order(SYMBOL, request.client_order_id)  # by numeric id
        assert report.status is OrderStatus.FILLED
        fresh = create_client(rest_url=r.client.rest_url, ws_url=r.client.ws_url,
                              credentials=CREDS)  # fmt: skip
        with pytest.raises(OrderNotFound):  # Gate's rule: the text has expired
            await fresh._request(
                "GET", f"/futures/usdt/orders/{request.client_order_id}", bytes, signed=True
            )
        late = await fresh.query_order(SYMBOL, request.client_order_id)  # restarted client
        assert late.status is OrderStatus.FILLED and late.filled_qty == Decimal("0.001")
        assert [f.trade_id for f in late.fills] == [f.trade_id for f in report.fills]
        assert ack.venue_order_id
        await fresh.aclose()
        nursery.cancel_scope.cancel()


async def test_rate_limit_error_penalizes_the_bucket(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await nursery.start(r.client.run_books, [SYMBOL], lambda book: None)
        await wait_until(lambda: r.client.books[SYMBOL].tradable)
        r.emulator.faults.force("rate_limit")
        with pytest.raises(RateLimited) as info:
            await r.client.place_order(r.order(Side.BUY, "0.001", key="rl"))
        assert info.value.retry_after is not None
        assert r.client.rules.buckets["place"].blocked_until > trio.current_time()
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("creds", "label"),
    [
        (Credentials(api_key=CREDS.api_key, api_secret="wrong"), "INVALID_SIGNATURE"),
        (Credentials(api_key="other", api_secret=CREDS.api_secret), "INVALID_KEY"),
    ],
)
async def test_bad_credentials_fail_authentication(
    creds: Credentials, label: str, autojump_clock: MockClock
) -> None:
    async with rig(credentials=creds) as r:
        with pytest.raises(AuthenticationFailed, match=label):
            await r.client.fetch_balances()
        assert r.emulator.auth_failures == 1


async def test_clock_skew_is_request_expired(autojump_clock: MockClock) -> None:
    async with rig(wall_clock=lambda: 1_000_000.0) as r:
        with pytest.raises(AuthenticationFailed, match="REQUEST_EXPIRED"):
            await r.client.fetch_positions()


async def test_private_stream_with_bad_key_stops_with_authentication_failed(
    autojump_clock: MockClock,
) -> None:
    async with rig(credentials=Credentials(api_key=CREDS.api_key, api_secret="x")) as r:
        r.client._uid = r.emulator.user_id  # skip the REST lookup (it would fail first)
        send, _ = trio.open_memory_channel[OrderEvent](10)
        with pytest.raises(AuthenticationFailed, match="code 4"):
            await r.client.run_order_stream(send)


async def test_private_stream_resubscribes_and_reconciles_after_disconnect(
    autojump_clock: MockClock,
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await nursery.start(r.client.run_books, [SYMBOL], lambda book: None)
        await wait_until(lambda: r.client.books[SYMBOL].tradable)
        receive = await _stream(r, nursery)
        for conn in list(r.emulator._private_conns):
            conn.kill()  # orders placed while the stream is down reach us via REST
        request = r.order(Side.BUY, "0.001", key="recon")
        await r.client.place_order(request)
        _fills, final = await _events_until_terminal(receive, request.client_order_id)
        assert final.status is OrderStatus.FILLED
        assert r.client.health.reconnects >= 1
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("kind", ["public", "place", "cancel", "private"])
def test_request_budgets_never_exceed_the_documented_limits(kind: str) -> None:
    """Gate allows N requests per W seconds (the emulator's table, from the venue's
    documentation). A client taking its bucket's tokens as fast as they come must never
    send more than N inside any W-second window, whichever way the venue counts them."""
    capacity, rate = RATE_LIMITS[kind]
    limit, window = DOCUMENTED_RATE_LIMITS[kind]
    bucket = TokenBucket(kind, capacity, rate)
    now, sent = 0.0, []
    for _ in range(3 * limit):
        while (wait := bucket.try_acquire(1, now)) > 0:
            now += max(wait, 1e-9)  # float residue: never wait for nothing
        sent.append(now)
    busiest = max(bisect.bisect_left(sent, t + window) - i for i, t in enumerate(sent))
    assert busiest <= limit
