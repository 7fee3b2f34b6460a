"""KuCoin client against the emulator, on loopback and Trio's MockClock: what the client
recovers from — foreign items in the lists it reads, fills that name only the venue's order
id, pushes that never arrive, a malformed private frame — and the key version option."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import pytest
import trio
from trio.testing import MockClock
from venues import rig as shared_rig
from venues.rig import Rig, open_rig

from arbtrio.core.types import Fill, OrderEvent, OrderStatus, OrderUpdate, Side
from arbtrio.emulators.kucoin import KucoinEmulator
from arbtrio.venues.base import AuthenticationFailed, Credentials
from arbtrio.venues.kucoin import KucoinClient, create_client
from arbtrio.venues.reconnect import Backoff

CREDS = Credentials(api_key="kc-test-key", api_secret="kc-test-secret", passphrase="kc-pass")
FAST = Backoff(base=0.05, cap=0.2)
SYMBOL = "XBTUSDTM"
Handler = Callable[..., Any]


def rig(
    *, emulator_kwargs: dict[str, Any] | None = None, **client_kwargs: Any
) -> AbstractAsyncContextManager[Rig]:
    """Market seed 7, the KuCoin emulator, and a client with ``CREDS`` against it."""
    return open_rig(
        KucoinEmulator, KucoinClient, seed=7, emulator_credentials=CREDS, credentials=CREDS,
        backoff=FAST, emulator_kwargs=emulator_kwargs, symbol=SYMBOL, pass_ws_url=False,
        **client_kwargs,
    )  # fmt: skip


async def wait_until(predicate: Callable[[], bool], guard_s: float = 30.0) -> None:
    await shared_rig.wait_until(predicate, guard_s)


def wrap_handler(r: Rig, name: str, change: Callable[[Any], Any]) -> None:
    """Answer the emulator's REST handler ``name`` with ``change(data)`` of its answer."""
    inner: Handler = r.emulator._handlers[name]

    async def changed(req: Any, params: dict[str, str]) -> Any:
        status, body, headers = await inner(req, params)
        if isinstance(body, dict) and "data" in body:
            body = {**body, "data": change(json.loads(json.dumps(body["data"], default=str)))}
        return status, body, headers

    r.emulator._handlers[name] = changed


def filter_pushes(r: Rig, change: Callable[[str, dict[str, Any]], dict[str, Any] | None]) -> None:
    """Private pushes pass through ``change(topic, data)``: None drops the push."""
    inner = r.emulator._push_private

    def push(topic: str, subject: str, data: dict[str, Any], times: int = 1) -> None:
        changed = change(topic, dict(data))
        if changed is not None:
            inner(topic, subject, changed, times)

    r.emulator._push_private = push


async def _books(r: Rig, nursery: trio.Nursery) -> None:
    await nursery.start(r.client.run_books, [SYMBOL], lambda book: None)
    await wait_until(lambda: r.client.books[SYMBOL].tradable)


async def _stream(r: Rig, nursery: trio.Nursery) -> trio.MemoryReceiveChannel[OrderEvent]:
    """The order stream, subscribed a second before anything is placed (so an order is not
    re-queried for having been sent as the subscription began)."""
    send, receive = trio.open_memory_channel[OrderEvent](100)
    await nursery.start(r.client.run_order_stream, send)
    await trio.sleep(1.0)
    return receive


async def _until_terminal(
    receive: trio.MemoryReceiveChannel[OrderEvent], cid: str, guard_s: float = 30.0
) -> tuple[list[Fill], OrderUpdate, list[OrderEvent]]:
    """This order's fills and terminal update, and every event read meanwhile."""
    fills: list[Fill] = []
    seen: list[OrderEvent] = []
    final: OrderUpdate | None = None
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


# -- audit: foreign contracts in the account's lists ----------------------------------------
FOREIGN_POSITIONS: Sequence[dict[str, Any]] = (
    # an inverse contract (XBT-settled) and a USDC-margined one: not traded by arbtrio
    {"symbol": "XBTUSDM", "currentQty": 100, "avgEntryPrice": 67000.5, "isInverse": True,
     "settleCurrency": "XBT", "isOpen": True},
    {"symbol": "XBTUSDCM", "currentQty": -3, "avgEntryPrice": "66990", "settleCurrency": "USDC"},
    {"symbol": "ETHUSDTM", "currentQty": "not lots"},  # undecodable: skipped, neighbours kept
)  # fmt: skip


