"""Totality of the order table: every (OrderState, OrderEventKind) cell has an outcome, and the
order machine's step does what its cell says.

For each of the 7 × 15 cells, Hypothesis draws an order in that state (with fills, final fill
and venue order id as the table allows them) and news of that kind, steps it through the pure
order machine (``steps.step_fill`` or ``steps.step_order``) and checks the step against the
cell: the next status, a repeat that leaves the order as it was, or an impossible report that
leaves it as it was and says why; a guard resolves to one of those. Closed orders never reopen
(but a LOST one, which any news of a late execution revives) and every order the machine
produces keeps the invariants of ``OrderState``. The few cells no
order can reach are listed, and hold a harmless outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_position_support import POLICY, D

from arbtrio.core.events import (
    LegAcked,
    LegExpired,
    LegOutcomeUnknown,
    LegRejected,
    OutcomeResolved,
)
from arbtrio.core.position import (
    ORDER_TRANSITIONS,
    REPEAT,
    Impossible,
    Order,
    OrderEventKind,
    OrderState,
    When,
)
from arbtrio.core.position.orders import decide
from arbtrio.core.position.steps import (
    Step,
    fill_key,
    fill_kind,
    report_kind,
    step_fill,
    step_order,
)
from arbtrio.core.types import Fill, OrderReport, OrderStatus, Side

K, S = OrderEventKind, OrderState
CELLS = [(state, kind) for kind in OrderEventKind for state in OrderState]
QTY = D(1)
PARTS = [D(0), D("0.3"), D("0.5"), D("0.7"), D(1)]
AMOUNTS = [D(0), D("0.1"), D("0.3"), D("0.5"), D("0.7"), D(1), D("1.2")]

# What news of a kind needs of the order's record (beyond its state).
NEEDS_VENUE_ORDER_ID = {K.ACK_OF_ANOTHER_ORDER}
NEEDS_FILLS = {K.FILL_REPEATED, K.REPORT_BELOW_FILLS}
NEEDS_NO_FILLS = {K.REPORT_REJECTED}
UNREACHABLE = {
    (S.SENT, K.ACK_OF_ANOTHER_ORDER),
    (S.UNKNOWN, K.ACK_OF_ANOTHER_ORDER),
    (S.SENT, K.FILL_REPEATED),
    (S.UNKNOWN, K.FILL_REPEATED),
    (S.REJECTED, K.FILL_REPEATED),
    (S.LOST, K.FILL_REPEATED),
    (S.SENT, K.REPORT_BELOW_FILLS),
    (S.UNKNOWN, K.REPORT_BELOW_FILLS),
    (S.REJECTED, K.REPORT_BELOW_FILLS),
    (S.LOST, K.REPORT_BELOW_FILLS),
}


def _records(
    state: OrderState, kind: OrderEventKind
) -> list[tuple[Decimal, Decimal | None, str | None]]:
    """Every ``(filled, venue_filled, venue_order_id)`` an order in ``state`` can have and that
    news of ``kind`` needs (empty: the cell cannot be reached)."""
    ids: list[str | None] = [None, "v1"]
    if state is S.SENT or state is S.UNKNOWN:
        records = [(D(0), None, None)]
    elif state is S.ACKED:
        records = [(f, None, i) for f in PARTS if f < QTY for i in ids]
    elif state is S.FILLED:
        records = [(f, QTY, i) for f in PARTS for i in ids]
    elif state is S.EXPIRED:
        records = [(f, v, i) for v in PARTS if v < QTY for f in PARTS if f <= v for i in ids]
    else:
        records = [(D(0), D(0), i) for i in ids]
    if kind in NEEDS_VENUE_ORDER_ID:
        records = [r for r in records if r[2] is not None]
    if kind in NEEDS_FILLS:
        records = [r for r in records if r[0] > 0]
    if kind in NEEDS_NO_FILLS:
        records = [r for r in records if r[0] == 0]
    return records


def _order(state: OrderState, record: tuple[Decimal, Decimal | None, str | None]) -> Order:
    filled, venue_filled, venue_order_id = record
    return Order(
        client_order_id="c-1",
        leg="long",
        venue="hyperliquid",
        symbol="ETH",
        attempt=0,
        purpose="entry",
        side=Side.BUY,
        qty=QTY,
        price=D(2000),
        reduce_only=False,
        sent_ts=0.0,
        status=state,
        filled=filled,
        venue_filled=venue_filled,
        venue_order_id=venue_order_id,
        query_due_ts=2.0,
        reason="timeout" if state is S.UNKNOWN else "",
    )


def _fill(order: Order, trade_id: str, qty: Decimal, *, side: Side | None = None) -> Fill:
    return Fill(
        venue=order.venue,
        client_order_id=order.client_order_id,
        trade_id=trade_id,
        side=order.side if side is None else side,
        qty=qty,
        price=D(2001),
        fee=D("0.1"),
        ts=5.0,
    )


News = Callable[[st.DataObject, Order], tuple[Step, Decimal]]


def _fill_news(kind: OrderEventKind) -> News:
    def news(data: st.DataObject, order: Order) -> tuple[Step, Decimal]:
        applied: dict[tuple[str, str], Fill] = {}
        qty = data.draw(st.sampled_from([a for a in AMOUNTS if a > 0]))
        fill = _fill(order, "n-1", qty)
        if kind is K.FILL_REPEATED:  # the order's own earlier fill, again
            fill = _fill(order, "t-1", order.filled)
            applied[fill_key(fill)] = fill
        elif kind is K.FILL_TRADE_ID_REUSED:  # another order's trade id
            other = attrs.evolve(fill, client_order_id="c-2")
            applied[fill_key(other)] = other
        elif kind is K.FILL_WRONG_SIDE:
            fill = _fill(order, "n-1", qty, side=order.side.opposite)
        assert fill_kind(order, fill, applied) is kind
        before = dict(applied)
        step = step_fill(order, fill, kind, POLICY)
        assert applied == before
        return step, fill.qty

    return news


def _event_news(make: Callable[[st.DataObject, Order], object]) -> News:
    def news(data: st.DataObject, order: Order) -> tuple[Step, Decimal]:
        event = make(data, order)
        assert isinstance(
            event, LegAcked | LegRejected | LegExpired | LegOutcomeUnknown | OutcomeResolved
        )
        step = step_order(order, event, {}, POLICY)
        if isinstance(event, LegExpired):
            return step, event.filled_qty
        if isinstance(event, OutcomeResolved) and event.report is not None:
            return step, event.report.filled_qty
        return step, D(0)

    return news


def _report(kind: OrderEventKind) -> Callable[[st.DataObject, Order], object]:
    statuses = {
        K.REPORT_WORKING: [OrderStatus.PENDING, OrderStatus.OPEN],
        K.REPORT_CLOSED: [OrderStatus.FILLED, OrderStatus.CANCELLED],
        K.REPORT_REJECTED: [OrderStatus.REJECTED],
        K.REPORT_REJECTED_FILLED: [OrderStatus.REJECTED],
        K.REPORT_BELOW_FILLS: list(OrderStatus),
    }[kind]

    def make(data: st.DataObject, order: Order) -> object:
        if kind is K.REPORT_BELOW_FILLS:
            amounts = [a for a in AMOUNTS if a < order.filled]
        elif kind is K.REPORT_REJECTED:
            amounts = [D(0)]
        elif kind is K.REPORT_REJECTED_FILLED:
            amounts = [a for a in AMOUNTS if a > 0 and a >= order.filled]
        else:
            amounts = [a for a in AMOUNTS if a >= order.filled]
        report = OrderReport(
            venue=order.venue,
            client_order_id=order.client_order_id,
            status=data.draw(st.sampled_from(statuses)),
            filled_qty=data.draw(st.sampled_from(amounts)),
            avg_price=None,
            reason=data.draw(st.sampled_from(["", "gone"])),
        )
        assert report_kind(order, report) is kind
        return OutcomeResolved(client_order_id=order.client_order_id, report=report, ts=5.0)

    return make


def _ack(other: bool) -> Callable[[st.DataObject, Order], object]:
    def make(data: st.DataObject, order: Order) -> object:
        venue_order_id = "v2" if other else (order.venue_order_id or "v9")
        return LegAcked(
            client_order_id=order.client_order_id, venue_order_id=venue_order_id, ts=5.0
        )

    return make


def _expired(data: st.DataObject, order: Order) -> object:
    filled_qty = data.draw(st.sampled_from([*AMOUNTS, order.filled]))
    return LegExpired(client_order_id=order.client_order_id, filled_qty=filled_qty, ts=5.0)


NEWS: dict[OrderEventKind, News] = {
    K.ACK: _event_news(_ack(other=False)),
    K.ACK_OF_ANOTHER_ORDER: _event_news(_ack(other=True)),
    K.FILL: _fill_news(K.FILL),
    K.FILL_REPEATED: _fill_news(K.FILL_REPEATED),
    K.FILL_TRADE_ID_REUSED: _fill_news(K.FILL_TRADE_ID_REUSED),
    K.FILL_WRONG_SIDE: _fill_news(K.FILL_WRONG_SIDE),
    K.REJECT: _event_news(
        lambda data, o: LegRejected(client_order_id=o.client_order_id, reason="no", ts=5.0)
    ),
    K.EXPIRE: _event_news(_expired),
    K.OUTCOME_UNKNOWN: _event_news(
        lambda data, o: LegOutcomeUnknown(client_order_id=o.client_order_id, reason="t", ts=5.0)
    ),
    K.NOT_FOUND: _event_news(
        lambda data, o: OutcomeResolved(client_order_id=o.client_order_id, report=None, ts=5.0)
    ),
    **{
        kind: _event_news(_report(kind))
        for kind in OrderEventKind
        if kind.name.startswith("REPORT")
    },
}


def _check_invariants(order: Order) -> None:
    """The invariants :class:`OrderState` states."""
    assert 0 <= order.filled <= order.qty
    if order.status in (S.SENT, S.UNKNOWN):
        assert order.filled == 0 and order.venue_order_id is None
    if not order.status.is_closed:
        assert order.venue_filled is None
    if order.venue_filled is not None:
        assert order.filled <= order.venue_filled <= order.qty
    if order.status is S.FILLED:
        assert order.venue_filled == order.qty
    if order.status in (S.REJECTED, S.LOST):
        assert order.venue_filled == 0 and order.filled == 0


# -- the table as data -------------------------------------------------------------------------
def test_every_order_state_and_kind_has_a_cell() -> None:
    assert set(ORDER_TRANSITIONS) == set(CELLS)
    assert len(ORDER_TRANSITIONS) == len(OrderState) * len(OrderEventKind) == 105
    for entry in ORDER_TRANSITIONS.values():
        if isinstance(entry, When):
            for outcome in (entry.then, entry.otherwise):
                assert isinstance(outcome, OrderState | Impossible) or outcome is REPEAT
        else:
            assert isinstance(entry, OrderState | Impossible) or entry is REPEAT or callable(entry)


def test_a_closed_order_never_reopens_in_a_plain_cell() -> None:
    for (state, _), entry in ORDER_TRANSITIONS.items():
        outcomes = [entry.then, entry.otherwise] if isinstance(entry, When) else [entry]
        for outcome in outcomes:
            if state.is_closed and state is not S.LOST and isinstance(outcome, OrderState):
                assert outcome.is_closed, (state, entry)


def test_a_lost_order_is_revived_by_any_news_of_it() -> None:
    revivals = {K.ACK: S.ACKED, K.REPORT_WORKING: S.ACKED, K.REJECT: S.REJECTED,
                K.REPORT_REJECTED: S.REJECTED}  # fmt: skip
    for kind, to in revivals.items():
        assert ORDER_TRANSITIONS[(S.LOST, kind)] is to
    for kind in (K.FILL, K.EXPIRE, K.REPORT_CLOSED):  # by quantity: ACKED, FILLED or EXPIRED
        assert callable(ORDER_TRANSITIONS[(S.LOST, kind)])
    assert ORDER_TRANSITIONS[(S.UNKNOWN, K.NOT_FOUND)] is S.LOST
    assert ORDER_TRANSITIONS[(S.LOST, K.NOT_FOUND)] is REPEAT


def test_each_impossible_name_has_one_text() -> None:
    impossibles: set[Impossible] = set()
    for entry in ORDER_TRANSITIONS.values():
        if isinstance(entry, When):
            impossibles |= {o for o in (entry.then, entry.otherwise) if isinstance(o, Impossible)}
        elif isinstance(entry, Impossible):
            impossibles.add(entry)
    names = [i.name for i in impossibles]
    assert len(names) == len(set(names))


def test_the_unreachable_cells_are_the_ones_no_order_record_allows_and_are_harmless() -> None:
    assert {(s, k) for s, k in CELLS if not _records(s, k)} == UNREACHABLE
    for cell in UNREACHABLE:
        entry = ORDER_TRANSITIONS[cell]
        assert entry is REPEAT or isinstance(entry, Impossible), cell


# -- the table in motion -----------------------------------------------------------------------
@settings(max_examples=max(10, settings.default.max_examples // 4), deadline=None)
@given(data=st.data())
@pytest.mark.parametrize(
    ("state", "kind"),
    [c for c in CELLS if c not in UNREACHABLE],
    ids=[f"{s.name}-{k.name}" for s, k in CELLS if (s, k) not in UNREACHABLE],
)
def test_every_reachable_cell_steps_as_the_table_says(
    state: OrderState, kind: OrderEventKind, data: st.DataObject
) -> None:
    order = _order(state, data.draw(st.sampled_from(_records(state, kind))))
    _check_invariants(order)
    step, quantity = NEWS[kind](data, order)
    entry = ORDER_TRANSITIONS[(state, kind)]
    outcome = decide(order, kind, quantity)
    assert not callable(outcome)
    if not callable(entry) or isinstance(entry, When):
        assert outcome in ((entry.then, entry.otherwise) if isinstance(entry, When) else (entry,))
    if isinstance(outcome, Impossible):
        assert step.impossible and "{" not in step.impossible
        assert step.order is order and step.fills == () and not step.query
    elif outcome is REPEAT:
        assert step == Step(order) and step.order is order
    else:
        assert step.impossible is None
        assert step.order.status is outcome
        assert step.query is (kind is K.OUTCOME_UNKNOWN)
        if state.is_closed and state is not S.LOST:
            assert outcome.is_closed
        _check_invariants(step.order)
