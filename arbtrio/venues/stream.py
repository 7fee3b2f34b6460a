"""One shape for every venue stream: a sans-IO protocol per venue and one Trio shell.

Every WebSocket a venue client keeps open (the public book feed, the private order stream)
is a *stream protocol* — a plain object holding the stream's state (subscriptions, sequence
sync, the books it maintains, fills already seen) — driven by :class:`Stream`, the one Trio
shell. The shell is the only reader and the only writer of a session's connection, and the
only caller of its protocol, so nothing else ever writes a book: REST snapshot fetches,
staleness checks and facts from the client's own REST calls all *post* to the reader, which
hands them to the protocol between frames, in order.

Inputs (protocol methods; each returns the outputs to execute, in order):

============================  ===============================================================
``connected(info, now)``      a session is open (``info``: what the connect step learned,
                              e.g. KuCoin's ping interval; None for most venues): subscribe,
                              authenticate
``frame(raw, now)``           one frame read from the connection
``fetched(key, result, now)`` the answer (or the exception) of a :class:`Fetch` it asked for
``timer(now)``                every ``timer_interval`` seconds: pings, staleness, deadlines
``note(message, now)``        a fact the client learned elsewhere (an order it placed)
``disconnected(reason, now)`` the session ended: invalidate what depended on it
============================  ===============================================================

Outputs:

* :class:`Send` — write this frame;
* :class:`Changed` — this book changed (applied, or invalidated): the shell calls
  ``on_change(book)``;
* :class:`Deliver` — an order event for the router, sent into the lossless channel;
* :class:`Fetch` — fetch ``key`` over REST (the client's ``fetch(key)``), off the reader,
  then call ``fetched``; a key already queued is not fetched twice;
* :class:`Ready` — subscribed: the session is healthy (the first one also reports
  ``task_status.started()``);
* :class:`Fail` — end the session with this error (reconnect with backoff;
  ``AuthenticationFailed`` stops the stream).

A protocol never raises for bad venue input: a malformed frame is counted in its
:class:`~arbtrio.venues.base.VenueHealth`, logged, and answered with resync outputs. An
exception out of a protocol is a bug: it ends the session, which reconnects.

Liveness is tracked one way, here: every frame counts (``health.message_received``), and
``protocol.idle_timeout`` seconds without one end the session.

The hot path (a frame that changes one book) costs one protocol call and one callback;
protocols return prebuilt output tuples for it, so it allocates nothing of its own.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final, Protocol, final

import structlog
import trio
from trio_websocket import WebSocketConnection

from arbtrio.core.book import L2Book
from arbtrio.core.types import OrderEvent
from arbtrio.venues.base import Disconnected, VenueHealth
from arbtrio.venues.reconnect import Backoff, Readiness, run_reconnecting
from arbtrio.venues.wire import open_websocket

__all__ = [
    "NOTHING",
    "Changed",
    "Deliver",
    "Fail",
    "Fetch",
    "Output",
    "Ready",
    "Send",
    "Stream",
    "StreamProtocol",
    "websocket",
]

log = structlog.get_logger("arbtrio.venues.stream")


# -- outputs -------------------------------------------------------------------------------
@final
class Send:
    """Write ``text`` on the connection."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Send({self.text[:80]!r})"


@final
class Changed:
    """``book`` changed (an update applied, or the book invalidated)."""

    __slots__ = ("book",)

    def __init__(self, book: L2Book) -> None:
        self.book = book

    def __repr__(self) -> str:
        return f"Changed({self.book.venue}:{self.book.symbol})"


@final
class Deliver:
    """An order event for the order router (never dropped: the channel has backpressure)."""

    __slots__ = ("event",)

    def __init__(self, event: OrderEvent) -> None:
        self.event = event

    def __repr__(self) -> str:
        return f"Deliver({self.event!r})"


@final
class Fetch:
    """Fetch ``key`` over REST, off the reader; the answer comes back through ``fetched``."""

    __slots__ = ("key",)

    def __init__(self, key: Hashable) -> None:
        self.key = key

    def __repr__(self) -> str:
        return f"Fetch({self.key!r})"


@final
class Ready:
    """The session is subscribed (and authenticated): healthy."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Ready()"


@final
class Fail:
    """End the session with ``error``."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __repr__(self) -> str:
        return f"Fail({self.error!r})"


Output = Send | Changed | Deliver | Fetch | Ready | Fail
NOTHING: Final[tuple[Output, ...]] = ()
READY: Final = Ready()


