"""``arbtrio sim --wire`` end to end: every venue's loopback emulator and its real client.

Real sockets cannot run on Trio's MockClock, so this one test runs in real time (about ten
seconds: an 8 s market, then the flatten and drain), under a ``fail_after`` guard.
"""

from __future__ import annotations

import importlib
from collections import Counter
from typing import Any

import attrs
import pytest
import trio
from test_service_sim import STABLE, venue_books_match_positions

from arbtrio.config import KNOWN_VENUES
from arbtrio.emulators import EMULATORS
from arbtrio.runtime.clock import EpochClock
from arbtrio.runtime.journal import replay
from arbtrio.runtime.service import Runtime
from arbtrio.runtime.simulation import new_world, run_simulation
from arbtrio.sim.client import SimVenueClient


@pytest.fixture
def epoch_clock() -> EpochClock:
    """The clock ``arbtrio sim`` uses in real time (pytest-trio runs the test on it)."""
    return EpochClock()


def emulated_venues() -> list[str]:
    """Venues with an emulator whose package builds a real client."""
    out = []
    for venue in KNOWN_VENUES:
        package = importlib.import_module(f"arbtrio.venues.{venue}")
        if venue in EMULATORS and hasattr(package, "create_client"):
            out.append(venue)
    return out


async def test_wire_sim_trades_through_every_emulator_and_replays(
    make_config: Any, epoch_clock: EpochClock
) -> None:
    config = make_config(assets=("BTC", "ETH"), drain_timeout_s=10.0)
    busy = attrs.evolve(config.sim.dislocations, rate_per_hour=600.0)
    # 8 s of market: the basis is taken from the first look (no warm-up) so it can trade.
    detector = attrs.evolve(config.detector, basis_warmup_s=0.0)
    config = attrs.evolve(
        config, sim=attrs.evolve(config.sim, dislocations=busy), detector=detector
    )
    world = new_world(config)
    holder: dict[str, Runtime] = {}
    with trio.fail_after(45):
        summary = await run_simulation(
            config,
            duration=8.0,
            wire=True,
            world=world,
            runtime_hook=lambda rt: holder.__setitem__("rt", rt),
        )
    runtime = holder["rt"]

    wired = emulated_venues()
    assert len(wired) == 5
    assert summary["wire"] == sorted(wired) == sorted(config.enabled_venues)
    assert not any(isinstance(c, SimVenueClient) for c in world.clients.values())

    # positions were opened and filled through the real clients, and none is left in flight
    assert runtime.positions.opened > 0 and runtime.router.stats.placed > 0, summary
    assert any(a.position.fills() for a in runtime.positions.actors.values())
    states = Counter(a.state for a in runtime.positions.actors.values())
    assert set(states) <= STABLE, states
    assert not any(a.position.live_orders() for a in runtime.positions.actors.values())
    assert summary["stop_reason"] == "duration 8s reached"
    venue_books_match_positions(world, [runtime])

    # the journal replays to the same positions
    rebuilt = replay(config.service.journal)
    assert set(rebuilt) == set(runtime.positions.actors)
    for pid, actor in runtime.positions.actors.items():
        assert rebuilt[pid].position.snapshot() == actor.position.snapshot(), pid
