"""The order machine's step: an order event read as news, the table consulted, the news applied.

Pure: a step takes the order, the event and what it needs (the fills already applied, the
policy) and returns a :class:`Step` describing the new order, the new fills, an impossible
report and whether to query, mutating nothing. The position applies it (or records the
anomaly) only once the whole event has been validated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

import attrs

from arbtrio.core.events import (
    LegAcked,
    LegExpired,
    LegFilled,
    LegOutcomeUnknown,
    LegRejected,
    OutcomeResolved,
)
from arbtrio.core.position.errors import InvalidEvent
from arbtrio.core.position.fields import validate_fill, validate_report
from arbtrio.core.position.orders import (
    Impossible,
    Order,
    OrderEventKind,
    OrderState,
    Outcome,
    decide,
)
from arbtrio.core.position.policy import ExecutionPolicy
from arbtrio.core.types import Fill, OrderReport, OrderStatus

_ZERO = Decimal(0)
_K = OrderEventKind
FillKey = tuple[str, str]
"""``(venue, trade_id)``: a fill's identity on its venue."""


@attrs.frozen
class Step:
    """What an order event does to its order, computed before anything is mutated."""

    order: Order  # the order after the event (unchanged when impossible)
    fills: tuple[Fill, ...] = ()  # new fills to record
    impossible: str | None = None  # why the venue's report cannot be true
    query: bool = False  # emit a QueryOrder now


def fill_key(fill: Fill) -> FillKey:
    return (fill.venue, fill.trade_id)


def fill_of(order: Order, event: LegFilled) -> Fill:
    """The fill ``event`` reports, on ``order``'s venue and side (fields unchecked)."""
    return Fill(
        venue=order.venue,
        client_order_id=order.client_order_id,
        trade_id=event.trade_id,
        side=order.side,
        qty=event.qty,
        price=event.price,
        fee=event.fee,
        ts=event.ts,
        fee_currency=event.fee_currency,
    )


def fill_kind(order: Order, fill: Fill, *applied: Mapping[FillKey, Fill]) -> OrderEventKind:
    """What ``fill`` is to ``order``: the one place fills are de-duplicated.

    A fill whose ``(venue, trade_id)`` is in one of ``applied`` is FILL_REPEATED if it names
    the same order, quantity and price as the fill recorded there (the venue said it again),
    else FILL_TRADE_ID_REUSED; a new fill is FILL_WRONG_SIDE if it is not on the order's side,
    else FILL.
    """
    key = (fill.venue, fill.trade_id)
    for fills in applied:
        previous = fills.get(key)
        if previous is not None:
            same = (previous.client_order_id, previous.qty, previous.price) == (
                fill.client_order_id,
                fill.qty,
                fill.price,
            )
            return _K.FILL_REPEATED if same else _K.FILL_TRADE_ID_REUSED
    return _K.FILL if fill.side is order.side else _K.FILL_WRONG_SIDE


def report_kind(order: Order, report: OrderReport) -> OrderEventKind:
    """The row of ``report``'s status, read once its fills are applied to ``order``."""
    if order.filled > report.filled_qty:
        return _K.REPORT_BELOW_FILLS
    if report.status is OrderStatus.REJECTED:
        return _K.REPORT_REJECTED_FILLED if report.filled_qty > 0 else _K.REPORT_REJECTED
    return _K.REPORT_CLOSED if report.status.is_terminal else _K.REPORT_WORKING


def step_fill(order: Order, fill: Fill, kind: OrderEventKind, policy: ExecutionPolicy) -> Step:
    """A ``LegFilled``: its fill (:func:`fill_of`) of :func:`fill_kind` ``kind`` applied to
    ``order``; news postpones the next query. The caller classifies the fill, as it must drop
    a repeat before anything else.

    Raises:
        InvalidEvent: a malformed field of the fill; checked before anything is decided.
    """
    validate_fill(fill, order, "LegFilled")
    outcome = decide(order, kind, fill.qty)
    if isinstance(outcome, OrderState):
        due = fill.ts + policy.query_after_s
        return Step(_with_fill(order, outcome, fill, due), (fill,))
    return _unchanged(order, outcome, fill=fill, filled=order.filled + fill.qty)


