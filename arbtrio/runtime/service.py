"""The running service: the supervisor tree, and the rooms each job lives in.

::

    Runtime.run                               root nursery
    ├── journal writer                        Journal.run (the one SQLite writer)
    ├── services nursery
    │   ├── venue supervisor × N              VenueSupervisor.run_venue (runtime/venues.py):
    │   │                                     router, order stream, books, account poller
    │   └── admin server                      AdminServer.run (Unix socket, JSON-RPC)
    ├── positions nursery                     PositionBook.run: one PositionActor per position
    └── control nursery                       each task restarted if it crashes (_guarded)
        ├── strategy                          Strategy.run (runtime/strategy.py)
        ├── ticker                            run_ticker (runtime/watchdog.py)
        ├── watchdog                          Watchdog.run: venue health, net delta
        ├── control                           Control.run: operator commands, one at a time
        ├── funding                           FundingBooker.run (runtime/funding.py)
        └── reconciler                        Reconciler.run (runtime/reconcile.py)

One owner per piece of state: the venue supervisor owns each venue's supervision state;
the position book owns the actors and what is known of them (each actor owns its own
position machine); the strategy owns the detector statistics and opportunity episodes;
the reconciler owns the mismatches; the control task performs operator commands; the
lifecycle owns the stop switches. The market view reads the books the venue feeds own.
Others read between awaits and never write. ``specs/003-runtime.md`` draws the module map
and the path of one tick.

Shutdown (SIGINT/SIGTERM → :meth:`Runtime.request_stop`, or the admin ``kill``): stop opening;
flatten every position (``shutdown = "flatten"``, or ``kill``) or let only the unstable ones
settle (``"leave_hedged"``); drain until every position is SETTLED, FAULTED (or HEDGED when
leaving hedged) with nothing in flight, or ``drain_timeout_s`` passes; then cancel the
control tasks, the actors and the venues, in that order, and close the journal last.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from functools import partial

import structlog
import trio

from arbtrio.config import Config
from arbtrio.core import events as ev
from arbtrio.core.position import PositionState
from arbtrio.core.risk import RiskGate
from arbtrio.runtime import views
from arbtrio.runtime.accounts import Accounts
from arbtrio.runtime.actor import PositionActor
from arbtrio.runtime.admin import AdminHandler, AdminServer, Hub
from arbtrio.runtime.control import Control, admin_methods, arm_dead_man_switches
from arbtrio.runtime.funding import FundingBooker, FundingSource
from arbtrio.runtime.fx import FxTracker
from arbtrio.runtime.journal import Journal
from arbtrio.runtime.lifecycle import Lifecycle
from arbtrio.runtime.market import MarketView
from arbtrio.runtime.metrics import RunMetrics
from arbtrio.runtime.positions import PositionBook
from arbtrio.runtime.reconcile import Reconciler
from arbtrio.runtime.router import OrderRouter, journal_orphans
from arbtrio.runtime.strategy import Strategy
from arbtrio.runtime.venues import VenueSupervisor
from arbtrio.runtime.watchdog import Watchdog, run_ticker
from arbtrio.venues.base import VenueClient

__all__ = ["Runtime"]

log = structlog.get_logger("arbtrio.runtime")

S = PositionState


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
        svc = config.service
        self.config = config
        self.clients = dict(clients)
        self.admin_socket = admin_socket
        self.run_id = run_id or secrets.token_hex(3)
        self.wall_clock = wall_clock
        self.quote_rates: dict[str, Decimal] = dict(config.quote_rates)
        self.journal = Journal(journal_path or svc.journal, sync=svc.journal_sync)
        self.hub = Hub()
        self.gate = RiskGate(config.risk)
        self.lifecycle = Lifecycle(svc.shutdown)
        self._held_hedged: dict[str, str] = {}  # shutdown: HEDGED positions kept hedged, why
        self.router = OrderRouter(
            self.clients,
            ack_timeout_s=svc.ack_timeout_s,
            query_timeout_s=svc.query_timeout_s,
            on_orphan=journal_orphans(self.journal),
        )
        self.venues = VenueSupervisor(config, self.clients, self.router, rng=rng or random.Random())
        self.market = MarketView(config, self.clients, self.venues)
        self.positions = PositionBook(
            config,
            journal=self.journal,
            router=self.router,
            hub=self.hub,
            quote_rates=self.quote_rates,
            wall_clock=wall_clock,
            run_id=self.run_id,
        )
        self.reconciler = Reconciler(
            config, self.clients, self.venues, self.positions, self.journal
        )
        self.accounts = Accounts(
            config,
            clients=self.clients,
            venues=self.venues,
            positions=self.positions,
            quote_rates=self.quote_rates,
            mark=self.market.mark,
        )
        self.strategy = Strategy(
            config,
            market=self.market,
            positions=self.positions,
            accounts=self.accounts,
            gate=self.gate,
            reconciler=self.reconciler,
            lifecycle=self.lifecycle,
            quote_rates=self.quote_rates,
        )
        self.positions.subscribers.append(self.strategy.on_handled)
        self.metrics = RunMetrics(self.quote_rates)  # risk and execution metrics
        self.positions.subscribers.append(self.metrics.on_handled)
        self.funding = FundingBooker(
            venues=self.venues,
            market=self.market,
            positions=self.positions,
            journal=self.journal,
            source=funding_source,
        )
        self.watchdog = Watchdog(
            config,
            positions=self.positions,
            market=self.market,
            accounts=self.accounts,
            gate=self.gate,
            journal=self.journal,
            refresh_health=self.venues.refresh_health,
        )
        self.fx = FxTracker(config.fx, self.quote_rates)
        self.control = Control(self)
        self.admin: AdminServer | None = None
        self.started_at = 0.0
        self.started_wall = 0.0

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until :meth:`request_stop` (or an admin ``kill``), then shut down gracefully."""
        self.started_at = trio.current_time()
        self.started_wall = self.wall_clock()
        svc = self.config.service
        async with trio.open_nursery() as root:
            await root.start(self.journal.run)
            await self.journal.service("start", self.started_at, run_id=self.run_id,
                                       mode=svc.mode, venues=sorted(self.clients))  # fmt: skip
            self.positions.rebuild()
            async with trio.open_nursery() as services:
                for venue in self.clients:
                    services.start_soon(self.venues.run_venue, venue, self.market.on_book)
                if self.admin_socket:
                    handler = AdminHandler(admin_methods(self), self.hub)
                    self.admin = AdminServer(self.admin_socket, handler)
                    await services.start(self.admin.run)
                async with trio.open_nursery() as positions:
                    await positions.start(self.positions.run)
                    async with trio.open_nursery() as control:
                        tasks: dict[str, Callable[[], Awaitable[None]]] = {
                            "strategy": self.strategy.run,
                            "ticker": partial(
                                run_ticker, svc.tick_interval_s, self.positions, self.market
                            ),
                            "watchdog": self.watchdog.run,
                            "control": self.control.run,
                            "funding": self.funding.run,
                            "reconciler": self.reconciler.run,
                            "fx": self.fx.run,
                        }
                        for name, fn in tasks.items():
                            control.start_soon(self._guarded, name, fn)
                        task_status.started()
                        await self.lifecycle.stop_requested.wait()
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
                    reason=self.lifecycle.stop_reason,
                    positions=dict(self.positions.positions_by_state()),
                    realized_pnl=str(self.positions.realized_pnl()),
                )
                self.journal.close()
        self.lifecycle.stopped.set()
        log.info("service.stopped", reason=self.lifecycle.stop_reason,
                 positions=dict(self.positions.positions_by_state()))  # fmt: skip

    def request_stop(self, reason: str = "requested") -> None:
        """Begin a graceful shutdown (idempotent)."""
        self.lifecycle.request_stop(reason)

    async def wait_stopped(self) -> None:
        await self.lifecycle.stopped.wait()

    def status_line(self) -> str:
        return views.status_line(self)

    async def _guarded(self, name: str, fn: Callable[[], Awaitable[None]]) -> None:
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

    async def _shutdown(self) -> None:
        lifecycle = self.lifecycle
        if lifecycle.killed:
            await arm_dead_man_switches(self.clients, self.journal, wall_clock=self.wall_clock,
                                        timeout_s=self.config.service.ack_timeout_s)  # fmt: skip
        now = trio.current_time()
        policy = lifecycle.policy()
        self._held_hedged = {}
        for actor in list(self.positions.unsettled()):
            if policy == "flatten" and actor.state is not S.FAULTED:
                blocker = self.hedge_blocker(actor, now)
                if blocker is not None:
                    self._held_hedged[actor.position_id] = blocker
                    log.error("service.flatten_held", position_id=actor.position_id,
                              reason=blocker)  # fmt: skip
                    continue
                quotes = self.market.quotes_for(actor.position.spec)
                event: ev.Event = (
                    ev.Kill(ts=now, quotes=quotes)
                    if lifecycle.killed
                    else ev.OperatorFlatten(ts=now, quotes=quotes)
                )
                await actor.send(event)
        with trio.move_on_after(self.config.service.drain_timeout_s) as scope:
            while not self.drained():  # noqa: ASYNC110 (order state changes have no event)
                await trio.sleep(self.config.service.tick_interval_s)
        live = self.positions.live
        left = {pid: a.state.name for pid, a in live.items() if not self._drained_one(a)}
        if scope.cancelled_caught:
            log.error("service.drain_timeout", undrained=left)
        else:
            log.info("service.drained", positions=dict(self.positions.positions_by_state()))
        await self.journal.service("drained", trio.current_time(), undrained=left, policy=policy)

    def hedge_blocker(self, actor: PositionActor, now: float) -> str | None:
        """Why a HEDGED position must stay hedged rather than close now (a venue of its pair
        could not take its close), or None; other states are never held."""
        if actor.state is not S.HEDGED:
            return None
        return self.market.exit_blocker(actor.position.spec, now)

    def _drained_one(self, actor: PositionActor) -> bool:
        if actor.position.live_orders() or actor.funding_due > 0:
            return False
        ok = {S.SETTLED, S.FAULTED}
        if self.lifecycle.policy() == "leave_hedged" or actor.position_id in self._held_hedged:
            ok.add(S.HEDGED)
        return actor.state in ok

    def drained(self) -> bool:
        """Every position stable for the shutdown policy with no order in flight."""
        return all(self._drained_one(a) for a in self.positions.live.values())
