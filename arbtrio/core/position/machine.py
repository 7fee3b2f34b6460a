"""The hedged-pair position machine, :class:`Position` (theory of operation: the package doc)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

import attrs

from arbtrio.core.events import (
    Alert,
    Command,
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
    Quote,
    Tick,
)
from arbtrio.core.position import pricing, views
from arbtrio.core.position.errors import (
    IllegalTransition,
    InvalidEvent,
    UnknownOrder,
    VenueProtocolError,
)
from arbtrio.core.position.fields import finite, validate_quotes, validate_ts
from arbtrio.core.position.ledger import Ledger
from arbtrio.core.position.orders import Order, OrderEventKind, OrderState
from arbtrio.core.position.policy import PositionSpec
from arbtrio.core.position.steps import Step, fill_key, fill_kind, fill_of, step_fill, step_order
from arbtrio.core.position.tables import (
    DERIVED,
    LEGS,
    TERMINAL_STATES,
    TRANSITIONS,
    Condition,
    OrderEvent,
    PositionState,
    Transition,
)
from arbtrio.core.types import Side

_ZERO = Decimal(0)


class Position(Ledger):
    """One hedged pair's machine. See the package docstring for the theory of operation."""

    def __init__(self, spec: PositionSpec) -> None:
        super().__init__(spec)
        self.state = PositionState.IDLE
        self.history: list[Transition] = []
        self._quotes: dict[str, Quote] = {}
        self._chases = 0
        self._first_chase_ts: float | None = None
        self._reverses = 0
        self._anomalies: list[dict[str, Any]] = []
        self._last_ts = spec.created_ts
        self._quoted: frozenset[str] | None = None  # venues of the latest quotes (None: none yet)

    def snapshot(self) -> dict[str, Any]:
        """Everything the position knows, JSON-able (Decimals as plain strings)."""
        return views.snapshot(self)

    def condition(self) -> Condition | None:
        """The legs' :class:`Condition`, or None while any order is live.

        WAITING is reported only in UNWINDING and CLOSING, where the act step schedules the
        exit retries it cannot send now."""
        if any(o.is_live for o in self._orders.values()):
            return None
        a, b = self.held("long"), self.held("short")
        if a == 0 and b == 0:
            return Condition.FLAT
        if self.state in _ACTING and any(b.retry_at is not None for b in self._legs.values()):
            return Condition.WAITING
        if pricing.correction(self.spec, self._quotes, a - b) is not None:
            return Condition.IMBALANCED
        long_closable = pricing.close_qty(self.spec, self._quotes, "long", a) > 0
        if long_closable and pricing.close_qty(self.spec, self._quotes, "short", b) > 0:
            return Condition.BALANCED
        return Condition.UNDERSIZED

    # -- the machine: validate (identity, duplicates, table, fields), then apply ------------
    def handle(self, event: Event) -> list[Command]:
        """Apply ``event``; return the commands to execute, in order.

        Raises:
            UnknownOrder: the event names an order this position never sent.
            IllegalTransition: ``(state, type(event))`` is not in :data:`TRANSITIONS`.
            InvalidEvent: a malformed field (named in the message).
            VenueProtocolError: a SETTLED position got a venue report that cannot be true.
        In every case the position is left exactly as it was.
        """
        handler = _HANDLERS.get(type(event))
        if handler is None:
            raise self._illegal(event)
        return handler(self, event)

    def _row(self, event: Event) -> PositionState:
        """The event-triggered target state (the *table* check)."""
        target = TRANSITIONS.get((self.state, type(event)))
        if target is None:
            raise self._illegal(event)
        return target

    def _illegal(self, event: Event) -> IllegalTransition:
        return IllegalTransition(
            f"position {self.spec.position_id}: {type(event).__name__} is illegal in "
            f"{self.state.name}"
        )

    def _order_named_by(self, event: OrderEvent) -> Order:
        """The order ``event`` is about (the *identity* check)."""
        order = self._orders.get(event.client_order_id)
        if order is None:
            raise UnknownOrder(
                f"{type(event).__name__}: client order id {event.client_order_id!r} "
                f"is not an order of position {self.spec.position_id}"
            )
        return order

    def _on_open(self, event: Open) -> list[Command]:
        target = self._row(event)
        validate_ts(event.ts)
        self._last_ts = event.ts
        self._move(target, event.ts, "Open", "open")
        cmds = self._send_entries(event.ts)
        self._advance(event.ts, "Open", cmds)
        return cmds

    def _on_fill(self, event: LegFilled) -> list[Command]:
        order = self._order_named_by(event)
        fill = fill_of(order, event)
        kind = fill_kind(order, fill, self._fill_index)
        if kind is OrderEventKind.FILL_REPEATED:
            return []  # a repeated fill message (the *duplicates* check): nothing changes
        target = self._row(event)
        validate_ts(event.ts)
        step = step_fill(order, fill, kind, self.spec.policy)  # checks the fill's fields first
        return self._apply_step(event, order, target, step)

    def _on_order_event(
        self, event: LegAcked | LegRejected | LegExpired | LegOutcomeUnknown | OutcomeResolved
    ) -> list[Command]:
        order = self._order_named_by(event)
        target = self._row(event)
        validate_ts(event.ts)
        step = step_order(order, event, self._fill_index, self.spec.policy)  # checks fields
        return self._apply_step(event, order, target, step)

    def _apply_step(
        self, event: OrderEvent, order: Order, target: PositionState, step: Step
    ) -> list[Command]:
        """Record an order's step, or the impossible report it carries (VENUE_IMPOSSIBLE)."""
        name = type(event).__name__
        if step.impossible and self.state in TERMINAL_STATES:
            raise VenueProtocolError(
                f"position {self.spec.position_id} is {self.state.name}: "
                f"{name} for {order.client_order_id}: {step.impossible}"
            )
        revived = order.status is OrderState.LOST and step.order.status is not OrderState.LOST
        if (
            revived
            and step.order.status is not OrderState.REJECTED
            and self.state in (TERMINAL_STATES)
        ):
            raise VenueProtocolError(
                f"position {self.spec.position_id} is {self.state.name}: {name} for "
                f"{order.client_order_id}, an order the venue had reported not found: a late "
                f"execution after settling; the venue holds what the position does not"
            )
        self._last_ts = event.ts
        cmds: list[Command] = []
        if step.impossible:
            self._anomalies.append(
                {
                    "ts": event.ts,
                    "event": name,
                    "client_order_id": order.client_order_id,
                    "leg": order.leg,
                    "venue": order.venue,
                    "problem": step.impossible,
                }
            )
            cmds.append(
                Alert(
                    level="critical",
                    message=f"position {self.spec.position_id} {order.leg} leg on "
                    f"{order.venue}: impossible venue report ({step.impossible}); "
                    f"needs reconciliation",
                )
            )
        else:
            self._orders[order.client_order_id] = step.order
            for fill in step.fills:
                self._fills.append(fill)
                self._fill_index[fill_key(fill)] = fill
            if step.query:
                cmds.append(self._query(step.order))
        self._move(target, event.ts, name, "")
        if step.impossible and (self.state, Condition.VENUE_IMPOSSIBLE) in DERIVED:
            to = DERIVED[(self.state, Condition.VENUE_IMPOSSIBLE)]
            self._move(to, event.ts, name, Condition.VENUE_IMPOSSIBLE.value)
        self._advance(event.ts, name, cmds)
        return cmds

    def _on_tick(self, event: Tick) -> list[Command]:
        target = self._row(event)
        validate_ts(event.ts)
        validate_quotes(event.quotes)
        self._last_ts = event.ts
        self._update_quotes(event.quotes, event.ts)
        cmds: list[Command] = []
        for live in self.live_orders():
            if event.ts >= live.query_due_ts:
                self._orders[live.client_order_id] = attrs.evolve(
                    live, query_due_ts=event.ts + self.spec.policy.query_after_s
                )
                cmds.append(self._query(live))
        self._move(target, event.ts, "Tick", "")
        self._advance(event.ts, "Tick", cmds)
        return cmds

    def _on_funding(self, event: FundingPaid) -> list[Command]:
        target = self._row(event)
        validate_ts(event.ts)
        finite(event.amount, "FundingPaid.amount")
        if event.leg not in LEGS:
            raise InvalidEvent(f"FundingPaid.leg must be 'long' or 'short', got {event.leg!r}")
        self._last_ts = event.ts
        self._funding[event.leg] += event.amount
        cmds: list[Command] = []
        self._move(target, event.ts, "FundingPaid", "")
        self._advance(event.ts, "FundingPaid", cmds)
        return cmds

    def _on_exit(self, event: ExitSignal) -> list[Command]:
        return self._on_close_request(event, event.reason)

    def _on_flatten_or_kill(self, event: OperatorFlatten | Kill) -> list[Command]:
        return self._on_close_request(event, type(event).__name__)

    def _on_close_request(
        self, event: ExitSignal | OperatorFlatten | Kill, reason: str
    ) -> list[Command]:
        """Store the quotes; on a move to CLOSING cancel what still works (from FAULTED, with
        a fresh close budget: the operator's retry). A request while CLOSING makes every
        scheduled exit retry due now."""
        target = self._row(event)
        validate_ts(event.ts)
        validate_quotes(event.quotes)
        name = type(event).__name__
        self._last_ts = event.ts
        self._update_quotes(event.quotes, event.ts)
        cmds: list[Command] = []
        before = self.state
        if before is PositionState.CLOSING:
            for book in self._legs.values():
                if book.retry_at is not None:
                    book.retry_at = min(book.retry_at, event.ts)
        if target is not before:
            if before is PositionState.FAULTED:
                for book in self._legs.values():
                    book.closes, book.retries, book.retry_at = 0, 0, None
            self._move(target, event.ts, name, reason)
            if target is PositionState.CLOSING:
                cmds.extend(self._cancel_live())
        self._advance(event.ts, name, cmds)
        return cmds

    def _move(self, to: PositionState, ts: float, event: str, reason: str) -> None:
        if to is not self.state:
            self.history.append(
                Transition(ts=ts, from_state=self.state, event=event, to_state=to, reason=reason)
            )
            self.state = to
            if to not in _ACTING:
                for book in self._legs.values():
                    book.retry_at = None

    def _update_quotes(self, quotes: Mapping[str, Quote], ts: float) -> None:
        """Keep the latest quote of each venue; a venue quoting again after a gap makes its
        scheduled exit retries due now."""
        quoted = set()
        for leg in LEGS:
            venue = self.spec.instrument(leg).venue
            quote = quotes.get(venue)
            if quote is None:
                continue
            self._quotes[venue] = quote
            quoted.add(venue)
            book = self._legs[leg]
            gap = self._quoted is not None and venue not in self._quoted
            if gap and book.retry_at is not None:
                book.retry_at = min(book.retry_at, ts)
        self._quoted = frozenset(quoted)

    def _advance(self, ts: float, name: str, cmds: list[Command]) -> None:
        """The fixed point: act in UNWINDING/CLOSING, assess, follow DERIVED; repeat."""
        for _ in range(len(PositionState)):  # bounded: see DERIVED (acyclic but for rebalance)
            if self.state is PositionState.UNWINDING:
                cmds.extend(self._act_unwinding(ts))
            elif self.state is PositionState.CLOSING:
                cmds.extend(self._act_closing(ts))
            condition = self.condition()
            target = None if condition is None else DERIVED.get((self.state, condition))
            if target is None or condition is None:
                return
            before = self.state
            self._move(target, ts, name, condition.value)
            cmds.extend(self._on_enter(before, condition))

    def _on_enter(self, before: PositionState, condition: Condition) -> list[Command]:
        pid, d = self.spec.position_id, self.net_exposure()
        if self.state is PositionState.FAULTED:
            return [
                Alert(
                    level="critical",
                    message=f"position {pid} FAULTED from {before.name} ({condition.value}): "
                    f"long holds {self.held('long')}, short holds {self.held('short')}; "
                    f"flatten or reconcile manually",
                )
            ]
        if self.state is PositionState.UNWINDING:
            return [
                Alert(
                    level="warning",
                    message=f"position {pid} single-legged after entry: net exposure {d}; "
                    f"unwinding",
                )
            ]
        if self.state is PositionState.HEDGED and d != 0:
            return [
                Alert(
                    level="warning",
                    message=f"position {pid} hedged with an untradable residual of {d} "
                    f"{self.spec.asset}",
                )
            ]
        return []

    # -- acting --------------------------------------------------------------------------------
    def _send_entries(self, ts: float) -> list[Command]:
        bps = self.spec.entry_slippage_bps()
        cmds: list[Command] = []
        entries: tuple[tuple[LegRole, Decimal], ...] = (
            ("long", self.spec.long_price),
            ("short", self.spec.short_price),
        )
        for leg, reference in entries:
            side = pricing.entry_side(leg)
            price = pricing.capped_limit(self.spec, leg, side, bps, reference)
            cmds.append(self._place(leg, "entry", side, self.spec.qty, price, ts))
        return cmds

    def _limit_now(self, leg: LegRole, side: Side, bps: Decimal) -> Decimal:
        """The capped limit ``bps`` around the price ``side`` trades at now on ``leg``."""
        reference = pricing.reference_price(self.spec, self._quotes, leg, side)
        return pricing.capped_limit(self.spec, leg, side, bps, reference)

    def _act_unwinding(self, ts: float) -> list[Command]:
        """Single-leg policy: chase the lagging leg, then reverse the leading leg (paced)."""
        if any(o.is_live for o in self._orders.values()):
            return []
        d = self.net_exposure()
        correction = pricing.correction(self.spec, self._quotes, d)
        if correction is None:
            for book in self._legs.values():
                book.retry_at = None  # FLAT, BALANCED or UNDERSIZED: the derived table decides
            return []
        chase_qty, reverse_qty = correction
        policy = self.spec.policy
        lagging: LegRole = "short" if d > 0 else "long"
        leading: LegRole = "long" if d > 0 else "short"
        self._legs[lagging].retry_at = None
        chase_open = (
            self._reverses == 0
            and self._chases < policy.chase_attempts
            and (self._first_chase_ts is None or ts - self._first_chase_ts < policy.chase_ttl_s)
        )
        if chase_open and chase_qty > 0:
            side = pricing.entry_side(lagging)
            bps = policy.entry_slippage_bps + policy.chase_extra_slippage_bps
            price = self._chase_limit(lagging, side, self._limit_now(lagging, side, bps))
            if self._first_chase_ts is None:
                self._first_chase_ts = ts
            self._chases += 1
            return [self._place(lagging, "chase", side, chase_qty, price, ts)]
        if reverse_qty == 0:
            self._legs[leading].retry_at = None
            return []
        cmds: list[Command] = []
        if not self._exit_due(leading, ts, self._reverses, policy.reverse_attempts, cmds):
            return cmds
        side = pricing.exit_side(leading)
        bps = policy.reverse_slippage_bps + self._reverses * policy.close_slippage_step_bps
        price = self._limit_now(leading, side, min(bps, policy.max_exit_slippage_bps))
        self._reverses += 1
        return [*cmds, self._place(leading, "reverse", side, reverse_qty, price, ts)]

    def _act_closing(self, ts: float) -> list[Command]:
        """Close each idle leg that holds something: escalating slippage up to the cap, then
        paced retries (see :class:`ExecutionPolicy`)."""
        policy = self.spec.policy
        cmds: list[Command] = []
        for leg in LEGS:
            if any(o.is_live and o.leg == leg for o in self._orders.values()):
                continue
            book = self._legs[leg]
            qty = pricing.close_qty(self.spec, self._quotes, leg, self.held(leg))
            if qty == 0:
                book.retry_at = None
                continue
            if not self._exit_due(leg, ts, book.closes, policy.close_attempts, cmds):
                continue
            side = pricing.exit_side(leg)
            bps = policy.close_slippage_bps + book.closes * policy.close_slippage_step_bps
            price = self._limit_now(leg, side, min(bps, policy.max_exit_slippage_bps))
            book.closes += 1
            cmds.append(self._place(leg, "close", side, qty, price, ts))
        return cmds

    def _exit_due(
        self, leg: LegRole, ts: float, sent: int, fast_budget: int, cmds: list[Command]
    ) -> bool:
        """May ``leg``'s next exit order (reverse or close) go now? ``sent``: the exit orders
        of its kind sent so far. When it may not, a slow retry is scheduled (alerting the
        first time, critically when the partner leg is already flat: a naked leg)."""
        book = self._legs[leg]
        if book.retry_at is not None:
            venue = self.spec.instrument(leg).venue
            if ts < book.retry_at or venue not in (self._quoted or ()):
                return False
            book.retry_at = None
            book.retries += 1
            return True
        last = self._last_order(leg)
        refused = last is not None and last.status in (OrderState.REJECTED, OrderState.LOST)
        if sent < fast_budget and not refused:
            return True
        delay = self.spec.policy.retry_delay(book.retries)
        book.retry_at = ts + delay
        if book.retries == 0:
            partner: LegRole = "short" if leg == "long" else "long"
            naked = self.held(partner) == 0
            venue = self.spec.instrument(leg).venue
            why = f"{last.status.value} ({last.reason})" if refused and last else "unfilled"
            cmds.append(
                Alert(
                    level="critical" if naked else "warning",
                    message=f"position {self.spec.position_id} {leg} leg on {venue}: exit "
                    f"{why}; retrying with backoff (first in {delay:g} s, at most every "
                    f"{self.spec.policy.retry_backoff_max_s:g} s)"
                    + ("; the partner leg is flat: this leg is NAKED" if naked else ""),
                )
            )
        return False

    def _last_order(self, leg: LegRole) -> Order | None:
        last = None
        for order in self._orders.values():
            if order.leg == leg:
                last = order
        return last

    def _chase_limit(self, lagging: LegRole, side: Side, price: Decimal) -> Decimal:
        """``price`` bounded so the chase fills no worse than ``unwind_loss_budget_bps`` from
        the leading leg's average entry (quote currencies taken at par)."""
        leading: LegRole = "short" if lagging == "long" else "long"
        avg = self.average_entry_price(leading)
        if avg is None:
            return price
        budget = self.spec.policy.unwind_loss_budget_bps
        bound = pricing.capped_limit(self.spec, lagging, side, budget, avg)
        return min(price, bound) if side is Side.BUY else max(price, bound)


_ACTING: Final = frozenset({PositionState.UNWINDING, PositionState.CLOSING})


_Handler = Callable[[Position, Any], list[Command]]
_HANDLERS: Final[Mapping[type, _Handler]] = MappingProxyType(
    {
        Open: Position._on_open,
        LegAcked: Position._on_order_event,
        LegFilled: Position._on_fill,
        LegRejected: Position._on_order_event,
        LegExpired: Position._on_order_event,
        LegOutcomeUnknown: Position._on_order_event,
        OutcomeResolved: Position._on_order_event,
        Tick: Position._on_tick,
        FundingPaid: Position._on_funding,
        ExitSignal: Position._on_exit,
        OperatorFlatten: Position._on_flatten_or_kill,
        Kill: Position._on_flatten_or_kill,
    }
)
"""The one dispatch: each event type's handler. Every handler validates in the order identity,
duplicates, table, fields, and changes nothing until all have passed."""
