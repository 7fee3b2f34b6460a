"""VenueHealth.skipped: the one counter every venue client keeps for list items it left out."""

from __future__ import annotations

from arbtrio.venues.base import VenueHealth


def test_skipped_starts_at_zero_and_is_reported_next_to_malformed() -> None:
    health = VenueHealth("v")
    assert health.skipped == 0
    health.skipped += 2
    health.malformed += 1
    snap = health.snapshot(0.0)
    assert (snap["skipped"], snap["malformed"]) == (2, 1)
