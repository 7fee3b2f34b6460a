"""The live path end to end, across processes: ``arbtrio run`` (live mode) against
``arbtrio emulate``, killed with SIGKILL mid-trade, restarted on the same journal.

The emulators outlive the service, as real venues do, and keep their own record of every
order they received (``GET /__emulator__/orders``). After the restart has reconciled and the
service has flattened and stopped, every venue order must be in the journal, no client
order id may have reached a venue twice, the emulated accounts must be flat, and nothing may
have been opened before the restart finished reconciling.

This runs on real time (two processes talking over loopback cannot share a mock clock):
it waits by polling with deadlines and asserts no timing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from arbtrio.emulators.serve import VENUE_ORDER, environment

VENUES = VENUE_ORDER
SIM_CONFIG = """
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
max_net_delta_per_asset = "0.05"
[sim]
seed = 11
[sim.dislocations]
rate_per_hour = 900.0
min_bps = 15.0
max_bps = 40.0
"""


def free_port_base(count: int) -> int:
    """A port such that ``count`` consecutive loopback ports from it are free now."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # parallel workers probe apart
    start = 21_000 + 2_000 * int(worker.removeprefix("gw") or 0)
    for base in range(start, start + 1_900, 37):
        sockets = []
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
    raise RuntimeError("no free port range")


def wait_for(what: str, predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def arbtrio(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "arbtrio.cli", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=log.parent,
        )


def emulator_state(rest_url: str) -> dict[str, Any]:
    origin = rest_url.split("/api/", 1)[0]
    with urllib.request.urlopen(f"{origin}/__emulator__/orders", timeout=5) as resp:
        state: dict[str, Any] = json.loads(resp.read())
    return state


def admin_call(path: Path, method: str) -> Any:
    """One JSON-RPC call on the service's admin socket (None if it does not answer)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(path))
            s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method}).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    return None
                data += chunk
    except OSError:
        return None
    return json.loads(data).get("result")


def test_live_run_killed_mid_trade_recovers_every_venue_order(tmp_path: Path) -> None:
    sections = "\n".join(
        f"[venues.{v}]" + ("" if v in VENUES else "\nenabled = false") for v in VENUE_ORDER
    )
    (tmp_path / "sim.toml").write_text(SIM_CONFIG.format(venues=sections))
    journal, sock = tmp_path / "journal.sqlite", tmp_path / "admin.sock"
    base = free_port_base(len(VENUE_ORDER))
    env = {**os.environ, **environment(VENUES), "PYTHONUNBUFFERED": "1"}
    emulate_log = tmp_path / "emulate.log"
    emulate = arbtrio(
        "emulate", "--config", "sim.toml", "--port-base", str(base), "--write-config",
        "live.toml", "--journal", str(journal), "--admin-socket", str(sock),
        env=env, log=emulate_log,
    )  # fmt: skip
    runs: list[subprocess.Popen[bytes]] = []
    try:
        wait_for("the emulators", lambda: "Ctrl-C stops." in emulate_log.read_text())
        config = (tmp_path / "live.toml").read_text()
        urls = {
            v: line.split('"')[1]
            for v in VENUES
            for line in config.split(f"[venues.{v}]", 1)[1].splitlines()[:2]
            if line.startswith("rest_url")
        }

        def orders_seen() -> int:
            return sum(len(emulator_state(u)["orders"]) for u in urls.values())

        # -- run 1: trade, then SIGKILL while orders flow ----------------------------------
        runs.append(arbtrio("run", "--config", "live.toml", env=env, log=tmp_path / "run1.log"))
        wait_for("a first order at the venues", lambda: orders_seen() > 0)
        before = orders_seen()
        wait_for("more orders (trading under way)", lambda: orders_seen() >= before + 2)
        runs[0].send_signal(signal.SIGKILL)
        runs[0].wait(timeout=10)

        # -- run 2: the same journal; it reconciles, resumes, then stops gracefully ----------
        runs.append(arbtrio("run", "--config", "live.toml", env=env, log=tmp_path / "run2.log"))

        def reconciled() -> bool:
            status = admin_call(sock, "status")
            return status is not None and not status["reconciling"]

        wait_for("the restart to reconcile", reconciled)
        status = admin_call(sock, "status")
        assert status is not None and status["mismatches"] == [], status["mismatches"]
        def opened_again() -> bool:
            status = admin_call(sock, "status")
            return status is not None and status["opened"] > 0

        wait_for("a position opened after the restart", opened_again)
        runs[1].send_signal(signal.SIGTERM)  # graceful: flatten everything, then stop
        assert runs[1].wait(timeout=60) == 0

        # -- what the venues saw against what the journal holds ------------------------------
        db = sqlite3.connect(journal)
        journaled = {
            cid
            for (cid,) in db.execute(
                "SELECT client_order_id FROM records WHERE kind = 'command' AND type = 'PlaceOrder'"
            )
        }
        starts = [
            ts
            for (ts,) in db.execute(
                "SELECT ts FROM records WHERE kind = 'service' AND type = 'start' ORDER BY seq"
            )
        ]
        venue_reconciled = {
            json.loads(body)["venue"]: ts
            for ts, body in db.execute(
                "SELECT ts, body FROM records WHERE kind = 'service'"
                " AND type = 'venue_reconciled' AND ts >= ? ORDER BY seq",
                (starts[-1],),
            )
        }
        opened_after_restart = [
            (ts, json.loads(body))
            for ts, body in db.execute(
                "SELECT ts, body FROM records WHERE kind = 'position' AND ts >= ?", (starts[-1],)
            )
        ]
        db.close()
        assert len(starts) == 2 and set(venue_reconciled) == set(VENUES)
        assert opened_after_restart
        for ts, spec in opened_after_restart:  # both venues reconciled before it opened
            for leg in ("long", "short"):
                assert ts >= venue_reconciled[spec[leg]["venue"]], (spec["position_id"], leg)
        for venue, url in urls.items():
            state = emulator_state(url)
            ids = [o["client_order_id"] for o in state["orders"]]
            twice = [cid for cid, n in Counter(ids).items() if n > 1]
            assert not twice, f"{venue}: client order ids sent twice: {twice}"
            unjournaled = sorted(set(ids) - journaled)
            assert not unjournaled, f"{venue}: venue orders not in the journal: {unjournaled}"
            held = {symbol: Decimal(qty) for symbol, qty in state["positions"].items()}
            assert not any(held.values()), f"{venue}: left holding {held}"
    finally:
        for proc in [*runs, emulate]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
