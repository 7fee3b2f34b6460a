"""Shared builders for the position-machine tests (no tests here).

Two venues with different price rules: Hyperliquid (5 significant figures, USDC) for the long
leg and Bybit (0.01 tick, USDT) for the short leg, both with a 0.01 ETH lot so that a full
match is exact. ``Driver`` wraps a :class:`Position`, journals every event it feeds (for the
replay checks) and collects the commands.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from decimal import Decimal

from arbtrio.core.events import (
    Alert,
    Command,
    Event,
    LegExpired,
    LegFilled,
    LegRejected,
    Open,
    PlaceOrder,
    QueryOrder,
    Quote,
)
from arbtrio.core.instruments import Instrument
from arbtrio.core.position import ExecutionPolicy, Position, PositionSpec, PositionState

D = Decimal

HL = Instrument(
    venue="hyperliquid",
    symbol="ETH",
    asset="ETH",
    quote="USDC",
    tick_size=D("0.01"),
    lot_size=D("0.01"),
    min_size=D("0.01"),
    min_notional=D(10),
    taker_fee=D("0.00045"),
    maker_fee=D("0.00015"),
    funding_interval_hours=1,
    sig_figs=5,
    max_price_decimals=2,
)
BYBIT = Instrument(
    venue="bybit",
    symbol="ETHUSDT",
    asset="ETH",
    quote="USDT",
    tick_size=D("0.01"),
    lot_size=D("0.01"),
    min_size=D("0.01"),
    min_notional=D(5),
    taker_fee=D("0.00055"),
    maker_fee=D("0.0002"),
    funding_interval_hours=8,
)
POLICY = ExecutionPolicy(
    entry_slippage_bps=D(10),
    chase_attempts=2,
    chase_ttl_s=5.0,
    chase_extra_slippage_bps=D(20),
    reverse_attempts=2,
    reverse_slippage_bps=D(20),
    close_slippage_bps=D(10),
    close_slippage_step_bps=D(25),
    close_attempts=3,
    query_after_s=2.0,
)
LONG_PRICE = D("2000.00")
SHORT_PRICE = D("2012.50")


ONE = D("1")


def make_spec(
    qty: Decimal = ONE,
    *,
    position_id: str = "pos-1",
    long: Instrument = HL,
    short: Instrument = BYBIT,
    policy: ExecutionPolicy = POLICY,
    edge_bps: Decimal | None = None,
) -> PositionSpec:
    return PositionSpec(
        position_id=position_id,
        asset="ETH",
        long=long,
        short=short,
        qty=qty,
        long_price=LONG_PRICE,
        short_price=SHORT_PRICE,
        policy=policy,
        created_ts=0.0,
        edge_bps=edge_bps,
    )


def places(cmds: Iterable[Command]) -> list[PlaceOrder]:
    return [c for c in cmds if isinstance(c, PlaceOrder)]


def queries(cmds: Iterable[Command]) -> list[QueryOrder]:
    return [c for c in cmds if isinstance(c, QueryOrder)]


def alerts(cmds: Iterable[Command], level: str | None = None) -> list[Alert]:
    return [c for c in cmds if isinstance(c, Alert) and (level is None or c.level == level)]


class Driver:
    """A position plus the journal of events fed to it and every command it returned."""

    def __init__(self, spec: PositionSpec | None = None) -> None:
        self.spec = spec if spec is not None else make_spec()
        self.position = Position(self.spec)
        self.journal: list[Event] = []
        self.commands: list[Command] = []
        self._trade_ids = itertools.count(1)
        self.ts = 1.0

    @property
    def state(self) -> PositionState:
        return self.position.state

    def feed(self, event: Event) -> list[Command]:
        self.journal.append(event)
        cmds = self.position.handle(event)
        self.commands.extend(cmds)
        return cmds

    def now(self, dt: float = 0.01) -> float:
        self.ts += dt
        return self.ts

    def open(self) -> tuple[PlaceOrder, PlaceOrder]:
        cmds = places(self.feed(Open(ts=self.now())))
        assert [c.leg for c in cmds] == ["long", "short"]
        return cmds[0], cmds[1]

    def fill(
        self,
        order: PlaceOrder | str,
        qty: Decimal | str,
        price: Decimal | str | None = None,
        *,
        fee: Decimal | str | None = None,
        trade_id: str | None = None,
    ) -> list[Command]:
        coid, limit = _coid_price(order)
        px = D(price) if price is not None else limit
        assert px is not None
        q = D(qty)
        return self.feed(
            LegFilled(
                client_order_id=coid,
                trade_id=trade_id or f"T{next(self._trade_ids)}",
                qty=q,
                price=px,
                fee=D(fee) if fee is not None else (q * px * D("0.0005")),
                ts=self.now(),
            )
        )

    def expire(self, order: PlaceOrder | str, filled: Decimal | str) -> list[Command]:
        coid, _ = _coid_price(order)
        return self.feed(LegExpired(client_order_id=coid, filled_qty=D(filled), ts=self.now()))

    def reject(self, order: PlaceOrder | str, reason: str = "no") -> list[Command]:
        coid, _ = _coid_price(order)
        return self.feed(LegRejected(client_order_id=coid, reason=reason, ts=self.now()))

    def fill_all(self, order: PlaceOrder) -> list[Command]:
        return self.fill(order, order.request.qty)


def _coid_price(order: PlaceOrder | str) -> tuple[str, Decimal | None]:
    if isinstance(order, PlaceOrder):
        return order.request.client_order_id, order.request.price
    return order, None


def quotes(long_bid: str, long_ask: str, short_bid: str, short_ask: str) -> dict[str, Quote]:
    return {
        HL.venue: Quote(bid=D(long_bid), ask=D(long_ask)),
        BYBIT.venue: Quote(bid=D(short_bid), ask=D(short_ask)),
    }


# -- drivers that reach each state ---------------------------------------------------------
def hedged(driver: Driver | None = None) -> Driver:
    d = driver or Driver()
    long, short = d.open()
    d.fill_all(long)
    d.fill_all(short)
    assert d.state is PositionState.HEDGED
    return d


def unwinding() -> Driver:
    d = Driver()
    long, short = d.open()
    d.fill_all(long)
    d.reject(short)
    assert d.state is PositionState.UNWINDING
    return d


def closing() -> Driver:
    from arbtrio.core.events import ExitSignal

    d = hedged()
    d.feed(ExitSignal(reason="converged", ts=d.now()))
    assert d.state is PositionState.CLOSING
    return d


def settled() -> Driver:
    d = Driver()
    long, short = d.open()
    d.reject(long)
    d.reject(short)
    assert d.state is PositionState.SETTLED
    return d


def settled_after_close() -> Driver:
    d = closing()
    for cmd in places(d.commands)[-2:]:
        d.fill_all(cmd)
    assert d.state is PositionState.SETTLED
    return d


def faulted() -> Driver:
    d = Driver()
    long, _short = d.open()
    d.fill(long, "1.5")  # more than the order's 1 ETH: impossible
    assert d.state is PositionState.FAULTED
    return d


def opening() -> Driver:
    d = Driver()
    d.open()
    return d


BUILDERS = {
    PositionState.IDLE: [Driver],
    PositionState.OPENING: [opening],
    PositionState.HEDGED: [hedged],
    PositionState.UNWINDING: [unwinding],
    PositionState.CLOSING: [closing],
    PositionState.SETTLED: [settled, settled_after_close],
    PositionState.FAULTED: [faulted],
}
