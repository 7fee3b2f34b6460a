"""The yardstick of a simulated run: the edge a zero-latency trader could take (spec 002 § 8).

Definition. For one recorded dislocation ``d`` (venue V, asset A, signed size ``s`` at
``t0``, remaining ``D(t) = |d.remaining_bps(t)|``) and a partner venue W, the oracle trades
ONE pair of the target notional ``N`` (base quantity ``q = N / fair value at t0``): short
the dear venue, long the cheap one, with no latency, on the simulated books as they stand
at each market step::

    entry(t) = D(t) − c_in(t)      c_in  = cost of buying q on the cheap venue's asks
                                           + cost of selling q on the dear venue's bids
    exit(t)  = D(t) + c_out(t)     c_out = cost of selling q on the cheap venue's bids
                                           + cost of buying q on the dear venue's asks
    available_bps(d, W) = max(0, max_t entry(t) − min_{t > t0} exit(t) − fees(V, W))
    available_bps(d)    = max over W of available_bps(d, W)
    available_quote(d)  = available_bps(d) × N / 1e4

where a cost is the distance of the VWAP for ``q`` (the depth the target notional needs)
from the venue's own mid, in bps (so it holds the quoted half spread and the ladder walk),
and ``fees(V, W) = 2 × (taker_V + taker_W) × 1e4``: the taker fee on both entries and both
exits. A step where either venue is down (an outage) or a book cannot fill ``q`` offers no
entry or exit. Entries are watched from the start until ``D(t)`` has fallen to the best
entry found (every cost is ≥ 0, so no later entry can beat it); exits until the market
forgets the jump (``D < 0.01`` bps) or the run ends.

Only the dislocation's own move counts as gross: the venues' mids are otherwise left out
(each cost is measured from its own venue's mid), so basis noise, other dislocations and a
persistent basis between the venues neither add to nor take from it.

Upper bound. The best entry and the best exit are taken independently (an exit may be
earlier than the entry), fees are charged on the target notional, and the cost of every
entry and exit any strategy could get on those books is at least the oracle's at that
step, so no strategy trading one pair of at most the target notional on one dislocation
captures more *from the dislocation* than ``available_quote(d)`` (tested by executing
single pairs through the simulator, the oracle's own plan among them). It does NOT bound:
stacking several pairs on one dislocation; trading basis noise; a pair that captures two
dislocations at once (opposite jumps on its two venues, one round trip for both); the
fair-value move on a pair whose legs fill at different moments (naked exposure); a pair on
books thinner than the target whose smaller size pays less per unit. So the run's realised
PnL over ``available_quote`` can exceed 1; :func:`attribute` splits the realised PnL into
the first pair of each dislocation, the pairs stacked on it, and the rest.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Protocol

import attrs

from arbtrio.sim.market import Dislocation, SimMarket, UnknownInstrument

FORGET_BPS = 0.01  # the market forgets a jump below this (market._MIN_JUMP_BPS)
_DEPTH = 10_000  # every level of a ladder

Level = tuple[float, float]


def crossing_bps(levels: Sequence[Level], qty: float, mid: float, *, buy: bool) -> float | None:
    """The cost in bps of taking ``qty`` from ``levels`` (best first; asks for a buy, bids
    for a sell): the VWAP's distance from ``mid``, adverse positive. None when the levels
    cannot fill ``qty`` (or nothing is asked for)."""
    if qty <= 0 or mid <= 0:
        return None
    remaining = qty
    notional = 0.0
    for price, size in levels:
        take = size if size < remaining else remaining
        notional += take * price
        remaining -= take
        if remaining <= qty * 1e-12:
            vwap = notional / qty
            return (vwap / mid - 1.0) * 1e4 if buy else (1.0 - vwap / mid) * 1e4
    return None


@attrs.define
class OracleTrack:
    """The oracle on one (dislocation, partner venue): best entry and best exit so far."""

    dislocation: Dislocation
    partner: str
    fees_bps: float
    best_in: float = -math.inf
    in_ts: float | None = None
    in_cost: float | None = None
    best_out: float = math.inf
    out_ts: float | None = None
    out_cost: float | None = None
    entry_open: bool = True

    def observe(
        self, t: float, entry_cost: float | None, exit_cost: float | None
    ) -> None:
        """One market step: ``entry_cost``/``exit_cost`` (bps, see the module docstring) or
        None when that side cannot be traded now."""
        d = self.dislocation
        if t < d.start:
            return
        remaining = abs(d.remaining_bps(t))
        if self.entry_open:
            if entry_cost is not None and remaining - entry_cost > self.best_in:
                self.best_in, self.in_ts, self.in_cost = remaining - entry_cost, t, entry_cost
            if remaining <= self.best_in:
                self.entry_open = False  # costs are >= 0: no later entry beats it
        if exit_cost is not None and t > d.start and remaining + exit_cost < self.best_out:
            self.best_out, self.out_ts, self.out_cost = remaining + exit_cost, t, exit_cost

    @property
    def available_bps(self) -> float:
        if not (math.isfinite(self.best_in) and math.isfinite(self.best_out)):
            return 0.0
        return max(0.0, self.best_in - self.best_out - self.fees_bps)


@attrs.frozen(kw_only=True)
class OracleEdge:
    """The oracle's result for one dislocation: its best partner and plan."""

    dislocation: Dislocation
    partner: str | None
    available_bps: float
    entry_ts: float | None = None
    entry_cost_bps: float | None = None
    exit_ts: float | None = None
    exit_cost_bps: float | None = None
    fees_bps: float | None = None


