"""Gate.io client against the Gate.io emulator (real loopback sockets, virtual time): what
the client does when the venue's answers and pushes are not the happy path — a contract
delisted under a held position, fills pushed without a client order id, pushes lost while
the connection stays up, a malformed private frame — and that its per-order memory stays
bounded."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import pytest
import trio
from trio.testing import MockClock
from venues import rig as shared_rig
from venues.rig import Rig, open_rig

from arbtrio.core.ids import client_order_id
from arbtrio.core.types import Fill, OrderEvent, OrderRequest, OrderStatus, OrderUpdate, Side
from arbtrio.emulators import gateio as emulator_module
from arbtrio.emulators.gateio import GateEmulator
from arbtrio.venues.base import Credentials
from arbtrio.venues.gateio import GateClient
from arbtrio.venues.reconnect import Backoff

CREDS = Credentials(api_key="gate-test-key", api_secret="gate-test-secret")
FAST = Backoff(base=0.05, cap=0.2)
BTC, ETH = "BTC_USDT", "ETH_USDT"


def rig(**client_kwargs: Any) -> AbstractAsyncContextManager[Rig]:
    return open_rig(GateEmulator, GateClient, seed=5, emulator_credentials=CREDS,
                    credentials=CREDS, backoff=FAST, symbol=BTC, **client_kwargs)  # fmt: skip


async def wait_until(predicate: Callable[[], bool], guard_s: float = 120.0) -> None:
    await shared_rig.wait_until(predicate, guard_s)


def crossing(r: Rig, symbol: str, side: Side, qty: str, key: str) -> OrderRequest:
    """An IOC order 50 ticks through the far touch of ``symbol``'s live book."""
    book = r.client.books[symbol]
    top = book.best_ask() if side is Side.BUY else book.best_bid()
    assert top is not None
    tick = r.client.instruments[symbol].tick_size
    price = Decimal(repr(top[0])).quantize(tick) + side.sign * 50 * tick
    return OrderRequest(venue="gateio", symbol=symbol, side=side, qty=Decimal(qty), price=price,
                        client_order_id=client_order_id("gateio", key, side.value, 0))  # fmt: skip


async def books_and_orders(
    r: Rig, nursery: trio.Nursery, symbols: list[str]
) -> trio.MemoryReceiveChannel[OrderEvent]:
    await nursery.start(r.client.run_books, symbols, lambda book: None)
    await wait_until(lambda: all(r.client.books[s].tradable for s in symbols))
    send, receive = trio.open_memory_channel[OrderEvent](1000)
    await nursery.start(r.client.run_order_stream, send)
    return receive


async def until_terminal(
    receive: trio.MemoryReceiveChannel[OrderEvent], cid: str, guard_s: float = 120.0
) -> tuple[list[Fill], OrderUpdate, list[OrderEvent]]:
    """Events until ``cid`` is terminal and its fills add up; also every event seen."""
    fills: list[Fill] = []
    final: OrderUpdate | None = None
    seen: list[OrderEvent] = []
    with trio.fail_after(guard_s):
        async for event in receive:
            seen.append(event)
            if isinstance(event, Fill) and event.client_order_id == cid:
                fills.append(event)
            elif (
                isinstance(event, OrderUpdate)
                and event.client_order_id == cid
                and event.status.is_terminal
            ):
                final = event
            if final is not None and sum(f.qty for f in fills) == final.filled_qty:
                return fills, final, seen
    raise AssertionError("stream ended")


