"""The Bybit client recovering what its private stream missed, against the Bybit emulator
over loopback sockets, on Trio's MockClock (``autojump_clock``): the orders it placed are
re-queried over REST after every (re)subscription, after a malformed private frame and
periodically; a push holding items of other categories still delivers the linear ones."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
from trio.testing import MockClock
from trio_websocket import WebSocketConnection
from venues import rig as shared_rig
from venues.rig import Rig, open_rig

from arbtrio.core.types import Fill, OrderEvent, OrderRequest, OrderStatus, OrderUpdate, Side
from arbtrio.emulators.bybit import BybitEmulator
from arbtrio.venues.base import Credentials
from arbtrio.venues.bybit import client as client_module
from arbtrio.venues.bybit.client import BybitClient
from arbtrio.venues.reconnect import Backoff

CREDS = Credentials(api_key="test-key", api_secret="test_secret")
FAST = Backoff(base=0.02, cap=0.1)
SYMBOL = "BTCUSDT"
FIXTURES = Path(__file__).parent / "fixtures"


def rig(**client_kwargs: Any) -> AbstractAsyncContextManager[Rig]:
    """Market seed 3, the Bybit emulator, and a client with credentials against it."""
    return open_rig(
        BybitEmulator, BybitClient, seed=3, emulator_credentials=CREDS, credentials=CREDS,
        backoff=FAST, symbol=SYMBOL, **client_kwargs,
    )  # fmt: skip


async def wait_until(predicate: Callable[[], bool], guard_s: float = 30.0) -> None:
    await shared_rig.wait_until(predicate, guard_s)


class PrivateSessions:
    """Wraps the client's private-stream connections (the client module's ``websocket``
    factory): records each session's WebSocket, and while :attr:`hold` is set a new
    session waits for :meth:`release` before connecting."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sockets: list[WebSocketConnection] = []
        self.hold = False
        self._released = trio.Event()
        real = client_module.websocket

        def factory(url: str, **kw: Any) -> Any:
            connect = real(url, **kw)
            if not url.endswith(client_module.PRIVATE_PATH):
                return connect

            @asynccontextmanager
            async def session() -> AsyncIterator[tuple[WebSocketConnection, Any]]:
                if self.hold:
                    await self._released.wait()
                async with connect() as (ws, info):
                    self.sockets.append(ws)
                    yield ws, info

            return session

        monkeypatch.setattr(client_module, "websocket", factory)

    async def drop(self) -> None:
        """End the current session from the client's side."""
        await self.sockets[-1].aclose()

    def release(self) -> None:
        self.hold = False
        self._released.set()


def buy(r: Rig, cid: str, qty: str = "0.005") -> OrderRequest:
    """An IOC buy 20 bps through the market's best ask (it fills)."""
    _, asks = r.market.book_levels("bybit", SYMBOL, 1)
    price = (asks[0][0] * Decimal("1.002")).quantize(Decimal("0.1"))
    return OrderRequest(venue="bybit", symbol=SYMBOL, client_order_id=cid, side=Side.BUY,
                        qty=Decimal(qty), price=price)  # fmt: skip


async def order_stream(r: Rig, nursery: trio.Nursery) -> trio.MemoryReceiveChannel[OrderEvent]:
    send, receive = trio.open_memory_channel[OrderEvent](100)
    await nursery.start(r.client.run_order_stream, send)
    return receive


async def until_terminal(
    receive: trio.MemoryReceiveChannel[OrderEvent], cid: str, guard_s: float = 120.0
) -> tuple[list[Fill], OrderUpdate]:
    """Events of ``cid`` until it is terminal and its fills add up to its filled qty."""
    fills: list[Fill] = []
    final: OrderUpdate | None = None
    with trio.fail_after(guard_s):
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


def assert_matches_the_venue(r: Rig, cid: str, fills: list[Fill], final: OrderUpdate) -> None:
    sim = r.market.order("bybit", cid)
    assert sim is not None and final.status is sim.status is OrderStatus.FILLED
    assert final.filled_qty == sim.filled_qty == sum(f.qty for f in fills)
    assert len({f.trade_id for f in fills}) == len(fills) == len(sim.fills)