def best_edge(dislocation: Dislocation, tracks: Iterable[OracleTrack]) -> OracleEdge:
    """The best partner's result (ties: the first partner in venue order)."""
    best: OracleTrack | None = None
    for track in tracks:
        if best is None or track.available_bps > best.available_bps:
            best = track
    if best is None:
        return OracleEdge(dislocation=dislocation, partner=None, available_bps=0.0)
    return OracleEdge(
        dislocation=dislocation,
        partner=best.partner,
        available_bps=best.available_bps,
        entry_ts=best.in_ts,
        entry_cost_bps=best.in_cost,
        exit_ts=best.out_ts,
        exit_cost_bps=best.out_cost,
        fees_bps=best.fees_bps,
    )


class EdgeOracle:
    """The zero-latency trader of the module docstring, fed one market step at a time.

    Call :meth:`observe` after every advance of the market (``arbtrio sim`` does, from a
    task woken by the driver). It only reads the market: the books it looks at are the
    ones every client sees, and observing a book never changes the market.
    """

    def __init__(self, notional: float) -> None:
        if not notional > 0:
            raise ValueError(f"notional must be > 0, got {notional}")
        self.notional = notional
        self.steps = 0
        self._seen = 0  # dislocations of the market already tracked
        self._last_t: float | None = None
        self._active: dict[Dislocation, list[OracleTrack]] = {}
        self._edges: dict[Dislocation, OracleEdge] = {}

    def observe(self, market: SimMarket) -> None:
        t = market.step_time
        if self._last_t is not None and t <= self._last_t:
            return
        self._last_t = t
        self.steps += 1
        for d in market.dislocations[self._seen :]:
            self._active[d] = self._tracks(market, d)
        self._seen = len(market.dislocations)
        if not self._active:
            return
        costs: dict[tuple[str, str], tuple[float | None, float | None]] = {}

        def cost(venue: str, asset: str) -> tuple[float | None, float | None]:
            key = (venue, asset)
            found = costs.get(key)
            if found is None:
                found = costs[key] = self._costs(market, venue, asset, t)
            return found

        ended = []
        for d, tracks in self._active.items():
            for track in tracks:
                dear, cheap = (d.venue, track.partner) if d.size_bps > 0 else (track.partner,
                                                                                d.venue)
                dear_bid, dear_ask = cost(dear, d.asset)
                cheap_bid, cheap_ask = cost(cheap, d.asset)
                entry = None if cheap_ask is None or dear_bid is None else cheap_ask + dear_bid
                exit_ = None if cheap_bid is None or dear_ask is None else cheap_bid + dear_ask
                track.observe(t, entry, exit_)
            if t > d.start and abs(d.remaining_bps(t)) < FORGET_BPS:
                ended.append(d)
        for d in ended:
            self._edges[d] = best_edge(d, self._active.pop(d))

    def _tracks(self, market: SimMarket, d: Dislocation) -> list[OracleTrack]:
        fee_v = float(market.instrument(d.venue, d.symbol).taker_fee)
        tracks = []
        for venue in market.venues:
            if venue == d.venue:
                continue
            try:
                inst = market.instrument(venue, market.symbol_for(venue, d.asset))
            except UnknownInstrument:
                continue
            fees = 2.0 * (fee_v + float(inst.taker_fee)) * 1e4
            tracks.append(OracleTrack(dislocation=d, partner=venue, fees_bps=fees))
        return tracks

    def _costs(
        self, market: SimMarket, venue: str, asset: str, t: float
    ) -> tuple[float | None, float | None]:
        """(cost of selling q at the bids, cost of buying q at the asks) now, in bps."""
        if market.is_down(venue, t):
            return (None, None)
        symbol = market.symbol_for(venue, asset)
        qty = self.notional / market.fair_value(asset)
        bids, asks = market.book_levels_float(venue, symbol, _DEPTH)
        mid = market.mid(venue, asset)
        return (crossing_bps(bids, qty, mid, buy=False), crossing_bps(asks, qty, mid, buy=True))

    def edge(self, d: Dislocation) -> OracleEdge | None:
        """The oracle's result for ``d`` (so far, when still watched); None if never seen."""
        found = self._edges.get(d)
        if found is not None:
            return found
        tracks = self._active.get(d)
        return None if tracks is None else best_edge(d, tracks)

    def edges(self) -> list[OracleEdge]:
        """Every dislocation seen, in start order (those still watched: so far)."""
        out = list(self._edges.values()) + [best_edge(d, ts) for d, ts in self._active.items()]
        out.sort(key=lambda e: e.dislocation.start)
        return out