async def test_a_delisted_contract_under_a_held_position_does_not_stop_reconciliation(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit's defect: ``fetch_positions`` raised for the whole venue once the account
    held a position in a contract the client no longer trades."""
    async with rig() as r, trio.open_nursery() as nursery:
        receive = await books_and_orders(r, nursery, [BTC, ETH])
        for symbol, qty in ((BTC, "0.001"), (ETH, "0.01")):
            request = crossing(r, symbol, Side.BUY, qty, key=f"pos{symbol[:3]}")
            await r.client.place_order(request)
            await until_terminal(receive, request.client_order_id)
        real = r.emulator._contract_json

        def delisting(inst: Any, decimal_sizes: bool) -> dict[str, Any]:
            contract = real(inst, decimal_sizes)
            return contract | ({"in_delisting": True} if inst.symbol == ETH else {})

        monkeypatch.setattr(r.emulator, "_contract_json", delisting)
        await r.client.load_instruments()
        assert ETH not in r.client.instruments
        positions = await r.client.fetch_positions()
        assert [(p.symbol, p.qty) for p in positions] == [(BTC, r.market.position("gateio", BTC))]
        assert r.client.health.skipped == 1  # the ETH position: counted, not fatal
        assert r.market.position("gateio", ETH) == Decimal("0.01")  # it is there, just foreign
        nursery.cancel_scope.cancel()


async def test_fills_pushed_without_a_client_order_id_reach_their_order(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Usertrades whose ``text`` is not the client order id: the order push (which has
    it) maps the venue order id, and the fills are delivered under the right order."""
    real = emulator_module._trade_ws
    monkeypatch.setattr(emulator_module, "_trade_ws", lambda o, t: real(o, t) | {"text": "api"})
    async with rig() as r, trio.open_nursery() as nursery:
        receive = await books_and_orders(r, nursery, [BTC])
        request = crossing(r, BTC, Side.BUY, "5", key="notext")  # several trades
        await r.client.place_order(request)
        fills, final, seen = await until_terminal(receive, request.client_order_id)
        sim = r.market.order("gateio", request.client_order_id)
        assert sim is not None and final.filled_qty == sim.filled_qty > 0
        assert len(fills) == len(sim.fills) > 1
        cids = {e.client_order_id for e in seen if isinstance(e, Fill)}
        assert cids == {request.client_order_id}  # never "" or Gate's "api" mark
        nursery.cancel_scope.cancel()


async def test_fills_and_orders_pushed_with_venue_ids_only_wait_for_the_placement(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither push names the client order id, and both arrive before the placement's
    answer: the fills wait for the Placed note (which carries the venue order id) and the
    terminal status comes from the order's REST re-query."""
    real = emulator_module._trade_ws
    monkeypatch.setattr(emulator_module, "_trade_ws", lambda o, t: real(o, t) | {"text": "api"})
    async with rig() as r, trio.open_nursery() as nursery:
        real_order = r.emulator._order_json

        def no_text(order: Any, decimal_sizes: bool, *, rest: bool) -> dict[str, Any]:
            answer = real_order(order, decimal_sizes, rest=rest)
            return answer if rest else answer | {"text": "api"}

        monkeypatch.setattr(r.emulator, "_order_json", no_text)
        receive = await books_and_orders(r, nursery, [BTC])
        request = crossing(r, BTC, Side.BUY, "0.01", key="ids")
        await r.client.place_order(request)
        fills, final, _ = await until_terminal(receive, request.client_order_id)
        assert final.status is OrderStatus.FILLED and final.filled_qty == Decimal("0.01")
        assert sum(f.qty for f in fills) == Decimal("0.01")
        assert r.client.orders.tracker.fills_waited >= 1  # held, then delivered
        nursery.cancel_scope.cancel()


def mute_orders_and_trades(monkeypatch: pytest.MonkeyPatch, emulator: GateEmulator) -> None:
    """The venue keeps the connection but its order and fill pushes never arrive."""
    real = emulator._push_private

    def push(channel: str, contract: str | None, result: Any, times: int = 1) -> None:
        if channel not in ("futures.orders", "futures.usertrades"):
            real(channel, contract, result, times)

    monkeypatch.setattr(emulator, "_push_private", push)


async def test_pushes_lost_on_a_live_connection_are_recovered_by_the_periodic_requery(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        receive = await books_and_orders(r, nursery, [BTC])
        mute_orders_and_trades(monkeypatch, r.emulator)
        await trio.sleep(1.0)  # placed after the subscription: no re-query when the note comes
        request = crossing(r, BTC, Side.BUY, "0.01", key="lost")
        await r.client.place_order(request)
        fills, final, _ = await until_terminal(receive, request.client_order_id)
        assert final.status is OrderStatus.FILLED and sum(f.qty for f in fills) == Decimal("0.01")
        assert r.client.health.reconnects == 0 and r.client.orders.tracker.requeries >= 1
        nursery.cancel_scope.cancel()


async def test_a_malformed_private_frame_requeries_unfinished_orders(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        receive = await books_and_orders(r, nursery, [BTC])
        r.client.orders.tracker.reconcile_every_s = 1e9  # only the malformed frame can ask
        r.client.orders.tracker.timer(trio.current_time())  # re-arm with the long period
        mute_orders_and_trades(monkeypatch, r.emulator)
        await trio.sleep(1.0)  # placed after the subscription: no re-query when the note comes
        request = crossing(r, BTC, Side.BUY, "0.01", key="garbled")
        await r.client.place_order(request)
        await trio.sleep(1.0)
        for conn in list(r.emulator._private_conns):
            conn.offer('{"channel":"futures.usertrades","event":"update","result":[{"id":')
        fills, final, _ = await until_terminal(receive, request.client_order_id, guard_s=30.0)
        assert final.status is OrderStatus.FILLED and sum(f.qty for f in fills) == Decimal("0.01")
        assert r.client.health.malformed == 1 and r.client.health.reconnects == 0
        nursery.cancel_scope.cancel()


async def test_the_client_order_id_map_is_bounded_and_queries_survive_forgetting(
    autojump_clock: MockClock,
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        receive = await books_and_orders(r, nursery, [BTC])
        r.client.max_order_ids = 2
        cids = []
        for i in range(3):
            request = crossing(r, BTC, Side.BUY, "0.001", key=f"bound{i}")
            await r.client.place_order(request)
            await until_terminal(receive, request.client_order_id)
            cids.append(request.client_order_id)
        assert list(r.client._order_ids) == cids[1:]  # the oldest forgotten
        report = await r.client.query_order(BTC, cids[0])  # by its text, as Gate allows
        assert report.status is OrderStatus.FILLED and report.filled_qty == Decimal("0.001")
        nursery.cancel_scope.cancel()
