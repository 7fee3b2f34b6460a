"""Funding schedules (pure): when a venue symbol settles next, and what settles in a window.

A perp venue settles funding at discrete instants (Hyperliquid hourly, the CEXs every 1, 2,
4 or 8 h per symbol); holding a leg across an instant by one second costs or earns the full
payment, so every estimate here counts settlements, never a pro-rated rate.
"""

from __future__ import annotations

import math

from arbtrio.core.types import FundingRate

__all__ = ["SAME_TS_S", "next_funding_time", "settlement_cost_bps"]

SAME_TS_S = 0.5  # two funding times this close are the same settlement


def next_funding_time(rate: FundingRate, now: float, after: float) -> float | None:
    """The first settlement of ``rate``'s symbol later than ``after`` (the last one booked).

    Uses the venue's ``next_funding_ts``; a venue that does not publish it settles on the
    epoch grid of its interval (``k × interval_hours × 3600``). A published time at or before
    ``after`` is stale (polled before the settlement we already booked): the schedule moves
    on by whole intervals. None when the interval is unusable.
    """
    interval = rate.interval_hours * 3600.0
    if not interval > 0:
        return None
    ts = rate.next_funding_ts
    if ts is None or not math.isfinite(ts):
        ts = (math.floor(now / interval) + 1) * interval
    if ts <= after + SAME_TS_S:
        ts += math.ceil((after + SAME_TS_S - ts) / interval + 1e-12) * interval
    return ts


def settlement_cost_bps(rate: FundingRate, now: float, horizon_s: float) -> float:
    """What a long leg pays (bps of its notional; negative: receives) at the settlements of
    ``rate``'s symbol within ``(now, now + horizon_s]``, at the published rate. A short leg's
    cost is the negative of it."""
    first = next_funding_time(rate, now, now)
    if first is None or first > now + horizon_s:
        return 0.0
    interval = rate.interval_hours * 3600.0
    count = 1 + int((now + horizon_s - first) // interval)
    return float(rate.rate) * count * 1e4
