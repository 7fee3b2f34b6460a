"""Loopback emulators of the five venues, backed by the simulated market.

Each module serves one venue's real protocol (REST and WebSocket message shapes, sequence
numbers and checksums, request signatures checked server-side, error envelopes and codes)
from the venue documentation, with its own parsing and signing code: no module here imports
``arbtrio.venues``, so a client bug cannot hide behind its mirror.

:data:`EMULATORS` names each venue's emulator class; :func:`emulator_class` imports it.
"""

from __future__ import annotations

import importlib
from typing import Any

from arbtrio.emulators.app import ApiKeys, EmulatorApp, Endpoints

__all__ = ["EMULATORS", "ApiKeys", "EmulatorApp", "Endpoints", "emulator_class"]

EMULATORS: dict[str, str] = {
    "hyperliquid": "arbtrio.emulators.hyperliquid:HyperliquidEmulator",
    "bybit": "arbtrio.emulators.bybit:BybitEmulator",
    "bitget": "arbtrio.emulators.bitget:BitgetEmulator",
    "gateio": "arbtrio.emulators.gateio:GateEmulator",
    "kucoin": "arbtrio.emulators.kucoin:KucoinEmulator",
}


def emulator_class(venue: str) -> Any:
    """The emulator class of ``venue`` (KeyError for a venue without one)."""
    module, _, name = EMULATORS[venue].partition(":")
    return getattr(importlib.import_module(module), name)
