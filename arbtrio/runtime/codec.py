"""Exact JSON serialisation of the position machine's events, commands and specs.

One cattrs converter for persistence (the journal) and the admin socket: ``Decimal`` travels
as its string (never a float), enums as their values, attrs classes as dicts. Events and
commands are stored with their class name so :func:`decode_event` / :func:`decode_command`
rebuild the exact object: ``decode_event(*encode_event(e)) == e`` for every event.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import cattrs

from arbtrio.core import events as ev

converter = cattrs.Converter()
converter.register_unstructure_hook(Decimal, str)
converter.register_structure_hook(Decimal, lambda value, _: Decimal(str(value)))

EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        ev.Open,
        ev.LegAcked,
        ev.LegFilled,
        ev.LegRejected,
        ev.LegExpired,
        ev.LegOutcomeUnknown,
        ev.OutcomeResolved,
        ev.Tick,
        ev.ExitSignal,
        ev.OperatorFlatten,
        ev.Kill,
        ev.FundingPaid,
    )
}
COMMAND_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (ev.PlaceOrder, ev.CancelOrder, ev.QueryOrder, ev.Alert)
}


def encode(obj: Any) -> dict[str, Any]:
    """An attrs object as a JSON-able dict (Decimals as strings)."""
    data = converter.unstructure(obj)
    assert isinstance(data, dict)
    return data


def encode_event(event: ev.Event) -> tuple[str, dict[str, Any]]:
    return type(event).__name__, encode(event)


def decode_event(type_name: str, body: dict[str, Any]) -> ev.Event:
    try:
        cls = EVENT_TYPES[type_name]
    except KeyError:
        raise ValueError(f"unknown event type {type_name!r}") from None
    event: ev.Event = converter.structure(body, cls)
    return event


def encode_command(command: ev.Command) -> tuple[str, dict[str, Any]]:
    return type(command).__name__, encode(command)


def decode_command(type_name: str, body: dict[str, Any]) -> ev.Command:
    try:
        cls = COMMAND_TYPES[type_name]
    except KeyError:
        raise ValueError(f"unknown command type {type_name!r}") from None
    command: ev.Command = converter.structure(body, cls)
    return command


def command_client_order_id(command: ev.Command) -> str | None:
    """The client order id a command concerns (None for alerts)."""
    if isinstance(command, ev.PlaceOrder):
        return command.request.client_order_id
    if isinstance(command, ev.CancelOrder | ev.QueryOrder):
        return command.client_order_id
    return None


def event_client_order_id(event: ev.Event) -> str | None:
    cid = getattr(event, "client_order_id", None)
    return cid if isinstance(cid, str) else None


def dumps(data: Any) -> str:
    """Compact JSON; anything not JSON-native (Decimal, enum) is written as its string."""
    return json.dumps(data, separators=(",", ":"), default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    enum_value = getattr(value, "value", None)
    if enum_value is not None:
        return enum_value
    return str(value)
