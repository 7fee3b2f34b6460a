"""What only Bybit has, against the Bybit emulator over real loopback sockets: the level-1
topic, the documented service restart (``u`` back to 1) and the per-endpoint budget. What
every venue does (books, resyncs, reconnects, instruments, orders, errors, authentication)
is in ``tests/venues/test_conformance.py``, with Bybit's values in ``registry.py``.

On Trio's MockClock (``autojump_clock``, enforced by :func:`registry.open_venue`): the
market's ticks, timeouts and backoff run on virtual time; signature timestamps use the wall
clock, which the emulator checks them against.
"""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock
from venues.registry import BYBIT, GUARD_S, ladders_of, market_ladders, open_venue, order_request
from venues.rig import Rig, wait_until

from arbtrio.core.types import Side

SYMBOL = BYBIT.symbol


def matches_market(r: Rig, depth: int) -> bool:
    book = r.client.books[SYMBOL]
    return book.tradable and ladders_of(book) == market_ladders(depth)(r, SYMBOL)


async def test_level1_topic_top_of_book(autojump_clock: MockClock) -> None:
    async with open_venue(BYBIT, depth=1) as r, trio.open_nursery() as n:
        await n.start(r.client.run_books, [SYMBOL], lambda _b: None)
        await wait_until(lambda: matches_market(r, 1), GUARD_S)
        assert r.client.books[SYMBOL].depth() == (1, 1)
        n.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("depth", "frame_type"),
    [(1, "snapshot"), (50, "snapshot"), (50, "delta")],
)
async def test_service_restart_u1_overwrites_the_book(
    depth: int, frame_type: str, autojump_clock: MockClock
) -> None:
    """After a venue-side restart the topic's ``u`` starts again at 1 (a full snapshot,
    documented: overwrite the local book): the book follows the market from there."""
    async with open_venue(BYBIT, depth=depth) as r, trio.open_nursery() as n:
        await n.start(r.client.run_books, [SYMBOL], lambda _b: None)
        book = r.client.books[SYMBOL]
        await wait_until(lambda: matches_market(r, depth) and book.seq > 100_000, GUARD_S)
        r.emulator.restart_books(frame_type)
        await wait_until(lambda: book.seq < 100_000, GUARD_S)
        await wait_until(lambda: matches_market(r, depth), GUARD_S)
        assert r.client.health.reconnects == 0
        n.cancel_scope.cancel()


async def test_endpoint_budget_keeps_creates_under_the_venue_limit(
    autojump_clock: MockClock,
) -> None:
    """The client's own per-endpoint bucket (10/s) keeps 11 creates under the venue's limit:
    every one reaches the venue and none is refused."""
    async with open_venue(BYBIT) as r:
        for i in range(11):
            await r.client.place_order(order_request(r, Side.BUY, BYBIT.order_qty, f"b{i}"))
        assert r.emulator.requests == 11
