"""Field checks on events: each raises :class:`InvalidEvent` naming the field, or returns."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from arbtrio.core.events import Quote
from arbtrio.core.position.errors import InvalidEvent
from arbtrio.core.types import Fill, OrderReport

if TYPE_CHECKING:
    from arbtrio.core.position.orders import Order


def positive(value: Decimal, field: str) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise InvalidEvent(f"{field} must be a finite Decimal > 0, got {value!r}")


def finite(value: Decimal, field: str) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidEvent(f"{field} must be a finite Decimal, got {value!r}")


def validate_ts(ts: float) -> None:
    if not isinstance(ts, int | float) or ts != ts or ts in (float("inf"), float("-inf")):
        raise InvalidEvent(f"ts must be a finite number, got {ts!r}")


def validate_quotes(quotes: Mapping[str, Quote]) -> None:
    for venue, quote in quotes.items():
        positive(quote.bid, f"quotes[{venue!r}].bid")
        positive(quote.ask, f"quotes[{venue!r}].ask")


def validate_fill(fill: Fill, order: Order, where: str) -> None:
    """``fill`` is one of ``order``'s, with a trade id, quantity and price > 0 and finite fee and
    time (``where`` names it in the message)."""
    if fill.client_order_id != order.client_order_id or fill.venue != order.venue:
        raise InvalidEvent(
            f"{where}: fill {fill.trade_id!r} belongs to {fill.venue}:{fill.client_order_id}, "
            f"not {order.venue}:{order.client_order_id}"
        )
    if not fill.trade_id:
        raise InvalidEvent(f"{where}.trade_id must not be empty")
    positive(fill.qty, f"{where}.qty")
    positive(fill.price, f"{where}.price")
    finite(fill.fee, f"{where}.fee")
    validate_ts(fill.ts)


def validate_report(report: OrderReport, order: Order) -> None:
    """``report`` is about ``order``, with a cumulative fill >= 0 and well-formed fills."""
    if report.client_order_id != order.client_order_id or report.venue != order.venue:
        raise InvalidEvent(
            f"OutcomeResolved.report is about {report.venue}:{report.client_order_id}, "
            f"not {order.venue}:{order.client_order_id}"
        )
    if not isinstance(report.filled_qty, Decimal) or not report.filled_qty.is_finite():
        raise InvalidEvent(f"OutcomeResolved.report.filled_qty must be a Decimal, got {report!r}")
    if report.filled_qty < 0:
        raise InvalidEvent(f"OutcomeResolved.report.filled_qty must be >= 0: {report.filled_qty}")
    for i, fill in enumerate(report.fills):
        validate_fill(fill, order, f"OutcomeResolved.report.fills[{i}]")