class StreamProtocol(Protocol):
    """What :class:`Stream` drives (see the module docstring for the contract)."""

    idle_timeout: float  # seconds of silence that end a session (read before every wait)
    timer_interval: float  # seconds between ``timer`` calls; 0 for none

    def connected(self, info: Any, now: float) -> Sequence[Output]: ...

    def frame(self, raw: str | bytes, now: float) -> Sequence[Output]: ...

    def fetched(self, key: Hashable, result: Any, now: float) -> Sequence[Output]: ...

    def timer(self, now: float) -> Sequence[Output]: ...

    def note(self, message: Any, now: float) -> Sequence[Output]: ...

    def disconnected(self, reason: str, now: float) -> Sequence[Output]: ...


Connect = Callable[[], AbstractAsyncContextManager[tuple[WebSocketConnection, Any]]]
FetchFn = Callable[[Hashable], Any]  # async: key -> answer


class _Timer:
    """A timer tick posted to the reader."""

    __slots__ = ()


class _Fetched:
    __slots__ = ("key", "result")

    def __init__(self, key: Hashable, result: Any) -> None:
        self.key = key
        self.result = result


class _Note:
    __slots__ = ("message",)

    def __init__(self, message: Any) -> None:
        self.message = message


_TIMER: Final = _Timer()
_BACKOFF: Final = Backoff()


