"""Journal: exact serialisation, write-ahead ordering, WAL, replay by event sourcing."""

from __future__ import annotations

import contextlib
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from arbtrio.core import events as ev
from arbtrio.core.position import Position, PositionError, PositionSpec, PositionState
from arbtrio.core.types import Fill, OrderReport, OrderRequest, OrderStatus, Side
from arbtrio.runtime import codec
from arbtrio.runtime.journal import Journal, JournalError, connect, read_records, replay
from arbtrio.sim.config import default_sim_config
from arbtrio.sim.market import SimMarket

D = Decimal

EVENTS: list[ev.Event] = [
    ev.Open(ts=1.5),
    ev.LegAcked(client_order_id="c1", venue_order_id="v1", ts=2.0),
    ev.LegFilled(client_order_id="c1", trade_id="t1", qty=D("0.0300"), price=D("65000.1"),
                 fee=D("0.877501350"), ts=2.25),
    ev.LegRejected(client_order_id="c1", reason="insufficient margin", ts=3.0),
    ev.LegExpired(client_order_id="c1", filled_qty=D("0.01"), ts=3.1),
    ev.LegOutcomeUnknown(client_order_id="c1", reason="no ack within 3s", ts=3.2),
    ev.OutcomeResolved(
        client_order_id="c1",
        report=OrderReport(
            venue="bybit", client_order_id="c1", status=OrderStatus.CANCELLED,
            filled_qty=D("0.02"), avg_price=D("65000.05"),
            fills=(Fill(venue="bybit", client_order_id="c1", trade_id="t9", side=Side.SELL,
                        qty=D("0.02"), price=D("65000.05"), fee=D("-0.1"), ts=4.0),),
            reason="IOC remainder cancelled",
        ),
        ts=4.5,
    ),
    ev.OutcomeResolved(client_order_id="c2", report=None, ts=5.0),
    ev.Tick(ts=6.0, quotes={"bybit": ev.Quote(bid=D("1.5"), ask=D("1.50001"))}),
    ev.ExitSignal(reason="converged", ts=7.0),
    ev.OperatorFlatten(ts=8.0, quotes={"kucoin": ev.Quote(bid=D("1E+5"), ask=D("100001"))}),
    ev.Kill(ts=9.0),
    ev.FundingPaid(leg="short", amount=D("-0.00012345"), ts=10.0),
]  # fmt: skip


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_round_trips_exactly(event: ev.Event) -> None:
    name, body = codec.encode_event(event)
    text = codec.dumps(body)
    import json

    back = codec.decode_event(name, json.loads(text))
    assert back == event
    assert repr(back) == repr(event)  # Decimal exponents and trailing zeros preserved


@given(
    st.decimals(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
)
def test_decimal_and_float_fields_are_exact(qty: Decimal, ts: float) -> None:
    import json

    event = ev.LegFilled(client_order_id="c", trade_id="t", qty=qty, price=qty, fee=qty, ts=ts)
    name, body = codec.encode_event(event)
    back = codec.decode_event(name, json.loads(codec.dumps(body)))
    assert back == event and str(back.qty) == str(qty)


def test_commands_round_trip() -> None:
    import json

    commands: list[ev.Command] = [
        ev.PlaceOrder(leg="long", attempt=2, request=OrderRequest(
            venue="gateio", symbol="BTC_USDT", client_order_id="t-abc", side=Side.BUY,
            qty=D("0.0010"), price=D("65000.1"), reduce_only=True)),
        ev.CancelOrder(leg="short", venue="bybit", symbol="BTCUSDT", client_order_id="x"),
        ev.QueryOrder(leg="short", venue="bybit", symbol="BTCUSDT", client_order_id="x"),
        ev.Alert(level="critical", message="boom"),
    ]  # fmt: skip
    for command in commands:
        name, body = codec.encode_command(command)
        assert codec.decode_command(name, json.loads(codec.dumps(body))) == command
    assert codec.command_client_order_id(commands[0]) == "t-abc"


def test_unknown_types_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        codec.decode_event("LegTeleported", {})
    with pytest.raises(ValueError, match="unknown command type"):
        codec.decode_command("Launch", {})


def _spec(pid: str = "r-1") -> PositionSpec:
    market = SimMarket(default_sim_config())
    long = market.instrument("bybit", market.symbol_for("bybit", "BTC"))
    short = market.instrument("kucoin", market.symbol_for("kucoin", "BTC"))
    return PositionSpec(
        position_id=pid, asset="BTC", long=long, short=short, qty=D("0.01"),
        long_price=D("65000"), short_price=D("65050"), created_ts=0.0,
    )  # fmt: skip


async def test_durable_append_is_committed_and_ordered(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path, capacity=8)
    async with trio.open_nursery() as nursery:
        await nursery.start(journal.run)
        for i in range(100):  # more than the channel holds: backpressure, nothing lost
            await journal.service("tick", float(i), i=i)
        await journal.commands("p", [ev.Alert(level="warning", message="x")], ts=100.0)
        # durable: visible to another connection as soon as the call returns
        rows = list(read_records(path, kinds=("service", "command")))
        assert [r.body.get("i") for r in rows[:100]] == list(range(100))
        assert rows[-1].kind == "command" and rows[-1].position_id == "p"
        journal.close()
    assert journal.statistics().written == 101
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_replay_rebuilds_the_same_position(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    spec = _spec()
    live = Position(spec)
    journal = Journal(path)
    async with trio.open_nursery() as nursery:
        await nursery.start(journal.run)
        await journal.position_created(spec, 0.0)
        # Drive the machine like the runtime does: journal each event, then handle it.
        events: list[ev.Event] = [ev.Open(ts=1.0)]
        cmds = []
        for event in events:
            await journal.event(spec.position_id, event, event.ts)
            cmds = live.handle(event)
        long_cid = cmds[0].request.client_order_id
        short_cid = cmds[1].request.client_order_id
        more: list[ev.Event] = [
            ev.LegAcked(client_order_id=long_cid, venue_order_id="a", ts=1.1),
            ev.LegFilled(client_order_id=long_cid, trade_id="t1", qty=D("0.01"),
                         price=D("65001"), fee=D("0.3"), ts=1.1),
            ev.LegFilled(client_order_id=long_cid, trade_id="t1", qty=D("0.01"),
                         price=D("65001"), fee=D("0.3"), ts=1.1),  # duplicate: ignored
            ev.LegRejected(client_order_id="not-ours", reason="x", ts=1.2),  # refused
            ev.LegFilled(client_order_id=short_cid, trade_id="t2", qty=D("0.01"),
                         price=D("65049"), fee=D("0.3"), ts=1.3),
        ]  # fmt: skip
        for event in more:
            await journal.event(spec.position_id, event, event.ts)
            with contextlib.suppress(PositionError):
                live.handle(event)
        await journal.flush()
        journal.close()
    rebuilt = replay(path)[spec.position_id]
    assert rebuilt.events == 6
    assert rebuilt.position.state is live.state is PositionState.HEDGED
    assert rebuilt.position.snapshot() == live.snapshot()
    assert rebuilt.position.realized_pnl() == live.realized_pnl()


def test_schema_version_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    connect(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value='999' WHERE key='schema'")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="schema 999"):
        connect(path)
