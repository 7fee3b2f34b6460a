"""Rebuilding a position from its journaled events."""

from __future__ import annotations

from collections.abc import Iterable

from arbtrio.core.events import Event
from arbtrio.core.position.errors import PositionError
from arbtrio.core.position.machine import Position
from arbtrio.core.position.policy import PositionSpec


def replay(spec: PositionSpec, events: Iterable[Event]) -> Position:
    """A fresh position fed ``events`` in order (how the runtime rebuilds from its journal).

    Events the position refused when they were journaled are refused again and skipped.
    """
    position = Position(spec)
    for event in events:
        try:
            position.handle(event)
        except PositionError:
            continue
    return position
