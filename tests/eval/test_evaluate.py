"""Multi-seed evaluation (arbtrio/sim/evaluate.py): seeds, aggregates, progress output."""

from __future__ import annotations

import io
from typing import Any

import pytest

from arbtrio.sim.evaluate import Progress, aggregate, format_table, parse_seeds


def test_seed_lists_and_ranges() -> None:
    assert parse_seeds("1-5") == [1, 2, 3, 4, 5]
    assert parse_seeds("3,5,9") == [3, 5, 9]
    assert parse_seeds("1-3, 7, 2") == [1, 2, 3, 7]
    for bad in ("", "a", "5-1", "1,,2", "-3", "1-x"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)


def run(seed: int, pnl: str, ratio: float | None, naked: float) -> dict[str, Any]:
    stats = {"n": 2, "p50": 0.1, "p95": 0.5, "mean": 0.2}
    return {
        "seed": seed,
        "realized_pnl": pnl,
        "fees": "10",
        "opportunities": {"seen": 5, "taken": 3, "positions_opened": 4, "rejected": {}},
        "positions": {"SETTLED": 4, "FAULTED": 0},
        "edge": {
            "captured_ratio": ratio,
            "first_pair_ratio": ratio,
            "available_at_target_notional": "20",
        },
        "naked_exposure": {"max_notional": naked, "notional_seconds": naked / 10, "longest_s": 0.5},
        "slippage_bps": {"entry": stats, "exit": stats},
        "exits": {"converged": {"count": 3, "pnl": pnl}, "stop": {"count": 1, "pnl": "-1"}},
        "elapsed_s": 1.5,
    }


def test_aggregate_over_seeds() -> None:
    runs = [run(s, p, r, n) for s, p, r, n in (
        (1, "10", 0.5, 100.0), (2, "-4", None, 300.0), (3, "6", 0.3, 200.0), (4, "0", 0.1, 0.0),
    )]  # fmt: skip
    agg = aggregate(runs)
    assert agg["seeds"] == 4
    assert agg["pnl"]["mean"] == 3.0 and agg["pnl"]["median"] == 3.0
    assert agg["pnl"]["p5"] == pytest.approx(-4 + 0.15 * 4)  # linear: 5 % of the way to 0
    assert agg["pnl"]["positive_seeds"] == 2
    assert agg["captured_ratio_mean"] == pytest.approx(0.3)  # runs without a ratio left out
    assert agg["fees"] == {"mean": 10.0, "total": 40.0}
    assert agg["naked_exposure"]["max_notional_max"] == 300.0
    assert agg["naked_exposure"]["max_notional_mean"] == 150.0
    assert agg["exits"]["converged"] == {"count": 12, "pnl": 12.0}
    table = format_table(runs, agg)
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["seed", "pnl", "fees"]
    assert [line.split()[0] for line in lines[2:6]] == ["1", "2", "3", "4"]
    assert "positive on 2/4 seeds" in table and "p5 -3.40" in table


def test_progress_piped_is_one_line_per_finished_seed() -> None:
    out = io.StringIO()
    progress = Progress(2, out)
    assert not progress.interactive
    progress.update(run(7, "1.5", 0.2, 0.0))
    progress.update(run(3, "-2", 0.2, 0.0))
    progress.close()
    assert out.getvalue().splitlines() == [
        "seed 7 done (1/2): pnl +1.50, 4 positions, 1.5 s",
        "seed 3 done (2/2): pnl -2.00, 4 positions, 1.5 s",
    ]


def test_progress_on_a_terminal_rewrites_one_line() -> None:
    out = io.StringIO()
    progress = Progress(2, out, interactive=True)
    progress.update(run(1, "1", 0.2, 0.0))
    progress.update(run(2, "1", 0.2, 0.0))
    progress.close()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r\x1b[K") == 3 and "2/2 seeds" in text
