"""Opportunity detection and exit signals (pure; spec 008).

The detector runs on every book change, so the inside is floats (market data is float, spec
008) and Decimal appears only in what it returns: the jointly sized quantity and the reference
prices of an :class:`Opportunity`.

Definitions used throughout (all spreads in basis points, prices converted into the reference
currency with ``quote_rates``: Hyperliquid quotes USDC, the CEXs quote USDT):

* **gross spread** of buying on A and selling on B for a base quantity Q:
  ``(vwap_bid_B(Q)·rate_B / vwap_ask_A(Q)·rate_A − 1)·1e4``.
* **mid spread** of B over A: ``(mid_B·rate_B / mid_A·rate_A − 1)·1e4``; the **basis** of the
  pair is what the mid spread returns to: ``basis_B − basis_A``, each venue's persistent
  premium over the cross-venue reference (:class:`VenueOutlook`, measured by
  :class:`~arbtrio.core.basis.MarketModel`). Spreads converge to the basis, not to zero.
* **exit cost**: what closing Q costs on today's books beyond the mids, selling on A's bids
  and buying on B's asks: ``((mid_A − vwap_bid_A(Q))/mid_A + (vwap_ask_B(Q) − mid_B)/mid_B)·1e4``.
* **round-trip fees**: taker fees of both legs, paid twice (entry and exit by IOC).
* **funding carry** (with ``include_funding``): what the pair pays at the discrete funding
  settlements of both venues within ``expected_holding_hours`` (:mod:`arbtrio.core.funding`:
  each venue's own schedule and interval); the long leg on A pays ``rate_A`` per settlement
  and the short leg on B receives ``rate_B``.
* **latency buffer**: each venue's ``buffer_bps`` (:class:`VenueOutlook`), the move its leg
  can suffer between our decision and its fill (measured latency × current volatility).
* **edge** (the round-trip edge) = gross − basis − exit cost − round-trip fees − funding
  carry − both latency buffers − ``slippage_buffer_bps``: what the round trip is expected to
  earn if the spread returns to the basis, every cost paid.
* **closing spread** of an open position (long on L, short on S):
  ``(ask_S·rate_S / bid_L·rate_L − 1)·1e4``, what buying back the short and selling the long
  costs now. A position's gross gain is about ``entry spread − closing spread``.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal
from typing import Literal

import attrs

from arbtrio.core.book import L2Book
from arbtrio.core.funding import settlement_cost_bps
from arbtrio.core.instruments import Instrument, floor_qty, joint_size, joint_step, step_multiple
from arbtrio.core.types import FundingRate, Side

ExitReason = Literal["converged", "funding", "max_hold", "stop"]

# Why a (buy venue, sell venue) pair produced no opportunity. Book-level reasons first.
SKIP_REASONS = (
    "not_tradable",  # the feed cleared the book's tradable flag (resync, gap, disconnect)
    "stale",  # last update older than max_quote_age_ms (receipt age + the feed's lag)
    "lagging",  # the feed runs more than max_feed_lag_ms behind the venue's own clock
    "crossed",  # best bid >= best ask: corrupt or half-applied
    "bad_price",  # a best price that is not a positive finite number
    "funding_unknown",  # include_funding, but no funding rate for the venue
    "warming_up",  # an outlook was given without this venue: its basis is not known yet
    "empty_book",  # the side to take is empty
    "too_small",  # joint sizing found no quantity clearing both venues' steps and minimums
    "thin_book",  # a book cannot fill the sized quantity
    "below_threshold",  # edge < entry_threshold_bps
)

_THIN_TOLERANCE = 1e-9  # relative: float sums of level sizes are not exact


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"DetectorConfig.{attribute.name} must be >= 0, got {value}")


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"DetectorConfig.{attribute.name} must be > 0, got {value}")


def _positive_decimal(_: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value > 0:
        raise ValueError(f"DetectorConfig.{attribute.name} must be a Decimal > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class DetectorConfig:
    """Thresholds and sizing of the detector. Spreads and costs are in bps.

    ``target_notional`` is the intended size of each leg in the reference currency, valued at
    the top of book; joint sizing rounds it down to what both venues can trade.
    ``stop_widen_bps`` = 0 turns the spread stop off (a stop on a mean-reverting spread
    realises the loss it would have recovered; ``max_holding_s`` bounds the hold instead).
    The ``basis_*``, ``vol_*`` and ``latency_*`` knobs are the market model's
    (:class:`~arbtrio.core.basis.MarketModel`, spec 008); ``funding_exit_lead_s`` is how far
    ahead a funding settlement weighs on the exit rule.
    """

    entry_threshold_bps: float
    exit_threshold_bps: float
    slippage_buffer_bps: float = attrs.field(validator=_non_negative)
    max_quote_age_ms: float = attrs.field(validator=_positive)
    target_notional: Decimal = attrs.field(validator=_positive_decimal)
    max_holding_s: float = attrs.field(validator=_positive)
    stop_widen_bps: float = attrs.field(validator=_non_negative)
    include_funding: bool = False
    expected_holding_hours: float = attrs.field(default=1.0, validator=_non_negative)
    sanity_band_bps: float = attrs.field(default=300.0, validator=_positive)
    max_feed_lag_ms: float = attrs.field(default=500.0, validator=_positive)
    funding_exit_lead_s: float = attrs.field(default=120.0, validator=_non_negative)
    basis_window_s: float = attrs.field(default=600.0, validator=_positive)
    basis_warmup_s: float = attrs.field(default=20.0, validator=_non_negative)
    vol_half_life_s: float = attrs.field(default=120.0, validator=_positive)
    latency_z: float = attrs.field(default=1.0, validator=_non_negative)
    assumed_latency_ms: float = attrs.field(default=200.0, validator=_positive)


@attrs.frozen
class VenueOutlook:
    """What the detector expects of one venue beyond its book, in bps: ``basis_bps``, its
    mid's persistent premium over the cross-venue reference (negative: a discount), and
    ``buffer_bps``, the adverse move its leg may suffer before it fills."""

    basis_bps: float = 0.0
    buffer_bps: float = 0.0


_NO_OUTLOOK = VenueOutlook()


@attrs.frozen(kw_only=True, slots=False)  # a dict class: ~40 % cheaper to build, per pair
class Opportunity:
    """Buy ``qty`` on ``long`` and sell it on ``short``; edge net of all costs, in bps.

    ``long_price``/``short_price`` are the VWAPs the books offered for ``qty`` (reference
    values for limits and PnL, not order prices: the position quantises its own limits).
    ``long_notional``/``short_notional`` are ``qty × VWAP × quote rate``, in the reference
    currency. ``fees_bps`` are the round-trip fees, ``basis_bps`` the pair's basis,
    ``exit_cost_bps`` the exit cost and ``buffer_bps`` both latency buffers (module
    docstring): ``edge_bps = gross_bps − basis_bps − exit_cost_bps − fees_bps − funding_bps −
    buffer_bps − slippage buffer``.
    """

    asset: str
    long: Instrument
    short: Instrument
    qty: Decimal
    long_price: Decimal
    short_price: Decimal
    long_notional: Decimal
    short_notional: Decimal
    gross_bps: float
    fees_bps: float
    funding_bps: float
    edge_bps: float
    ts: float
    basis_bps: float = 0.0
    exit_cost_bps: float = 0.0
    buffer_bps: float = 0.0


@attrs.define
class DetectionStats:
    """Counts of evaluated ordered venue pairs: each is either found or skipped for a reason.

    Pass one instance to every :func:`find_opportunities` call and read it for metrics.
    """

    pairs: int = 0
    found: int = 0
    skipped: Counter[str] = attrs.Factory(Counter)


class Candidate:
    """A (buy venue, sell venue) pair that yields an :class:`Opportunity`, decided in floats.

    :func:`find_candidates` returns exactly the pairs :func:`find_opportunities` turns into
    opportunities (every boundary already decided exactly), with the same float figures;
    :meth:`materialize` builds the exact Opportunity (Decimal prices and notionals) for the
    one pair the caller trades. ``asset``, ``long``, ``short``, ``qty``, ``gross_bps``,
    ``basis_bps``, ``exit_cost_bps``, ``buffer_bps``, ``fees_bps``, ``funding_bps``,
    ``edge_bps`` and ``ts`` read as on the Opportunity; ``long_book``/``short_book`` are the
    books the VWAPs were taken from.
    """

    __slots__ = (
        "asset",
        "basis_bps",
        "buffer_bps",
        "edge_bps",
        "exit_cost_bps",
        "fees_bps",
        "funding_bps",
        "gross_bps",
        "long",
        "long_book",
        "long_rate",
        "long_vwap",
        "qty",
        "short",
        "short_book",
        "short_rate",
        "short_vwap",
        "ts",
    )

    def __init__(
        self,
        asset: str,
        a: _Venue,
        b: _Venue,
        qty: Decimal,
        vwap_ask: float,
        vwap_bid: float,
        gross: float,
        carry: float,
        exit_cost: float,
        edge: float,
        now: float,
    ) -> None:
        self.asset = asset
        self.long: Instrument = a.inst
        self.short: Instrument = b.inst
        self.long_book: L2Book = a.book
        self.short_book: L2Book = b.book
        self.long_rate = a.rate
        self.short_rate = b.rate
        self.qty = qty
        self.long_vwap = vwap_ask
        self.short_vwap = vwap_bid
        self.gross_bps = gross
        self.fees_bps = 2.0 * (a.fee_bps + b.fee_bps)
        self.funding_bps = carry
        self.basis_bps = b.basis - a.basis
        self.exit_cost_bps = exit_cost
        self.buffer_bps = a.buffer + b.buffer
        self.edge_bps = edge
        self.ts = now

    def __repr__(self) -> str:
        return (
            f"Candidate({self.asset} long={self.long.venue} short={self.short.venue} "
            f"qty={self.qty} edge_bps={self.edge_bps:.3f})"
        )

    def materialize(self) -> Opportunity:
        """The exact Opportunity of this pair (what :func:`find_opportunities` returns)."""
        qty = self.qty
        long_price, short_price = _dec(self.long_vwap), _dec(self.short_vwap)
        return Opportunity(
            asset=self.asset,
            long=self.long,
            short=self.short,
            qty=qty,
            long_price=long_price,
            short_price=short_price,
            long_notional=qty * long_price * self.long_rate,
            short_notional=qty * short_price * self.short_rate,
            gross_bps=self.gross_bps,
            fees_bps=self.fees_bps,
            funding_bps=self.funding_bps,
            edge_bps=self.edge_bps,
            ts=self.ts,
            basis_bps=self.basis_bps,
            exit_cost_bps=self.exit_cost_bps,
            buffer_bps=self.buffer_bps,
        )


class _Venue:
    """Per-call float view of one venue (built once, read by the venue's 2(n−1) pairs)."""

    __slots__ = (
        "ask",
        "ask_ref",
        "basis",
        "bid",
        "bid_ref",
        "book",
        "buffer",
        "fee_bps",
        "funding",
        "half_ask",
        "half_bid",
        "inst",
        "mid",
        "rate",
        "rate_f",
        "reason",
    )

    def __init__(self, inst: Instrument, book: L2Book, rate: Decimal) -> None:
        self.inst = inst
        self.book = book
        self.rate = rate
        self.rate_f = rate_f = float(rate)
        self.fee_bps = _fee_bps(inst)
        self.funding = 0.0  # what a long leg pays at settlements in the window, bps
        self.basis = 0.0
        self.buffer = 0.0
        top_ask, top_bid = book.best_ask(), book.best_bid()
        self.ask = ask = top_ask[0] if top_ask is not None else None
        self.bid = bid = top_bid[0] if top_bid is not None else None
        self.ask_ref = ask * rate_f if ask is not None else None  # reference currency
        self.bid_ref = bid * rate_f if bid is not None else None
        # Exit cost at the top of book, bps: selling at the bid, buying at the ask.
        if ask is not None and bid is not None and 0.0 < bid < ask:
            self.mid = mid = (ask + bid) / 2
            self.half_bid = (mid - bid) / mid * 1e4
            self.half_ask = (ask - mid) / mid * 1e4
        else:
            self.mid = 0.0
            self.half_bid = self.half_ask = math.inf
        self.reason: str | None = None


def quote_rate(quote_rates: Mapping[str, Decimal], inst: Instrument) -> Decimal:
    """The reference value of one unit of ``inst``'s quote currency; never a silent 1."""
    try:
        rate = quote_rates[inst.quote]
    except KeyError:
        raise ValueError(
            f"quote_rates has no rate for {inst.quote!r} (quote currency of "
            f"{inst.venue}:{inst.symbol})"
        ) from None
    if not rate > 0:
        raise ValueError(f"quote_rates[{inst.quote!r}] must be > 0, got {rate}")
    return rate


def book_problem(
    book: L2Book, now: float, max_quote_age_ms: float, max_feed_lag_ms: float = math.inf
) -> str | None:
    """Why ``book`` must not be traded on at ``now`` (a :data:`SKIP_REASONS` entry), or None.

    Freshness is judged by the venue's clock where the feed stamps it (``L2Book.lag_s``): a
    book is ``stale`` when its receipt age plus the feed's lag exceeds ``max_quote_age_ms``
    and ``lagging`` when the lag alone exceeds ``max_feed_lag_ms``."""
    top_ask, top_bid = book.best_ask(), book.best_bid()
    return _problem(
        book,
        top_ask[0] if top_ask is not None else None,
        top_bid[0] if top_bid is not None else None,
        now - book.last_update_ts,
        max_quote_age_ms,
        max_feed_lag_ms,
    )


def band_outliers(mids: Mapping[str, float], band_bps: float) -> set[str]:
    """The venues whose mid is more than ``band_bps`` away from the other venues' mids.

    A book can be corrupt and still ordered (Hyperliquid sends no checksum), so a book far
    from every other venue's for the same asset is not traded on. With three venues or more
    a venue is an outlier when its mid leaves the band around the median of the others'; with
    two, neither can be trusted over the other, so both are when they differ by more than
    the band. With one there is nothing to compare."""
    if len(mids) < 2:
        return set()
    band = band_bps / 10_000
    if len(mids) == 2:
        (va, a), (vb, b) = mids.items()
        return {va, vb} if abs(a / b - 1) > band else set()
    out = set()
    for venue, mid in mids.items():
        others = sorted(m for v, m in mids.items() if v != venue)
        n = len(others)
        median = others[n // 2] if n % 2 else (others[n // 2 - 1] + others[n // 2]) / 2
        if abs(mid / median - 1) > band:
            out.add(venue)
    return out


def _problem(
    book: L2Book,
    ask: float | None,
    bid: float | None,
    age_s: float,
    max_age_ms: float,
    max_lag_ms: float,
) -> str | None:
    if not book.tradable:
        return "not_tradable"
    lag_ms = book.lag_s * 1000.0
    if age_s * 1000.0 + lag_ms > max_age_ms:
        return "stale"
    if lag_ms > max_lag_ms:
        return "lagging"
    if ask is not None and bid is not None and bid >= ask:
        return "crossed"
    if (ask is not None and not 0.0 < ask < math.inf) or (
        bid is not None and not 0.0 < bid < math.inf
    ):
        return "bad_price"  # non-positive, infinite or NaN: a broken feed, never an edge
    return None


def _dec(value: float) -> Decimal:
    """A float as the Decimal of its shortest repr (0.1 → Decimal("0.1"))."""
    return Decimal(repr(value))


def find_opportunities(
    asset: str,
    quotes: Mapping[str, tuple[Instrument, L2Book]],
    *,
    now: float,
    config: DetectorConfig,
    quote_rates: Mapping[str, Decimal],
    funding: Mapping[str, FundingRate] | None = None,
    stats: DetectionStats | None = None,
    outlook: Mapping[str, VenueOutlook] | None = None,
) -> list[Opportunity]:
    """Every (buy venue, sell venue) opportunity on ``asset`` with edge ≥ the entry threshold,
    best edge first: :func:`find_candidates`, each materialised (same arguments and errors).

    A caller that trades one pair should call :func:`find_candidates` and materialise only
    that one; the Decimal figures are most of the cost of a found pair.
    """
    return [
        c.materialize()
        for c in find_candidates(
            asset,
            quotes,
            now=now,
            config=config,
            quote_rates=quote_rates,
            funding=funding,
            stats=stats,
            outlook=outlook,
        )
    ]


def find_candidates(
    asset: str,
    quotes: Mapping[str, tuple[Instrument, L2Book]],
    *,
    now: float,
    config: DetectorConfig,
    quote_rates: Mapping[str, Decimal],
    funding: Mapping[str, FundingRate] | None = None,
    stats: DetectionStats | None = None,
    outlook: Mapping[str, VenueOutlook] | None = None,
) -> list[Candidate]:
    """Every (buy venue, sell venue) pair on ``asset`` with edge ≥ the entry threshold, as
    :class:`Candidate` s whose :meth:`~Candidate.materialize` is the exact Opportunity.

    Args:
        quotes: ``venue → (instrument, book)`` for ``asset``.
        now: the runtime clock (seconds), compared with each book's ``last_update_ts``.
        quote_rates: reference value of one unit of each quote currency.
        funding: ``venue → FundingRate``; required when ``config.include_funding``.
        stats: if given, each ordered pair is counted as found or skipped with a reason.
        outlook: ``venue → VenueOutlook`` (basis and latency buffer); a venue missing from
            a given outlook is skipped as ``warming_up``. None: no basis, no buffer.

    Returns:
        Candidates best edge first (ties by venue names, so the order is deterministic).

    Raises:
        ValueError: an instrument of another asset, a missing or non-positive quote rate, or
            ``include_funding`` without ``funding``.
    """
    if config.include_funding and funding is None:
        raise ValueError("DetectorConfig.include_funding is set but no funding was given")
    horizon_s = config.expected_holding_hours * 3600.0
    venues: list[_Venue] = []
    for key, (inst, book) in quotes.items():
        if inst.asset != asset:
            raise ValueError(f"quotes[{key!r}] is {inst.venue}:{inst.symbol} of {inst.asset!r}")
        v = _Venue(inst, book, quote_rate(quote_rates, inst))
        v.reason = _problem(book, v.ask, v.bid, now - book.last_update_ts,
                            config.max_quote_age_ms, config.max_feed_lag_ms)  # fmt: skip
        if funding is not None and config.include_funding:
            fr = funding.get(key)
            if fr is None:
                v.reason = v.reason or "funding_unknown"
            elif fr.interval_hours <= 0:
                raise ValueError(f"funding[{key!r}].interval_hours must be > 0")
            else:
                v.funding = settlement_cost_bps(fr, now, horizon_s)
        if outlook is not None:
            view = outlook.get(key)
            if view is None:
                v.reason = v.reason or "warming_up"
            else:
                v.basis, v.buffer = view.basis_bps, view.buffer_bps
        venues.append(v)

    found: list[Candidate] = []
    skipped: dict[str, int] = {}
    entry = config.entry_threshold_bps
    slippage = config.slippage_buffer_bps
    target_f = float(config.target_notional)
    for a in venues:
        for b in venues:
            if a is b:
                continue
            reason = a.reason or b.reason
            if reason is None:
                if a.ask_ref is None or b.bid_ref is None or a.bid is None or b.ask is None:
                    reason = "empty_book"
                else:
                    carry = a.funding - b.funding
                    costs = (
                        2.0 * (a.fee_bps + b.fee_bps) + slippage + carry
                        + (b.basis - a.basis) + a.buffer + b.buffer
                    )  # fmt: skip
                    # Top of book bounds every VWAP from the good side (the gross from above,
                    # the exit cost from below): prune before any sizing. This is the common
                    # case, so it stays inline.
                    top = (b.bid_ref / a.ask_ref - 1.0) * 1e4 - a.half_bid - b.half_ask
                    if top - costs < entry:
                        reason = "below_threshold"
                    else:
                        result = _evaluate(asset, a, b, now, config, carry, costs, target_f)
                        if isinstance(result, Candidate):
                            found.append(result)
                            continue
                        reason = result
            skipped[reason] = skipped.get(reason, 0) + 1
    if stats is not None:
        stats.pairs += len(venues) * (len(venues) - 1)
        stats.found += len(found)
        stats.skipped.update(skipped)
    found.sort(key=lambda c: (-c.edge_bps, c.long.venue, c.short.venue))
    return found


@functools.lru_cache(maxsize=1024)
def _fee_bps(inst: Instrument) -> float:
    return float(inst.taker_fee) * 1e4


class _PairSizing:
    """What :func:`joint_size` needs for one (buy, sell) instrument pair, precomputed.

    ``exact`` is False when the joint step is not a whole multiple of both lots (it always is:
    it is their least common multiple); the detector then sizes with :func:`joint_size`.
    ``k_min`` is the fewest joint steps clearing both minimum sizes (and > 0).
    """

    __slots__ = ("exact", "k_min", "min_notional", "step", "step_f")

    def __init__(self, a: Instrument, b: Instrument) -> None:
        self.step = step = joint_step(a, b)
        self.step_f = float(step)
        self.exact = floor_qty(a, step) == step and floor_qty(b, step) == step
        least = (max(a.min_size, b.min_size) / step).to_integral_value(rounding=ROUND_CEILING)
        self.k_min = max(1, int(least))
        self.min_notional = (
            (a.min_notional, float(a.min_notional)),
            (b.min_notional, float(b.min_notional)),
        )


@functools.lru_cache(maxsize=4096)
def _pair_sizing(a: Instrument, b: Instrument) -> _PairSizing:
    return _PairSizing(a, b)


_FLOAT_STEPS_MAX = 1e8  # below this many steps a float quotient is exact to well under 1e-6
_FLOAT_MARGIN = 1e-6  # ... so a fractional part this far from an integer floors exactly
_NOTIONAL_MARGIN = 1e-9  # relative: a float product this far from a minimum decides exactly


def _joint_qty(
    a: _Venue, b: _Venue, sizing: _PairSizing, target_qty: float
) -> tuple[Decimal, float] | None:
    """``joint_size(a.inst, b.inst, _dec(target_qty), _dec(a.ask), _dec(b.bid))`` exactly,
    with its float.

    The number of joint steps is floored in floats when the quotient is provably far from an
    integer, the minimum sizes are an integer compare, and each minimum notional is decided in
    floats unless the product is within a relative 1e-9 of it; every other case (and a pair
    whose step is not a multiple of both lots) takes the Decimal path.
    """
    assert a.ask is not None and b.bid is not None
    steps = target_qty / sizing.step_f
    k = int(steps) if sizing.exact and 0.0 <= steps < _FLOAT_STEPS_MAX else -1
    if k < 0 or not _FLOAT_MARGIN < steps - k < 1.0 - _FLOAT_MARGIN:
        qty = joint_size(a.inst, b.inst, _dec(target_qty), _dec(a.ask), _dec(b.bid))
        return None if qty is None else (qty, float(qty))
    if k < sizing.k_min:
        return None
    qty, q = _step_multiple(sizing.step, k)
    (min_a, min_a_f), (min_b, min_b_f) = sizing.min_notional
    if min_a and not _clears_notional(qty, q, a.ask, min_a, min_a_f):
        return None
    if min_b and not _clears_notional(qty, q, b.bid, min_b, min_b_f):
        return None
    return qty, q


@functools.lru_cache(maxsize=4096)  # the same few sizes recur while prices drift
def _step_multiple(step: Decimal, k: int) -> tuple[Decimal, float]:
    qty = step_multiple(step, k)
    return qty, float(qty)


def _clears_notional(
    qty: Decimal, q: float, price: float, minimum: Decimal, minimum_f: float
) -> bool:
    """``qty × _dec(price) >= minimum`` (``q`` is ``float(qty)``), in floats when unambiguous."""
    value = q * price
    if value >= minimum_f * (1.0 + _NOTIONAL_MARGIN):
        return True
    if value <= minimum_f * (1.0 - _NOTIONAL_MARGIN):
        return False
    return qty * _dec(price) >= minimum


def _evaluate(
    asset: str,
    a: _Venue,
    b: _Venue,
    now: float,
    config: DetectorConfig,
    carry: float,
    costs: float,
    target_notional: float,
) -> Candidate | str:
    """Buy on ``a``, sell on ``b`` (both books usable, top of book past the threshold).

    Floats decide (joint size, VWAPs, exit cost, edge, the sell leg's minimum notional at its
    VWAP, with the exact fallbacks); the Decimal figures wait for :meth:`Candidate.materialize`.
    A book that cannot fill the quantity on the side its exit takes is ``thin_book`` too.
    """
    assert a.ask_ref is not None and b.bid_ref is not None
    sizing = _pair_sizing(a.inst, b.inst)
    sized = _joint_qty(a, b, sizing, target_notional / max(a.ask_ref, b.bid_ref))
    if sized is None:
        return "too_small"
    qty, q = sized
    need = q * (1.0 - _THIN_TOLERANCE)
    vwap_ask, filled_a = a.book.vwap(Side.BUY, q)
    vwap_bid, filled_b = b.book.vwap(Side.SELL, q)
    if vwap_ask is None or vwap_bid is None or filled_a < need or filled_b < need:
        return "thin_book"
    gross = (vwap_bid * b.rate_f / (vwap_ask * a.rate_f) - 1.0) * 1e4
    exit_bid, exit_a = a.book.vwap(Side.SELL, q)
    exit_ask, exit_b = b.book.vwap(Side.BUY, q)
    if exit_bid is None or exit_ask is None or exit_a < need or exit_b < need:
        return "thin_book"
    exit_cost = ((a.mid - exit_bid) / a.mid + (exit_ask - b.mid) / b.mid) * 1e4
    edge = gross - costs - exit_cost
    if edge < config.entry_threshold_bps:
        return "below_threshold"
    # qty × _dec(vwap_bid) >= the sell leg's minimum: its VWAP is below its top of book.
    min_b, min_b_f = sizing.min_notional[1]
    if min_b and not _clears_notional(qty, q, vwap_bid, min_b, min_b_f):
        return "too_small"
    return Candidate(asset, a, b, qty, vwap_ask, vwap_bid, gross, carry, exit_cost, edge, now)


def closing_spread_bps(
    long: Instrument,
    long_book: L2Book,
    short: Instrument,
    short_book: L2Book,
    *,
    now: float,
    config: DetectorConfig,
    quote_rates: Mapping[str, Decimal],
    qty: float | None = None,
) -> float | None:
    """The closing spread in bps (module docstring), or None if it cannot be trusted now.

    With ``qty`` the spread uses the VWAPs for that base quantity (bid on the long venue, ask
    on the short venue), otherwise the top of book. None when either book is not tradable,
    stale, crossed or empty on the needed side, or too thin for ``qty``.
    """
    rate_l = float(quote_rate(quote_rates, long))
    rate_s = float(quote_rate(quote_rates, short))
    age, lag = config.max_quote_age_ms, config.max_feed_lag_ms
    if book_problem(long_book, now, age, lag) or book_problem(short_book, now, age, lag):
        return None
    if qty is None:
        top_bid, top_ask = long_book.best_bid(), short_book.best_ask()
        if top_bid is None or top_ask is None:
            return None
        bid, ask = top_bid[0], top_ask[0]
    else:
        need = qty * (1.0 - _THIN_TOLERANCE)
        vbid, filled_l = long_book.vwap(Side.SELL, qty)
        vask, filled_s = short_book.vwap(Side.BUY, qty)
        if vbid is None or vask is None or filled_l < need or filled_s < need:
            return None
        bid, ask = vbid, vask
    return (ask * rate_s / (bid * rate_l) - 1.0) * 1e4


def mid_spread_bps(
    long: Instrument,
    long_book: L2Book,
    short: Instrument,
    short_book: L2Book,
    *,
    quote_rates: Mapping[str, Decimal],
) -> float | None:
    """The mid spread of the short venue over the long one, in bps (None: a side empty)."""
    lb, la = long_book.best_bid(), long_book.best_ask()
    sb, sa = short_book.best_bid(), short_book.best_ask()
    if lb is None or la is None or sb is None or sa is None:
        return None
    rate_l = float(quote_rate(quote_rates, long))
    rate_s = float(quote_rate(quote_rates, short))
    return ((sb[0] + sa[0]) * rate_s / ((lb[0] + la[0]) * rate_l) - 1.0) * 1e4


def exit_signal(
    long: Instrument,
    long_book: L2Book,
    short: Instrument,
    short_book: L2Book,
    *,
    entry_spread_bps: float,
    opened_ts: float,
    now: float,
    config: DetectorConfig,
    quote_rates: Mapping[str, Decimal],
    qty: float | None = None,
    basis_bps: float = 0.0,
    funding_bps: float = 0.0,
) -> ExitReason | None:
    """Why an open position (long on ``long``, short on ``short``) should close now, or None.

    Closing now beats holding when the spread has come back to where holding expects it to
    go: with the mid spread ``m`` (:func:`mid_spread_bps`) and the pair's basis
    ``basis_bps`` (short venue's basis − long venue's), and ``funding_bps`` what the pair
    would pay at the funding settlements of the next ``funding_exit_lead_s`` (negative: it
    would receive):

    * ``"converged"``: ``m ≤ basis_bps + exit_threshold_bps``.
    * ``"funding"``: not converged, but ``m ≤ basis_bps + exit_threshold_bps + funding_bps``:
      what is left to gain is less than the settlement about to be paid.
    * ``"stop"`` (unless ``stop_widen_bps`` is 0): the closing spread
      (:func:`closing_spread_bps`) ``≥ entry_spread_bps + stop_widen_bps``.
    * ``"max_hold"``: ``now − opened_ts ≥ max_holding_s``.

    In that order of precedence, and only on trustworthy books (tradable, fresh, uncrossed,
    deep enough for ``qty``): on any other book there is no exit signal at all, not even
    ``max_hold``: a close priced on a stale book is how legs are left naked.
    """
    spread = closing_spread_bps(
        long,
        long_book,
        short,
        short_book,
        now=now,
        config=config,
        quote_rates=quote_rates,
        qty=qty,
    )
    if spread is None:
        return None
    mid = mid_spread_bps(long, long_book, short, short_book, quote_rates=quote_rates)
    if mid is not None:
        target = basis_bps + config.exit_threshold_bps
        if mid <= target:
            return "converged"
        if funding_bps > 0 and mid <= target + funding_bps:
            return "funding"
    if config.stop_widen_bps > 0 and spread >= entry_spread_bps + config.stop_widen_bps:
        return "stop"
    if now - opened_ts >= config.max_holding_s:
        return "max_hold"
    return None
