"""Reconciliation, pure: what the positions say each venue should hold, against what it does.

:func:`expected_holdings` sums, per (venue, symbol), the signed base quantity every position
holds there (long legs +, short legs −); :func:`position_mismatches` compares that with the
positions one venue reports and returns one :class:`Mismatch` per symbol where they differ
(a symbol the venue holds that no position explains is a mismatch too). The runtime's
reconciler (``arbtrio.runtime.reconcile``) fetches, calls these and blocks opening while any
mismatch stands.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from arbtrio.core.position import Position
from arbtrio.core.types import VenuePosition

__all__ = ["Mismatch", "expected_holdings", "position_mismatches"]

_ZERO = Decimal(0)


@attrs.frozen
class Mismatch:
    """One venue symbol whose reported position differs from the journal's."""

    venue: str
    symbol: str
    journal: Decimal  # what the positions hold there (signed base units)
    venue_qty: Decimal  # what the venue reports

    @property
    def key(self) -> str:
        return f"position:{self.venue}:{self.symbol}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "position_mismatch",
            "venue": self.venue,
            "symbol": self.symbol,
            "journal": str(self.journal),
            "venue_qty": str(self.venue_qty),
        }


def expected_holdings(positions: Iterable[Position]) -> dict[tuple[str, str], Decimal]:
    """(venue, symbol) → Σ signed base quantity the positions hold there."""
    expected: dict[tuple[str, str], Decimal] = {}
    for pos in positions:
        for inst, held in ((pos.spec.long, pos.held("long")), (pos.spec.short, -pos.held("short"))):
            key = (inst.venue, inst.symbol)
            expected[key] = expected.get(key, _ZERO) + held
    return expected


def position_mismatches(
    venue: str,
    expected: Mapping[tuple[str, str], Decimal],
    reported: Iterable[VenuePosition],
) -> list[Mismatch]:
    """Every symbol of ``venue`` where ``reported`` differs from ``expected``, sorted."""
    actual = {p.symbol: p.qty for p in reported if p.venue == venue}
    symbols = {s for (v, s) in expected if v == venue} | set(actual)
    out = []
    for symbol in sorted(symbols):
        want = expected.get((venue, symbol), _ZERO)
        have = actual.get(symbol, _ZERO)
        if want != have:
            out.append(Mismatch(venue, symbol, want, have))
    return out
