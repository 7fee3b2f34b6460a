"""Funding: the runtime books each venue's funding on the positions holding a leg there."""

from __future__ import annotations

import math
from collections import defaultdict
from decimal import Decimal
from typing import Any

import attrs
import pytest

from arbtrio.config import Config
from arbtrio.core.position import PositionState
from arbtrio.core.types import FundingRate, Side
from arbtrio.runtime.funding import funding_amount, funding_shares, next_funding_time
from arbtrio.runtime.journal import read_records, replay
from arbtrio.runtime.service import Runtime
from arbtrio.runtime.simulation import new_world, run_simulation
from arbtrio.sim.config import VenueOverride, default_sim_config
from arbtrio.sim.execution import Account
from arbtrio.sim.market import SimMarket

S = PositionState
D = Decimal


def test_funding_amount_longs_pay_a_positive_rate_and_shorts_receive_it() -> None:
    assert funding_amount("long", D("0.03"), D("65000.1"), D("0.0001")) == D("-0.19500030")
    assert funding_amount("short", D("0.03"), D("65000.1"), D("0.0001")) == D("0.19500030")
    assert funding_amount("long", D("2"), D("3500"), D("-0.00002")) == D("0.14000000")
    assert funding_amount("short", D(0), D("3500"), D("0.01")) == 0
    with pytest.raises(ValueError, match="held"):
        funding_amount("long", D("-1"), D("1"), D("0.01"))


def test_funding_amount_is_what_a_simulated_venue_books() -> None:
    """Same formula and rounding as the simulator's account, for either side."""
    market = SimMarket(default_sim_config())
    inst = market.instruments("bybit")[0]
    for side, leg in ((Side.BUY, "long"), (Side.SELL, "short")):
        account = Account("bybit", "USDT", D(100_000))
        ask_or_bid = [(D("65000.1"), D("1"))]
        account.execute(
            inst, ask_or_bid, side=side, qty=D("0.017"), price=D("65000.1"),
            reduce_only=False, client_order_id=f"c-{leg}", now=0.0,
        )  # fmt: skip
        for rate in (D("0.00012345"), D("-0.00000777")):
            payment = account.apply_funding(inst.symbol, rate, D("64999.7"), 3600.0)
            assert payment is not None
            assert funding_amount(leg, D("0.017"), D("64999.7"), rate) == payment.amount  # type: ignore[arg-type]


def test_funding_shares_add_up_to_the_venues_one_rounded_amount() -> None:
    mark, rate = D("64951"), D("0.00002947")
    holdings = [("long", D("0.0306"))] * 6
    shares = funding_shares(holdings, mark, rate)  # type: ignore[arg-type]
    venue = (-D("0.1836") * mark * rate).quantize(D("1e-8"))
    assert sum(shares, D(0)) == venue == D("-0.35142986")
    assert all(abs(s - funding_amount("long", D("0.0306"), mark, rate)) <= D("1e-8")
               for s in shares)  # fmt: skip
    # a sole holder gets exactly its own amount; opposite legs net like the venue's position
    assert funding_shares([("short", D("0.5"))], mark, rate) == [
        funding_amount("short", D("0.5"), mark, rate)
    ]
    mixed = funding_shares([("long", D("0.3")), ("short", D("0.1"))], D("3333.3"), D("0.00001"))
    assert sum(mixed, D(0)) == (-D("0.2") * D("3333.3") * D("0.00001")).quantize(D("1e-8"))


def test_next_funding_time_follows_the_venue_and_skips_what_was_booked() -> None:
    rate = FundingRate(venue="v", symbol="S", rate=D("0.0001"), interval_hours=8,
                       next_funding_ts=28_800.0)  # fmt: skip
    assert next_funding_time(rate, 100.0, -math.inf) == 28_800.0
    # polled before the settlement we booked: the schedule moves on by whole intervals
    assert next_funding_time(rate, 28_801.0, 28_800.0) == 57_600.0
    # a venue that does not publish the time settles on the epoch grid of its interval
    hourly = attrs.evolve(rate, interval_hours=1, next_funding_ts=None)
    assert next_funding_time(hourly, 7_000.0, -math.inf) == 7_200.0
    assert next_funding_time(hourly, 7_200.0, 7_200.0) == 10_800.0
    assert next_funding_time(attrs.evolve(rate, interval_hours=0), 1.0, -math.inf) is None


def hourly_funding_config(config: Config) -> Config:
    """Every venue settles BTC funding hourly; positions never exit by themselves."""
    hourly = {v: VenueOverride(funding_interval_hours=1) for v in config.enabled_venues}
    sim = attrs.evolve(
        config.sim,
        assets=tuple(attrs.evolve(a, overrides=hourly) for a in config.sim.assets),
    )
    detector = attrs.evolve(
        config.detector, exit_threshold_bps=-1000.0, stop_widen_bps=1000.0, max_holding_s=1e6
    )
    return attrs.evolve(config, sim=sim, detector=detector)