class Stream:
    """Runs a :class:`StreamProtocol` over reconnecting sessions (see the module docstring).

    Args:
        venue: for errors and logs.
        what: ``"books"`` or ``"orders"``, for logs.
        protocol: the venue's protocol; it lives across sessions.
        connect: opens one session: an async context manager yielding the connection and
            the ``info`` passed to ``protocol.connected``.
        health: the stream's health counters (reconnects, failures, last message).
        on_change: called with every book a :class:`Changed` names.
        deliver: where :class:`Deliver` events go (private streams).
        fetch: ``await fetch(key)`` answers a :class:`Fetch` (exceptions are answers too).
        backoff: reconnect delays.
    """

    def __init__(
        self,
        venue: str,
        what: str,
        protocol: StreamProtocol,
        connect: Connect,
        health: VenueHealth,
        *,
        on_change: Callable[[L2Book], None] | None = None,
        deliver: trio.MemorySendChannel[OrderEvent] | None = None,
        fetch: FetchFn | None = None,
        backoff: Backoff = _BACKOFF,
        down_after: int = 5,
        rng: random.Random | None = None,
    ) -> None:
        self.venue = venue
        self.what = what
        self.protocol = protocol
        self.connect = connect
        self.health = health
        self.on_change = on_change or _ignore
        self.deliver = deliver
        self.fetch = fetch
        self.backoff = backoff
        self.down_after = down_after
        self.rng = rng
        self._posted: deque[_Timer | _Fetched | _Note] = deque(maxlen=100_000)
        self._wait_scope: trio.CancelScope | None = None
        self._fetch_queue: deque[Hashable] = deque()
        self._fetch_wanted: set[Hashable] = set()
        self._fetch_wake = trio.Event()
        self._ws: WebSocketConnection | None = None

    # -- posting (any task) ------------------------------------------------------------------
    def post(self, message: Any) -> None:
        """Hand ``message`` to ``protocol.note`` on the reader, in order (from any task).

        Notes posted while no session runs wait for the next one."""
        self._post(_Note(message))

    def _post(self, item: _Timer | _Fetched | _Note) -> None:
        self._posted.append(item)
        scope = self._wait_scope
        if scope is not None:
            scope.cancel()  # wakes the reader between frames (get_message is cancel-safe)

    # -- running ----------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run sessions forever, reconnecting with backoff; ``task_status.started()`` after
        the first :class:`Ready`. ``AuthenticationFailed`` ends it (before ``started`` it is
        raised by ``nursery.start``)."""
        ready = Readiness(task_status, self.health)
        await run_reconnecting(
            lambda: self._session(ready),
            self.health,
            what=self.what,
            backoff=self.backoff,
            down_after=self.down_after,
            rng=self.rng,
        )

    async def _session(self, ready: Readiness) -> None:
        reason = "session ended"
        try:
            async with self.connect() as (ws, info), trio.open_nursery() as nursery:
                self._ws = ws
                self._fetch_queue.clear()
                self._fetch_wanted.clear()
                # Answers and ticks of an earlier session are void; notes still apply.
                notes = [item for item in self._posted if item.__class__ is _Note]
                self._posted.clear()
                self._posted.extend(notes)
                if self.fetch is not None:
                    nursery.start_soon(self._fetcher)
                if self.protocol.timer_interval > 0:
                    nursery.start_soon(self._ticker, self.protocol.timer_interval)
                await self._execute(self.protocol.connected(info, trio.current_time()), ready)
                await self._read(ws, ready)
        except BaseExceptionGroup as group:
            error = _one_error(group)
            reason = f"{type(error).__name__}: {error}"
            raise error from None
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._ws = None
            outputs = self.protocol.disconnected(reason, trio.current_time())
            for out in outputs:  # offline: only what needs no connection
                if isinstance(out, Changed):
                    self.on_change(out.book)

    async def _read(self, ws: WebSocketConnection, ready: Readiness) -> None:
        protocol = self.protocol
        health = self.health
        posted = self._posted
        last_rx = trio.current_time()
        while True:
            while posted:
                item = posted.popleft()
                now = trio.current_time()
                if isinstance(item, _Timer):
                    await self._execute(protocol.timer(now), ready)
                elif isinstance(item, _Fetched):
                    self._fetch_wanted.discard(item.key)
                    await self._execute(protocol.fetched(item.key, item.result, now), ready)
                else:
                    await self._execute(protocol.note(item.message, now), ready)
            deadline = last_rx + protocol.idle_timeout
            with trio.CancelScope(deadline=deadline) as scope:
                self._wait_scope = scope
                raw = await ws.get_message()
            self._wait_scope = None
            if scope.cancelled_caught:
                if trio.current_time() >= deadline:
                    raise Disconnected(
                        self.venue, f"{self.what}: no message for {protocol.idle_timeout:g} s"
                    )
                continue  # woken by a post
            now = last_rx = trio.current_time()
            health.message_received(now)
            outputs = protocol.frame(raw, now)
            if outputs:
                await self._execute(outputs, ready)

    async def _execute(self, outputs: Sequence[Output], ready: Readiness) -> None:
        for out in outputs:
            cls = out.__class__
            if cls is Changed:
                self.on_change(out.book)  # type: ignore[union-attr]
            elif cls is Send:
                assert self._ws is not None
                await self._ws.send_message(out.text)  # type: ignore[union-attr]
            elif cls is Deliver:
                if self.deliver is None:
                    raise RuntimeError(f"{self.venue} {self.what}: Deliver without a channel")
                await self.deliver.send(out.event)  # type: ignore[union-attr]
            elif cls is Fetch:
                key = out.key  # type: ignore[union-attr]
                if key not in self._fetch_wanted:
                    self._fetch_wanted.add(key)
                    self._fetch_queue.append(key)
                    self._fetch_wake.set()
            elif cls is Ready:
                ready()
            else:
                raise out.error  # type: ignore[union-attr]

    async def _ticker(self, interval: float) -> None:
        while True:
            await trio.sleep(interval)
            if not any(item is _TIMER for item in self._posted):
                self._post(_TIMER)

    async def _fetcher(self) -> None:
        assert self.fetch is not None
        while True:
            while not self._fetch_queue:
                await self._fetch_wake.wait()
                self._fetch_wake = trio.Event()
            key = self._fetch_queue.popleft()
            try:
                result: Any = await self.fetch(key)
            except Exception as exc:  # an answer like any other: the protocol decides
                result = exc
            self._post(_Fetched(key, result))


def websocket(url: str, *, connect_timeout: float = 10.0, max_message_size: int = 2**20) -> Connect:
    """The :data:`Connect` of a plain WebSocket at ``url`` (``info`` is None)."""

    @asynccontextmanager
    async def connect() -> AsyncIterator[tuple[WebSocketConnection, Any]]:
        async with open_websocket(
            url, connect_timeout=connect_timeout, max_message_size=max_message_size
        ) as ws:
            yield ws, None

    return connect


def _ignore(_: L2Book) -> None:
    pass


def _one_error(group: BaseExceptionGroup[BaseException]) -> Exception:
    """The error a session ends with, out of its nursery's group: the first leaf that is
    an ``Exception`` (an ``AuthenticationFailed`` first, since it stops the stream)."""
    from arbtrio.venues.base import AuthenticationFailed

    leaves = list(_leaves(group))
    for leaf in leaves:
        if isinstance(leaf, AuthenticationFailed):
            return leaf
    for leaf in leaves:
        if isinstance(leaf, Exception):
            return leaf
    raise group  # only cancellations or BaseExceptions: let them through


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc
