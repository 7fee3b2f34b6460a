"""Issue #3's last test: the position machine, driven through the in-process simulated
venues with every fault enabled, never leaves a position with an unresolved imbalance.

A small event pump stands in for the runtime: commands are executed on the SimVenueClients
(place → ack / typed error, query → report / not found), order-stream events are routed by
client order id, ticks carry quotes from the clients' own (faulty) books. A FAULTED position
gets what an operator would give it — an OperatorFlatten, bounded. At the end every position
is SETTLED and flat, the venues' accounts are flat, and the fills and cash on the venues
reconcile exactly with what the positions recorded.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
import trio

from arbtrio.core import events as ev
from arbtrio.core.instruments import joint_size
from arbtrio.core.position import ExecutionPolicy, Position, PositionSpec, PositionState
from arbtrio.core.types import Fill, OrderAck, OrderEvent, OrderStatus, OrderUpdate
from arbtrio.sim.client import SimVenueClient
from arbtrio.sim.config import FaultRates, SimConfig
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.market import SimMarket
from arbtrio.venues.base import (
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueError,
)

# Batches of concurrent positions whose (venue, asset) slots never overlap: the venues keep
# one net position per symbol, so two live positions on one slot would net against each other.
BATCHES = [
    [("BTC", "hyperliquid", "bybit"), ("BTC", "bitget", "gateio"), ("ETH", "kucoin", "hyperliquid"),
     ("ETH", "bybit", "bitget")],
    [("BTC", "bybit", "kucoin"), ("BTC", "gateio", "hyperliquid"), ("ETH", "gateio", "kucoin"),
     ("ETH", "hyperliquid", "bitget")],
    [("BTC", "kucoin", "bitget"), ("ETH", "bitget", "gateio"), ("ETH", "hyperliquid", "bybit"),
     ("BTC", "hyperliquid", "gateio")],
]  # fmt: skip
HOLD_S = 3.0
TICK_S = 0.5
MAX_OPERATOR_FLATTENS = 5


def to_position_event(event: OrderEvent, now: float) -> ev.Event | None:
    """Venue order event → position event (the runtime router's mapping)."""
    cid = event.client_order_id
    if isinstance(event, OrderAck):
        return ev.LegAcked(client_order_id=cid, venue_order_id=event.venue_order_id, ts=now)
    if isinstance(event, Fill):
        return ev.LegFilled(
            client_order_id=cid, trade_id=event.trade_id, qty=event.qty, price=event.price,
            fee=event.fee, ts=now,
        )  # fmt: skip
    assert isinstance(event, OrderUpdate)
    if event.status in (OrderStatus.FILLED, OrderStatus.CANCELLED):
        return ev.LegExpired(client_order_id=cid, filled_qty=event.filled_qty, ts=now)
    if event.status is OrderStatus.REJECTED:
        return ev.LegRejected(client_order_id=cid, reason=event.reason, ts=now)
    return None


class Pump:
    """One owner for every Position: feeds events in, executes the commands that come out."""

    def __init__(self, market: SimMarket, clients: dict[str, SimVenueClient]) -> None:
        self.market = market
        self.clients = clients
        self.routes: dict[str, Position] = {}
        self.alerts: list[ev.Alert] = []
        self.flattens: dict[str, int] = {}
        self.outcomes: dict[str, int] = {}
        self.send, self.receive = trio.open_memory_channel[tuple[Position, ev.Event]](1000)
        self.nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            task_status.started()
            async for position, event in self.receive:
                self.handle(position, event)

    def handle(self, position: Position, event: ev.Event) -> None:
        assert self.nursery is not None
        for cmd in position.handle(event):
            if isinstance(cmd, ev.Alert):
                self.alerts.append(cmd)
                continue
            if isinstance(cmd, ev.PlaceOrder):
                self.routes[cmd.request.client_order_id] = position
            self.nursery.start_soon(self.execute, position, cmd)
        if position.state is PositionState.FAULTED:
            # The operator: reconcile (the venue is the truth here) and flatten again.
            n = self.flattens.get(position.spec.position_id, 0)
            if n < MAX_OPERATOR_FLATTENS:
                self.flattens[position.spec.position_id] = n + 1
                self.send.send_nowait(
                    (
                        position,
                        ev.OperatorFlatten(ts=trio.current_time(), quotes=self.quotes(position)),
                    )
                )

    async def execute(self, position: Position, cmd: ev.Command) -> None:
        now = trio.current_time
        if isinstance(cmd, ev.PlaceOrder):
            cid = cmd.request.client_order_id
            client = self.clients[cmd.request.venue]
            result: ev.Event
            try:
                ack = await client.place_order(cmd.request)
            except OrderRejected as exc:
                result = ev.LegRejected(client_order_id=cid, reason=exc.message, ts=now())
            except RateLimited as exc:  # nothing was done: to the machine, a refusal
                result = ev.LegRejected(client_order_id=cid, reason=exc.message, ts=now())
            except OutcomeUnknown as exc:
                result = ev.LegOutcomeUnknown(client_order_id=cid, reason=exc.message, ts=now())
            else:
                result = ev.LegAcked(
                    client_order_id=cid, venue_order_id=ack.venue_order_id, ts=now()
                )
            kind = type(result).__name__
            self.outcomes[kind] = self.outcomes.get(kind, 0) + 1
            await self.send.send((position, result))
        elif isinstance(cmd, ev.QueryOrder):
            client = self.clients[cmd.venue]
            try:
                report = await client.query_order(cmd.symbol, cmd.client_order_id)
            except OrderNotFound:
                report = None
            await self.send.send(
                (
                    position,
                    ev.OutcomeResolved(
                        client_order_id=cmd.client_order_id, report=report, ts=now()
                    ),
                )
            )
        elif isinstance(cmd, ev.CancelOrder):
            with contextlib.suppress(VenueError):
                await self.clients[cmd.venue].cancel_order(cmd.symbol, cmd.client_order_id)

    async def route_stream(self, receive: trio.MemoryReceiveChannel[OrderEvent]) -> None:
        async for event in receive:
            position = self.routes.get(event.client_order_id)
            assert position is not None, f"an order event nobody sent: {event}"
            pev = to_position_event(event, trio.current_time())
            if pev is not None:
                await self.send.send((position, pev))

    def quotes(self, position: Position) -> dict[str, ev.Quote]:
        quotes = {}
        for inst in (position.spec.long, position.spec.short):
            book = self.clients[inst.venue].books.get(inst.symbol)
            if book is not None and book.tradable and book.best_bid() and book.best_ask():
                bid, ask = book.best_bid(), book.best_ask()
                assert bid is not None and ask is not None
                quotes[inst.venue] = ev.Quote(bid=Decimal(repr(bid[0])), ask=Decimal(repr(ask[0])))
        return quotes


def open_spec(
    market: SimMarket, pid: str, asset: str, long_v: str, short_v: str, now: float
) -> PositionSpec:
    long_i = market.instrument(long_v, market.symbol_for(long_v, asset))
    short_i = market.instrument(short_v, market.symbol_for(short_v, asset))
    ask = market.book_levels(long_v, long_i.symbol, 1)[1][0][0]
    bid = market.book_levels(short_v, short_i.symbol, 1)[0][0][0]
    qty = joint_size(long_i, short_i, Decimal(3000) / ask, ask, bid)
    assert qty is not None
    return PositionSpec(
        position_id=pid, asset=asset, long=long_i, short=short_i, qty=qty, long_price=ask,
        short_price=bid, policy=ExecutionPolicy(query_after_s=1.0), created_ts=now,
    )  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_every_fault_no_position_left_imbalanced(autojump_clock, seed):
    config = SimConfig(seed=seed, faults=FaultRates.every(0.12, feed=0.005), ack_timeout_s=1.5)
    market = SimMarket(config)
    driver = MarketDriver(market)
    clients = {v: SimVenueClient(market, driver, v) for v in market.venues}
    pump = Pump(market, clients)
    positions: list[Position] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.run)
        await nursery.start(pump.run)
        for venue, client in clients.items():
            symbols = [market.symbol_for(venue, a) for a in market.assets]
            await nursery.start(client.run_books, symbols, lambda book: None)
            send, receive = trio.open_memory_channel[OrderEvent](0)
            await nursery.start(client.run_order_stream, send)
            nursery.start_soon(pump.route_stream, receive)
        await trio.sleep(2)

        for b, batch in enumerate(BATCHES):
            batch_positions = []
            for i, (asset, long_v, short_v) in enumerate(batch):
                spec = open_spec(
                    market, f"s{seed}-b{b}-p{i}", asset, long_v, short_v, trio.current_time()
                )
                position = Position(spec)
                batch_positions.append(position)
                await pump.send.send((position, ev.Open(ts=trio.current_time())))
            positions.extend(batch_positions)
            hedged_since: dict[str, float] = {}
            with trio.fail_after(600):
                while any(p.state is not PositionState.SETTLED for p in batch_positions):
                    await trio.sleep(TICK_S)
                    now = trio.current_time()
                    for p in batch_positions:
                        if p.state is PositionState.SETTLED:
                            continue
                        await pump.send.send((p, ev.Tick(ts=now, quotes=pump.quotes(p))))
                        if p.state is PositionState.HEDGED:
                            since = hedged_since.setdefault(p.spec.position_id, now)
                            if now - since >= HOLD_S:
                                await pump.send.send(
                                    (
                                        p,
                                        ev.ExitSignal(
                                            reason="converged", ts=now, quotes=pump.quotes(p)
                                        ),
                                    )
                                )
            # Late stream events (duplicates, acks after the fact) still drain harmlessly.
            await trio.sleep(3)
            for venue in market.venues:
                for asset in market.assets:
                    assert market.position(venue, market.symbol_for(venue, asset)) == 0, (b, venue)
        nursery.cancel_scope.cancel()

    assert not [a for a in pump.alerts if "impossible" in a.message], pump.alerts
    for p in positions:
        assert p.state is PositionState.SETTLED, p.snapshot()
        assert p.net_exposure() == 0 and p.held("long") == 0 and p.held("short") == 0
        assert p.live_orders() == []
    # Fills: what the positions recorded is exactly what the venues executed, once each.
    recorded = {(f.venue, f.trade_id): f for p in positions for f in p.fills()}
    executed = {(f.venue, f.trade_id): f for v in market.venues for f in market.account(v).fills}
    assert recorded.keys() == executed.keys()
    for key, fill in executed.items():
        assert (recorded[key].qty, recorded[key].price, recorded[key].fee) == (
            fill.qty,
            fill.price,
            fill.fee,
        )
    # Cash: each venue's balance moved by exactly the positions' cash flows and fees there.
    for venue in market.venues:
        flows = sum(
            (-f.side.sign * f.qty * f.price - f.fee for f in recorded.values() if f.venue == venue),
            Decimal(0),
        )
        assert market.account(venue).funding == 0  # the run is shorter than a funding interval
        assert market.balances(venue)[0].total == config.starting_balance + flows
    # Every fault kind was actually exercised.
    assert pump.outcomes.get("LegOutcomeUnknown", 0) > 0 and pump.outcomes.get("LegRejected", 0) > 0
    assert sum(c.health.resyncs + c.health.reconnects for c in clients.values()) > 0
    assert any(p.state is PositionState.SETTLED and len(p.orders()) > 4 for p in positions)