def silence_pushes(r: Rig, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """The emulator stops pushing order events (they are lost, as in a dropped frame);
    returns a function that still sends a frame to every private connection."""
    broadcast = r.emulator._broadcast
    monkeypatch.setattr(r.emulator, "_broadcast", lambda text, wants: None)
    return lambda text: broadcast(text, lambda subscribed: True)


async def test_orders_placed_while_the_private_stream_was_down_are_requeried_on_resubscription(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = PrivateSessions(monkeypatch)
    async with rig() as r, trio.open_nursery() as nursery:
        receive = await order_stream(r, nursery)
        sessions.hold = True
        await sessions.drop()
        await wait_until(lambda: not r.emulator._private)  # nobody to push to
        await r.client.place_order(buy(r, "down-1"))  # it fills; its pushes go nowhere
        assert r.market.order("bybit", "down-1") is not None
        sessions.release()
        fills, final = await until_terminal(receive, "down-1")
        assert_matches_the_venue(r, "down-1", fills, final)
        assert len(sessions.sockets) == 2 and r.client.private_health.reconnects >= 1
        assert r.client.orders.tracker.requeries >= 1
        assert r.client.orders.tracker.unfinished() == []  # finished: not asked again
        nursery.cancel_scope.cancel()


async def test_a_silent_stream_is_reconciled_periodically(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        receive = await order_stream(r, nursery)
        silence_pushes(r, monkeypatch)
        await trio.sleep(1.0)  # placed after the subscription: not re-queried on its note
        start = trio.current_time()
        await r.client.place_order(buy(r, "quiet-1"))
        fills, final = await until_terminal(receive, "quiet-1")
        assert_matches_the_venue(r, "quiet-1", fills, final)
        assert trio.current_time() - start >= 55.0  # the periodic re-query (every 60 s) found it
        assert r.client.private_health.reconnects == 0
        nursery.cancel_scope.cancel()


async def test_a_malformed_private_frame_requeries_the_unfinished_orders_at_once(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        receive = await order_stream(r, nursery)
        send_frame = silence_pushes(r, monkeypatch)
        await trio.sleep(1.0)  # placed after the subscription: not re-queried on its note
        await r.client.place_order(buy(r, "bad-1"))
        await trio.sleep(5.0)
        assert r.client.orders.tracker.requeries == 0
        start = trio.current_time()
        send_frame('{"topic":"execution","data":{"truncated')
        fills, final = await until_terminal(receive, "bad-1")
        assert_matches_the_venue(r, "bad-1", fills, final)
        assert trio.current_time() - start < 30.0  # not the periodic one (every 60 s)
        assert r.client.private_health.malformed == 1
        nursery.cancel_scope.cancel()


async def test_an_order_push_with_an_option_order_still_delivers_the_linear_one(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented option order (``"leavesQty": ""``) pushed on the all-in-one topic
    beside the state of an order the client placed."""
    async with rig() as r, trio.open_nursery() as nursery:
        receive = await order_stream(r, nursery)
        send_frame = silence_pushes(r, monkeypatch)
        await trio.sleep(1.0)  # placed after the subscription: not re-queried on its note
        ack = await r.client.place_order(buy(r, "mix-1"))
        sim = r.market.order("bybit", "mix-1")
        assert sim is not None
        option = json.loads((FIXTURES / "ws_order_option.json").read_text())["data"][0]
        ours = option | {
            "category": "linear", "symbol": SYMBOL, "orderId": ack.venue_order_id,
            "orderLinkId": "mix-1", "orderType": "Limit", "orderStatus": "Filled",
            "qty": "0.005", "leavesQty": "0", "leavesValue": "0",
            "cumExecQty": str(sim.filled_qty), "avgPrice": str(sim.avg_price),
        }  # fmt: skip
        send_frame(json.dumps({"id": "m", "topic": "order", "creationTime": 1,
                               "data": [option, ours]}))  # fmt: skip
        with trio.fail_after(30):
            event = await receive.receive()
        assert isinstance(event, OrderUpdate) and event.client_order_id == "mix-1"
        assert (event.status, event.filled_qty) == (OrderStatus.FILLED, sim.filled_qty)
        assert r.client.private_health.skipped == 1
        assert r.client.orders.tracker.requeries == 0  # delivered by the push itself
        nursery.cancel_scope.cancel()
