"""The admin socket: JSON-RPC 2.0 over a Unix domain socket, one JSON object per line.

The server owns no service state. It parses requests and hands each to an
:class:`AdminHandler` (the runtime's control surface, which answers reads from snapshots and
turns commands into messages for the owning tasks), and streams transitions to ``watch``
subscribers from a :class:`Hub`.

Contract:

* The socket file is created with mode 0600 (owner only). A stale socket file from a dead
  process is replaced; a live one is an error (another instance is running).
* Requests: ``{"jsonrpc": "2.0", "id": 1, "method": "status", "params": {...}}``; batches
  (arrays) are answered with arrays; notifications (no ``id``) get no reply.
* Errors use the JSON-RPC codes: -32700 parse error, -32600 invalid request (also a line
  longer than ``max_line``, after which the connection is closed), -32601 unknown method,
  -32602 invalid params, -32603 internal error; and -32000 for an application refusal
  (e.g. unknown position id). The server never crashes on a request.
* ``watch`` subscribes the connection to transition notifications
  (``{"jsonrpc": "2.0", "method": "transition", "params": {...}}``). A slow client never
  blocks the service: the hub uses a bounded queue per subscriber and drops a subscriber
  that falls behind, which then receives ``{"method": "watch.dropped", ...}`` once.
* **No client can stop the service.** Every failure of one connection stays inside it
  (a peer that closed, a broken pipe, a reader that never reads, bad encoding, an oversize
  line, nesting deeper than ``max_depth``, a bug in a method): it is logged, counted in
  ``connection_errors`` and the connection is closed. JSON nesting is bounded *before* the
  line is parsed. At most ``max_connections`` connections are served (one more is told so
  and closed), and a connection that sends nothing for ``idle_timeout_s`` (and is not
  watching) is closed.
"""

from __future__ import annotations

import errno
import json
import math
import os
import socket as stdlib_socket
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import attrs
import structlog
import trio

log = structlog.get_logger("arbtrio.admin")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
APPLICATION_ERROR = -32000


class AdminError(Exception):
    """A JSON-RPC error to send back (``code`` and ``message``)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def invalid_params(message: str) -> AdminError:
    return AdminError(INVALID_PARAMS, message)


# -- the subscription hub -------------------------------------------------------------------
@attrs.define(eq=False)
class Subscription:
    """One subscriber's bounded queue; ``dropped`` says why it ended early (else "")."""

    receive: trio.MemoryReceiveChannel[dict[str, Any]]
    _send: trio.MemorySendChannel[dict[str, Any]]
    dropped: str = ""


class Hub:
    """Fan-out of notifications to subscribers, never blocking the publisher."""

    def __init__(self, *, capacity: int = 256) -> None:
        self.capacity = capacity
        self._subs: list[Subscription] = []
        self.dropped = 0
        self.published = 0

    def subscribe(self) -> Subscription:
        send, recv = trio.open_memory_channel[dict[str, Any]](self.capacity)
        sub = Subscription(receive=recv, send=send)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
        sub._send.close()

    def publish(self, message: dict[str, Any]) -> None:
        """Offer ``message`` to every subscriber; drop the ones whose queue is full."""
        self.published += 1
        for sub in list(self._subs):
            try:
                sub._send.send_nowait(message)
            except trio.WouldBlock:
                sub.dropped = f"client too slow: more than {self.capacity} notifications behind"
                self.dropped += 1
                self.unsubscribe(sub)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                self.unsubscribe(sub)

    def close(self) -> None:
        for sub in list(self._subs):
            self.unsubscribe(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subs)


# -- the server -----------------------------------------------------------------------------
AdminMethod = Callable[[dict[str, Any]], Awaitable[Any]]


class AdminHandler:
    """What the server needs: named methods (params dict → JSON-able result) and a hub."""

    def __init__(self, methods: Mapping[str, AdminMethod], hub: Hub) -> None:
        self.methods = dict(methods)
        self.hub = hub


async def bind_unix_socket(path: str | Path) -> trio.socket.SocketType:
    """A listening Unix socket at ``path`` with file mode 0600.

    Raises:
        OSError: the path is in use by a live server, or cannot be created.
    """
    p = Path(path)
    if _prepare_parent(p):
        probe = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
        try:
            await probe.connect(str(p))
        except OSError:
            os.unlink(p)  # stale: nobody is listening
        else:
            raise OSError(errno.EADDRINUSE, f"admin socket {p} is in use by a running arbtrio")
        finally:
            probe.close()
    sock = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the file is born 0600: no window where others can connect
    try:
        await sock.bind(str(p))
    finally:
        os.umask(old_umask)
    os.chmod(p, 0o600)
    sock.listen(16)
    return sock


def _prepare_parent(p: Path) -> bool:
    """Create the socket's directory; True if something already exists at ``p``."""
    p.parent.mkdir(parents=True, exist_ok=True)
    return p.exists() or p.is_symlink()


