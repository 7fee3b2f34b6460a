"""Reconciliation after a restart: resolve in-flight orders, then compare venue positions.

:meth:`Reconciler.run` first asks each venue (once its instruments are loaded) about every
order a rebuilt position still has in flight, by client order id, and feeds the answer to
the position (an order whose send was cut short by the restart is marked unknown, which
makes the machine query it: never re-sent). Then it compares each venue's positions with
what the positions hold (:mod:`arbtrio.core.reconcile`), every 10 s, until nothing
differs. Opening stays blocked (:attr:`Reconciler.blocking`) until every mismatch is
resolved or an operator overrides (:meth:`override`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
import trio

from arbtrio.config import Config
from arbtrio.core import events as ev
from arbtrio.core.position import OrderState
from arbtrio.core.reconcile import expected_holdings, position_mismatches
from arbtrio.runtime.journal import Journal
from arbtrio.runtime.positions import PositionBook
from arbtrio.runtime.venues import VenueSupervisor
from arbtrio.venues.base import OrderNotFound, VenueClient, VenueError

__all__ = ["Reconciler"]

log = structlog.get_logger("arbtrio.runtime")

RECHECK_S = 10.0
ORDER_QUERY_ATTEMPTS = 5


class Reconciler:
    """Owns ``reconciling``, ``mismatches`` (key → JSON description) and ``override``."""

    def __init__(
        self,
        config: Config,
        clients: Mapping[str, VenueClient],
        venues: VenueSupervisor,
        positions: PositionBook,
        journal: Journal,
    ) -> None:
        self.config = config
        self.clients = clients
        self.venues = venues
        self.positions = positions
        self.journal = journal
        self.reconciling = True
        self.overridden = False
        self.mismatches: dict[str, dict[str, Any]] = {}

    @property
    def blocking(self) -> bool:
        """Opening is blocked: reconciling and not overridden."""
        return self.reconciling and not self.overridden

    def override(self) -> list[dict[str, Any]]:
        """The operator allows opening despite the mismatches; returns them."""
        self.overridden = True
        self.reconciling = False
        return list(self.mismatches.values())

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            for venue in self.clients:
                nursery.start_soon(self._reconcile_orders, venue)
        while True:
            await self._compare_positions()
            if not self.mismatches:
                if self.reconciling:
                    rebuilt = self.positions.rebuilt
                    log.info("reconcile.done", rebuilt=len(rebuilt))
                    await self.journal.service("reconciled", trio.current_time(), rebuilt=rebuilt)
                self.reconciling = False
                return
            if self.overridden:
                self.reconciling = False
                return
            await trio.sleep(RECHECK_S)

    async def _reconcile_orders(self, venue: str) -> None:
        await self.venues.venues[venue].ready.wait()
        for pid in list(self.positions.rebuilt):
            actor = self.positions.actors.get(pid)
            if actor is None:  # settled and evicted meanwhile
                continue
            for order in actor.position.live_orders():
                if order.venue != venue:
                    continue
                if order.status is OrderState.SENT:
                    # The send was cut short by the restart and will never end by itself:
                    # its outcome is unknown, which makes the machine query it.
                    await actor.send(
                        ev.LegOutcomeUnknown(
                            client_order_id=order.client_order_id,
                            reason="send interrupted by a restart",
                            ts=trio.current_time(),
                        )
                    )
                    log.info("reconcile.send_interrupted", venue=venue, position_id=pid,
                             client_order_id=order.client_order_id)  # fmt: skip
                    continue
                await self._resolve(venue, pid, actor, order.symbol, order.client_order_id)

    async def _resolve(
        self, venue: str, pid: str, actor: Any, symbol: str, client_order_id: str
    ) -> None:
        """Query one order until the venue answers (or attempts run out: a mismatch)."""
        key = f"order:{venue}:{client_order_id}"
        client = self.clients[venue]
        for attempt in range(1, ORDER_QUERY_ATTEMPTS + 1):
            error = ""
            report = None
            try:
                with trio.fail_after(self.config.service.query_timeout_s):
                    report = await client.query_order(symbol, client_order_id)
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
                    "client_order_id": client_order_id,
                    "error": error,
                }
                await trio.sleep(min(30.0, 2.0**attempt))
                continue
            self.mismatches.pop(key, None)
            await actor.send(
                ev.OutcomeResolved(
                    client_order_id=client_order_id, report=report, ts=trio.current_time()
                )
            )
            log.info("reconcile.order_resolved", venue=venue, position_id=pid,
                     client_order_id=client_order_id,
                     status=None if report is None else report.status.value)  # fmt: skip
            return

    async def _compare_positions(self) -> None:
        """Venue positions vs Σ of what positions hold (waits for in-flight orders)."""
        live = self.positions.live
        for _ in range(50):
            if not any(a.position.live_orders() for a in live.values()):
                break
            await trio.sleep(0.2)
        expected = expected_holdings(a.position for a in live.values())
        for venue, client in self.clients.items():
            state = self.venues.venues[venue]
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
                    reported = await client.fetch_positions()
            except (VenueError, trio.TooSlowError) as exc:
                self.mismatches[f"positions:{venue}"] = {
                    "kind": "positions_unavailable",
                    "venue": venue,
                    "error": f"{type(exc).__name__}: {exc}",
                }
                continue
            self.mismatches.pop(f"positions:{venue}", None)
            state.positions = reported
            found = {m.key: m for m in position_mismatches(venue, expected, reported)}
            for key in [k for k in self.mismatches if k.startswith(f"position:{venue}:")]:
                if key not in found:
                    del self.mismatches[key]
            for key, mismatch in found.items():
                if key not in self.mismatches:
                    log.error(
                        "reconcile.position_mismatch",
                        venue=venue,
                        symbol=mismatch.symbol,
                        journal=str(mismatch.journal),
                        venue_qty=str(mismatch.venue_qty),
                    )
                self.mismatches[key] = mismatch.to_json()
