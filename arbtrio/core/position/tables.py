"""The position machine's states and its two tables: event-triggered and derived transitions.

Both tables are mirrored in ``specs/001-position-fsm.md`` between ``<!-- transitions:begin -->``
and ``<!-- derived:begin -->`` markers; ``tests/core/test_position_spec.py`` fails if they differ.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

from arbtrio.core.events import (
    Event,
    ExitSignal,
    FundingPaid,
    Kill,
    LegAcked,
    LegExpired,
    LegFilled,
    LegOutcomeUnknown,
    LegRejected,
    LegRole,
    Open,
    OperatorFlatten,
    OutcomeResolved,
    Tick,
)

LEGS: Final[tuple[LegRole, LegRole]] = ("long", "short")


class PositionState(enum.Enum):
    IDLE = "idle"
    OPENING = "opening"
    HEDGED = "hedged"
    UNWINDING = "unwinding"
    CLOSING = "closing"
    SETTLED = "settled"
    FAULTED = "faulted"


TERMINAL_STATES: Final = frozenset({PositionState.SETTLED})
"""States that absorb: no event moves a position out of them.

FAULTED is sticky but not terminal: the machine places no further orders of its own (it still
records fills of orders already in flight and queries unknown outcomes), and only an explicit
:class:`OperatorFlatten` (after the operator has reconciled) moves it to CLOSING with a fresh
close budget. A :class:`Kill` or :class:`ExitSignal` does not.
"""

ORDER_EVENTS: Final = (
    LegAcked,
    LegFilled,
    LegRejected,
    LegExpired,
    LegOutcomeUnknown,
    OutcomeResolved,
)
OrderEvent = LegAcked | LegFilled | LegRejected | LegExpired | LegOutcomeUnknown | OutcomeResolved

_S = PositionState
_ORDER_STATES = (_S.OPENING, _S.HEDGED, _S.UNWINDING, _S.CLOSING, _S.FAULTED, _S.SETTLED)


def _rows(
    states: Iterable[PositionState], event: type[Event], to: PositionState | None = None
) -> dict[tuple[PositionState, type[Event]], PositionState]:
    """Rows ``(s, event) → to`` for each ``s`` (``to=None``: a self-loop)."""
    return {(s, event): (s if to is None else to) for s in states}


TRANSITIONS: Final[Mapping[tuple[PositionState, type[Event]], PositionState]] = MappingProxyType(
    {
        (_S.IDLE, Open): _S.OPENING,
        (_S.IDLE, Tick): _S.IDLE,
        # An operator or the kill switch cancelling a position that never sent an order.
        (_S.IDLE, OperatorFlatten): _S.SETTLED,
        (_S.IDLE, Kill): _S.SETTLED,
        # Order outcomes are accepted wherever orders can exist. real-world: acks, status
        # repeats and REST timeouts arrive after the stream already resolved an order, so a
        # resolved order's late messages reach HEDGED and SETTLED too; only harmless ones apply.
        **_rows(_ORDER_STATES, LegAcked),
        **_rows(_ORDER_STATES, LegFilled),
        **_rows(_ORDER_STATES, LegRejected),
        **_rows(_ORDER_STATES, LegExpired),
        **_rows(_ORDER_STATES, LegOutcomeUnknown),
        **_rows(_ORDER_STATES, OutcomeResolved),
        **_rows(_ORDER_STATES, Tick),
        # real-world: funding booked for an interval the position was open in can be reported
        # after it settled.
        **_rows(_ORDER_STATES, FundingPaid),
        (_S.HEDGED, ExitSignal): _S.CLOSING,
        # real-world: an exit decided on a HEDGED snapshot can arrive after the close began.
        (_S.CLOSING, ExitSignal): _S.CLOSING,
        (_S.SETTLED, ExitSignal): _S.SETTLED,
        (_S.FAULTED, ExitSignal): _S.FAULTED,
        (_S.OPENING, OperatorFlatten): _S.CLOSING,
        (_S.HEDGED, OperatorFlatten): _S.CLOSING,
        (_S.UNWINDING, OperatorFlatten): _S.CLOSING,
        (_S.CLOSING, OperatorFlatten): _S.CLOSING,
        (_S.SETTLED, OperatorFlatten): _S.SETTLED,
        # The operator's explicit retry of a faulted position: close again with a fresh budget.
        (_S.FAULTED, OperatorFlatten): _S.CLOSING,
        (_S.OPENING, Kill): _S.CLOSING,
        (_S.HEDGED, Kill): _S.CLOSING,
        (_S.UNWINDING, Kill): _S.CLOSING,
        (_S.CLOSING, Kill): _S.CLOSING,
        (_S.SETTLED, Kill): _S.SETTLED,
        (_S.FAULTED, Kill): _S.FAULTED,  # sticky: the kill switch does not retry a fault
    }
)
"""Event-triggered transitions: ``(state, event type) → state``. A missing pair is illegal."""


class Condition(enum.Enum):
    """How the legs stand once no order is live (or that a venue said something impossible).

    Derived from fills alone; ``d`` is long held − short held. "Tradable" means an IOC for that
    quantity floored to the venue's lot clears the venue's minimum size (and, for an opening
    order, its minimum notional at the current reference price).
    """

    FLAT = "flat"  # both legs hold nothing
    BALANCED = "balanced"  # |d| is not tradable on either venue; both legs closable
    UNDERSIZED = "undersized"  # |d| is not tradable, and a leg holds less than it can close
    IMBALANCED = "imbalanced"  # an order on one of the venues could reduce |d|
    WAITING = "waiting"  # UNWINDING/CLOSING: an exit retry is scheduled (refused, or paced)
    VENUE_IMPOSSIBLE = "venue_impossible"  # a venue report that cannot be true


_C = Condition
DERIVED: Final[Mapping[tuple[PositionState, Condition], PositionState]] = MappingProxyType(
    {
        (_S.OPENING, _C.FLAT): _S.SETTLED,  # both entries filled nothing: zero PnL
        (_S.OPENING, _C.BALANCED): _S.HEDGED,
        (_S.OPENING, _C.UNDERSIZED): _S.CLOSING,
        (_S.OPENING, _C.IMBALANCED): _S.UNWINDING,
        # real-world: a hedge knocked out of balance, by a late execution of an order the
        # venue had reported not found (or a residual that became tradable): rebalance it.
        (_S.HEDGED, _C.IMBALANCED): _S.UNWINDING,
        (_S.UNWINDING, _C.FLAT): _S.SETTLED,
        (_S.UNWINDING, _C.BALANCED): _S.HEDGED,
        (_S.UNWINDING, _C.UNDERSIZED): _S.CLOSING,  # matched below a minimum: flatten
        # The act step sends a chase or reverse whenever one is allowed and schedules a
        # reverse it may not send yet (WAITING), so an imbalance with nothing live and nothing
        # scheduled means no order can reduce it: the impossible, for the operator.
        (_S.UNWINDING, _C.IMBALANCED): _S.FAULTED,
        (_S.CLOSING, _C.FLAT): _S.SETTLED,
        # Not flat with nothing live and no retry scheduled: no close can be sent (a leg holds
        # less than the venue's minimum, or the wrong way).
        (_S.CLOSING, _C.BALANCED): _S.FAULTED,
        (_S.CLOSING, _C.UNDERSIZED): _S.FAULTED,
        (_S.CLOSING, _C.IMBALANCED): _S.FAULTED,
        (_S.OPENING, _C.VENUE_IMPOSSIBLE): _S.FAULTED,
        (_S.HEDGED, _C.VENUE_IMPOSSIBLE): _S.FAULTED,
        (_S.UNWINDING, _C.VENUE_IMPOSSIBLE): _S.FAULTED,
        (_S.CLOSING, _C.VENUE_IMPOSSIBLE): _S.FAULTED,
    }
)
"""State-triggered transitions, applied after every event until none applies.

Every condition but VENUE_IMPOSSIBLE is assessed only when no order of the position is live.
WAITING has no row: the position holds its state (and its hedge) until the retry is due.
"""


@attrs.frozen(kw_only=True)
class Transition:
    """One state change: ``event`` is the event type's name, ``reason`` the derived condition."""

    ts: float
    from_state: PositionState
    event: str
    to_state: PositionState
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "from": self.from_state.value,
            "event": self.event,
            "to": self.to_state.value,
            "reason": self.reason,
        }
