"""The daily loss limit spans restarts: settled PnL journaled today counts after a restart."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from arbtrio.core.position import PositionState
from arbtrio.runtime.journal import replay
from arbtrio.runtime.service import Runtime
from arbtrio.runtime.simulation import new_world, run_simulation


async def test_restart_keeps_todays_settled_pnl_for_the_daily_loss_limit(
    make_config: Any, autojump_clock: Any, tmp_path: Any
) -> None:
    config = make_config()
    journal = str(tmp_path / "journal.sqlite")
    world = new_world(config)
    first: dict[str, Runtime] = {}
    await run_simulation(
        config,
        world=world,
        journal_path=journal,
        duration=600.0,
        runtime_hook=lambda rt: first.__setitem__("rt", rt),
    )
    settled = [
        r.position for r in replay(journal).values() if r.position.state is PositionState.SETTLED
    ]
    assert settled, "the first run settled nothing; the test needs settled positions"
    expected = sum((p.realized_pnl(first["rt"].quote_rates) for p in settled), Decimal(0))

    second: dict[str, Runtime] = {}
    await run_simulation(
        config,
        world=world,
        journal_path=journal,
        duration=1.0,
        runtime_hook=lambda rt: second.__setitem__("rt", rt),
    )
    # MockClock journal times are < 1 day: the first run's positions settled on day 0.
    assert second["rt"].positions.pnl_by_day.get(0) == expected