def journal_funding(journal: str) -> tuple[dict[str, list[D]], list[dict[str, Any]]]:
    """FundingPaid amounts by position, and the ``funding`` service records."""
    paid: dict[str, list[D]] = defaultdict(list)
    for record in read_records(journal, kinds=("event",)):
        if record.type == "FundingPaid":
            assert record.position_id is not None
            paid[record.position_id].append(D(record.body["amount"]))
    settlements = [r.body for r in read_records(journal, kinds=("service",)) if r.type == "funding"]
    return paid, settlements


async def test_a_position_held_across_a_funding_time_books_what_the_venue_paid(
    make_config: Any, autojump_clock: Any
) -> None:
    """Positions open at 3600 s hold across the settlement; the run ends flattened."""
    config = hourly_funding_config(make_config())
    funding_ts = 3600.0
    autojump_clock.jump(funding_ts - 200.0)
    world = new_world(config)
    holder: dict[str, Runtime] = {}
    await run_simulation(
        config, duration=240.0, world=world, runtime_hook=lambda rt: holder.__setitem__("rt", rt)
    )
    runtime = holder["rt"]
    journal = config.service.journal
    paid, settlements = journal_funding(journal)
    assert settlements and all(s["source"] == "venue" for s in settlements)
    assert all(s["funding_ts"] == funding_ts for s in settlements)
    funded = [a for a in runtime.positions.actors.values() if a.position.funding() != 0]
    assert funded, "no position was held across the funding time"

    for actor in runtime.positions.actors.values():
        pos = actor.position
        assert pos.state is S.SETTLED, (actor.position_id, pos.state)
        assert pos.funding() == sum(paid[actor.position_id], D(0))
        # settled PnL = fills' cash flows − fees + funding
        cash = sum((f.qty * f.price * (-f.side.sign) - f.fee for f in pos.fills()), D(0))
        assert pos.realized_pnl() == cash + pos.funding()
    assert runtime.positions.realized_pnl() == sum(
        (a.position.realized_pnl(runtime.quote_rates) for a in runtime.positions.actors.values()),
        D(0),
    )

    # Each settlement's legs add up to exactly what the simulated venue booked for that
    # symbol, whenever the legs hold what the venue account held (always, barring a fill
    # in flight at the funding time).
    matched = 0
    for body in settlements:
        [payment] = [
            p
            for p in world.market.funding_payments(body["venue"])
            if p.symbol == body["symbol"] and p.ts == funding_ts
        ]
        held = sum((D(leg["held"]) for leg in body["legs"]), D(0))
        if held == abs(payment.position):
            matched += 1
            assert sum((D(leg["amount"]) for leg in body["legs"]), D(0)) == payment.amount
            assert D(body["rate"]) == payment.rate
    assert matched >= 1

    # Replay rebuilds the same positions, funding and PnL.
    rebuilt = replay(journal)
    for pid, actor in runtime.positions.actors.items():
        assert rebuilt[pid].position.snapshot() == actor.position.snapshot(), pid
        assert rebuilt[pid].position.realized_pnl() == actor.position.realized_pnl()


async def test_without_a_settlement_source_funding_is_estimated_from_rate_and_book(
    make_config: Any, autojump_clock: Any
) -> None:
    """Live and paper have no settlement record: the published rate × the book's mid."""
    config = hourly_funding_config(make_config())
    autojump_clock.jump(3600.0 - 120.0)
    world = new_world(config)
    holder: dict[str, Runtime] = {}

    def no_source(rt: Runtime) -> None:
        holder["rt"] = rt
        rt.funding.source = None

    await run_simulation(config, duration=150.0, world=world, runtime_hook=no_source)
    paid, settlements = journal_funding(config.service.journal)
    assert settlements and all(s["source"] == "estimate" for s in settlements)
    assert holder["rt"].funding.settlements == {"estimate": len(settlements)}
    for body in settlements:
        [payment] = [
            p
            for p in world.market.funding_payments(body["venue"])
            if p.symbol == body["symbol"] and p.ts == 3600.0
        ]
        mark = D(body["mark_price"])
        assert abs(mark / payment.mark_price - 1) < D("0.001")  # the book's mid, on the tick
        rate = D(body["rate"])
        shares = [D(leg["amount"]) for leg in body["legs"]]
        holdings = [(leg["leg"], D(leg["held"])) for leg in body["legs"]]
        assert shares == funding_shares(holdings, mark, rate)
        for share, (leg, held) in zip(shares, holdings, strict=True):
            assert abs(share - funding_amount(leg, held, mark, rate)) <= D("1e-8")
    assert sum(len(v) for v in paid.values()) == sum(len(s["legs"]) for s in settlements)
