"""Risk gate: every rejection reason, counting, pause, breaker and the net-delta watchdog."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from arbtrio.core.detector import Opportunity
from arbtrio.core.instruments import Instrument
from arbtrio.core.risk import REJECT_REASONS, Exposure, RiskDecision, RiskGate, RiskLimits

D = Decimal


def instrument(venue: str, quote: str) -> Instrument:
    return Instrument(
        venue=venue,
        symbol="ETH",
        asset="ETH",
        quote=quote,
        tick_size=D("0.01"),
        lot_size=D("0.01"),
        min_size=D(0),
        min_notional=D(0),
        taker_fee=D("0.0005"),
        maker_fee=D("0.0002"),
        funding_interval_hours=8,
    )


HL, BYBIT = instrument("hyperliquid", "USDC"), instrument("bybit", "USDT")

OPP = Opportunity(
    asset="ETH",
    long=HL,
    short=BYBIT,
    qty=D(1),
    long_price=D(3000),
    short_price=D(3009),
    long_notional=D(3000),
    short_notional=D(3009),
    gross_bps=30.0,
    fees_bps=10.0,
    funding_bps=0.0,
    edge_bps=18.0,
    ts=0.0,
)

LIMITS = RiskLimits(
    max_notional_per_position=D(5_000),
    max_notional_per_venue=D(10_000),
    max_notional_total=D(15_000),
    max_open_positions=3,
    max_net_notional_per_asset=D(150),
    daily_loss_limit=D(200),
    max_consecutive_failures=3,
)

FLAT = Exposure()


def test_opportunity_within_every_limit_is_approved() -> None:
    gate = RiskGate(LIMITS)
    assert gate.check(OPP, FLAT) == RiskDecision(True, "ok")
    assert gate.approvals == 1 and not gate.rejections


def test_paused_gate_rejects_until_resumed() -> None:
    gate = RiskGate(LIMITS)
    gate.pause()
    assert gate.check(OPP, FLAT) == RiskDecision(False, "paused")
    gate.resume()
    assert gate.check(OPP, FLAT).approved


def test_max_open_positions() -> None:
    gate = RiskGate(LIMITS)
    assert gate.check(OPP, Exposure(open_positions=2)).approved
    assert gate.check(OPP, Exposure(open_positions=3)).reason == "max_open_positions"


def test_max_notional_per_position_uses_the_larger_leg() -> None:
    gate = RiskGate(attrs.evolve(LIMITS, max_notional_per_position=D(3005)))
    assert gate.check(OPP, FLAT).reason == "max_notional_position"  # short leg is 3009
    assert (
        RiskGate(attrs.evolve(LIMITS, max_notional_per_position=D(3009))).check(OPP, FLAT).approved
    )


def test_max_notional_per_venue_counts_each_leg_on_its_own_venue() -> None:
    gate = RiskGate(LIMITS)
    # 7 000 on Bybit + the 3 009 short leg = 10 009 > 10 000.
    busy_bybit = Exposure(notional_by_venue={"bybit": D(7_000)}, total_notional=D(7_000))
    assert gate.check(OPP, busy_bybit).reason == "max_notional_venue"
    # 7 000 on Hyperliquid + the 3 000 long leg = 10 000: exactly at the limit is allowed.
    busy_hl = Exposure(notional_by_venue={"hyperliquid": D(7_000)}, total_notional=D(7_000))
    assert gate.check(OPP, busy_hl).approved


def test_max_notional_total_counts_both_legs() -> None:
    gate = RiskGate(LIMITS)
    spread_out = Exposure(
        notional_by_venue={"gateio": D(5_000), "kucoin": D(5_000)}, total_notional=D(10_000)
    )
    assert gate.check(OPP, spread_out).reason == "max_notional_total"  # 10 000 + 6 009


def test_max_net_notional_rejects_new_positions_on_an_unbalanced_asset() -> None:
    # One limit in money for every asset: 0.05 ETH and 0.05 BTC are not the same risk.
    gate = RiskGate(LIMITS)
    assert gate.check(OPP, Exposure(net_notional_by_asset={"ETH": D(150)})).approved
    unbalanced = Exposure(net_notional_by_asset={"ETH": D("-150.01"), "BTC": D(0)})
    assert gate.check(OPP, unbalanced).reason == "max_net_notional"
    other = Exposure(net_notional_by_asset={"BTC": D(65_000)})
    assert gate.check(OPP, other).approved  # another asset's breach is the watchdog's


def test_daily_loss_limit_counts_the_open_legs_at_their_marks() -> None:
    gate = RiskGate(LIMITS)
    assert gate.check(OPP, Exposure(realized_pnl_today=D("-199.99"))).approved
    assert gate.check(OPP, Exposure(realized_pnl_today=D(-200))).reason == "daily_loss"
    # A quiet realised day with a faulted leg 150 under water: 60 + 150 past the limit.
    marked = Exposure(realized_pnl_today=D(-60), unrealized_pnl=D(-150))
    assert gate.check(OPP, marked).reason == "daily_loss"
    assert gate.check(OPP, Exposure(realized_pnl_today=D(-60), unrealized_pnl=D(30))).approved


def test_each_leg_needs_free_margin_with_headroom_on_its_venue() -> None:
    gate = RiskGate(LIMITS)  # margin_headroom 0.5: 1.5 × notional / leverage
    leverage = {"hyperliquid": 5, "bybit": 3}
    need_long, need_short = D(3000) / 5 * D("1.5"), D(3009) / 3 * D("1.5")  # 900, 1504.5
    enough = Exposure(
        free_margin_by_venue={"hyperliquid": need_long, "bybit": need_short},
        leverage_by_venue=leverage,
    )
    assert gate.check(OPP, enough).approved
    short_of_it = attrs.evolve(
        enough, free_margin_by_venue={"hyperliquid": need_long, "bybit": need_short - D("0.01")}
    )
    assert gate.check(OPP, short_of_it).reason == "margin"
    unknown = attrs.evolve(enough, free_margin_by_venue={"hyperliquid": D(10**6)})
    assert gate.check(OPP, unknown).reason == "margin"  # no balance known on bybit
    assert gate.check(OPP, FLAT).approved  # margin not given: not checked


def test_consecutive_failures_trip_the_breaker_until_reset() -> None:
    gate = RiskGate(LIMITS)
    gate.record_outcome(False)
    gate.record_outcome(False)
    gate.record_outcome(True)  # a success resets the run
    gate.record_outcome(False)
    gate.record_outcome(False)
    assert gate.check(OPP, FLAT).approved
    gate.record_outcome(False)
    assert gate.breaker_tripped
    assert gate.check(OPP, FLAT).reason == "breaker"
    gate.record_outcome(True)  # a later success does not clear a tripped breaker
    assert gate.check(OPP, FLAT).reason == "breaker"
    gate.reset_breaker()
    assert gate.check(OPP, FLAT).approved
    assert gate.consecutive_failures == 0


def test_rejections_are_counted_by_reason() -> None:
    gate = RiskGate(LIMITS)
    gate.check(OPP, Exposure(open_positions=3))
    gate.check(OPP, Exposure(open_positions=3))
    gate.pause()
    gate.check(OPP, FLAT)
    assert gate.rejections == {"max_open_positions": 2, "paused": 1}
    assert set(gate.rejections) <= set(REJECT_REASONS)


def test_first_failing_limit_in_documented_order_is_the_reason() -> None:
    gate = RiskGate(LIMITS)
    everything_wrong = Exposure(
        open_positions=9,
        notional_by_venue={"bybit": D(99_999)},
        total_notional=D(99_999),
        net_notional_by_asset={"ETH": D(9_999)},
        realized_pnl_today=D(-9_999),
    )
    assert gate.check(OPP, everything_wrong).reason == "daily_loss"
    gate.record_outcome(False)
    gate.record_outcome(False)
    gate.record_outcome(False)
    assert gate.check(OPP, everything_wrong).reason == "breaker"
    gate.pause()
    assert gate.check(OPP, everything_wrong).reason == "paused"
    assert REJECT_REASONS[:3] == ("paused", "breaker", "daily_loss")


def test_net_notional_watchdog_lists_breached_assets() -> None:
    gate = RiskGate(LIMITS)
    exposure = Exposure(net_notional_by_asset={"SOL": D(151), "ETH": D(-200), "BTC": D(150)})
    assert gate.net_notional_breached(exposure) == ["ETH", "SOL"]
    assert gate.net_notional_breached(FLAT) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_notional_total", D(-1)),
        ("daily_loss_limit", D(0)),
        ("daily_loss_limit", D(-100)),
        ("max_consecutive_failures", 0),
        ("max_open_positions", -1),
        ("max_net_notional_per_asset", 1.5),  # a float is not money
        ("margin_headroom", D(-1)),
        ("collateral_drift_ratio", D("0.5")),
    ],
)
def test_bad_limits_are_refused_by_name(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        attrs.evolve(LIMITS, **{field: value})
