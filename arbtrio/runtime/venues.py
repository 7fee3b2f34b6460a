"""Venue supervision: one supervisor per venue keeps its streams and account poller running.

::

    VenueSupervisor.run_venue(venue)        never lets a failure escape to the service
    ├── load instruments                     retried with backoff until they load
    ├── configure instruments                leverage and margin mode of every traded
    │                                        symbol (venues.<v>.leverage, .margin_mode),
    │                                        retried with backoff: ready only once set
    ├── router                               OrderRouter.run_stream: the venue's order events
    ├── orders                               client.run_order_stream → router (lossless)
    ├── books                                client.run_books → L2Books → on_book (conflated)
    └── account                              funding rates, positions and balances,
                                             periodic (``service.account_poll_s``)

Each task is restarted with backoff and jitter when it fails or returns; after
``down_after`` consecutive failures the venue is marked down (the strategy skips it); a task
that has run for a while clears its streak (:meth:`VenueSupervisor.refresh_health`, called
by the watchdog). The supervisor owns each venue's :class:`VenueState`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import attrs
import structlog
import trio

from arbtrio.config import Config
from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.core.types import Balance, FundingRate, OrderEvent, VenuePosition
from arbtrio.runtime.router import OrderRouter
from arbtrio.venues.base import VenueClient, VenueError
from arbtrio.venues.reconnect import Backoff

__all__ = ["VenueState", "VenueSupervisor"]

log = structlog.get_logger("arbtrio.runtime")


@attrs.define(eq=False)
class VenueState:
    """One venue's supervision state (owned by its supervisor task)."""

    name: str
    instruments: dict[str, Instrument] = attrs.Factory(dict)  # asset -> instrument
    running: dict[str, bool] = attrs.Factory(dict)  # task -> running
    running_since: dict[str, float] = attrs.Factory(dict)
    failures: dict[str, int] = attrs.Factory(dict)  # consecutive, per task
    restarts: int = 0
    down: bool = False
    last_error: str = ""
    ready: trio.Event = attrs.Factory(trio.Event)  # instruments loaded
    positions: list[VenuePosition] = attrs.Factory(list)
    positions_ts: float | None = None  # when ``positions`` was fetched (runtime clock)
    funding: dict[str, FundingRate] = attrs.Factory(dict)  # asset -> rate
    balances: dict[str, Balance] = attrs.Factory(dict)  # currency -> balance (REST)
    balances_ts: float | None = None  # when ``balances`` was fetched (runtime clock)
    leverage: int = 1  # set on every traded instrument (configure_instrument)


