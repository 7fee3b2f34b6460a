"""KuCoin client against the KuCoin emulator over real loopback sockets (virtual time)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
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
from arbtrio.emulators.kucoin import KucoinEmulator
from arbtrio.sim.config import FaultRates
from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    Credentials,
    Disconnected,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
)
from arbtrio.venues.kucoin import KucoinClient, create_client, sign
from arbtrio.venues.kucoin.feed import control_message
from arbtrio.venues.reconnect import Backoff
from arbtrio.venues.stream import NOTHING, Output
from arbtrio.venues.wire import open_websocket

CREDS = Credentials(api_key="kc-test-key", api_secret="kc-test-secret", passphrase="kc-pass")
FAST = Backoff(base=0.05, cap=0.2)
SYMBOL = "XBTUSDTM"


def rig(
    faults: FaultRates | None = None,
    *,
    credentials: Credentials | None = CREDS,
    emulator_kwargs: dict[str, Any] | None = None,
    **client_kwargs: Any,
) -> AbstractAsyncContextManager[Rig]:
    """Market seed 7, the KuCoin emulator, and a client (``credentials``) against it."""
    return open_rig(
        KucoinEmulator,
        KucoinClient,
        seed=7,
        emulator_credentials=CREDS,
        credentials=credentials,
        backoff=FAST,
        faults=faults,
        emulator_kwargs=emulator_kwargs,
        symbol=SYMBOL,
        pass_ws_url=False,
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


async def _books(r: Rig, nursery: trio.Nursery) -> None:
    await nursery.start(r.client.run_books, [SYMBOL], lambda book: None)
    await wait_until(lambda: r.client.books[SYMBOL].tradable)


async def test_instruments_convert_lots_to_base_units(autojump_clock: MockClock) -> None:
    async with rig() as r:
        instruments = {i.symbol: i for i in await r.client.load_instruments()}
        btc, sim = instruments[SYMBOL], r.market.instrument("kucoin", SYMBOL)
        assert btc.asset == "BTC" and btc.contract_multiplier == Decimal("0.001")
        assert btc.lot_size == sim.lot_size and btc.tick_size == sim.tick_size
        assert btc.taker_fee == sim.taker_fee
        funding = (await r.client.fetch_funding([SYMBOL]))[0]
        assert funding.interval_hours == 8 and funding.next_funding_ts is not None
        assert funding.rate == r.market.funding_rate("kucoin", SYMBOL).rate


async def test_books_follow_the_level2_stream(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: book.updates > 20)
        await wait_until(lambda: book.seq == r.emulator._published[SYMBOL].id)
        assert_matches_published(r)
        assert r.client.health.resyncs == 0 and r.client.health.malformed == 0
        assert r.client.tokens_used[0].startswith("pub-")
        nursery.cancel_scope.cancel()


async def test_sequence_gap_resyncs_and_recovers(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        book = r.client.books[SYMBOL]
        r.emulator.faults.force("sequence_gap")
        await wait_until(lambda: r.client.health.resyncs == 1)
        await wait_until(lambda: book.tradable)
        await wait_until(lambda: book.seq == r.emulator._published[SYMBOL].id)
        assert_matches_published(r)
        assert r.client.health.reconnects == 0
        nursery.cancel_scope.cancel()


async def test_malformed_push_is_counted_and_resynced(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        r.emulator.faults.force("bad_checksum")
        await wait_until(lambda: r.client.health.malformed == 1)
        await wait_until(lambda: r.client.books[SYMBOL].tradable)
        nursery.cancel_scope.cancel()


async def test_disconnect_expires_the_token_and_reconnects_with_a_new_one(
    autojump_clock: MockClock,
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        r.emulator.faults.force("feed_disconnect")
        await wait_until(lambda: r.client.health.reconnects == 1)
        await wait_until(lambda: r.client.books[SYMBOL].tradable and r.client.health.connected)
        tokens = r.client.tokens_used
        assert len(tokens) == 2 and tokens[0] != tokens[1]
        assert r.emulator.token_rejections == 0  # the expired token was never reused
        nursery.cancel_scope.cancel()


async def test_expired_token_is_refused_by_the_server(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        stale = r.client.tokens_used[0]
        r.emulator.expire_tokens()
        await wait_until(lambda: r.client.health.reconnects == 1 and r.client.health.connected)
        assert stale not in r.client.tokens_used[1:]  # every session fetched a fresh token
        # Reusing the cached token is what the venue refuses, with this frame:
        url = "ws" + r.emulator.base_url[len("http") :] + f"/?token={stale}&connectId=c9"
        async with open_websocket(url) as ws:
            frame = await ws.get_message()
        assert json.loads(frame) == {
            "id": "c9", "type": "error", "code": 401, "data": "token is expired"
        }  # fmt: skip
        with pytest.raises(Disconnected, match="token rejected"):
            control_message(frame)
        assert r.emulator.token_rejections == 1
        nursery.cancel_scope.cancel()


async def test_silent_client_is_dropped_and_reconnects(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await _books(r, nursery)

        def no_ping(now: float) -> Sequence[Output]:
            return NOTHING

        r.client.book_feed._ping = no_ping  # type: ignore[method-assign]
        r.emulator.faults.force("feed_disconnect")  # new session runs without pings
        await wait_until(lambda: r.client.health.reconnects == 1 and r.client.health.connected)
        await wait_until(lambda: r.client.health.reconnects == 2, guard_s=60)
        nursery.cancel_scope.cancel()


async def test_public_client_needs_no_credentials_but_refuses_orders(
    autojump_clock: MockClock,
) -> None:
    async with rig(credentials=None) as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        with pytest.raises(AuthenticationFailed, match="no API credentials"):
            await r.client.place_order(r.order(Side.BUY, "0.001"))
        nursery.cancel_scope.cancel()
    assert create_client().rest_url == "https://api-futures.kucoin.com"


async def _stream(r: Rig, nursery: trio.Nursery) -> trio.MemoryReceiveChannel[OrderEvent]:
    send, receive = trio.open_memory_channel[OrderEvent](100)
    await nursery.start(r.client.run_order_stream, send)
    return receive


async def _events_until_terminal(
    receive: trio.MemoryReceiveChannel[OrderEvent], cid: str
) -> tuple[list[Fill], OrderUpdate]:
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


async def test_order_filled_with_match_events_and_query(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        receive = await _stream(r, nursery)
        assert r.client.tokens_used[-1].startswith("prv-")
        request = r.order(Side.SELL, "0.01")
        ack = await r.client.place_order(request)
        assert ack.venue_order_id
        fills, final = await _events_until_terminal(receive, request.client_order_id)
        sim = r.market.order("kucoin", request.client_order_id)
        assert sim is not None and final.status is OrderStatus.FILLED is sim.status
        assert [(f.trade_id, f.qty, f.price) for f in fills] != []
        assert sum(f.qty for f in fills) == sim.filled_qty == Decimal("0.01")
        assert sum(f.fee for f in fills) == sum(f.fee for f in sim.fills)  # rate × notional
        report = await r.client.query_order(SYMBOL, request.client_order_id)
        assert report.status is OrderStatus.FILLED and report.avg_price == sim.avg_price
        assert [f.fee for f in report.fills] == [f.fee for f in sim.fills]
        positions = await r.client.fetch_positions()
        assert [(p.symbol, p.qty) for p in positions] == [(SYMBOL, Decimal("-0.01"))]
        assert (await r.client.fetch_balances())[0].total == r.market.balances("kucoin")[0].total
        await wait_until(lambda: SYMBOL in r.client.stream_positions)
        assert r.client.stream_positions[SYMBOL].qty == Decimal("-0.01")
        await r.client.cancel_order(SYMBOL, request.client_order_id)  # done: a no-op
        nursery.cancel_scope.cancel()


async def test_asset_hints_are_mapped_to_venue_symbols(autojump_clock: MockClock) -> None:
    """``arbtrio run`` passes the configured assets as hints; venue symbols work too, and a
    hint no instrument matches is skipped (the order stream once failed on ``"BTC"``)."""
    hints = ("BTC", "ETHUSDTM", "NOPE")
    async with rig(symbols_hint=hints) as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        receive = await _stream(r, nursery)
        assert sorted(r.client.hinted_symbols()) == ["ETHUSDTM", SYMBOL]
        assert set(r.client.order_feed.fee_rates) == {"ETHUSDTM", SYMBOL}
        request = r.order(Side.BUY, "0.002", key="hint")
        await r.client.place_order(request)
        fills, final = await _events_until_terminal(receive, request.client_order_id)
        assert final.status is OrderStatus.FILLED and sum(f.qty for f in fills) == Decimal("0.002")
        nursery.cancel_scope.cancel()


async def test_partial_fill_with_duplicate_pushes(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        receive = await _stream(r, nursery)
        r.emulator.faults.force("duplicate_fill", 5)
        request = r.order(Side.BUY, "5", cross_ticks=100)
        await r.client.place_order(request)
        fills, final = await _events_until_terminal(receive, request.client_order_id)
        sim = r.market.order("kucoin", request.client_order_id)
        assert sim is not None and sim.status is OrderStatus.CANCELLED
        assert final.status is OrderStatus.CANCELLED
        assert Decimal(0) < final.filled_qty == sim.filled_qty < Decimal(5)
        assert len({f.trade_id for f in fills}) == len(fills) == len(sim.fills)
        nursery.cancel_scope.cancel()


async def test_rejections_map_to_unified_errors(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        r.emulator.faults.force("reject")
        with pytest.raises(OrderRejected, match="300003"):
            await r.client.place_order(r.order(Side.BUY, "0.001", key="rej"))
        with pytest.raises(OrderRejected, match="300009"):
            await r.client.place_order(r.order(Side.SELL, "0.001", key="ro", reduce_only=True))
        bad = r.order(Side.BUY, "0.001", key="px")
        with pytest.raises(BadRequest, match="100001"):
            await r.client.place_order(attrs.evolve(bad, price=bad.price + Decimal("0.05")))
        with pytest.raises(BadRequest, match=r"whole number of lots|not a multiple"):
            await r.client.place_order(r.order(Side.BUY, "0.0015", key="lot"))
        once = r.order(Side.BUY, "0.001", key="dup")
        await r.client.place_order(once)
        with pytest.raises(OutcomeUnknown, match="duplicate"):  # query it, never re-send
            await r.client.place_order(once)
        with pytest.raises(OrderNotFound):
            await r.client.query_order(SYMBOL, "neverplaced")
        with pytest.raises(OrderNotFound):
            await r.client.cancel_order(SYMBOL, "neverplaced")
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("executed", [True, False])
async def test_ack_timeout_is_unknown_then_resolved_by_query(
    executed: bool, autojump_clock: MockClock
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        r.emulator.faults.force("ack_timeout_executed" if executed else "ack_timeout_not_executed")
        request = r.order(Side.BUY, "0.002", key=f"to{executed}")
        with pytest.raises(OutcomeUnknown):
            await r.client.place_order(request)
        if executed:
            report = await r.client.query_order(SYMBOL, request.client_order_id)
            assert report.status is OrderStatus.FILLED and report.filled_qty == Decimal("0.002")
        else:
            with pytest.raises(OrderNotFound):
                await r.client.query_order(SYMBOL, request.client_order_id)
        nursery.cancel_scope.cancel()


async def test_rate_limit_penalizes_the_pool(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        r.emulator.faults.force("rate_limit")
        with pytest.raises(RateLimited) as info:
            await r.client.place_order(r.order(Side.BUY, "0.001", key="rl"))
        assert info.value.retry_after == 1.0
        assert r.client.rules.buckets["futures"].blocked_until > trio.current_time()
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("creds", "code"),
    [
        (attrs.evolve(CREDS, api_secret="wrong"), "400004"),  # the passphrase is signed too
        (attrs.evolve(CREDS, passphrase="wrong"), "400004"),
        (attrs.evolve(CREDS, api_key="other"), "400003"),
    ],
)
async def test_bad_credentials_fail_authentication(
    creds: Credentials, code: str, autojump_clock: MockClock
) -> None:
    async with rig(credentials=creds) as r:
        with pytest.raises(AuthenticationFailed, match=code):
            await r.client.fetch_balances()
        assert r.emulator.auth_failures == 1


async def test_bad_signature_and_clock_skew(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_headers = sign.rest_headers
    async with rig() as r:

        def corrupt(*args: str) -> dict[str, str]:
            headers = real_headers(*args)
            headers["KC-API-SIGN"] = sign.rest_sign(CREDS.api_secret, "0", "GET", "/x", "")
            return headers

        monkeypatch.setattr(sign, "rest_headers", corrupt)
        with pytest.raises(AuthenticationFailed, match="400005"):
            await r.client.fetch_positions()
        monkeypatch.undo()
    async with rig(wall_clock=lambda: 1_000_000.0) as r:
        with pytest.raises(AuthenticationFailed, match="400002"):
            await r.client.fetch_positions()


async def test_private_stream_resubscribes_and_reconciles(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        receive = await _stream(r, nursery)
        for conn in [c for c in r.emulator._conns if c.state["private"]]:
            conn.kill()  # the order's pushes go nowhere; the REST fallback recovers them
        request = r.order(Side.BUY, "0.003", key="recon")
        await r.client.place_order(request)
        fills, final = await _events_until_terminal(receive, request.client_order_id)
        assert final.status is OrderStatus.FILLED and sum(f.qty for f in fills) == Decimal("0.003")
        assert r.client.health.reconnects >= 1
        nursery.cancel_scope.cancel()
