"""The Bitget client against its emulator when the private stream is not enough: fills
pushed without ``clientOid`` before the placement's answer, fee fields the audit found
undecodable, fees paid in BGB, and pushes lost to a reconnect, a quiet loss or a late
subscription, recovered over REST (loopback sockets on Trio's MockClock)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import trio
from trio.testing import MockClock
from venues.rig import Rig, open_rig, wait_until

from arbtrio.core.types import Fill, OrderEvent, OrderRequest, OrderStatus, OrderUpdate, Side
from arbtrio.emulators.bitget import BitgetEmulator
from arbtrio.sim.config import FaultRates
from arbtrio.venues.base import Credentials
from arbtrio.venues.bitget.client import BitgetClient
from arbtrio.venues.reconnect import Backoff

CREDS = Credentials(api_key="test-key", api_secret="test_secret", passphrase="test-pass")
SYMBOL = "BTCUSDT"
Events = trio.MemoryReceiveChannel[OrderEvent]


def rig(faults: FaultRates | None = None, **client_kwargs: Any) -> AbstractAsyncContextManager[Rig]:
    return open_rig(BitgetEmulator, BitgetClient, seed=3, emulator_credentials=CREDS,
                    credentials=CREDS, backoff=Backoff(base=0.02, cap=0.1), faults=faults,
                    **client_kwargs)  # fmt: skip


def buy(r: Rig, cid: str, qty: str = "0.05") -> OrderRequest:
    _, asks = r.market.book_levels("bitget", SYMBOL, 1)
    price = (asks[0][0] * Decimal("1.002")).quantize(Decimal("0.1"))
    return OrderRequest(venue="bitget", symbol=SYMBOL, client_order_id=cid, side=Side.BUY,
                        qty=Decimal(qty), price=price)  # fmt: skip


def rows_changed(r: Rig, change: Callable[[dict[str, Any]], None]) -> None:
    """Every ``fill`` push and ``/order/fills`` row the emulator sends, changed by ``change``."""
    original = r.emulator._fill_row

    def row(order: Any, fill: Any) -> dict[str, Any]:
        out: dict[str, Any] = original(order, fill)
        change(out)
        return out

    r.emulator._fill_row = row


class Muted:
    """While ``on``, the emulator's pushes on ``channels`` go nowhere (a lost push)."""

    def __init__(self, r: Rig, channels: Iterable[str]) -> None:
        self.on = True
        self.channels = set(channels)
        original = r.emulator._push

        def push(channel: str, data: list[Any], symbol: str = "") -> None:
            if not (self.on and channel in self.channels):
                original(channel, data, symbol)

        r.emulator._push = push


async def start_stream(r: Rig, nursery: trio.Nursery) -> Events:
    """The order stream, subscribed a second ago (an order sent at the very instant of the
    subscription is re-queried at once: it may predate it)."""
    send, recv = trio.open_memory_channel[OrderEvent](1000)
    await nursery.start(r.client.run_order_stream, send)
    await trio.sleep(1.0)
    return recv


async def until_final(recv: Events, cid: str, guard_s: float = 20.0) -> list[OrderEvent]:
    """Events until ``cid``'s terminal update has come and its fills add up to it."""
    events: list[OrderEvent] = []
    with trio.fail_after(guard_s):
        while True:
            events.append(await recv.receive())
            final = [e for e in events if isinstance(e, OrderUpdate) and e.status.is_terminal
                     and e.client_order_id == cid]  # fmt: skip
            got = sum((e.qty for e in events if isinstance(e, Fill)), Decimal(0))
            if final and got >= final[-1].filled_qty:
                return events


def fills_of(events: list[OrderEvent]) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def venue_fills(r: Rig, cid: str) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    report = r.market.order("bitget", cid)
    assert report is not None
    return sorted((f.trade_id, f.qty, f.price, f.fee) for f in report.fills)


def same_fills(r: Rig, cid: str, fills: list[Fill]) -> bool:
    """``fills`` are the venue's fills of ``cid``, each once, all attributed to ``cid``."""
    ours = sorted((f.trade_id, f.qty, f.price, f.fee) for f in fills)
    return all(f.client_order_id == cid for f in fills) and ours == venue_fills(r, cid)


# -- defects found by the audit ---------------------------------------------------------------
async def test_a_null_deduction_fee_neither_drops_the_fill_push_nor_fails_the_query(
    autojump_clock: MockClock,
) -> None:
    def null_deduction(row: dict[str, Any]) -> None:
        row["feeDetail"][0]["totalDeductionFee"] = None

    async with rig(FaultRates(partial_fill=1.0)) as r, trio.open_nursery() as n:
        rows_changed(r, null_deduction)
        recv = await start_stream(r, n)
        await r.client.place_order(buy(r, "nd1", qty="1.00"))
        events = await until_final(recv, "nd1")
        assert same_fills(r, "nd1", fills_of(events)) and len(fills_of(events)) >= 1
        report = await r.client.query_order(SYMBOL, "nd1")
        assert same_fills(r, "nd1", list(report.fills))
        assert r.client.private_health.malformed == 0 and r.client.private_health.skipped == 0
        n.cancel_scope.cancel()


