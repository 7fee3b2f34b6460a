"""Detector: the round-trip edge net of fees, exit cost, basis, funding and buffers; skips;
exit signals."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbtrio.core.book import L2Book
from arbtrio.core.detector import (
    SKIP_REASONS,
    DetectionStats,
    DetectorConfig,
    Opportunity,
    VenueOutlook,
    closing_spread_bps,
    exit_signal,
    find_candidates,
    find_opportunities,
)
from arbtrio.core.instruments import Instrument
from arbtrio.core.types import FundingRate

D = Decimal
NOW = 1_000.0
RATES = {"USDT": D(1), "USDC": D(1)}

HL = Instrument(
    venue="hyperliquid",
    symbol="ETH",
    asset="ETH",
    quote="USDC",
    tick_size=D("0.01"),
    lot_size=D("0.0001"),  # szDecimals 4
    min_size=D(0),
    min_notional=D(10),
    taker_fee=D("0.00045"),  # 4.5 bps
    maker_fee=D("0.00015"),
    funding_interval_hours=1,
    sig_figs=5,
    max_price_decimals=2,
)
BYBIT = Instrument(
    venue="bybit",
    symbol="ETHUSDT",
    asset="ETH",
    quote="USDT",
    tick_size=D("0.01"),
    lot_size=D("0.01"),
    min_size=D("0.01"),
    min_notional=D(5),
    taker_fee=D("0.00055"),  # 5.5 bps
    maker_fee=D("0.0002"),
    funding_interval_hours=8,
)
GATE = Instrument(
    venue="gateio",
    symbol="ETH_USDT",
    asset="ETH",
    quote="USDT",
    tick_size=D("0.01"),
    lot_size=D("0.01"),  # 1 contract = 0.01 ETH
    min_size=D("0.01"),
    min_notional=D(0),
    taker_fee=D("0.0005"),
    maker_fee=D("0.0002"),
    funding_interval_hours=8,
    contract_multiplier=D("0.01"),
)

CONFIG = DetectorConfig(
    entry_threshold_bps=5.0,
    exit_threshold_bps=2.0,
    slippage_buffer_bps=2.0,
    max_quote_age_ms=500.0,
    target_notional=D(3000),
    max_holding_s=3600.0,
    stop_widen_bps=20.0,
)


def book(inst: Instrument, bid: float, ask: float, size: float = 10.0, ts: float = NOW) -> L2Book:
    b = L2Book(inst.venue, inst.symbol)
    b.apply_snapshot([(bid, size), (bid - 1, 100.0)], [(ask, size), (ask + 1, 100.0)], ts=ts)
    return b


def quotes(*pairs: tuple[Instrument, L2Book]) -> dict[str, tuple[Instrument, L2Book]]:
    return {inst.venue: (inst, b) for inst, b in pairs}


def find(
    q: dict[str, tuple[Instrument, L2Book]],
    config: DetectorConfig = CONFIG,
    rates: dict[str, Decimal] = RATES,
    funding: dict[str, FundingRate] | None = None,
    stats: DetectionStats | None = None,
    outlook: dict[str, VenueOutlook] | None = None,
) -> list[Opportunity]:
    return find_opportunities(
        "ETH", q, now=NOW, config=config, quote_rates=rates, funding=funding, stats=stats,
        outlook=outlook,
    )  # fmt: skip


def half_spread_bps(bid: float, ask: float) -> float:
    """What crossing half a one-level spread costs, in bps of the mid."""
    return (ask - bid) / 2 / ((ask + bid) / 2) * 1e4


# HL 2999/3000 and Bybit 3019/3020: 63.3 bps gross, far past every cost.
def wide() -> dict[str, tuple[Instrument, L2Book]]:
    return quotes((HL, book(HL, 2999, 3000)), (BYBIT, book(BYBIT, 3019, 3020)))


EXIT_COST = half_spread_bps(2999, 3000) + half_spread_bps(3019, 3020)


# -- entry ----------------------------------------------------------------------------------
def test_spread_wider_than_all_costs_is_found_with_exact_sizing() -> None:
    # Buy Hyperliquid at 3000, sell Bybit at 3019: 63.3 bps gross; 20 bps of taker fees for
    # the round trip (4.5 + 5.5, twice), 2 bps buffer, and the exit cost: selling back at
    # the HL bid and buying back at the Bybit ask, half a spread each (≈ 3.3 bps).
    stats = DetectionStats()
    [opp] = find(wide(), stats=stats)
    assert (opp.long, opp.short) == (HL, BYBIT)
    assert opp.gross_bps == pytest.approx((3019 / 3000 - 1) * 1e4)
    assert opp.fees_bps == pytest.approx(20.0)
    assert opp.exit_cost_bps == pytest.approx(EXIT_COST)
    assert opp.funding_bps == 0.0 and opp.basis_bps == 0.0 and opp.buffer_bps == 0.0
    assert opp.edge_bps == pytest.approx(opp.gross_bps - 20 - 2 - EXIT_COST)
    # 3000 of notional at the dearer top (3019) is 0.9937 ETH; both venues trade 0.01 steps.
    assert opp.qty == D("0.99")
    assert (opp.long_price, opp.short_price) == (D(3000), D(3019))
    assert opp.long_notional == D("2970.00") and opp.short_notional == D("2988.81")
    assert opp.ts == NOW
    assert stats.pairs == 2 and stats.found == 1
    assert stats.skipped == {"below_threshold": 1}  # the reverse direction


def test_entry_fees_alone_no_longer_decide_a_round_trip_must_pay_its_exit() -> None:
    # 30 bps gross clears the 10 bps of entry fees by 18 after the buffer, but not the
    # round trip: 20 bps of fees and 3.3 bps of exit cost leave 4.7 < 5.
    q = quotes((HL, book(HL, 2999, 3000)), (BYBIT, book(BYBIT, 3009, 3010)))
    assert find(q) == []
    [opp] = find(q, attrs.evolve(CONFIG, entry_threshold_bps=4.0))
    assert opp.edge_bps == pytest.approx(30 - 20 - 2 - opp.exit_cost_bps)
    assert opp.exit_cost_bps == pytest.approx(
        half_spread_bps(2999, 3000) + half_spread_bps(3009, 3010)
    )


def test_the_basis_is_where_spreads_return_so_a_persistent_premium_is_no_edge() -> None:
    # Bybit trades 55 bps over Hyperliquid every day: the 63 bps gross is mostly that.
    outlook = {"hyperliquid": VenueOutlook(-27.5), "bybit": VenueOutlook(27.5)}
    stats = DetectionStats()
    assert find(wide(), outlook=outlook, stats=stats) == []
    assert stats.skipped == {"below_threshold": 2}
    # At a 20 bps premium, 43 bps of the gross are a dislocation worth taking.
    [opp] = find(wide(), outlook={"hyperliquid": VenueOutlook(-10), "bybit": VenueOutlook(10)})
    assert opp.basis_bps == pytest.approx(20.0)
    assert opp.edge_bps == pytest.approx(opp.gross_bps - 20 - 20 - 2 - EXIT_COST)


def test_latency_buffers_are_costs_and_a_venue_without_an_outlook_is_warming_up() -> None:
    outlook = {"hyperliquid": VenueOutlook(0.0, 3.0), "bybit": VenueOutlook(0.0, 1.5)}
    [opp] = find(wide(), outlook=outlook)
    assert opp.buffer_bps == pytest.approx(4.5)
    assert opp.edge_bps == pytest.approx(opp.gross_bps - 20 - 2 - EXIT_COST - 4.5)
    stats = DetectionStats()
    assert find(wide(), outlook={"bybit": VenueOutlook()}, stats=stats) == []
    assert stats.skipped == {"warming_up": 2}


def test_fee_negative_spread_is_not_taken() -> None:
    # 8 bps gross is less than the 10 bps of taker fees alone.
    stats = DetectionStats()
    q = quotes((HL, book(HL, 2999, 3000)), (BYBIT, book(BYBIT, 3002.4, 3003)))
    assert find(q, stats=stats) == []
    assert stats.skipped == {"below_threshold": 2}


def test_spread_just_under_the_threshold_after_slippage_is_not_taken() -> None:
    # Bybit bid 3009.07: 30.2 bps gross − 20 fees − 2 buffer − 3.3 exit cost = 4.9 < 5.
    q = quotes((HL, book(HL, 2999, 3000)), (BYBIT, book(BYBIT, 3009.07, 3010.07)))
    edge = (
        (3009.07 / 3000 - 1) * 1e4
        - 22
        - half_spread_bps(2999, 3000)
        - half_spread_bps(3009.07, 3010.07)
    )
    assert 4.8 < edge < 5.0
    assert find(q) == []
    assert len(find(q, attrs.evolve(CONFIG, slippage_buffer_bps=1.0))) == 1


def test_stale_book_is_skipped() -> None:
    stats = DetectionStats()
    q = quotes((HL, book(HL, 2999, 3000)), (BYBIT, book(BYBIT, 3019, 3020, ts=NOW - 0.501)))
    assert find(q, stats=stats) == []
    assert stats.skipped == {"stale": 2}
    q = quotes((HL, book(HL, 2999, 3000)), (BYBIT, book(BYBIT, 3019, 3020, ts=NOW - 0.5)))
    assert len(find(q)) == 1  # exactly max_quote_age_ms old is still fresh


def test_a_feed_that_flows_but_lags_the_venue_clock_is_not_traded() -> None:
    # Received 0.1 s ago, so fresh by receipt; but the venue stamped it 0.45 s before that
    # (above the feed's floor): its content is 0.55 s old.
    lagging = book(BYBIT, 3019, 3020, ts=NOW - 0.1)
    lagging.lag_s = 0.45
    stats = DetectionStats()
    assert find(quotes((HL, book(HL, 2999, 3000)), (BYBIT, lagging)), stats=stats) == []
    assert stats.skipped == {"stale": 2}
    lagging.lag_s = 0.3  # fresh enough by age, but over max_feed_lag_ms
    config = attrs.evolve(CONFIG, max_feed_lag_ms=250.0)
    stats = DetectionStats()
    assert find(quotes((HL, book(HL, 2999, 3000)), (BYBIT, lagging)), config, stats=stats) == []
    assert stats.skipped == {"lagging": 2}
    assert len(find(quotes((HL, book(HL, 2999, 3000)), (BYBIT, lagging)))) == 1


def test_untradable_book_is_skipped_even_with_a_great_price() -> None:
    resyncing = book(BYBIT, 3100, 3101)
    resyncing.invalidate("sequence gap")
    stats = DetectionStats()
    assert find(quotes((HL, book(HL, 2999, 3000)), (BYBIT, resyncing)), stats=stats) == []
    assert stats.skipped == {"not_tradable": 2}


def test_crossed_book_is_skipped() -> None:
    crossed = book(BYBIT, 3009, 3010)
    crossed.apply_delta([(3011.0, 1.0)], [], ts=NOW)
    stats = DetectionStats()
    assert find(quotes((HL, book(HL, 2999, 3000)), (BYBIT, crossed)), stats=stats) == []
    assert stats.skipped == {"crossed": 2}


@pytest.mark.parametrize("broken", [0.0, -1.0, math.inf, math.nan])
def test_book_with_a_broken_best_price_is_skipped(broken: float) -> None:
    bad = L2Book("bybit", "ETHUSDT")
    bad.apply_snapshot([(broken, 10.0)], [(3100.0, 10.0)], ts=NOW)
    stats = DetectionStats()
    assert find(quotes((HL, book(HL, 2999, 3000)), (BYBIT, bad)), stats=stats) == []
    assert stats.skipped == {"crossed" if broken == math.inf else "bad_price": 2}


def test_usdc_rate_is_applied_to_hyperliquid_prices() -> None:
    q = quotes((HL, book(HL, 2999, 3000)), (BYBIT, book(BYBIT, 3009, 3010)))
    # USDC worth 1.003 USDT: HL's 3000 USDC ask is 3009 USDT, the spread is gone.
    assert find(q, rates={"USDT": D(1), "USDC": D("1.003")}) == []
    # USDC worth 0.998 USDT: the ask is 2994 USDT, gross = 3009/2994 − 1 ≈ 50.1 bps.
    [opp] = find(q, rates={"USDT": D(1), "USDC": D("0.998")})
    assert opp.gross_bps == pytest.approx((3009 / 2994 - 1) * 1e4)
    assert opp.long_notional == opp.qty * D(3000) * D("0.998")


def test_missing_quote_rate_is_an_error_never_one() -> None:
    q = quotes((HL, book(HL, 2999, 3000)), (BYBIT, book(BYBIT, 3009, 3010)))
    with pytest.raises(ValueError, match="USDC"):
        find(q, rates={"USDT": D(1)})


def test_funding_settlements_inside_the_holding_window_are_costs() -> None:
    with_funding = attrs.evolve(CONFIG, include_funding=True, expected_holding_hours=8.0)
    # From t = 1000 s, the next 8 h hold 8 hourly Hyperliquid settlements and 1 of Bybit's
    # 8-hourly ones (at 28 800 s, on the epoch grid): the HL long pays 2 bps × 8, the Bybit
    # short receives 8 bps × 1: a carry of 8 bps.
    funding = {
        "hyperliquid": FundingRate(
            venue="hyperliquid", symbol="ETH", rate=D("0.0002"), interval_hours=1
        ),
        "bybit": FundingRate(venue="bybit", symbol="ETHUSDT", rate=D("0.0008"), interval_hours=8),
    }
    [opp] = find(wide(), with_funding, funding=funding)
    assert opp.funding_bps == pytest.approx(8.0)
    assert opp.edge_bps == pytest.approx(opp.gross_bps - 20 - 2 - EXIT_COST - 8)
    # Bybit funding turns deeply negative: the short pays 24 bps → carry 40 bps, no trade.
    funding["bybit"] = attrs.evolve(funding["bybit"], rate=D("-0.0024"))
    assert find(wide(), with_funding, funding=funding) == []
    assert len(find(wide(), funding=funding)) == 1  # include_funding off: funding ignored


def test_a_settlement_just_outside_the_window_costs_nothing_and_just_inside_costs_it_all() -> None:
    config = attrs.evolve(CONFIG, include_funding=True, expected_holding_hours=0.1)  # 360 s
    rate = D("-0.0030")  # the HL long would receive 30 bps at the settlement
    for next_ts, carry in ((NOW + 361, 0.0), (NOW + 359, -30.0)):
        funding = {
            "hyperliquid": FundingRate(venue="hyperliquid", symbol="ETH", rate=rate,
                                       interval_hours=1, next_funding_ts=next_ts),
            "bybit": FundingRate(venue="bybit", symbol="ETHUSDT", rate=D(0), interval_hours=8,
                                 next_funding_ts=NOW + 20_000),
        }  # fmt: skip
        [opp] = find(wide(), config, funding=funding)
        assert opp.funding_bps == pytest.approx(carry)


def test_funding_can_make_the_reverse_direction_worth_it() -> None:
    # Buying Bybit at 3010 and selling HL at 2999 is −36.5 bps gross, but a short on HL
    # that receives 10 bps at each of 8 hourly settlements earns 80 bps.
    q = quotes((HL, book(HL, 2999, 3000)), (BYBIT, book(BYBIT, 3009, 3010)))
    config = attrs.evolve(CONFIG, include_funding=True, expected_holding_hours=8.0)
    funding = {
        "hyperliquid": FundingRate(
            venue="hyperliquid", symbol="ETH", rate=D("0.001"), interval_hours=1
        ),
        "bybit": FundingRate(venue="bybit", symbol="ETHUSDT", rate=D(0), interval_hours=8),
    }
    opps = find(q, config, funding=funding)
    assert [(o.long.venue, o.short.venue) for o in opps] == [("bybit", "hyperliquid")]
    assert opps[0].funding_bps == pytest.approx(-80.0)
    exit_cost = half_spread_bps(3009, 3010) + half_spread_bps(2999, 3000)
    assert opps[0].edge_bps == pytest.approx((2999 / 3010 - 1) * 1e4 - 22 - exit_cost + 80)


def test_unknown_funding_is_skipped_and_missing_funding_input_is_an_error() -> None:
    q = quotes((HL, book(HL, 2999, 3000)), (BYBIT, book(BYBIT, 3009, 3010)))
    config = attrs.evolve(CONFIG, include_funding=True)
    funding = {
        "hyperliquid": FundingRate(venue="hyperliquid", symbol="ETH", rate=D(0), interval_hours=1)
    }
    stats = DetectionStats()
    assert find(q, config, funding=funding, stats=stats) == []
    assert stats.skipped == {"funding_unknown": 2}
    with pytest.raises(ValueError, match="include_funding"):
        find(q, config)


def test_thin_book_is_skipped_on_the_entry_side_and_on_the_exit_side() -> None:
    thin = L2Book("hyperliquid", "ETH")
    thin.apply_snapshot([(2999.0, 10.0)], [(3000.0, 0.5)], ts=NOW)  # 0.5 < 0.99 wanted
    stats = DetectionStats()
    assert find(quotes((HL, thin), (BYBIT, book(BYBIT, 3019, 3020))), stats=stats) == []
    assert stats.skipped["thin_book"] == 1
    no_exit = L2Book("hyperliquid", "ETH")
    no_exit.apply_snapshot([(2999.0, 0.5)], [(3000.0, 10.0)], ts=NOW)  # cannot sell it back
    stats = DetectionStats()
    assert find(quotes((HL, no_exit), (BYBIT, book(BYBIT, 3019, 3020))), stats=stats) == []
    assert stats.skipped["thin_book"] == 1


def test_edge_uses_the_vwap_of_the_sized_quantity_not_the_top() -> None:
    # 0.5 ETH at 3000 then plenty at 3006: buying 0.99 averages ≈ 3003.03.
    layered = L2Book("hyperliquid", "ETH")
    layered.apply_snapshot([(2999.0, 10.0)], [(3000.0, 0.5), (3006.0, 10.0)], ts=NOW)
    [opp] = find(quotes((HL, layered), (BYBIT, book(BYBIT, 3022, 3023))))
    vwap = (0.5 * 3000 + 0.49 * 3006) / 0.99
    assert float(opp.long_price) == pytest.approx(vwap)
    assert opp.gross_bps == pytest.approx((3022 / vwap - 1) * 1e4)


def test_too_small_target_is_no_trade() -> None:
    # 8 of notional is below Hyperliquid's 10 minimum.
    stats = DetectionStats()
    config = attrs.evolve(CONFIG, target_notional=D(8))
    assert find(wide(), config, stats=stats) == []
    assert stats.skipped["too_small"] == 1


def test_opportunities_come_best_first_and_every_pair_is_counted_once() -> None:
    q = quotes(
        (HL, book(HL, 2999, 3000)),
        (BYBIT, book(BYBIT, 3019, 3020)),
        (GATE, book(GATE, 3022, 3023)),
    )
    stats = DetectionStats()
    opps = find(q, stats=stats)
    assert [(o.long.venue, o.short.venue) for o in opps] == [
        ("hyperliquid", "gateio"),
        ("hyperliquid", "bybit"),
    ]
    assert opps[0].edge_bps > opps[1].edge_bps
    assert stats.pairs == 6
    assert stats.found + sum(stats.skipped.values()) == stats.pairs
    assert set(stats.skipped) <= set(SKIP_REASONS)


def test_candidates_are_the_opportunities_before_materialising() -> None:
    q = quotes(
        (HL, book(HL, 2999, 3000)),
        (BYBIT, book(BYBIT, 3019, 3020)),
        (GATE, book(GATE, 3022, 3023)),
    )
    c_stats, o_stats = DetectionStats(), DetectionStats()
    kwargs = dict(now=NOW, config=CONFIG, quote_rates=RATES)
    candidates = find_candidates("ETH", q, stats=c_stats, **kwargs)  # type: ignore[arg-type]
    opps = find_opportunities("ETH", q, stats=o_stats, **kwargs)  # type: ignore[arg-type]
    assert [c.materialize() for c in candidates] == opps
    assert c_stats == o_stats
    for c, o in zip(candidates, opps, strict=True):
        assert (c.asset, c.long, c.short, c.qty, c.edge_bps, c.gross_bps) == (
            o.asset, o.long, o.short, o.qty, o.edge_bps, o.gross_bps,
        )  # fmt: skip
        assert (c.long_book, c.short_book) == (q[o.long.venue][1], q[o.short.venue][1])


@pytest.mark.parametrize(
    ("min_notional", "found"),
    [
        ("2998.99", True),  # decided in floats
        ("2999", True),  # qty × sell VWAP is exactly the minimum: decided exactly
        ("2999.000001", False),  # a hair short of it: decided exactly
        ("2999.01", False),  # decided in floats
    ],
)
def test_sell_leg_minimum_notional_at_its_vwap_is_decided_before_materialising(
    min_notional: str, found: bool
) -> None:
    # Sized 1.00 ETH at the top of book (3000 clears every minimum here); selling it walks
    # the Bybit bids to a VWAP of 2999, and the sell leg must clear its minimum at that VWAP.
    bybit = attrs.evolve(BYBIT, min_notional=D(min_notional), taker_fee=D(0))
    hl = attrs.evolve(HL, taker_fee=D(0))
    sell = L2Book("bybit", bybit.symbol)
    sell.apply_snapshot([(3000.0, 0.5), (2998.0, 100.0)], [(3001.0, 100.0)], ts=NOW)
    buy = L2Book("hyperliquid", hl.symbol)
    buy.apply_snapshot([(2900.0, 100.0)], [(2950.0, 100.0)], ts=NOW)
    config = attrs.evolve(CONFIG, target_notional=D(3000), slippage_buffer_bps=0.0)
    stats = DetectionStats()
    candidates = find_candidates(
        "ETH", quotes((hl, buy), (bybit, sell)), now=NOW, config=config, quote_rates=RATES,
        stats=stats,
    )  # fmt: skip
    assert [(c.long.venue, c.qty) for c in candidates] == (
        [("hyperliquid", D("1.00"))] if found else []
    )
    assert stats.found == int(found)
    assert stats.skipped["too_small"] == int(not found)
    if found:
        opp = candidates[0].materialize()
        assert opp.short_price == D(2999)
        assert opp.qty * opp.short_price >= bybit.min_notional


def test_instrument_of_another_asset_is_an_error() -> None:
    btc = attrs.evolve(BYBIT, asset="BTC")
    with pytest.raises(ValueError, match="BTC"):
        find(quotes((HL, book(HL, 2999, 3000)), (btc, book(btc, 3009, 3010))))


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="max_quote_age_ms"):
        attrs.evolve(CONFIG, max_quote_age_ms=0.0)
    with pytest.raises(ValueError, match="target_notional"):
        attrs.evolve(CONFIG, target_notional=D(0))
    with pytest.raises(ValueError, match="slippage_buffer_bps"):
        attrs.evolve(CONFIG, slippage_buffer_bps=-1.0)


@given(
    ask_a=st.integers(min_value=290_000, max_value=310_000),
    bid_b=st.integers(min_value=290_000, max_value=310_000),
    usdc=st.integers(min_value=9_950, max_value=10_050),
    entry=st.floats(min_value=0.0, max_value=50.0),
)
def test_edge_matches_an_exact_reference_and_the_threshold_decides(
    ask_a: int, bid_b: int, usdc: int, entry: float
) -> None:
    a_ask, b_bid = ask_a / 100, bid_b / 100  # prices to the cent around 3000
    rate = D(usdc) / 10_000
    q = quotes((HL, book(HL, a_ask - 5, a_ask)), (BYBIT, book(BYBIT, b_bid, b_bid + 5)))
    config = attrs.evolve(CONFIG, entry_threshold_bps=entry)
    opps = [o for o in find(q, config, {"USDT": D(1), "USDC": rate}) if o.long is HL]
    gross = (Fraction(b_bid) / (Fraction(a_ask) * Fraction(rate)) - 1) * 10_000
    # Round-trip fees 20, buffer 2, and half a 5.00 spread on each exit side.
    a_mid, b_mid = Fraction(ask_a * 2 - 500, 200), Fraction(bid_b * 2 + 500, 200)
    exit_cost = (Fraction(5, 2) / a_mid + Fraction(5, 2) / b_mid) * 10_000
    edge = float(gross - 20 - 2 - exit_cost)
    if abs(edge - entry) < 1e-6:
        return  # too close to call in floats
    assert bool(opps) is (edge >= entry)
    if opps:
        assert opps[0].edge_bps == pytest.approx(edge, abs=1e-6)


# -- exit -----------------------------------------------------------------------------------
def exit_now(
    long_book: L2Book,
    short_book: L2Book,
    *,
    now: float = NOW,
    entry: float = 30.0,
    qty: float | None = None,
) -> str | None:
    return exit_signal(
        HL,
        long_book,
        BYBIT,
        short_book,
        entry_spread_bps=entry,
        opened_ts=NOW - 60,
        now=now,
        config=CONFIG,
        quote_rates=RATES,
        qty=qty,
    )


def test_closing_spread_is_short_ask_over_long_bid() -> None:
    spread = closing_spread_bps(
        HL,
        book(HL, 3000, 3001),
        BYBIT,
        book(BYBIT, 3002, 3003),
        now=NOW,
        config=CONFIG,
        quote_rates=RATES,
    )
    assert spread == pytest.approx((3003 / 3000 - 1) * 1e4)


def test_converged_spread_exits() -> None:
    # Sell the HL long at 3000, buy back the Bybit short at 3000.3: 1 bps ≤ 2.
    assert exit_now(book(HL, 3000, 3001), book(BYBIT, 3000, 3000.3)) == "converged"


def test_overshoot_past_zero_counts_as_converged() -> None:
    assert exit_now(book(HL, 3010, 3011), book(BYBIT, 2999, 3000)) == "converged"


def test_spread_in_between_keeps_the_position() -> None:
    assert exit_now(book(HL, 3000, 3001), book(BYBIT, 3005, 3006)) is None  # 20 bps


def test_widening_by_the_stop_distance_stops_out() -> None:
    # Entered at 30 bps; the close now costs 51 bps ≥ 30 + stop_widen 20.
    assert exit_now(book(HL, 3000, 3001), book(BYBIT, 3014, 3015.3)) == "stop"
    assert exit_now(book(HL, 3000, 3001), book(BYBIT, 3013, 3014)) is None  # 46.7 bps


def test_max_holding_time_exits_only_on_trustworthy_books() -> None:
    later = NOW - 60 + CONFIG.max_holding_s
    fresh = book(BYBIT, 3005, 3006, ts=later)
    assert exit_now(book(HL, 3000, 3001, ts=later), fresh, now=later) == "max_hold"
    assert exit_now(book(HL, 3000, 3001), book(BYBIT, 3005, 3006), now=later - 1) is None
    # A stale book prices no close, not even at the holding limit: the pair stays hedged.
    stale = book(BYBIT, 3005, 3006, ts=NOW)
    assert exit_now(book(HL, 3000, 3001, ts=later), stale, now=later) is None


def test_stale_or_untradable_books_never_trigger_convergence_or_stop() -> None:
    converged_but_stale = book(BYBIT, 3000, 3000.3, ts=NOW - 1)
    assert exit_now(book(HL, 3000, 3001), converged_but_stale) is None
    stop_but_resyncing = book(BYBIT, 3014, 3015)
    stop_but_resyncing.invalidate("checksum")
    assert exit_now(book(HL, 3000, 3001), stop_but_resyncing) is None


def test_exit_with_quantity_needs_books_deep_enough_to_close_it() -> None:
    # Converged at the mids; closing 5 ETH walks the Bybit asks (a cost paid whenever the
    # position closes, so it does not delay the exit), closing 50 ETH is more than the book.
    short = L2Book("bybit", "ETHUSDT")
    short.apply_snapshot([(2999.0, 10.0)], [(3000.3, 1.0), (3001.55, 4.0)], ts=NOW)
    assert exit_now(book(HL, 3000, 3001), short) == "converged"
    assert exit_now(book(HL, 3000, 3001), short, qty=5.0) == "converged"
    assert exit_now(book(HL, 3000, 3001), short, qty=50.0) is None  # too thin to judge


def test_a_spread_converges_to_its_basis_not_to_zero() -> None:
    # Bybit's mid sits 16.7 bps over Hyperliquid's; with a 15 bps basis that is converged
    # (≤ 15 + 2), with none it is a spread still worth holding for.
    long, short = book(HL, 3000, 3001), book(BYBIT, 3005, 3006)
    assert exit_now(long, short) is None
    assert exit_signal(
        HL, long, BYBIT, short, entry_spread_bps=30.0, opened_ts=NOW - 60, now=NOW,
        config=CONFIG, quote_rates=RATES, basis_bps=15.0,
    ) == "converged"  # fmt: skip


def test_a_funding_payment_due_soon_closes_a_spread_with_less_left_to_gain() -> None:
    # 16.7 bps of mid spread left to converge; the pair pays 20 bps at the next settlement.
    long, short = book(HL, 3000, 3001), book(BYBIT, 3005, 3006)
    kwargs = dict(entry_spread_bps=30.0, opened_ts=NOW - 60, now=NOW, config=CONFIG,
                  quote_rates=RATES)  # fmt: skip
    assert exit_signal(HL, long, BYBIT, short, funding_bps=20.0, **kwargs) == "funding"  # type: ignore[arg-type]
    assert exit_signal(HL, long, BYBIT, short, funding_bps=10.0, **kwargs) is None  # type: ignore[arg-type]
    assert exit_signal(HL, long, BYBIT, short, funding_bps=-50.0, **kwargs) is None  # type: ignore[arg-type]


def test_a_zero_stop_widen_turns_the_spread_stop_off() -> None:
    no_stop = attrs.evolve(CONFIG, stop_widen_bps=0.0)
    assert exit_signal(
        HL, book(HL, 3000, 3001), BYBIT, book(BYBIT, 3014, 3015.3), entry_spread_bps=30.0,
        opened_ts=NOW - 60, now=NOW, config=no_stop, quote_rates=RATES,
    ) is None  # fmt: skip
