"""Running the whole service against the simulated market (``arbtrio sim``, tests).

One :class:`~arbtrio.sim.market.SimMarket` and one :class:`~arbtrio.sim.driver.MarketDriver`
per process; each enabled venue is served either in-process (:class:`SimVenueClient`) or, with
``wire=True``, by its emulator (:mod:`arbtrio.emulators`) on loopback with the venue package's
real ``create_client`` connected to it (a venue whose package is missing or incomplete falls
back to in-process, with a log line).

:func:`summarize` turns a finished run into the summary ``arbtrio sim`` prints (its shape:
specs/002-simulator.md § 9): opportunities seen, taken and rejected by reason; positions by
final state; realised PnL and fees; the edge captured against the zero-latency oracle's
(:class:`~arbtrio.sim.summary.EdgeOracle`, fed by a task woken on every market step); the
risk and execution metrics the runtime recorded (:class:`~arbtrio.runtime.metrics.RunMetrics`)
and what the market recorded (funding, margin, outages). :func:`format_summary` prints it.
"""

from __future__ import annotations

import importlib
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import structlog
import trio

from arbtrio.config import Config
from arbtrio.core.instruments import format_decimal
from arbtrio.core.position import PositionState
from arbtrio.emulators import ApiKeys, emulator_class
from arbtrio.runtime.funding import SAME_TS_S, FundingSettlement, FundingSource
from arbtrio.runtime.logs import redactor
from arbtrio.runtime.service import Runtime
from arbtrio.sim.client import SimVenueClient
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.market import SimMarket
from arbtrio.sim.summary import EdgeOracle, attribute, edge_summary, percentile
from arbtrio.venues.base import Credentials, VenueClient

log = structlog.get_logger("arbtrio.sim")


@attrs.define(eq=False)
class SimWorld:
    """The shared simulated market, its driver, and the venue clients connected to it."""

    market: SimMarket
    driver: MarketDriver
    clients: dict[str, VenueClient] = attrs.Factory(dict)
    wired: list[str] = attrs.Factory(list)
    oracle: EdgeOracle | None = None  # the yardstick, fed every market step
    observing: bool = False


def new_world(config: Config) -> SimWorld:
    market = SimMarket(config.sim)
    oracle = EdgeOracle(float(config.detector.target_notional))
    return SimWorld(market=market, driver=MarketDriver(market), oracle=oracle)


async def observe_edge(world: SimWorld) -> None:
    """Feed the oracle every market step (until cancelled)."""
    if world.oracle is None or world.observing:
        return
    world.observing = True
    try:
        oracle = world.oracle
        while True:
            await world.driver.wait_tick()
            oracle.observe(world.market)
    finally:
        world.observing = False


def in_process_clients(world: SimWorld, venues: list[str]) -> dict[str, VenueClient]:
    return {v: SimVenueClient(world.market, world.driver, v) for v in venues}


async def start_wire_clients(
    nursery: trio.Nursery, world: SimWorld, venues: list[str], symbols: dict[str, list[str]]
) -> dict[str, VenueClient]:
    """Serve each venue's emulator on loopback and connect its real client to it."""
    clients: dict[str, VenueClient] = {}
    for venue in venues:
        try:
            create = importlib.import_module(f"arbtrio.venues.{venue}").create_client
            emulator_cls = emulator_class(venue)
        except (ImportError, AttributeError, KeyError) as exc:
            log.warning("sim.wire_unavailable", venue=venue, error=str(exc), fallback="in-process")
            clients[venue] = SimVenueClient(world.market, world.driver, venue)
            continue
        credentials = _emulator_credentials(venue)
        redactor.register(credentials.secrets())
        emulator = emulator_cls(world.market, world.driver, emulator_keys(credentials))
        endpoints = await nursery.start(emulator.serve)
        clients[venue] = create(
            rest_url=endpoints.rest_url,
            ws_url=endpoints.ws_url,
            credentials=credentials,
            symbols_hint=symbols.get(venue, ()),
        )
        world.wired.append(venue)
        log.info(
            "sim.wire_emulator", venue=venue, rest_url=endpoints.rest_url, ws_url=endpoints.ws_url
        )
    return clients


