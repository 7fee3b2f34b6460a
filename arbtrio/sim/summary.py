"""The yardstick of a simulated run: the edge a zero-latency trader could take (spec 002 § 8).

Definition. For one recorded dislocation ``d`` (venue V, asset A, signed size ``s`` at
``t0``, remaining ``D(t) = |d.remaining_bps(t)|``) and a partner venue W, the oracle trades
ONE pair of the target notional ``N`` (base quantity ``q = N / fair value`` now): short
the dear venue, long the cheap one, with no latency, on the simulated books as they stand
at each market step ``t ≥ t0``. Prices are modelled free of everything but the
dislocation: V at ``F·(1 + j(t))`` (``F`` the fair value, ``j(t) = d.remaining_bps(t)/1e4``
signed), W at ``F``; each fill moves that price by its crossing cost ``c`` and pays its taker
fee ``f``. Per unit of ``F``, a sell brings ``p·(1 − c)·(1 − f)`` and a buy costs
``p·(1 + c)·(1 + f)``; each of the four fills is taken at its own best step::

    dear V (short V, long W):
        v_in  = max_t (1 + j)(1 − c_V,bid)(1 − f_V)   v_out = min_t (1 + j)(1 + c_V,ask)(1 + f_V)
        w_in  = min_t (1 + c_W,ask)(1 + f_W)          w_out = max_t (1 − c_W,bid)(1 − f_W)
        available_bps(d, W) = max(0, v_in − v_out − w_in + w_out) × 1e4
    cheap V: the mirror (long V: buy at the asks, sell at the bids; short W)
    available_bps(d)    = max over W of available_bps(d, W)
    available_quote(d)  = available_bps(d) × N / 1e4

To first order that is ``|s|`` less the jump left at V's exit, less the four crossing costs
and the four fees (``fees_bps = 2 × (taker_V + taker_W) × 1e4``, what the summary reports).
A crossing cost ``c_X,bid``/``c_X,ask`` is the distance from venue X's own mid, in bps, of
the VWAP of selling/buying ``q`` on its real book at that step (the depth the target
notional needs): the quoted half spread plus the ladder walk. A step where a venue is down
(an outage) or its book cannot fill ``q`` offers that venue nothing. V's entry is watched
until ``D(t)`` has fallen to the best entry found (every cost is ≥ 0, so no later entry can
beat it); the rest until the market forgets the jump (``D < 0.01`` bps) or the run ends.

Only the dislocation's own move counts as gross: each cost is measured from its own venue's
mid, so basis noise, other dislocations and a persistent basis between the venues neither
add to nor take from it.

Upper bound. Each of the four fills is taken at its own best step (the legs need not fill
together, an exit may even precede an entry), and every fill any strategy could get on
those books is no better than the oracle's at that step (the VWAP of a smaller quantity is
no better). So no strategy trading one pair of at most the target notional on one
dislocation captures more *from the dislocation* than ``available_quote(d)`` (tested by
executing single pairs through the simulator's matching, the oracle's own plan among them).
It does NOT bound: stacking several pairs on one dislocation; trading basis noise; a pair
that captures two dislocations at once (opposite jumps on its two venues, one round trip for
both); the fair-value move on a pair whose legs fill at different moments (naked exposure);
a smaller pair on a step whose book cannot fill the target. So the run's realised PnL over
``available_quote`` can exceed 1; :func:`attribute` splits the realised PnL into the first
pair of each dislocation, the pairs stacked on it, and the rest.
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


def _sell(factor: float, cost_bps: float, fee: float) -> float:
    """Proceeds per unit of fair value of a sell at ``factor × (1 − cost)``, after the fee."""
    return factor * (1.0 - cost_bps * 1e-4) * (1.0 - fee)


def _buy(factor: float, cost_bps: float, fee: float) -> float:
    """Cash paid per unit of fair value for a buy at ``factor × (1 + cost)``, fee included."""
    return factor * (1.0 + cost_bps * 1e-4) * (1.0 + fee)


@attrs.define
class _Fill:
    """The best of one of the oracle's four fills so far: ``value`` is proceeds (a sell, to
    maximise) or cash paid (a buy, to minimise) per unit of fair value."""

    sell: bool
    value: float = math.nan
    ts: float | None = None
    cost: float | None = None

    def offer(self, t: float, value: float, cost: float) -> None:
        if math.isnan(self.value) or (value > self.value if self.sell else value < self.value):
            self.value, self.ts, self.cost = value, t, cost

    @property
    def signed(self) -> float:
        """Its contribution to the pair's result (NaN until found)."""
        return self.value if self.sell else -self.value


