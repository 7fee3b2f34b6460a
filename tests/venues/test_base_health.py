"""VenueHealth: the counters a client keeps and the snapshot readers see."""

from __future__ import annotations

from arbtrio.venues.base import VenueHealth


def test_skipped_items_are_counted_apart_from_malformed_messages_and_reported() -> None:
    health = VenueHealth("v")
    assert health.skipped == 0 and health.snapshot(0.0)["skipped"] == 0
    health.skipped += 2
    health.malformed += 1
    snap = health.snapshot(0.0)
    assert (snap["skipped"], snap["malformed"]) == (2, 1)
