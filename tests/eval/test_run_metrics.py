"""The run metrics (arbtrio/runtime/metrics.py) on constructed scenarios, and the opportunity
counters (taken never exceeds seen)."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbtrio.core.events import (
    Command,
    Event,
    ExitSignal,
    FundingPaid,
    LegFilled,
    Open,
    OperatorFlatten,
    PlaceOrder,
    Quote,
)
from arbtrio.core.instruments import Instrument
from arbtrio.core.position import ExecutionPolicy, Position, PositionSpec, PositionState
from arbtrio.core.strategy import Episodes
from arbtrio.runtime.actor import Handled
from arbtrio.runtime.metrics import RunMetrics, exit_reason

D = Decimal
S = PositionState
RATES = {"USDT": D(1)}


def inst(venue: str) -> Instrument:
    return Instrument(
        venue=venue, symbol="ETHUSDT", asset="ETH", quote="USDT", tick_size=D("0.01"),
        lot_size=D("0.01"), min_size=D("0.01"), min_notional=D(5), taker_fee=D("0.0005"),
        maker_fee=D(0), funding_interval_hours=8,
    )  # fmt: skip


LONG, SHORT = inst("bybit"), inst("bitget")


def spec(pid: str = "p-1", qty: str = "1") -> PositionSpec:
    return PositionSpec(
        position_id=pid, asset="ETH", long=LONG, short=SHORT, qty=D(qty),
        long_price=D("2000"), short_price=D("2012.5"), policy=ExecutionPolicy(),
        created_ts=10.0,
    )  # fmt: skip


class Feed:
    """A position fed by hand, every handled event reported to the metrics."""

    def __init__(self, metrics: RunMetrics, position_spec: PositionSpec) -> None:
        self.metrics = metrics
        self.position = Position(position_spec)
        self.actor: Any = SimpleNamespace(position=self.position)
        self.trades = 0

    def __call__(self, event: Event) -> list[Command]:
        before = self.position.state
        commands = self.position.handle(event)
        self.metrics.on_handled(Handled(self.actor, before, self.position.state, event, commands))
        return commands

    def fill(self, order: PlaceOrder, price: str, ts: float, qty: str | None = None) -> None:
        self.trades += 1
        request = order.request
        q = D(qty) if qty is not None else request.qty
        self(LegFilled(client_order_id=request.client_order_id, trade_id=f"t{self.trades}",
                       qty=q, price=D(price), fee=q * D(price) * D("0.0005"), ts=ts))  # fmt: skip


def places(commands: list[Command]) -> dict[str, PlaceOrder]:
    return {c.leg: c for c in commands if isinstance(c, PlaceOrder)}


QUOTES = {
    "bybit": Quote(bid=D("2005"), ask=D("2006")),
    "bitget": Quote(bid=D("2004"), ask=D("2005")),
}


def round_trip(metrics: RunMetrics, *, reason: str = "converged", pid: str = "p-1") -> Feed:
    feed = Feed(metrics, spec(pid))
    entries = places(feed(Open(ts=10.0)))
    feed.fill(entries["long"], "2001", ts=10.0)  # 1 ETH long, unhedged until the short fills
    feed.fill(entries["short"], "2012.5", ts=12.5)
    assert feed.position.state is S.HEDGED
    event: Event = (
        OperatorFlatten(ts=20.0, quotes=QUOTES)
        if reason == "operator"
        else ExitSignal(reason=reason, ts=20.0, quotes=QUOTES)
    )
    closes = places(feed(event))
    feed.fill(closes["long"], "2004", ts=20.1)  # sells 1 below the bid of 2005
    feed.fill(closes["short"], "2005", ts=20.6)  # buys at the ask, 0.5 s later
    assert feed.position.state is S.SETTLED
    return feed


def test_a_naked_leg_for_a_known_time_gives_exact_notional_seconds() -> None:
    metrics = RunMetrics(RATES)
    round_trip(metrics)
    naked = metrics.naked
    # 1 ETH long marked at its fill price 2001 for 2.5 s, then hedged; at the close 1 ETH
    # short (the long sold at 2004 first) for 0.5 s, then flat.
    assert naked.max_notional == pytest.approx(2004.0)
    assert naked.notional_seconds == pytest.approx(2001.0 * 2.5 + 2004.0 * 0.5)
    assert naked.longest_s == pytest.approx(2.5)
    assert naked.current == 0.0 and naked.stretches == 2
    metrics.finish(100.0)
    assert naked.notional_seconds == pytest.approx(2001.0 * 2.5 + 2004.0 * 0.5)


def test_naked_exposure_nets_across_positions_and_integrates_to_the_end() -> None:
    metrics = RunMetrics(RATES)
    a, b = Feed(metrics, spec("a")), Feed(metrics, spec("b"))
    ea, eb = places(a(Open(ts=0.0))), places(b(Open(ts=0.0)))
    a.fill(ea["long"], "2000", ts=1.0)  # +1 ETH
    b.fill(eb["short"], "2000", ts=3.0)  # −1 ETH from the other position: net flat
    assert metrics.naked.notional_seconds == pytest.approx(2000.0 * 2.0)
    a.fill(ea["short"], "2010", ts=4.0)  # a hedged, b naked short: 1 ETH at 2010
    metrics.finish(10.0)  # still naked at the end of the run: counted up to it
    assert metrics.naked.notional_seconds == pytest.approx(2000.0 * 2 + 2010.0 * 6)
    assert metrics.naked.longest_s == pytest.approx(6.0)
    assert metrics.naked.stretches == 2


def test_slippage_of_known_fills_against_the_detection_and_the_exit_quotes() -> None:
    metrics = RunMetrics(RATES)
    round_trip(metrics)
    # Entry: bought at 2001 against the detected VWAP ask 2000 (+5 bps, adverse); sold at the
    # detected VWAP bid 2012.5 (0). Exit: sold at 2004 against the bid 2005 the exit signal
    # saw (adverse), bought back at its ask 2005 (0).
    assert metrics.entry_slippage[("p-1", "long")] == pytest.approx(5.0)
    assert metrics.entry_slippage[("p-1", "short")] == pytest.approx(0.0)
    assert metrics.exit_slippage[("p-1", "long")] == pytest.approx((1 - 2004 / 2005) * 1e4)
    assert metrics.exit_slippage[("p-1", "short")] == pytest.approx(0.0)


def test_exits_by_reason_add_up_to_the_realised_pnl() -> None:
    metrics = RunMetrics(RATES)
    first = round_trip(metrics, reason="converged", pid="p-1")
    round_trip(metrics, reason="stop", pid="p-2")
    third = round_trip(metrics, reason="operator", pid="p-3")
    pnl = first.position.realized_pnl(RATES)
    assert {k: (v.count, v.pnl) for k, v in metrics.exits.items()} == {
        "converged": (1, pnl), "stop": (1, pnl), "operator": (1, pnl),
    }  # fmt: skip
    assert metrics.realized == 3 * pnl
    assert [v for _, v in metrics.equity] == [pnl, 2 * pnl, 3 * pnl]
    # Funding booked after settling moves the reason's PnL and the equity curve with it.
    third(FundingPaid(leg="long", amount=D("-0.25"), ts=30.0))
    assert metrics.exits["operator"].pnl == pnl - D("0.25")
    assert metrics.funding_booked == D("0.25")
    assert metrics.equity[-1] == (30.0, 3 * pnl - D("0.25"))
    assert exit_reason(third.position) == "operator"


def test_a_position_whose_entries_fill_nothing_ends_unfilled() -> None:
    from arbtrio.core.events import LegExpired

    metrics = RunMetrics(RATES)
    feed = Feed(metrics, spec())
    entries = places(feed(Open(ts=1.0)))
    for leg in ("long", "short"):
        feed(LegExpired(client_order_id=entries[leg].request.client_order_id,
                        filled_qty=D(0), ts=1.5))  # fmt: skip
    assert feed.position.state is S.SETTLED
    assert {k: v.count for k, v in metrics.exits.items()} == {"unfilled": 1}
    assert metrics.naked.max_notional == 0.0


@given(
    st.lists(
        st.tuples(
            st.floats(0.0, 30.0),  # time step
            st.lists(st.tuples(st.sampled_from("ab"), st.sampled_from("xyz")), max_size=3),
            st.booleans(),  # take the first shown
        ),
        max_size=40,
    )
)
def test_taken_never_exceeds_seen(steps: list[tuple[float, list[tuple[str, str]], bool]]) -> None:
    episodes = Episodes()
    now = 0.0
    for dt, shown, take in steps:
        now += dt
        pairs = [
            SimpleNamespace(asset=asset, long=SimpleNamespace(venue=venue),
                            short=SimpleNamespace(venue="w"))
            for asset, venue in shown
        ]  # fmt: skip
        episodes.observe(pairs, now)
        if take and pairs:
            episodes.take(pairs[0])
            episodes.take(pairs[0])  # a second position on the same episode counts once
        unseen = SimpleNamespace(asset="q", long=SimpleNamespace(venue="x"),
                                 short=SimpleNamespace(venue="y"))  # fmt: skip
        assert not episodes.take(unseen)  # no episode, nothing taken
        assert episodes.taken <= episodes.seen
