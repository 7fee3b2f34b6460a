"""The opening rules: which detected pair (if any) to trade now, and why not (pure).

The detector finds *candidates* (one asset, a long venue and a short venue, with an edge over
the threshold, best first); the risk gate checks limits. Between them sit the rules that
depend on what is already open, and they live here, as functions of plain values:

* **Asset blocks** (:func:`asset_block`) stop every opening on an asset: ``stopping`` (the
  service is shutting down), ``reconciling`` (a venue position mismatch stands on the asset,
  and no operator override), ``asset_busy`` (a position of the asset is still IDLE, OPENING
  or UNWINDING: its fills are not in the books yet, so the books overstate the edge).
* **Pair blocks** (:func:`pair_block`) stop one pair: ``reconciling`` (one of its venues
  has not been reconciled since the start); ``opposite_leg_open`` (a venue nets an
  account per symbol, so a long leg where another position is short, or the reverse, would
  cancel out at the venue and make both positions' reduce-only closes fail);
  ``book_not_refreshed`` (our own last fills on one of its venues are not in that venue's
  book yet).
* :func:`choose` picks the first candidate (best edge first) no block applies to.
* :class:`Episodes` counts *opportunity episodes*: one (asset, long venue, short venue) pair
  showing edge; an episode ends after ``gap_s`` without showing, so a pair flickering around
  the threshold counts once, and a rejection reason is counted once per episode. ``taken``
  counts the episodes that opened at least one position (never more than ``seen``).

The runtime's strategy task only waits for book changes and applies what these return.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Final, Generic, Protocol, TypeVar

import attrs

from arbtrio.core.position import PositionState

__all__ = [
    "BUSY_STATES",
    "EPISODE_GAP_S",
    "Choice",
    "Episodes",
    "OpenPair",
    "Pair",
    "asset_block",
    "choose",
    "pair_block",
]

EPISODE_GAP_S: Final = 5.0
BUSY_STATES: Final = frozenset({PositionState.IDLE, PositionState.OPENING, PositionState.UNWINDING})


class _Venue(Protocol):
    @property
    def venue(self) -> str: ...


class Pair(Protocol):
    """What the rules read of a detected candidate (:class:`~arbtrio.core.detector.Candidate`)."""

    @property
    def asset(self) -> str: ...

    @property
    def long(self) -> _Venue: ...

    @property
    def short(self) -> _Venue: ...


P = TypeVar("P", bound=Pair)


@attrs.frozen
class OpenPair:
    """What the rules need of one position that is not SETTLED."""

    asset: str
    long_venue: str
    short_venue: str
    state: PositionState


@attrs.frozen
class Choice(Generic[P]):
    """The decision on one asset's candidates: ``pair`` to trade, or why not.

    When nothing may be traded, ``reason`` names the block and ``shown`` is the candidate it
    is about (the best one's).
    """

    pair: P | None
    reason: str | None
    shown: P


def asset_block(
    asset: str, open_pairs: Iterable[OpenPair], *, stopping: bool, reconciling: bool = False
) -> str | None:
    """Why nothing may open on ``asset`` now (before the risk gate), or None.

    ``reconciling``: a venue position mismatch stands on the asset."""
    if stopping:
        return "stopping"
    if reconciling:
        return "reconciling"
    for pos in open_pairs:
        if pos.asset == asset and pos.state in BUSY_STATES:
            return "asset_busy"
    return None


def pair_block(
    pair: Pair,
    open_pairs: Iterable[OpenPair],
    unrefreshed: Iterable[str],
    unreconciled: Iterable[str] = (),
) -> str | None:
    """Why ``pair`` may not be traded now, or None.

    ``unrefreshed``: the venues whose book of the asset does not show our last fills yet;
    ``unreconciled``: the venues not reconciled since the start.
    """
    long_venue, short_venue = pair.long.venue, pair.short.venue
    pending = set(unreconciled)
    if long_venue in pending or short_venue in pending:
        return "reconciling"
    for pos in open_pairs:
        if pos.asset != pair.asset or pos.state is PositionState.SETTLED:
            continue
        if pos.short_venue == long_venue or pos.long_venue == short_venue:
            return "opposite_leg_open"
    stale = set(unrefreshed)
    if long_venue in stale or short_venue in stale:
        return "book_not_refreshed"
    return None


def choose(
    asset: str,
    candidates: Sequence[P],
    open_pairs: Sequence[OpenPair],
    *,
    stopping: bool,
    reconciling: bool = False,
    unrefreshed: Iterable[str] = (),
    unreconciled: Iterable[str] = (),
) -> Choice[P]:
    """The first candidate (best first) that no asset or pair block applies to.

    ``reconciling``: a venue position mismatch stands on ``asset``; ``unreconciled``: venues
    not reconciled since the start. ``candidates`` must not be empty."""
    best = candidates[0]
    reason = asset_block(asset, open_pairs, stopping=stopping, reconciling=reconciling)
    if reason is not None:
        return Choice(None, reason, best)
    stale, pending = tuple(unrefreshed), tuple(unreconciled)
    for candidate in candidates:
        block = pair_block(candidate, open_pairs, stale, pending)
        if block is None:
            return Choice(candidate, None, candidate)
    return Choice(None, pair_block(best, open_pairs, stale, pending), best)


class Episodes:
    """Opportunity episodes per (asset, long venue, short venue) (see the module docstring).

    ``seen`` counts episodes begun; ``taken`` the episodes that opened at least one position
    (each counted once, so ``taken <= seen`` always); ``rejected`` counts each reason once per
    episode.
    """

    def __init__(self, gap_s: float = EPISODE_GAP_S) -> None:
        self.gap_s = gap_s
        self.seen = 0
        self.taken = 0
        self.rejected: Counter[str] = Counter()
        self._last: dict[tuple[str, str, str], float] = {}
        self._reason: dict[tuple[str, str, str], str] = {}
        self._taken: set[tuple[str, str, str]] = set()

    def observe(self, candidates: Iterable[Pair], now: float) -> None:
        """Every candidate shown now continues (or begins) its episode."""
        for pair in candidates:
            key = (pair.asset, pair.long.venue, pair.short.venue)
            last = self._last.get(key)
            if last is None or now - last > self.gap_s:
                self.seen += 1
                self._reason.pop(key, None)
                self._taken.discard(key)
            self._last[key] = now

    def take(self, pair: Pair) -> bool:
        """A position opens on ``pair``'s episode; True (and counted) the first time in it.

        A pair never observed (no episode) counts nothing, so ``taken`` never exceeds ``seen``.
        """
        key = (pair.asset, pair.long.venue, pair.short.venue)
        if key in self._taken or key not in self._last:
            return False
        self._taken.add(key)
        self.taken += 1
        return True

    def reject(self, pair: Pair, reason: str) -> bool:
        """Count ``reason`` for ``pair``'s episode; True the first time in this episode."""
        key = (pair.asset, pair.long.venue, pair.short.venue)
        if self._reason.get(key) == reason:
            return False
        self._reason[key] = reason
        self.rejected[reason] += 1
        return True

    def count(self, reason: str) -> None:
        """Count a rejection that belongs to no episode (e.g. an invalid position spec)."""
        self.rejected[reason] += 1
