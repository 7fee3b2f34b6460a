"""Paper trading: live public market data, simulated execution against the live books.

:class:`PaperVenueClient` wraps a real venue client created without credentials. Instruments
and books come from the real venue; orders never leave the process: each limit-IOC order is
matched against the *current* live book of its symbol (the levels the feed task maintains)
by the simulator's exact :class:`~arbtrio.sim.execution.Account` (taker fee, lot and tick
checks, reduce-only clipping), after a configurable latency, and its ack, fills and final
status are published on the order stream exactly as a venue would.

The paper account lives in memory: after a restart the journal's positions will not match it,
reconciliation reports the mismatch and opening stays blocked until ``arbtrio admin
override`` (or the positions are flattened).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from decimal import Decimal

import trio

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.core.types import (
    Balance,
    FundingRate,
    OrderAck,
    OrderEvent,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Side,
    VenuePosition,
)
from arbtrio.sim.execution import Account
from arbtrio.venues.base import (
    BadRequest,
    BookCallback,
    MarginMode,
    OrderNotFound,
    OrderRejected,
    VenueClient,
    VenueHealth,
)


class PaperVenueClient:
    """A :class:`VenueClient` whose order calls are simulated on the wrapped client's books."""

    def __init__(
        self,
        public: VenueClient,
        *,
        starting_balance: Decimal = Decimal(100_000),
        latency_s: float = 0.02,
        depth: int = 50,
    ) -> None:
        self.public = public
        self.name = public.name
        self.latency_s = latency_s
        self.depth = depth
        self._instruments: dict[str, Instrument] = {}
        self._account: Account | None = None
        self._starting = starting_balance
        self._events: deque[OrderEvent] = deque()
        self._ready = trio.Event()
        self.pushed_balances: dict[str, Balance] = {}  # a paper account pushes nothing
        self.pushed_positions: dict[str, VenuePosition] = {}
        self.configured: dict[str, tuple[int, str]] = {}  # symbol -> (leverage, margin mode)

    @property
    def health(self) -> VenueHealth:
        return self.public.health

    @property
    def books(self) -> dict[str, L2Book]:
        return self.public.books

    async def load_instruments(self) -> list[Instrument]:
        instruments = await self.public.load_instruments()
        self._instruments = {i.symbol: i for i in instruments}
        if self._account is None and instruments:
            self._account = Account(self.name, instruments[0].quote, self._starting)
        return instruments

    async def run_books(
        self,
        symbols: Sequence[str],
        on_update: BookCallback,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await self.public.run_books(symbols, on_update, task_status=task_status)

    async def run_order_stream(
        self,
        send: trio.MemorySendChannel[OrderEvent],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        task_status.started()
        async with send:
            while True:
                while not self._events:
                    self._ready = trio.Event()
                    await self._ready.wait()
                await send.send(self._events[0])
                self._events.popleft()

    def _account_or_raise(self) -> Account:
        if self._account is None:
            raise BadRequest(self.name, "paper account not ready: instruments not loaded")
        return self._account

    async def place_order(self, request: OrderRequest) -> OrderAck:
        account = self._account_or_raise()
        inst = self._instruments.get(request.symbol)
        if inst is None:
            raise BadRequest(self.name, f"unknown symbol {request.symbol!r}")
        await trio.sleep(self.latency_s / 2)
        now = trio.current_time()
        book = self.public.books.get(request.symbol)
        levels: list[tuple[Decimal, Decimal]] = []
        if book is not None and book.tradable:
            levels = [
                (Decimal(repr(p)), Decimal(repr(s)))
                for p, s in book.levels(_taken_side(request.side), self.depth)
            ]
        execution = account.execute(
            inst,
            levels,
            side=request.side,
            qty=request.qty,
            price=request.price,
            reduce_only=request.reduce_only,
            client_order_id=request.client_order_id,
            now=now,
        )
        if execution.status is OrderStatus.REJECTED:
            await trio.sleep(self.latency_s / 2)
            raise OrderRejected(self.name, execution.reason)
        self._events.append(
            OrderAck(
                venue=self.name,
                client_order_id=request.client_order_id,
                venue_order_id=execution.venue_order_id,
                ts=now,
            )
        )
        self._events.extend(execution.fills)
        self._events.append(
            OrderUpdate(
                venue=self.name,
                client_order_id=request.client_order_id,
                status=execution.status,
                filled_qty=execution.filled_qty,
                avg_price=execution.avg_price,
                ts=now,
                reason=execution.reason,
            )
        )
        self._ready.set()
        await trio.sleep(self.latency_s / 2)
        return OrderAck(
            venue=self.name,
            client_order_id=request.client_order_id,
            venue_order_id=execution.venue_order_id,
            ts=now,
        )

    async def cancel_order(self, symbol: str, client_order_id: str) -> None:
        account = self._account_or_raise()
        if account.order_symbol(client_order_id) != symbol:
            raise OrderNotFound(self.name, f"no order {client_order_id!r} on {symbol}")

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        account = self._account_or_raise()
        report = account.order(client_order_id)
        if report is None or account.order_symbol(client_order_id) != symbol:
            raise OrderNotFound(self.name, f"no order {client_order_id!r} on {symbol}")
        return report

    async def configure_instrument(
        self, symbol: str, *, leverage: int, margin_mode: MarginMode
    ) -> None:
        """Kept for the paper account (the real venue's settings are never touched)."""
        if leverage < 1:
            raise BadRequest(self.name, f"{symbol}: leverage must be >= 1, got {leverage}")
        self.configured[symbol] = (leverage, margin_mode)

    async def fetch_balances(self) -> list[Balance]:
        return self._account_or_raise().balances()

    async def fetch_positions(self) -> list[VenuePosition]:
        return self._account_or_raise().positions()

    async def fetch_funding(self, symbols: Sequence[str]) -> list[FundingRate]:
        return await self.public.fetch_funding(symbols)

    async def aclose(self) -> None:
        await self.public.aclose()


def _taken_side(side: Side) -> Side:
    """The book side a taker order consumes, as ``L2Book.levels`` names it.

    ``L2Book.levels(Side.BUY)`` returns bids and ``levels(Side.SELL)`` asks: a buy order takes
    asks (``Side.SELL``), a sell order takes bids (``Side.BUY``).
    """
    return side.opposite
