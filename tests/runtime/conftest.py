"""Helpers for the runtime tests: small simulated configurations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest

from arbtrio.config import Config, load_config
from arbtrio.sim.config import FaultRates

ROOT = Path(__file__).resolve().parents[2]


def sim_config(
    tmp_path: Path,
    *,
    assets: tuple[str, ...] = ("BTC",),
    faults: FaultRates | None = None,
    shutdown: str = "flatten",
    **service: Any,
) -> Config:
    """``config/sim.toml`` narrowed to ``assets``, with a journal and socket in ``tmp_path``."""
    base = load_config(ROOT / "config" / "sim.toml")
    sim = attrs.evolve(
        base.sim,
        assets=tuple(a for a in base.sim.assets if a.asset in assets),
        faults=faults or FaultRates(),
    )
    svc = attrs.evolve(
        base.service,
        journal=str(tmp_path / "journal.sqlite"),
        admin_socket=str(tmp_path / "admin.sock"),
        shutdown=shutdown,
        **service,
    )
    return attrs.evolve(base, assets=assets, sim=sim, service=svc)


@pytest.fixture
def make_config(tmp_path: Path) -> Any:
    def make(**kwargs: Any) -> Config:
        return sim_config(tmp_path, **kwargs)

    return make
