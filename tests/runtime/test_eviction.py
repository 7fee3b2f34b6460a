"""Settled positions beyond ``service.max_settled_in_memory`` leave memory, not the totals."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import trio

from arbtrio.core import events as ev
from arbtrio.core.detector import quote_rate
from arbtrio.core.position import Position, PositionSpec, PositionState
from arbtrio.runtime import views
from arbtrio.runtime.admin import AdminClient, AdminError
from arbtrio.runtime.control import admin_methods
from arbtrio.runtime.journal import replay
from arbtrio.runtime.service import Runtime
from arbtrio.runtime.simulation import run_simulation
from arbtrio.sim.config import FaultRates
from arbtrio.sim.market import SimMarket

S = PositionState
D = Decimal
CAP = 2


async def test_evicted_settled_positions_keep_totals_and_answer_from_the_journal(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config(faults=FaultRates(partial_fill=0.1), max_settled_in_memory=CAP)
    sock = config.service.admin_socket
    holder: dict[str, Any] = {}

    def hook(rt: Runtime) -> None:
        rt.positions.wall_clock = lambda: 86_400.0 * 3 + 10.0  # day 3, whatever the date
        holder["rt"] = rt

    async def run(task_status: Any) -> None:
        holder["summary"] = await run_simulation(
            config, duration=300.0, admin_socket=sock, runtime_hook=hook, task_status=task_status
        )

    async with trio.open_nursery() as nursery:
        rt: Runtime = await nursery.start(run)
        while rt.positions.archived < 2:  # noqa: ASYNC110 (eviction has no event to wait on)
            await trio.sleep(1.0)
        # While running: an evicted position is answered from the journal.
        evicted = next(
            f"{rt.run_id}-{n}"
            for n in range(1, rt.positions.opened + 1)
            if f"{rt.run_id}-{n}" not in rt.positions.actors
        )
        client = await AdminClient.connect(sock)
        one = await client.call("position", {"id": evicted})
        assert one["archived"] is True and one["state"] == "SETTLED"
        assert one["id"] == evicted and len(one["legs"]) == 2 and one["history"]
        assert evicted not in {r["id"] for r in await client.call("positions")}
        try:
            await client.call("flatten", {"id": evicted})
        except AdminError as exc:
            assert "archived in the journal" in exc.message
        else:
            raise AssertionError("flattening an archived position must fail")
        status = await client.call("status")
        assert status["positions_archived"] >= 2
        assert status["positions"]["SETTLED"] > status["positions_in_memory"] - len(
            rt.positions.live
        )
        await client.aclose()
    summary = holder["summary"]

    # Memory: at most CAP ended settled actors remain.
    ended = [a for a in rt.positions.actors.values() if a.state is S.SETTLED and a.done.is_set()]
    assert len(ended) <= CAP
    settled_total = rt.positions.positions_by_state()["SETTLED"]
    assert rt.positions.archived == settled_total - sum(
        1 for a in rt.positions.actors.values() if a.state is S.SETTLED
    )
    assert rt.positions.archived >= 5, summary

    # Totals are those of every position the journal holds, evicted or not.
    rebuilt = {pid: r.position for pid, r in replay(config.service.journal).items()}
    assert len(rebuilt) == rt.positions.opened
    assert Counter(p.state.name for p in rebuilt.values()) == rt.positions.positions_by_state()
    assert {k: v for k, v in summary["positions"].items() if v} == dict(
        rt.positions.positions_by_state()
    )
    settled = [p for p in rebuilt.values() if p.state is S.SETTLED]
    pnl = sum((p.realized_pnl(rt.quote_rates) for p in settled), Decimal(0))
    assert rt.positions.realized_pnl() == pnl == Decimal(summary["realized_pnl"])
    assert rt.positions.fees() == sum((p.fees() for p in rebuilt.values()), Decimal(0))
    assert Decimal(summary["fees"]) == rt.positions.fees()
    assert rt.positions.settled.notional == sum(
        (p.spec.qty * p.spec.long_price * quote_rate(rt.quote_rates, p.spec.long) for p in settled),
        Decimal(0),
    )
    # the daily loss limit sees every settled position of the day
    assert rt.positions.pnl_by_day == {3: pnl}
    assert rt.positions.exposure().realized_pnl_today == pnl


def settled_position(config: Any) -> tuple[Position, list[ev.Event]]:
    """A position driven purely (no venue) through open, hedge and close to SETTLED."""
    market = SimMarket(config.sim)
    long = market.instruments("bybit")[0]
    short = market.instruments("bitget")[0]
    spec = PositionSpec(
        position_id="p-1", asset=long.asset, long=long, short=short, qty=D("0.01"),
        long_price=D("65000"), short_price=D("65100"), policy=config.execution, created_ts=0.0,
    )  # fmt: skip
    position = Position(spec)
    events: list[ev.Event] = []
    trades = iter(range(1, 100))

    def feed(event: ev.Event) -> list[ev.Command]:
        events.append(event)
        return position.handle(event)

    def fill_all(commands: list[ev.Command], ts: float) -> None:
        for c in commands:
            if isinstance(c, ev.PlaceOrder):
                r = c.request
                feed(ev.LegFilled(client_order_id=r.client_order_id, trade_id=f"t{next(trades)}",
                                  qty=r.qty, price=r.price, fee=D("0.25"), ts=ts))  # fmt: skip

    fill_all(feed(ev.Open(ts=1.0)), 1.1)
    assert position.state is S.HEDGED
    fill_all(feed(ev.OperatorFlatten(ts=2.0)), 2.1)
    assert position.state is S.SETTLED
    return position, events


async def test_funding_owed_after_settling_reaches_the_totals_before_eviction(
    make_config: Any, autojump_clock: Any
) -> None:
    """A position that settled just after a funding time still books it: its actor waits
    for the funding owed, the running totals and today's PnL take the change, then the
    actor is evicted (cap 0) and the journal answers for it, funding included."""
    config = make_config(max_settled_in_memory=0)
    position, events = settled_position(config)
    rt = Runtime(config, {}, wall_clock=lambda: 86_400.0 * 5)
    async with trio.open_nursery() as nursery:
        await nursery.start(rt.journal.run)
        await rt.journal.position_created(position.spec, 0.0)
        for event in events:
            await rt.journal.event("p-1", event, event.ts)
        actor = rt.positions.make_actor(position)
        rt.positions.actors["p-1"] = rt.positions.live["p-1"] = actor
        rt.positions._book_settled(actor)  # as a rebuilt settled position is
        before = rt.positions.realized_pnl()
        assert before == position.realized_pnl(rt.quote_rates) and rt.positions.pnl_by_day == {
            5: before
        }
        actor.funding_due = 1
        nursery.start_soon(rt.positions.run_actor, actor)
        await trio.sleep(1.0)
        assert not actor.done.is_set()  # funding is owed: the actor waits for it
        await actor.send(ev.FundingPaid(leg="short", amount=D("0.37"), ts=3.0))
        await actor.done.wait()
        await rt.journal.flush()
        rt.journal.close()
    assert rt.positions.realized_pnl() == before + D("0.37") and rt.positions.pnl_by_day == {
        5: before + D("0.37")
    }
    assert (
        rt.positions.positions_by_state() == Counter({"SETTLED": 1})
        and rt.positions.settled.count == 1
    )
    assert rt.positions.actors == {} and rt.positions.live == {} and rt.positions.archived == 1
    assert rt.positions.fees() == D("1.00")
    answer = await admin_methods(rt)["position"]({"id": "p-1"})
    assert answer["archived"] is True and answer["funding"] == "0.37"
    assert answer == views.position_view(rt, position, archived=True)


async def test_a_failed_funding_booking_never_leaves_an_actor_waiting(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config()
    position, _ = settled_position(config)
    rt = Runtime(config, {})
    async with trio.open_nursery() as nursery:
        await nursery.start(rt.journal.run)
        actor = rt.positions.make_actor(position)
        rt.positions.actors["p-1"] = rt.positions.live["p-1"] = actor
        actor.funding_due = 1
        nursery.start_soon(rt.positions.run_actor, actor)
        await trio.sleep(1.0)
        assert not actor.done.is_set()
        # the venue is unknown to this runtime: booking fails inside, the actor is released
        await rt.funding.book("bybit", "BTC", 3600.0, [(actor, "long", D("0.01"))])
        with trio.fail_after(5):
            await actor.done.wait()
        assert actor.funding_due == 0 and position.funding() == 0
        rt.journal.close()
