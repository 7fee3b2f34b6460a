"""The detector's fast path returns exactly what the straightforward implementation returns.

``reference_find`` below is the detector written the straightforward way (every pair past
the top-of-book prune sized with :func:`joint_size` on Decimals, then the entry and exit
VWAPs, then the round-trip edge against the threshold; funding settlements counted by
walking the schedule). On random venues, instruments and books both must return the same
opportunities, field for field (Decimals compared by their digits too), and count the same
skips.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbtrio.core.book import L2Book
from arbtrio.core.detector import DetectionStats, DetectorConfig, Opportunity, find_opportunities
from arbtrio.core.instruments import Instrument, joint_size
from arbtrio.core.types import FundingRate, Side

D = Decimal
_THIN_TOLERANCE = 1e-9


# -- the reference: the straightforward implementation ------------------------------------
class _RefVenue:
    def __init__(self, inst: Instrument, book: L2Book, rate: Decimal) -> None:
        self.inst, self.book, self.rate = inst, book, rate
        self.rate_f = float(rate)
        self.fee_bps = float(inst.taker_fee) * 1e4
        self.funding = 0.0
        top_ask, top_bid = book.best_ask(), book.best_bid()
        self.ask = top_ask[0] if top_ask is not None else None
        self.bid = top_bid[0] if top_bid is not None else None
        self.ask_ref = self.ask * self.rate_f if self.ask is not None else None
        self.bid_ref = self.bid * self.rate_f if self.bid is not None else None
        self.mid = (self.ask + self.bid) / 2 if self.ask and self.bid else 0.0
        self.reason: str | None = None


def _ref_settlement_bps(fr: FundingRate, now: float, horizon_s: float) -> float:
    """A long leg's funding cost at the settlements in (now, now + horizon], walked one by one
    (a settlement within half a second of ``now`` is the one just booked)."""
    interval = fr.interval_hours * 3600.0
    ts = fr.next_funding_ts
    if ts is None or not math.isfinite(ts):
        ts = (math.floor(now / interval) + 1) * interval
    while ts <= now + 0.5:
        ts += interval
    count = 0
    while ts <= now + horizon_s:
        count += 1
        ts += interval
    return float(fr.rate) * count * 1e4


def _ref_problem(
    book: L2Book, ask: float | None, bid: float | None, age_s: float, max_age_ms: float
) -> str | None:
    if not book.tradable:
        return "not_tradable"
    if age_s * 1000.0 > max_age_ms:
        return "stale"
    if ask is not None and bid is not None and bid >= ask:
        return "crossed"
    if (ask is not None and not 0.0 < ask < math.inf) or (
        bid is not None and not 0.0 < bid < math.inf
    ):
        return "bad_price"
    return None


def _dec(value: float) -> Decimal:
    return Decimal(repr(value))


def reference_find(
    asset: str,
    quotes: Mapping[str, tuple[Instrument, L2Book]],
    *,
    now: float,
    config: DetectorConfig,
    quote_rates: Mapping[str, Decimal],
    funding: Mapping[str, FundingRate] | None = None,
    stats: DetectionStats | None = None,
) -> list[Opportunity]:
    venues: list[_RefVenue] = []
    for key, (inst, book) in quotes.items():
        v = _RefVenue(inst, book, quote_rates[inst.quote])
        v.reason = _ref_problem(
            book, v.ask, v.bid, now - book.last_update_ts, config.max_quote_age_ms
        )
        if funding is not None and config.include_funding:
            fr = funding.get(key)
            if fr is None:
                v.reason = v.reason or "funding_unknown"
            else:
                v.funding = _ref_settlement_bps(fr, now, config.expected_holding_hours * 3600)
        venues.append(v)
    found: list[Opportunity] = []
    skipped: dict[str, int] = {}
    for a in venues:
        for b in venues:
            if a is b:
                continue
            reason = a.reason or b.reason
            if reason is None:
                if a.ask is None or a.bid is None or b.ask is None or b.bid is None:
                    reason = "empty_book"
                else:
                    assert a.ask_ref is not None and b.bid_ref is not None
                    carry = a.funding - b.funding
                    fees = 2 * (a.fee_bps + b.fee_bps)
                    costs = fees + config.slippage_buffer_bps + carry
                    top_exit = ((a.mid - a.bid) / a.mid + (b.ask - b.mid) / b.mid) * 1e4
                    top = (b.bid_ref / a.ask_ref - 1.0) * 1e4 - top_exit
                    if top - costs < config.entry_threshold_bps:
                        reason = "below_threshold"
                    else:
                        result = _ref_evaluate(asset, a, b, now, config, carry, costs)
                        if isinstance(result, Opportunity):
                            found.append(result)
                            continue
                        reason = result
            skipped[reason] = skipped.get(reason, 0) + 1
    if stats is not None:
        stats.pairs += len(venues) * (len(venues) - 1)
        stats.found += len(found)
        stats.skipped.update(skipped)
    found.sort(key=lambda o: (-o.edge_bps, o.long.venue, o.short.venue))
    return found


def _ref_evaluate(
    asset: str, a: _RefVenue, b: _RefVenue, now: float, config: DetectorConfig, carry: float,
    costs: float,
) -> Opportunity | str:  # fmt: skip
    assert a.ask is not None and b.bid is not None
    assert a.ask_ref is not None and b.bid_ref is not None
    target_qty = float(config.target_notional) / max(a.ask_ref, b.bid_ref)
    qty = joint_size(a.inst, b.inst, _dec(target_qty), _dec(a.ask), _dec(b.bid))
    if qty is None:
        return "too_small"
    q = float(qty)
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
    long_price, short_price = _dec(vwap_ask), _dec(vwap_bid)
    if qty * short_price < b.inst.min_notional:
        return "too_small"
    return Opportunity(
        asset=asset, long=a.inst, short=b.inst, qty=qty, long_price=long_price,
        short_price=short_price, long_notional=qty * long_price * a.rate,
        short_notional=qty * short_price * b.rate, gross_bps=gross,
        fees_bps=2 * (a.fee_bps + b.fee_bps), funding_bps=carry, edge_bps=edge, ts=now,
        exit_cost_bps=exit_cost,
    )  # fmt: skip


# -- random venues, instruments and books ---------------------------------------------------
NOW = 1_000.0
VENUES = ("hyperliquid", "bybit", "bitget", "gateio", "kucoin")
STEPS = [
    D(s)
    for s in (
        "1",
        "0.1",
        "0.01",
        "0.001",
        "0.0001",
        "0.00001",
        "0.5",
        "0.25",
        "0.02",
        "0.005",
        "10",
    )
]
MINIMUMS = [D(s) for s in ("0", "0.001", "0.01", "0.1", "1", "5", "0.03")]
NOTIONALS = [D(s) for s in ("0", "1", "5", "10", "100", "2000")]


@st.composite
def instruments(draw: st.DrawFn, venue: str) -> Instrument:
    return Instrument(
        venue=venue, symbol=f"X-{venue}", asset="X",
        quote="USDC" if venue == "hyperliquid" else "USDT", tick_size=D("0.0001"),
        lot_size=draw(st.sampled_from(STEPS)), min_size=draw(st.sampled_from(MINIMUMS)),
        min_notional=draw(st.sampled_from(NOTIONALS)),
        taker_fee=D(draw(st.integers(0, 10))) / 10_000, maker_fee=D(0), funding_interval_hours=8,
    )  # fmt: skip


def levels(
    draw: st.DrawFn, start: float, direction: float, tick: float
) -> list[tuple[float, float]]:
    """Up to 6 levels (rarely none); sizes scaled so a few thousand of notional is near."""
    n = 0 if draw(st.integers(0, 14)) == 0 else draw(st.integers(1, 6))
    out, price = [], start
    for _ in range(n):
        size = draw(st.sampled_from([1e-4, 0.01, 0.3, 1.0, 2.5, 7.0])) * 1_000 / start
        out.append((price, size))
        price += direction * tick * draw(st.integers(1, 5))
    return out


@st.composite
def markets(draw: st.DrawFn) -> tuple[dict[str, tuple[Instrument, L2Book]], float]:
    base = draw(st.sampled_from([0.05, 1.2345, 150.0, 3000.0, 65_000.0]))
    tick = base * 1e-4
    quotes: dict[str, tuple[Instrument, L2Book]] = {}
    for venue in draw(st.lists(st.sampled_from(VENUES), min_size=2, max_size=5, unique=True)):
        inst = draw(instruments(venue))
        mid = base * (1 + draw(st.integers(-60, 60)) / 10_000)
        half = tick * draw(st.integers(1, 4))
        book = L2Book(venue, inst.symbol)
        book.apply_snapshot(
            levels(draw, mid - half, -1.0, tick), levels(draw, mid + half, 1.0, tick),
            ts=NOW - (2.0 if draw(st.integers(0, 19)) == 0 else 0.0),
        )  # fmt: skip
        if draw(st.integers(0, 19)) == 0:
            book.invalidate("test")
        quotes[venue] = (inst, book)
    return quotes, base


def _fields(opp: Opportunity) -> tuple[object, ...]:
    return (
        opp.asset, opp.long.key, opp.short.key, str(opp.qty), str(opp.long_price),
        str(opp.short_price), str(opp.long_notional), str(opp.short_notional), opp.gross_bps,
        opp.fees_bps, opp.funding_bps, opp.exit_cost_bps, opp.edge_bps, opp.ts,
    )  # fmt: skip


@given(
    market=markets(),
    target=st.sampled_from([D(1), D(20), D(2000), D("12345.67"), D(10**7)]),
    entry=st.sampled_from([-50.0, -5.0, 0.0, 3.0, 20.0]),
    usdc=st.sampled_from([D(1), D("0.9997"), D("1.0004")]),
    include_funding=st.booleans(),
    rates=st.lists(st.integers(-100, 100), min_size=5, max_size=5),
)
def test_fast_path_returns_exactly_what_the_reference_returns(
    market: tuple[dict[str, tuple[Instrument, L2Book]], float], target: Decimal, entry: float,
    usdc: Decimal, include_funding: bool, rates: list[int],
) -> None:  # fmt: skip
    quotes, _base = market
    config = DetectorConfig(
        entry_threshold_bps=entry, exit_threshold_bps=0.0, slippage_buffer_bps=1.0,
        max_quote_age_ms=1_000.0, target_notional=target, max_holding_s=60.0,
        stop_widen_bps=10.0, include_funding=include_funding,
    )  # fmt: skip
    funding = {
        v: FundingRate(
            venue=v,
            symbol=f"X-{v}",
            rate=D(r) / 100_000,
            interval_hours=1 + i % 8,
            next_funding_ts=0.0,
        )
        for i, (v, r) in enumerate(zip(VENUES, rates, strict=True))
        if r != 0
    }
    rates_ = {"USDT": D(1), "USDC": usdc}
    kwargs = dict(now=NOW, config=config, quote_rates=rates_, funding=funding)
    fast_stats, ref_stats = DetectionStats(), DetectionStats()
    fast = find_opportunities("X", quotes, stats=fast_stats, **kwargs)  # type: ignore[arg-type]
    ref = reference_find("X", quotes, stats=ref_stats, **kwargs)  # type: ignore[arg-type]
    assert [_fields(o) for o in fast] == [_fields(o) for o in ref]
    assert fast == ref
    assert fast_stats == ref_stats


def _inst(venue: str, lot: str, min_size: str = "0", min_notional: str = "0") -> Instrument:
    return Instrument(
        venue=venue, symbol=f"X-{venue}", asset="X", quote="USDT", tick_size=D("0.01"),
        lot_size=D(lot), min_size=D(min_size), min_notional=D(min_notional),
        taker_fee=D("0.0001"), maker_fee=D(0), funding_interval_hours=8,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("target", "ask", "bid", "lot_a", "lot_b", "min_notional_a", "min_notional_b"),
    [
        ("3000", 2999.0, 3000.0, "0.01", "0.001", "0", "0"),  # exactly 1.00: floors on a step
        ("3000", 2999.0, 3000.0, "0.3", "0.2", "0", "0"),  # 1.0 is not a step of 0.6
        ("3000", 2999.99, 3000.0, "0.01", "0.01", "2999.99", "0"),  # buy notional at its min
        ("3000", 2999.99, 3000.0, "0.01", "0.01", "2999.991", "0"),  # ... a hair above it
        ("3000", 2999.0, 3000.0, "0.01", "0.01", "0", "3000"),  # sell notional at its min
        ("30", 0.1, 0.10003, "1", "1", "0", "0"),  # 299.91... steps of 1
        ("1", 3.0, 3.0001, "0.001", "0.001", "0.999", "0"),  # 0.333 × 3.0: the min exactly
        ("1", 3.0, 3.0001, "0.001", "0.001", "0.99900001", "0"),  # just short of it
        ("1e12", 0.1, 0.10003, "1", "1", "0", "0"),  # past the float-steps bound
    ],
)
def test_boundaries_take_the_exact_path_and_agree(
    target: str, ask: float, bid: float, lot_a: str, lot_b: str, min_notional_a: str,
    min_notional_b: str,
) -> None:  # fmt: skip
    a = _inst("bybit", lot_a, min_notional=min_notional_a)
    b = _inst("bitget", lot_b, min_notional=min_notional_b)
    book_a, book_b = L2Book("bybit", a.symbol), L2Book("bitget", b.symbol)
    book_a.apply_snapshot([(ask / 2, 1e15)], [(ask, 1e15)], ts=NOW)
    book_b.apply_snapshot([(bid, 1e15)], [(bid * 2, 1e15)], ts=NOW)
    config = DetectorConfig(
        entry_threshold_bps=-1e4, exit_threshold_bps=0.0, slippage_buffer_bps=0.0,
        max_quote_age_ms=1_000.0, target_notional=D(target), max_holding_s=60.0,
        stop_widen_bps=10.0,
    )  # fmt: skip
    quotes = {"bybit": (a, book_a), "bitget": (b, book_b)}
    kwargs = dict(now=NOW, config=config, quote_rates={"USDT": D(1)})
    fast_stats, ref_stats = DetectionStats(), DetectionStats()
    fast = find_opportunities("X", quotes, stats=fast_stats, **kwargs)  # type: ignore[arg-type]
    ref = reference_find("X", quotes, stats=ref_stats, **kwargs)  # type: ignore[arg-type]
    assert [_fields(o) for o in fast] == [_fields(o) for o in ref]
    assert fast_stats == ref_stats