@attrs.frozen(kw_only=True)
class EdgeSummary:
    """Available edge over a window of a run (see the module docstring).

    With an oracle, ``available_*`` are the oracle's and ``floor_available_bps`` the looser
    model bound ``Σ max(0, |s| − min_W round_trip_cost_bps(V, W))`` (fees plus the quoted
    spread at its narrowest, no depth); without one, both are the model bound.
    """

    since: float
    until: float
    notional: float  # quote units per position
    dislocations: int  # recorded in the window
    tradable: int  # with available edge > 0
    available_bps: float  # Σ available_bps(d)
    available_quote: float  # Σ available_bps(d) × notional / 1e4
    by_venue_quote: dict[str, float]
    by_asset_quote: dict[str, float]
    floor_available_bps: float = 0.0
    entry_cost_bps: float | None = None  # mean over tradable dislocations
    exit_cost_bps: float | None = None
    fees_bps: float | None = None
    unobserved: int = 0  # dislocations in the window the oracle never saw

    def capture_ratio(self, captured_quote: float) -> float | None:
        """``captured / available`` (None when nothing was available)."""
        return captured_quote / self.available_quote if self.available_quote > 0 else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) of ``values``, linear between order statistics (as
    numpy's default); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    lo = math.floor(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def edge_summary(
    market: SimMarket,
    notional: float,
    *,
    since: float | None = None,
    until: float | None = None,
    dislocations: Iterable[Dislocation] | None = None,
    oracle: EdgeOracle | None = None,
) -> EdgeSummary:
    """Summarise the available edge of the dislocations that started in [since, until]:
    the oracle's when given, else the model bound (``SimMarket.available_edge_bps``)."""
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
    total_bps = floor_bps = 0.0
    tradable = unobserved = 0
    entry_costs: list[float] = []
    exit_costs: list[float] = []
    fees: list[float] = []
    for d in chosen:
        model = market.available_edge_bps(d)
        floor_bps += model
        if oracle is None:
            bps = model
        else:
            edge = oracle.edge(d)
            if edge is None:
                unobserved += 1
                continue
            bps = edge.available_bps
            if bps > 0:
                entry_costs.append(edge.entry_cost_bps or 0.0)
                exit_costs.append(edge.exit_cost_bps or 0.0)
                fees.append(edge.fees_bps or 0.0)
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
        floor_available_bps=floor_bps,
        entry_cost_bps=_mean(entry_costs),
        exit_cost_bps=_mean(exit_costs),
        fees_bps=_mean(fees),
        unobserved=unobserved,
    )