def sim_funding_source(world: SimWorld) -> FundingSource:
    """Funding settlements as the simulated venues booked them (rate and mark price).

    This is what a venue's funding-history endpoint reports; the venue interface has no such
    call yet, so in simulation the runtime reads the market's settlement records directly.
    Waits for the market step that settles ``ts``; None when the venue booked nothing for the
    symbol then (its account was flat).
    """

    async def settlement(venue: str, symbol: str, ts: float) -> FundingSettlement | None:
        market = world.market
        while True:
            for payment in reversed(market.funding_payments(venue)):
                if payment.ts < ts - SAME_TS_S:
                    break
                if payment.symbol == symbol and abs(payment.ts - ts) <= SAME_TS_S:
                    return FundingSettlement(
                        venue=venue,
                        symbol=symbol,
                        ts=payment.ts,
                        rate=payment.rate,
                        mark_price=payment.mark_price,
                        source="venue",
                    )
            if market.step_time >= ts - 1e-9:  # the step that settles ts is done
                return None  # settled with nothing to pay
            await world.driver.wait_tick()

    return settlement


def emulator_keys(credentials: Credentials) -> ApiKeys:
    """The same secrets, as the emulator holds them."""
    return ApiKeys(
        api_key=credentials.api_key,
        api_secret=credentials.api_secret,
        passphrase=credentials.passphrase,
        private_key=credentials.private_key,
        account_address=credentials.account_address,
    )


def _emulator_credentials(venue: str) -> Credentials:
    """Throwaway loopback credentials (the emulator verifies signatures with them)."""
    if venue == "hyperliquid":
        return Credentials(
            private_key="0x" + secrets.token_hex(32),
            account_address="0x" + secrets.token_hex(20),
        )
    return Credentials(
        api_key=secrets.token_hex(12),
        api_secret=secrets.token_hex(24),
        passphrase=secrets.token_hex(8) if venue in ("bitget", "kucoin") else "",
    )


async def run_simulation(
    config: Config,
    *,
    duration: float | None = None,
    journal_path: str | None = None,
    admin_socket: str | None = None,
    wire: bool = False,
    status: Callable[[str], None] | None = None,
    world: SimWorld | None = None,
    runtime_hook: Callable[[Runtime], None] | None = None,
    run_id: str | None = None,
    make_clients: Callable[[SimWorld, list[str]], dict[str, VenueClient]] | None = None,
    task_status: trio.TaskStatus[Runtime] = trio.TASK_STATUS_IGNORED,
) -> dict[str, Any]:
    """Run the service on the simulated market until ``duration`` or a stop request.

    Returns the summary (see :func:`summarize`). ``world`` lets a caller keep the market
    (and its accounts) across two runs, as a restart does; ``make_clients`` replaces the
    in-process clients (tests wrap them to inject failures).
    """
    world = world or new_world(config)
    venues = list(config.enabled_venues)
    async with trio.open_nursery() as nursery:
        if world.oracle is None:
            world.oracle = EdgeOracle(float(config.detector.target_notional))
        nursery.start_soon(observe_edge, world)
        if not world.driver.running:
            await nursery.start(world.driver.run)
        if make_clients is not None:
            clients = make_clients(world, venues)
        elif wire:
            symbols = {v: [world.market.symbol_for(v, a) for a in config.assets] for v in venues}
            clients = await start_wire_clients(nursery, world, venues, symbols)
        else:
            clients = in_process_clients(world, venues)
        world.clients = clients
        runtime = Runtime(
            config,
            clients,
            journal_path=journal_path,
            admin_socket=admin_socket,
            run_id=run_id,
            funding_source=sim_funding_source(world),
        )
        if runtime_hook is not None:
            runtime_hook(runtime)
        async with trio.open_nursery() as inner:
            await inner.start(runtime.run)
            task_status.started(runtime)
            if duration is not None:
                inner.start_soon(_stop_after, runtime, duration)
            if status is not None:
                inner.start_soon(_status_loop, runtime, status, config.service.status_interval_s)
            await runtime.wait_stopped()
            inner.cancel_scope.cancel()
        nursery.cancel_scope.cancel()
    return summarize(runtime, world, duration=duration)


async def _stop_after(runtime: Runtime, duration: float) -> None:
    await trio.sleep(duration)
    runtime.request_stop(f"duration {duration:g}s reached")


async def _status_loop(runtime: Runtime, out: Callable[[str], None], interval: float) -> None:
    while True:
        await trio.sleep(interval)
        out(runtime.status_line())


