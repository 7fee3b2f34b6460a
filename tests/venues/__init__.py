"""Venue tests. A package only so that the wire tests can import :mod:`venues.rig`."""
