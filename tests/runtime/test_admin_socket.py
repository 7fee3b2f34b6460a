"""Admin socket: JSON-RPC errors, 0600 socket, watch subscriptions that never block."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from arbtrio.runtime.admin import (
    APPLICATION_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    AdminClient,
    AdminError,
    AdminHandler,
    AdminServer,
    Hub,
    invalid_params,
)


async def echo(params: dict[str, Any]) -> Any:
    if "fail" in params:
        raise AdminError(APPLICATION_ERROR, "refused")
    if "need" in params:
        raise invalid_params("need x")
    if "crash" in params:
        raise RuntimeError("bug")
    return {"echo": params}


@pytest.fixture
async def server(tmp_path: Path) -> Any:
    hub = Hub(capacity=4)
    srv = AdminServer(tmp_path / "a.sock", AdminHandler({"echo": echo}, hub), max_line=4096)
    async with trio.open_nursery() as nursery:
        await nursery.start(srv.run)
        yield srv, hub
        nursery.cancel_scope.cancel()


async def test_socket_is_owner_only_and_removed_after(tmp_path: Path) -> None:
    hub = Hub()
    path = tmp_path / "a.sock"
    srv = AdminServer(path, AdminHandler({}, hub))
    async with trio.open_nursery() as nursery:
        await nursery.start(srv.run)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with pytest.raises(OSError, match="in use"):  # a second instance is refused
            await AdminServer(path, AdminHandler({}, hub)).run()
        nursery.cancel_scope.cancel()
    assert not path.exists()


async def test_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "a.sock"
    import socket

    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()  # the file remains, nobody listens
    srv = AdminServer(path, AdminHandler({}, Hub()))
    async with trio.open_nursery() as nursery:
        await nursery.start(srv.run)
        nursery.cancel_scope.cancel()


async def test_methods_and_errors(server: Any) -> None:
    srv, _ = server
    client = await AdminClient.connect(srv.path)
    assert await client.call("echo", {"a": 1}) == {"echo": {"a": 1}}
    for params, code in (({"fail": 1}, APPLICATION_ERROR), ({"need": 1}, INVALID_PARAMS)):
        with pytest.raises(AdminError) as info:
            await client.call("echo", params)
        assert info.value.code == code
    with pytest.raises(AdminError) as info:
        await client.call("echo", {"crash": 1})
    assert info.value.code == -32603 and "RuntimeError" in info.value.message
    with pytest.raises(AdminError) as info:
        await client.call("nope")
    assert info.value.code == METHOD_NOT_FOUND

    async def raw(line: bytes) -> Any:
        await client.send_raw(line)
        return await client.read_message()

    assert (await raw(b"{not json"))["error"]["code"] == PARSE_ERROR
    assert (await raw(b"[1, 2]"))[0]["error"]["code"] == INVALID_REQUEST
    assert (await raw(b'{"id": 1, "method": "echo"}'))["error"]["code"] == INVALID_REQUEST
    assert (await raw(b'{"jsonrpc": "2.0", "id": 2, "method": "echo", "params": [1]}'))["error"][
        "code"
    ] == INVALID_PARAMS
    batch = await raw(
        b'[{"jsonrpc": "2.0", "id": 1, "method": "echo"},'
        b' {"jsonrpc": "2.0", "method": "echo"},'
        b' {"jsonrpc": "2.0", "id": 3, "method": "zz"}]'
    )
    assert [r["id"] for r in batch] == [1, 3]  # the notification gets no reply
    assert batch[1]["error"]["code"] == METHOD_NOT_FOUND
    # still serving after all that
    assert await client.call("echo", {}) == {"echo": {}}
    await client.aclose()


async def test_overlong_line_is_refused_and_connection_closed(server: Any) -> None:
    srv, _ = server
    client = await AdminClient.connect(srv.path)
    await client._stream.send_all(b"x" * 10_000)  # no newline in sight
    reply = await client.read_message()
    assert reply["error"]["code"] == INVALID_REQUEST
    with pytest.raises(EOFError):
        await client.read_message()
    await client.aclose()


async def test_watch_streams_and_a_slow_subscriber_is_dropped(server: Any) -> None:
    srv, hub = server
    fast = await AdminClient.connect(srv.path)
    slow = await AdminClient.connect(srv.path)
    assert await fast.call("watch") == {"subscribed": True}
    assert await slow.call("watch") == {"subscribed": True}
    assert hub.subscribers == 2
    hub.publish({"n": 0})
    note = await fast.read_message()
    assert note == {"jsonrpc": "2.0", "method": "transition", "params": {"n": 0}}
    # The slow client stops reading. Publishing never blocks; its queue fills and it is
    # dropped while the fast one keeps receiving.
    await slow.read_message()
    for i in range(1, 5000):
        hub.publish({"n": i, "pad": "x" * 2000})  # sync: cannot block
        if hub.subscribers == 1:
            break
        note = await fast.read_message()
        assert note["params"]["n"] == i
        await trio.lowlevel.checkpoint()
    assert hub.subscribers == 1 and hub.dropped == 1
    messages = []
    while True:
        m = await slow.read_message()
        messages.append(m)
        if m.get("method") == "watch.dropped":
            break
    assert "too slow" in messages[-1]["params"]["reason"]
    assert await slow.call("echo", {}) == {"echo": {}}  # the connection itself stays usable
    assert await slow.call("watch") == {"subscribed": True}  # and may subscribe again
    assert hub.subscribers == 2
    await fast.aclose()
    await slow.aclose()


def test_hub_publish_never_blocks() -> None:
    hub = Hub(capacity=2)
    sub = hub.subscribe()
    for i in range(10):
        hub.publish({"i": i})
    assert sub.dropped and hub.subscribers == 0
    assert [sub.receive.receive_nowait()["i"] for _ in range(2)] == [0, 1]
    with pytest.raises(trio.EndOfChannel):
        sub.receive.receive_nowait()
    assert json.dumps(hub.published) == "10"


# -- no client can stop the service -----------------------------------------------------------
async def still_answers(path: str) -> None:
    client = await AdminClient.connect(path)
    assert await client.call("echo", {"ok": 1}) == {"echo": {"ok": 1}}
    await client.aclose()


async def test_pipelined_requests_then_a_close_without_reading(server: Any) -> None:
    srv, _ = server
    stream = await trio.open_unix_socket(srv.path)
    line = b'{"jsonrpc": "2.0", "id": 1, "method": "echo", "params": {"pad": "%s"}}\n'
    await stream.send_all(line.replace(b"%s", b"x" * 500) * 300)  # 150 KB of requests
    await stream.aclose()  # gone before reading any of the 300 replies
    await trio.sleep(0.5)
    await still_answers(srv.path)


async def test_deep_nesting_is_refused_before_parsing(server: Any) -> None:
    srv, _ = server
    client = await AdminClient.connect(srv.path)
    await client.send_raw(b"[" * 1000 + b"]" * 1000)  # json would raise RecursionError
    reply = await client.read_message()
    assert reply["error"]["code"] == PARSE_ERROR and "nesting" in reply["error"]["message"]
    await client.send_raw(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}')  # in a string
    assert (await client.read_message())["error"]["code"] == INVALID_REQUEST  # parsed: fine
    assert await client.call("echo", {}) == {"echo": {}}
    await client.aclose()


async def test_connections_are_capped_and_idle_ones_closed(
    tmp_path: Path, autojump_clock: Any
) -> None:
    hub = Hub()
    srv = AdminServer(tmp_path / "a.sock", AdminHandler({"echo": echo}, hub),
                      max_connections=2, idle_timeout_s=30.0)  # fmt: skip
    async with trio.open_nursery() as nursery:
        await nursery.start(srv.run)
        first, second = await AdminClient.connect(srv.path), await AdminClient.connect(srv.path)
        assert await first.call("watch") == {"subscribed": True}  # a watcher is never idle
        assert await second.call("echo", {}) == {"echo": {}}
        third = await AdminClient.connect(srv.path)
        refused = await third.read_message()
        assert (
            refused["error"]["code"] == APPLICATION_ERROR
            and "too many" in refused["error"]["message"]
        )
        with pytest.raises(EOFError):
            await third.read_message()
        await trio.sleep(31.0)  # second sent nothing for 30 s: closed
        with pytest.raises(EOFError):
            await second.read_message()
        assert await first.call("echo", {"still": 1}) == {"echo": {"still": 1}}
        await still_answers(srv.path)  # a slot is free again
        await trio.testing.wait_all_tasks_blocked()
        assert srv.refused_connections == 1 and srv.open_connections == 1
        for c in (first, second, third):
            await c.aclose()
        nursery.cancel_scope.cancel()


@settings(max_examples=40, deadline=None)
@given(
    chunks=st.lists(
        st.one_of(
            st.binary(max_size=300),
            st.sampled_from(
                [
                    b'{"jsonrpc": "2.0", "id": 1, "method": "echo"}\n' * 50,
                    b'[{"jsonrpc": "2.0", "id": 1, "method": "echo", "params": {"crash": 1}}]\n',
                    b"[" * 200 + b"\n",
                    b"\xff\xfe\x00\n",
                    b'{"jsonrpc": "2.0", "id": [], "method": 7}\n',
                    b'{"jsonrpc": "2.0", "id": 2, "method": "watch"}\n',
                ]
            ),
        ),
        max_size=8,
    ),
    read_some=st.booleans(),
)
async def test_arbitrary_bytes_and_abrupt_closes_never_stop_the_server(
    tmp_path_factory: Any, chunks: list[bytes], read_some: bool
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "a.sock"
    srv = AdminServer(path, AdminHandler({"echo": echo}, Hub()), max_line=4096)
    async with trio.open_nursery() as nursery:
        await nursery.start(srv.run)
        stream = await trio.open_unix_socket(str(path))
        for chunk in chunks:
            try:
                await stream.send_all(chunk)
            except trio.BrokenResourceError:
                break  # the server closed it (an oversize line): allowed
        if read_some:
            with trio.move_on_after(0.05):
                await stream.receive_some(10)
        await stream.aclose()
        await still_answers(str(path))
        await trio.testing.wait_all_tasks_blocked()
        assert srv.open_connections == 0 and srv.connection_errors == 0
        nursery.cancel_scope.cancel()
