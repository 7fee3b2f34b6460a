"""The journal: an append-only SQLite (WAL) event log written by one task.

What is recorded (``kind`` column):

* ``position`` — a position's :class:`PositionSpec`, once, when it is created;
* ``event`` — every event fed to a position, *before* it is handled;
* ``command`` — every command a position emits, *before* it is executed (with its client
  order id): :meth:`Journal.append` with ``durable=True`` returns only once it is committed;
* ``transition`` — every state change (from, event, to, commands);
* ``orphan`` — an order event no live position claimed (late or foreign), for reconciliation;
* ``service`` — start, stop, reconciliation results, operator overrides, funding settlements.

Replay is event sourcing: the position machine is pure and deterministic, so feeding a fresh
``Position(spec)`` the journaled events in order rebuilds exactly the state, orders, fills
and PnL the live run had (:func:`replay`). Events the machine refused (``PositionError``)
are refused again identically, so they are kept in the log and skipped on replay too.

Writer: :meth:`Journal.run` owns the SQLite connection. Producers send records through a
bounded channel (backpressure, never dropped); the writer drains whatever is queued, writes
it in one transaction and commits. SQLite runs in the Trio thread. With ``sync="full"``
(the default, for live and paper) each commit is fsynced before any command it holds is
executed; ``sync="normal"`` (simulation) skips the fsync, so a commit costs tens of
microseconds. Neither waits on the clock.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from arbtrio.runtime import codec

if TYPE_CHECKING:
    from arbtrio.core.events import Command, Event
    from arbtrio.core.position import Position, PositionSpec

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    position_id TEXT,
    kind TEXT NOT NULL,
    type TEXT NOT NULL,
    client_order_id TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_position ON records (position_id, seq);
CREATE INDEX IF NOT EXISTS records_cid ON records (client_order_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class JournalError(Exception):
    """The journal cannot be opened or written (wrong schema, disk error, closed)."""


@attrs.frozen(kw_only=True)
class Record:
    """One journal row (``seq`` is 0 until written)."""

    ts: float
    kind: str
    type: str
    body: dict[str, Any]
    position_id: str | None = None
    client_order_id: str | None = None
    seq: int = 0


@attrs.frozen
class JournalStatistics:
    path: str
    written: int
    queued: int
    commits: int


SYNC_MODES = ("full", "normal")


def connect(path: str | Path, *, sync: str = "full") -> sqlite3.Connection:
    """Open (creating if needed) a journal database in WAL mode and check its schema.

    ``sync="full"`` fsyncs every commit: in WAL mode ``normal`` may roll back the last
    commits on a power loss (never on a process crash), and a command lost that way is an
    order sent that recovery would never look for. ``normal`` is for simulation only.
    """
    if sync not in SYNC_MODES:
        raise ValueError(f"journal sync must be one of {SYNC_MODES}, got {sync!r}")
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={sync.upper()}")
    conn.executescript(_SCHEMA)
    row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    if row is None:
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
    elif row[0] != SCHEMA_VERSION:
        conn.close()
        raise JournalError(f"{path}: journal schema {row[0]}, this build reads {SCHEMA_VERSION}")
    return conn


class Journal:
    """Handle to the journal; :meth:`run` is the one writer task.

    Producers call :meth:`append` (or the helpers below); records are written in the order
    they were appended. ``durable=True`` waits until the record is committed: the runtime
    uses it for commands, so no order reaches a venue before its intent is on disk.
    """

    def __init__(self, path: str | Path, *, capacity: int = 4096, sync: str = "full") -> None:
        self.path = str(path)
        self.sync = sync
        self._send, self._recv = trio.open_memory_channel[tuple[Record, trio.Event | None]](
            capacity
        )
        self._written = 0
        self._commits = 0
        self._closed = False

    # -- producer side --------------------------------------------------------------------
    async def append(self, record: Record, *, durable: bool = False) -> None:
        """Queue ``record``; with ``durable`` wait until it is committed."""
        if self._closed:
            raise JournalError("journal is closed")
        done = trio.Event() if durable else None
        await self._send.send((record, done))
        if done is not None:
            await done.wait()

    async def flush(self) -> None:
        """Wait until everything appended so far is committed."""
        await self.append(Record(ts=0.0, kind="service", type="flush", body={}), durable=True)

    async def position_created(self, spec: PositionSpec, ts: float) -> None:
        await self.append(
            Record(
                ts=ts,
                kind="position",
                type="PositionSpec",
                position_id=spec.position_id,
                body=codec.encode(spec),
            )
        )

    async def event(self, position_id: str, event: Event, ts: float) -> None:
        type_name, body = codec.encode_event(event)
        await self.append(
            Record(
                ts=ts,
                kind="event",
                type=type_name,
                position_id=position_id,
                client_order_id=codec.event_client_order_id(event),
                body=body,
            )
        )

    async def commands(self, position_id: str, commands: Sequence[Command], ts: float) -> None:
        """Record commands durably (returns once committed)."""
        if not commands:
            return
        for i, command in enumerate(commands):
            type_name, body = codec.encode_command(command)
            await self.append(
                Record(
                    ts=ts,
                    kind="command",
                    type=type_name,
                    position_id=position_id,
                    client_order_id=codec.command_client_order_id(command),
                    body=body,
                ),
                durable=i == len(commands) - 1,
            )

    async def transition(
        self,
        position_id: str,
        ts: float,
        *,
        from_state: str,
        event: str,
        to_state: str,
        commands: Sequence[str],
    ) -> None:
        await self.append(
            Record(
                ts=ts,
                kind="transition",
                type=to_state,
                position_id=position_id,
                body={
                    "from": from_state,
                    "event": event,
                    "to": to_state,
                    "commands": list(commands),
                },
            )
        )

    async def service(self, type_: str, ts: float, **body: Any) -> None:
        await self.append(Record(ts=ts, kind="service", type=type_, body=body))

    def close(self) -> None:
        """No more records: the writer commits what is queued and returns."""
        self._closed = True
        self._send.close()

    def statistics(self) -> JournalStatistics:
        return JournalStatistics(
            path=self.path,
            written=self._written,
            queued=self._send.statistics().current_buffer_used,
            commits=self._commits,
        )

    # -- the writer task ------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the database: write batches until :meth:`close`, then commit and return."""
        conn = connect(self.path, sync=self.sync)
        try:
            task_status.started()
            async with self._recv:
                while True:
                    try:
                        first = await self._recv.receive()
                    except trio.EndOfChannel:
                        break
                    batch = [first]
                    while len(batch) < 2048:
                        try:
                            batch.append(self._recv.receive_nowait())
                        except (trio.WouldBlock, trio.EndOfChannel):
                            break
                    self._write(conn, batch)
        finally:
            conn.close()

    def _write(
        self, conn: sqlite3.Connection, batch: list[tuple[Record, trio.Event | None]]
    ) -> None:
        rows = [
            (r.ts, r.position_id, r.kind, r.type, r.client_order_id, codec.dumps(r.body))
            for r, _ in batch
            if r.kind != "service" or r.type != "flush"
        ]
        if rows:
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO records (ts, position_id, kind, type, client_order_id, body)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute("COMMIT")
            self._written += len(rows)
            self._commits += 1
        for _, done in batch:
            if done is not None:
                done.set()


