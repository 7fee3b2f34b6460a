"""The service's stop switches: one owner, read by the strategy, control and shutdown.

:meth:`Lifecycle.request_stop` (SIGINT/SIGTERM, a run's duration, the admin ``kill``)
begins a graceful shutdown once: opening stops at once (``stopping``), then the runtime
drains per :meth:`policy`.
"""

from __future__ import annotations

import structlog
import trio

__all__ = ["Lifecycle"]

log = structlog.get_logger("arbtrio.runtime")


class Lifecycle:
    """``stopping`` (no new positions), ``killed`` (flatten everything, arm dead-man
    switches), the reason, and the events the runtime waits on."""

    def __init__(self, shutdown: str) -> None:
        self.shutdown = shutdown  # the configured policy: "flatten" | "leave_hedged"
        self.stopping = False
        self.killed = False
        self.stop_reason = ""
        self.stop_requested = trio.Event()
        self.stopped = trio.Event()

    def policy(self) -> str:
        """How to drain: a kill always flattens."""
        return "flatten" if self.killed else self.shutdown

    def request_stop(self, reason: str = "requested") -> None:
        """Begin a graceful shutdown (idempotent: the first reason is kept)."""
        if not self.stop_requested.is_set():
            self.stop_reason = reason
            self.stopping = True
            log.info("service.stopping", reason=reason, policy=self.policy())
            self.stop_requested.set()
