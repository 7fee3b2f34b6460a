"""Funding: when each venue settles, what it pays, and each position's share of it.

A perp venue settles funding on a schedule (Hyperliquid hourly; the CEXs every 1, 2, 4 or
8 h per symbol): every open position of the account pays or receives
``position × mark price × rate``, longs paying when the rate is positive. So for one leg of
one of our positions::

    amount = −side_sign × held × mark × rate        (quote units, + received, − paid)

rounded half-even to ``FUNDING_QUANTUM`` (what the simulated venues book, see
``arbtrio.sim.execution.Account.apply_funding``). The venue pays once on its net position
per symbol; when several positions hold legs there, :func:`funding_shares` splits that one
rounded amount among them (largest remainder), so the legs always add up to exactly what the
venue booked, and a sole holder gets exactly the venue's amount.

The runtime learns the schedule from ``fetch_funding`` (``next_funding_ts``, or the interval
on the epoch grid when a venue does not say), takes the holdings of every live position at
the funding time, then asks a :data:`FundingSource` for the settlement's rate and mark
price. In simulation the source reads the simulated venue's own settlement record (what a
venue's funding-history endpoint reports); with no source or no record the runtime
estimates: the rate last published for that settlement and the mid of the book at the
funding time (or the leg's reference price when there is no usable book).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

import attrs

from arbtrio.core.events import LegRole
from arbtrio.core.types import FundingRate

FUNDING_QUANTUM = Decimal("1e-8")
SETTLEMENT_WAIT_S = 5.0  # how long to wait for a source's settlement record
SAME_TS_S = 0.5  # two funding times this close are the same settlement


@attrs.frozen(kw_only=True)
class FundingSettlement:
    """One funding settlement of one venue symbol: the rate and mark price it used."""

    venue: str
    symbol: str
    ts: float
    rate: Decimal
    mark_price: Decimal | None  # None: no mark known (each leg uses its reference price)
    source: Literal["venue", "estimate"]


FundingSource = Callable[[str, str, float], Awaitable[FundingSettlement | None]]
"""``source(venue, symbol, funding_ts)``: the venue's settlement, or None if it has none."""


def funding_amount(leg: LegRole, held: Decimal, mark_price: Decimal, rate: Decimal) -> Decimal:
    """What a leg holding ``held`` (base units, in its own direction) receives (+) or pays.

    Longs pay a positive rate, shorts receive it: ``−side_sign × held × mark × rate``,
    rounded half-even to :data:`FUNDING_QUANTUM`.
    """
    if held < 0:
        raise ValueError(f"held must be >= 0, got {held}")
    sign = 1 if leg == "long" else -1
    return (-sign * held * mark_price * rate).quantize(FUNDING_QUANTUM, rounding=ROUND_HALF_EVEN)


def funding_shares(
    holdings: Sequence[tuple[LegRole, Decimal]], mark_price: Decimal, rate: Decimal
) -> list[Decimal]:
    """Each holding's share of one venue settlement, adding up exactly to what the venue
    books on the net position (Σ long held − Σ short held), rounded half-even.

    Each share is its own amount rounded to :data:`FUNDING_QUANTUM`; the quanta the separate
    roundings gained or lost against the venue's single rounding go to the holdings whose
    exact amounts were rounded furthest the other way (ties: first holding first). A sole
    holding's share is exactly :func:`funding_amount`.
    """
    exact = []
    for leg, held in holdings:
        if held < 0:
            raise ValueError(f"held must be >= 0, got {held}")
        exact.append((-1 if leg == "long" else 1) * held * mark_price * rate)
    shares = [e.quantize(FUNDING_QUANTUM, rounding=ROUND_HALF_EVEN) for e in exact]
    total = sum(exact, Decimal(0)).quantize(FUNDING_QUANTUM, rounding=ROUND_HALF_EVEN)
    missing = int((total - sum(shares, Decimal(0))) / FUNDING_QUANTUM)
    if missing:
        step = FUNDING_QUANTUM if missing > 0 else -FUNDING_QUANTUM
        # rounded down the most first when quanta are missing; up the most when in excess
        order = sorted(
            range(len(shares)),
            key=lambda i: (-(exact[i] - shares[i]) if missing > 0 else exact[i] - shares[i], i),
        )
        for i in order[: abs(missing)]:
            shares[i] += step
    return shares


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
