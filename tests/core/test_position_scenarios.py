"""Scenario tests of the position machine, one behaviour each (specs/001-position-fsm.md)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from test_position_support import (
    BYBIT,
    HL,
    D,
    Driver,
    alerts,
    closing,
    faulted,
    hedged,
    make_spec,
    places,
    queries,
    quotes,
    settled,
    unwinding,
)

from arbtrio.core.events import (
    CancelOrder,
    ExitSignal,
    FundingPaid,
    Kill,
    LegAcked,
    LegFilled,
    LegOutcomeUnknown,
    Open,
    OperatorFlatten,
    OutcomeResolved,
    Tick,
)
from arbtrio.core.ids import client_order_id
from arbtrio.core.instruments import Instrument
from arbtrio.core.position import (
    ExecutionPolicy,
    IllegalTransition,
    InvalidEvent,
    OrderState,
    Position,
    PositionError,
    PositionState,
    UnknownOrder,
    VenueProtocolError,
    replay,
)
from arbtrio.core.types import Fill, OrderReport, OrderStatus, Side

S = PositionState


def cash_flows(position: Position) -> Decimal:
    """Σ sell cash − Σ buy cash − fees, computed here independently of the machine."""
    total = D(0)
    for f in position.fills():
        total += (f.qty * f.price if f.side is Side.SELL else -f.qty * f.price) - f.fee
    return total


# -- opening -------------------------------------------------------------------------------
def test_open_sends_both_entry_legs_as_ioc_limits_capped_in_the_safe_direction() -> None:
    d = Driver()
    long, short = d.open()
    assert d.state is S.OPENING
    assert long.request.venue == "hyperliquid" and long.request.side is Side.BUY
    assert short.request.venue == "bybit" and short.request.side is Side.SELL
    # 2000.00 × (1 + 10 bps) = 2002.0, rounded down on Hyperliquid's 5 significant figures.
    assert long.request.price == D("2002")
    # 2012.50 × (1 − 10 bps) = 2010.4875, a sell cap rounds up to the 0.01 tick.
    assert short.request.price == D("2010.49")
    for cmd in (long, short):
        assert cmd.request.qty == D("1")
        assert cmd.request.time_in_force == "IOC"
        assert cmd.request.reduce_only is False
        assert cmd.attempt == 0
        assert cmd.request.client_order_id == client_order_id(
            cmd.request.venue, "pos-1", cmd.leg, 0
        )


@pytest.mark.parametrize(
    ("edge", "long_limit", "short_limit"),
    [
        ("6", "2000.6", "2011.90"),  # ± 3 bps: half the edge, below entry_slippage_bps = 10
        ("40", "2002", "2010.49"),  # half the edge is wider than the policy: ± 10 bps
        ("-2", "2000.0", "2012.50"),  # no edge: at the reference, never through it
    ],
)
def test_entry_limits_are_bounded_by_half_the_round_trip_edge(
    edge: str, long_limit: str, short_limit: str
) -> None:
    d = Driver(make_spec(edge_bps=D(edge)))
    long, short = d.open()
    assert long.request.price == D(long_limit)
    assert short.request.price == D(short_limit)


def test_both_legs_filled_is_hedged_and_closing_settles_with_exact_pnl() -> None:
    d = hedged()
    assert d.position.net_exposure() == 0
    cmds = d.feed(
        ExitSignal(
            reason="converged", ts=d.now(), quotes=quotes("2005.1", "2005.3", "2006.0", "2006.2")
        )
    )
    assert d.state is S.CLOSING
    close_long, close_short = places(cmds)
    assert (close_long.leg, close_long.request.side) == ("long", Side.SELL)
    assert (close_short.leg, close_short.request.side) == ("short", Side.BUY)
    assert close_long.request.reduce_only and close_short.request.reduce_only
    assert close_long.request.price == D("2003.1")  # 2005.1 × (1 − 10 bps), up, 5 sig figs
    assert close_short.request.price == D("2008.20")  # 2006.2 × (1 + 10 bps), down
    d.fill(close_long, "1", "2005.1", fee="0.9")
    assert d.state is S.CLOSING
    d.fill(close_short, "1", "2006.2", fee="1.1")
    assert d.state is S.SETTLED
    assert d.position.live_orders() == []
    fees = sum((f.fee for f in d.position.fills()), D(0))
    assert d.position.fees() == fees
    # entry: bought at 2002, sold at 2010.49; exit: sold at 2005.1, bought at 2006.2
    gross = (D("2010.49") - D("2002")) + (D("2005.1") - D("2006.2"))
    assert d.position.realized_pnl() == gross - fees == cash_flows(d.position)


def test_both_legs_rejected_settles_flat_with_zero_pnl() -> None:
    d = settled()
    assert d.position.net_exposure() == 0
    assert d.position.realized_pnl() == 0 and d.position.fees() == 0
    assert [t.to_state for t in d.position.history] == [S.OPENING, S.SETTLED]
    assert places(d.commands[2:]) == []


def test_both_iocs_expiring_unfilled_settles_flat() -> None:
    d = Driver()
    long, short = d.open()
    d.expire(long, "0")
    assert d.state is S.OPENING
    d.expire(short, "0")
    assert d.state is S.SETTLED


# -- single leg: chase then reverse --------------------------------------------------------
def test_partial_fill_on_second_leg_triggers_a_chase_and_then_a_reverse() -> None:
    d = Driver()
    long, short = d.open()
    d.fill_all(long)
    d.fill(short, "0.4")
    cmds = d.expire(short, "0.4")
    assert d.state is S.UNWINDING
    assert alerts(cmds, "warning")
    (chase1,) = places(cmds)
    assert (chase1.leg, chase1.attempt, chase1.request.side) == ("short", 1, Side.SELL)
    assert chase1.request.qty == D("0.6") and not chase1.request.reduce_only
    # No quote yet: the spec's reference 2012.50 × (1 − (10 + 20) bps) = 2006.4625 → up.
    assert chase1.request.price == D("2006.47")
    assert chase1.request.client_order_id == client_order_id("bybit", "pos-1", "short", 1)

    (chase2,) = places(d.expire(chase1, "0"))
    assert (chase2.leg, chase2.attempt, chase2.request.qty) == ("short", 2, D("0.6"))
    d.fill(chase2, "0.1")
    (reverse1,) = places(d.expire(chase2, "0.1"))  # chase_attempts=2 spent: reverse
    assert d.state is S.UNWINDING
    assert (reverse1.leg, reverse1.attempt, reverse1.request.side) == ("long", 1, Side.SELL)
    assert reverse1.request.reduce_only and reverse1.request.qty == D("0.5")
    assert reverse1.request.price == D("1996")  # 2000.00 × (1 − 20 bps), 5 sig figs

    (reverse2,) = places(d.expire(reverse1, "0"))
    assert reverse2.attempt == 2
    assert reverse2.request.price == D("1991")  # 20 + 25 bps: escalated
    cmds = d.fill_all(reverse2)
    assert d.state is S.HEDGED
    assert places(cmds) == []
    assert d.position.held("long") == d.position.held("short") == D("0.5")
    assert [t.to_state for t in d.position.history] == [S.OPENING, S.UNWINDING, S.HEDGED]


def test_a_chase_is_bounded_by_the_unwind_loss_budget_from_the_leading_fill() -> None:
    d = Driver()
    long, short = d.open()
    d.feed(Tick(ts=d.now(), quotes=quotes("2000", "2001", "1990.00", "1990.50")))
    d.fill(long, "1", "2001")
    (chase,) = places(d.reject(short))
    # The bybit bid fell 1 %: 1990 × (1 − 30 bps) = 1984.03 would lock in a 0.85 % loss; the
    # chase sells no lower than 2001 × (1 − 15 bps) = 1997.9985, rounded up to the tick.
    assert (chase.leg, chase.request.price) == ("short", D("1998.00"))


def test_chase_uses_the_latest_quote_when_one_has_been_seen() -> None:
    d = Driver()
    long, short = d.open()
    d.feed(Tick(ts=d.now(), quotes=quotes("1999", "2001", "2020.00", "2020.10")))
    d.fill_all(long)
    (chase,) = places(d.reject(short))
    # bid 2020.00 × (1 − 30 bps) = 2013.94
    assert chase.request.price == D("2013.94")


def test_chase_ttl_spent_goes_straight_to_reverse() -> None:
    d = Driver()
    long, short = d.open()
    d.fill_all(long)
    (chase,) = places(d.reject(short))
    d.ts += 10.0  # the chase's outcome arrives after chase_ttl_s
    (nxt,) = places(d.expire(chase, "0"))
    assert (nxt.leg, nxt.request.reduce_only) == ("long", True)


def test_a_refused_reverse_is_retried_with_backoff_while_its_venue_quotes_never_faulted() -> None:
    d = unwinding()
    chase1 = places(d.commands)[-1]
    chase2 = places(d.expire(chase1, "0"))[0]
    rev1 = places(d.expire(chase2, "0"))[0]
    t0 = d.ts
    cmds = d.reject(rev1)  # the leading venue refuses: slow down, never a burst
    assert d.state is S.UNWINDING and places(cmds) == []
    (alert,) = alerts(cmds, "critical")  # the short leg holds nothing: the long leg is naked
    assert "NAKED" in alert.message and "backoff" in alert.message
    q = quotes("1999", "2001", "2011", "2013")
    assert places(d.feed(Tick(ts=t0 + 1.9, quotes=q))) == []  # retry_backoff_s = 2
    (rev2,) = places(d.feed(Tick(ts=t0 + 2.1, quotes=q)))
    assert (rev2.leg, rev2.request.reduce_only) == ("long", True)
    assert rev2.request.price == D("1990.1")  # 1999 × (1 − 45 bps), up: escalated
    d.ts = t0 + 2.2
    assert places(d.reject(rev2)) == [] and alerts(d.commands[-1:]) == []  # alerted once
    no_long_quote = {"bybit": q["bybit"]}  # next retry due at t0 + 2.2 + 4
    assert places(d.feed(Tick(ts=t0 + 3.0, quotes=no_long_quote))) == []  # a gap
    (rev3,) = places(d.feed(Tick(ts=t0 + 3.1, quotes=q)))  # quoting again: retried at once
    assert rev3.request.price == D("1987.1")  # capped at max_exit_slippage_bps = 60
    d.fill_all(rev3)
    assert d.state is S.SETTLED
    assert S.FAULTED not in [t.to_state for t in d.position.history]


def test_chase_filling_the_gap_ends_hedged_at_full_size() -> None:
    d = unwinding()
    chase = places(d.commands)[-1]
    d.fill_all(chase)
    assert d.state is S.HEDGED
    assert d.position.held("short") == D("1")


def test_reverse_of_the_whole_leg_settles_flat_with_the_loss_booked() -> None:
    d = Driver(make_spec(policy=ExecutionPolicy(chase_attempts=0)))
    long, short = d.open()
    d.fill(long, "1", "2001", fee="0.9")
    (reverse,) = places(d.reject(short))
    assert reverse.request.reduce_only and reverse.leg == "long"
    d.fill(reverse, "1", "1999", fee="0.9")
    assert d.state is S.SETTLED
    assert d.position.realized_pnl() == D("-2") - D("1.8") == cash_flows(d.position)


def test_untradable_residual_is_hedged_with_a_warning() -> None:
    coarse_min = {"min_size": D("0.1")}
    long = Instrument(**{**_fields(HL), **coarse_min})
    short = Instrument(**{**_fields(BYBIT), **coarse_min})
    d = Driver(make_spec(long=long, short=short))
    lo, sh = d.open()
    d.fill_all(lo)
    d.fill(sh, "0.95")
    cmds = d.expire(sh, "0.95")
    # 0.05 is below both venues' minimum size: no order can trade it.
    assert d.state is S.HEDGED
    assert places(cmds) == []
    assert "residual" in alerts(cmds, "warning")[0].message
    assert d.position.net_exposure() == D("0.05")


def test_leg_below_the_venue_minimum_cannot_be_flattened_and_faults() -> None:
    long = Instrument(**{**_fields(HL), "min_size": D("0.1")})
    short = Instrument(**{**_fields(BYBIT), "min_size": D("0.1")})
    d = Driver(make_spec(long=long, short=short))
    lo, sh = d.open()
    d.fill(lo, "0.05")
    d.expire(lo, "0.05")
    cmds = d.reject(sh)
    assert d.state is S.FAULTED
    assert places(cmds) == []
    assert "long holds 0.05" in alerts(cmds, "critical")[0].message
    assert [t.to_state for t in d.position.history][-2:] == [S.CLOSING, S.FAULTED]


def _fields(inst: Instrument) -> dict[str, object]:
    import attrs

    return attrs.asdict(inst, recurse=False)


# -- unknown outcomes ----------------------------------------------------------------------
def test_unknown_outcome_is_queried_never_resent_and_resolved_as_filled() -> None:
    d = Driver()
    long, short = d.open()
    d.fill_all(long)
    coid = short.request.client_order_id
    cmds = d.feed(LegOutcomeUnknown(client_order_id=coid, reason="timeout", ts=d.now()))
    assert places(cmds) == []
    assert [q.client_order_id for q in queries(cmds)] == [coid]
    assert d.state is S.OPENING
    assert [o.client_order_id for o in d.position.live_orders()] == [coid]
    assert d.position.live_orders()[0].status is OrderState.UNKNOWN

    assert d.feed(Tick(ts=d.now(1.0))) == []  # before query_after_s: nothing
    again = d.feed(Tick(ts=d.now(1.5)))
    assert [q.client_order_id for q in queries(again)] == [coid]
    assert places(again) == []

    report = OrderReport(
        venue="bybit",
        client_order_id=coid,
        status=OrderStatus.FILLED,
        filled_qty=D("1"),
        avg_price=D("2011"),
        fills=(
            Fill(
                venue="bybit",
                client_order_id=coid,
                trade_id="b-1",
                side=Side.SELL,
                qty=D("1"),
                price=D("2011"),
                fee=D("1.1"),
                ts=d.ts,
            ),
        ),
    )
    cmds = d.feed(OutcomeResolved(client_order_id=coid, report=report, ts=d.now()))
    assert d.state is S.HEDGED and places(cmds) == []
    # The stream's copy of the same fill arrives late: a duplicate.
    late = LegFilled(
        client_order_id=coid, trade_id="b-1", qty=D("1"), price=D("2011"), fee=D("1.1"), ts=d.now()
    )
    before = d.position.snapshot()
    assert d.feed(late) == []
    assert d.position.snapshot() == before
    assert len([o for o in d.position.orders() if o.leg == "short"]) == 1  # never re-sent


def test_unknown_outcome_resolved_as_never_arrived_is_a_zero_fill_reject() -> None:
    d = Driver()
    long, short = d.open()
    d.fill_all(long)
    coid = short.request.client_order_id
    d.feed(LegOutcomeUnknown(client_order_id=coid, reason="disconnect", ts=d.now()))
    cmds = d.feed(OutcomeResolved(client_order_id=coid, report=None, ts=d.now()))
    assert d.state is S.UNWINDING
    (chase,) = places(cmds)
    assert chase.attempt == 1 and chase.leg == "short"


def test_expired_with_fills_not_yet_seen_waits_and_queries_instead_of_guessing() -> None:
    d = Driver()
    long, short = d.open()
    d.fill_all(long)
    cmds = d.expire(short, "1")  # the venue says 1 filled; no fill message yet
    assert cmds == [] and d.state is S.OPENING
    assert d.position.held("short") == 0
    q = queries(d.feed(Tick(ts=d.now(2.5))))
    assert [x.client_order_id for x in q] == [short.request.client_order_id]
    d.fill_all(short)
    assert d.state is S.HEDGED


def test_acked_order_with_no_final_status_is_queried_on_tick() -> None:
    d = Driver()
    long, short = d.open()
    d.feed(LegAcked(client_order_id=long.request.client_order_id, venue_order_id="7", ts=d.now()))
    q = queries(d.feed(Tick(ts=d.now(5.0))))
    assert {x.client_order_id for x in q} == {
        long.request.client_order_id,
        short.request.client_order_id,
    }


# -- closing -------------------------------------------------------------------------------
def test_a_close_leg_rejected_twice_is_retried_with_backoff_and_then_filled_settles() -> None:
    d = hedged()
    q = quotes("2005.1", "2005.3", "2006", "2006.2")
    cmds = d.feed(ExitSignal(reason="max_hold", ts=d.now(), quotes=q))
    close_long, close_short = places(cmds)
    d.fill_all(close_short)
    assert d.state is S.CLOSING
    t0 = d.ts
    cmds = d.reject(close_long)
    assert places(cmds) == [] and "NAKED" in alerts(cmds, "critical")[0].message
    assert places(d.feed(Tick(ts=t0 + 1.0, quotes=q))) == []
    (retry1,) = places(d.feed(Tick(ts=t0 + 2.05, quotes=q)))
    d.ts = t0 + 2.1
    assert places(d.reject(retry1)) == []
    assert places(d.feed(Tick(ts=t0 + 5.0, quotes=q))) == []  # the second wait is 4 s
    (retry2,) = places(d.feed(Tick(ts=t0 + 6.2, quotes=q)))
    assert [c.attempt for c in (close_long, retry1, retry2)] == [1, 2, 3]
    # 2005.1 × (1 − 10, 35, 60 bps), rounded up on 5 significant figures.
    assert [c.request.price for c in (close_long, retry1, retry2)] == [
        D("2003.1"),
        D("1998.1"),
        D("1993.1"),
    ]
    assert all(c.request.reduce_only for c in (retry1, retry2))
    d.fill_all(retry2)
    assert d.state is S.SETTLED
    assert d.position.realized_pnl() == cash_flows(d.position)


def test_a_partially_filled_close_is_retried_for_the_rest() -> None:
    d = closing()
    close_long, close_short = places(d.commands)[-2:]
    d.fill_all(close_short)
    d.fill(close_long, "0.3")
    (retry,) = places(d.expire(close_long, "0.3"))
    assert retry.request.qty == D("0.7")
    d.fill_all(retry)
    assert d.state is S.SETTLED


def test_close_retries_past_the_fast_budget_slow_down_at_the_capped_limit_and_never_fault() -> None:
    d = closing()
    close_long = places(d.commands)[-2]
    d.fill_all(places(d.commands)[-1])
    r1 = places(d.expire(close_long, "0"))[0]  # an unfilled IOC is retried at once, wider
    r2 = places(d.expire(r1, "0"))[0]
    cmds = d.expire(r2, "0")  # close_attempts = 3 spent on the long leg: paced from now on
    t = d.ts
    assert d.state is S.CLOSING and places(cmds) == []
    q = quotes("2000", "2001", "2010", "2011")
    sent, waits = [], []
    for _ in range(6):
        due = d.position.snapshot()["legs"][0]["retry_at"]
        waits.append(round(due - t, 6))
        (retry,) = places(d.feed(Tick(ts=due, quotes=q)))
        sent.append(retry)
        d.ts = due
        d.expire(retry, "0")
        t = d.ts
    assert waits == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0]  # retry_backoff_s doubling, capped
    assert {r.request.price for r in sent} == {D("1988")}  # 2000 × (1 − 60 bps): the cap
    assert d.state is S.CLOSING
    assert d.feed(OperatorFlatten(ts=d.now(), quotes=q))  # the operator: retry now
    assert places(d.commands[-1:])


def test_operator_flatten_while_opening_closes_the_filled_quantity_once_entries_resolve() -> None:
    d = Driver()
    long, short = d.open()
    d.fill(long, "0.5", fee="0.5")
    cmds = d.feed(OperatorFlatten(ts=d.now()))
    assert d.state is S.CLOSING
    assert places(cmds) == []  # the long entry is still in flight: wait for it
    assert {c.client_order_id for c in cmds if isinstance(c, CancelOrder)} == {
        long.request.client_order_id,
        short.request.client_order_id,
    }
    assert d.reject(short) == []  # nothing filled on the short leg: nothing to close there
    (close,) = places(d.expire(long, "0.5"))
    assert (close.leg, close.request.side, close.request.qty) == ("long", Side.SELL, D("0.5"))
    assert close.request.reduce_only
    d.fill(close, "0.5", "1998", fee="0.5")
    assert d.state is S.SETTLED
    assert d.position.realized_pnl() == D("0.5") * (D("1998") - D("2002")) - 1
    assert d.position.realized_pnl() == cash_flows(d.position)


def test_kill_in_idle_settles_without_sending_anything() -> None:
    d = Driver()
    assert d.feed(Kill(ts=1.0)) == []
    assert d.state is S.SETTLED


def test_kill_while_unwinding_flattens_after_the_chase_resolves() -> None:
    d = unwinding()
    chase = places(d.commands)[-1]
    (close_long,) = places(d.feed(Kill(ts=d.now())))  # the long leg is idle: close it now
    assert d.state is S.CLOSING
    assert (close_long.leg, close_long.request.qty) == ("long", D("1"))
    assert places(d.fill(chase, "0.2")) == []  # the short leg's chase is live: wait for it
    (close_short,) = places(d.expire(chase, "0.2"))
    assert (close_short.leg, close_short.request.qty) == ("short", D("0.2"))
    d.fill_all(close_long)
    d.fill_all(close_short)
    assert d.state is S.SETTLED


# -- venue-impossible reports and FAULTED --------------------------------------------------
def test_overfill_is_impossible_faults_and_is_not_applied() -> None:
    d = faulted()
    assert d.position.held("long") == 0  # the impossible fill is not booked
    snap = d.position.snapshot()
    assert snap["anomalies"][0]["problem"].startswith("fills 1.5 exceed")
    assert alerts(d.commands, "critical")


def test_faulted_is_sticky_except_for_an_operator_flatten() -> None:
    d = Driver()
    long, short = d.open()
    d.fill_all(long)
    d.fill_all(short)
    d.fill(long, "0.1")  # a new trade on a filled order: impossible
    assert d.state is S.FAULTED
    assert places(d.feed(Kill(ts=d.now()))) == [] and d.state is S.FAULTED
    assert d.feed(ExitSignal(reason="stop", ts=d.now())) == [] and d.state is S.FAULTED
    assert d.feed(Tick(ts=d.now(10))) == []
    cmds = d.feed(OperatorFlatten(ts=d.now()))
    assert d.state is S.CLOSING
    assert {c.leg for c in places(cmds)} == {"long", "short"}


def test_reject_after_a_fill_is_impossible() -> None:
    d = Driver()
    long, _ = d.open()
    d.fill(long, "0.5")
    cmds = d.reject(long)
    assert d.state is S.FAULTED and alerts(cmds, "critical")


def test_trade_id_reused_with_different_content_is_impossible() -> None:
    d = Driver()
    long, _ = d.open()
    d.fill(long, "0.5", trade_id="X")
    d.fill(long, "0.4", trade_id="X")
    assert d.state is S.FAULTED
    assert d.position.held("long") == D("0.5")


def test_new_fill_on_a_settled_position_raises_and_changes_nothing() -> None:
    d = settled()
    long = places(d.commands)[0]
    before = d.position.snapshot()
    with pytest.raises(VenueProtocolError):
        d.fill(long, "0.1")
    assert d.position.snapshot() == before
    # A late REST timeout of an order the stream already resolved is harmless.
    assert (
        d.feed(LegOutcomeUnknown(client_order_id=long.request.client_order_id, reason="t", ts=9))
        == []
    )
    assert d.state is S.SETTLED


# -- duplicates and illegal events ---------------------------------------------------------
def test_a_duplicate_fill_message_is_ignored() -> None:
    d = Driver()
    long, _ = d.open()
    d.fill(long, "0.4", "2001", fee="0.1", trade_id="A")
    before = d.position.snapshot()
    assert d.fill(long, "0.4", "2001", fee="0.1", trade_id="A") == []
    assert d.position.snapshot() == before
    assert d.position.held("long") == D("0.4")


def test_illegal_events_raise_and_change_nothing() -> None:
    d = Driver()
    long, _ = d.open()
    before = d.position.snapshot()
    with pytest.raises(IllegalTransition):
        d.feed(ExitSignal(reason="converged", ts=d.now()))
    with pytest.raises(UnknownOrder):
        d.feed(LegAcked(client_order_id="nope", venue_order_id="1", ts=d.now()))
    with pytest.raises(InvalidEvent, match=r"LegFilled\.qty"):
        d.fill(long, "0")
    with pytest.raises(InvalidEvent, match=r"quotes\['bybit'\].bid"):
        d.feed(Tick(ts=d.now(), quotes=quotes("1", "2", "0", "2")))
    with pytest.raises(IllegalTransition):
        d.feed(Open(ts=d.now()))
    assert d.position.snapshot() == before


def test_spec_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"PositionSpec\.qty"):
        make_spec(qty=D("0.005"))
    with pytest.raises(ValueError, match=r"PositionSpec\.position_id"):
        make_spec(position_id="")
    with pytest.raises(ValueError, match=r"PositionSpec\.position_id"):
        make_spec(position_id="p-\x1f")
    with pytest.raises(ValueError, match=r"PositionSpec\.position_id"):
        make_spec(position_id="p-\ud800")  # no UTF-8 bytes for the order id hash
    with pytest.raises(ValueError, match="same venue"):
        make_spec(short=HL)
    with pytest.raises(ValueError, match=r"PositionSpec\.short\.venue"):
        make_spec(short=Instrument(**{**_fields(BYBIT), "venue": "nowhere"}))


# -- PnL, funding, snapshot, replay --------------------------------------------------------
def test_funding_is_booked_into_pnl_even_after_settlement() -> None:
    d = closing()
    d.feed(FundingPaid(leg="short", amount=D("0.25"), ts=d.now()))
    for cmd in places(d.commands)[-2:]:
        d.fill_all(cmd)
    assert d.state is S.SETTLED
    d.feed(FundingPaid(leg="long", amount=D("-0.1"), ts=d.now()))
    assert d.position.funding() == D("0.15")
    assert d.position.realized_pnl() == cash_flows(d.position) + D("0.15")


def test_pnl_by_currency_keeps_usdc_and_usdt_apart_and_converts_on_request() -> None:
    d = settled()
    assert d.position.pnl_by_currency() == {"USDC": 0, "USDT": 0}
    d = hedged()
    parts = d.position.pnl_by_currency()
    assert set(parts) == {"USDC", "USDT"}
    rates = {"USDC": D("1"), "USDT": D("0.999")}
    assert d.position.realized_pnl(rates) == parts["USDC"] + parts["USDT"] * D("0.999")


def test_client_order_ids_follow_one_attempt_counter_per_leg() -> None:
    d = unwinding()
    chase = places(d.commands)[-1]
    d.expire(chase, "0")
    ids = d.position.client_order_ids()
    for coid, leg, venue in ids:
        order = next(o for o in d.position.orders() if o.client_order_id == coid)
        assert coid == client_order_id(venue, "pos-1", leg, order.attempt)
    by_leg: dict[str, list[int]] = {}
    for o in d.position.orders():
        by_leg.setdefault(o.leg, []).append(o.attempt)
    assert all(attempts == list(range(len(attempts))) for attempts in by_leg.values())


def test_snapshot_is_json_and_names_legs_orders_fills_and_history() -> None:
    d = closing()
    snap = json.loads(json.dumps(d.position.snapshot()))
    assert snap["state"] == "closing" and snap["id"] == "pos-1"
    assert [leg["venue"] for leg in snap["legs"]] == ["hyperliquid", "bybit"]
    assert snap["legs"][0]["filled"] == "1" and snap["legs"][0]["avg_price"] == "2002"
    assert [o["purpose"] for o in snap["legs"][0]["orders"]] == ["entry", "close"]
    assert [h["to"] for h in snap["history"]] == ["opening", "hedged", "closing"]


def test_replaying_the_journal_reproduces_the_snapshot() -> None:
    d = Driver()
    long, short = d.open()
    d.fill(long, "1")
    d.fill(short, "0.3")
    d.feed(LegOutcomeUnknown(client_order_id=short.request.client_order_id, reason="t", ts=d.now()))
    d.expire(short, "0.3")
    chase = places(d.commands)[-1]
    d.fill(chase, "0.7")
    d.feed(d.journal[-1])  # the chase's fill message repeated
    d.feed(Tick(ts=d.now(3), quotes=quotes("2000", "2001", "2010", "2011")))
    d.feed(ExitSignal(reason="stop", ts=d.now()))
    with pytest.raises(PositionError):
        d.feed(LegAcked(client_order_id="nope", venue_order_id="x", ts=d.now()))
    for cmd in places(d.commands)[-2:]:
        d.fill_all(cmd)
    assert d.state is S.SETTLED
    again = replay(d.spec, d.journal)
    assert again.snapshot() == d.position.snapshot()
    assert again.history == d.position.history


# -- late executions: an order the venue reported "not found" ---------------------------------
def _lost_short_then_chased() -> tuple[Driver, str]:
    """Long filled; the short's send timed out, a query found nothing (LOST), the chase
    filled: hedged on the chase."""
    d = Driver()
    long, short = d.open()
    d.fill_all(long)
    lost = short.request.client_order_id
    d.feed(LegOutcomeUnknown(client_order_id=lost, reason="ack timeout", ts=d.now()))
    cmds = d.feed(OutcomeResolved(client_order_id=lost, report=None, ts=d.now()))
    assert [o.status for o in d.position.orders() if o.client_order_id == lost] == [OrderState.LOST]
    (chase,) = places(cmds)
    d.fill_all(chase)
    assert d.state is S.HEDGED and d.position.net_exposure() == 0
    return d, lost


def test_a_late_execution_of_an_order_reported_not_found_is_applied_and_rebalanced() -> None:
    d, lost = _lost_short_then_chased()
    # The "not found" order did execute after all: its fill arrives late.
    cmds = d.feed(LegFilled(client_order_id=lost, trade_id="late-1", qty=D(1), price=D("2012"),
                            fee=D("1.0"), ts=d.now()))  # fmt: skip
    assert d.position.held("short") == D(2) and d.position.net_exposure() == D(-1)  # real
    assert d.state is S.UNWINDING  # rebalanced, not left naked in HEDGED
    (rebalance,) = places(cmds)
    assert rebalance.leg in ("long", "short") and rebalance.request.qty == D(1)
    d.fill_all(rebalance)
    assert d.state is S.HEDGED and d.position.net_exposure() == 0
    assert [o.status for o in d.position.orders() if o.client_order_id == lost] == [
        OrderState.FILLED
    ]


def test_a_late_report_revives_a_lost_order_and_its_fills_count() -> None:
    d, lost = _lost_short_then_chased()
    report = OrderReport(venue="bybit", client_order_id=lost, status=OrderStatus.CANCELLED,
                         filled_qty=D("0.4"), avg_price=D("2012"), fills=())  # fmt: skip
    d.feed(OutcomeResolved(client_order_id=lost, report=report, ts=d.now()))
    (order,) = [o for o in d.position.orders() if o.client_order_id == lost]
    assert order.status is OrderState.EXPIRED and order.is_live  # 0.4 owed: it is queried
    assert d.state is S.HEDGED  # nothing decided while fills are owed
    d.feed(LegFilled(client_order_id=lost, trade_id="late-2", qty=D("0.4"), price=D("2012"),
                     fee=D("0.4"), ts=d.now()))  # fmt: skip
    assert d.position.net_exposure() == D("-0.4") and d.state is S.UNWINDING


def test_a_late_execution_after_settling_raises_and_changes_nothing() -> None:
    d, lost = _lost_short_then_chased()
    cmds = d.feed(ExitSignal(reason="converged", ts=d.now(), quotes={}))
    for close in places(cmds):
        d.fill_all(close)
    assert d.state is S.SETTLED
    before = d.position.snapshot()
    late = LegFilled(client_order_id=lost, trade_id="late-3", qty=D(1), price=D("2012"),
                     fee=D("1.0"), ts=d.now())  # fmt: skip
    with pytest.raises(VenueProtocolError, match="late execution after settling"):
        d.position.handle(late)
    assert d.position.snapshot() == before


def test_a_fee_paid_in_another_coin_is_kept_in_its_currency_not_booked_as_quote() -> None:
    d = Driver()
    long, short = d.open()
    d.fill(long, long.request.qty, fee="1.5")
    d.feed(LegFilled(client_order_id=short.request.client_order_id, trade_id="bgb-1",
                     qty=D(1), price=short.request.price, fee=D("0.25"), fee_currency="BGB",
                     ts=d.now()))  # fmt: skip
    assert d.state is S.HEDGED
    pos = d.position
    assert pos.fees() == D("1.5")  # the BGB fee is not a quote-currency fee
    assert pos.fees_by_currency() == {"USDC": D("1.5"), "BGB": D("0.25")}
    assert pos.pnl_by_currency()["BGB"] == D("-0.25")
    rates = {"USDC": D(1), "USDT": D(1)}
    unpriced = pos.realized_pnl(rates)
    assert pos.realized_pnl({**rates, "BGB": D(2)}) == unpriced - D("0.50")  # priced: counted
    assert pos.snapshot()["fees_by_currency"]["BGB"] == "0.25"
