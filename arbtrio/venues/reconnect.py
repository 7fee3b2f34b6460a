"""Reconnect with exponential backoff and jitter: the one loop every venue connection uses.

A *session* is an async function that connects, subscribes, streams and returns or raises
when the connection ends. :func:`run_reconnecting` runs sessions forever, sleeping a backoff
between failures, counting them in the venue's :class:`VenueHealth` and marking the venue
``down`` after ``down_after`` consecutive failures (cleared once a session reports progress
through ``health.consecutive_failures = 0``, which :func:`session_ok` does).
:class:`Readiness` is a stream's "subscribed" signal: ``session_ok`` on every (re)connect,
``task_status.started()`` on the first only.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import attrs
import structlog
import trio

from arbtrio.venues.base import AuthenticationFailed, VenueHealth

log = structlog.get_logger("arbtrio.reconnect")


@attrs.frozen(kw_only=True)
class Backoff:
    """Delay before retry ``n`` (0-based): ``min(cap, base × factor^n)`` with full jitter."""

    base: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.5  # fraction of the delay drawn at random: delay × (1 − jitter × u)

    def delay(self, failures: int, rng: random.Random) -> float:
        raw = min(self.cap, self.base * self.factor ** max(0, failures - 1))
        return raw * (1.0 - self.jitter * rng.random())


def session_ok(health: VenueHealth) -> None:
    """Call once a session is connected and subscribed: resets the failure streak."""
    health.connected = True
    health.down = False
    health.consecutive_failures = 0


class Readiness:
    """Call once a session is subscribed: :func:`session_ok` on ``health`` (when given) every
    time, ``task_status.started()`` the first time only (reconnects must not call it again)."""

    __slots__ = ("_started", "_task_status", "health")

    def __init__(self, task_status: trio.TaskStatus[None], health: VenueHealth | None) -> None:
        self._task_status = task_status
        self.health = health
        self._started = False

    def __call__(self) -> None:
        if self.health is not None:
            session_ok(self.health)
        if not self._started:
            self._started = True
            self._task_status.started()


async def run_reconnecting(
    session: Callable[[], Awaitable[None]],
    health: VenueHealth,
    *,
    what: str,
    backoff: Backoff = Backoff(),
    down_after: int = 5,
    rng: random.Random | None = None,
) -> None:
    """Run ``session`` forever, reconnecting with backoff. Auth failures propagate."""
    rng = rng or random.Random()
    while True:
        try:
            await session()
            error = "session ended"
        except AuthenticationFailed:
            health.connected = False
            raise
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a venue error, a malformed stream, a protocol error
            error = f"{type(exc).__name__}: {exc}"
        health.connected = False
        health.reconnects += 1
        health.consecutive_failures += 1
        health.last_error = error
        if health.consecutive_failures >= down_after:
            health.down = True
        delay = backoff.delay(health.consecutive_failures, rng)
        log.warning(
            "venue.reconnect",
            venue=health.venue,
            what=what,
            error=error,
            failures=health.consecutive_failures,
            down=health.down,
            retry_in_s=round(delay, 3),
        )
        await trio.sleep(delay)