def step_order(
    order: Order,
    event: LegAcked | LegRejected | LegExpired | LegOutcomeUnknown | OutcomeResolved,
    applied: Mapping[FillKey, Fill],
    policy: ExecutionPolicy,
) -> Step:
    """Any order event but ``LegFilled`` (:func:`step_fill`) applied to ``order``.

    ``applied`` holds the position's fills by :func:`fill_key`, to de-duplicate a report's.

    Raises:
        InvalidEvent: a malformed field of ``event``; checked before anything is decided.
    """
    return _STEPS[type(event)](order, event, applied, policy)


# -- one function per event type -------------------------------------------------------------
def _acked(
    order: Order, event: LegAcked, applied: Mapping[FillKey, Fill], policy: ExecutionPolicy
) -> Step:
    if not event.venue_order_id:
        raise InvalidEvent("LegAcked.venue_order_id must not be empty")
    same_order = order.venue_order_id in (None, event.venue_order_id)
    outcome = decide(order, _K.ACK if same_order else _K.ACK_OF_ANOTHER_ORDER)
    if isinstance(outcome, OrderState):
        due = order.query_due_ts if outcome.is_closed else event.ts + policy.query_after_s
        return Step(
            attrs.evolve(
                _revived(order, outcome),
                status=outcome,
                venue_order_id=event.venue_order_id,
                query_due_ts=due,
            )
        )
    return _unchanged(order, outcome, event=event)


def _rejected(
    order: Order, event: LegRejected, applied: Mapping[FillKey, Fill], policy: ExecutionPolicy
) -> Step:
    outcome = decide(order, _K.REJECT)
    if isinstance(outcome, OrderState):
        return Step(_reject(order, outcome, event.reason))
    return _unchanged(order, outcome)


def _expired(
    order: Order, event: LegExpired, applied: Mapping[FillKey, Fill], policy: ExecutionPolicy
) -> Step:
    venue_filled = event.filled_qty
    if not isinstance(venue_filled, Decimal) or not venue_filled.is_finite():
        raise InvalidEvent(f"LegExpired.filled_qty must be a Decimal, got {venue_filled!r}")
    if venue_filled < 0:
        raise InvalidEvent(f"LegExpired.filled_qty must be >= 0, got {venue_filled}")
    outcome = decide(order, _K.EXPIRE, venue_filled)
    if isinstance(outcome, OrderState):
        return Step(_close(order, outcome, venue_filled, order.reason, event.ts, policy))
    source = f"LegExpired({order.status.value})"
    return _unchanged(order, outcome, venue_filled=venue_filled, source=source)


def _outcome_unknown(
    order: Order,
    event: LegOutcomeUnknown,
    applied: Mapping[FillKey, Fill],
    policy: ExecutionPolicy,
) -> Step:
    outcome = decide(order, _K.OUTCOME_UNKNOWN)
    if isinstance(outcome, OrderState):
        # An order becoming UNKNOWN records why; either way it is queried at once.
        reason = event.reason if outcome is OrderState.UNKNOWN else order.reason
        due = event.ts + policy.query_after_s
        changed = attrs.evolve(order, status=outcome, query_due_ts=due, reason=reason)
        return Step(changed, query=True)
    return _unchanged(order, outcome)


def _resolved(
    order: Order, event: OutcomeResolved, applied: Mapping[FillKey, Fill], policy: ExecutionPolicy
) -> Step:
    report = event.report
    if report is None:
        outcome = decide(order, _K.NOT_FOUND)
        if outcome is OrderState.LOST:
            return Step(_reject(order, outcome, "not found"))
        if isinstance(outcome, OrderState):  # still pending: ask again later
            due = event.ts + policy.query_after_s
            return Step(attrs.evolve(order, status=outcome, query_due_ts=due))
        return _unchanged(order, outcome)
    validate_report(report, order)
    return _report(order, report, applied, event.ts, policy)


