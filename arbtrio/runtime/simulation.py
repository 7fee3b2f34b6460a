"""Running the whole service against the simulated market (``arbtrio sim``, tests).

One :class:`~arbtrio.sim.market.SimMarket` and one :class:`~arbtrio.sim.driver.MarketDriver`
per process; each enabled venue is served either in-process (:class:`SimVenueClient`) or, with
``wire=True``, by its emulator (:mod:`arbtrio.emulators`) on loopback with the venue package's
real ``create_client`` connected to it (a venue whose package is missing or incomplete falls
back to in-process, with a log line).

:func:`summarize` turns a finished run into the summary ``arbtrio sim`` prints: opportunities
seen, taken and rejected by reason; positions by final state; realised PnL and fees; and the
edge captured against what the simulator injected.
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
from arbtrio.sim.summary import edge_summary
from arbtrio.venues.base import Credentials, VenueClient

log = structlog.get_logger("arbtrio.sim")


@attrs.define(eq=False)
class SimWorld:
    """The shared simulated market, its driver, and the venue clients connected to it."""

    market: SimMarket
    driver: MarketDriver
    clients: dict[str, VenueClient] = attrs.Factory(dict)
    wired: list[str] = attrs.Factory(list)


def new_world(config: Config) -> SimWorld:
    market = SimMarket(config.sim)
    return SimWorld(market=market, driver=MarketDriver(market))


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


def summarize(runtime: Runtime, world: SimWorld, *, duration: float | None) -> dict[str, Any]:
    """The run's summary, JSON-able (money as decimal strings)."""
    market = world.market
    states = {s.name: 0 for s in PositionState}
    states.update(runtime.positions.positions_by_state())  # running totals: evicted ones included
    settled_notional = runtime.positions.settled.notional
    reasons: dict[str, str] = {}
    for actor in runtime.positions.live.values():  # FAULTED positions stay live (never evicted)
        pos = actor.position
        if pos.state is PositionState.FAULTED:
            reasons[pos.spec.position_id] = pos.history[-1].reason if pos.history else ""
    target = runtime.config.detector.target_notional
    edge = edge_summary(market, float(target))
    available = Decimal(repr(edge.available_quote)).quantize(Decimal("0.01"))
    pnl = runtime.positions.realized_pnl()
    return {
        "duration_s": duration,
        "seed": market.config.seed,
        "venues": sorted(runtime.clients),
        "wire": sorted(world.wired),
        "opportunities": {
            "seen": runtime.strategy.episodes.seen,
            "taken": runtime.positions.opened,
            "rejected": dict(sorted(runtime.strategy.episodes.rejected.items())),
        },
        "positions": states,
        "faulted": reasons,
        "realized_pnl": format_decimal(pnl),
        "fees": format_decimal(runtime.positions.fees()),
        "edge": {
            "dislocations": edge.dislocations,
            "tradable_dislocations": edge.tradable,
            "available_bps": round(edge.available_bps, 2),
            "available_at_target_notional": format_decimal(available),
            "captured": format_decimal(pnl.quantize(Decimal("0.01"))),
            "captured_bps_of_notional": round(float(pnl / settled_notional * 10_000), 2)
            if settled_notional > 0
            else None,
            "captured_ratio": round(float(pnl / available), 4) if available > 0 else None,
        },
        "router": attrs.asdict(runtime.router.stats),
        "stop_reason": runtime.lifecycle.stop_reason,
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a few readable lines."""
    opp = summary["opportunities"]
    edge = summary["edge"]
    rejected = ", ".join(f"{k} {v}" for k, v in opp["rejected"].items()) or "none"
    states = ", ".join(f"{k} {v}" for k, v in summary["positions"].items() if v) or "none"
    lines = [
        "── arbtrio sim summary ─────────────────────────────────────────",
        f"opportunities  seen {opp['seen']}  taken {opp['taken']}  rejected: {rejected}",
        f"positions      {states}",
        f"realised PnL   {summary['realized_pnl']}  (fees {summary['fees']})",
        f"edge           {edge['dislocations']} dislocations injected, "
        f"{edge['tradable_dislocations']} worth trading after costs: "
        f"available {edge['available_bps']} bps ≈ {edge['available_at_target_notional']} "
        "(one target-notional pair per dislocation; trading ordinary basis noise and "
        "stacking pairs can capture more)",
        f"captured       {edge['captured']} realised "
        f"({edge['captured_bps_of_notional']} bps of settled notional); "
        f"captured / available = {edge['captured_ratio']}",
    ]
    for pid, reason in summary.get("faulted", {}).items():
        lines.append(f"faulted        {pid}: {reason}")
    if summary.get("wire"):
        lines.append(f"wire venues    {', '.join(summary['wire'])}")
    lines.append(f"stopped        {summary['stop_reason']}")
    return "\n".join(lines)
