"""The ``arbtrio`` command line: sim end to end, refusals with clear messages, admin tables."""

from __future__ import annotations

import json
from decimal import Decimal
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
        "--report", str(tmp_path / "report"),
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
    opp = summary["opportunities"]
    assert 0 < opp["taken"] <= opp["seen"] and opp["taken"] <= opp["positions_opened"]
    assert set(summary) >= {"naked_exposure", "slippage_bps", "exits", "funding", "margin",
                            "outages", "series"}  # fmt: skip
    assert set(summary["naked_exposure"]) >= {"max_notional", "notional_seconds", "longest_s"}
    assert set(summary["slippage_bps"]["entry"]) >= {"p50", "p95", "n"}
    assert set(summary["funding"]) >= {"settlements", "paid"}
    assert set(summary["margin"]) >= {"rejections", "liquidations"}
    assert set(summary["outages"]) == {"count", "seconds"}
    settled = summary["positions"]["SETTLED"]
    assert sum(e["count"] for e in summary["exits"].values()) == settled
    exits_pnl = sum(Decimal(e["pnl"]) for e in summary["exits"].values())
    assert exits_pnl == Decimal(summary["realized_pnl"])
    edge = summary["edge"]
    assert float(edge["available_bps"]) <= float(edge["floor_available_bps"]) + 1e-6
    assert (tmp_path / "report" / "index.html").exists()
    assert "naked" in printed and "slippage" in printed and "exits" in printed


def test_sim_seeds_runs_each_seed_and_aggregates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json, report = tmp_path / "eval.json", tmp_path / "report"
    code = cli.main([
        "sim", "--config", str(ROOT / "config" / "sim.toml"), "--seeds", "3,5",
        "--duration", "60", "--jobs", "2", "--summary-json", str(out_json),
        "--report", str(report),
    ])  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split()[:2] == ["seed", "pnl"]
    assert [line.split()[0] for line in lines[2:4]] == ["3", "5"]
    assert any(line.startswith("aggregate over 2 seeds") for line in lines)
    # Piped (not a terminal): one progress line per finished seed, on stderr.
    progress = [line for line in captured.err.splitlines() if line.startswith("seed ")]
    assert len(progress) == 2 and {p.split()[1] for p in progress} == {"3", "5"}
    assert "(2/2)" in progress[-1] and "\r" not in captured.err
    document = json.loads(out_json.read_text())
    assert set(document) >= {"runs", "aggregate"}
    assert [r["seed"] for r in document["runs"]] == [3, 5]
    assert document["runs"][0]["duration_s"] == 60
    assert set(document["aggregate"]) >= {"pnl", "captured_ratio_mean", "fees",
                                          "naked_exposure", "seeds"}  # fmt: skip
    assert set(document["aggregate"]["pnl"]) >= {"mean", "median", "p5", "positive_seeds"}
    html = (report / "index.html").read_text()
    for name in ("equity.png", "slippage.png", "exits.png"):
        assert (report / name).stat().st_size > 1000
        assert f'src="{name}"' in html
    assert "<table>" in html and ">3<" in html and ">5<" in html


def test_sim_seeds_refuses_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    config = str(ROOT / "config" / "sim.toml")
    assert cli.main(["sim", "--config", config, "--seeds", "1-2"]) == 2
    assert "--seeds needs --duration" in capsys.readouterr().err
    assert cli.main(["sim", "--config", config, "--seeds", "x", "--duration", "5"]) == 2
    assert "--seeds 'x'" in capsys.readouterr().err


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
