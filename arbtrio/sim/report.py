"""The evaluation report: PNG plots (matplotlib, Agg: no display) and an ``index.html``.

:func:`write_report` writes into a directory, for runs summarised by
:func:`arbtrio.runtime.simulation.summarize` (their ``series``) and their
:func:`~arbtrio.sim.evaluate.aggregate`:

* ``equity.png`` — realised PnL over time, one line per seed;
* ``slippage.png`` — histograms of entry and exit slippage (bps, adverse positive), all
  seeds' legs together;
* ``exits.png`` — realised PnL by exit reason, summed over the seeds (count on each bar);
* ``index.html`` — the plots, the per-seed table and the aggregate.

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas directly (never
``pyplot``), so nothing global is touched and no display is needed.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from arbtrio.sim.evaluate import format_table, iter_rows

__all__ = ["PLOTS", "write_report"]

PLOTS = ("equity.png", "slippage.png", "exits.png")


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def equity_plot(runs: Sequence[dict[str, Any]], path: Path) -> None:
    fig = Figure(figsize=(9, 4.5))
    ax = fig.add_subplot()
    for r in runs:
        points = r.get("series", {}).get("equity", [])
        xs = [0.0] + [float(p[0]) for p in points]
        ys = [0.0] + [float(p[1]) for p in points]
        end = r.get("duration_s")
        if end is not None and (not xs or float(end) > xs[-1]):
            xs.append(float(end))
            ys.append(ys[-1])
        ax.step(xs, ys, where="post", label=f"seed {r['seed']}", linewidth=1.2)
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("realised PnL (reference currency)")
    ax.set_title("Equity curve per seed")
    if 0 < len(runs) <= 20:
        ax.legend(fontsize=7, ncol=2)
    _save(fig, path)


def slippage_plot(runs: Sequence[dict[str, Any]], path: Path) -> None:
    fig = Figure(figsize=(9, 4))
    for i, (key, title) in enumerate(
        (("slippage_entry", "entry legs"), ("slippage_exit", "exit legs"))
    ):
        ax = fig.add_subplot(1, 2, i + 1)
        values = [float(v) for r in runs for v in r.get("series", {}).get(key, [])]
        if values:
            ax.hist(values, bins=40, color="tab:blue" if i == 0 else "tab:orange")
        else:
            ax.text(0.5, 0.5, "no fills", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"Slippage, {title} (n {len(values)})")
        ax.set_xlabel("bps vs detected reference (adverse > 0)")
        ax.set_ylabel("legs")
    _save(fig, path)


def exits_plot(agg: dict[str, Any], path: Path) -> None:
    fig = Figure(figsize=(9, 4))
    ax = fig.add_subplot()
    exits = agg.get("exits", {})
    reasons = list(exits)
    pnl = [float(exits[r]["pnl"]) for r in reasons]
    colors = ["tab:green" if p >= 0 else "tab:red" for p in pnl]
    bars = ax.bar(reasons, pnl, color=colors)
    for bar, reason in zip(bars, reasons, strict=True):
        ax.annotate(
            f"n {exits[reason]['count']}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center", va="bottom" if bar.get_height() >= 0 else "top", fontsize=8,
        )  # fmt: skip
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_ylabel("realised PnL, all seeds")
    ax.set_title("PnL by exit reason")
    if not reasons:
        ax.text(0.5, 0.5, "no settled positions", ha="center", va="center",
                transform=ax.transAxes)  # fmt: skip
    _save(fig, path)


def _html(runs: Sequence[dict[str, Any]], agg: dict[str, Any], title: str) -> str:
    rows = list(iter_rows(runs))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows[1:]
    )
    plots = "\n".join(
        f'<figure><img src="{name}" alt="{name}"><figcaption>{name}</figcaption></figure>'
        for name in PLOTS
    )
    text = html.escape(format_table(runs, agg))
    data = html.escape(json.dumps(agg, indent=2))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }}
img {{ max-width: 100%; }}
pre {{ background: #f6f6f6; padding: 1em; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Runs</h2>
<table><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table>
<h2>Aggregate</h2>
<pre>{text}</pre>
<h2>Plots</h2>
{plots}
<h2>Aggregate (JSON)</h2>
<pre>{data}</pre>
</body></html>
"""


def write_report(
    runs: Sequence[dict[str, Any]],
    agg: dict[str, Any],
    directory: str | Path,
    *,
    title: str = "arbtrio sim evaluation",
) -> list[Path]:
    """Write the plots and ``index.html`` into ``directory`` (created); the files written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    equity_plot(runs, out / PLOTS[0])
    slippage_plot(runs, out / PLOTS[1])
    exits_plot(agg, out / PLOTS[2])
    index = out / "index.html"
    index.write_text(_html(runs, agg, title))
    return [out / name for name in PLOTS] + [index]
