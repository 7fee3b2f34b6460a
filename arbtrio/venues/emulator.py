"""Serving a venue emulator on loopback: one ASGI app (REST + WebSocket) under hypercorn/trio.

Every venue emulator is an ASGI application; :func:`serve_asgi` binds it to 127.0.0.1 on a
free port and reports the bound base URL through ``task_status`` so callers can
``base_url = await nursery.start(serve_asgi, app)``.
"""

from __future__ import annotations

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
