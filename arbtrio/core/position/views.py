"""What a position shows: its snapshot, JSON-able (Decimals as plain strings).

The snapshot is what the runtime journals and the admin views serve, and what replay tests
compare: its shape is a contract. This module reads the machine's state and never changes it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from arbtrio.core.instruments import format_decimal
from arbtrio.core.position.pricing import entry_side
from arbtrio.core.position.tables import LEGS
from arbtrio.core.types import Fill

if TYPE_CHECKING:
    from arbtrio.core.position.machine import Position

_ZERO = Decimal(0)


def snapshot(position: Position) -> dict[str, Any]:
    """Everything ``position`` knows: spec, state, each leg's orders and fills, PnL, budgets
    used, quotes, anomalies and history."""
    p = position
    spec = p.spec
    legs = []
    for leg in LEGS:
        inst = spec.instrument(leg)
        entry = entry_side(leg)
        leg_fills = [f for f in p._fills if f.venue == inst.venue]
        opened = [f for f in leg_fills if f.side is entry]
        opened_qty = sum((f.qty for f in opened), _ZERO)
        avg = (
            format_decimal(sum((f.qty * f.price for f in opened), _ZERO) / opened_qty)
            if opened_qty
            else None
        )
        leg_orders = [o for o in p._orders.values() if o.leg == leg]
        legs.append(
            {
                "leg": leg,
                "venue": inst.venue,
                "symbol": inst.symbol,
                "quote": inst.quote,
                "side": entry.value,
                "qty": format_decimal(spec.qty),
                "filled": format_decimal(p.held(leg)),
                "avg_price": avg,
                "status": leg_orders[-1].status.value if leg_orders else "idle",
                "next_attempt": p._legs[leg].next_attempt,
                "closes": p._legs[leg].closes,
                "retries": p._legs[leg].retries,
                "retry_at": p._legs[leg].retry_at,
                "pnl": format_decimal(p._leg_pnl(leg)),
                "funding": format_decimal(p._funding[leg]),
                "orders": [o.to_json() for o in leg_orders],
                "fills": [fill_json(f) for f in leg_fills],
            }
        )
    return {
        "id": spec.position_id,
        "asset": spec.asset,
        "long_venue": spec.long.venue,
        "short_venue": spec.short.venue,
        "qty": format_decimal(spec.qty),
        "created_ts": spec.created_ts,
        "last_ts": p._last_ts,
        "state": p.state.value,
        "net_exposure": format_decimal(p.net_exposure()),
        "legs": legs,
        "realized_pnl": format_decimal(p.realized_pnl()),
        "pnl_by_currency": {k: format_decimal(v) for k, v in p.pnl_by_currency().items()},
        "fees": format_decimal(p.fees()),
        "fees_by_currency": {k: format_decimal(v) for k, v in p.fees_by_currency().items()},
        "funding": format_decimal(p.funding()),
        "chases": p._chases,
        "first_chase_ts": p._first_chase_ts,
        "reverses": p._reverses,
        "quotes": {
            venue: {"bid": format_decimal(q.bid), "ask": format_decimal(q.ask)}
            for venue, q in sorted(p._quotes.items())
        },
        "anomalies": list(p._anomalies),
        "history": [t.to_json() for t in p.history],
    }


def fill_json(fill: Fill) -> dict[str, Any]:
    return {
        "trade_id": fill.trade_id,
        "client_order_id": fill.client_order_id,
        "side": fill.side.value,
        "qty": format_decimal(fill.qty),
        "price": format_decimal(fill.price),
        "fee": format_decimal(fill.fee),
        "ts": fill.ts,
    }
