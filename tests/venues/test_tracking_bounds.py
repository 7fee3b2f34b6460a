"""OrderTracker's maps stay bounded by its ``limit`` (venues/tracking.py), sans-IO."""

from __future__ import annotations

from decimal import Decimal

from arbtrio.core.types import Fill, Side
from arbtrio.venues.stream import Deliver
from arbtrio.venues.tracking import OrderTracker


def fill(cid: str, trade_id: str) -> Fill:
    return Fill(venue="v", client_order_id=cid, trade_id=trade_id, side=Side.BUY,
                qty=Decimal(1), price=Decimal(100), fee=Decimal(0), ts=0.0)  # fmt: skip


def test_order_ids_learned_from_the_stream_keep_only_the_newest_limit() -> None:
    t = OrderTracker("v", limit=3)
    for i in range(5):
        t.learn(f"V{i}", f"c{i}")
    assert [t.client_order_id(f"V{i}") for i in range(5)] == [None, None, "c2", "c3", "c4"]
    t.learn("V2", "c2")  # learned again: the newest now
    t.learn("V5", "c5")
    assert t.client_order_id("V2") == "c2" and t.client_order_id("V3") is None


def test_fills_waiting_for_their_order_are_held_for_at_most_limit_orders() -> None:
    t = OrderTracker("v", limit=2)
    for i in range(4):
        assert t.fill_for_venue_order(f"V{i}", lambda cid, i=i: fill(cid, f"T{i}"), 0.0) is None
    assert t.fills_waited == 2  # the last two were not held (their re-query finds them)
    assert len(t._waiting) == 2  # nor remembered: nothing grows past the limit
    assert t.learn("V2", "c2") == [] and t.learn("V3", "c3") == []
    (held,) = t.learn("V1", "c1")
    assert isinstance(held, Deliver) and held.event.client_order_id == "c1"
    # a second fill of an order already waiting is held with it, not refused
    t.fill_for_venue_order("V9", lambda cid: fill(cid, "T9a"), 0.0)
    t.fill_for_venue_order("V9", lambda cid: fill(cid, "T9b"), 0.0)
    assert [d.event.trade_id for d in t.learn("V9", "c9")] == ["T9a", "T9b"]  # type: ignore[union-attr]
