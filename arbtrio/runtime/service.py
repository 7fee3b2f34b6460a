"""The running service: the supervisor tree of design §1.

::

    Runtime.run                               root nursery
    ├── journal writer                        Journal.run (the one SQLite writer)
    ├── services nursery
    │   ├── venue supervisor × N              _run_venue: restarts books / orders / account
    │   │   ├── books                         client.run_books → L2Books → _on_book (conflated)
    │   │   ├── orders                        client.run_order_stream → router (lossless)
    │   │   ├── router                        OrderRouter.run_stream: cid → position inbox
    │   │   └── account                       funding rates, venue positions (periodic)
    │   └── admin server                      AdminServer.run (Unix socket, JSON-RPC)
    ├── positions nursery                     one PositionActor per position
    └── control nursery
        ├── strategy                          wakes on book changes → detector → gate → open
        ├── ticker                            Tick with quotes to positions with work to do
        ├── watchdog                          venue health, net-delta watchdog
        ├── control                           operator commands from the admin socket
        ├── funding                           at each venue's funding time: FundingPaid to
        │                                     every position holding a leg there
        └── reconciler                        restart: resolve in-flight orders, compare
                                              venue positions, then allow opening

Ownership: each actor owns its position; the strategy owns opening decisions and the risk
gate's checks; the control task owns operator commands; venue supervisors own their venue's
task state; the router owns the client-order-id table. Everything else reads between awaits.

Shutdown (SIGINT/SIGTERM → :meth:`Runtime.request_stop`, or the admin ``kill``): stop opening;
flatten every position (``shutdown = "flatten"``, or ``kill``) or let only the unstable ones
settle (``"leave_hedged"``); drain until every position is SETTLED, FAULTED (or HEDGED when
leaving hedged) with nothing in flight, or ``drain_timeout_s`` passes; then cancel the
control tasks, the actors and the venues, in that order, and close the journal last.
"""

from __future__ import annotations

import math
import random
import secrets
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from functools import partial
from typing import Any

import attrs
import structlog
import trio

from arbtrio.config import Config
from arbtrio.core import events as ev
from arbtrio.core.book import L2Book
from arbtrio.core.detector import DetectionStats, exit_signal, find_candidates, quote_rate
from arbtrio.core.instruments import Instrument, format_decimal, round_price
from arbtrio.core.position import OrderState, Position, PositionSpec, PositionState
from arbtrio.core.risk import Exposure, RiskGate
from arbtrio.core.types import FundingRate, OrderEvent, VenuePosition
from arbtrio.runtime import admin as admin_mod
from arbtrio.runtime.actor import PositionActor
from arbtrio.runtime.admin import AdminError, AdminHandler, AdminServer, Hub
from arbtrio.runtime.funding import (
    SETTLEMENT_WAIT_S,
    FundingSettlement,
    FundingSource,
    funding_amount,
    funding_shares,
    next_funding_time,
)
from arbtrio.runtime.journal import Journal, replay, replay_position
from arbtrio.runtime.router import OrderRouter
from arbtrio.venues.base import OrderNotFound, VenueClient, VenueError
from arbtrio.venues.reconnect import Backoff

log = structlog.get_logger("arbtrio.runtime")

S = PositionState
UNSTABLE = (S.IDLE, S.OPENING, S.UNWINDING, S.CLOSING)
_ZERO = Decimal(0)
EPISODE_GAP_S = 5.0
_Holding = tuple[PositionActor, ev.LegRole, Decimal]  # actor, leg, base quantity held
DEAD_MAN_DELAY_S = 10.0  # kill: venues' dead-man switches fire this long after (venue min 5 s)
FUNDING_LATE_S = 10.0  # a funding time found this late is not booked (holdings unknown then)


def _dec(value: float) -> Decimal:
    return Decimal(repr(value))


@attrs.define(eq=False)
class VenueState:
    """One venue's supervision state (owned by its supervisor task)."""

    name: str
    instruments: dict[str, Instrument] = attrs.Factory(dict)  # asset -> instrument
    running: dict[str, bool] = attrs.Factory(dict)  # task -> running
    running_since: dict[str, float] = attrs.Factory(dict)
    failures: dict[str, int] = attrs.Factory(dict)  # consecutive, per task
    restarts: int = 0
    down: bool = False
    last_error: str = ""
    ready: trio.Event = attrs.Factory(trio.Event)  # instruments loaded
    positions: list[VenuePosition] = attrs.Factory(list)
    funding: dict[str, FundingRate] = attrs.Factory(dict)  # asset -> rate


@attrs.define
class SettledTotals:
    """Running totals over every SETTLED position of this run, evicted or not (so they never
    need the actors): count, realised PnL and fees (reference currency), entry notional."""

    count: int = 0
    pnl: Decimal = _ZERO
    fees: Decimal = _ZERO
    notional: Decimal = _ZERO


@attrs.define(eq=False)
class ControlRequest:
    method: str
    params: dict[str, Any]
    reply: trio.MemorySendChannel[Any]


