"""Operator control: pause, resume, override, flatten and kill, one at a time, in one task.

Admin requests reach :meth:`Control.request` (from any admin connection); the control task
(:meth:`Control.run`) performs them in order and answers each. A bug in one command is
logged and answered with an internal error, a requester that went away is not answered,
and should the task itself crash the runtime restarts it on the same queue: operator
control (pause, flatten, kill) never dies.

``kill`` arms every venue's dead-man switch where the client has one
(:func:`arm_dead_man_switches`, e.g. Hyperliquid's ``scheduleCancel``), so the venue
cancels every resting order even if this process dies before the flatten completes, then
stops the service with the flatten policy.

:func:`admin_methods` is the admin socket's method table (spec 005): the read methods answer
from the views, the control methods go through the control task.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import attrs
import structlog
import trio

from arbtrio.core import events as ev
from arbtrio.core.position import Position, PositionState
from arbtrio.runtime import admin as admin_mod
from arbtrio.runtime.actor import PositionActor
from arbtrio.runtime.admin import AdminError
from arbtrio.runtime.journal import Journal, replay_position
from arbtrio.venues.base import VenueClient, VenueError

if TYPE_CHECKING:
    from arbtrio.runtime.service import Runtime

__all__ = ["CONTROL_METHODS", "Control", "admin_methods", "arm_dead_man_switches"]

log = structlog.get_logger("arbtrio.runtime")

DEAD_MAN_DELAY_S = 10.0  # kill: venues' dead-man switches fire this long after (venue min 5 s)
CONTROL_METHODS = ("pause", "resume", "flatten", "kill", "override")


@attrs.define(eq=False)
class _Request:
    method: str
    params: dict[str, Any]
    reply: trio.MemorySendChannel[Any]


class Control:
    """The control task of one runtime (see the module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._send, self._receive = trio.open_memory_channel[_Request](16)

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        """Have the control task perform ``method``; its result (AdminError raised)."""
        send, receive = trio.open_memory_channel[Any](1)
        await self._send.send(_Request(method, params, send))
        async with receive:
            result = await receive.receive()
        if isinstance(result, AdminError):
            raise result
        return result

    async def run(self) -> None:
        async for request in self._receive:
            try:
                result = await self.apply(request.method, request.params)
            except AdminError as exc:
                result = exc
            except Exception as exc:  # a bug must not kill operator control
                log.exception("operator.control_failed", method=request.method)
                result = AdminError(
                    admin_mod.INTERNAL_ERROR, f"internal error: {type(exc).__name__}"
                )
            gone = (trio.BrokenResourceError, trio.ClosedResourceError)
            with trio.move_on_after(1), suppress(*gone):  # the requester may be gone
                await request.reply.send(result)

    async def apply(self, method: str, params: dict[str, Any]) -> Any:
        rt = self.rt
        now = trio.current_time()
        if method == "pause":
            rt.gate.pause()
            await rt.journal.service("pause", now)
            log.warning("operator.pause")
            return {"paused": True}
        if method == "resume":
            rt.gate.resume()
            rt.gate.reset_breaker()
            await rt.journal.service("resume", now)
            log.warning("operator.resume")
            return {"paused": False, "breaker": False}
        if method == "override":
            overridden = rt.reconciler.override()
            await rt.journal.service("override", now, mismatches=overridden)
            log.warning("operator.override", mismatches=len(overridden))
            return {"reconciling": rt.reconciler.reconciling, "overridden": overridden}
        if method == "flatten":
            force = params.get("force") is True
            targets = self._flatten_targets(params)
            done, held = [], {}
            for actor in targets:
                blocker = None if force else rt.hedge_blocker(actor, now)
                if blocker is not None:
                    held[actor.position_id] = blocker
                    continue
                quotes = rt.market.quotes_for(actor.position.spec)
                if await actor.send(ev.OperatorFlatten(ts=now, quotes=quotes)):
                    done.append(actor.position_id)
            if held and "id" in params:
                ((pid, why),) = held.items()
                raise AdminError(
                    admin_mod.APPLICATION_ERROR,
                    f"position {pid} kept hedged: {why} (closing now could leave a leg "
                    f"naked); flatten with force to close anyway",
                )
            await rt.journal.service("flatten", now, positions=done, held=held, force=force)
            log.warning("operator.flatten", positions=done, held=held, force=force)
            return {"flattened": done, "held": held}
        if method == "kill":
            rt.lifecycle.killed = rt.lifecycle.stopping = True  # nothing opens from now on
            await rt.journal.service("kill", now)
            log.critical("operator.kill")
            rt.lifecycle.request_stop("kill")
            return {
                "killed": True,
                "positions": [a.position_id for a in rt.positions.unsettled()],
            }
        raise AdminError(admin_mod.METHOD_NOT_FOUND, f"unknown control method {method!r}")

    def _flatten_targets(self, params: dict[str, Any]) -> list[PositionActor]:
        positions = self.rt.positions
        if params.get("all") is True:
            return list(positions.unsettled())
        pid = params.get("id")
        if not isinstance(pid, str):
            raise admin_mod.invalid_params('flatten needs {"id": "<position id>"} or {"all": true}')
        actor = positions.actors.get(pid)
        if actor is None:
            if archived_position(self.rt.journal, pid) is not None:
                raise AdminError(
                    admin_mod.APPLICATION_ERROR,
                    f"position {pid} is already settled (archived in the journal)",
                )
            raise AdminError(admin_mod.APPLICATION_ERROR, f"unknown position {pid!r}")
        if actor.state is PositionState.SETTLED:
            raise AdminError(admin_mod.APPLICATION_ERROR, f"position {pid} is already settled")
        return [actor]


def archived_position(journal: Journal, pid: str) -> Position | None:
    """A position no longer in memory, rebuilt from the journal (None: never journaled)."""
    replayed = replay_position(journal.path, pid)
    return None if replayed is None else replayed.position


async def arm_dead_man_switches(
    clients: Mapping[str, VenueClient],
    journal: Journal,
    *,
    wall_clock: Callable[[], float],
    timeout_s: float,
) -> None:
    """Arm every venue's dead-man switch (``schedule_cancel``) at now + 10 s; a refusal
    (Hyperliquid requires traded volume) or a timeout is logged, never fatal."""
    at_ms = int((wall_clock() + DEAD_MAN_DELAY_S) * 1000)

    async def arm(venue: str, schedule_cancel: Callable[[int], Awaitable[None]]) -> None:
        try:
            with trio.fail_after(timeout_s):
                await schedule_cancel(at_ms)
        except (VenueError, trio.TooSlowError) as exc:
            log.warning("kill.dead_man_refused", venue=venue, error=str(exc))
            return
        log.warning("kill.dead_man_armed", venue=venue, at_ms=at_ms)
        await journal.service("dead_man_armed", trio.current_time(), venue=venue, at_ms=at_ms)

    async with trio.open_nursery() as nursery:
        for venue, client in clients.items():
            schedule_cancel = getattr(client, "schedule_cancel", None)
            if schedule_cancel is not None:
                nursery.start_soon(arm, venue, schedule_cancel)


def admin_methods(rt: Runtime) -> dict[str, admin_mod.AdminMethod]:
    """The admin socket's methods (spec 005)."""
    from arbtrio.runtime import views

    async def status(params: dict[str, Any]) -> Any:
        return views.status(rt)

    async def positions(params: dict[str, Any]) -> Any:
        state = params.get("state")
        rows = [views.position_row(rt, a) for a in rt.positions.actors.values()]
        if isinstance(state, str):
            rows = [r for r in rows if r["state"] == state.upper()]
        return rows

    async def position(params: dict[str, Any]) -> Any:
        pid = params.get("id")
        if not isinstance(pid, str):
            raise admin_mod.invalid_params('position needs {"id": "<position id>"}')
        actor = rt.positions.actors.get(pid)
        if actor is not None:
            return views.position_view(rt, actor.position)
        archived = archived_position(rt.journal, pid)  # evicted: answer from the journal
        if archived is None:
            raise AdminError(admin_mod.APPLICATION_ERROR, f"unknown position {pid!r}")
        return views.position_view(rt, archived, archived=True)

    async def books(params: dict[str, Any]) -> Any:
        return views.books_view(rt)

    def control(name: str) -> admin_mod.AdminMethod:
        async def call(params: dict[str, Any]) -> Any:
            return await rt.control.request(name, params)

        return call

    return {
        "status": status,
        "positions": positions,
        "position": position,
        "books": books,
        **{name: control(name) for name in CONTROL_METHODS},
    }
