"""Multi-seed evaluation: one simulated run per seed, in parallel processes, and aggregates.

``arbtrio sim --seeds 1-20 --duration 3600`` runs :func:`run_seed` for every seed in a pool
of processes (all cores by default; each process its own market, virtual time under
``MockClock`` and its own journal in a temporary directory, logging off), collects each
run's summary (:func:`arbtrio.runtime.simulation.summarize`) as it finishes, and aggregates
them (:func:`aggregate`): mean, median and 5th percentile of realised PnL, mean captured
ratio, fees, naked exposure and the number of seeds with positive PnL. :func:`format_table`
prints one row per seed and the aggregate; :class:`Progress` shows the runs finishing.

The processes are *spawned* (not forked): a worker starts from a clean interpreter, so no
Trio, logging or test state leaks into it. This module imports the runtime; it is not
imported by :mod:`arbtrio.sim` (the emulators import the market without the venue layer).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, TextIO

import attrs

from arbtrio.config import Config
from arbtrio.sim.summary import percentile

__all__ = [
    "Progress",
    "SeedJob",
    "aggregate",
    "evaluate",
    "format_table",
    "parse_seeds",
    "run_seed",
]

MAX_SEEDS = 10_000


def parse_seeds(text: str) -> list[int]:
    """``"1-20"``, ``"3,5,9"`` or a mix (``"1-3,7"``) → the seeds, in order, without repeats.

    Raises ValueError with a readable message on anything else.
    """
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"--seeds {text!r}: empty item")
        lo_text, dash, hi_text = part.partition("-")
        try:
            lo = int(lo_text)
            hi = int(hi_text) if dash else lo
        except ValueError:
            raise ValueError(
                f"--seeds {text!r}: {part!r} is not a seed or a range like 1-20"
            ) from None
        if lo < 0 or hi < lo:
            raise ValueError(f"--seeds {text!r}: bad range {part!r}")
        if hi - lo >= MAX_SEEDS:
            raise ValueError(f"--seeds {text!r}: more than {MAX_SEEDS} seeds")
        seeds.extend(s for s in range(lo, hi + 1) if s not in seeds)
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"--seeds {text!r}: more than {MAX_SEEDS} seeds")
    return seeds


@attrs.frozen(kw_only=True)
class SeedJob:
    """One run: ``config`` with ``sim.seed = seed``, for ``duration`` simulated seconds."""

    config: Config
    seed: int
    duration: float
    wire: bool = False


def _quiet_logging() -> None:
    import logging

    import structlog

    structlog.configure(  # every line below critical filtered, the rest returned unprinted
        processors=[],
        wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL),
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=True,
    )


def run_seed(job: SeedJob) -> dict[str, Any]:
    """Run one seed to the end in this process (virtual time, fresh journal in a temporary
    directory, no admin socket, logging off); its summary, with ``elapsed_s`` (wall)."""
    import trio
    import trio.testing

    from arbtrio.runtime.simulation import run_simulation

    _quiet_logging()
    config = attrs.evolve(job.config, sim=attrs.evolve(job.config.sim, seed=job.seed))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"arbtrio-seed{job.seed}-") as tmp:
        journal = str(Path(tmp) / "journal.sqlite")

        async def main() -> dict[str, Any]:
            return await run_simulation(
                config, duration=job.duration, journal_path=journal, wire=job.wire,
                run_id=f"s{job.seed}",
            )  # fmt: skip

        summary = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    summary["elapsed_s"] = round(time.perf_counter() - started, 2)
    return summary


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def evaluate(
    config: Config,
    seeds: Sequence[int],
    *,
    duration: float,
    jobs: int | None = None,
    wire: bool = False,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every seed (``jobs`` processes at a time, default all cores); the summaries in
    seed order. ``on_done(summary)`` is called in this process as each run finishes.

    A run that fails raises here (the others are cancelled): a broken run is a bug, not a
    data point.
    """
    if not seeds:
        raise ValueError("no seeds to run")
    if not duration > 0 or not math.isfinite(duration):
        raise ValueError(f"duration must be a positive number of seconds, got {duration}")
    workers = max(1, min(jobs or default_jobs(), len(seeds)))
    context = multiprocessing.get_context("spawn")
    results: dict[int, dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: dict[Future[dict[str, Any]], int] = {
            pool.submit(run_seed, SeedJob(config=config, seed=s, duration=duration, wire=wire)): s
            for s in seeds
        }
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    seed = pending.pop(future)
                    summary = future.result()
                    results[seed] = summary
                    if on_done is not None:
                        on_done(summary)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return [results[s] for s in seeds]


# -- aggregates ---------------------------------------------------------------------------
def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def aggregate(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Across runs: realised PnL (mean, median, p5, min, max, seeds with PnL > 0), mean
    captured ratio (runs with an available edge), fees, naked exposure, slippage medians,
    exits by reason (count and PnL summed over runs)."""
    pnl = [float(r["realized_pnl"]) for r in runs]
    fees = [float(r["fees"]) for r in runs]
    ratios = [float(r["edge"]["captured_ratio"]) for r in runs
              if r["edge"]["captured_ratio"] is not None]  # fmt: skip
    first = [float(r["edge"]["first_pair_ratio"]) for r in runs
             if r["edge"]["first_pair_ratio"] is not None]  # fmt: skip
    available = [float(r["edge"]["available_at_target_notional"]) for r in runs]
    naked_max = [float(r["naked_exposure"]["max_notional"]) for r in runs]
    naked_ns = [float(r["naked_exposure"]["notional_seconds"]) for r in runs]
    naked_long = [float(r["naked_exposure"]["longest_s"]) for r in runs]
    exits: dict[str, dict[str, Any]] = {}
    for r in runs:
        for reason, e in r["exits"].items():
            row = exits.setdefault(reason, {"count": 0, "pnl": 0.0})
            row["count"] += e["count"]
            row["pnl"] += float(e["pnl"])

    def med(key: str, phase: str) -> float | None:
        values = [_f(r["slippage_bps"][phase][key]) for r in runs]
        present = [v for v in values if v is not None]
        return _r(statistics.median(present), 3) if present else None

    return {
        "seeds": len(runs),
        "pnl": {
            "mean": _r(statistics.fmean(pnl)),
            "median": _r(statistics.median(pnl)),
            "p5": _r(percentile(pnl, 5)),
            "min": _r(min(pnl)),
            "max": _r(max(pnl)),
            "positive_seeds": sum(1 for p in pnl if p > 0),
        },
        "captured_ratio_mean": _r(statistics.fmean(ratios), 4) if ratios else None,
        "first_pair_ratio_mean": _r(statistics.fmean(first), 4) if first else None,
        "available_mean": _r(statistics.fmean(available)),
        "fees": {"mean": _r(statistics.fmean(fees)), "total": _r(sum(fees))},
        "naked_exposure": {
            "max_notional_mean": _r(statistics.fmean(naked_max)),
            "max_notional_max": _r(max(naked_max)),
            "notional_seconds_mean": _r(statistics.fmean(naked_ns)),
            "longest_s_max": _r(max(naked_long), 3),
        },
        "slippage_bps": {
            "entry_p50_median": med("p50", "entry"),
            "entry_p95_median": med("p95", "entry"),
            "exit_p50_median": med("p50", "exit"),
            "exit_p95_median": med("p95", "exit"),
        },
        "positions_opened": sum(r["opportunities"]["positions_opened"] for r in runs),
        "faulted": sum(r["positions"].get("FAULTED", 0) for r in runs),
        "exits": {
            k: {"count": v["count"], "pnl": round(v["pnl"], 2)} for k, v in sorted(exits.items())
        },
    }


TABLE_HEADER = [
    "seed", "pnl", "fees", "avail", "ratio", "1st", "opened", "faulted", "naked max",
    "naked n·s", "slip in p50/p95", "slip out p50/p95", "wall s",
]  # fmt: skip


def _cell(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def run_row(r: dict[str, Any]) -> list[str]:
    """One seed's row of :data:`TABLE_HEADER`."""
    slip = r["slippage_bps"]
    return [
        str(r["seed"]),
        _cell(float(r["realized_pnl"])),
        _cell(float(r["fees"])),
        _cell(float(r["edge"]["available_at_target_notional"])),
        _cell(r["edge"]["captured_ratio"], 3),
        _cell(r["edge"]["first_pair_ratio"], 3),
        str(r["opportunities"]["positions_opened"]),
        str(r["positions"].get("FAULTED", 0)),
        _cell(float(r["naked_exposure"]["max_notional"]), 0),
        _cell(float(r["naked_exposure"]["notional_seconds"]), 0),
        f"{_cell(slip['entry']['p50'])}/{_cell(slip['entry']['p95'])}",
        f"{_cell(slip['exit']['p50'])}/{_cell(slip['exit']['p95'])}",
        _cell(r.get("elapsed_s"), 1),
    ]


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def format_table(runs: Sequence[dict[str, Any]], agg: dict[str, Any]) -> str:
    """One row per seed, then the aggregate."""
    lines = _table([TABLE_HEADER, *(run_row(r) for r in runs)])
    p = agg["pnl"]
    n = agg["naked_exposure"]
    exits = ", ".join(f"{k} {v['count']} ({v['pnl']:+.2f})" for k, v in agg["exits"].items())
    lines += [
        "",
        f"aggregate over {agg['seeds']} seeds: PnL mean {_cell(p['mean'])}, median "
        f"{_cell(p['median'])}, p5 {_cell(p['p5'])} (min {_cell(p['min'])}, max "
        f"{_cell(p['max'])}); positive on {p['positive_seeds']}/{agg['seeds']} seeds",
        f"  captured / available: mean {_cell(agg['captured_ratio_mean'], 3)} (first pair "
        f"{_cell(agg['first_pair_ratio_mean'], 3)}); available mean "
        f"{_cell(agg['available_mean'])}; fees mean {_cell(agg['fees']['mean'])}",
        f"  naked exposure: max {_cell(n['max_notional_max'], 0)} (mean of maxima "
        f"{_cell(n['max_notional_mean'], 0)}), mean {_cell(n['notional_seconds_mean'], 0)} "
        f"notional-seconds, longest {_cell(n['longest_s_max'], 3)} s",
        f"  positions opened {agg['positions_opened']}, faulted {agg['faulted']}; exits: "
        f"{exits or 'none'}",
    ]
    return "\n".join(lines)


# -- progress -----------------------------------------------------------------------------
class Progress:
    """Runs finishing: on a terminal one line rewritten in place (a bar, the count, elapsed
    and estimated time left); otherwise one line per finished seed."""

    def __init__(self, total: int, out: TextIO | None = None, *, interactive: bool | None = None):
        self.total = total
        self.out = out if out is not None else sys.stderr
        self.interactive = self.out.isatty() if interactive is None else interactive
        self.done = 0
        self.started = time.monotonic()
        if self.interactive:
            self._draw()

    def _draw(self) -> None:
        width = 30
        filled = round(width * self.done / self.total) if self.total else width
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        bar = "#" * filled + "." * (width - filled)
        left = "" if eta is None else f"  ~{eta:.0f}s left"
        self.out.write(f"\r\x1b[K[{bar}] {self.done}/{self.total} seeds  {elapsed:.0f}s{left}")
        self.out.flush()

    def update(self, summary: dict[str, Any]) -> None:
        self.done += 1
        if self.interactive:
            self._draw()
            return
        self.out.write(
            f"seed {summary['seed']} done ({self.done}/{self.total}): pnl "
            f"{float(summary['realized_pnl']):+.2f}, {summary['opportunities']['positions_opened']}"
            f" positions, {_cell(summary.get('elapsed_s'), 1)} s\n"
        )
        self.out.flush()

    def close(self) -> None:
        if self.interactive:
            self.out.write("\n")
            self.out.flush()


def iter_rows(runs: Sequence[dict[str, Any]]) -> Iterator[list[str]]:
    yield TABLE_HEADER
    for r in runs:
        yield run_row(r)