class Runtime:
    """The whole service over a set of venue clients (simulated, paper or live).

    Args:
        config: the validated configuration.
        clients: venue name → client, one per enabled venue.
        journal_path: the journal file (default ``config.service.journal``).
        admin_socket: Unix socket path, or None for no admin server.
        run_id: prefix of position ids (default random); must differ between runs on one
            account because client order ids derive from position ids.
        funding_source: where a funding settlement's rate and mark price come from
            (:mod:`arbtrio.runtime.funding`); None estimates them from the published rate
            and the book.
    """

    def __init__(
        self,
        config: Config,
        clients: Mapping[str, VenueClient],
        *,
        journal_path: str | None = None,
        admin_socket: str | None = None,
        run_id: str | None = None,
        rng: random.Random | None = None,
        wall_clock: Callable[[], float] = time.time,
        funding_source: FundingSource | None = None,
    ) -> None:
        self.config = config
        self.clients = dict(clients)
        self.journal = Journal(
            journal_path or config.service.journal, sync=config.service.journal_sync
        )
        self.admin_socket = admin_socket
        self.run_id = run_id or secrets.token_hex(3)
        self.rng = rng or random.Random()
        self.wall_clock = wall_clock
        self.funding_source = funding_source
        self.quote_rates: dict[str, Decimal] = dict(config.quote_rates)
        svc = config.service
        self.router = OrderRouter(
            self.clients,
            ack_timeout_s=svc.ack_timeout_s,
            query_timeout_s=svc.query_timeout_s,
            on_orphan=self._on_orphan,
        )
        self.gate = RiskGate(config.risk)
        self.detect_stats = DetectionStats()
        self.hub = Hub()
        self.venues = {name: VenueState(name) for name in self.clients}
        self.symbol_asset: dict[tuple[str, str], str] = {}
        # Positions in memory: every live one, and the latest `max_settled_in_memory` settled
        # ones (older ones are evicted: their history stays in the journal).
        self.actors: dict[str, PositionActor] = {}
        self.live: dict[str, PositionActor] = {}  # actors still running (not settled and done)
        self.settled = SettledTotals()
        self.archived = 0  # settled positions evicted from memory
        self._settled_order: deque[str] = deque()  # ended settled actors, oldest first
        self.entry_spread: dict[str, float] = {}
        # counters for status and the summary
        self.opportunities_seen = 0
        self.opened = 0
        self.rejections: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.pnl_by_day: dict[int, Decimal] = {}
        self.funding_settlements: Counter[str] = Counter()  # by source: venue, estimate
        self._funding_booked: dict[tuple[str, str], float] = {}  # (venue, asset) -> last ts
        self.started_at = 0.0
        self.started_wall = 0.0
        # switches
        self.stopping = False
        self.stop_reason = ""
        self.killed = False
        self.reconciling = True
        self.mismatches: dict[str, dict[str, Any]] = {}
        self.override = False
        self.rebuilt: list[str] = []
        # strategy wake-up (conflated)
        self._dirty: set[str] = set()
        self._wake = trio.Event()
        self._episode_last: dict[tuple[str, str, str], float] = {}
        self._traded: dict[tuple[str, str], float] = {}  # (venue, asset) -> last fill time
        self._episode_reason: dict[tuple[str, str, str], str] = {}
        self._breach_since: dict[str, float] = {}
        self._watchdog_acted: set[str] = set()
        self._stop = trio.Event()
        self._stopped = trio.Event()
        self._positions: trio.Nursery | None = None
        self._control_send, self._control_recv = trio.open_memory_channel[ControlRequest](16)
        self._seq = 0
        self.admin: AdminServer | None = None

    # =========================================================================================
    # lifecycle
    # =========================================================================================
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until :meth:`request_stop` (or an admin ``kill``), then shut down gracefully."""
        self.started_at = trio.current_time()
        self.started_wall = self.wall_clock()
        async with trio.open_nursery() as root:
            await root.start(self.journal.run)
            await self.journal.service(
                "start",
                self.started_at,
                run_id=self.run_id,
                mode=self.config.service.mode,
                venues=sorted(self.clients),
            )
            self._rebuild()
            async with trio.open_nursery() as services:
                for venue in self.clients:
                    services.start_soon(self._run_venue, venue)
                if self.admin_socket:
                    self.admin = AdminServer(
                        self.admin_socket, AdminHandler(self._admin_methods(), self.hub)
                    )
                    await services.start(self.admin.run)
                async with trio.open_nursery() as positions:
                    self._positions = positions
                    for pid in self.rebuilt:
                        positions.start_soon(self._run_actor, self.actors[pid])
                    async with trio.open_nursery() as control:
                        control.start_soon(self._guarded, "strategy", self._strategy)
                        control.start_soon(self._guarded, "ticker", self._ticker)
                        control.start_soon(self._guarded, "watchdog", self._watchdog)
                        control.start_soon(self._guarded, "control", self._control_loop)
                        control.start_soon(self._guarded, "funding", self._funding)
                        control.start_soon(self._guarded, "reconciler", self._reconcile)
                        task_status.started()
                        await self._stop.wait()
                        await self._shutdown()
                        control.cancel_scope.cancel()
                    positions.cancel_scope.cancel()
                services.cancel_scope.cancel()
            with trio.CancelScope(shield=True):
                self.hub.close()
                for client in self.clients.values():
                    with trio.move_on_after(2):
                        await client.aclose()
                await self.journal.service(
                    "stop",
                    trio.current_time(),
                    reason=self.stop_reason,
                    positions=dict(self.positions_by_state()),
                    realized_pnl=str(self.realized_pnl()),
                )
                self.journal.close()
        self._stopped.set()
        log.info(
            "service.stopped", reason=self.stop_reason, positions=dict(self.positions_by_state())
        )

    async def _arm_dead_man_switches(self) -> None:
        """Kill path: arm every venue's dead-man switch where its client has one
        (``schedule_cancel``, e.g. Hyperliquid's ``scheduleCancel``), so the venue cancels
        every resting order even if this process dies before the flatten completes. A
        refusal (Hyperliquid requires traded volume) or a timeout is logged, never fatal."""
        at_ms = int((self.wall_clock() + DEAD_MAN_DELAY_S) * 1000)

        async def arm(venue: str, schedule_cancel: Callable[[int], Awaitable[None]]) -> None:
            try:
                with trio.fail_after(self.config.service.ack_timeout_s):
                    await schedule_cancel(at_ms)
            except (VenueError, trio.TooSlowError) as exc:
                log.warning("kill.dead_man_refused", venue=venue, error=str(exc))
                return
            log.warning("kill.dead_man_armed", venue=venue, at_ms=at_ms)
            await self.journal.service("dead_man_armed", trio.current_time(), venue=venue,
                                       at_ms=at_ms)  # fmt: skip

        async with trio.open_nursery() as nursery:
            for venue, client in self.clients.items():
                schedule_cancel = getattr(client, "schedule_cancel", None)
                if schedule_cancel is not None:
                    nursery.start_soon(arm, venue, schedule_cancel)

    def request_stop(self, reason: str = "requested") -> None:
        """Begin a graceful shutdown (idempotent)."""
        if not self._stop.is_set():
            self.stop_reason = reason
            self.stopping = True
            log.info("service.stopping", reason=reason, policy=self.shutdown_policy())
            self._stop.set()

    def shutdown_policy(self) -> str:
        return "flatten" if self.killed else self.config.service.shutdown

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def _shutdown(self) -> None:
        if self.killed:
            await self._arm_dead_man_switches()
        now = trio.current_time()
        policy = self.shutdown_policy()
        for actor in list(self.live.values()):
            if actor.state is S.SETTLED:
                continue
            if policy == "flatten" and actor.state is not S.FAULTED:
                event: ev.Event = (
                    ev.Kill(ts=now, quotes=self._quotes_for(actor))
                    if self.killed
                    else ev.OperatorFlatten(ts=now, quotes=self._quotes_for(actor))
                )
                await actor.send(event)
        with trio.move_on_after(self.config.service.drain_timeout_s) as scope:
            while not self.drained():  # noqa: ASYNC110 (order state changes have no event)
                await trio.sleep(self.config.service.tick_interval_s)
        left = {pid: a.state.name for pid, a in self.live.items() if not self._drained_one(a)}
        if scope.cancelled_caught:
            log.error("service.drain_timeout", undrained=left)
        else:
            log.info("service.drained", positions=dict(self.positions_by_state()))
        await self.journal.service("drained", trio.current_time(), undrained=left, policy=policy)

    def _drained_one(self, actor: PositionActor) -> bool:
        if actor.position.live_orders() or actor.funding_due > 0:
            return False
        ok = {S.SETTLED, S.FAULTED}
        if self.shutdown_policy() == "leave_hedged":
            ok.add(S.HEDGED)
        return actor.state in ok

    def drained(self) -> bool:
        """Every position stable for the shutdown policy with no order in flight."""
        return all(self._drained_one(a) for a in self.live.values())

    async def _guarded(self, name: str, fn: Callable[[], Any]) -> None:
        """Run a control task; a bug in one is logged and the task restarted, not fatal."""
        failures = 0
        while True:
            try:
                await fn()
                return
            except Exception:
                failures += 1
                log.exception("service.task_crashed", task=name, failures=failures)
                await trio.sleep(min(30.0, 0.5 * 2**failures))

    # =========================================================================================
    # journal rebuild and reconciliation
    # =========================================================================================
    def _rebuild(self) -> None:
        """Rebuild every non-settled position from the journal (event sourcing)."""
        for pid, replayed in replay(self.journal.path).items():
            self._seq_from(pid)
            if replayed.position.state is S.SETTLED and not replayed.position.live_orders():
                # The daily loss limit spans restarts: journal times are epoch seconds in
                # real-time runs (EpochClock), so a position settled today still counts.
                day = int(replayed.last_ts // 86_400)
                pnl = replayed.position.realized_pnl(self.quote_rates)
                self.pnl_by_day[day] = self.pnl_by_day.get(day, _ZERO) + pnl
                continue
            actor = self._make_actor(replayed.position)
            self.actors[pid] = self.live[pid] = actor
            if actor.state is S.SETTLED:  # settled with fills owed: it counts as settled
                self._book_settled(actor)
            self.entry_spread[pid] = self._spec_spread(replayed.position.spec)
            self.rebuilt.append(pid)
            log.info(
                "position.rebuilt",
                position_id=pid,
                state=replayed.position.state.name,
                events=replayed.events,
                live_orders=len(replayed.position.live_orders()),
            )

    def _seq_from(self, pid: str) -> None:
        prefix, _, number = pid.rpartition("-")
        if prefix == self.run_id and number.isdigit():
            self._seq = max(self._seq, int(number))

    async def _reconcile(self) -> None:
        """Resolve in-flight orders of rebuilt positions by client order id, then compare
        each venue's positions with what the positions hold. Opening stays blocked until
        every mismatch is resolved or an operator overrides."""
        async with trio.open_nursery() as nursery:
            for venue in self.clients:
                nursery.start_soon(self._reconcile_orders, venue)
        while True:
            await self._compare_positions()
            if not self.mismatches:
                if self.reconciling:
                    log.info("reconcile.done", rebuilt=len(self.rebuilt))
                    await self.journal.service(
                        "reconciled", trio.current_time(), rebuilt=self.rebuilt
                    )
                self.reconciling = False
                return
            if self.override:
                self.reconciling = False
                return
            await trio.sleep(10.0)

    async def _reconcile_orders(self, venue: str) -> None:
        state = self.venues[venue]
        await state.ready.wait()
        client = self.clients[venue]
        for pid in list(self.rebuilt):
            actor = self.actors.get(pid)
            if actor is None:  # settled and evicted meanwhile
                continue
            for order in actor.position.live_orders():
                if order.venue != venue:
                    continue
                if order.status is OrderState.SENT:
                    # The send was cut short by the restart and will never end by itself:
                    # its outcome is unknown, which makes the machine query it (never re-send).
                    await actor.send(
                        ev.LegOutcomeUnknown(
                            client_order_id=order.client_order_id,
                            reason="send interrupted by a restart",
                            ts=trio.current_time(),
                        )
                    )
                    log.info(
                        "reconcile.send_interrupted",
                        venue=venue,
                        position_id=pid,
                        client_order_id=order.client_order_id,
                    )
                    continue
                key = f"order:{venue}:{order.client_order_id}"
                for attempt in range(1, 6):
                    error = ""
                    report = None
                    try:
                        with trio.fail_after(self.config.service.query_timeout_s):
                            report = await client.query_order(order.symbol, order.client_order_id)
                    except OrderNotFound:
                        report = None
                    except VenueError as exc:
                        error = f"{type(exc).__name__}: {exc.message}"
                    except trio.TooSlowError:
                        error = "query timed out"
                    if error:
                        self.mismatches[key] = {
                            "kind": "order_unresolved",
                            "venue": venue,
                            "position_id": pid,
                            "client_order_id": order.client_order_id,
                            "error": error,
                        }
                        await trio.sleep(min(30.0, 2.0**attempt))
                        continue
                    self.mismatches.pop(key, None)
                    await actor.send(
                        ev.OutcomeResolved(
                            client_order_id=order.client_order_id,
                            report=report,
                            ts=trio.current_time(),
                        )
                    )
                    log.info(
                        "reconcile.order_resolved",
                        venue=venue,
                        position_id=pid,
                        client_order_id=order.client_order_id,
                        status=None if report is None else report.status.value,
                    )
                    break

    async def _compare_positions(self) -> None:
        """Venue positions vs Σ of what positions hold (waits for in-flight orders)."""
        for _ in range(50):
            if not any(a.position.live_orders() for a in self.live.values()):
                break
            await trio.sleep(0.2)
        expected: dict[tuple[str, str], Decimal] = {}
        for actor in self.live.values():
            pos = actor.position
            for inst, held in (
                (pos.spec.long, pos.held("long")),
                (pos.spec.short, -pos.held("short")),
            ):
                key = (inst.venue, inst.symbol)
                expected[key] = expected.get(key, _ZERO) + held
        for venue, client in self.clients.items():
            state = self.venues[venue]
            with trio.move_on_after(self.config.service.query_timeout_s):
                await state.ready.wait()
            if not state.ready.is_set():
                self.mismatches[f"positions:{venue}"] = {
                    "kind": "positions_unavailable",
                    "venue": venue,
                    "error": f"venue not ready: {state.last_error or 'instruments not loaded'}",
                }
                continue
            try:
                with trio.fail_after(self.config.service.query_timeout_s):
                    positions = await client.fetch_positions()
            except (VenueError, trio.TooSlowError) as exc:
                self.mismatches[f"positions:{venue}"] = {
                    "kind": "positions_unavailable",
                    "venue": venue,
                    "error": f"{type(exc).__name__}: {exc}",
                }
                continue
            self.mismatches.pop(f"positions:{venue}", None)
            state.positions = positions
            actual = {(p.venue, p.symbol): p.qty for p in positions}
            symbols = {s for (v, s) in expected if v == venue} | {
                s for (v, s) in actual if v == venue
            }
            for symbol in symbols:
                want = expected.get((venue, symbol), _ZERO)
                have = actual.get((venue, symbol), _ZERO)
                mkey = f"position:{venue}:{symbol}"
                if want != have:
                    if mkey not in self.mismatches:
                        log.error(
                            "reconcile.position_mismatch",
                            venue=venue,
                            symbol=symbol,
                            journal=str(want),
                            venue_qty=str(have),
                        )
                    self.mismatches[mkey] = {
                        "kind": "position_mismatch",
                        "venue": venue,
                        "symbol": symbol,
                        "journal": str(want),
                        "venue_qty": str(have),
                    }
                else:
                    self.mismatches.pop(mkey, None)

    # =========================================================================================
    # venues
    # =========================================================================================
    async def _run_venue(self, venue: str) -> None:
        """Supervise one venue: never lets a failure escape to the service."""
        structlog.contextvars.bind_contextvars(venue=venue)
        state = self.venues[venue]
        client = self.clients[venue]
        vcfg = self.config.venues.get(venue)
        backoff = Backoff() if vcfg is None else Backoff(
            base=vcfg.backoff.base_s, factor=vcfg.backoff.factor, cap=vcfg.backoff.cap_s,
            jitter=vcfg.backoff.jitter,
        )  # fmt: skip
        down_after = 5 if vcfg is None else vcfg.down_after
        await self._load_instruments(venue, backoff, down_after)
        symbols = [inst.symbol for inst in state.instruments.values()]
        send, receive = trio.open_memory_channel[OrderEvent](
            self.config.service.order_stream_capacity
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.router.run_stream, receive)
            nursery.start_soon(
                self._supervise, venue, "orders", lambda: client.run_order_stream(send.clone()),
                backoff, down_after,
            )  # fmt: skip
            nursery.start_soon(
                self._supervise, venue, "books", partial(client.run_books, symbols, self._on_book),
                backoff, down_after,
            )  # fmt: skip
            nursery.start_soon(
                self._supervise, venue, "account", partial(self._poll_account, venue, symbols),
                backoff, down_after,
            )  # fmt: skip

    async def _load_instruments(self, venue: str, backoff: Backoff, down_after: int) -> None:
        state = self.venues[venue]
        client = self.clients[venue]
        failures = 0
        while True:
            try:
                instruments = await client.load_instruments()
                break
            except Exception as exc:
                failures += 1
                state.last_error = f"load_instruments: {type(exc).__name__}: {exc}"
                state.down = failures >= down_after
                delay = backoff.delay(failures, self.rng)
                log.warning("venue.instruments_failed", error=state.last_error, retry_in_s=delay)
                await trio.sleep(delay)
        wanted = set(self.config.assets)
        for inst in instruments:
            if inst.asset in wanted:
                state.instruments[inst.asset] = inst
                self.symbol_asset[(venue, inst.symbol)] = inst.asset
                if inst.quote not in self.quote_rates:
                    state.last_error = f"no quote rate for {inst.quote}"
                    log.error("venue.quote_rate_missing", quote=inst.quote, symbol=inst.symbol)
        missing = sorted(wanted - set(state.instruments))
        if missing:
            log.warning("venue.assets_missing", assets=missing)
        state.ready.set()
        log.info("venue.ready", symbols=sorted(i.symbol for i in state.instruments.values()))

    async def _supervise(
        self,
        venue: str,
        what: str,
        fn: Callable[[], Any],
        backoff: Backoff,
        down_after: int,
    ) -> None:
        """Run ``fn`` forever; restart it with backoff and jitter when it fails or returns.

        After ``down_after`` consecutive failures the venue is marked down (the strategy
        skips it); a task that has run for ``healthy_after`` seconds clears its streak
        (see :meth:`_refresh_venue_health`).
        """
        state = self.venues[venue]
        client = self.clients[venue]
        while True:
            state.running[what] = True
            state.running_since[what] = trio.current_time()
            try:
                await fn()
                error = "task returned"
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            finally:
                state.running[what] = False
            if what == "books":
                for book in client.books.values():
                    book.invalidate(f"feed task failed: {error}")
            failures = state.failures.get(what, 0) + 1
            state.failures[what] = failures
            state.restarts += 1
            state.last_error = f"{what}: {error}"
            if failures >= down_after and not state.down:
                state.down = True
                log.error("venue.down", task=what, failures=failures, error=error)
            delay = backoff.delay(failures, self.rng)
            log.warning(
                "venue.task_failed",
                task=what,
                error=error,
                failures=failures,
                down=state.down,
                retry_in_s=round(delay, 3),
            )
            await trio.sleep(delay)

    def _refresh_venue_health(self) -> None:
        now = trio.current_time()
        for venue, state in self.venues.items():
            cfg = self.config.venues.get(venue)
            healthy_after = 2 * (cfg.backoff.cap_s if cfg else 30.0)
            healthy_after = min(healthy_after, 10.0)
            for what, running in state.running.items():
                if running and now - state.running_since.get(what, now) >= healthy_after:
                    state.failures[what] = 0
            if state.down and all(state.running.values()) and not any(state.failures.values()):
                state.down = False
                log.info("venue.up", venue=venue)

    async def _poll_account(self, venue: str, symbols: Sequence[str]) -> None:
        state = self.venues[venue]
        client = self.clients[venue]
        while True:
            try:
                rates = await client.fetch_funding(symbols)
                for rate in rates:
                    asset = self.symbol_asset.get((venue, rate.symbol))
                    if asset is not None:
                        state.funding[asset] = rate
                state.positions = await client.fetch_positions()
            except VenueError as exc:
                log.warning("venue.account_poll_failed", error=f"{type(exc).__name__}: {exc}")
            await trio.sleep(self.config.service.account_poll_s)

    def venue_up(self, venue: str) -> bool:
        """Usable for new positions: feeds and order stream running, not marked down."""
        state = self.venues.get(venue)
        if state is None or state.down or not state.ready.is_set():
            return False
        client = self.clients[venue]
        if client.health.down:
            return False
        return state.running.get("books", False) and state.running.get("orders", False)

    def _on_book(self, book: L2Book) -> None:
        """Feed callback after every applied message: mark dirty, wake the strategy."""
        asset = self.symbol_asset.get((book.venue, book.symbol))
        if asset is None:
            return
        self._dirty.add(asset)
        self._wake.set()

    async def _on_orphan(self, venue: str, event: OrderEvent) -> None:
        from arbtrio.runtime import codec

        await self.journal.append(
            _record_orphan(venue, event, codec.encode(event), type(event).__name__)
        )

    # =========================================================================================
    # strategy
    # =========================================================================================
    async def _strategy(self) -> None:
        """Wake on book changes; evaluate each changed asset once on current books."""
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            dirty, self._dirty = self._dirty, set()
            for asset in sorted(dirty):
                await self._evaluate(asset, trio.current_time())

    def book_for(self, venue: str, asset: str) -> tuple[Instrument, L2Book] | None:
        inst = self.venues[venue].instruments.get(asset)
        if inst is None:
            return None
        book = self.clients[venue].books.get(inst.symbol)
        return None if book is None else (inst, book)

    def tradable_quotes(self, asset: str) -> dict[str, tuple[Instrument, L2Book]]:
        out = {}
        for venue in self.clients:
            if not self.venue_up(venue):
                continue
            pair = self.book_for(venue, asset)
            if pair is not None:
                out[venue] = pair
        return out

    def funding_for(self, asset: str) -> dict[str, FundingRate]:
        return {v: s.funding[asset] for v, s in self.venues.items() if asset in s.funding}

    async def _evaluate(self, asset: str, now: float) -> None:
        await self._check_exits(asset, now)
        quotes = self.tradable_quotes(asset)
        if len(quotes) < 2:
            return
        detector = self.config.detector
        funding = self.funding_for(asset) if detector.include_funding else None
        # Candidates carry the float figures; only the one we try to trade is materialised.
        candidates = find_candidates(
            asset,
            quotes,
            now=now,
            config=detector,
            quote_rates=self.quote_rates,
            funding=funding,
            stats=self.detect_stats,
        )
        self._count_episodes(asset, candidates, now)
        if not candidates:
            return
        reason = self._asset_block(asset)
        chosen = None
        if reason is None:
            for candidate in candidates:  # best edge first: the first one we may trade
                reason = self._pair_block(candidate)
                if reason is None:
                    chosen = candidate
                    break
            else:
                reason = self._pair_block(candidates[0])
        if chosen is not None:
            opportunity = chosen.materialize()
            decision = self.gate.check(opportunity, self.exposure())
            if decision.approved:
                await self._open(opportunity, now)
                return
            reason = decision.reason
        opp = chosen or candidates[0]
        assert reason is not None
        episode = (asset, opp.long.venue, opp.short.venue)
        if self._episode_reason.get(episode) != reason:
            self._episode_reason[episode] = reason
            self.rejections[reason] += 1
            log.debug(
                "opportunity.rejected",
                asset=asset,
                long=opp.long.venue,
                short=opp.short.venue,
                edge_bps=round(opp.edge_bps, 2),
                reason=reason,
            )

    def _count_episodes(self, asset: str, opps: Sequence[Any], now: float) -> None:
        """An opportunity *episode* is one (asset, long venue, short venue) pair showing edge
        over the threshold; it ends after ``EPISODE_GAP_S`` without showing (so a pair that
        flickers around the threshold counts once)."""
        for opp in opps:
            key = (asset, opp.long.venue, opp.short.venue)
            last = self._episode_last.get(key)
            if last is None or now - last > EPISODE_GAP_S:
                self.opportunities_seen += 1
                self._episode_reason.pop(key, None)
            self._episode_last[key] = now

    def _asset_block(self, asset: str) -> str | None:
        """Why the runtime will open nothing on ``asset`` now (before the gate), or None."""
        if self.stopping:
            return "stopping"
        if self.reconciling and not self.override:
            return "reconciling"
        for actor in self.live.values():
            if actor.position.spec.asset == asset and actor.state in (
                S.IDLE,
                S.OPENING,
                S.UNWINDING,
            ):
                return "asset_busy"  # its fills are not in the books yet
        return None

    def _pair_block(self, opp: Any) -> str | None:
        """Why this venue pair may not be traded now, or None.

        * ``opposite_leg_open``: a venue nets every position of the account per symbol, so a
          long leg where another position is short (or the reverse) would cancel out at the
          venue and make both positions' reduce-only closes fail.
        * ``book_not_refreshed``: our own last fills on a venue are not in its book yet.
        """
        asset = opp.asset
        for actor in self.live.values():
            spec = actor.position.spec
            if spec.asset != asset or actor.state is S.SETTLED:
                continue
            if spec.short.venue == opp.long.venue or spec.long.venue == opp.short.venue:
                return "opposite_leg_open"
        for venue in (opp.long.venue, opp.short.venue):
            traded = self._traded.get((venue, asset))
            pair = self.book_for(venue, asset)
            if traded is not None and (pair is None or pair[1].last_update_ts <= traded):
                return "book_not_refreshed"
        return None

    async def _open(self, opp: Any, now: float) -> None:
        self._seq += 1
        pid = f"{self.run_id}-{self._seq}"
        try:
            spec = PositionSpec(
                position_id=pid,
                asset=opp.asset,
                long=opp.long,
                short=opp.short,
                qty=opp.qty,
                long_price=opp.long_price,
                short_price=opp.short_price,
                policy=self.config.execution,
                created_ts=now,
            )
        except ValueError as exc:
            self.rejections["invalid_spec"] += 1
            log.warning("opportunity.invalid_spec", error=str(exc))
            return
        actor = self._make_actor(Position(spec))
        self.actors[pid] = self.live[pid] = actor
        self.entry_spread[pid] = opp.gross_bps
        self.opened += 1
        await self.journal.position_created(spec, now)
        log.info(
            "position.open",
            position_id=pid,
            asset=opp.asset,
            long=opp.long.venue,
            short=opp.short.venue,
            qty=format_decimal(opp.qty),
            edge_bps=round(opp.edge_bps, 2),
            gross_bps=round(opp.gross_bps, 2),
        )
        assert self._positions is not None
        self._positions.start_soon(self._run_actor, actor)
        await actor.send(ev.Open(ts=now))

    def _make_actor(self, position: Position) -> PositionActor:
        return PositionActor(
            position,
            journal=self.journal,
            router=self.router,
            on_transition=self._on_transition,
            on_settled=self._book_settled,
            capacity=self.config.service.inbox_capacity,
        )

    async def _run_actor(self, actor: PositionActor) -> None:
        try:
            await actor.run()
        except Exception:
            log.exception(
                "position.actor_crashed", position_id=actor.position_id, state=actor.state.name
            )
            return
        self.live.pop(actor.position_id, None)
        if actor.state is S.SETTLED:
            self._settled_order.append(actor.position_id)
            self._evict_settled()

    def _evict_settled(self) -> None:
        """Drop the oldest ended SETTLED actors beyond ``service.max_settled_in_memory``.
        Their totals are in :attr:`settled`; their history is in the journal."""
        cap = self.config.service.max_settled_in_memory
        while len(self._settled_order) > cap:
            pid = self._settled_order.popleft()
            if self.actors.pop(pid, None) is not None:
                self.archived += 1
            self.entry_spread.pop(pid, None)

    def _book_settled(self, actor: PositionActor) -> None:
        """Fold a settled position (or a later change to it: funding) into the running
        totals and today's PnL; runs in the actor's task after each event in SETTLED."""
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
        day = int(self.wall_clock() // 86_400)
        self.pnl_by_day[day] = self.pnl_by_day.get(day, _ZERO) + (pnl - before_pnl)
        for old in [d for d in self.pnl_by_day if d < day - 7]:
            del self.pnl_by_day[old]

    async def _check_exits(self, asset: str, now: float) -> None:
        detector = self.config.detector
        for actor in list(self.live.values()):
            spec = actor.position.spec
            if spec.asset != asset or actor.state is not S.HEDGED or actor.exit_requested:
                continue
            long_pair = self.book_for(spec.long.venue, asset)
            short_pair = self.book_for(spec.short.venue, asset)
            if long_pair is None or short_pair is None:
                continue
            reason = exit_signal(
                long_pair[0],
                long_pair[1],
                short_pair[0],
                short_pair[1],
                entry_spread_bps=self.entry_spread.get(actor.position_id, 0.0),
                opened_ts=spec.created_ts,
                now=now,
                config=detector,
                quote_rates=self.quote_rates,
                qty=float(spec.qty),
            )
            if reason is not None:
                actor.exit_requested = True
                log.info("position.exit_signal", position_id=actor.position_id, reason=reason)
                await actor.send(
                    ev.ExitSignal(reason=reason, ts=now, quotes=self._quotes_for(actor))
                )

    def _spec_spread(self, spec: PositionSpec) -> float:
        rl = quote_rate(self.quote_rates, spec.long)
        rs = quote_rate(self.quote_rates, spec.short)
        return float((spec.short_price * rs / (spec.long_price * rl) - 1) * 10_000)

    def _on_transition(
        self,
        actor: PositionActor,
        before: PositionState,
        after: PositionState,
        event: ev.Event,
        commands: Sequence[ev.Command],
    ) -> None:
        """Runs in the actor's task after each transition: counters, breaker, watchers."""
        spec = actor.position.spec
        for inst in (spec.long, spec.short):
            self._traded[(inst.venue, spec.asset)] = trio.current_time()
        if before is not after:
            if before is S.OPENING and after is S.HEDGED:
                self.gate.record_outcome(True)
            elif before is S.OPENING or after is S.FAULTED:
                self.gate.record_outcome(False)
            if after in (S.SETTLED, S.FAULTED, S.HEDGED):
                self.outcomes[f"{before.name}->{after.name}"] += 1
        self.hub.publish(
            {
                "position_id": actor.position_id,
                "asset": actor.position.spec.asset,
                "ts": event.ts,
                "from": before.name,
                "event": type(event).__name__,
                "to": after.name,
                "reason": actor.position.history[-1].reason
                if before is not after and actor.position.history
                else "",
                "commands": [type(c).__name__ for c in commands],
                "realized_pnl": format_decimal(actor.position.realized_pnl(self.quote_rates)),
            }
        )

    # =========================================================================================
    # funding
    # =========================================================================================
    async def _funding(self) -> None:
        """At each venue symbol's funding time, book funding on every position holding a leg
        there: the holdings are taken at that instant, the settlement (rate, mark) is looked
        up (or estimated) in a task of its own, then each leg gets ``FundingPaid``."""
        async with trio.open_nursery() as bookings:
            while True:
                now = trio.current_time()
                upcoming = []
                for ts, venue, asset in self._funding_schedule(now):
                    if ts > now:
                        upcoming.append(ts)
                        continue
                    self._funding_booked[(venue, asset)] = ts
                    if now - ts > FUNDING_LATE_S:
                        log.warning("funding.missed", venue=venue, asset=asset, funding_ts=ts)
                        continue
                    holdings = self._funding_holdings(venue, asset)
                    if holdings:
                        bookings.start_soon(self._book_funding, venue, asset, ts, holdings)
                wait = min(upcoming, default=now + 1.0) - now
                await trio.sleep(min(max(wait, 0.0), 1.0))

    def _funding_schedule(self, now: float) -> list[tuple[float, str, str]]:
        """``(next funding time, venue, asset)`` of every symbol whose funding is known."""
        out = []
        for venue, state in self.venues.items():
            for asset, rate in state.funding.items():
                after = self._funding_booked.get((venue, asset), -math.inf)
                ts = next_funding_time(rate, now, after)
                if ts is not None:
                    out.append((ts, venue, asset))
        return out

    def _funding_holdings(self, venue: str, asset: str) -> list[_Holding]:
        """Every live position's leg on ``venue`` holding ``asset`` now, with its holding.
        Each actor is told it is owed one more funding event (it will not end before)."""
        out: list[_Holding] = []
        for actor in self.live.values():
            spec = actor.position.spec
            if actor.done.is_set() or spec.asset != asset:
                continue
            legs: tuple[tuple[ev.LegRole, Instrument], ...] = (
                ("long", spec.long),
                ("short", spec.short),
            )
            for leg, inst in legs:
                if inst.venue != venue:
                    continue
                held = actor.position.held(leg)
                if held > 0:
                    actor.funding_due += 1
                    out.append((actor, leg, held))
        return out

    async def _book_funding(
        self,
        venue: str,
        asset: str,
        ts: float,
        holdings: list[_Holding],
    ) -> None:
        """Book one settlement on ``holdings``. Whatever happens, no actor is left waiting
        for funding that will not come (it would never end)."""
        delivered: list[_Holding] = []
        try:
            await self._settle_funding(venue, asset, ts, holdings, delivered)
        except Exception:
            log.exception("funding.booking_failed", venue=venue, asset=asset, funding_ts=ts)
        finally:
            for actor, _, _ in holdings[len(delivered) :]:
                actor.funding_due -= 1
                if actor.finished():  # wake it so that it ends
                    actor.offer(ev.Tick(ts=trio.current_time()))

    async def _settle_funding(
        self,
        venue: str,
        asset: str,
        ts: float,
        holdings: list[_Holding],
        delivered: list[_Holding],
    ) -> None:
        symbol = self.venues[venue].instruments[asset].symbol
        settlement: FundingSettlement | None = None
        if self.funding_source is not None:
            with trio.move_on_after(SETTLEMENT_WAIT_S):
                try:
                    settlement = await self.funding_source(venue, symbol, ts)
                except Exception:
                    log.exception("funding.source_failed", venue=venue, symbol=symbol)
        if settlement is None:
            settlement = self._estimate_settlement(venue, asset, ts)
        self.funding_settlements[settlement.source] += 1
        mark = settlement.mark_price
        if mark is not None:  # the venue's one amount, split among the holders
            marks = [mark] * len(holdings)
            shares = [(leg, held) for _, leg, held in holdings]
            amounts = funding_shares(shares, mark, settlement.rate)
        else:  # no usable book: each leg's reference price
            marks = [
                a.position.spec.long_price if leg == "long" else a.position.spec.short_price
                for a, leg, _ in holdings
            ]
            amounts = [
                funding_amount(leg, held, mark, settlement.rate)
                for (_, leg, held), mark in zip(holdings, marks, strict=True)
            ]
        legs = []
        for (actor, leg, held), mark, amount in zip(holdings, marks, amounts, strict=True):
            event = ev.FundingPaid(leg=leg, amount=amount, ts=trio.current_time())
            sent = await actor.send(event)
            delivered.append((actor, leg, held))
            if sent:
                legs.append(
                    {
                        "position_id": actor.position_id,
                        "leg": leg,
                        "held": format_decimal(held),
                        "mark_price": format_decimal(mark),
                        "amount": format_decimal(amount),
                    }
                )
        log.info(
            "funding.booked",
            venue=venue,
            symbol=symbol,
            funding_ts=ts,
            rate=format_decimal(settlement.rate),
            source=settlement.source,
            legs=legs,
        )
        await self.journal.service(
            "funding",
            trio.current_time(),
            venue=venue,
            symbol=symbol,
            funding_ts=ts,
            rate=format_decimal(settlement.rate),
            mark_price=None
            if settlement.mark_price is None
            else format_decimal(settlement.mark_price),
            source=settlement.source,
            legs=legs,
        )

    def _estimate_settlement(self, venue: str, asset: str, ts: float) -> FundingSettlement:
        """The rate last published for the symbol and the book's mid now (at the funding
        time unless a source was tried first), rounded to the venue's tick; no mark when the
        book is unusable."""
        inst = self.venues[venue].instruments[asset]
        rate = self.venues[venue].funding[asset]
        mark = None
        book = self.clients[venue].books.get(inst.symbol)
        if book is not None and book.tradable and not book.is_crossed():
            bid, ask = book.best_bid(), book.best_ask()
            if bid is not None and ask is not None and bid[0] > 0 and ask[0] > 0:
                mark = round_price(inst, (_dec(bid[0]) + _dec(ask[0])) / 2)
        return FundingSettlement(
            venue=venue,
            symbol=inst.symbol,
            ts=ts,
            rate=rate.rate,
            mark_price=mark,
            source="estimate",
        )

    # =========================================================================================
    # ticker and watchdog
    # =========================================================================================
    def _quote(self, venue: str, symbol: str, now: float) -> ev.Quote | None:
        client = self.clients.get(venue)
        if client is None:
            return None
        book = client.books.get(symbol)
        if book is None or not book.tradable or book.is_crossed():
            return None
        if (now - book.last_update_ts) * 1000.0 > self.config.detector.max_quote_age_ms:
            return None
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None or bid[0] <= 0 or ask[0] <= 0:
            return None
        return ev.Quote(bid=_dec(bid[0]), ask=_dec(ask[0]))

    def _quotes_for(self, actor: PositionActor) -> dict[str, ev.Quote]:
        now = trio.current_time()
        out = {}
        for inst in (actor.position.spec.long, actor.position.spec.short):
            q = self._quote(inst.venue, inst.symbol, now)
            if q is not None:
                out[inst.venue] = q
        return out

    async def _ticker(self) -> None:
        """Time passes for every position with work to do (chase TTLs, queries)."""
        interval = self.config.service.tick_interval_s
        while True:
            await trio.sleep(interval)
            now = trio.current_time()
            for actor in list(self.live.values()):
                if actor.done.is_set():
                    continue
                if actor.state in UNSTABLE or actor.position.live_orders():
                    actor.offer(ev.Tick(ts=now, quotes=self._quotes_for(actor)))

    def exposure(self) -> Exposure:
        """What is open now, for the risk gate (reference currency, base units)."""
        by_venue: dict[str, Decimal] = {}
        delta: dict[str, Decimal] = {}
        total = _ZERO
        open_positions = 0
        for actor in self.live.values():
            pos = actor.position
            if pos.state is S.SETTLED:
                continue
            open_positions += 1
            spec = pos.spec
            for inst, price in ((spec.long, spec.long_price), (spec.short, spec.short_price)):
                notional = spec.qty * price * quote_rate(self.quote_rates, inst)
                by_venue[inst.venue] = by_venue.get(inst.venue, _ZERO) + notional
                total += notional
            delta[spec.asset] = delta.get(spec.asset, _ZERO) + pos.net_exposure()
        day = int(self.wall_clock() // 86_400)
        return Exposure(
            open_positions=open_positions,
            notional_by_venue=by_venue,
            total_notional=total,
            net_delta_by_asset=delta,
            realized_pnl_today=self.pnl_by_day.get(day, _ZERO),
        )

    async def _watchdog(self) -> None:
        """Venue health, and the net-delta watchdog: a breach that outlasts the grace period
        flattens the positions of that asset that carry delta (FAULTED ones need an operator:
        a critical alert says so)."""
        svc = self.config.service
        while True:
            await trio.sleep(svc.watchdog_interval_s)
            self._refresh_venue_health()
            now = trio.current_time()
            breached = set(self.gate.net_delta_breached(self.exposure()))
            for asset in list(self._breach_since):
                if asset not in breached:
                    del self._breach_since[asset]
                    self._watchdog_acted.discard(asset)
            for asset in sorted(breached):
                since = self._breach_since.setdefault(asset, now)
                if now - since < svc.watchdog_grace_s or asset in self._watchdog_acted:
                    continue
                self._watchdog_acted.add(asset)
                faulted = []
                flattened = []
                for actor in list(self.live.values()):
                    pos = actor.position
                    if pos.spec.asset != asset or pos.state is S.SETTLED or pos.net_exposure() == 0:
                        continue
                    if pos.state is S.FAULTED:
                        faulted.append(actor.position_id)
                        continue
                    flattened.append(actor.position_id)
                    await actor.send(ev.OperatorFlatten(ts=now, quotes=self._quotes_for(actor)))
                log.critical(
                    "watchdog.net_delta_breached",
                    asset=asset,
                    limit=str(self.config.risk.max_net_delta_per_asset),
                    flattened=flattened,
                    faulted_need_operator=faulted,
                )
                await self.journal.service(
                    "watchdog", now, asset=asset, flattened=flattened, faulted=faulted
                )

    # =========================================================================================
    # operator control (admin socket)
    # =========================================================================================
    async def control(self, method: str, params: dict[str, Any]) -> Any:
        """Ask the control task to perform an operator command; returns its result."""
        send, receive = trio.open_memory_channel[Any](1)
        await self._control_send.send(ControlRequest(method, params, send))
        async with receive:
            result = await receive.receive()
        if isinstance(result, AdminError):
            raise result
        return result

    async def _control_loop(self) -> None:
        async with self._control_recv:
            async for request in self._control_recv:
                try:
                    result = await self._apply_control(request.method, request.params)
                except AdminError as exc:
                    result = exc
                except Exception as exc:  # a bug must not kill operator control
                    log.exception("operator.control_failed", method=request.method)
                    result = AdminError(
                        admin_mod.INTERNAL_ERROR, f"internal error: {type(exc).__name__}"
                    )
                with trio.move_on_after(1):
                    await request.reply.send(result)

    async def _apply_control(self, method: str, params: dict[str, Any]) -> Any:
        now = trio.current_time()
        if method == "pause":
            self.gate.pause()
            await self.journal.service("pause", now)
            log.warning("operator.pause")
            return {"paused": True}
        if method == "resume":
            self.gate.resume()
            self.gate.reset_breaker()
            await self.journal.service("resume", now)
            log.warning("operator.resume")
            return {"paused": False, "breaker": False}
        if method == "override":
            self.override = True
            self.reconciling = False
            await self.journal.service("override", now, mismatches=list(self.mismatches.values()))
            log.warning("operator.override", mismatches=len(self.mismatches))
            return {"reconciling": False, "overridden": list(self.mismatches.values())}
        if method == "flatten":
            targets = self._flatten_targets(params)
            done = []
            for actor in targets:
                if await actor.send(ev.OperatorFlatten(ts=now, quotes=self._quotes_for(actor))):
                    done.append(actor.position_id)
            await self.journal.service("flatten", now, positions=done)
            log.warning("operator.flatten", positions=done)
            return {"flattened": done}
        if method == "kill":
            self.killed = True
            self.stopping = True
            await self.journal.service("kill", now)
            log.critical("operator.kill")
            self.request_stop("kill")
            return {
                "killed": True,
                "positions": [
                    a.position_id for a in self.live.values() if a.state is not S.SETTLED
                ],
            }
        raise AdminError(admin_mod.METHOD_NOT_FOUND, f"unknown control method {method!r}")

    def _flatten_targets(self, params: dict[str, Any]) -> list[PositionActor]:
        if params.get("all") is True:
            return [a for a in self.live.values() if a.state is not S.SETTLED]
        pid = params.get("id")
        if not isinstance(pid, str):
            raise admin_mod.invalid_params('flatten needs {"id": "<position id>"} or {"all": true}')
        actor = self.actors.get(pid)
        if actor is None:
            if self._archived_position(pid) is not None:
                raise AdminError(
                    admin_mod.APPLICATION_ERROR,
                    f"position {pid} is already settled (archived in the journal)",
                )
            raise AdminError(admin_mod.APPLICATION_ERROR, f"unknown position {pid!r}")
        if actor.state is S.SETTLED:
            raise AdminError(admin_mod.APPLICATION_ERROR, f"position {pid} is already settled")
        return [actor]

    def _archived_position(self, pid: str) -> Position | None:
        """A position no longer in memory, rebuilt from the journal (None: never journaled)."""
        replayed = replay_position(self.journal.path, pid)
        return None if replayed is None else replayed.position

    def _admin_methods(self) -> dict[str, admin_mod.AdminMethod]:
        async def status(params: dict[str, Any]) -> Any:
            return self.status()

        async def positions(params: dict[str, Any]) -> Any:
            state = params.get("state")
            rows = [self.position_row(a) for a in self.actors.values()]
            if isinstance(state, str):
                rows = [r for r in rows if r["state"] == state.upper()]
            return rows

        async def position(params: dict[str, Any]) -> Any:
            pid = params.get("id")
            if not isinstance(pid, str):
                raise admin_mod.invalid_params('position needs {"id": "<position id>"}')
            actor = self.actors.get(pid)
            if actor is not None:
                return self.position_view(actor.position)
            archived = self._archived_position(pid)  # evicted: answer from the journal
            if archived is None:
                raise AdminError(admin_mod.APPLICATION_ERROR, f"unknown position {pid!r}")
            return self.position_view(archived, archived=True)

        async def books(params: dict[str, Any]) -> Any:
            return self.books_view()

        def control(name: str) -> admin_mod.AdminMethod:
            async def call(params: dict[str, Any]) -> Any:
                return await self.control(name, params)

            return call

        return {
            "status": status,
            "positions": positions,
            "position": position,
            "books": books,
            **{name: control(name) for name in ("pause", "resume", "flatten", "kill", "override")},
        }

    # =========================================================================================
    # views
    # =========================================================================================
    def positions_by_state(self) -> Counter[str]:
        """Every position of this run by state, evicted ones included."""
        counts = Counter(a.state.name for a in self.live.values() if a.state is not S.SETTLED)
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
        open_fees = sum(
            (a.position.fees() for a in self.live.values() if a.state is not S.SETTLED), _ZERO
        )
        return self.settled.fees + open_fees

    def position_view(self, pos: Position, *, archived: bool = False) -> dict[str, Any]:
        """One position in full (admin ``position``): legs, orders, fills, history, PnL."""
        snap = pos.snapshot()
        snap["state"] = pos.state.name
        snap["realized_pnl"] = format_decimal(pos.realized_pnl(self.quote_rates))
        snap["archived"] = archived
        for t in snap["history"]:
            t["from"] = t["from"].upper()
            t["to"] = t["to"].upper()
        return snap

    def position_row(self, actor: PositionActor) -> dict[str, Any]:
        pos = actor.position
        spec = pos.spec
        legs = []
        for leg, inst in (("long", spec.long), ("short", spec.short)):
            snap_orders = [o for o in pos.orders() if o.leg == leg]
            legs.append(
                {
                    "leg": leg,
                    "venue": inst.venue,
                    "side": "buy" if leg == "long" else "sell",
                    "qty": format_decimal(spec.qty),
                    "filled": format_decimal(pos.held(leg)),  # type: ignore[arg-type]
                    "status": snap_orders[-1].status.value if snap_orders else "idle",
                }
            )
        return {
            "id": spec.position_id,
            "asset": spec.asset,
            "state": pos.state.name,
            "long_venue": spec.long.venue,
            "short_venue": spec.short.venue,
            "qty": format_decimal(spec.qty),
            "net_exposure": format_decimal(pos.net_exposure()),
            "realized_pnl": format_decimal(pos.realized_pnl(self.quote_rates)),
            "fees": format_decimal(pos.fees()),
            "funding": format_decimal(pos.funding()),
            "age_s": round(max(0.0, trio.current_time() - spec.created_ts), 3),
            "live_orders": len(pos.live_orders()),
            "legs": legs,
        }

    def venue_view(self, venue: str, now: float) -> dict[str, Any]:
        state = self.venues[venue]
        client = self.clients[venue]
        ages = [now - b.last_update_ts for b in client.books.values() if b.updates]
        return {
            "up": self.venue_up(venue),
            "down": state.down,
            "tasks": dict(state.running),
            "failures": dict(state.failures),
            "restarts": state.restarts,
            "last_error": state.last_error,
            "books": len(client.books),
            "books_tradable": sum(1 for b in client.books.values() if b.tradable),
            "book_age_s": None if not ages else round(max(ages), 3),
            "health": client.health.snapshot(now),
        }

    def status(self) -> dict[str, Any]:
        now = trio.current_time()
        return {
            "mode": self.config.service.mode,
            "run_id": self.run_id,
            "uptime_s": round(now - self.started_at, 3),
            "paused": self.gate.paused,
            "breaker": self.gate.breaker_tripped,
            "stopping": self.stopping,
            "reconciling": self.reconciling,
            "mismatches": list(self.mismatches.values()),
            "venues": {v: self.venue_view(v, now) for v in sorted(self.clients)},
            "positions": dict(self.positions_by_state()),
            "positions_in_memory": len(self.actors),
            "positions_archived": self.archived,
            "realized_pnl": format_decimal(self.realized_pnl()),
            "fees": format_decimal(self.fees()),
            "funding_settlements": dict(self.funding_settlements),
            "opportunities_seen": self.opportunities_seen,
            "opened": self.opened,
            "rejections": dict(self.rejections),
            "router": attrs.asdict(self.router.stats),
            "journal": attrs.asdict(self.journal.statistics()),
            "watchers": self.hub.subscribers,
        }

    def books_view(self) -> list[dict[str, Any]]:
        now = trio.current_time()
        rows = []
        for venue in sorted(self.clients):
            for symbol, book in sorted(self.clients[venue].books.items()):
                bid, ask = book.best_bid(), book.best_ask()
                rows.append(
                    {
                        "venue": venue,
                        "symbol": symbol,
                        "asset": self.symbol_asset.get((venue, symbol)),
                        "bid": None if bid is None else repr(bid[0]),
                        "bid_size": None if bid is None else repr(bid[1]),
                        "ask": None if ask is None else repr(ask[0]),
                        "ask_size": None if ask is None else repr(ask[1]),
                        "tradable": book.tradable,
                        "reason": book.invalid_reason,
                        "age_s": round(now - book.last_update_ts, 3) if book.updates else None,
                        "seq": book.seq,
                        "updates": book.updates,
                    }
                )
        return rows

    def status_line(self) -> str:
        """One compact line: positions by state, PnL, opportunities, venue health."""
        by_state = self.positions_by_state()
        states = " ".join(
            f"{s.name.lower()} {by_state.get(s.name, 0)}"
            for s in (S.OPENING, S.HEDGED, S.UNWINDING, S.CLOSING, S.SETTLED, S.FAULTED)
        )
        down = [v for v in sorted(self.clients) if not self.venue_up(v)]
        venues = f"venues {len(self.clients) - len(down)}/{len(self.clients)} up" + (
            f" (down: {', '.join(down)})" if down else ""
        )
        now = trio.current_time()
        flags = []
        if self.gate.paused:
            flags.append("PAUSED")
        if self.gate.breaker_tripped:
            flags.append("BREAKER")
        if self.reconciling:
            flags.append("RECONCILING")
        if self.stopping:
            flags.append("STOPPING")
        pnl = self.realized_pnl()
        return (
            f"[{_hms(now - self.started_at)}] {states} | pnl {pnl:+.2f} fees "
            f"{self.fees():.2f} | opps {self.opportunities_seen} opened {self.opened} | "
            f"{venues}" + (f" | {' '.join(flags)}" if flags else "")
        )


def _hms(seconds: float) -> str:
    seconds = max(0, int(seconds)) if math.isfinite(seconds) else 0
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"


def _record_orphan(venue: str, event: OrderEvent, body: dict[str, Any], type_name: str) -> Any:
    from arbtrio.runtime.journal import Record

    return Record(
        ts=trio.current_time(),
        kind="orphan",
        type=type_name,
        client_order_id=event.client_order_id,
        body={"venue": venue, **body},
    )