class VenueSupervisor:
    """Supervises every venue client (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        clients: Mapping[str, VenueClient],
        router: OrderRouter,
        *,
        rng: random.Random,
    ) -> None:
        self.config = config
        self.clients = clients
        self.router = router
        self.rng = rng
        self.venues = {name: VenueState(name) for name in clients}
        self.symbol_asset: dict[tuple[str, str], str] = {}

    def instrument(self, venue: str, asset: str) -> Instrument | None:
        return self.venues[venue].instruments.get(asset)

    def venue_up(self, venue: str) -> bool:
        """Usable for new positions: feeds and order stream running, not marked down."""
        state = self.venues.get(venue)
        if state is None or state.down or not state.ready.is_set():
            return False
        if self.clients[venue].health.down:
            return False
        return state.running.get("books", False) and state.running.get("orders", False)

    def _backoff(self, venue: str) -> tuple[Backoff, int]:
        vcfg = self.config.venues.get(venue)
        if vcfg is None:
            return Backoff(), 5
        b = vcfg.backoff
        backoff = Backoff(base=b.base_s, factor=b.factor, cap=b.cap_s, jitter=b.jitter)
        return backoff, vcfg.down_after

    async def run_venue(self, venue: str, on_book: Callable[[L2Book], None]) -> None:
        """Supervise one venue until cancelled. ``on_book`` is called after every book
        update (the market view's conflated wake-up of the strategy); it must not block."""
        structlog.contextvars.bind_contextvars(venue=venue)
        client = self.clients[venue]
        backoff, down_after = self._backoff(venue)
        await self._load_instruments(venue, backoff, down_after)
        symbols = [inst.symbol for inst in self.venues[venue].instruments.values()]
        send, receive = trio.open_memory_channel[OrderEvent](
            self.config.service.order_stream_capacity
        )
        supervise = partial(self._supervise, venue, backoff=backoff, down_after=down_after)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.router.run_stream, receive)
            nursery.start_soon(supervise, "orders", lambda: client.run_order_stream(send.clone()))
            nursery.start_soon(supervise, "books", partial(client.run_books, symbols, on_book))
            nursery.start_soon(supervise, "account", partial(self._poll_account, venue, symbols))

    async def _load_instruments(self, venue: str, backoff: Backoff, down_after: int) -> None:
        state = self.venues[venue]
        client = self.clients[venue]
        failures = 0
        while True:
            try:
                instruments = await client.load_instruments()
                break
            except Exception as exc:
                failures += 1
                state.last_error = f"load_instruments: {type(exc).__name__}: {exc}"
                state.down = failures >= down_after
                delay = backoff.delay(failures, self.rng)
                log.warning("venue.instruments_failed", error=state.last_error, retry_in_s=delay)
                await trio.sleep(delay)
        wanted = set(self.config.assets)
        for inst in instruments:
            if inst.asset in wanted:
                state.instruments[inst.asset] = inst
                self.symbol_asset[(venue, inst.symbol)] = inst.asset
                if inst.quote not in self.config.quote_rates:
                    state.last_error = f"no quote rate for {inst.quote}"
                    log.error("venue.quote_rate_missing", quote=inst.quote, symbol=inst.symbol)
        missing = sorted(wanted - set(state.instruments))
        if missing:
            log.warning("venue.assets_missing", assets=missing)
        await self._configure_instruments(venue, backoff, down_after)
        state.ready.set()
        log.info("venue.ready", symbols=sorted(i.symbol for i in state.instruments.values()))

    async def _configure_instruments(self, venue: str, backoff: Backoff, down_after: int) -> None:
        """Set the configured leverage and margin mode on every traded instrument; a refusal
        is retried with backoff (the venue is not ready meanwhile: nothing trades on it)."""
        state = self.venues[venue]
        vcfg = self.config.venues.get(venue)
        if vcfg is None:
            return
        client = self.clients[venue]
        failures = 0
        for inst in sorted(state.instruments.values(), key=lambda i: i.symbol):
            while True:
                try:
                    await client.configure_instrument(
                        inst.symbol, leverage=vcfg.leverage, margin_mode=vcfg.margin_mode
                    )
                    break
                except Exception as exc:
                    failures += 1
                    state.last_error = f"configure {inst.symbol}: {type(exc).__name__}: {exc}"
                    state.down = failures >= down_after
                    delay = backoff.delay(failures, self.rng)
                    log.error("venue.configure_failed", symbol=inst.symbol,
                              leverage=vcfg.leverage, margin_mode=vcfg.margin_mode,
                              error=state.last_error, retry_in_s=round(delay, 3))  # fmt: skip
                    await trio.sleep(delay)
        state.leverage = vcfg.leverage
        log.info("venue.configured", leverage=vcfg.leverage, margin_mode=vcfg.margin_mode)

    async def _supervise(
        self, venue: str, what: str, fn: Callable[[], Any], *, backoff: Backoff, down_after: int
    ) -> None:
        """Run ``fn`` forever; restart it with backoff and jitter when it fails or returns."""
        state = self.venues[venue]
        client = self.clients[venue]
        while True:
            state.running[what] = True
            state.running_since[what] = trio.current_time()
            try:
                await fn()
                error = "task returned"
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            finally:
                state.running[what] = False
            if what == "books":
                for book in client.books.values():
                    book.invalidate(f"feed task failed: {error}")
            failures = state.failures.get(what, 0) + 1
            state.failures[what] = failures
            state.restarts += 1
            state.last_error = f"{what}: {error}"
            if failures >= down_after and not state.down:
                state.down = True
                log.error("venue.down", task=what, failures=failures, error=error)
            delay = backoff.delay(failures, self.rng)
            log.warning(
                "venue.task_failed",
                task=what,
                error=error,
                failures=failures,
                down=state.down,
                retry_in_s=round(delay, 3),
            )
            await trio.sleep(delay)

    def refresh_health(self) -> None:
        """Clear the failure streak of tasks that have run a while; a venue whose tasks all
        run again with no streak is up again."""
        now = trio.current_time()
        for venue, state in self.venues.items():
            cfg = self.config.venues.get(venue)
            healthy_after = min(2 * (cfg.backoff.cap_s if cfg else 30.0), 10.0)
            for what, running in state.running.items():
                if running and now - state.running_since.get(what, now) >= healthy_after:
                    state.failures[what] = 0
            if state.down and all(state.running.values()) and not any(state.failures.values()):
                state.down = False
                log.info("venue.up", venue=venue)

    async def _poll_account(self, venue: str, symbols: Sequence[str]) -> None:
        state = self.venues[venue]
        client = self.clients[venue]
        while True:
            try:
                rates = await client.fetch_funding(symbols)
                for rate in rates:
                    asset = self.symbol_asset.get((venue, rate.symbol))
                    if asset is not None:
                        state.funding[asset] = rate
                state.positions = await client.fetch_positions()
                state.positions_ts = trio.current_time()
                balances = await client.fetch_balances()
                state.balances = {b.currency: b for b in balances}
                state.balances_ts = trio.current_time()
            except VenueError as exc:
                log.warning("venue.account_poll_failed", error=f"{type(exc).__name__}: {exc}")
            await trio.sleep(self.config.service.account_poll_s)
