"""The position book: every position of this run, and the one owner of what is known of them.

It creates position actors (:meth:`PositionBook.open` for a new position, :meth:`rebuild`
from the journal after a restart) and runs them in the positions nursery. It keeps:

* ``actors`` — the positions in memory: every live one and the latest
  ``service.max_settled_in_memory`` settled ones (older ones are evicted: their history
  stays in the journal); ``live`` — the actors still running;
* ``settled`` — running totals over every SETTLED position (evicted or not);
* ``open_pairs`` — what the opening rules read of each position not SETTLED
  (:class:`~arbtrio.core.strategy.OpenPair`);
* ``traded`` — when each (venue, asset) last had an order event (the strategy waits for
  the venue's book to show it);
* PnL by day (the daily loss limit spans restarts), outcomes by transition.

Actors report to it through :meth:`on_handled` (it subscribes to every actor it makes);
everything else reads it between awaits and never writes it.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import attrs
import structlog
import trio

from arbtrio.config import Config
from arbtrio.core import events as ev
from arbtrio.core.detector import quote_rate
from arbtrio.core.instruments import Instrument, format_decimal
from arbtrio.core.position import Position, PositionSpec, PositionState
from arbtrio.core.risk import Exposure
from arbtrio.core.strategy import OpenPair
from arbtrio.runtime.actor import Handled, PositionActor, Subscriber
from arbtrio.runtime.admin import Hub
from arbtrio.runtime.journal import Journal, replay
from arbtrio.runtime.router import OrderRouter

__all__ = ["UNSTABLE", "PositionBook", "SettledTotals", "spec_spread_bps"]

log = structlog.get_logger("arbtrio.runtime")

S = PositionState
UNSTABLE = (S.IDLE, S.OPENING, S.UNWINDING, S.CLOSING)
_ZERO = Decimal(0)
_DAY = 86_400


@attrs.define
class SettledTotals:
    """Running totals over every SETTLED position of this run, evicted or not (so they never
    need the actors): count, realised PnL and fees (reference currency), entry notional."""

    count: int = 0
    pnl: Decimal = _ZERO
    fees: Decimal = _ZERO
    notional: Decimal = _ZERO


def spec_spread_bps(spec: PositionSpec, quote_rates: dict[str, Decimal]) -> float:
    """The gross spread a position was opened at (short reference over long), in bps."""
    rl = quote_rate(quote_rates, spec.long)
    rs = quote_rate(quote_rates, spec.short)
    return float((spec.short_price * rs / (spec.long_price * rl) - 1) * 10_000)


class PositionBook:
    """Every position of this run (see the module docstring).

    Args:
        config: the service configuration.
        journal, router: what each actor journals to and executes through.
        hub: admin watchers (each change of state or command is published).
        quote_rates: reference value of each quote currency (PnL and notional).
        wall_clock: epoch seconds (PnL by calendar day).
        run_id: prefix of new position ids.
        subscribers: more subscribers for every actor (e.g. the risk gate's outcome count).
    """

    def __init__(
        self,
        config: Config,
        *,
        journal: Journal,
        router: OrderRouter,
        hub: Hub,
        quote_rates: dict[str, Decimal],
        wall_clock: Callable[[], float],
        run_id: str,
        subscribers: Sequence[Subscriber] = (),
    ) -> None:
        self.config = config
        self.journal = journal
        self.router = router
        self.hub = hub
        self.quote_rates = quote_rates
        self.wall_clock = wall_clock
        self.run_id = run_id
        self.subscribers: list[Subscriber] = [self.on_handled, *subscribers]
        self.actors: dict[str, PositionActor] = {}
        self.live: dict[str, PositionActor] = {}
        self.open_pairs: dict[str, OpenPair] = {}
        self.settled = SettledTotals()
        self.archived = 0
        self.entry_spread: dict[str, float] = {}
        self.traded: dict[tuple[str, str], float] = {}
        self.outcomes: Counter[str] = Counter()
        self.pnl_by_day: dict[int, Decimal] = {}
        self.opened = 0
        self.rebuilt: list[str] = []
        self._settled_order: deque[str] = deque()
        self._seq = 0
        self._nursery: trio.Nursery | None = None

    # -- creating and running actors -----------------------------------------------------------
    def next_position_id(self) -> str:
        self._seq += 1
        return f"{self.run_id}-{self._seq}"

    def make_actor(self, position: Position) -> PositionActor:
        """An actor for ``position``, subscribed to by this book (not yet registered)."""
        return PositionActor(
            position,
            journal=self.journal,
            router=self.router,
            subscribers=self.subscribers,
            capacity=self.config.service.inbox_capacity,
        )

    def _register(self, actor: PositionActor) -> None:
        pid = actor.position_id
        self.actors[pid] = self.live[pid] = actor
        self.entry_spread[pid] = spec_spread_bps(actor.position.spec, self.quote_rates)
        self._track(actor)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The positions nursery: rebuilt actors now, new ones as :meth:`open` makes them;
        runs until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for pid in self.rebuilt:
                nursery.start_soon(self.run_actor, self.actors[pid])
            task_status.started()
            await trio.sleep_forever()

    async def open(self, spec: PositionSpec, *, gross_bps: float, now: float) -> PositionActor:
        """Journal and start a new position, and send it ``Open``."""
        actor = self.make_actor(Position(spec))
        self._register(actor)
        self.entry_spread[spec.position_id] = gross_bps
        self.opened += 1
        await self.journal.position_created(spec, now)
        assert self._nursery is not None, "PositionBook.run is not running"
        self._nursery.start_soon(self.run_actor, actor)
        await actor.send(ev.Open(ts=now))
        return actor

    async def run_actor(self, actor: PositionActor) -> None:
        """Run one actor to its end; a crashed actor is logged and stays live (its position
        keeps what it holds, for the operator and the watchdog)."""
        try:
            await actor.run()
        except Exception:
            log.exception(
                "position.actor_crashed", position_id=actor.position_id, state=actor.state.name
            )
            return
        self.live.pop(actor.position_id, None)
        self.open_pairs.pop(actor.position_id, None)
        if actor.state is S.SETTLED:
            self._settled_order.append(actor.position_id)
            self._evict_settled()

    def rebuild(self) -> list[str]:
        """Rebuild every non-settled position from the journal (event sourcing); settled ones
        only add to today's PnL. Returns the rebuilt position ids (started by :meth:`run`)."""
        for pid, replayed in replay(self.journal.path).items():
            self._seq_from(pid)
            position = replayed.position
            if position.state is S.SETTLED and not position.live_orders():
                # Journal times are epoch seconds in real-time runs (EpochClock), so a
                # position settled today still counts against today's loss limit.
                day = int(replayed.last_ts // _DAY)
                pnl = position.realized_pnl(self.quote_rates)
                self.pnl_by_day[day] = self.pnl_by_day.get(day, _ZERO) + pnl
                continue
            actor = self.make_actor(position)
            self._register(actor)
            if actor.state is S.SETTLED:  # settled with fills owed: it counts as settled
                self._book_settled(actor)
            self.rebuilt.append(pid)
            log.info(
                "position.rebuilt",
                position_id=pid,
                state=position.state.name,
                events=replayed.events,
                live_orders=len(position.live_orders()),
            )
        return list(self.rebuilt)

    def _seq_from(self, pid: str) -> None:
        prefix, _, number = pid.rpartition("-")
        if prefix == self.run_id and number.isdigit():
            self._seq = max(self._seq, int(number))

    # -- what the actors report ------------------------------------------------------------------
    def on_handled(self, handled: Handled) -> None:
        """Every handled event: book settled results; on a change of state or commands,
        note the venues traded, count outcomes, update the open pair, tell the watchers."""
        actor = handled.actor
        if handled.after is S.SETTLED:
            self._book_settled(actor)  # settling, or a later change (funding) to the result
        if not handled.changed and not handled.commands:
            return
        spec = actor.position.spec
        now = trio.current_time()
        for inst in (spec.long, spec.short):
            self.traded[(inst.venue, spec.asset)] = now
        if handled.changed:
            if handled.after in (S.SETTLED, S.FAULTED, S.HEDGED):
                self.outcomes[f"{handled.before.name}->{handled.after.name}"] += 1
            self._track(actor)
        history = actor.position.history
        self.hub.publish(
            {
                "position_id": actor.position_id,
                "asset": spec.asset,
                "ts": handled.event.ts,
                "from": handled.before.name,
                "event": type(handled.event).__name__,
                "to": handled.after.name,
                "reason": history[-1].reason if handled.changed and history else "",
                "commands": [type(c).__name__ for c in handled.commands],
                "realized_pnl": format_decimal(actor.position.realized_pnl(self.quote_rates)),
            }
        )

    def _track(self, actor: PositionActor) -> None:
        spec = actor.position.spec
        if actor.state is S.SETTLED:
            self.open_pairs.pop(actor.position_id, None)
        else:
            self.open_pairs[actor.position_id] = OpenPair(
                spec.asset, spec.long.venue, spec.short.venue, actor.state
            )

    def _book_settled(self, actor: PositionActor) -> None:
        """Fold a settled position (or a later change to it: funding) into the running
        totals and today's PnL."""
        pos = actor.position
        pnl, fees = pos.realized_pnl(self.quote_rates), pos.fees()
        if actor.settled_booked is None:
            spec = pos.spec
            self.settled.count += 1
            self.settled.notional += (
                spec.qty * spec.long_price * quote_rate(self.quote_rates, spec.long)
            )
            before_pnl, before_fees = _ZERO, _ZERO
        else:
            before_pnl, before_fees = actor.settled_booked
        if actor.settled_booked == (pnl, fees):
            return
        actor.settled_booked = (pnl, fees)
        self.settled.pnl += pnl - before_pnl
        self.settled.fees += fees - before_fees
        day = int(self.wall_clock() // _DAY)
        self.pnl_by_day[day] = self.pnl_by_day.get(day, _ZERO) + (pnl - before_pnl)
        for old in [d for d in self.pnl_by_day if d < day - 7]:
            del self.pnl_by_day[old]

    def _evict_settled(self) -> None:
        """Drop the oldest ended SETTLED actors beyond ``service.max_settled_in_memory``.
        Their totals are in :attr:`settled`; their history is in the journal."""
        cap = self.config.service.max_settled_in_memory
        while len(self._settled_order) > cap:
            pid = self._settled_order.popleft()
            if self.actors.pop(pid, None) is not None:
                self.archived += 1
            self.entry_spread.pop(pid, None)

    # -- views ---------------------------------------------------------------------------------
    def unsettled(self) -> Iterator[PositionActor]:
        """Live actors whose position is not SETTLED."""
        return (a for a in self.live.values() if a.state is not S.SETTLED)

    def holding(self, venue: str, asset: str) -> Iterator[tuple[PositionActor, ev.LegRole]]:
        """Every running live actor with a leg on ``venue`` in ``asset`` (held or not)."""
        for actor in self.live.values():
            spec = actor.position.spec
            if actor.done.is_set() or spec.asset != asset:
                continue
            legs: tuple[tuple[ev.LegRole, Instrument], ...] = (
                ("long", spec.long),
                ("short", spec.short),
            )
            for leg, inst in legs:
                if inst.venue == venue:
                    yield actor, leg

    def exposure(self) -> Exposure:
        """What is open now, for the risk gate (reference currency, base units)."""
        by_venue: dict[str, Decimal] = {}
        delta: dict[str, Decimal] = {}
        total = _ZERO
        open_positions = 0
        for actor in self.unsettled():
            pos = actor.position
            open_positions += 1
            spec = pos.spec
            for inst, price in ((spec.long, spec.long_price), (spec.short, spec.short_price)):
                notional = spec.qty * price * quote_rate(self.quote_rates, inst)
                by_venue[inst.venue] = by_venue.get(inst.venue, _ZERO) + notional
                total += notional
            delta[spec.asset] = delta.get(spec.asset, _ZERO) + pos.net_exposure()
        day = int(self.wall_clock() // _DAY)
        return Exposure(
            open_positions=open_positions,
            notional_by_venue=by_venue,
            total_notional=total,
            net_delta_by_asset=delta,
            realized_pnl_today=self.pnl_by_day.get(day, _ZERO),
        )

    def positions_by_state(self) -> Counter[str]:
        """Every position of this run by state, evicted ones included."""
        counts = Counter(a.state.name for a in self.unsettled())
        if self.settled.count:
            counts[S.SETTLED.name] = self.settled.count
        return counts

    def realized_pnl(self) -> Decimal:
        """Σ PnL of SETTLED positions (flat legs), in the reference currency.

        A position that still holds a leg has cash flows, not a realised result, so HEDGED
        and FAULTED positions are not included (their fees are, in :meth:`fees`).
        """
        return self.settled.pnl

    def fees(self) -> Decimal:
        """Σ fees of every position of this run (settled ones from the running totals)."""
        return self.settled.fees + sum((a.position.fees() for a in self.unsettled()), _ZERO)

    def statistics(self) -> dict[str, Any]:
        return {
            "in_memory": len(self.actors),
            "live": len(self.live),
            "archived": self.archived,
            "opened": self.opened,
        }
