"""End-of-run report: the edge the simulated market offered, beside what was captured.

Definition (also in specs/002-simulator.md). For one recorded dislocation ``d`` on venue V::

    available_bps(d) = max(0, |d.size_bps| − min over venues W ≠ V of cost_bps(V, W))
    cost_bps(V, W)   = 2 × (taker_V + taker_W) × 1e4 + 2 × spread_bps

that is, the edge per unit notional of a perfect round trip: enter the pair at the jump's
peak (sell the dear venue, buy the cheap one), exit when the jump has fully decayed, pay the
taker fee on all four fills and cross the quoted spread on both venues twice. The available
edge of a run in quote units is ``Σ available_bps(d) × notional / 1e4`` over the dislocations
that started in the window, for a position of ``notional`` (the strategy's position size).

It is an upper bound per dislocation: it ignores ordinary basis noise (which can add or take
away edge), depth (a position of ``notional`` may walk the ladder), latency, and overlap of
dislocations on the same asset. Use it as the denominator of a capture ratio, not as a
promise.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from arbtrio.sim.market import Dislocation, SimMarket


@attrs.frozen(kw_only=True)
class EdgeSummary:
    """Available edge over a window of a run (see the module docstring)."""

    since: float
    until: float
    notional: float  # quote units per position
    dislocations: int  # recorded in the window
    tradable: int  # with available edge > 0
    available_bps: float  # Σ available_bps(d)
    available_quote: float  # Σ available_bps(d) × notional / 1e4
    by_venue_quote: dict[str, float]
    by_asset_quote: dict[str, float]

    def capture_ratio(self, captured_quote: float) -> float | None:
        """``captured / available`` (None when nothing was available)."""
        return captured_quote / self.available_quote if self.available_quote > 0 else None


def edge_summary(
    market: SimMarket,
    notional: float,
    *,
    since: float | None = None,
    until: float | None = None,
    dislocations: Iterable[Dislocation] | None = None,
) -> EdgeSummary:
    """Summarise the available edge of the dislocations that started in [since, until]."""
    if notional <= 0:
        raise ValueError(f"notional must be > 0, got {notional}")
    lo = -float("inf") if since is None else since
    hi = market.now if until is None else until
    chosen = [
        d
        for d in (market.dislocations if dislocations is None else dislocations)
        if lo <= d.start <= hi
    ]
    by_venue: dict[str, float] = {}
    by_asset: dict[str, float] = {}
    total_bps = 0.0
    tradable = 0
    for d in chosen:
        bps = market.available_edge_bps(d)
        if bps <= 0:
            continue
        tradable += 1
        total_bps += bps
        quote = bps * notional * 1e-4
        by_venue[d.venue] = by_venue.get(d.venue, 0.0) + quote
        by_asset[d.asset] = by_asset.get(d.asset, 0.0) + quote
    return EdgeSummary(
        since=lo if since is not None else (chosen[0].start if chosen else hi),
        until=hi,
        notional=notional,
        dislocations=len(chosen),
        tradable=tradable,
        available_bps=total_bps,
        available_quote=total_bps * notional * 1e-4,
        by_venue_quote=by_venue,
        by_asset_quote=by_asset,
    )
