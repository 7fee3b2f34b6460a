"""Diff two price ladders into the changed levels a venue's delta message carries.

Emulators publish a book as snapshot + deltas: after each market tick they diff the ladder
they last sent against the new one and send only what changed, with absolute sizes (size 0
removes a level), the way every venue here encodes deltas.

Pure, generic over the price/size types (Decimal in the emulators).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any, TypeVar

P = TypeVar("P", bound=Hashable)
S = TypeVar("S")

__all__ = ["diff_ladder"]


def diff_ladder(
    old: Iterable[tuple[P, S]], new: Sequence[tuple[P, S]], zero: Any = 0
) -> list[tuple[P, S]]:
    """Levels that turn ladder ``old`` into ladder ``new`` (one side of one book).

    Returns removed levels first, as ``(price, zero)`` in ``old``'s order, then new or resized
    levels as ``(price, new_size)`` in ``new``'s order. Removals first means a consumer that
    applies changes one at a time (KuCoin sends one change per message) never sees a level
    that both ladders agree is gone cross the other side. Unchanged levels are omitted, so
    equal ladders give ``[]``. Prices within one ladder must be distinct.
    """
    before = dict(old)
    after = dict(new)
    if len(after) != len(new):
        raise ValueError("ladder has duplicate prices")
    removed = [(price, zero) for price in before if price not in after]
    changed = [(price, size) for price, size in new if before.get(price) != size]
    return removed + changed
