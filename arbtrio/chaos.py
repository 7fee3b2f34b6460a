"""``arbtrio chaos``: SIGKILL the live service at random moments, restart it, check the venues.

One ``arbtrio emulate`` process serves the five venues for the whole run (the venues outlive
the service, as real ones do). Each trial starts ``arbtrio run`` (live mode,
``journal_sync = "full"``) on the same journal, waits until it has reconciled and traded a
little, then kills it with SIGKILL at a random moment. A last run reconciles, trades, and
stops gracefully (flattening everything). Then the venues' own records (``GET
/__emulator__/orders``) are checked against the journal:

* **journaled** — every order a venue received is a journaled command;
* **once** — no client order id reached a venue twice;
* **reconciled** — every restart reconciled with no mismatch left (nothing lost in a crash);
* **gated** — no position opened before both its venues had been reconciled in that run;
* **flat** — after the final flatten every emulated account is flat (no leg left naked).

It prints one row per trial and the verdicts, and exits non-zero on any violation.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from arbtrio.emulators.serve import VENUE_ORDER, environment

__all__ = ["Chaos", "ChaosError", "TrialResult", "report", "run_chaos"]

SIM_CONFIG = """# written by arbtrio chaos: a lively emulated market
assets = ["BTC", "ETH"]
[service]
mode = "sim"
[quote_rates]
USDT = "1"
USDC = "1"
{venues}
[detector]
entry_threshold_bps = 3.0
exit_threshold_bps = 1.0
target_notional = "2000"
max_holding_s = 30.0
[risk]
max_open_positions = 4
max_net_notional_per_asset = "200"
[sim]
seed = {seed}
[sim.dislocations]
rate_per_hour = 900.0
min_bps = 15.0
max_bps = 40.0
"""


class ChaosError(Exception):
    """The harness itself could not do its job (a process would not start, a wait ran out)."""


@attrs.define
class TrialResult:
    """One run of the service: how it ended, what the venues had seen by then."""

    trial: int
    kind: str  # "kill" | "final"
    seconds: float
    orders_before: int
    orders_after: int
    mismatches: list[Any]
    opened: int
    open_at_end: int = 0  # positions not SETTLED when it was killed (or stopped)


def free_port_base(count: int, start: int = 21_000) -> int:
    """A port such that ``count`` consecutive loopback ports from it are free now."""
    for base in range(start, start + 1_900, 37):
        sockets: list[socket.socket] = []
        try:
            for i in range(count):
                sockets.append(socket.socket())
                sockets[-1].bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise ChaosError("no free range of loopback ports")


def wait_for(what: str, predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise ChaosError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Chaos:
    """One chaos run in ``workdir`` (see the module docstring)."""

    def __init__(
        self,
        workdir: Path,
        *,
        venues: Sequence[str] = VENUE_ORDER,
        seed: int = 1,
        port_start: int = 21_000,
        log: Callable[[str], None] = print,
    ) -> None:
        self.workdir = workdir
        self.venues = tuple(venues)
        self.rng = random.Random(seed)
        self.seed = seed
        self.port_start = port_start
        self.log = log
        self.journal = workdir / "journal.sqlite"
        self.socket = workdir / "admin.sock"
        self.env = {**os.environ, **environment(self.venues), "PYTHONUNBUFFERED": "1"}
        self.urls: dict[str, str] = {}
        self.results: list[TrialResult] = []
        self._emulate: subprocess.Popen[bytes] | None = None
        self._runs = 0

    # -- processes ---------------------------------------------------------------------------
    def _spawn(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        with (self.workdir / log).open("ab") as out:  # the child keeps its own descriptor
            return subprocess.Popen(
                [sys.executable, "-m", "arbtrio.cli", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.workdir,
            )

    def start_venues(self) -> None:
        sections = "\n".join(
            f"[venues.{v}]" + ("" if v in self.venues else "\nenabled = false") for v in VENUE_ORDER
        )
        (self.workdir / "sim.toml").write_text(SIM_CONFIG.format(venues=sections, seed=self.seed))
        base = free_port_base(len(VENUE_ORDER), self.port_start)
        self._emulate = self._spawn(
            "emulate", "--config", "sim.toml", "--port-base", str(base), "--write-config",
            "live.toml", "--journal", str(self.journal), "--admin-socket", str(self.socket),
            log="emulate.log",
        )  # fmt: skip
        log_path = self.workdir / "emulate.log"
        wait_for("the emulators", lambda: "Ctrl-C stops." in log_path.read_text())
        config = (self.workdir / "live.toml").read_text()
        for venue in self.venues:
            section = config.split(f"[venues.{venue}]", 1)[1]
            line = next(x for x in section.splitlines() if x.startswith("rest_url"))
            self.urls[venue] = line.split('"')[1]

    def stop_venues(self) -> None:
        if self._emulate is not None and self._emulate.poll() is None:
            self._emulate.send_signal(signal.SIGKILL)
            self._emulate.wait(timeout=10)

    def venue_state(self, venue: str) -> dict[str, Any]:
        origin = self.urls[venue].split("/api/", 1)[0]
        with urllib.request.urlopen(f"{origin}/__emulator__/orders", timeout=5) as resp:
            state: dict[str, Any] = json.loads(resp.read())
        return state

    def orders_seen(self) -> int:
        return sum(len(self.venue_state(v)["orders"]) for v in self.venues)

    def admin(self, method: str) -> Any:
        """One JSON-RPC call on the service's admin socket (None if it does not answer)."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(str(self.socket))
                request = {"jsonrpc": "2.0", "id": 1, "method": method}
                s.sendall(json.dumps(request).encode() + b"\n")
                data = b""
                while not data.endswith(b"\n"):
                    chunk = s.recv(65536)
                    if not chunk:
                        return None
                    data += chunk
        except OSError:
            return None
        return json.loads(data).get("result")

    # -- one run of the service ---------------------------------------------------------------
    def run_once(self, *, kill: bool) -> TrialResult:
        """Start the service, wait until it reconciled and opened a position, then SIGKILL it
        at a random moment within a few seconds (``kill``) or stop it gracefully."""
        self._runs += 1
        started = time.monotonic()
        before = self.orders_seen()
        proc = self._spawn("run", "--config", "live.toml", log=f"run{self._runs}.log")
        try:
            status: dict[str, Any] = {}

            def ready() -> bool:
                answer = self.admin("status")
                if answer is None or answer["reconciling"]:
                    return False
                status.update(answer)
                return True

            try:
                wait_for(f"run {self._runs} to reconcile", ready, timeout_s=90.0)
                mismatches = list(status["mismatches"])
            except ChaosError:  # it never reconciled: what stood in its way is the finding
                answer = self.admin("status") or {}
                mismatches = list(answer.get("mismatches", ["no answer from the service"]))

            def opened() -> bool:
                answer = self.admin("status")
                return answer is not None and answer["opened"] > 0

            if not mismatches:
                wait_for(f"run {self._runs} to open a position", opened)
            last = self.admin("status") or status
            if kill:
                time.sleep(self.rng.uniform(0.0, 3.0))  # a random moment, orders flowing
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
            else:
                proc.send_signal(signal.SIGTERM)  # graceful: flatten everything, then stop
                if proc.wait(timeout=60) != 0:
                    raise ChaosError(f"run {self._runs} stopped with {proc.returncode}")
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
        states = last.get("positions", {})
        return TrialResult(
            trial=self._runs,
            kind="kill" if kill else "final",
            seconds=round(time.monotonic() - started, 2),
            orders_before=before,
            orders_after=self.orders_seen(),
            mismatches=mismatches,
            opened=int(last.get("opened", 0)),
            open_at_end=sum(n for state, n in states.items() if state != "SETTLED"),
        )

    # -- the whole run ------------------------------------------------------------------------
    def run(self, trials: int) -> dict[str, list[str]]:
        """``trials`` killed runs and a final graceful one; the violations per check."""
        self.start_venues()
        try:
            for _ in range(trials):
                self.results.append(self.run_once(kill=True))
                self.log(self._row(self.results[-1]))
            self.results.append(self.run_once(kill=False))
            self.log(self._row(self.results[-1]))
            return self.check()
        finally:
            self.stop_venues()

    @staticmethod
    def _row(r: TrialResult) -> str:
        return (
            f"  run {r.trial:>3}  {r.kind:<5}  {r.seconds:>6.1f} s  venue orders "
            f"{r.orders_before:>5} → {r.orders_after:<5}  opened {r.opened:>3}  open when "
            f"{'killed' if r.kind == 'kill' else 'stopped'} {r.open_at_end:>2}  "
            f"mismatches at start {len(r.mismatches)}"
        )

    def check(self) -> dict[str, list[str]]:
        violations: dict[str, list[str]] = {
            "journaled": [], "once": [], "reconciled": [], "gated": [], "flat": [],
        }  # fmt: skip
        db = sqlite3.connect(self.journal)
        try:
            journaled = {
                cid
                for (cid,) in db.execute(
                    "SELECT client_order_id FROM records"
                    " WHERE kind = 'command' AND type = 'PlaceOrder'"
                )
            }
            records = db.execute(
                "SELECT kind, type, ts, body FROM records"
                " WHERE kind IN ('service', 'position') ORDER BY seq"
            ).fetchall()
        finally:
            db.close()
        reconciled: dict[str, float] = {}
        for kind, type_, ts, body in records:
            data = json.loads(body)
            if kind == "service" and type_ == "start":
                reconciled = {}
            elif kind == "service" and type_ == "venue_reconciled":
                reconciled[data["venue"]] = ts
            elif kind == "position":
                pid = data["position_id"]
                for leg in ("long", "short"):
                    venue = data[leg]["venue"]
                    if venue not in reconciled or reconciled[venue] > ts:
                        violations["gated"].append(f"{pid} opened before {venue} reconciled")
        for r in self.results:
            if r.mismatches:
                violations["reconciled"].append(f"run {r.trial}: {r.mismatches}")
        for venue in self.venues:
            state = self.venue_state(venue)
            ids = [o["client_order_id"] for o in state["orders"]]
            for cid, n in Counter(ids).items():
                if n > 1:
                    violations["once"].append(f"{venue}: {cid} sent {n} times")
            for cid in sorted(set(ids) - journaled):
                violations["journaled"].append(f"{venue}: {cid} is not in the journal")
            for symbol, qty in state["positions"].items():
                if Decimal(qty) != 0:
                    violations["flat"].append(f"{venue}: {symbol} holds {qty}")
        return violations


def report(violations: dict[str, list[str]]) -> str:
    lines = []
    for check, found in violations.items():
        lines.append(f"  {check:<10} {'ok' if not found else f'{len(found)} VIOLATION(S)'}")
        lines.extend(f"      {v}" for v in found[:20])
    return "\n".join(lines)


def run_chaos(*, trials: int, seed: int = 1, workdir: str | None = None) -> int:
    """The ``arbtrio chaos`` command: 0 all checks hold, 1 a violation, 2 the harness failed."""
    path = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="arbtrio-chaos-"))
    path.mkdir(parents=True, exist_ok=True)
    print(f"arbtrio chaos: {trials} SIGKILL trials, then a graceful stop; logs in {path}")
    chaos = Chaos(path, seed=seed, log=lambda line: print(line, flush=True))
    try:
        violations = chaos.run(trials)
    except ChaosError as exc:
        print(f"arbtrio chaos: {exc} (logs in {path})", file=sys.stderr)
        return 2
    print(report(violations))
    return 1 if any(violations.values()) else 0
