"""What :meth:`Position.handle` raises. Every one leaves the position exactly as it was."""

from __future__ import annotations


class PositionError(Exception):
    """An event the position refuses; the position is exactly as it was before the call."""


class UnknownOrder(PositionError):
    """The event names a client order id this position never sent."""


class IllegalTransition(PositionError):
    """``(state, event type)`` is not a row of :data:`TRANSITIONS`."""


class InvalidEvent(PositionError):
    """A malformed event (the message names the field)."""


class VenueProtocolError(PositionError):
    """A venue report that cannot be true, received by a position that can no longer fault."""