class AdminServer:
    """Serve JSON-RPC on a Unix socket until cancelled (the socket file is removed after)."""

    def __init__(
        self,
        path: str | Path,
        handler: AdminHandler,
        *,
        client_queue: int = 256,
        max_line: int = 1 << 16,
        max_depth: int = 32,
        max_connections: int = 64,
        idle_timeout_s: float = 300.0,
    ) -> None:
        self.path = str(path)
        self.handler = handler
        self.client_queue = client_queue
        self.max_line = max_line
        self.max_depth = max_depth
        self.max_connections = max_connections
        self.idle_timeout_s = idle_timeout_s
        self.connections = 0  # accepted, ever
        self.open_connections = 0
        self.refused_connections = 0
        self.connection_errors = 0
        self.requests = 0
        self.errors = 0

    async def run(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        sock = await bind_unix_socket(self.path)
        listener = trio.SocketListener(sock)
        try:
            log.info("admin.listening", socket=self.path)
            async with trio.open_nursery() as nursery:
                task_status.started(self.path)
                await trio.serve_listeners(self._serve_one, [listener], handler_nursery=nursery)
        finally:
            with trio.CancelScope(shield=True):
                await listener.aclose()
            with suppress(OSError):
                os.unlink(self.path)

    async def _serve_one(self, stream: trio.SocketStream) -> None:
        """One connection; whatever happens to it never leaves this function."""
        self.connections += 1
        if self.open_connections >= self.max_connections:
            self.refused_connections += 1
            await self._refuse(stream)
            return
        self.open_connections += 1
        try:
            out_send, out_recv = trio.open_memory_channel[bytes](self.client_queue)
            async with stream, trio.open_nursery() as nursery:
                nursery.start_soon(self._writer, stream, out_recv)
                try:
                    await self._reader(stream, out_send, nursery)
                finally:
                    out_send.close()
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the peer went away: nothing to answer
        except* Exception as group:  # a failure of this connection only
            self.connection_errors += 1
            log.error("admin.connection_failed", errors=[repr(e) for e in group.exceptions])
        finally:
            self.open_connections -= 1

    async def _refuse(self, stream: trio.SocketStream) -> None:
        message = f"too many admin connections (at most {self.max_connections})"
        error = _error(None, APPLICATION_ERROR, message)
        with trio.move_on_after(1.0), suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(_encode(error))
        with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.aclose()

    async def _writer(
        self, stream: trio.SocketStream, out_recv: trio.MemoryReceiveChannel[bytes]
    ) -> None:
        async with out_recv:
            async for data in out_recv:
                try:
                    await stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return

    async def _reader(
        self,
        stream: trio.SocketStream,
        out_send: trio.MemorySendChannel[bytes],
        nursery: trio.Nursery,
    ) -> None:
        buffer = bytearray()
        subscription: list[Subscription] = []
        try:
            while True:
                watching = bool(subscription) and not subscription[-1].dropped
                timeout = math.inf if watching else self.idle_timeout_s
                with trio.move_on_after(timeout) as idle:
                    try:
                        chunk = await stream.receive_some(65536)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        return
                if idle.cancelled_caught:
                    log.info("admin.idle_closed", idle_s=self.idle_timeout_s)
                    return
                if not chunk:
                    return
                buffer += chunk
                while True:
                    nl = buffer.find(b"\n")
                    if nl < 0:
                        break
                    line = bytes(buffer[:nl]).strip()
                    del buffer[: nl + 1]
                    if line:
                        await self._handle_line(line, out_send, nursery, subscription)
                if len(buffer) > self.max_line:
                    await out_send.send(
                        _encode(_error(None, INVALID_REQUEST, "request line too long"))
                    )
                    return
        finally:
            for sub in subscription:
                self.handler.hub.unsubscribe(sub)
            nursery.cancel_scope.deadline = min(
                nursery.cancel_scope.deadline, trio.current_time() + 1.0
            )

    async def _handle_line(
        self,
        line: bytes,
        out_send: trio.MemorySendChannel[bytes],
        nursery: trio.Nursery,
        subscription: list[Subscription],
    ) -> None:
        if nesting_depth(line) > self.max_depth:
            self.errors += 1
            message = f"parse error: nesting deeper than {self.max_depth}"
            await out_send.send(_encode(_error(None, PARSE_ERROR, message)))
            return
        try:
            request = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError):
            self.errors += 1
            await out_send.send(_encode(_error(None, PARSE_ERROR, "parse error: not JSON")))
            return
        if isinstance(request, list):
            if not request:
                await out_send.send(_encode(_error(None, INVALID_REQUEST, "empty batch")))
                return
            replies = [
                r
                for r in [await self._dispatch(item, out_send, nursery, subscription)
                          for item in request]
                if r is not None
            ]  # fmt: skip
            if replies:
                await out_send.send(_encode(replies))
            return
        reply = await self._dispatch(request, out_send, nursery, subscription)
        if reply is not None:
            await out_send.send(_encode(reply))

    async def _dispatch(
        self,
        request: Any,
        out_send: trio.MemorySendChannel[bytes],
        nursery: trio.Nursery,
        subscription: list[Subscription],
    ) -> dict[str, Any] | None:
        self.requests += 1
        if not isinstance(request, dict):
            self.errors += 1
            return _error(None, INVALID_REQUEST, "invalid request: expected an object")
        req_id = request.get("id")
        if not (req_id is None or isinstance(req_id, str | int)) or isinstance(req_id, bool):
            self.errors += 1
            return _error(None, INVALID_REQUEST, "invalid request: id must be a string or number")
        notification = "id" not in request
        method = request.get("method")
        if request.get("jsonrpc") != "2.0" or not isinstance(method, str):
            self.errors += 1
            return _error(
                req_id, INVALID_REQUEST, 'invalid request: needs "jsonrpc": "2.0" and a "method"'
            )
        params = request.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            self.errors += 1
            return _error(req_id, INVALID_PARAMS, "params must be an object")
        try:
            if method == "watch":
                result = self._watch(out_send, nursery, subscription)
            else:
                fn = self.handler.methods.get(method)
                if fn is None:
                    raise AdminError(METHOD_NOT_FOUND, f"unknown method {method!r}")
                result = await fn(params)
        except AdminError as exc:
            self.errors += 1
            return None if notification else _error(req_id, exc.code, exc.message, exc.data)
        except Exception as exc:
            self.errors += 1
            log.exception("admin.internal_error", method=method)
            return (
                None
                if notification
                else _error(req_id, INTERNAL_ERROR, f"internal error: {type(exc).__name__}")
            )
        if notification:
            return None
        return {"jsonrpc": "2.0", "id": req_id, "result": result}

    def _watch(
        self,
        out_send: trio.MemorySendChannel[bytes],
        nursery: trio.Nursery,
        subscription: list[Subscription],
    ) -> dict[str, Any]:
        if subscription and not subscription[-1].dropped:
            return {"subscribed": True, "already": True}
        sub = self.handler.hub.subscribe()
        subscription.append(sub)
        nursery.start_soon(self._forward, sub, out_send)
        return {"subscribed": True}

    async def _forward(self, sub: Subscription, out_send: trio.MemorySendChannel[bytes]) -> None:
        try:
            async with sub.receive:
                async for message in sub.receive:
                    await out_send.send(
                        _encode({"jsonrpc": "2.0", "method": "transition", "params": message})
                    )
                if sub.dropped:
                    await out_send.send(
                        _encode(
                            {
                                "jsonrpc": "2.0",
                                "method": "watch.dropped",
                                "params": {"reason": sub.dropped},
                            }
                        )
                    )
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return


