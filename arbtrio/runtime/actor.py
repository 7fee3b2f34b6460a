"""Position actors: one task per position, the only writer of its :class:`Position`.

An actor reads events from its inbox (a bounded memory channel fed by the order router, the
ticker, the strategy and the operator), and for each one:

1. journals the event (write-ahead: replaying the journal rebuilds the position);
2. calls ``position.handle(event)`` — sync, so it cannot be interleaved or cancelled halfway;
   a refused event (``PositionError``) is logged and changes nothing (replay refuses it too);
3. on a change of state or any command, logs the canonical ``position.transition`` line and
   journals the transition; after every handled event it publishes a :class:`Handled`
   notice to its subscribers (the position book, the risk gate's outcome count, admin
   watchers), which read the position but never write it;
4. journals the commands *durably* (committed before anything reaches a venue), registers
   each new client order id with the router, then starts one execution task per order
   command in its own nursery, so a slow venue call never stops the actor from handling the
   stream's acks and fills. Outcomes come back to the inbox as events.

Ticks are conflated: :meth:`PositionActor.offer` drops a tick when the inbox is full (the
next one carries newer quotes). Everything else is sent with backpressure and never dropped.

Funding: the runtime counts the funding events it owes an actor (``funding_due``, taken at
the funding time for every leg then held); the actor does not end while one is owed, so a
position that settles just after a funding time still books that funding.

Other tasks read ``actor.position`` between awaits (snapshots, exposure) but never mutate it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs
import structlog
import trio

from arbtrio.core import events as ev
from arbtrio.core.position import Position, PositionError, PositionState

if TYPE_CHECKING:
    from arbtrio.runtime.journal import Journal
    from arbtrio.runtime.router import OrderRouter

log = structlog.get_logger("arbtrio.position")


@attrs.frozen
class Handled:
    """One event a position handled (not refused), published to its actor's subscribers."""

    actor: PositionActor
    before: PositionState
    after: PositionState
    event: ev.Event
    commands: Sequence[ev.Command]

    @property
    def changed(self) -> bool:
        """The state changed."""
        return self.before is not self.after


Subscriber = Callable[[Handled], None]


def describe_command(command: ev.Command) -> str:
    """A short, log-friendly description of a command."""
    if isinstance(command, ev.PlaceOrder):
        r = command.request
        flags = " reduce-only" if r.reduce_only else ""
        return (
            f"place {command.leg}#{command.attempt} {r.venue} {r.side.value} {r.qty} "
            f"{r.symbol} @ {r.price}{flags} [{r.client_order_id}]"
        )
    if isinstance(command, ev.QueryOrder):
        return f"query {command.venue} [{command.client_order_id}]"
    if isinstance(command, ev.CancelOrder):
        return f"cancel {command.venue} [{command.client_order_id}]"
    return f"alert {command.level}: {command.message}"


class PositionActor:
    """Owns one :class:`Position` and its inbox. Run :meth:`run` in the positions nursery."""

    def __init__(
        self,
        position: Position,
        *,
        journal: Journal,
        router: OrderRouter,
        subscribers: Sequence[Subscriber] = (),
        capacity: int = 64,
    ) -> None:
        self.position = position
        self.journal = journal
        self.router = router
        self.subscribers = tuple(subscribers)
        self.inbox, self._receive = trio.open_memory_channel[ev.Event](capacity)
        self.exit_requested = False  # the strategy sent an ExitSignal (cleared on state change)
        self.flatten_requested = False
        self.events = 0
        self.refused = 0
        self.ticks_dropped = 0
        self.funding_due = 0  # FundingPaid events the runtime will still send (see module doc)
        self.settled_booked: tuple[Decimal, Decimal] | None = None  # (pnl, fees) in totals
        self.done = trio.Event()
        for cid, _leg, _venue in position.client_order_ids():
            router.register(cid, position.spec.position_id, self.inbox)

    @property
    def position_id(self) -> str:
        return self.position.spec.position_id

    @property
    def state(self) -> PositionState:
        return self.position.state

    def offer(self, event: ev.Tick) -> bool:
        """Send a tick if the inbox has room; False (dropped, conflated) otherwise."""
        try:
            self.inbox.send_nowait(event)
        except trio.WouldBlock:
            self.ticks_dropped += 1
            return False
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        return True

    async def send(self, event: ev.Event) -> bool:
        """Send an event with backpressure; False if the actor has ended."""
        try:
            await self.inbox.send(event)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        return True

    def finished(self) -> bool:
        """Terminal with nothing in flight and no funding owed: the actor may end."""
        return (
            self.position.state is PositionState.SETTLED
            and not self.position.live_orders()
            and self.funding_due <= 0
        )

    async def run(self) -> None:
        """Handle events until the position is settled with nothing in flight."""
        structlog.contextvars.bind_contextvars(position_id=self.position_id)
        try:
            async with self._receive, trio.open_nursery() as executions:
                if self.finished():
                    return
                async for event in self._receive:
                    await self.feed(event, executions)
                    if self.finished():
                        break
                executions.cancel_scope.cancel()
        finally:
            self.router.release(self.position_id)
            self.done.set()

    async def feed(self, event: ev.Event, executions: trio.Nursery) -> list[ev.Command]:
        """Journal, handle, log, journal commands, execute. Returns the commands."""
        position = self.position
        pid = self.position_id
        await self.journal.event(pid, event, event.ts)
        self.events += 1
        if isinstance(event, ev.FundingPaid):
            self.funding_due -= 1
        before = position.state
        try:
            commands = position.handle(event)
        except PositionError as exc:
            self.refused += 1
            log.warning(
                "position.event_refused",
                position_id=pid,
                state=before.name,
                event_name=type(event).__name__,
                error=str(exc),
            )
            return []
        after = position.state
        if before is not after or commands:
            described = [describe_command(c) for c in commands]
            if before is not after:
                reason = position.history[-1].reason if position.history else ""
                log.info(
                    "position.transition",
                    position_id=pid,
                    asset=position.spec.asset,
                    from_state=before.name,
                    event_name=type(event).__name__,
                    to_state=after.name,
                    reason=reason,
                    commands=described,
                )
            else:
                log.debug(
                    "position.commands",
                    position_id=pid,
                    state=after.name,
                    event_name=type(event).__name__,
                    commands=described,
                )
            await self.journal.transition(
                pid,
                event.ts,
                from_state=before.name,
                event=type(event).__name__,
                to_state=after.name,
                commands=described,
            )
            if before is not after:
                self.exit_requested = False
        handled = Handled(self, before, after, event, commands)
        for subscriber in self.subscribers:
            subscriber(handled)
        if commands:
            await self.journal.commands(pid, commands, event.ts)
            for command in commands:
                if isinstance(command, ev.Alert):
                    level = {"warning": log.warning, "error": log.error}.get(
                        command.level, log.critical
                    )
                    level("position.alert", position_id=pid, message=command.message)
                    continue
                if isinstance(command, ev.PlaceOrder):
                    self.router.register(command.request.client_order_id, pid, self.inbox)
                executions.start_soon(self.router.execute, command, self.inbox)
        return commands
