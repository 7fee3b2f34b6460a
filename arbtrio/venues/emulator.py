"""Serving a venue emulator on loopback: one ASGI app (REST + WebSocket) under hypercorn/trio.

Every venue emulator is an ASGI application; :func:`serve_asgi` binds it to 127.0.0.1 on a
free port and reports the bound base URL through ``task_status`` so callers can
``base_url = await nursery.start(serve_asgi, app)``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve


async def serve_asgi(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until cancelled; ``task_status.started("http://host:port")``."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"emulators serve on loopback only, not {host!r}")
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 0.5
    config.websocket_ping_interval = None
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(serve, app, config)
        task_status.started(binds[0])


# -- small ASGI plumbing for emulators (additive; used by the CEX emulators) ---------------
class HttpRequest:
    """One HTTP request as an emulator sees it: raw query string and body, lower-case headers."""

    __slots__ = ("body", "headers", "method", "path", "query")

    def __init__(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body


async def read_http_request(scope: Any, receive: Any) -> HttpRequest:
    """Read the whole request (headers decoded latin-1, body concatenated)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    return HttpRequest(
        scope["method"], scope["path"], scope["query_string"].decode("latin-1"), headers,
        b"".join(chunks),
    )  # fmt: skip


async def send_http_response(
    send: Any, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    """Send a complete JSON response."""
    raw = [(b"content-type", b"application/json")]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class AsgiWebSocket:
    """A text WebSocket over ASGI ``receive``/``send``: ``receive_text`` is None once closed."""

    def __init__(self, receive: Any, send: Any) -> None:
        self._receive = receive
        self._send = send
        self.closed = False

    async def accept(self) -> bool:
        """Complete the handshake; False if the client went away first."""
        message = await self._receive()
        if message["type"] != "websocket.connect":
            self.closed = True
            return False
        await self._send({"type": "websocket.accept"})
        return True

    async def receive_text(self) -> str | None:
        while not self.closed:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                self.closed = True
                return None
            if message["type"] == "websocket.receive":
                text = message.get("text")
                if text is None:
                    text = (message.get("bytes") or b"").decode("utf-8", "replace")
                return str(text)
        return None

    async def send_text(self, text: str) -> None:
        """Send one text frame; raises trio.ClosedResourceError once the socket is closed."""
        if self.closed:
            raise trio.ClosedResourceError("websocket closed")
        try:
            await self._send({"type": "websocket.send", "text": text})
        except Exception as exc:  # hypercorn raises its own error types after a disconnect
            self.closed = True
            raise trio.ClosedResourceError(f"websocket closed: {exc!r}") from None

    async def close(self, code: int = 1000) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                await self._send({"type": "websocket.close", "code": code})
