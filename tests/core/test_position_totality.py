"""Totality: every (state, event kind) pair either follows the tables or refuses cleanly.

For each of the 7 × 12 pairs, Hypothesis draws events of that kind with plausible and
implausible fields (known and unknown client order ids, repeated and new trade ids, zero or
negative quantities, over-fills, reports about the wrong order, bad quotes) against positions
driven into that state. The machine must either raise a PositionError and leave the whole
snapshot unchanged, or make only transitions that are rows of TRANSITIONS or DERIVED.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_position_support import BUILDERS, D, Driver, quotes

from arbtrio.core import events
from arbtrio.core.events import Event
from arbtrio.core.position import (
    DERIVED,
    TERMINAL_STATES,
    TRANSITIONS,
    Condition,
    IllegalTransition,
    Position,
    PositionError,
    PositionState,
)
from arbtrio.core.types import Fill, OrderReport, OrderStatus, Side

EVENT_KINDS: list[type[Any]] = list(events.Event.__args__)  # type: ignore[attr-defined]
PAIRS = [(state, kind) for state in PositionState for kind in EVENT_KINDS]

QTYS = [D("-1"), D(0), D("0.01"), D("0.3"), D("0.5"), D("1"), D("1.2")]
PRICES = [D(0), D("1990"), D("2002"), D("2011")]
TS = st.one_of(st.floats(0, 1000, allow_nan=False), st.just(float("nan")))
QUOTES = st.sampled_from(
    [
        {},
        quotes("1999", "2001", "2010", "2011"),
        quotes("2100", "2101", "1900", "1901"),
        quotes("0", "2001", "2010", "2011"),  # invalid: bid 0
    ]
)


def _events(kind: type[Any], position: Position) -> st.SearchStrategy[Event]:
    orders = position.orders()
    coids = st.sampled_from([o.client_order_id for o in orders] + ["not-an-order"])
    trade_ids = st.sampled_from([f.trade_id for f in position.fills()] + ["n1", "n2"])
    qty, price = st.sampled_from(QTYS), st.sampled_from(PRICES)
    fee = st.sampled_from([D(0), D("0.9"), D("-0.1")])
    if kind is events.Open:
        return st.builds(events.Open, ts=TS)
    if kind is events.LegAcked:
        return st.builds(
            events.LegAcked, client_order_id=coids, venue_order_id=st.sampled_from(["", "1"]), ts=TS
        )
    if kind is events.LegFilled:
        return st.builds(
            events.LegFilled,
            client_order_id=coids,
            trade_id=trade_ids,
            qty=qty,
            price=price,
            fee=fee,
            ts=TS,
        )
    if kind is events.LegRejected:
        return st.builds(events.LegRejected, client_order_id=coids, reason=st.just("r"), ts=TS)
    if kind is events.LegExpired:
        return st.builds(events.LegExpired, client_order_id=coids, filled_qty=qty, ts=TS)
    if kind is events.LegOutcomeUnknown:
        return st.builds(
            events.LegOutcomeUnknown, client_order_id=coids, reason=st.just("t"), ts=TS
        )
    if kind is events.OutcomeResolved:
        return coids.flatmap(lambda coid: _resolved(coid, position, trade_ids, qty, price, fee))
    if kind is events.Tick:
        return st.builds(events.Tick, ts=TS, quotes=QUOTES)
    if kind is events.ExitSignal:
        return st.builds(events.ExitSignal, reason=st.just("converged"), ts=TS, quotes=QUOTES)
    if kind is events.OperatorFlatten:
        return st.builds(events.OperatorFlatten, ts=TS, quotes=QUOTES)
    if kind is events.Kill:
        return st.builds(events.Kill, ts=TS, quotes=QUOTES)
    if kind is events.FundingPaid:
        return st.builds(
            events.FundingPaid,
            leg=st.sampled_from(["long", "short"]),
            amount=st.sampled_from([D("0.5"), D("-0.25"), Decimal("NaN")]),
            ts=TS,
        )
    raise AssertionError(f"no strategy for {kind}")


def _resolved(
    coid: str,
    position: Position,
    trade_ids: st.SearchStrategy[str],
    qty: st.SearchStrategy[Decimal],
    price: st.SearchStrategy[Decimal],
    fee: st.SearchStrategy[Decimal],
) -> st.SearchStrategy[Event]:
    venue = next((o.venue for o in position.orders() if o.client_order_id == coid), "bybit")
    side = next((o.side for o in position.orders() if o.client_order_id == coid), Side.BUY)
    fill = st.builds(
        Fill,
        venue=st.sampled_from([venue, "gateio"]),
        client_order_id=st.sampled_from([coid, "other"]),
        trade_id=trade_ids,
        side=st.sampled_from([side, side.opposite]),
        qty=qty,
        price=price,
        fee=fee,
        ts=st.just(1.0),
    )
    report = st.builds(
        OrderReport,
        venue=st.sampled_from([venue, venue, "gateio"]),
        client_order_id=st.sampled_from([coid, coid, "other"]),
        status=st.sampled_from(list(OrderStatus)),
        filled_qty=qty,
        avg_price=st.none(),
        fills=st.lists(fill, max_size=2).map(tuple),
    )
    return st.builds(
        events.OutcomeResolved,
        client_order_id=st.just(coid),
        report=st.one_of(st.none(), report),
        ts=TS,
    )


def _is_row(t: Any) -> bool:
    kind = getattr(events, t.event)
    if TRANSITIONS.get((t.from_state, kind)) is t.to_state:
        return True
    try:
        condition = Condition(t.reason)
    except ValueError:
        return False
    return DERIVED.get((t.from_state, condition)) is t.to_state


def _check_invariants(position: Position) -> None:
    for leg in ("long", "short"):
        assert position.held(leg) >= 0
        assert len([o for o in position.live_orders() if o.leg == leg]) <= 1
    for order in position.orders():
        assert order.filled <= order.qty
    keys = [(f.venue, f.trade_id) for f in position.fills()]
    assert len(keys) == len(set(keys))


@settings(max_examples=max(10, settings.default.max_examples // 4), deadline=None)
@given(data=st.data())
@pytest.mark.parametrize(("state", "kind"), PAIRS, ids=[f"{s.name}-{k.__name__}" for s, k in PAIRS])
def test_every_state_event_pair_is_legal_or_refused_without_change(
    state: PositionState, kind: type[Any], data: st.DataObject
) -> None:
    driver: Driver = data.draw(st.sampled_from(BUILDERS[state]))()
    position = driver.position
    assert position.state is state
    event = data.draw(_events(kind, position))
    before = position.snapshot()
    history_len = len(position.history)
    try:
        position.handle(event)
    except PositionError as exc:
        assert position.state is state
        assert position.snapshot() == before
        if isinstance(exc, IllegalTransition):
            assert (state, kind) not in TRANSITIONS
        return
    # Accepted: either a legal row, or a repeated fill ignored without any change.
    if (state, kind) not in TRANSITIONS:
        assert kind is events.LegFilled and position.snapshot() == before
    assert all(_is_row(t) for t in position.history[history_len:]), position.history
    if state in TERMINAL_STATES:
        assert position.state is state
    _check_invariants(position)


def test_every_pair_is_exercised() -> None:
    assert len(PAIRS) == len(PositionState) * 12
    assert set(BUILDERS) == set(PositionState)
