"""The hedged-pair position machine: pure, synchronous, deterministic.

Theory of operation
-------------------
A :class:`Position` is one hedged pair: a long leg that buys on ``spec.long.venue`` and a short
leg that sells on ``spec.short.venue``, for one asset and one jointly quantised base quantity.
The runtime feeds it events (order outcomes, ticks carrying quotes, exit and operator signals)
and executes the commands it returns. It never reads a clock, never performs I/O and never
awaits: ``handle`` cannot be interrupted halfway, and replaying the journaled events into a
fresh ``Position(spec)`` reproduces it exactly (same state, orders, fills and PnL).

``handle(event)`` dispatches on the event's type and works in two phases.

*Validate* (nothing is touched): the order named by an order event must be one this position
sent (identity); a fill whose ``(venue, trade_id)`` was already applied with the same content is
a duplicate and is ignored (``[]``); ``(state, type(event))`` must be a row of
:data:`TRANSITIONS`; fields must be well formed (quantities > 0, a report about the right
order, ...). Any failure raises a :class:`PositionError` and leaves the position unchanged.

*Apply*: an order event steps that order's own machine, a table too: :data:`ORDER_TRANSITIONS`
maps ``(OrderState, OrderEventKind)`` to the order's next state, a harmless repeat, an
impossible report, or a guard on the order's quantities. A venue report that cannot be true (a
fill beyond the order quantity, a fill on a rejected order, a trade id reused with different
content, a cumulative fill that goes backwards) is not applied: it is kept as an anomaly and
the position goes to the sticky FAULTED state with a critical :class:`Alert` (in SETTLED,
which absorbs, it is raised as :class:`VenueProtocolError`). Then the event-triggered row of
:data:`TRANSITIONS` moves the state, and a fixed point runs: in UNWINDING and CLOSING the
machine places the next corrective order (chase, reverse, close) on each idle leg, assesses
the legs as a :class:`Condition`, and follows :data:`DERIVED` ``[(state, condition)]`` until
no row applies. The derived graph is acyclic (OPENING → UNWINDING → CLOSING →
SETTLED/FAULTED) but for the rebalance edge HEDGED → UNWINDING (a late execution), which
cannot loop within one pass, so the fixed point ends in a few steps.

Orders: every order is limit IOC with a deterministic client order id from
``ids.client_order_id(venue, position_id, leg, attempt)``; ``attempt`` counts the leg's orders
(0 is the entry, then chases, reverses and closes in the order sent), so after a crash the
journal alone finds every order again by client id. A leg has at most one live order; an
order whose outcome is unknown stays live until a stream event, a query or reconciliation
resolves it, and is never re-sent. ``specs/001-position-fsm.md`` is the prose of this package
and holds the same three tables; a test checks they agree.

Modules: :mod:`~.tables` (position states, :data:`TRANSITIONS`, :data:`DERIVED`),
:mod:`~.orders` (order states and record, :data:`ORDER_TRANSITIONS` and its guards),
:mod:`~.steps` (an order event read as news and applied, purely), :mod:`~.machine`
(:class:`Position`: dispatch, the fixed point, acting in UNWINDING and CLOSING),
:mod:`~.ledger` (orders, fills and funding held, the queries over them, sending orders),
:mod:`~.pricing` (reference prices, capped limits, tradable quantities), :mod:`~.policy`
(:class:`ExecutionPolicy`, :class:`PositionSpec`), :mod:`~.fields` (field checks),
:mod:`~.errors`, :mod:`~.views` (the snapshot) and :mod:`~.replay`.
"""

from __future__ import annotations

from arbtrio.core.position.errors import (
    IllegalTransition,
    InvalidEvent,
    PositionError,
    UnknownOrder,
    VenueProtocolError,
)
from arbtrio.core.position.machine import Position
from arbtrio.core.position.orders import (
    ORDER_TRANSITIONS,
    REPEAT,
    Impossible,
    Order,
    OrderEventKind,
    OrderState,
    Purpose,
    When,
)
from arbtrio.core.position.policy import ExecutionPolicy, PositionSpec
from arbtrio.core.position.replay import replay
from arbtrio.core.position.tables import (
    DERIVED,
    LEGS,
    ORDER_EVENTS,
    TERMINAL_STATES,
    TRANSITIONS,
    Condition,
    OrderEvent,
    PositionState,
    Transition,
)

__all__ = [
    "DERIVED",
    "LEGS",
    "ORDER_EVENTS",
    "ORDER_TRANSITIONS",
    "REPEAT",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "Condition",
    "ExecutionPolicy",
    "IllegalTransition",
    "Impossible",
    "InvalidEvent",
    "Order",
    "OrderEvent",
    "OrderEventKind",
    "OrderState",
    "Position",
    "PositionError",
    "PositionSpec",
    "PositionState",
    "Purpose",
    "Transition",
    "UnknownOrder",
    "VenueProtocolError",
    "When",
    "replay",
]
