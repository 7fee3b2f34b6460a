"""The runtime clock for real-time runs: monotonic, but on the Unix epoch.

Every timestamp the runtime stamps on an event (and every venue client stamps on a book) is
``trio.current_time()``. Trio's default clock has an arbitrary (random) origin per process, so
times journaled by one process would mean nothing to the next. :class:`EpochClock` keeps
Trio's monotonic behaviour but sets its origin so that ``current_time()`` reads as Unix epoch
seconds at start-up: a position's ``created_ts`` survives a restart, and ``max_holding_s``
still counts from the real opening time. Under ``MockClock`` (tests, ``--virtual-time``)
time starts at 0 and everything stays consistent inside the process.
"""

from __future__ import annotations

import time

import trio


class EpochClock(trio.abc.Clock):
    """``time.monotonic()`` shifted to read as epoch seconds when the run starts."""

    def __init__(self) -> None:
        self._offset = time.time() - time.monotonic()

    def start_clock(self) -> None:
        return None

    def current_time(self) -> float:
        return time.monotonic() + self._offset

    def deadline_to_sleep_time(self, deadline: float) -> float:
        return deadline - self.current_time()