async def test_fills_pushed_without_client_oid_before_the_ack_reach_their_order(
    autojump_clock: MockClock,
) -> None:
    """The emulator pushes an order's fills before its REST answer: without ``clientOid``
    they name only the order id. With the ``orders`` push lost too, only the placement's
    own note tells which order they belong to."""

    def no_client_oid(row: dict[str, Any]) -> None:
        del row["clientOid"]

    async with rig(FaultRates(partial_fill=1.0)) as r, trio.open_nursery() as n:
        rows_changed(r, no_client_oid)
        recv = await start_stream(r, n)
        await r.client.place_order(buy(r, "fa1", qty="1.00"))  # the orders push follows
        events = await until_final(recv, "fa1")
        assert same_fills(r, "fa1", fills_of(events))
        Muted(r, ["orders"])
        await r.client.place_order(buy(r, "fa2", qty="1.00"))  # only our placement maps it
        want = len(venue_fills(r, "fa2"))
        later: list[OrderEvent] = []
        with trio.fail_after(10):
            while len(fills_of(later)) < want:
                later.append(await recv.receive())
        assert same_fills(r, "fa2", fills_of(later))
        assert r.client.orders.tracker.fills_waited >= want  # they did wait for the answer
        n.cancel_scope.cancel()


async def test_fees_paid_in_bgb_stay_in_bgb(autojump_clock: MockClock) -> None:
    def in_bgb(row: dict[str, Any]) -> None:
        detail = row["feeDetail"][0]
        row["feeDetail"] = [{"feeCoin": "BGB", "deduction": "yes",
                             "totalDeductionFee": detail["totalFee"],
                             "totalFee": detail["totalFee"]}]  # fmt: skip

    async with rig() as r, trio.open_nursery() as n:
        rows_changed(r, in_bgb)
        recv = await start_stream(r, n)
        await r.client.place_order(buy(r, "bgb1"))
        streamed = fills_of(await until_final(recv, "bgb1"))
        report = await r.client.query_order(SYMBOL, "bgb1")
        for fills in (streamed, list(report.fills)):
            assert fills and all(f.fee_currency == "BGB" and f.fee > 0 for f in fills)
            assert sorted(f.fee for f in fills) == sorted(v[3] for v in venue_fills(r, "bgb1"))
        n.cancel_scope.cancel()


async def test_pushes_lost_to_a_reconnect_are_recovered_over_rest(
    autojump_clock: MockClock,
) -> None:
    """The order executes while its pushes are lost; the stream reconnects and, once
    subscribed again, re-queries the order: fills and final status delivered (the periodic
    re-query is an hour away, so the reconnect did it)."""
    async with rig(reconcile_every_s=3600.0) as r, trio.open_nursery() as n:
        recv = await start_stream(r, n)
        muted = Muted(r, ["orders", "fill"])
        await r.client.place_order(buy(r, "rc1"))
        reconnects = r.client.private_health.reconnects
        ws = r.client.order_stream._ws
        assert ws is not None
        await ws.aclose()  # the connection drops
        await wait_until(lambda: r.client.private_health.reconnects > reconnects)
        muted.on = False
        with trio.fail_after(30):
            events = await until_final(recv, "rc1")
        assert same_fills(r, "rc1", fills_of(events))
        final = next(e for e in events if isinstance(e, OrderUpdate))
        assert final.status is OrderStatus.FILLED
        assert r.client.orders.tracker.requeries == 1  # by the new subscription
        n.cancel_scope.cancel()


# -- reconciliation on every trigger ----------------------------------------------------------
async def test_an_order_placed_before_the_stream_subscribed_is_recovered(
    autojump_clock: MockClock,
) -> None:
    async with rig(reconcile_every_s=3600.0) as r, trio.open_nursery() as n:
        await r.client.place_order(buy(r, "early1"))  # nobody listens to its pushes
        recv = await start_stream(r, n)
        events = await until_final(recv, "early1")
        assert same_fills(r, "early1", fills_of(events))
        n.cancel_scope.cancel()


async def test_pushes_lost_on_a_live_stream_are_recovered_by_the_periodic_requery(
    autojump_clock: MockClock,
) -> None:
    async with rig(reconcile_every_s=5.0) as r, trio.open_nursery() as n:
        recv = await start_stream(r, n)
        Muted(r, ["orders", "fill"])
        start = trio.current_time()
        await r.client.place_order(buy(r, "quiet1"))
        events = await until_final(recv, "quiet1")
        assert same_fills(r, "quiet1", fills_of(events))
        assert trio.current_time() - start >= 4.0  # the timer found it, not a push
        assert r.client.private_health.reconnects == 0
        n.cancel_scope.cancel()


async def test_a_terminal_push_whose_fills_were_lost_is_requeried(
    autojump_clock: MockClock,
) -> None:
    """The ``orders`` push says filled, the ``fill`` pushes never come: the order is not
    taken as finished; it is re-queried after the fill wait and its fills delivered."""
    async with rig(reconcile_every_s=3600.0) as r, trio.open_nursery() as n:
        recv = await start_stream(r, n)
        Muted(r, ["fill"])
        await r.client.place_order(buy(r, "lost1"))
        events = await until_final(recv, "lost1")
        assert same_fills(r, "lost1", fills_of(events))
        assert [e.status for e in events if isinstance(e, OrderUpdate)][-1] is OrderStatus.FILLED
        n.cancel_scope.cancel()
