"""Bybit's order protocol and the orders its client placed, sans-IO: fills before acks,
re-queries after (re)subscription, malformed frames and periodically, de-duplication of
stream and REST fills, bounded memory."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog

from arbtrio.core.types import Fill, OrderReport, OrderStatus, OrderUpdate, Side
from arbtrio.venues.base import BadRequest, Credentials, VenueHealth
from arbtrio.venues.bybit.feed import BybitOrderFeed
from arbtrio.venues.stream import Deliver, Fail, Fetch, Ready, Send
from arbtrio.venues.tracking import Placed, Requery

D = Decimal
FIXTURES = Path(__file__).parent / "fixtures"
VENUE_ID = "9aac161b-8ed6-450d-9cab-c5cc67c21784"  # the documented execution's orderId


def fixture(name: str) -> dict[str, Any]:
    doc = json.loads((FIXTURES / f"{name}.json").read_text())
    doc.pop("_source")
    return doc  # type: ignore[no-any-return]


EXECUTION = fixture("ws_execution_linear")["data"][0]  # BTCUSDT, orderLinkId "", Sell 0.5


def execution(**fields: Any) -> str:
    return push("execution", [EXECUTION | fields])


def order(cid: str, status: str = "Filled", cum: str = "0.5", venue_id: str = VENUE_ID) -> str:
    (row,) = fixture("rest_order_realtime")["result"]["list"]
    item = row | {"category": "linear", "symbol": "BTCUSDT", "orderId": venue_id,
                  "orderLinkId": cid, "orderStatus": status, "cumExecQty": cum,
                  "avgPrice": "95900.1" if cum != "0" else ""}  # fmt: skip
    return push("order", [item])


def push(topic: str, data: list[Any]) -> str:
    return json.dumps({"id": "x", "topic": topic, "creationTime": 1, "data": data})


def feed(**kw: Any) -> BybitOrderFeed:
    return BybitOrderFeed(
        Credentials(api_key="k", api_secret="s"), VenueHealth("bybit"), lambda: 1.7e9, **kw
    )


def subscribe(f: BybitOrderFeed, now: float) -> list[Any]:
    """Connect, authenticate and subscribe at ``now``; the outputs of the subscribe answer."""
    f.connected(None, now)
    (sub,) = f.frame(json.dumps({"op": "auth", "success": True, "ret_msg": ""}), now)
    assert isinstance(sub, Send)
    ack = {
        "op": "subscribe",
        "success": True,
        "ret_msg": "",
        "req_id": json.loads(sub.text)["req_id"],
    }
    return list(f.frame(json.dumps(ack), now))


def events(outputs: Any) -> list[Any]:
    return [o.event for o in outputs if isinstance(o, Deliver)]


def keys(outputs: Any) -> list[Any]:
    return [o.key for o in outputs if isinstance(o, Fetch)]


def fill(cid: str, trade_id: str) -> Fill:
    return Fill(venue="bybit", client_order_id=cid, trade_id=trade_id, side=Side.SELL,
                qty=D("0.25"), price=D("95900.1"), fee=D("0.01"), ts=0.0)  # fmt: skip


def report(cid: str, *trade_ids: str, status: OrderStatus = OrderStatus.FILLED) -> OrderReport:
    fills = tuple(fill(cid, t) for t in trade_ids)
    qty = D("0.25") * len(fills)
    return OrderReport(venue="bybit", client_order_id=cid, status=status, filled_qty=qty,
                       avg_price=D("95900.1"), fills=fills)  # fmt: skip


# -- fills before acks ---------------------------------------------------------------------
def test_a_fill_pushed_before_the_placement_answer_waits_for_the_placed_note() -> None:
    f = feed()
    subscribe(f, 0.0)
    assert events(f.frame(execution(), 1.0)) == []  # only the venue's order id: held
    (fill,) = events(f.note(Placed("c1", "BTCUSDT", venue_order_id=VENUE_ID, sent_at=0.5), 1.2))
    assert (fill.client_order_id, fill.trade_id, fill.qty) == ("c1", EXECUTION["execId"], D("0.5"))
    assert events(f.frame(execution(), 1.3)) == []  # the same execId again: once only


def test_a_held_fill_is_delivered_when_an_order_push_names_its_order_before_the_update() -> None:
    f = feed()
    subscribe(f, 0.0)
    assert events(f.frame(execution(), 1.0)) == []
    fill, update = events(f.frame(order("c1"), 1.1))  # the push maps orderId -> orderLinkId
    assert isinstance(fill, Fill) and fill.client_order_id == "c1"
    assert isinstance(update, OrderUpdate) and update.status is OrderStatus.FILLED


def test_a_fill_never_mapped_is_dropped_after_the_wait_and_recovered_by_the_requery() -> None:
    f = feed(fill_wait_s=5.0, reconcile_every_s=60.0)
    subscribe(f, 0.0)
    f.frame(execution(orderId="unknown-id"), 1.0)
    with structlog.testing.capture_logs() as logs:
        assert f.timer(7.0) == ()  # waited long enough: not guessed
    assert "venue.fill_without_order" in [e["event"] for e in logs]
    f.note(Placed("c1", "BTCUSDT", sent_at=2.0), 2.0)  # its REST answer named no venue id
    assert keys(f.timer(61.0)) == [Requery("BTCUSDT", "c1")]  # the periodic re-query
    fill, update = events(
        f.fetched(Requery("BTCUSDT", "c1"), report("c1", EXECUTION["execId"]), 61.5)
    )
    assert fill.trade_id == EXECUTION["execId"] and fill.client_order_id == "c1"
    assert update.status is OrderStatus.FILLED
    assert keys(f.timer(200.0)) == []  # finished: not asked again


# -- re-queries ----------------------------------------------------------------------------
def test_every_resubscription_requeries_the_orders_not_seen_finishing() -> None:
    f = feed()
    subscribe(f, 0.0)
    f.note(Placed("open", "BTCUSDT", venue_order_id="v1", sent_at=1.0), 1.0)
    f.note(Placed("done", "BTCUSDT", venue_order_id="v2", sent_at=1.0), 1.0)
    f.frame(order("done", venue_id="v2"), 2.0)  # the stream saw it finish
    f.frame(order("open", status="PartiallyFilled", cum="0.1", venue_id="v1"), 2.0)
    f.disconnected("gone", 3.0)
    assert f.timer(100.0) == ()  # not while down: the next subscription asks
    out = subscribe(f, 10.0)
    assert isinstance(out[0], Ready) and keys(out) == [Requery("BTCUSDT", "open")]


def test_an_order_sent_before_the_subscription_is_requeried_when_its_note_arrives() -> None:
    f = feed()
    subscribe(f, 10.0)
    assert keys(f.note(Placed("c1", "BTCUSDT", venue_order_id="v1", sent_at=9.0), 10.5)) == [
        Requery("BTCUSDT", "c1")
    ]
    assert keys(f.note(Placed("c2", "BTCUSDT", venue_order_id="v2", sent_at=10.2), 10.6)) == []


def test_a_terminal_push_before_the_note_finishes_the_order() -> None:
    f = feed()
    subscribe(f, 0.0)
    f.frame(order("c1"), 1.0)  # pushed before place_order's answer came back
    f.note(Placed("c1", "BTCUSDT", venue_order_id=VENUE_ID, sent_at=0.5), 1.1)
    assert f.tracker.unfinished() == []


def test_stream_and_requery_fills_are_delivered_once() -> None:
    f = feed()
    subscribe(f, 0.0)
    f.note(Placed("c1", "BTCUSDT", venue_order_id=VENUE_ID, sent_at=1.0), 1.0)
    (streamed,) = events(f.frame(execution(orderLinkId="c1", execId="T1"), 2.0))
    out = f.fetched(Requery("BTCUSDT", "c1"), report("c1", "T1", "T2"), 3.0)
    assert [e.trade_id for e in events(out) if isinstance(e, Fill)] == ["T2"]
    assert streamed.trade_id == "T1"


def test_a_refused_subscription_fails_the_session() -> None:
    f = feed()
    f.connected(None, 0.0)
    (sub,) = f.frame(json.dumps({"op": "auth", "success": True, "ret_msg": ""}), 0.0)
    req_id = json.loads(sub.text)["req_id"]  # type: ignore[union-attr]
    refused = {"op": "subscribe", "success": False, "ret_msg": "error:topic", "req_id": req_id}
    (fail,) = f.frame(json.dumps(refused), 0.1)
    assert isinstance(fail, Fail) and isinstance(fail.error, BadRequest)


def test_pings_only_once_live() -> None:
    f = feed(ping_interval=20.0)
    f.connected(None, 0.0)
    assert f.timer(1.0) == ()
    subscribe(f, 0.0)
    (ping,) = f.timer(21.0)
    assert isinstance(ping, Send) and json.loads(ping.text)["op"] == "ping"


# -- bounded memory ------------------------------------------------------------------------
def test_what_the_protocol_keeps_per_order_and_per_fill_is_bounded_oldest_first() -> None:
    f = feed(max_orders=4)
    subscribe(f, 0.0)
    for i in range(50):
        f.note(Placed(f"c{i}", "BTCUSDT", venue_order_id=f"v{i}", sent_at=1.0), 1.0)
        f.frame(order(f"c{i}", status="New", cum="0", venue_id=f"v{i}"), 1.0)
        f.frame(execution(orderLinkId=f"c{i}", execId=f"T{i}"), 1.0)
        f.frame(execution(orderId=f"w{i}", execId=f"W{i}"), 1.0)  # waits for an unknown id
    tracker = f.tracker
    assert [tracker.client_order_id(f"v{i}") for i in (0, 45, 46)] == [None, None, "c46"]
    assert [k.client_order_id for k in tracker.unfinished()] == ["c46", "c47", "c48", "c49"]
    assert len(tracker.trades) == 40  # 10 x max_orders trade ids remembered
    assert tracker.fills_waited == 4  # at most max_orders venue order ids wait at once
    assert len(f.pushed_positions) == 0 and len(f.pushed_balances) == 0
