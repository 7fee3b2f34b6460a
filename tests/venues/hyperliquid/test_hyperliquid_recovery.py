"""The Hyperliquid client recovering what its private stream missed, against the emulator
over real loopback sockets, on Trio's MockClock (``autojump_clock``; the rig of
``tests/venues/rig.py``): every order it placed and has not seen finish is re-queried over
REST after each (re)subscription, after a malformed private frame and periodically, and the
re-query's fills are de-duplicated with the stream's; a fill that arrives before the
placement's answer waits for it; the ``userFills`` snapshot of a reconnect re-delivers
nothing already delivered.

The emulator's private connections are made to drop their pushes (``user_orders`` /
``user_fills`` off) to stand for what a real socket loses; every wait is for an observable
condition under a ``trio.fail_after`` guard in virtual seconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from decimal import Decimal
from typing import Any

import trio
from trio.testing import MockClock
from venues.rig import Rig, open_rig, wait_until

from arbtrio.core.ids import client_order_id
from arbtrio.core.instruments import round_price
from arbtrio.core.types import Fill, OrderAck, OrderEvent, OrderRequest, OrderUpdate, Side
from arbtrio.emulators.hyperliquid import HyperliquidEmulator
from arbtrio.venues.base import Credentials
from arbtrio.venues.hyperliquid.client import HyperliquidClient
from arbtrio.venues.reconnect import Backoff

KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
CREDS = Credentials(private_key=KEY)
FAST = Backoff(base=0.05, cap=0.2)
GUARD = 20.0  # virtual seconds: a bound on a hung test, never a claim about speed


@asynccontextmanager
async def rig(**client_kwargs: Any) -> AsyncIterator[Rig]:
    options: dict[str, Any] = {"request_timeout": 1.0, "ping_interval": 0.5}
    options.update(client_kwargs)
    async with open_rig(
        HyperliquidEmulator, HyperliquidClient, seed=7, emulator_credentials=CREDS,
        credentials=CREDS, backoff=FAST, symbol="BTC",
        emulator_kwargs={"hold_s": 3.0, "heartbeat_s": 0.2}, **options,
    ) as r:  # fmt: skip
        yield r


class Events:
    """What the order stream delivered, in order."""

    def __init__(self, receive: trio.MemoryReceiveChannel[OrderEvent]) -> None:
        self.receive = receive
        self.seen: list[OrderEvent] = []

    async def pump(self) -> None:
        async for event in self.receive:
            self.seen.append(event)

    def of(self, cid: str) -> list[OrderEvent]:
        return [e for e in self.seen if e.client_order_id == cid]

    def fills(self, cid: str) -> list[Fill]:
        return [e for e in self.of(cid) if isinstance(e, Fill)]

    def settled(self, cid: str) -> bool:
        """A terminal update of ``cid`` arrived and its fills add up to its filled size."""
        final = [e for e in self.of(cid) if isinstance(e, OrderUpdate) and e.status.is_terminal]
        return bool(final) and final[-1].filled_qty == sum(f.qty for f in self.fills(cid))


async def start_stream(r: Rig, nursery: trio.Nursery) -> Events:
    send, receive = trio.open_memory_channel[OrderEvent](1000)
    await nursery.start(r.client.run_order_stream, send)
    await r.client.load_instruments()
    events = Events(receive)
    nursery.start_soon(events.pump)
    # Past the subscription's acknowledgement: an order sent at the same (virtual) instant
    # would be re-queried as soon as its note arrives, and these tests want the stream's
    # other paths.
    await trio.sleep(1.0)
    return events


def marketable(r: Rig, qty: str, attempt: int) -> OrderRequest:
    """An IOC buy 1 % through the emulator's best ask."""
    inst = r.market.instrument("hyperliquid", "BTC")
    _bids, asks = r.market.book_levels("hyperliquid", "BTC", 1)
    price = round_price(inst, asks[0][0] * Decimal("1.01"), "down")
    return OrderRequest(
        venue="hyperliquid", symbol="BTC", side=Side.BUY, qty=Decimal(qty), price=price,
        client_order_id=client_order_id("hyperliquid", "rec", "hl", attempt),
    )  # fmt: skip


def private_conns(r: Rig) -> list[Any]:
    return [conn for conn in r.emulator.conns if conn.user_orders or conn.user_fills]


@contextmanager
def pushes_lost(r: Rig, *, orders: bool = True, fills: bool = True) -> Iterator[list[Any]]:
    """While inside, the private connections of now (yielded) drop order and/or fill
    pushes."""
    conns = private_conns(r)
    assert conns, "no private connection to silence"
    saved = [(conn.user_orders, conn.user_fills) for conn in conns]
    for conn in conns:
        conn.user_orders = conn.user_orders and not orders
        conn.user_fills = conn.user_fills and not fills
    try:
        yield conns
    finally:
        for conn, (o, f) in zip(conns, saved, strict=True):
            conn.user_orders, conn.user_fills = o, f


