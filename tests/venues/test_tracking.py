"""The shared order tracker every order-stream protocol keeps (venues/tracking.py), sans-IO."""

from __future__ import annotations

from decimal import Decimal

import structlog

from arbtrio.core.types import Fill, OrderReport, OrderStatus, OrderUpdate, Side
from arbtrio.venues.base import AuthenticationFailed, OrderNotFound, RateLimited
from arbtrio.venues.stream import Deliver, Fail, Fetch
from arbtrio.venues.tracking import OrderTracker, Placed, Requery

D = Decimal


def fill(cid: str, trade_id: str, qty: str = "1") -> Fill:
    return Fill(venue="v", client_order_id=cid, trade_id=trade_id, side=Side.BUY, qty=D(qty),
                price=D(100), fee=D("0.01"), ts=0.0)  # fmt: skip


def keys(outputs: list[object]) -> list[object]:
    return [o.key for o in outputs if isinstance(o, Fetch)]


def test_unfinished_orders_are_requeried_on_subscription_and_periodically() -> None:
    t = OrderTracker("v", reconcile_every_s=60.0)
    t.placed(Placed("c1", "S"), 0.0)
    t.placed(Placed("c2", "S"), 0.0)
    t.finished("c2")  # the stream delivered its terminal status
    assert keys(t.subscribed(1.0)) == [Requery("S", "c1")]
    assert t.timer(30.0) == []
    assert keys(t.timer(61.0)) == [Requery("S", "c1")]  # a minute later, again
    t.unsubscribed()
    assert t.timer(200.0) == []  # not while the stream is down: its next Ready asks


def test_an_order_sent_before_the_subscription_is_requeried_when_its_note_arrives() -> None:
    t = OrderTracker("v")
    t.subscribed(10.0)
    assert keys(t.placed(Placed("old", "S", sent_at=9.5), 10.2)) == [Requery("S", "old")]
    assert t.placed(Placed("new", "S", sent_at=10.1), 10.3) == []  # the stream saw it all


def test_a_terminal_push_before_the_note_finishes_the_order() -> None:
    t = OrderTracker("v")
    t.finished("c3")  # pushed before the placement's REST answer came back
    t.placed(Placed("c3", "S"), 1.0)
    assert t.unfinished() == []


def test_fills_are_delivered_once_whether_streamed_or_requeried() -> None:
    t = OrderTracker("v")
    t.placed(Placed("c1", "S"), 0.0)
    assert isinstance(t.fill(fill("c1", "T1", "0.4")), Deliver)
    assert t.fill(fill("c1", "T1", "0.4")) is None  # the stream repeated it
    report = OrderReport(venue="v", client_order_id="c1", status=OrderStatus.FILLED,
                         filled_qty=D(1), avg_price=D(100),
                         fills=(fill("c1", "T1", "0.4"), fill("c1", "T2", "0.6")))  # fmt: skip
    out = t.fetched(Requery("S", "c1"), report, 2.0)
    assert out is not None
    delivered = [o.event for o in out if isinstance(o, Deliver)]
    assert [f.trade_id for f in delivered if isinstance(f, Fill)] == ["T2"]
    assert isinstance(delivered[-1], OrderUpdate) and delivered[-1].status is OrderStatus.FILLED
    assert t.unfinished() == []  # terminal: not asked again


def test_a_fill_before_its_ack_waits_for_the_order_id_then_is_delivered() -> None:
    t = OrderTracker("v", fill_wait_s=5.0)
    assert t.fill_for_venue_order("V9", lambda cid: fill(cid, "T9"), 1.0) is None  # unknown yet
    out = t.placed(Placed("c9", "S", venue_order_id="V9"), 1.5)
    (delivered,) = [o for o in out if isinstance(o, Deliver)]
    assert delivered.event.client_order_id == "c9"
    known = t.fill_for_venue_order("V9", lambda cid: fill(cid, "T10"), 2.0)
    assert isinstance(known, Deliver) and known.event.client_order_id == "c9"


def test_a_fill_whose_order_never_becomes_known_is_dropped_after_the_wait_with_a_warning() -> None:
    t = OrderTracker("v", fill_wait_s=5.0)
    t.fill_for_venue_order("V7", lambda cid: fill(cid, "T7"), 1.0)
    with structlog.testing.capture_logs() as logs:
        assert t.timer(3.0) == [] and t.timer(6.5) == []
    assert [e["event"] for e in logs] == ["venue.fill_without_order"]
    assert t.learn("V7", "c7") == []  # gone: the order's re-query finds the trade instead


def test_requery_answers_not_found_errors_and_bugs() -> None:
    t = OrderTracker("v")
    key = Requery("S", "c1")
    assert t.fetched("another key", None, 0.0) is None
    assert t.fetched(key, OrderNotFound("v", "no such order"), 0.0) == ()
    assert t.fetched(key, RateLimited("v", "slow down"), 0.0) == ()  # logged, asked again later
    (fail,) = t.fetched(key, AuthenticationFailed("v", "bad key"), 0.0) or ()
    assert isinstance(fail, Fail) and isinstance(fail.error, AuthenticationFailed)
    (bug,) = t.fetched(key, "not a report", 0.0) or ()
    assert isinstance(bug, Fail) and isinstance(bug.error, TypeError)


def test_venue_ids_learned_from_the_stream_are_bounded_oldest_forgotten() -> None:
    t = OrderTracker("v", limit=3)
    for i in range(5):
        t.learn(f"V{i}", f"c{i}")  # e.g. order pushes of every order on the account
    assert [t.client_order_id(f"V{i}") for i in range(5)] == [None, None, "c2", "c3", "c4"]
    t.learn("V2", "c2")  # learned again: the newest now
    t.learn("V5", "c5")
    assert t.client_order_id("V2") == "c2" and t.client_order_id("V3") is None


def test_fills_waiting_for_an_order_id_are_bounded_by_venue_order_ids() -> None:
    t = OrderTracker("v", limit=2)
    for i in range(4):
        t.fill_for_venue_order(f"V{i}", lambda cid, i=i: fill(cid, f"T{i}"), 0.0)
    t.fill_for_venue_order("V1", lambda cid: fill(cid, "T1b"), 0.0)  # a known waiter: held
    assert t.fills_waited == 3
    out = t.learn("V1", "c1")
    assert [o.event.trade_id for o in out if isinstance(o, Deliver)] == ["T1", "T1b"]
    assert t.learn("V3", "c3") == []  # over the bound: not held (the re-query finds it)


def test_fills_waiting_for_their_order_id_are_bounded() -> None:
    t = OrderTracker("v", limit=2, fill_wait_s=5.0)
    for i in range(4):  # fills of orders no note and no push ever names
        assert t.fill_for_venue_order(f"V{i}", lambda cid, i=i: fill(cid, f"T{i}"), 1.0) is None
    assert t.fills_waited == 2 and len(t._waiting) == 2  # the others: left to the re-query
    assert [len(t.learn(f"V{i}", f"c{i}")) for i in range(4)] == [1, 1, 0, 0]
