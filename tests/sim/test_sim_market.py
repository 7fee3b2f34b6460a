"""SimMarket: real venue conventions, ladders on tick and lot, liquidity taken and refilled,
dislocations, funding on schedule, faults and latency, and determinism from the seed."""

from __future__ import annotations

import math
import tomllib
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbtrio.core.instruments import is_valid_price
from arbtrio.core.types import OrderStatus, Side
from arbtrio.sim.config import (
    FEED_FAULTS,
    ORDER_FAULTS,
    AssetConfig,
    BasisConfig,
    DislocationConfig,
    FaultRates,
    LatencyConfig,
    SimConfig,
    VenueOverride,
    default_sim_config,
    structure_sim_config,
    unstructure_sim_config,
)
from arbtrio.sim.market import Dislocation, SimMarket, UnknownInstrument
from arbtrio.sim.summary import edge_summary


def started(config: SimConfig | None = None, until: float = 5.0) -> SimMarket:
    market = SimMarket(config or default_sim_config())
    market.advance(0.0)
    market.advance(until)
    return market


# -- conventions ---------------------------------------------------------------------------
def test_symbols_and_instrument_conventions():
    config = SimConfig(
        assets=(
            AssetConfig(asset="BTC", price=65_000.0),
            AssetConfig(asset="ETH", price=3_500.0),
            AssetConfig(
                asset="SOL",
                price=150.0,
                overrides={"bitget": VenueOverride(funding_interval_hours=4)},
            ),
        )
    )
    market = SimMarket(config)
    expected = {
        "hyperliquid": "BTC",
        "bybit": "BTCUSDT",
        "bitget": "BTCUSDT",
        "gateio": "BTC_USDT",
        "kucoin": "XBTUSDTM",
    }
    for venue, symbol in expected.items():
        assert market.symbol_for(venue, "BTC") == symbol
    hl = market.instrument("hyperliquid", "BTC")
    assert (hl.quote, hl.sig_figs, hl.max_price_decimals) == ("USDC", 5, 1)
    assert hl.lot_size == Decimal("0.00001") and hl.min_notional == 10
    assert hl.taker_fee == Decimal("0.00045") and hl.funding_interval_hours == 1
    gate = market.instrument("gateio", "BTC_USDT")
    assert gate.contract_multiplier == Decimal("0.0001") == gate.lot_size
    kucoin = market.instrument("kucoin", "XBTUSDTM")
    assert kucoin.contract_multiplier == Decimal("0.001") and kucoin.asset == "BTC"
    assert market.instrument("bybit", "BTCUSDT").taker_fee == Decimal("0.00055")
    assert market.instrument("bitget", "SOLUSDT").funding_interval_hours == 4
    assert market.instrument("bybit", "SOLUSDT").funding_interval_hours == 8
    assert market.instrument("hyperliquid", "SOL").lot_size == Decimal("0.01")
    for venue in market.venues:
        quote = "USDC" if venue == "hyperliquid" else "USDT"
        assert {i.quote for i in market.instruments(venue)} == {quote}
    with pytest.raises(UnknownInstrument, match="unknown symbol"):
        market.instrument("bybit", "DOGEUSDT")


def test_an_asset_without_builtin_conventions_gets_derived_ones():
    config = SimConfig(assets=(AssetConfig(asset="DOGE", price=0.15, volatility=1.0),))
    market = started(config)
    for venue in market.venues:
        symbol = market.symbol_for(venue, "DOGE")
        inst = market.instrument(venue, symbol)
        bids, asks = market.book_levels(venue, symbol)
        assert bids and asks and bids[0][0] < asks[0][0]
        assert all(is_valid_price(inst, p) for p, _ in bids + asks)
    assert market.symbol_for("kucoin", "DOGE") == "DOGEUSDTM"


# -- ladders -------------------------------------------------------------------------------
def test_ladders_are_on_tick_and_lot_best_first_and_around_the_mid():
    market = started(until=30.0)
    for venue in market.venues:
        for asset in market.assets:
            symbol = market.symbol_for(venue, asset)
            inst = market.instrument(venue, symbol)
            bids, asks = market.book_levels(venue, symbol)
            assert len(bids) == len(asks) == market.config.ladder.levels
            assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
            assert [p for p, _ in asks] == sorted(p for p, _ in asks)
            assert bids[0][0] < asks[0][0]
            mid = market.mid(venue, asset)
            assert float(bids[0][0]) <= mid <= float(asks[0][0])
            for price, size in bids + asks:
                assert is_valid_price(inst, price), (venue, price)
                assert size > 0 and size % inst.lot_size == 0 and size >= inst.min_size
            fbids, fasks = market.book_levels_float(venue, symbol)
            assert fbids == [(float(p), float(s)) for p, s in bids]
            assert fasks == [(float(p), float(s)) for p, s in asks]


def test_taking_liquidity_removes_it_and_it_refills():
    market = started()
    _, asks = market.book_levels("bybit", "BTCUSDT")
    version = market.book_version("bybit", "BTCUSDT")
    (p0, s0), (p1, _) = asks[0], asks[1]
    ex = market.execute(
        "bybit", "BTCUSDT", side=Side.BUY, qty=s0, price=p0, reduce_only=False,
        client_order_id="take", now=market.now,
    )  # fmt: skip
    assert ex.status is OrderStatus.FILLED and ex.filled_qty == s0
    _, after = market.book_levels("bybit", "BTCUSDT")
    assert after[0][0] == p1  # the touch was taken
    assert market.book_version("bybit", "BTCUSDT") == version + 1
    # A second identical order cannot fill at the consumed price.
    again = market.execute(
        "bybit", "BTCUSDT", side=Side.BUY, qty=s0, price=p0, reduce_only=False,
        client_order_id="again", now=market.now,
    )  # fmt: skip
    assert again.filled_qty == 0 and again.status is OrderStatus.CANCELLED
    # Depletion decays with the refill half-life (2 s by default), measured on a quiet book.
    quiet = SimConfig(
        assets=(AssetConfig(asset="BTC", price=65_000.0, volatility=0.0),),
        basis=BasisConfig(std_bps=0.0),
        dislocations=DislocationConfig(rate_per_hour=0.0),
    )
    still = started(quiet)
    (price, size), *_ = still.book_levels("bybit", "BTCUSDT")[1]
    still.execute(
        "bybit", "BTCUSDT", side=Side.BUY, qty=size, price=price, reduce_only=False,
        client_order_id="t", now=still.now,
    )  # fmt: skip
    assert still.book_levels("bybit", "BTCUSDT")[1][0][0] > price
    still.advance(still.now + 20.0)  # ten half-lives, same refresh epoch or not: refilled
    (price2, _), *_ = still.book_levels("bybit", "BTCUSDT")[1]
    assert price2 == price


def test_version_moves_only_when_the_ladder_changes():
    quiet = SimConfig(
        assets=(AssetConfig(asset="BTC", price=65_000.0, volatility=0.0),),
        basis=BasisConfig(std_bps=0.0),
        dislocations=DislocationConfig(rate_per_hour=0.0),
    )
    market = started(quiet, until=0.1)
    v = market.book_version("kucoin", "XBTUSDTM")
    market.advance(1.0)  # nothing moves inside one refresh epoch
    assert market.book_version("kucoin", "XBTUSDTM") == v
    market.advance(6.0)  # a new epoch redraws the sizes
    assert market.book_version("kucoin", "XBTUSDTM") == v + 1


# -- dislocations and edge -----------------------------------------------------------------
def test_dislocations_are_recorded_and_move_the_mid():
    config = SimConfig(
        assets=(AssetConfig(asset="BTC", price=65_000.0, volatility=0.0),),
        basis=BasisConfig(std_bps=0.0),
        dislocations=DislocationConfig(rate_per_hour=600.0, min_bps=30, max_bps=30),
    )
    market = started(config, until=0.0)
    steps = 0
    while not market.dislocations:
        steps += 1
        market.advance(steps * 0.1)
    d = market.dislocations[0]
    assert d.start == pytest.approx(market.step_time)
    assert abs(d.size_bps) == pytest.approx(30.0)
    assert market.basis_bps(d.venue, "BTC") == pytest.approx(d.size_bps)
    expected_mid = 65_000.0 * (1 + d.size_bps * 1e-4)
    assert market.mid(d.venue, "BTC") == pytest.approx(expected_mid)
    assert d.remaining_bps(d.start + d.half_life_s) == pytest.approx(d.size_bps / 2)
    assert market.available_edge_bps(d) > 0


def test_available_edge_definition():
    market = SimMarket(default_sim_config())
    d = Dislocation(
        venue="bybit", asset="BTC", symbol="BTCUSDT", start=1.0, size_bps=-40.0,
        half_life_s=30.0, fair_value=65_000.0,
    )  # fmt: skip
    # Cheapest partner of bybit (5.5 bps) is hyperliquid (4.5 bps): 2 × 10 + 2 × spread.
    cost = 2 * (5.5 + 4.5) + 2 * market.config.ladder.spread_bps
    assert market.round_trip_cost_bps("bybit", "hyperliquid") == pytest.approx(cost)
    assert market.available_edge_bps(d) == pytest.approx(40.0 - cost)
    small = Dislocation(
        venue="bybit", asset="BTC", symbol="BTCUSDT", start=2.0, size_bps=5.0,
        half_life_s=30.0, fair_value=65_000.0,
    )  # fmt: skip
    assert market.available_edge_bps(small) == 0.0
    summary = edge_summary(market, 10_000.0, until=10.0, dislocations=[d, small])
    assert (summary.dislocations, summary.tradable) == (2, 1)
    assert summary.available_quote == pytest.approx((40.0 - cost) * 1.0)
    assert summary.by_venue_quote == {"bybit": pytest.approx(40.0 - cost)}
    assert summary.capture_ratio(summary.available_quote / 2) == pytest.approx(0.5)


# -- funding -------------------------------------------------------------------------------
def test_funding_is_paid_on_schedule_into_the_balance():
    config = SimConfig(assets=(AssetConfig(asset="BTC", price=65_000.0, volatility=0.0),))
    market = started(config, until=1.0)
    _, asks = market.book_levels("hyperliquid", "BTC")
    market.execute(
        "hyperliquid", "BTC", side=Side.BUY, qty=Decimal("0.1"), price=asks[3][0],
        reduce_only=False, client_order_id="long", now=market.now,
    )  # fmt: skip
    rate = market.funding_rate("hyperliquid", "BTC")
    assert rate.interval_hours == 1 and rate.next_funding_ts == 3600.0
    before = market.balances("hyperliquid")[0].total
    market.advance(3600.05)
    (payment,) = market.funding_payments("hyperliquid")
    assert payment.ts == 3600.0 and payment.position == Decimal("0.1")
    assert payment.amount == (-payment.position * payment.mark_price * payment.rate).quantize(
        Decimal("1e-8")
    )
    assert market.balances("hyperliquid")[0].total == before + payment.amount
    # The CEX venues settle every 8 h; a flat account books nothing.
    assert market.funding_rate("bybit", "BTCUSDT").next_funding_ts == 28_800.0
    assert market.funding_payments("bybit") == []


# -- faults and latency --------------------------------------------------------------------
def test_fault_rates_zero_and_one_and_per_venue_override():
    config = SimConfig(
        faults=FaultRates(reject=1.0), venue_faults={"kucoin": FaultRates(rate_limit=1.0)}
    )
    market = SimMarket(config)
    assert all(market.fault("bybit", "reject") for _ in range(50))
    assert not any(market.fault("bybit", "rate_limit") for _ in range(50))
    assert all(market.fault("kucoin", "rate_limit") for _ in range(50))
    assert not any(market.fault("kucoin", "reject") for _ in range(50))
    with pytest.raises(ValueError, match="unknown fault kind"):
        market.fault("bybit", "meteor")


def test_fault_frequency_matches_the_rate():
    market = SimMarket(SimConfig(faults=FaultRates.every(0.2)))
    hits = sum(market.fault("gateio", "partial_fill") for _ in range(5000))
    assert 850 < hits < 1150  # 1000 expected; ~7 standard deviations of slack


@pytest.mark.parametrize("distribution", ["fixed", "uniform", "lognormal", "exponential"])
def test_latency_stays_within_its_bounds(distribution):
    dist = LatencyConfig(distribution=distribution, min_s=0.01, median_s=0.02, max_s=0.05)
    market = SimMarket(SimConfig(ack_latency=dist))
    draws = [market.latency("bitget", "ack") for _ in range(500)]
    assert all(0.01 <= x <= 0.05 for x in draws)
    if distribution == "fixed":
        assert set(draws) == {0.02}


# -- determinism ---------------------------------------------------------------------------
def _run(seed: int, ops: list[tuple[str, int]]) -> list[object]:
    """A run: interleaved advances, executions and fault draws; returns what it observed."""
    market = SimMarket(default_sim_config(seed, faults=FaultRates.every(0.3)))
    market.advance(0.0)
    seen: list[object] = []
    t = 0.0
    for i, (op, arg) in enumerate(ops):
        if op == "advance":
            t += arg * 0.1
            market.advance(t)
            seen.append({v: market.book_levels(v, market.symbol_for(v, "BTC"), 3) for v in
                         market.venues})  # fmt: skip
        elif op == "buy" or op == "sell":
            venue = market.venues[arg % len(market.venues)]
            symbol = market.symbol_for(venue, "ETH")
            side = Side.BUY if op == "buy" else Side.SELL
            bids, asks = market.book_levels(venue, symbol)
            price = (asks if side is Side.BUY else bids)[2][0]
            inst = market.instrument(venue, symbol)
            seen.append(
                market.execute(
                    venue,
                    symbol,
                    side=side,
                    qty=inst.lot_size * 37,
                    price=price,
                    reduce_only=False,
                    client_order_id=f"o{i}",
                    now=t,
                )
            )
        else:
            venue = market.venues[arg % len(market.venues)]
            seen.append([market.fault(venue, k) for k in ORDER_FAULTS + FEED_FAULTS])
            seen.append(market.latency(venue, "ack"))
    seen.append([market.fair_value(a) for a in market.assets])
    seen.append(list(market.dislocations))
    seen.append([market.balances(v) for v in market.venues])
    return seen


op_lists = st.lists(
    st.tuples(
        st.sampled_from(["advance", "buy", "sell", "fault"]), st.integers(min_value=0, max_value=40)
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), op_lists)
def test_same_seed_same_run(seed, ops):
    assert _run(seed, ops) == _run(seed, ops)


def test_different_seeds_differ():
    ops = [("advance", 50), ("fault", 1), ("advance", 50)]
    assert _run(1, ops) != _run(2, ops)


def test_the_path_does_not_depend_on_how_time_is_sliced():
    coarse = SimMarket(default_sim_config(7))
    fine = SimMarket(default_sim_config(7))
    coarse.advance(0.0)
    fine.advance(0.0)
    coarse.advance(60.0)
    for i in range(1, 1201):
        fine.advance(i * 0.05)
    assert coarse.steps == fine.steps == 600
    for asset in coarse.assets:
        assert coarse.fair_value(asset) == fine.fair_value(asset)
    for venue in coarse.venues:
        symbol = coarse.symbol_for(venue, "BTC")
        assert coarse.book_levels(venue, symbol) == fine.book_levels(venue, symbol)
    assert coarse.dislocations == fine.dislocations


def test_observing_books_does_not_change_the_market():
    watched = SimMarket(default_sim_config(3))
    unwatched = SimMarket(default_sim_config(3))
    for m in (watched, unwatched):
        m.advance(0.0)
    for i in range(1, 300):
        watched.advance(i * 0.1)
        unwatched.advance(i * 0.1)
        for venue in watched.venues:
            watched.book_levels(venue, watched.symbol_for(venue, "ETH"))
    for venue in watched.venues:
        symbol = watched.symbol_for(venue, "ETH")
        assert watched.book_levels(venue, symbol) == unwatched.book_levels(venue, symbol)


def test_gbm_volatility_is_roughly_the_configured_one():
    config = SimConfig(assets=(AssetConfig(asset="BTC", price=65_000.0, volatility=0.8),))
    market = started(config, until=0.0)
    logs = []
    previous = market.fair_value("BTC")
    for i in range(1, 2001):
        market.advance(i * 1.0)
        now = market.fair_value("BTC")
        logs.append(math.log(now / previous))
        previous = now
    per_second = math.sqrt(sum(x * x for x in logs) / len(logs))
    annualised = per_second * math.sqrt(365 * 86_400)
    assert 0.7 < annualised < 0.9


# -- config --------------------------------------------------------------------------------
def test_config_loads_from_toml_and_round_trips():
    text = """
    seed = 42
    tick_interval_s = 0.05
    starting_balance = "250000"
    [[assets]]
    asset = "BTC"
    price = 60000
    volatility = 0.5
    [[assets]]
    asset = "SOL"
    price = 150.0
    [assets.overrides.bybit]
    funding_interval_hours = 4
    [faults]
    reject = 0.01
    sequence_gap = 0.001
    [fees.gateio]
    taker = "0.0004"
    maker = "0.0001"
    [ack_latency]
    distribution = "uniform"
    min_s = 0.01
    max_s = 0.03
    """
    config = structure_sim_config(tomllib.loads(text))
    assert config.seed == 42 and config.starting_balance == Decimal(250_000)
    assert config.assets[1].overrides["bybit"].funding_interval_hours == 4
    assert config.faults.reject == 0.01 and config.fees["gateio"].taker == Decimal("0.0004")
    assert structure_sim_config(unstructure_sim_config(config)) == config
    market = SimMarket(config)
    assert market.instrument("gateio", "BTC_USDT").taker_fee == Decimal("0.0004")
    assert market.instrument("bybit", "SOLUSDT").funding_interval_hours == 4


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"ladder": {"levels": 0}}, "levels must be > 0"),
        ({"ladder": {"levelz": 3}}, "levelz"),
        ({"faults": {"reject": 1.5}}, "reject must be a probability"),
        ({"venues": ["hyperliquid", "binance"]}, "unknown venue 'binance'"),
        ({"assets": [{"asset": "BTC", "price": -1}]}, "price must be > 0"),
        ({"fx_usdc_usdt": "abc"}, "fx_usdc_usdt"),
        ({"ack_latency": {"distribution": "pareto"}}, "distribution must be one of"),
    ],
)
def test_bad_config_names_the_field(data, words):
    with pytest.raises(ValueError, match="invalid sim config") as info:
        structure_sim_config(data)
    assert words in str(info.value)
