"""The market model: persistent basis per venue (a rolling median), volatility per asset."""

from __future__ import annotations

import math
from decimal import Decimal

import attrs
import pytest

from arbtrio.core.basis import MarketModel
from arbtrio.core.detector import DetectorConfig, VenueOutlook

CONFIG = DetectorConfig(
    entry_threshold_bps=3.0,
    exit_threshold_bps=1.0,
    slippage_buffer_bps=1.0,
    max_quote_age_ms=1000.0,
    target_notional=Decimal(1000),
    max_holding_s=600.0,
    stop_widen_bps=0.0,
    basis_window_s=600.0,
    basis_warmup_s=20.0,
    latency_z=2.0,
    assumed_latency_ms=250.0,
)


def mids(hl_bps: float, price: float = 100.0) -> dict[str, float]:
    """Hyperliquid ``hl_bps`` over two CEXs that agree."""
    return {"hyperliquid": price * (1 + hl_bps / 1e4), "bybit": price, "bitget": price}


def test_a_persistent_premium_is_learned_after_the_warm_up() -> None:
    model = MarketModel(CONFIG)
    for t in range(0, 30):
        model.observe("BTC", mids(15.0), float(t))
        if t < 20:
            assert model.basis_bps("BTC", "hyperliquid", float(t)) is None  # warming up
    assert model.basis_bps("BTC", "hyperliquid", 29.0) == pytest.approx(15.0)
    assert model.basis_bps("BTC", "bybit", 29.0) == pytest.approx(0.0)
    assert model.pair_basis_bps("BTC", "bybit", "hyperliquid", 29.0) == pytest.approx(15.0)
    assert model.basis_bps("BTC", "kucoin", 29.0) is None  # never seen


def test_a_dislocation_shorter_than_half_the_window_leaves_the_basis_alone() -> None:
    model = MarketModel(CONFIG)
    t = 0.0
    for _ in range(400):  # 15 bps premium for 400 s
        model.observe("BTC", mids(15.0), t)
        t += 1.0
    for _ in range(120):  # then a 40 bps dislocation for two minutes
        model.observe("BTC", mids(55.0), t)
        t += 1.0
    assert model.basis_bps("BTC", "hyperliquid", t) == pytest.approx(15.0)
    for _ in range(400):  # the premium itself moves to 5 bps: followed within half a window
        model.observe("BTC", mids(5.0), t)
        t += 1.0
    assert model.basis_bps("BTC", "hyperliquid", t) == pytest.approx(5.0)


def test_samples_are_taken_once_per_second_however_often_books_change() -> None:
    model = MarketModel(CONFIG)
    for i in range(1000):  # 100 s at 10 looks per second: 100 samples
        model.observe("BTC", mids(15.0 if i < 900 else 80.0), i / 10)
    # The last 10 s at 80 bps are 10 samples of 100, not 100 of 1000: the median holds.
    assert model.basis_bps("BTC", "hyperliquid", 100.0) == pytest.approx(15.0)


def test_volatility_is_measured_per_square_root_second_from_one_second_samples() -> None:
    model = MarketModel(CONFIG)
    price, t = 100.0, 0.0
    for i in range(400):  # log returns of ±2 bps per second, alternating
        price *= math.exp(2e-4 if i % 2 else -2e-4)
        model.observe("BTC", mids(0.0, price), t)
        t += 1.0
    sigma = model.vol_bps("BTC")
    assert sigma == pytest.approx(2.0, rel=1e-3)
    assert MarketModel(CONFIG).vol_bps("BTC") is None


def test_the_outlook_carries_basis_and_a_latency_buffer_and_leaves_out_warming_venues() -> None:
    model = MarketModel(CONFIG)
    price = 100.0
    for i in range(60):
        price *= math.exp(2e-4 if i % 2 else -2e-4)
        model.observe("BTC", mids(15.0, price), float(i))
    out = model.outlook("BTC", {"hyperliquid": 0.04, "bybit": None, "kucoin": 0.1}, 59.0)
    assert set(out) == {"hyperliquid", "bybit"}  # kucoin: never quoted, so warming up
    sigma = model.vol_bps("BTC")
    assert sigma is not None
    hl = out["hyperliquid"]
    assert hl.basis_bps == pytest.approx(15.0)
    assert hl.buffer_bps == pytest.approx(2.0 * sigma * math.sqrt(0.04))  # z·σ·√latency
    assert out["bybit"].buffer_bps == pytest.approx(2.0 * sigma * math.sqrt(0.25))  # assumed
    assert MarketModel(attrs.evolve(CONFIG)).outlook("BTC", {"bybit": None}, 0.0) == {}
    assert isinstance(hl, VenueOutlook)
