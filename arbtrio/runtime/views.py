"""Read-only views of a running service: admin ``status``, ``positions``, ``position``,
``books`` (spec 005) and the one-line status. They read the owners' state between awaits
and change nothing."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs
import trio

from arbtrio.core.instruments import format_decimal
from arbtrio.core.position import Position, PositionState

if TYPE_CHECKING:
    from arbtrio.runtime.actor import PositionActor
    from arbtrio.runtime.service import Runtime

__all__ = ["books_view", "position_row", "position_view", "status", "status_line", "venue_view"]

S = PositionState


def position_view(rt: Runtime, pos: Position, *, archived: bool = False) -> dict[str, Any]:
    """One position in full (admin ``position``): legs, orders, fills, history, PnL."""
    snap = pos.snapshot()
    snap["state"] = pos.state.name
    snap["realized_pnl"] = format_decimal(pos.realized_pnl(rt.quote_rates))
    snap["archived"] = archived
    for t in snap["history"]:
        t["from"] = t["from"].upper()
        t["to"] = t["to"].upper()
    return snap


def position_row(rt: Runtime, actor: PositionActor) -> dict[str, Any]:
    """One row of admin ``positions``."""
    pos = actor.position
    spec = pos.spec
    legs = []
    for leg, inst in (("long", spec.long), ("short", spec.short)):
        leg_orders = [o for o in pos.orders() if o.leg == leg]
        legs.append(
            {
                "leg": leg,
                "venue": inst.venue,
                "side": "buy" if leg == "long" else "sell",
                "qty": format_decimal(spec.qty),
                "filled": format_decimal(pos.held(leg)),  # type: ignore[arg-type]
                "status": leg_orders[-1].status.value if leg_orders else "idle",
            }
        )
    return {
        "id": spec.position_id,
        "asset": spec.asset,
        "state": pos.state.name,
        "long_venue": spec.long.venue,
        "short_venue": spec.short.venue,
        "qty": format_decimal(spec.qty),
        "net_exposure": format_decimal(pos.net_exposure()),
        "realized_pnl": format_decimal(pos.realized_pnl(rt.quote_rates)),
        "fees": format_decimal(pos.fees()),
        "funding": format_decimal(pos.funding()),
        "age_s": round(max(0.0, trio.current_time() - spec.created_ts), 3),
        "live_orders": len(pos.live_orders()),
        "legs": legs,
    }


def venue_view(rt: Runtime, venue: str, now: float) -> dict[str, Any]:
    """One venue in admin ``status``: supervision, books, feed health."""
    state = rt.venues.venues[venue]
    client = rt.clients[venue]
    ages = [now - b.last_update_ts for b in client.books.values() if b.updates]
    return {
        "up": rt.venues.venue_up(venue),
        "down": state.down,
        "tasks": dict(state.running),
        "failures": dict(state.failures),
        "restarts": state.restarts,
        "last_error": state.last_error,
        "books": len(client.books),
        "books_tradable": sum(1 for b in client.books.values() if b.tradable),
        "book_age_s": None if not ages else round(max(ages), 3),
        "health": client.health.snapshot(now),
    }


def status(rt: Runtime) -> dict[str, Any]:
    """Admin ``status``."""
    now = trio.current_time()
    positions = rt.positions
    return {
        "mode": rt.config.service.mode,
        "run_id": rt.run_id,
        "uptime_s": round(now - rt.started_at, 3),
        "paused": rt.gate.paused,
        "breaker": rt.gate.breaker_tripped,
        "stopping": rt.lifecycle.stopping,
        "reconciling": rt.reconciler.reconciling,
        "mismatches": list(rt.reconciler.mismatches.values()),
        "drifts": list(rt.reconciler.drifts.values()),
        "venues": {v: venue_view(rt, v, now) for v in sorted(rt.clients)},
        "positions": dict(positions.positions_by_state()),
        "positions_in_memory": len(positions.actors),
        "positions_archived": positions.archived,
        "realized_pnl": format_decimal(positions.realized_pnl()),
        "fees": format_decimal(positions.fees()),
        "funding_settlements": dict(rt.funding.settlements),
        "opportunities_seen": rt.strategy.episodes.seen,
        "opportunities_taken": rt.strategy.episodes.taken,
        "opened": positions.opened,
        "rejections": dict(rt.strategy.episodes.rejected),
        "router": attrs.asdict(rt.router.stats),
        "journal": attrs.asdict(rt.journal.statistics()),
        "watchers": rt.hub.subscribers,
    }


def books_view(rt: Runtime) -> list[dict[str, Any]]:
    """Admin ``books``: best bid and ask of every book, its age and health."""
    now = trio.current_time()
    rows = []
    for venue, symbol, book in rt.market.symbols():
        bid, ask = book.best_bid(), book.best_ask()
        rows.append(
            {
                "venue": venue,
                "symbol": symbol,
                "asset": rt.venues.symbol_asset.get((venue, symbol)),
                "bid": None if bid is None else repr(bid[0]),
                "bid_size": None if bid is None else repr(bid[1]),
                "ask": None if ask is None else repr(ask[0]),
                "ask_size": None if ask is None else repr(ask[1]),
                "tradable": book.tradable,
                "reason": book.invalid_reason,
                "age_s": round(now - book.last_update_ts, 3) if book.updates else None,
                "seq": book.seq,
                "updates": book.updates,
            }
        )
    return rows


def status_line(rt: Runtime) -> str:
    """One compact line: positions by state, PnL, opportunities, venue health."""
    positions = rt.positions
    by_state = positions.positions_by_state()
    states = " ".join(
        f"{s.name.lower()} {by_state.get(s.name, 0)}"
        for s in (S.OPENING, S.HEDGED, S.UNWINDING, S.CLOSING, S.SETTLED, S.FAULTED)
    )
    down = [v for v in sorted(rt.clients) if not rt.venues.venue_up(v)]
    venues = f"venues {len(rt.clients) - len(down)}/{len(rt.clients)} up" + (
        f" (down: {', '.join(down)})" if down else ""
    )
    flags = []
    if rt.gate.paused:
        flags.append("PAUSED")
    if rt.gate.breaker_tripped:
        flags.append("BREAKER")
    if rt.reconciler.reconciling:
        flags.append("RECONCILING")
    if rt.lifecycle.stopping:
        flags.append("STOPPING")
    pnl = positions.realized_pnl()
    elapsed = trio.current_time() - rt.started_at
    return (
        f"[{_hms(elapsed)}] {states} | pnl {pnl:+.2f} fees {positions.fees():.2f} | "
        f"opps {rt.strategy.episodes.seen} opened {positions.opened} | {venues}"
        + (f" | {' '.join(flags)}" if flags else "")
    )


def _hms(seconds: float) -> str:
    seconds = max(0, int(seconds)) if math.isfinite(seconds) else 0
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"
