"""The one stream shell (:class:`arbtrio.venues.stream.Stream`) against a scripted protocol
and an in-memory connection, on Trio's MockClock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from arbtrio.core.book import L2Book
from arbtrio.core.types import OrderAck, OrderEvent
from arbtrio.venues.base import AuthenticationFailed, VenueHealth
from arbtrio.venues.reconnect import Backoff
from arbtrio.venues.stream import (
    NOTHING,
    Changed,
    Deliver,
    Fail,
    Fetch,
    Output,
    Ready,
    Send,
    Stream,
)


class FakeConnection:
    """What the shell uses of a WebSocket: ``get_message`` and ``send_message``."""

    def __init__(self) -> None:
        self.inbound_send, self.inbound = trio.open_memory_channel[str](100)
        self.sent: list[str] = []

    async def get_message(self) -> str:
        try:
            return await self.inbound.receive()
        except trio.EndOfChannel:
            raise trio.BrokenResourceError("closed") from None

    async def send_message(self, text: str) -> None:
        await trio.lowlevel.checkpoint()
        self.sent.append(text)


class Script:
    """A protocol that records every input and answers from a table."""

    def __init__(self, *, idle_timeout: float = 5.0, timer_interval: float = 0.0) -> None:
        self.idle_timeout = idle_timeout
        self.timer_interval = timer_interval
        self.calls: list[tuple[str, Any]] = []
        self.book = L2Book("test", "X")
        self.on_frame: dict[str, Sequence[Output]] = {}

    def connected(self, info: Any, now: float) -> Sequence[Output]:
        self.calls.append(("connected", info))
        return (Send("hello"), Ready())

    def frame(self, raw: str | bytes, now: float) -> Sequence[Output]:
        self.calls.append(("frame", raw))
        return self.on_frame.get(str(raw), NOTHING)

    def fetched(self, key: Hashable, result: Any, now: float) -> Sequence[Output]:
        self.calls.append(("fetched", (key, result)))
        return NOTHING

    def timer(self, now: float) -> Sequence[Output]:
        self.calls.append(("timer", now))
        return NOTHING

    def note(self, message: Any, now: float) -> Sequence[Output]:
        self.calls.append(("note", message))
        return NOTHING

    def disconnected(self, reason: str, now: float) -> Sequence[Output]:
        self.calls.append(("disconnected", reason))
        return (Changed(self.book),)


class Rig:
    def __init__(self, protocol: Script, **kw: Any) -> None:
        self.protocol = protocol
        self.connections: list[FakeConnection] = []
        self.health = VenueHealth("test")
        self.changed: list[L2Book] = []
        self.fetches: list[Hashable] = []
        self.fetch_gate = trio.Event()

        @asynccontextmanager
        async def connect() -> AsyncIterator[tuple[Any, Any]]:
            conn = FakeConnection()
            self.connections.append(conn)
            yield conn, len(self.connections)

        async def fetch(key: Hashable) -> str:
            self.fetches.append(key)
            await self.fetch_gate.wait()
            if key == "boom":
                raise ValueError("no snapshot")
            return f"answer-{key}"

        self.stream = Stream(
            "test", "books", protocol, connect, self.health,  # type: ignore[arg-type]
            on_change=self.changed.append, fetch=fetch,
            backoff=Backoff(base=1.0, cap=1.0, jitter=0.0), **kw,
        )  # fmt: skip

    def calls(self, kind: str) -> list[Any]:
        return [arg for k, arg in self.protocol.calls if k == kind]


async def test_frames_reach_the_protocol_in_order_and_outputs_execute(
    autojump_clock: MockClock,
) -> None:
    script = Script()
    script.on_frame["a"] = (Changed(script.book), Send("reply-a"))
    rig = Rig(script)
    async with trio.open_nursery() as nursery:
        await nursery.start(rig.stream.run)
        conn = rig.connections[0]
        assert conn.sent == ["hello"] and rig.calls("connected") == [1]
        for raw in ("a", "b", "a"):
            await conn.inbound_send.send(raw)
        await trio.testing.wait_all_tasks_blocked()
        assert rig.calls("frame") == ["a", "b", "a"]
        assert rig.changed == [script.book, script.book]
        assert conn.sent == ["hello", "reply-a", "reply-a"]
        assert rig.health.last_message_ts is not None and rig.health.connected
        nursery.cancel_scope.cancel()


async def test_notes_and_fetch_answers_wake_a_silent_reader(autojump_clock: MockClock) -> None:
    script = Script(idle_timeout=100.0)
    script.on_frame["need"] = (Fetch("BTC"), Fetch("BTC"), Fetch("boom"))
    rig = Rig(script)
    async with trio.open_nursery() as nursery:
        await nursery.start(rig.stream.run)
        rig.stream.post({"placed": "c1"})
        await trio.testing.wait_all_tasks_blocked()
        assert rig.calls("note") == [{"placed": "c1"}]  # without any frame arriving
        await rig.connections[0].inbound_send.send("need")
        await trio.testing.wait_all_tasks_blocked()
        assert rig.fetches == ["BTC"]  # one at a time; the duplicate key was dropped
        rig.fetch_gate.set()
        await trio.testing.wait_all_tasks_blocked()
        fetched = rig.calls("fetched")
        assert fetched[0] == ("BTC", "answer-BTC")
        assert fetched[1][0] == "boom" and isinstance(fetched[1][1], ValueError)
        nursery.cancel_scope.cancel()


async def test_silence_ends_the_session_and_it_reconnects(autojump_clock: MockClock) -> None:
    script = Script(idle_timeout=5.0)
    rig = Rig(script)
    async with trio.open_nursery() as nursery:
        await nursery.start(rig.stream.run)
        await trio.sleep(5.5)  # no frame for idle_timeout: the session ends
        assert rig.calls("disconnected")[0].startswith("Disconnected: test: books: no message")
        assert rig.changed == [script.book]  # disconnected() outputs reach on_change
        assert rig.health.reconnects == 1 and not rig.health.connected
        await trio.sleep(1.0)  # backoff, then a new session
        assert len(rig.connections) == 2 and rig.calls("connected") == [1, 2]
        nursery.cancel_scope.cancel()


async def test_timer_ticks_reach_the_protocol(autojump_clock: MockClock) -> None:
    script = Script(idle_timeout=100.0, timer_interval=2.0)
    rig = Rig(script)
    async with trio.open_nursery() as nursery:
        await nursery.start(rig.stream.run)
        await trio.sleep(7.0)
        assert len(rig.calls("timer")) == 3
        nursery.cancel_scope.cancel()


async def test_fail_output_ends_the_session_and_auth_failure_stops_the_stream(
    autojump_clock: MockClock,
) -> None:
    script = Script()
    script.on_frame["bye"] = (Fail(AuthenticationFailed("test", "bad key")),)
    rig = Rig(script)
    with pytest.RaisesGroup(AuthenticationFailed):
        async with trio.open_nursery() as nursery:
            await nursery.start(rig.stream.run)
            await rig.connections[0].inbound_send.send("bye")
            await trio.sleep(100)
    assert rig.calls("disconnected") == ["AuthenticationFailed: test: bad key"]


async def test_deliver_sends_order_events_with_backpressure(autojump_clock: MockClock) -> None:
    script = Script()
    ack = OrderAck(venue="test", client_order_id="c1", venue_order_id="1", ts=0.0)
    script.on_frame["ack"] = (Deliver(ack),)
    rig = Rig(script)
    send, receive = trio.open_memory_channel[OrderEvent](0)
    rig.stream.deliver = send
    async with trio.open_nursery() as nursery:
        await nursery.start(rig.stream.run)
        await rig.connections[0].inbound_send.send("ack")
        await rig.connections[0].inbound_send.send("later")
        await trio.testing.wait_all_tasks_blocked()
        assert rig.calls("frame") == ["ack"]  # the reader waits until the event is taken
        assert await receive.receive() == ack
        await trio.testing.wait_all_tasks_blocked()
        assert rig.calls("frame") == ["ack", "later"]
        nursery.cancel_scope.cancel()