async def test_positions_in_contracts_arbtrio_does_not_trade_are_skipped_and_counted(
    autojump_clock: MockClock,
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        receive = await _stream(r, nursery)
        request = r.order(Side.SELL, "0.01")
        await r.client.place_order(request)
        await _until_terminal(receive, request.client_order_id)
        wrap_handler(r, "positions", lambda data: [*FOREIGN_POSITIONS, *data])
        before = r.client.health.skipped
        positions = await r.client.fetch_positions()
        assert [(p.symbol, p.qty) for p in positions] == [(SYMBOL, Decimal("-0.01"))]
        assert r.client.health.skipped - before == len(FOREIGN_POSITIONS)
        nursery.cancel_scope.cancel()


async def test_fills_of_other_orders_in_a_fills_page_are_skipped(autojump_clock: MockClock) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        receive = await _stream(r, nursery)
        request = r.order(Side.BUY, "0.003", key="ff")
        await r.client.place_order(request)
        fills, _, _ = await _until_terminal(receive, request.client_order_id)

        def with_strangers(page: dict[str, Any]) -> dict[str, Any]:
            mine = page["items"][0]
            other = {**mine, "tradeId": "other-1", "orderId": "another-order"}
            broken = {**mine, "tradeId": "broken-1", "price": None}
            return {**page, "items": [other, *page["items"], broken]}

        wrap_handler(r, "fills", with_strangers)
        report = await r.client.query_order(SYMBOL, request.client_order_id)
        assert sorted(f.trade_id for f in report.fills) == sorted(f.trade_id for f in fills)
        assert r.client.health.skipped == 2
        nursery.cancel_scope.cancel()


async def test_every_fills_page_is_read(autojump_clock: MockClock) -> None:
    """An order with more fills than one page: every page is read (pageSize as sent)."""
    async with rig() as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        receive = await _stream(r, nursery)
        request = r.order(Side.BUY, "5", cross_ticks=100, key="pg")
        await r.client.place_order(request)
        fills, _, _ = await _until_terminal(receive, request.client_order_id)
        assert len(fills) >= 3
        inner = r.emulator._handlers["fills"]
        asked: list[str] = []

        async def one_per_page(req: Any, params: dict[str, str]) -> Any:
            status, body, headers = await inner(req, params)
            query = dict(p.split("=", 1) for p in req.query.split("&"))
            asked.append(query.get("currentPage", "1"))
            page = int(query.get("currentPage", "1"))
            items = body["data"]["items"]
            data = {**body["data"], "currentPage": page, "pageSize": 1, "totalPage": len(items)}
            body = {**body, "data": {**data, "items": items[page - 1 : page]}}
            return status, body, headers

        r.emulator._handlers["fills"] = one_per_page
        report = await r.client.query_order(SYMBOL, request.client_order_id)
        assert sorted(f.trade_id for f in report.fills) == sorted(f.trade_id for f in fills)
        assert asked == [str(n) for n in range(1, len(fills) + 1)]
        nursery.cancel_scope.cancel()


# -- audit: the key version ---------------------------------------------------------------
async def test_a_v3_key_signs_with_its_version(autojump_clock: MockClock) -> None:
    async with rig(emulator_kwargs={"key_version": "3"}, key_version="3") as r:
        balances = await r.client.fetch_balances()
        assert balances[0].currency == "USDT" and r.emulator.auth_failures == 0
    async with rig(emulator_kwargs={"key_version": "3"}) as r:  # the default: version 2
        with pytest.raises(AuthenticationFailed, match="400009"):
            await r.client.fetch_balances()
    assert create_client(credentials=CREDS, key_version="3").key_version == "3"
    assert create_client(credentials=CREDS).key_version == "2"
    with pytest.raises(ValueError, match="key_version"):
        create_client(credentials=CREDS, key_version="1")


# -- fills before acks and lost pushes ----------------------------------------------------
async def test_fills_naming_only_the_venue_order_id_reach_their_order(
    autojump_clock: MockClock,
) -> None:
    """Order pushes without clientOid (pushed before the placement's answer): held by venue
    order id until ``place_order``'s note maps it, never delivered as orphans."""
    async with rig() as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        receive = await _stream(r, nursery)

        def anonymous(topic: str, data: dict[str, Any]) -> dict[str, Any]:
            if topic == "/contractMarket/tradeOrders":
                data.pop("clientOid", None)
            return data

        filter_pushes(r, anonymous)
        request = r.order(Side.BUY, "0.004", key="anon")
        await r.client.place_order(request)
        fills, final, seen = await _until_terminal(receive, request.client_order_id)
        sim = r.market.order("kucoin", request.client_order_id)
        assert sim is not None and final.status is sim.status is OrderStatus.FILLED
        assert sum(f.qty for f in fills) == sim.filled_qty == Decimal("0.004")
        assert len({f.trade_id for f in fills}) == len(fills) == len(sim.fills)
        assert all(e.client_order_id == request.client_order_id for e in seen)  # no orphans
        nursery.cancel_scope.cancel()


async def test_pushes_that_never_arrive_are_recovered_by_the_periodic_requery(
    autojump_clock: MockClock,
) -> None:
    async with rig(reconcile_every_s=5.0) as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        receive = await _stream(r, nursery)
        filter_pushes(r, lambda topic, data: None if "tradeOrders" in topic else data)
        request = r.order(Side.SELL, "0.002", key="lost")
        await r.client.place_order(request)
        fills, final, _ = await _until_terminal(receive, request.client_order_id)
        assert final.status is OrderStatus.FILLED and sum(f.qty for f in fills) == Decimal("0.002")
        assert r.client.order_feed.tracker.requeries >= 1 and r.client.health.reconnects == 0
        nursery.cancel_scope.cancel()


async def test_a_malformed_private_frame_is_counted_and_answered_with_a_requery(
    autojump_clock: MockClock,
) -> None:
    async with rig() as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        receive = await _stream(r, nursery)

        def corrupt(topic: str, data: dict[str, Any]) -> dict[str, Any]:
            if "tradeOrders" in topic:
                data["filledSize"] = "lots?"  # every order push of the order: undecodable
            return data

        filter_pushes(r, corrupt)
        request = r.order(Side.BUY, "0.002", key="bad")
        await r.client.place_order(request)
        fills, final, _ = await _until_terminal(receive, request.client_order_id)
        assert final.status is OrderStatus.FILLED and sum(f.qty for f in fills) == Decimal("0.002")
        assert r.client.health.malformed >= 1 and r.client.health.reconnects == 0
        nursery.cancel_scope.cancel()
