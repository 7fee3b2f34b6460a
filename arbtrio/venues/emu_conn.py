"""Pieces shared by the Gate.io and KuCoin emulators (server side, loopback only).

* :class:`EmuConnection` — one accepted WebSocket with a bounded outbox drained by one
  writer task, so the market publisher never blocks on a slow client: a full outbox closes
  the connection, as real venues drop slow consumers.
* :class:`FaultSwitch` — draws ``market.fault(venue, kind)`` and lets a test force the next
  ``n`` occurrences of a kind deterministically.
* :class:`PublishedLadder` — the book as last published to the wire (Decimal ladders in
  base units) and the changes to the market's current ladder.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import trio

from arbtrio.sim.market import SimMarket
from arbtrio.venues.emulator import AsgiWebSocket
from arbtrio.venues.ladder_diff import diff_ladder

__all__ = ["EmuConnection", "FaultSwitch", "PublishedLadder", "run_connection"]

Ladder = list[tuple[Decimal, Decimal]]
_ZERO = Decimal(0)


class EmuConnection:
    """Server side of one WebSocket: ``offer`` queues a frame, ``kill`` drops the client."""

    def __init__(self, ws: AsgiWebSocket, outbox_size: int = 2000) -> None:
        self.ws = ws
        self._send, self._recv = trio.open_memory_channel[str](outbox_size)
        self._scope: trio.CancelScope | None = None
        self.closed = False
        self.state: dict[str, Any] = {}  # per-venue session data (subscriptions, token, ...)
        self.drop_next_book = False  # sequence_gap fault: swallow the next book frame
        self.mute_until = 0.0  # stale_feed fault: send no book frames until then

    def offer(self, text: str) -> None:
        """Queue ``text`` without blocking; a full outbox kills the connection."""
        if self.closed:
            return
        try:
            self._send.send_nowait(text)
        except trio.WouldBlock:
            self.kill()

    def kill(self) -> None:
        """Close the connection abruptly (from any task)."""
        self.closed = True
        if self._scope is not None:
            self._scope.cancel()

    async def _writer(self) -> None:
        async for text in self._recv:
            await self.ws.send_text(text)


async def run_connection(
    conn: EmuConnection, reader: Callable[[EmuConnection], Awaitable[None]]
) -> None:
    """Run ``reader(conn)`` (handles client frames until the client leaves) alongside the
    writer; close the socket when either ends or :meth:`EmuConnection.kill` is called."""
    try:
        async with trio.open_nursery() as nursery:
            conn._scope = nursery.cancel_scope
            if conn.closed:
                nursery.cancel_scope.cancel()
            nursery.start_soon(conn._writer)
            await reader(conn)
            nursery.cancel_scope.cancel()
    finally:
        conn.closed = True
        with trio.move_on_after(1.0, shield=True), contextlib.suppress(Exception):
            await conn.ws.close(1000)


class FaultSwitch:
    """Fault draws for one venue: the market's deterministic draw, or a forced one."""

    def __init__(self, market: SimMarket, venue: str) -> None:
        self.market = market
        self.venue = venue
        self.forced: Counter[str] = Counter()
        self.fired: Counter[str] = Counter()

    def force(self, kind: str, times: int = 1) -> None:
        """Make the next ``times`` draws of ``kind`` fire (tests)."""
        self.forced[kind] += times

    def __call__(self, kind: str) -> bool:
        drawn = self.market.fault(self.venue, kind)
        if self.forced[kind] > 0:
            self.forced[kind] -= 1
            drawn = True
        if drawn:
            self.fired[kind] += 1
        return drawn


class PublishedLadder:
    """One symbol's book as the emulator last published it, and its update id."""

    __slots__ = ("asks", "bids", "id", "version")

    def __init__(self, first_id: int) -> None:
        self.id = first_id
        self.version = -1
        self.bids: Ladder = []
        self.asks: Ladder = []

    def refresh(
        self, market: SimMarket, venue: str, symbol: str, depth: int
    ) -> tuple[Ladder, Ladder] | None:
        """Catch up with the market: ``(bid_changes, ask_changes)`` (absolute sizes, 0 =
        removed, removals first), or None when nothing changed. The caller assigns ids."""
        version = market.book_version(venue, symbol)
        if version == self.version:
            return None
        self.version = version
        bids, asks = market.book_levels(venue, symbol, depth)
        db = diff_ladder(self.bids, bids, _ZERO)
        da = diff_ladder(self.asks, asks, _ZERO)
        self.bids, self.asks = bids, asks
        if not db and not da:
            return None
        return (db, da)
