"""The ``arbtrio`` command line: sim end to end, refusals with clear messages, admin tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import structlog

from arbtrio import cli
from arbtrio.runtime.logs import redactor

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _restore_logging() -> Any:
    """``arbtrio`` configures structlog for the process: undo it for the next tests."""
    yield
    structlog.reset_defaults()
    redactor.clear()


def test_sim_virtual_time_prints_and_writes_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "summary.json"
    code = cli.main([
        "sim", "--config", str(ROOT / "config" / "sim.toml"), "--virtual-time",
        "--duration", "300", "--seed", "7", "--no-admin", "--quiet",
        "--journal", str(tmp_path / "j.sqlite"), "--summary-json", str(out_json),
    ])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "arbtrio sim summary" in printed and "opportunities" in printed
    summary = json.loads(out_json.read_text())
    assert summary["seed"] == 7 and summary["duration_s"] == 300
    assert summary["opportunities"]["taken"] > 0
    assert set(summary["positions"]) >= {"SETTLED", "FAULTED", "HEDGED"}
    assert summary["positions"]["OPENING"] == summary["positions"]["CLOSING"] == 0
    assert {"available_bps", "captured", "captured_ratio", "dislocations"} <= set(summary["edge"])


def test_config_errors_stop_startup_with_the_key_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[risk]\nmax_open_positions = "ten"\n')
    assert cli.main(["sim", "--config", str(bad), "--virtual-time", "--duration", "1"]) == 2
    err = capsys.readouterr().err
    assert 'risk.max_open_positions: expected int, got "ten"' in err


def test_run_refuses_without_secrets_naming_the_variables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ARBTRIO_BYBIT_API_KEY", "ARBTRIO_BYBIT_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    cfg = tmp_path / "live.toml"
    cfg.write_text(
        'assets = ["BTC"]\n[service]\nmode = "live"\n[quote_rates]\nUSDT = "1"\n'
        '[venues.bybit]\nsecrets = { api_key = "ARBTRIO_BYBIT_API_KEY", '
        'api_secret = "ARBTRIO_BYBIT_API_SECRET" }\n'
        "[venues.nosuch]\n"
    )
    assert cli.main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "venues.nosuch: unknown venue" in err
    cfg.write_text(cfg.read_text().replace("[venues.nosuch]\n", "[venues.gateio]\n"))
    assert cli.main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "ARBTRIO_BYBIT_API_KEY" in err and "ARBTRIO_BYBIT_API_SECRET" in err
    assert "cannot start" in err


def test_run_refuses_sim_mode_and_admin_without_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["run", "--config", str(ROOT / "config" / "sim.toml")]) == 2
    assert "arbtrio sim" in capsys.readouterr().err
    assert cli.main(["admin", "--socket", str(tmp_path / "none.sock"), "status"]) == 2
    assert "cannot connect to the admin socket" in capsys.readouterr().err
    assert cli.main(["admin", "--socket", str(tmp_path / "none.sock"), "flatten"]) == 2
    assert "flatten --all" in capsys.readouterr().err