# -- reading -------------------------------------------------------------------------------
def read_records(
    path: str | Path, *, position_id: str | None = None, kinds: Sequence[str] = ()
) -> Iterator[Record]:
    """Every record in order (optionally of one position and of some kinds)."""
    conn = connect(path)
    try:
        sql = "SELECT seq, ts, position_id, kind, type, client_order_id, body FROM records"
        where, args = [], []
        if position_id is not None:
            where.append("position_id = ?")
            args.append(position_id)
        if kinds:
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            args.extend(kinds)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq"
        for seq, ts, pid, kind, type_, cid, body in conn.execute(sql, args):
            yield Record(
                seq=seq,
                ts=ts if math.isfinite(ts) else 0.0,
                position_id=pid,
                kind=kind,
                type=type_,
                client_order_id=cid,
                body=json.loads(body),
            )
    finally:
        conn.close()


@attrs.define(eq=False)
class Replayed:
    """A position rebuilt from the journal, with how many events built it."""

    position: Position
    events: int
    last_ts: float


def replay_position(path: str | Path, position_id: str) -> Replayed | None:
    """Rebuild one journaled position (as :func:`replay` does), or None if it is not there.

    Reads only that position's records (indexed), so answering for a position evicted from
    memory costs one small query.
    """
    from arbtrio.core import position as position_mod

    spec: PositionSpec | None = None
    events: list[Event] = []
    last_ts = 0.0
    for record in read_records(path, position_id=position_id, kinds=("position", "event")):
        if record.kind == "position":
            spec = codec.converter.structure(record.body, position_mod.PositionSpec)
        elif spec is None:
            raise JournalError(f"{path}: event seq {record.seq} for unknown position {position_id}")
        else:
            events.append(codec.decode_event(record.type, record.body))
        last_ts = record.ts
    if spec is None:
        return None
    return Replayed(position=position_mod.replay(spec, events), events=len(events), last_ts=last_ts)


def replay(path: str | Path) -> dict[str, Replayed]:
    """Rebuild every journaled position by feeding its events to a fresh ``Position(spec)``
    (:func:`arbtrio.core.position.replay`), in journal order.

    Commands the machine emits during replay are discarded: they were journaled (and
    executed, or not) by the live run; what became of them is recovered by reconciliation.

    Raises:
        JournalError: an event for a position whose spec is not in the journal.
    """
    from arbtrio.core import position as position_mod

    specs: dict[str, PositionSpec] = {}
    events: dict[str, list[Event]] = {}
    last_ts: dict[str, float] = {}
    for record in read_records(path, kinds=("position", "event")):
        pid = record.position_id
        if pid is None:
            continue
        if record.kind == "position":
            specs[pid] = codec.converter.structure(record.body, position_mod.PositionSpec)
            events[pid] = []
        elif pid not in specs:
            raise JournalError(f"{path}: event seq {record.seq} for unknown position {pid}")
        else:
            events[pid].append(codec.decode_event(record.type, record.body))
        last_ts[pid] = record.ts
    return {
        pid: Replayed(
            position=position_mod.replay(spec, events[pid]),
            events=len(events[pid]),
            last_ts=last_ts[pid],
        )
        for pid, spec in specs.items()
    }
