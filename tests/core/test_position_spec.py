"""specs/001-position-fsm.md and arbtrio/core/position.py hold the same two tables."""

from __future__ import annotations

from pathlib import Path

from arbtrio.core import events
from arbtrio.core.position import (
    DERIVED,
    TERMINAL_STATES,
    TRANSITIONS,
    Condition,
    PositionState,
)

SPEC = Path(__file__).resolve().parents[2] / "specs" / "001-position-fsm.md"


def _matrix(marker: str) -> dict[tuple[str, str], str]:
    """The markdown table between ``<!-- marker:begin -->`` and ``<!-- marker:end -->``, as
    ``{(row label, column label): cell}`` without the ``—`` (illegal) cells."""
    text = SPEC.read_text(encoding="utf-8")
    start = text.index(f"<!-- {marker}:begin -->")
    end = text.index(f"<!-- {marker}:end -->")
    lines = [line.strip() for line in text[start:end].splitlines()[1:] if line.strip()]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    header, separator, body = rows[0], rows[1], rows[2:]
    assert all(set(cell) <= {"-", ":"} for cell in separator), separator
    cells: dict[tuple[str, str], str] = {}
    for row in body:
        assert len(row) == len(header), row
        for column, cell in zip(header[1:], row[1:], strict=True):
            if cell != "—":
                cells[(row[0], column)] = cell
    return cells


def test_the_spec_event_table_is_transitions() -> None:
    parsed = {
        (PositionState[state], getattr(events, event)): PositionState[to]
        for (event, state), to in _matrix("transitions").items()
    }
    assert parsed == dict(TRANSITIONS)


def test_the_spec_derived_table_is_derived() -> None:
    parsed = {
        (PositionState[state], Condition[condition]): PositionState[to]
        for (condition, state), to in _matrix("derived").items()
    }
    assert parsed == dict(DERIVED)


def test_the_spec_lists_every_state_and_every_event_kind() -> None:
    table = _matrix("transitions")
    assert {state for _, state in table} == {s.name for s in PositionState}
    event_kinds = {t.__name__ for t in events.Event.__args__}  # type: ignore[attr-defined]
    assert {event for event, _ in table} == event_kinds


def test_terminal_states_absorb_in_both_tables() -> None:
    for (state, _), to in TRANSITIONS.items():
        if state in TERMINAL_STATES:
            assert to is state
    assert not any(state in TERMINAL_STATES for state, _ in DERIVED)


def test_the_derived_graph_is_acyclic() -> None:
    edges = {(s, t) for (s, _), t in DERIVED.items() if s is not t}
    order: list[PositionState] = []
    remaining = set(PositionState)
    while remaining:
        sources = {s for s in remaining if not any(t == s and f in remaining for f, t in edges)}
        assert sources, f"cycle among {remaining}"
        order.extend(sorted(sources, key=lambda s: s.value))
        remaining -= sources
