"""Kill arms each venue's dead-man switch (where the client has one) before flattening."""

from __future__ import annotations

from typing import Any

import structlog
import trio

from arbtrio.core.position import PositionState
from arbtrio.runtime.control import DEAD_MAN_DELAY_S
from arbtrio.runtime.service import Runtime
from arbtrio.runtime.simulation import SimWorld, in_process_clients, run_simulation
from arbtrio.venues.base import VenueError

S = PositionState


class DeadManClient:
    """A simulated venue client that also has a dead-man switch (as Hyperliquid's does)."""

    def __init__(self, inner: Any, *, refuse: bool = False) -> None:
        self._inner = inner
        self.refuse = refuse
        self.armed: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def schedule_cancel(self, at_ms: int | None) -> None:
        if self.refuse:
            raise VenueError(self._inner.name, "Cannot set scheduled cancel time until enough "
                             "volume traded.")  # fmt: skip
        assert at_ms is not None
        self.armed.append(at_ms)


async def test_kill_arms_dead_man_switches_and_a_refusal_does_not_stop_the_flatten(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config()
    made: dict[str, DeadManClient] = {}

    def clients(world: SimWorld, venues: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = in_process_clients(world, venues)
        out["hyperliquid"] = made["hl"] = DeadManClient(out["hyperliquid"])
        out["bybit"] = made["bybit"] = DeadManClient(out["bybit"], refuse=True)
        return out

    with structlog.testing.capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            rt: Runtime = await nursery.start(
                lambda task_status: run_simulation(
                    config, make_clients=clients, task_status=task_status
                )
            )
            while not any(a.state is S.HEDGED for a in rt.positions.live.values()):  # noqa: ASYNC110
                await trio.sleep(1)
            before_ms = rt.wall_clock() * 1000
            assert not made["hl"].armed  # nothing armed before a kill
            await rt.control.request("kill", {})
            await rt.wait_stopped()
    (at_ms,) = made["hl"].armed
    assert before_ms + (DEAD_MAN_DELAY_S - 1) * 1000 <= at_ms
    assert at_ms <= rt.wall_clock() * 1000 + DEAD_MAN_DELAY_S * 1000
    assert any(e["event"] == "kill.dead_man_refused" and e["venue"] == "bybit" for e in logs)
    assert all(a.state in (S.SETTLED, S.FAULTED) for a in rt.positions.actors.values())


async def test_operator_control_survives_a_crash_of_its_own_task_and_kill_still_works(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config()
    crashes: list[str] = []

    def hook(rt: Runtime) -> None:
        real_run = rt.control.run

        async def crash_once() -> None:
            if not crashes:
                crashes.append("control")
                raise RuntimeError("a bug in the control task")
            await real_run()

        rt.control.run = crash_once  # type: ignore[method-assign]

    with structlog.testing.capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            rt: Runtime = await nursery.start(
                lambda task_status: run_simulation(
                    config, runtime_hook=hook, task_status=task_status
                )
            )
            await trio.sleep(5)
            # a requester that goes away before its answer does not hurt the task either
            with trio.move_on_after(0):
                await rt.control.request("pause", {})
            assert await rt.control.request("resume", {}) == {"paused": False, "breaker": False}
            await rt.control.request("kill", {})
            await rt.wait_stopped()
    assert crashes == ["control"] and rt.lifecycle.killed
    assert any(e["event"] == "service.task_crashed" and e["task"] == "control" for e in logs)
    assert all(a.state in (S.SETTLED, S.FAULTED) for a in rt.positions.actors.values())
