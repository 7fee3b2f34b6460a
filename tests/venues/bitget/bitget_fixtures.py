"""Bitget's own payloads (``fixtures/*.json``), one a file, with its origin in ``"_source"``."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent / "fixtures"


def names() -> list[str]:
    """Every fixture's name (the file name without ``.json``), sorted."""
    return sorted(p.stem for p in HERE.glob("*.json"))


def load(name: str) -> dict[str, Any]:
    """Fixture ``name`` as the venue sent it (``"_source"`` stripped)."""
    doc: dict[str, Any] = json.loads((HERE / f"{name}.json").read_text())
    assert doc.pop("_source"), f"{name}: no source"
    return doc


def text(name: str, mutate: Any = None) -> str:
    """Fixture ``name`` as JSON text, after ``mutate(doc)`` (on a copy) when given."""
    doc = copy.deepcopy(load(name))
    if mutate is not None:
        mutate(doc)
    return json.dumps(doc)