@attrs.define
class OracleTrack:
    """The oracle on one (dislocation, partner venue): the best of each of its four fills.

    Prices are modelled free of everything but the dislocation: the dislocated venue at
    ``fair × (1 + j(t))`` (``j`` the signed jump left), the partner at ``fair``, each fill
    at that price moved by its crossing cost (measured on the real book from that venue's
    mid) and paying its taker fee; per unit of fair value the pair's result is
    ``Σ sells − Σ buys`` of the four fills, each taken at its own best step.
    """

    dislocation: Dislocation
    partner: str
    fee_v: float  # taker fees, fractions
    fee_w: float
    v_in: _Fill = attrs.field(init=False)
    v_out: _Fill = attrs.field(init=False)
    w_in: _Fill = attrs.field(init=False)
    w_out: _Fill = attrs.field(init=False)
    entry_open: bool = True

    def __attrs_post_init__(self) -> None:
        dear = self.dislocation.size_bps > 0  # short the dislocated venue, long the partner
        self.v_in, self.v_out = _Fill(sell=dear), _Fill(sell=not dear)
        self.w_in, self.w_out = _Fill(sell=not dear), _Fill(sell=dear)

    @property
    def fees_bps(self) -> float:
        """The four taker fees at fair value, bps of notional."""
        return 2.0 * (self.fee_v + self.fee_w) * 1e4

    def observe(
        self,
        t: float,
        v_costs: tuple[float | None, float | None],
        w_costs: tuple[float | None, float | None],
    ) -> None:
        """One market step: each venue's ``(bid cost, ask cost)`` now (bps, see
        :func:`crossing_bps`), None for a side that cannot be traded now."""
        d = self.dislocation
        if t < d.start:
            return
        factor = 1.0 + d.remaining_bps(t) * 1e-4
        for fill, costs, fee, price in (
            (self.v_in, v_costs, self.fee_v, factor),
            (self.v_out, v_costs, self.fee_v, factor),
            (self.w_in, w_costs, self.fee_w, 1.0),
            (self.w_out, w_costs, self.fee_w, 1.0),
        ):
            if fill is self.v_in and not self.entry_open:
                continue
            cost = costs[0] if fill.sell else costs[1]
            if cost is not None:
                value = _sell(price, cost, fee) if fill.sell else _buy(price, cost, fee)
                fill.offer(t, value, cost)
        # Costs and fees are >= 0: once the jump left is no better than the best entry found
        # (a sell above the price, a buy below it), no later entry beats it.
        best = self.v_in.value
        if not math.isnan(best) and (factor <= best if self.v_in.sell else factor >= best):
            self.entry_open = False

    @property
    def available_bps(self) -> float:
        total = sum(f.signed for f in (self.v_in, self.v_out, self.w_in, self.w_out))
        return 0.0 if math.isnan(total) else max(0.0, total * 1e4)

    @property
    def entry_cost_bps(self) -> float | None:
        if self.v_in.cost is None or self.w_in.cost is None:
            return None
        return self.v_in.cost + self.w_in.cost

    @property
    def exit_cost_bps(self) -> float | None:
        if self.v_out.cost is None or self.w_out.cost is None:
            return None
        return self.v_out.cost + self.w_out.cost


@attrs.frozen(kw_only=True)
class OracleEdge:
    """The oracle's result for one dislocation: its best partner, its plan (the step of each
    leg's entry and exit) and its costs."""

    dislocation: Dislocation
    partner: str | None
    available_bps: float
    entry_cost_bps: float | None = None
    exit_cost_bps: float | None = None
    fees_bps: float | None = None
    dislocated_entry_ts: float | None = None
    dislocated_exit_ts: float | None = None
    partner_entry_ts: float | None = None
    partner_exit_ts: float | None = None


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
        entry_cost_bps=best.entry_cost_bps,
        exit_cost_bps=best.exit_cost_bps,
        fees_bps=best.fees_bps,
        dislocated_entry_ts=best.v_in.ts,
        dislocated_exit_ts=best.v_out.ts,
        partner_entry_ts=best.w_in.ts,
        partner_exit_ts=best.w_out.ts,
    )


BidAsk = tuple[float | None, float | None]


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
        costs: dict[tuple[str, str], BidAsk] = {}

        def cost(venue: str, asset: str) -> BidAsk:
            key = (venue, asset)
            found = costs.get(key)
            if found is None:
                found = costs[key] = self._costs(market, venue, asset, t)
            return found

        ended = []
        for d, tracks in self._active.items():
            dislocated = cost(d.venue, d.asset)
            for track in tracks:
                track.observe(t, dislocated, cost(track.partner, d.asset))
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
            tracks.append(
                OracleTrack(dislocation=d, partner=venue, fee_v=fee_v, fee_w=float(inst.taker_fee))
            )
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