def nesting_depth(line: bytes) -> int:
    """The deepest ``[``/``{`` nesting of a JSON text, outside strings (cheap, no parsing)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in line:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _error(req_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": req_id, "error": err}


def _encode(message: Any) -> bytes:
    return (json.dumps(message, separators=(",", ":"), default=str) + "\n").encode()


# -- the client -----------------------------------------------------------------------------
class AdminClient:
    """A minimal client: one request at a time, plus ``notifications()`` after ``watch``."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._next_id = 0

    @classmethod
    async def connect(cls, path: str | Path) -> AdminClient:
        return cls(await trio.open_unix_socket(str(path)))

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def send_raw(self, line: bytes) -> None:
        await self._stream.send_all(line if line.endswith(b"\n") else line + b"\n")

    async def read_message(self) -> Any:
        while True:
            nl = self._buffer.find(b"\n")
            if nl >= 0:
                line = bytes(self._buffer[:nl])
                del self._buffer[: nl + 1]
                return json.loads(line)
            chunk = await self._stream.receive_some(65536)
            if not chunk:
                raise EOFError("admin socket closed")
            self._buffer += chunk

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Send one request and return its ``result``; raise AdminError on an error reply.

        Notifications that arrive before the reply (after ``watch``) are skipped.
        """
        self._next_id += 1
        req_id = self._next_id
        request = {"jsonrpc": "2.0", "id": req_id, "method": method, "params": params or {}}
        await self.send_raw(_encode(request))
        while True:
            message = await self.read_message()
            if isinstance(message, dict) and message.get("id") == req_id:
                if "error" in message:
                    err = message["error"]
                    raise AdminError(
                        err.get("code", INTERNAL_ERROR), err.get("message", ""), err.get("data")
                    )
                return message.get("result")

    async def notifications(self) -> Any:
        """Yield notifications (``{"method": ..., "params": ...}``) until the socket closes."""
        while True:
            try:
                message = await self.read_message()
            except EOFError:
                return
            if isinstance(message, dict) and "method" in message and "id" not in message:
                yield message
