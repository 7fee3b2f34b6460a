"""specs/001-position-fsm.md and arbtrio/core/position/ hold the same three tables."""

from __future__ import annotations

import re
from pathlib import Path

from arbtrio.core import events
from arbtrio.core.position import (
    DERIVED,
    ORDER_TRANSITIONS,
    REPEAT,
    TERMINAL_STATES,
    TRANSITIONS,
    Condition,
    Impossible,
    OrderEventKind,
    OrderState,
    PositionState,
    When,
)
from arbtrio.core.position.orders import Entry

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


REBALANCE = (PositionState.HEDGED, Condition.IMBALANCED)


def test_the_derived_graph_is_acyclic_but_for_the_rebalance_edge() -> None:
    """The fixed point ends: the derived graph has no cycle once the rebalance edge (HEDGED,
    IMBALANCED) → UNWINDING is set aside, and that edge cannot close a loop within one pass:
    the way back, (UNWINDING, BALANCED) → HEDGED, needs the opposite condition, and between
    the two the act step either sends an order (live: the fixed point stops) or cannot, which
    leaves the imbalance as it was (→ FAULTED)."""
    assert DERIVED[REBALANCE] is PositionState.UNWINDING
    assert DERIVED[(PositionState.UNWINDING, Condition.IMBALANCED)] is PositionState.FAULTED
    edges = {(s, t) for (s, c), t in DERIVED.items() if s is not t and (s, c) != REBALANCE}
    order: list[PositionState] = []
    remaining = set(PositionState)
    while remaining:
        sources = {s for s in remaining if not any(t == s and f in remaining for f, t in edges)}
        assert sources, f"cycle among {remaining}"
        order.extend(sorted(sources, key=lambda s: s.value))
        remaining -= sources


# -- the order table -------------------------------------------------------------------------
def _cell(entry: Entry) -> str:
    """How the spec writes an order-table cell: a state's name, ``=`` (repeat), ``✗ name``
    (impossible), a guard's name in backticks, or ``X if `check` else Y``."""
    if isinstance(entry, OrderState):
        return entry.name
    if entry is REPEAT:
        return "="
    if isinstance(entry, Impossible):
        return f"✗ {entry.name}"
    if isinstance(entry, When):
        check = entry.check.__name__
        return f"{_cell(entry.then)} if `{check}` else {_cell(entry.otherwise)}"
    return f"`{entry.__name__}`"


def test_the_spec_order_table_is_order_transitions() -> None:
    parsed = {
        (OrderState[state], OrderEventKind[kind]): cell
        for (kind, state), cell in _matrix("orders").items()
    }
    assert parsed == {key: _cell(entry) for key, entry in ORDER_TRANSITIONS.items()}


def test_the_spec_order_table_lists_every_order_state_and_kind_in_order() -> None:
    text = SPEC.read_text(encoding="utf-8")
    block = text[text.index("<!-- orders:begin -->") : text.index("<!-- orders:end -->")]
    rows = [line.strip("|").split("|") for line in block.splitlines()[1:] if line.strip()]
    assert [c.strip() for c in rows[0][1:]] == [s.name for s in OrderState]
    assert [r[0].strip() for r in rows[2:]] == [k.name for k in OrderEventKind]


def test_the_spec_explains_every_guard_and_lists_every_kind() -> None:
    text = SPEC.read_text(encoding="utf-8")
    names = {_cell(e).strip("`") for e in ORDER_TRANSITIONS.values() if not isinstance(e, When)} | {
        e.check.__name__ for e in ORDER_TRANSITIONS.values() if isinstance(e, When)
    }
    guards = {n for n in names if re.fullmatch(r"[a-z_]+", n)}
    assert guards, names
    for guard in guards:
        assert f"- `{guard}`:" in text, f"the spec does not explain guard {guard}"
    for kind in OrderEventKind:
        assert f"| {kind.name} | " in text.split("<!-- orders:begin -->")[0], kind
