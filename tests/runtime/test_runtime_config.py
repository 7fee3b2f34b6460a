"""Configuration: strict structuring, errors that name the key, secrets from the environment."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from arbtrio.config import (
    ConfigError,
    load_config,
    load_credentials,
    missing_secrets,
    structure_config,
)

ROOT = Path(__file__).resolve().parents[2]


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        structure_config(data)
    return info.value.problems


def test_shipped_configs_load() -> None:
    sim = load_config(ROOT / "config" / "sim.toml")
    assert sim.service.mode == "sim"
    assert sim.enabled_venues == ("hyperliquid", "bybit", "bitget", "gateio", "kucoin")
    assert sim.quote_rates == {"USDT": Decimal(1), "USDC": Decimal(1)}
    live = load_config(ROOT / "config" / "live.example.toml")
    assert live.service.mode == "live"
    assert live.venues["bybit"].secrets["api_secret"] == "ARBTRIO_BYBIT_API_SECRET"


def test_wrong_type_names_the_dotted_key_and_the_value() -> None:
    assert problems({"risk": {"max_open_positions": "ten"}}) == [
        'risk.max_open_positions: expected int, got "ten"'
    ]


def test_no_silent_coercion() -> None:
    assert problems({"service": {"tick_interval_s": True}}) == [
        "service.tick_interval_s: expected a number, got true"
    ]
    assert problems({"detector": {"include_funding": 1}})[0].startswith(
        "detector.include_funding: expected true or false"
    )
    assert problems({"risk": {"max_open_positions": 10.0}}) == [
        "risk.max_open_positions: expected int, got 10.0"
    ]


def test_unknown_keys_are_errors_at_every_level() -> None:
    assert problems({"risk": {"max_open_positons": 3}}) == [
        "risk: unknown key(s): max_open_positons"
    ]
    assert problems({"venues": {"bybit": {"api_secret": "x"}}}) == [
        "venues.bybit: unknown key(s): api_secret"
    ]
    assert problems({"sevice": {}}) == ["unknown key(s): sevice"]


def test_literal_choices_and_class_validation_name_the_key() -> None:
    (p,) = problems({"service": {"shutdown": "panic"}})
    assert p.startswith("service.shutdown: expected one of") and "leave_hedged" in p
    (p,) = problems({"risk": {"daily_loss_limit": "-5"}})
    assert p.startswith("risk: ") and "daily_loss_limit" in p


def test_quote_rates_are_explicit_never_assumed() -> None:
    (p,) = problems({"quote_rates": {"USDT": "1"}})
    assert p.startswith("quote_rates.USDC: required")


def test_cross_checks() -> None:
    assert "venues: at least two venues must be enabled to arbitrage" in problems(
        {"venues": {"bybit": {}}}
    )
    assert any(
        p.startswith("venues.binance: unknown venue")
        for p in problems({"venues": {"binance": {}, "bybit": {}, "kucoin": {}}})
    )
    assert any(
        p.startswith("quote_rates: USDC/USDT")
        for p in problems({"quote_rates": {"USDT": "1", "USDC": "1.01"}})
    )


def test_secrets_are_env_var_names_not_values() -> None:
    (p,) = problems({"venues": {"bybit": {"secrets": {"api_key": "sk-live-123/abc"}}}})
    assert p.startswith("venues.bybit: secrets.api_key: expected an environment variable NAME")


def test_missing_and_loaded_credentials() -> None:
    config = load_config(ROOT / "config" / "live.example.toml")
    env = {"ARBTRIO_BYBIT_API_KEY": "k1"}
    assert missing_secrets(config, "bybit", env) == ["ARBTRIO_BYBIT_API_SECRET"]
    env["ARBTRIO_BYBIT_API_SECRET"] = "s3cr3t"
    assert missing_secrets(config, "bybit", env) == []
    creds = load_credentials(config, "bybit", env)
    assert creds.api_key == "k1" and creds.api_secret == "s3cr3t"
    assert "s3cr3t" not in repr(creds)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[risk\nx=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")
