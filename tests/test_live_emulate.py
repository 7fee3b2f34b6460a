"""The live path end to end, across processes: ``arbtrio run`` (live mode) against
``arbtrio emulate``, killed with SIGKILL mid-trade, restarted on the same journal — the short
version of ``make chaos`` (:mod:`arbtrio.chaos`), on all five venues.

The emulators outlive the service, as real venues do, and keep their own record of every
order they received. After the restarts have reconciled and the last run has flattened and
stopped, every venue order must be in the journal, no client order id may have reached a
venue twice, every restart must have reconciled with no mismatch, no position may have
opened before its venues were reconciled, and the emulated accounts must be flat.

This runs on real time (processes talking over loopback cannot share a mock clock): it
waits by polling with deadlines and asserts no timing.
"""

from __future__ import annotations

import os
from pathlib import Path

from arbtrio.chaos import Chaos, report


def test_live_run_killed_mid_trade_recovers_every_venue_order(tmp_path: Path) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # parallel workers probe apart
    port_start = 21_000 + 2_000 * int(worker.removeprefix("gw") or 0)
    chaos = Chaos(tmp_path, seed=11, port_start=port_start, log=lambda line: None)
    violations = chaos.run(trials=2)
    assert not any(violations.values()), report(violations)
    killed = [r for r in chaos.results if r.kind == "kill"]
    assert len(killed) == 2 and all(r.orders_after > r.orders_before for r in killed)
    assert chaos.results[-1].kind == "final" and chaos.results[-1].opened > 0
