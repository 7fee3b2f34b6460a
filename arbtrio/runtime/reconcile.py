"""Reconciliation after a restart: resolve in-flight orders, then compare venue positions.

Each venue is reconciled on its own (:meth:`Reconciler.run`, one task per venue), so one that
cannot be reached never holds the others hostage:

1. wait until the venue's instruments are loaded; if that takes longer than
   ``service.ready_timeout_s`` the venue is reported *unavailable* (a ``venue_unavailable``
   mismatch naming the venue's last error, a critical log line, a journal record) and waited
   for — it is not up, so nothing trades on it — while the other venues go on;
2. ask the venue about every order a rebuilt position still has in flight, by client order
   id, and feed the answer to the position (an order whose send was cut short by the
   restart is marked unknown, which makes the machine query it: never re-sent);
3. compare the venue's positions with what the positions hold (:mod:`arbtrio.core.reconcile`),
   every 10 s, until nothing differs.

Until a venue is reconciled no pair touching it may open (:attr:`Reconciler.pending`), and
while a position mismatch stands on an asset nothing opens on that asset
(:meth:`Reconciler.blocked_assets`); an operator :meth:`override` lifts the start-up blocks.
``reconciling`` is true while any venue is pending or any mismatch stands.

After the start, reconciliation goes on (:meth:`Reconciler.watch`): every time the account
poller brings a venue's positions, they are compared with what the positions hold, except
on symbols with an order in flight or a fill in the last few seconds. A difference seen on
two polls in a row is a ``position_drift`` (a late execution after a position settled, a
fill the stream lost, a manual trade): a critical log line, a journal record, and nothing
opens on that asset until the venue and the positions agree again (then it clears itself,
logged). An operator's override adopts the differences standing at that moment as accepted
offsets (the venue holds that much that no position explains); a drift is a change beyond
them, and an override does not lift one: it is news, not history.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
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
QUIET_S = 5.0  # a symbol with an order event this recent is not compared (fills in flight)


class Reconciler:
    """Owns ``pending`` (venues not reconciled yet), ``mismatches`` (key → JSON description)
    and ``overridden``."""

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
        self.overridden = False
        self.pending: set[str] = set(clients)
        self.mismatches: dict[str, dict[str, Any]] = {}
        self.drifts: dict[str, dict[str, Any]] = {}  # key -> description (after the start)
        self.accepted: dict[tuple[str, str], Decimal] = {}  # overridden: venue − journal
        self._suspect: dict[str, int] = {}  # key -> consecutive polls differing

    @property
    def reconciling(self) -> bool:
        """Some venue is not reconciled yet, or a start-up mismatch stands (no override)."""
        return bool(self.pending or self.mismatches) and not self.overridden

    def blocked_venues(self) -> set[str]:
        """Venues no new pair may touch: not reconciled yet (empty after an override)."""
        return set() if self.overridden else self.pending

    def blocked_assets(self) -> set[str]:
        """Assets nothing may open on: a start-up position mismatch stands (unless
        overridden), or a drift found since."""
        standing = list(self.drifts.values())
        if not self.overridden:
            standing += [m for m in self.mismatches.values() if m["kind"] == "position_mismatch"]
        symbol_asset = self.venues.symbol_asset
        return {symbol_asset.get((m["venue"], m["symbol"]), m["symbol"]) for m in standing}

    def override(self) -> list[dict[str, Any]]:
        """The operator allows opening despite the mismatches (their differences become
        accepted offsets for the drift watch); returns them."""
        self.overridden = True
        for m in self.mismatches.values():
            if m["kind"] == "position_mismatch":
                key = (m["venue"], m["symbol"])
                self.accepted[key] = Decimal(m["venue_qty"]) - Decimal(m["journal"])
        return list(self.mismatches.values())

    async def run(self) -> None:
        """Reconcile every venue, then :meth:`watch` until cancelled."""
        async with trio.open_nursery() as nursery:
            for venue in self.clients:
                nursery.start_soon(self._reconcile_venue, venue)
        rebuilt = self.positions.rebuilt
        log.info("reconcile.done", rebuilt=len(rebuilt), overridden=self.overridden)
        await self.journal.service("reconciled", trio.current_time(), rebuilt=rebuilt)
        await self.watch()

    async def watch(self) -> None:
        """Compare each venue's polled positions with the positions', for good."""
        seen: dict[str, float] = {}
        while True:
            await trio.sleep(1.0)
            for venue, state in self.venues.venues.items():
                ts = state.positions_ts
                if ts is None or seen.get(venue) == ts:
                    continue
                seen[venue] = ts
                await self._check_drift(venue, state.positions, ts)

    async def _check_drift(self, venue: str, reported: list[Any], ts: float) -> None:
        now = trio.current_time()
        live = self.positions.live.values()
        busy = {o.symbol for a in live for o in a.position.live_orders() if o.venue == venue}
        for (v, asset), when in self.positions.traded.items():
            inst = self.venues.instrument(v, asset) if v == venue else None
            if inst is not None and when >= ts - QUIET_S:
                busy.add(inst.symbol)
        expected = expected_holdings(a.position for a in live)
        for at, offset in self.accepted.items():
            expected[at] = expected.get(at, Decimal(0)) + offset
        found = {m.key: m for m in position_mismatches(venue, expected, reported)
                 if m.symbol not in busy}  # fmt: skip
        differing = {m.symbol for m in found.values()}
        router = self.positions.router
        for v, symbol in list(router.orphan_fills):
            if v == venue and symbol not in busy and symbol not in differing:
                router.forget_orphans(venue, symbol, before=ts - QUIET_S)
        for key in [k for k in self._suspect if k.startswith(f"position:{venue}:")]:
            if key not in found:
                del self._suspect[key]
                if self.drifts.pop(key, None) is not None:
                    log.warning("reconcile.drift_resolved", venue=venue, key=key)
                    await self.journal.service("drift_resolved", now, venue=venue, key=key)
        for key, mismatch in found.items():
            self._suspect[key] = self._suspect.get(key, 0) + 1
            if self._suspect[key] >= 2 and key not in self.drifts:
                self.drifts[key] = {**mismatch.to_json(), "kind": "position_drift"}
                log.critical("reconcile.position_drift", venue=venue, symbol=mismatch.symbol,
                             journal=str(mismatch.journal), venue_qty=str(mismatch.venue_qty),
                             note="opening blocked on the asset until they agree")  # fmt: skip
                await self.journal.service("position_drift", now, **self.drifts[key])

    async def _reconcile_venue(self, venue: str) -> None:
        await self._wait_ready(venue)
        await self._reconcile_orders(venue)
        while True:
            await self._compare_positions(venue)
            if not any(m["venue"] == venue for m in self.mismatches.values()):
                self.pending.discard(venue)
                log.info("reconcile.venue_done", venue=venue)
                await self.journal.service("venue_reconciled", trio.current_time(), venue=venue)
                return
            if self.overridden:
                self.pending.discard(venue)
                return
            await trio.sleep(RECHECK_S)

    async def _wait_ready(self, venue: str) -> None:
        """Wait for the venue's instruments; past ``ready_timeout_s`` report it unavailable
        (with its last error) and keep waiting."""
        state = self.venues.venues[venue]
        with trio.move_on_after(self.config.service.ready_timeout_s):
            await state.ready.wait()
        if state.ready.is_set():
            return
        key = f"venue:{venue}"
        error = state.last_error or "instruments not loaded"
        self.mismatches[key] = {"kind": "venue_unavailable", "venue": venue, "error": error}
        log.critical("reconcile.venue_unavailable", venue=venue, error=error,
                     note="the other venues trade on")  # fmt: skip
        await self.journal.service("venue_unavailable", trio.current_time(), venue=venue,
                                   error=error)  # fmt: skip
        await state.ready.wait()
        self.mismatches.pop(key, None)
        log.info("reconcile.venue_available", venue=venue)

    async def _reconcile_orders(self, venue: str) -> None:
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

    async def _compare_positions(self, venue: str) -> None:
        """The venue's positions vs Σ of what the positions hold there (after their orders
        on the venue are resolved, waiting up to 10 s)."""
        live = self.positions.live
        for _ in range(50):
            if not any(o.venue == venue for a in live.values() for o in a.position.live_orders()):
                break
            await trio.sleep(0.2)
        expected = expected_holdings(a.position for a in live.values())
        key = f"positions:{venue}"
        try:
            with trio.fail_after(self.config.service.query_timeout_s):
                reported = await self.clients[venue].fetch_positions()
        except (VenueError, trio.TooSlowError) as exc:
            self.mismatches[key] = {
                "kind": "positions_unavailable",
                "venue": venue,
                "error": f"{type(exc).__name__}: {exc}",
            }
            return
        self.mismatches.pop(key, None)
        self.venues.venues[venue].positions = reported
        found = {m.key: m for m in position_mismatches(venue, expected, reported)}
        for stale in [k for k in self.mismatches if k.startswith(f"position:{venue}:")]:
            if stale not in found:
                del self.mismatches[stale]
        for mkey, mismatch in found.items():
            if mkey not in self.mismatches:
                log.error(
                    "reconcile.position_mismatch",
                    venue=venue,
                    symbol=mismatch.symbol,
                    journal=str(mismatch.journal),
                    venue_qty=str(mismatch.venue_qty),
                )
            self.mismatches[mkey] = mismatch.to_json()