def _money(value: Decimal) -> str:
    return format_decimal(value.quantize(Decimal("0.01")))


def _stats(values: list[float]) -> dict[str, Any]:
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 3)

    return {
        "n": len(values),
        "p50": r(percentile(values, 50)),
        "p95": r(percentile(values, 95)),
        "mean": r(sum(values) / len(values)) if values else None,
    }


def summarize(runtime: Runtime, world: SimWorld, *, duration: float | None) -> dict[str, Any]:
    """The run's summary, JSON-able (money as decimal strings); its shape is in
    specs/002-simulator.md § 9."""
    market = world.market
    started, now = runtime.started_at, trio.current_time()
    metrics = runtime.metrics
    metrics.finish(now, list(runtime.positions.live.values()))
    rates = runtime.quote_rates
    states = {s.name: 0 for s in PositionState}
    states.update(runtime.positions.positions_by_state())  # running totals: evicted ones included
    settled_notional = runtime.positions.settled.notional
    reasons: dict[str, str] = {}
    for actor in runtime.positions.live.values():  # FAULTED positions stay live (never evicted)
        pos = actor.position
        if pos.state is PositionState.FAULTED:
            reasons[pos.spec.position_id] = pos.history[-1].reason if pos.history else ""
    target = runtime.config.detector.target_notional
    edge = edge_summary(market, float(target), since=started, until=now, oracle=world.oracle)
    available = Decimal(repr(edge.available_quote)).quantize(Decimal("0.01"))
    pnl = runtime.positions.realized_pnl()
    in_run = [d for d in market.dislocations if started <= d.start <= now]
    origins = attribute(metrics.settled.values(), in_run)
    first_pnl = origins["first_pair"][1]
    # -- what the market recorded ------------------------------------------------------------
    payments = [
        (venue, p)
        for venue in market.venues
        for p in market.account(venue).funding_payments
        if started <= p.ts <= now
    ]
    paid = sum(
        (-p.amount * rates.get(market.account(v).quote, Decimal(1)) for v, p in payments),
        Decimal(0),
    )
    outages = [o for o in market.outages if o.start < now and o.end > started]
    outage_s = sum(min(o.end, now) - max(o.start, started) for o in outages)
    liquidations = [q for q in market.liquidations if started <= q.ts <= now]
    naked = metrics.naked
    entry_slip = list(metrics.entry_slippage.values())
    exit_slip = list(metrics.exit_slippage.values())
    opp = runtime.strategy.episodes
    return {
        "duration_s": duration,
        "seed": market.config.seed,
        "venues": sorted(runtime.clients),
        "wire": sorted(world.wired),
        "opportunities": {
            "seen": opp.seen,
            "taken": opp.taken,
            "positions_opened": runtime.positions.opened,
            "rejected": dict(sorted(opp.rejected.items())),
        },
        "positions": states,
        "faulted": reasons,
        "realized_pnl": format_decimal(pnl),
        "fees": format_decimal(runtime.positions.fees()),
        "edge": {
            "target_notional": format_decimal(target),
            "dislocations": edge.dislocations,
            "tradable_dislocations": edge.tradable,
            "available_bps": round(edge.available_bps, 2),
            "available_at_target_notional": format_decimal(available),
            "floor_available_bps": round(edge.floor_available_bps, 2),
            "mean_cost_bps": {
                "entry": _round(edge.entry_cost_bps),
                "exit": _round(edge.exit_cost_bps),
                "fees": _round(edge.fees_bps),
            },
            "captured": _money(pnl),
            "captured_bps_of_notional": round(float(pnl / settled_notional * 10_000), 2)
            if settled_notional > 0
            else None,
            "captured_ratio": round(float(pnl / available), 4) if available > 0 else None,
            "by_origin": {
                origin: {"positions": count, "pnl": _money(value)}
                for origin, (count, value) in origins.items()
            },
            "first_pair_ratio": round(float(first_pnl / available), 4) if available > 0 else None,
        },
        "naked_exposure": {
            "max_notional": round(naked.max_notional, 2),
            "notional_seconds": round(naked.notional_seconds, 2),
            "longest_s": round(naked.longest_s, 3),
            "stretches": naked.stretches,
        },
        "slippage_bps": {"entry": _stats(entry_slip), "exit": _stats(exit_slip)},
        "exits": {
            reason: {"count": totals.count, "pnl": format_decimal(totals.pnl)}
            for reason, totals in sorted(metrics.exits.items())
        },
        "funding": {
            "settlements": len(payments),
            "paid": format_decimal(paid),
            "booked": format_decimal(metrics.funding_booked),
        },
        "margin": {
            "rejections": sum(market.margin_rejections.values()),
            "rejections_by_venue": dict(sorted(market.margin_rejections.items())),
            "liquidations": len(liquidations),
        },
        "outages": {"count": len(outages), "seconds": round(outage_s, 3)},
        "router": attrs.asdict(runtime.router.stats),
        "stop_reason": runtime.lifecycle.stop_reason,
        "series": {
            "equity": [[round(ts - started, 3), float(v)] for ts, v in metrics.equity],
            "slippage_entry": [round(x, 4) for x in entry_slip],
            "slippage_exit": [round(x, 4) for x in exit_slip],
        },
    }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _fmt(value: Any) -> str:
    return "–" if value is None else str(value)


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a few readable lines."""
    opp = summary["opportunities"]
    edge = summary["edge"]
    rejected = ", ".join(f"{k} {v}" for k, v in opp["rejected"].items()) or "none"
    states = ", ".join(f"{k} {v}" for k, v in summary["positions"].items() if v) or "none"
    costs = edge["mean_cost_bps"]
    origin = edge["by_origin"]
    naked = summary["naked_exposure"]
    slip = summary["slippage_bps"]
    exits = (
        ", ".join(f"{reason} {e['count']} ({e['pnl']})" for reason, e in summary["exits"].items())
        or "none"
    )
    funding, margin, outages = summary["funding"], summary["margin"], summary["outages"]
    lines = [
        "── arbtrio sim summary ─────────────────────────────────────────",
        f"opportunities  seen {opp['seen']} episodes, taken {opp['taken']} "
        f"(positions opened {opp['positions_opened']}); rejected: {rejected}",
        f"positions      {states}",
        f"realised PnL   {summary['realized_pnl']}  (fees {summary['fees']})",
        f"edge           {edge['dislocations']} dislocations, {edge['tradable_dislocations']} "
        f"worth one {edge['target_notional']} pair to a zero-latency trader: available "
        f"{edge['available_bps']} bps ≈ {edge['available_at_target_notional']} (mean costs: "
        f"entry {_fmt(costs['entry'])}, exit {_fmt(costs['exit'])}, fees {_fmt(costs['fees'])} "
        f"bps; model floor {edge['floor_available_bps']} bps)",
        f"captured       {edge['captured']} realised "
        f"({_fmt(edge['captured_bps_of_notional'])} bps of settled notional); "
        f"captured / available = {_fmt(edge['captured_ratio'])} (stacking and basis noise "
        "are not in the yardstick)",
        f"  by origin    first pair {origin['first_pair']['positions']} "
        f"({origin['first_pair']['pnl']}, ratio {_fmt(edge['first_pair_ratio'])}), "
        f"stacked {origin['stacked']['positions']} ({origin['stacked']['pnl']}), "
        f"other {origin['other']['positions']} ({origin['other']['pnl']})",
        f"naked          max {naked['max_notional']}, {naked['notional_seconds']} "
        f"notional-seconds, longest {naked['longest_s']} s ({naked['stretches']} stretches)",
        f"slippage bps   entry p50 {_fmt(slip['entry']['p50'])} p95 {_fmt(slip['entry']['p95'])}"
        f" (n {slip['entry']['n']}); exit p50 {_fmt(slip['exit']['p50'])} "
        f"p95 {_fmt(slip['exit']['p95'])} (n {slip['exit']['n']})",
        f"exits          {exits}",
        f"funding        {funding['settlements']} settlements, paid {funding['paid']} "
        f"(booked on positions {funding['booked']})",
        f"margin         {margin['rejections']} rejections, {margin['liquidations']} "
        f"liquidations; outages {outages['count']} ({outages['seconds']} s)",
    ]
    for pid, reason in summary.get("faulted", {}).items():
        lines.append(f"faulted        {pid}: {reason}")
    if summary.get("wire"):
        lines.append(f"wire venues    {', '.join(summary['wire'])}")
    lines.append(f"stopped        {summary['stop_reason']}")
    return "\n".join(lines)
