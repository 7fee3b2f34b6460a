"""The simulated market: fair value, per-venue basis and dislocations, ladders, IOC matching,
latency and faults. Deterministic from a seed; sans-IO except the Trio driver.

``arbtrio.sim.client.SimVenueClient`` (the in-process venue client) is not imported here: the
emulators import the market without the venue layer. See specs/002-simulator.md.
"""

from arbtrio.sim.config import (
    AssetConfig,
    FaultRates,
    LatencyConfig,
    SimConfig,
    default_sim_config,
    structure_sim_config,
)
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.execution import Account, Execution, FundingPayment, book_levels_for, match_ioc
from arbtrio.sim.market import Dislocation, SimMarket, UnknownInstrument
from arbtrio.sim.summary import EdgeSummary, edge_summary

__all__ = [
    "Account",
    "AssetConfig",
    "Dislocation",
    "EdgeSummary",
    "Execution",
    "FaultRates",
    "FundingPayment",
    "LatencyConfig",
    "MarketDriver",
    "SimConfig",
    "SimMarket",
    "UnknownInstrument",
    "book_levels_for",
    "default_sim_config",
    "edge_summary",
    "match_ioc",
    "structure_sim_config",
]