def assert_delivered_once(events: Events, request: OrderRequest) -> None:
    fills = events.fills(request.client_order_id)
    assert fills and sum(f.qty for f in fills) == request.qty
    assert len({f.trade_id for f in fills}) == len(fills)  # never twice
    assert all(f.side is Side.BUY and f.fee_currency == "" for f in fills)  # USDC: the quote


# -- reconciliation -------------------------------------------------------------------------
async def test_after_a_reconnect_the_rest_requery_delivers_what_the_stream_missed(
    autojump_clock: MockClock,
) -> None:
    """The order filled while its pushes were lost; the reconnect's ``userFills`` snapshot
    brings the fills, and the REST re-query after the resubscription the terminal status
    (``orderUpdates`` has no snapshot)."""
    async with rig() as r, trio.open_nursery() as nursery:
        events = await start_stream(r, nursery)
        request = marketable(r, "0.01", 1)
        with pushes_lost(r):
            ack = await r.client.place_order(request)
            await trio.sleep(1.0)
            assert events.of(request.client_order_id) == []  # the stream said nothing
        r.emulator.disconnect_all()
        await wait_until(lambda: events.settled(request.client_order_id), GUARD)
        assert r.client.order_health.reconnects >= 1 and r.client.orders.tracker.requeries >= 1
        assert_delivered_once(events, request)
        assert ack.venue_order_id and r.client.orders.tracker.unfinished() == []
        nursery.cancel_scope.cancel()


async def test_unfinished_orders_are_requeried_periodically(autojump_clock: MockClock) -> None:
    """No reconnect, no malformed frame: the periodic re-query (``reconcile_every_s``)
    finds the fills and status the stream never pushed."""
    async with rig(reconcile_every_s=2.0) as r, trio.open_nursery() as nursery:
        events = await start_stream(r, nursery)
        request = marketable(r, "0.01", 2)
        with pushes_lost(r):
            await r.client.place_order(request)
            await wait_until(lambda: events.settled(request.client_order_id), GUARD)
        assert r.client.order_health.reconnects == 0 and r.client.orders.tracker.requeries >= 1
        assert r.client.order_health.malformed == 0
        assert_delivered_once(events, request)
        nursery.cancel_scope.cancel()


async def test_a_malformed_private_frame_triggers_the_requery(autojump_clock: MockClock) -> None:
    async with rig(reconcile_every_s=3600.0) as r, trio.open_nursery() as nursery:
        events = await start_stream(r, nursery)
        request = marketable(r, "0.01", 3)
        with pushes_lost(r) as conns:
            await r.client.place_order(request)
            await trio.sleep(1.0)
            assert events.of(request.client_order_id) == []
            for conn in conns:
                conn.push('{"channel":"userFills","data":{"user":')  # truncated
            await wait_until(lambda: events.settled(request.client_order_id), GUARD)
        assert r.client.order_health.malformed == 1 and r.client.order_health.reconnects == 0
        assert_delivered_once(events, request)
        nursery.cancel_scope.cancel()


# -- fills before acks ------------------------------------------------------------------------
async def test_a_fill_pushed_before_the_placement_answer_waits_for_its_order_id(
    autojump_clock: MockClock,
) -> None:
    """The venue pushes the fills (only ``oid``, no ``cloid``) before it answers the
    placement, and no ``orderUpdates`` entry names the order: the fills wait for the
    ``Placed`` note, then arrive under the right client order id, once."""
    async with rig(reconcile_every_s=2.0) as r, trio.open_nursery() as nursery:
        events = await start_stream(r, nursery)
        request = marketable(r, "0.01", 4)
        with pushes_lost(r, fills=False):
            await r.client.place_order(request)
            await wait_until(lambda: bool(events.fills(request.client_order_id)), GUARD)
            assert r.client.orders.tracker.fills_waited >= 1  # held, not orphaned
            await wait_until(lambda: events.settled(request.client_order_id), GUARD)
        assert_delivered_once(events, request)
        assert not any(e.client_order_id == "" for e in events.seen)
        nursery.cancel_scope.cancel()


# -- the reconnect snapshot ---------------------------------------------------------------------
async def test_the_reconnect_snapshot_redelivers_nothing_already_delivered(
    autojump_clock: MockClock,
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        events = await start_stream(r, nursery)
        first = marketable(r, "0.01", 5)
        await r.client.place_order(first)
        await wait_until(lambda: events.settled(first.client_order_id), GUARD)
        delivered = len(events.seen)
        r.emulator.disconnect_all()
        await wait_until(lambda: r.client.order_health.reconnects >= 1 and bool(private_conns(r)))
        await trio.sleep(2.0)  # the snapshot (with the first order's fills) is in
        assert len(events.seen) == delivered
        second = marketable(r, "0.01", 6)
        await r.client.place_order(second)
        await wait_until(lambda: events.settled(second.client_order_id), GUARD)
        assert_delivered_once(events, first)
        assert_delivered_once(events, second)
        acks = [e for e in events.seen if isinstance(e, OrderAck)]
        assert sorted(a.client_order_id for a in acks) == sorted(
            [first.client_order_id, second.client_order_id]
        )
        nursery.cancel_scope.cancel()