def _report(
    order: Order,
    report: OrderReport,
    applied: Mapping[FillKey, Fill],
    ts: float,
    policy: ExecutionPolicy,
) -> Step:
    """A report: each of its fills is FILL-family news, then its status is REPORT news."""
    current = order
    new: dict[FillKey, Fill] = {}
    for fill in report.fills:
        outcome = decide(current, fill_kind(current, fill, applied, new), fill.qty)
        if isinstance(outcome, Impossible):
            filled = current.filled + fill.qty
            return Step(order, impossible=outcome.explain(current, fill=fill, filled=filled))
        if isinstance(outcome, OrderState):
            current = _with_fill(current, outcome, fill, current.query_due_ts)
            new[fill_key(fill)] = fill
    fills = tuple(new.values())
    kind = report_kind(current, report)
    outcome = decide(current, kind, report.filled_qty)
    if isinstance(outcome, Impossible):
        problem = outcome.explain(current, venue_filled=report.filled_qty, source="report")
        return Step(order, impossible=problem)
    if not isinstance(outcome, OrderState):  # REPEAT
        return Step(current, fills)
    if kind is _K.REPORT_CLOSED:
        reason = report.reason or current.reason
        return Step(_close(current, outcome, report.filled_qty, reason, ts, policy), fills)
    if kind is _K.REPORT_REJECTED:
        return Step(_reject(current, outcome, report.reason or "rejected"), fills)
    # REPORT_WORKING: still working (or a stale report about a closed order).
    due = ts + policy.query_after_s
    return Step(attrs.evolve(_revived(current, outcome), status=outcome, query_due_ts=due), fills)


# -- applying an outcome ---------------------------------------------------------------------
def _unchanged(order: Order, outcome: Outcome, **fields: object) -> Step:
    """The step of a REPEAT or an :class:`Impossible` outcome (``fields`` explain it)."""
    if isinstance(outcome, Impossible):
        return Step(order, impossible=outcome.explain(order, **fields))
    return Step(order)


def _revived(order: Order, to: OrderState) -> Order:
    """``order`` as it is when it leaves LOST for ``to`` (an order not closed has no final
    fill): unchanged otherwise."""
    if order.status is OrderState.LOST and not to.is_closed:
        return attrs.evolve(order, venue_filled=None)
    return order


def _with_fill(order: Order, to: OrderState, fill: Fill, query_due_ts: float) -> Order:
    order = _revived(order, to)
    venue_filled = order.venue_filled
    if order.status is OrderState.LOST:  # a late execution that completes the order
        venue_filled = None
    if to is OrderState.FILLED and venue_filled is None:
        venue_filled = order.qty
    return attrs.evolve(
        order,
        status=to,
        filled=order.filled + fill.qty,
        venue_filled=venue_filled,
        query_due_ts=query_due_ts,
    )


def _reject(order: Order, to: OrderState, reason: str) -> Order:
    return attrs.evolve(order, status=to, venue_filled=_ZERO, reason=reason)


def _close(
    order: Order,
    to: OrderState,
    venue_filled: Decimal,
    reason: str,
    ts: float,
    policy: ExecutionPolicy,
) -> Order:
    """Closed by the venue with ``venue_filled`` in all; a check for owed fills is due."""
    return attrs.evolve(
        order,
        status=to,
        venue_filled=venue_filled,
        query_due_ts=ts + policy.query_after_s,
        reason=reason,
    )


_Stepper = Callable[[Order, Any, Mapping[FillKey, Fill], ExecutionPolicy], Step]
_STEPS: Final[Mapping[type, _Stepper]] = MappingProxyType(
    {
        LegAcked: _acked,
        LegRejected: _rejected,
        LegExpired: _expired,
        LegOutcomeUnknown: _outcome_unknown,
        OutcomeResolved: _resolved,
    }
)