# -- attribution of the realised PnL --------------------------------------------------------
class SettledPair(Protocol):
    """What :func:`attribute` reads of a settled position."""

    @property
    def asset(self) -> str: ...
    @property
    def long_venue(self) -> str: ...
    @property
    def short_venue(self) -> str: ...
    @property
    def created_ts(self) -> float: ...
    @property
    def entry_spread_bps(self) -> float: ...
    @property
    def pnl(self) -> Decimal: ...


ORIGINS = ("first_pair", "stacked", "other")
MIN_SHARE = 0.5  # a dislocation explains a pair when it holds half its entry spread


def explaining(
    pair: SettledPair, dislocations: Sequence[Dislocation], starts: Sequence[float]
) -> Dislocation | None:
    """The dislocation that explains ``pair``'s entry: on its asset, on one of its venues in
    its direction (a jump up on the short venue, down on the long one), started by its
    creation, and still holding at least half its entry spread then (the largest such);
    None when its edge came from elsewhere (basis noise, a persistent basis)."""
    t = pair.created_ts
    need = max(MIN_SHARE * pair.entry_spread_bps, FORGET_BPS)
    best: Dislocation | None = None
    best_bps = need
    hi = bisect.bisect_right(starts, t)
    horizon = max((d.half_life_s for d in dislocations), default=0.0) * 40.0
    lo = bisect.bisect_left(starts, t - horizon)
    for d in dislocations[lo:hi]:
        if d.asset != pair.asset:
            continue
        if not ((d.venue == pair.short_venue and d.size_bps > 0) or
                (d.venue == pair.long_venue and d.size_bps < 0)):  # fmt: skip
            continue
        bps = abs(d.remaining_bps(t))
        if bps >= best_bps:
            best, best_bps = d, bps
    return best


def attribute(
    pairs: Iterable[SettledPair], dislocations: Sequence[Dislocation]
) -> dict[str, tuple[int, Decimal]]:
    """Realised PnL by origin: ``first_pair`` (the first position a dislocation explains),
    ``stacked`` (further positions on the same dislocation), ``other`` (explained by none):
    ``{origin: (count, pnl)}``; the three add up to the pairs' realised PnL."""
    ordered = sorted(dislocations, key=lambda d: d.start)
    starts = [d.start for d in ordered]
    out = {origin: (0, Decimal(0)) for origin in ORIGINS}
    used: set[Dislocation] = set()
    for pair in sorted(pairs, key=lambda p: p.created_ts):
        d = explaining(pair, ordered, starts)
        if d is None:
            origin = "other"
        elif d in used:
            origin = "stacked"
        else:
            used.add(d)
            origin = "first_pair"
        count, pnl = out[origin]
        out[origin] = (count + 1, pnl + pair.pnl)
    return out
