"""What only Gate.io has, against the Gate.io emulator over real loopback sockets: the text
lookup that expires (an order found by its numeric id, then in the finished list), asset
hints mapped to contracts, and the request budgets against the documented limits. What
every venue does (books in base units, resyncs, reconnects, instruments, orders, errors,
authentication, the order stream's reconciliation) is in
``tests/venues/test_conformance.py``, with Gate.io's values in ``registry.py``.

On Trio's MockClock (``autojump_clock``, enforced by :func:`registry.open_venue`).
"""

from __future__ import annotations

import bisect
from decimal import Decimal

import pytest
import trio
from trio.testing import MockClock
from venues.registry import GATEIO, GUARD_S, open_venue, order_request
from venues.rig import wait_until

from arbtrio.core.types import Fill, OrderEvent, OrderStatus, OrderUpdate, Side
from arbtrio.emulators.gateio_protocol import RATE_LIMITS as DOCUMENTED_RATE_LIMITS
from arbtrio.venues.base import OrderNotFound
from arbtrio.venues.gateio import create_client
from arbtrio.venues.gateio.client import RATE_LIMITS
from arbtrio.venues.ratelimit import TokenBucket

SYMBOL = GATEIO.symbol


async def _terminal(
    receive: trio.MemoryReceiveChannel[OrderEvent], cid: str
) -> tuple[list[Fill], OrderUpdate]:
    """Read the stream until ``cid`` is terminal and its fills add up to its filled qty
    (Gate pushes ``futures.orders`` and ``futures.usertrades`` in either order)."""
    fills: list[Fill] = []
    final: OrderUpdate | None = None
    with trio.fail_after(GUARD_S):
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


async def test_asset_hints_map_to_contracts_and_unknown_hints_never_fail(
    autojump_clock: MockClock,
) -> None:
    """``arbtrio run`` passes the configured assets (``"BTC"``) as hints; a hint may also be
    a contract, or something the venue does not list."""
    hints = ("BTC", "ETH_USDT", "DOGE", "ETH")
    async with open_venue(GATEIO, symbols_hint=hints) as r, trio.open_nursery() as nursery:
        await r.client.load_instruments()
        assert r.client.hinted_symbols == [SYMBOL, "ETH_USDT"]
        await nursery.start(r.client.run_books, r.client.hinted_symbols, lambda book: None)
        await wait_until(lambda: all(b.tradable for b in r.client.books.values()), GUARD_S)
        send, receive = trio.open_memory_channel[OrderEvent](100)
        await nursery.start(r.client.run_order_stream, send)
        request = order_request(r, Side.BUY, "0.001", "hint")
        await r.client.place_order(request)
        _fills, final = await _terminal(receive, request.client_order_id)
        assert final.status is OrderStatus.FILLED
        nursery.cancel_scope.cancel()
    client = create_client(symbols_hint=("BTC", "ETH"))  # the live path's call
    assert client.symbols_hint == ("BTC", "ETH") and client.hinted_symbols == []
    await client.aclose()


async def test_text_lookup_expires_and_the_finished_list_finds_it(
    autojump_clock: MockClock,
) -> None:
    async with open_venue(GATEIO) as r:
        request = order_request(r, Side.BUY, "0.001", "late")
        ack = await r.client.place_order(request)
        await trio.sleep(61)  # virtual: past the venue's 60 s text lookup
        report = await r.client.query_order(SYMBOL, request.client_order_id)  # by numeric id
        assert report.status is OrderStatus.FILLED
        fresh = create_client(rest_url=r.client.rest_url, ws_url=r.client.ws_url,
                              credentials=GATEIO.credentials)  # fmt: skip
        with pytest.raises(OrderNotFound):  # Gate's rule: the text has expired
            await fresh._request(
                "GET", f"/futures/usdt/orders/{request.client_order_id}", bytes, signed=True
            )
        late = await fresh.query_order(SYMBOL, request.client_order_id)  # restarted client
        assert late.status is OrderStatus.FILLED and late.filled_qty == Decimal("0.001")
        assert [f.trade_id for f in late.fills] == [f.trade_id for f in report.fills]
        assert ack.venue_order_id
        await fresh.aclose()


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
