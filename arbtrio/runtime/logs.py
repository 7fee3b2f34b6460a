"""Logging setup: structlog, JSON when stdout is not a terminal, console on a TTY.

Every event passes through :class:`SecretRedactor`, which replaces every known secret value
(API keys, secrets, passphrases, private keys: whatever :meth:`Credentials.secrets` returns)
wherever it appears in any string of the event — keys, values, nested containers,
exception text — with ``***``. Secrets are registered once at start-up, before any venue
client exists, so no log line can carry one.

The runtime logs one canonical line per position transition (``position.transition`` with
``position_id``, ``from_state``, ``event``, ``to_state`` and ``commands``).
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "***"


class SecretRedactor:
    """A structlog processor that scrubs every registered secret from every event."""

    def __init__(self) -> None:
        self._secrets: tuple[str, ...] = ()

    def register(self, secrets: Iterable[str]) -> None:
        """Add secret values (empty strings are ignored); longest first for replacement."""
        merged = set(self._secrets) | {s for s in secrets if s}
        self._secrets = tuple(sorted(merged, key=len, reverse=True))

    def clear(self) -> None:
        self._secrets = ()

    def scrub(self, value: Any) -> Any:
        if not self._secrets:
            return value
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return type(value)(self.scrub(v) for v in value)
        if isinstance(value, int | float | bool) or value is None:
            return value
        if isinstance(value, BaseException):
            text = f"{type(value).__name__}: {value}"
            scrubbed = self.scrub(text)
            return scrubbed if scrubbed != text else value
        text = str(value)
        scrubbed = self.scrub(text)
        return scrubbed if scrubbed != text else value

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if not self._secrets:
            return event_dict
        return {self.scrub(k): self.scrub(v) for k, v in event_dict.items()}


#: The process-wide redactor; :func:`configure_logging` installs it as the last processor
#: before rendering (after exception formatting, so tracebacks are scrubbed too).
redactor = SecretRedactor()

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class StatusBoard:
    """On a terminal: log lines scroll above one status line that is rewritten in place.

    :meth:`show` replaces the status line; :meth:`log` prints a log line above it. Off a
    terminal, every status is a line of its own (so a file or pipe keeps the history).
    """

    def __init__(self, out: TextIO, *, interactive: bool) -> None:
        self.out = out
        self.interactive = interactive
        self.line = ""

    def _width(self) -> int:
        return shutil.get_terminal_size((120, 24)).columns - 1

    def show(self, line: str) -> None:
        if not self.interactive:
            self.out.write(line + "\n")
        else:
            self.line = line[: self._width()]
            self.out.write("\r\x1b[K" + self.line)
        self.out.flush()

    def log(self, message: str) -> None:
        if self.interactive:
            self.out.write("\r\x1b[K" + message + "\n" + self.line)
        else:
            self.out.write(message + "\n")
        self.out.flush()

    def close(self) -> None:
        """End the status line so what follows starts on a fresh line."""
        if self.interactive and self.line:
            self.out.write("\n")
            self.out.flush()
        self.line = ""


class _BoardLogger:
    """A structlog logger that prints through a :class:`StatusBoard`."""

    def __init__(self, board: StatusBoard) -> None:
        self._board = board

    def msg(self, message: str) -> None:
        self._board.log(message)

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg


def configure_logging(
    *,
    level: str = "info",
    fmt: str = "auto",
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
    board: StatusBoard | None = None,
) -> None:
    """Configure structlog for the process.

    Args:
        level: "debug" | "info" | "warning" | "error".
        fmt: "json" | "console" | "auto" (console when ``stream`` is a TTY, else JSON).
        stream: where log lines go (stdout by default).
        secrets: secret values to redact from every event.
        board: print through this status board (log lines above a pinned status line).
    """
    if level not in _LEVELS:
        raise ValueError(f"logging.level: expected one of {sorted(_LEVELS)}, got {level!r}")
    if fmt not in ("auto", "json", "console"):
        raise ValueError(f"logging.format: expected auto, json or console, got {fmt!r}")
    out = stream if stream is not None else sys.stdout
    redactor.register(secrets)
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any
    if console:
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())
    else:
        renderer = structlog.processors.JSONRenderer(default=str)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=(
            structlog.PrintLoggerFactory(out) if board is None else (lambda *_: _BoardLogger(board))
        ),
        cache_logger_on_first_use=False,
    )
