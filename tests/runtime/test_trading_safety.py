"""The service keeps its hedges and its margin: one scenario per behaviour, on MockClock.

Each test wraps one simulated venue's client to make it misbehave the way a real venue does
(refuse a leverage setting, go dark, run short of margin, approach liquidation, hold most of
the collateral), runs the whole service against the simulated market, and checks what it did.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs
import structlog
import trio

from arbtrio.core.book import L2Book
from arbtrio.core.position import PositionState
from arbtrio.core.types import Balance, Fill, Side, VenuePosition
from arbtrio.runtime.journal import read_records
from arbtrio.runtime.service import Runtime
from arbtrio.runtime.simulation import SimWorld, in_process_clients, run_simulation
from arbtrio.venues.base import BadRequest, Disconnected

S = PositionState


class Wrapped:
    """A venue client that forwards everything to the simulated one unless overridden."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class RefusesLeverage(Wrapped):
    async def configure_instrument(self, symbol: str, *, leverage: int, margin_mode: str) -> None:
        raise BadRequest(self._inner.name, f"{symbol}: leverage {leverage} refused: too high")


class GoesDark(Wrapped):
    """While ``dark`` the venue is partitioned away: its books stop at what they last showed
    (they go stale, and then the supervisor's feed task fails), and it takes no orders."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self._frozen: dict[str, L2Book] | None = None

    @property
    def dark(self) -> bool:
        return self._frozen is not None

    @dark.setter
    def dark(self, value: bool) -> None:
        if not value:
            self._frozen = None
            return
        self._frozen = {}
        for symbol, live in self._inner.books.items():
            book = L2Book(live.venue, symbol)
            book.apply_snapshot(live.levels(Side.BUY), live.levels(Side.SELL),
                                ts=live.last_update_ts)  # fmt: skip
            self._frozen[symbol] = book

    @property
    def books(self) -> dict[str, L2Book]:
        return self._inner.books if self._frozen is None else self._frozen

    async def place_order(self, request: Any) -> Any:
        if self.dark:
            await trio.sleep(0.05)
            raise Disconnected(self._inner.name, "connection reset (partitioned)")
        return await self._inner.place_order(request)


class ShortOfMargin(Wrapped):
    async def fetch_balances(self) -> list[Balance]:
        real = await self._inner.fetch_balances()
        return [attrs.evolve(b, available=Decimal(50)) for b in real]


class RichInCollateral(Wrapped):
    async def fetch_balances(self) -> list[Balance]:
        real = await self._inner.fetch_balances()
        return [attrs.evolve(b, available=b.available * 10) for b in real]


class NearLiquidation(Wrapped):
    """Reports every open position 5 % from its liquidation price."""

    async def fetch_positions(self) -> list[VenuePosition]:
        out = []
        for vp in await self._inner.fetch_positions():
            if vp.qty != 0 and vp.entry_price is not None:
                mark = vp.entry_price
                liq = mark * (Decimal("0.95") if vp.qty > 0 else Decimal("1.05"))
                vp = attrs.evolve(vp, mark_price=mark, liquidation_price=liq)
            out.append(vp)
        return out


def wrap(venue: str, cls: type[Wrapped], keep: dict[str, Any] | None = None) -> Any:
    def clients(world: SimWorld, venues: list[str]) -> dict[str, Any]:
        made = in_process_clients(world, venues)
        made[venue] = cls(made[venue])
        if keep is not None:
            keep[venue] = made[venue]
        return made

    return clients


async def eventually(predicate: Any, step: float = 0.5, within: float = 3600.0) -> None:
    """Poll ``predicate`` on the mock clock until it holds (fail after ``within``)."""
    with trio.fail_after(within):
        while not predicate():  # noqa: ASYNC110 (state owned by other tasks has no event)
            await trio.sleep(step)


def legs_on(rt: Runtime, venue: str) -> list[Any]:
    return [
        a
        for a in rt.positions.actors.values()
        if venue in (a.position.spec.long.venue, a.position.spec.short.venue)
    ]


async def start(nursery: trio.Nursery, config: Any, clients: Any) -> Runtime:
    rt: Runtime = await nursery.start(
        lambda task_status: run_simulation(config, make_clients=clients, task_status=task_status)
    )
    return rt


async def test_a_venue_that_refuses_its_leverage_is_not_traded_and_the_others_trade_on(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config(ready_timeout_s=20.0)
    with structlog.testing.capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            rt = await start(nursery, config, wrap("bybit", RefusesLeverage))
            await trio.sleep(300)
            (unavailable,) = rt.reconciler.mismatches.values()
            assert unavailable["venue"] == "bybit" and "leverage 3 refused" in unavailable["error"]
            assert rt.positions.opened > 0 and not legs_on(rt, "bybit")
            rt.request_stop("test")
    refused = [e for e in logs if e["event"] == "venue.configure_failed"]
    assert refused and refused[0]["leverage"] == 3 and refused[0]["margin_mode"] == "cross"


async def test_every_traded_instrument_gets_its_leverage_and_margin_mode_before_trading(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config()
    config = attrs.evolve(
        config, venues={**config.venues, "kucoin": attrs.evolve(config.venues["kucoin"],
                                                                leverage=7, margin_mode="isolated")}
    )  # fmt: skip
    keep: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        rt = await start(nursery, config, wrap("kucoin", Wrapped, keep))
        await trio.sleep(60)
        kucoin = keep["kucoin"]._inner
        symbols = {i.symbol for i in rt.venues.venues["kucoin"].instruments.values()}
        assert kucoin.configured == {s: (7, "isolated") for s in symbols}
        assert rt.venues.venues["kucoin"].leverage == 7
        assert rt.accounts.exposure().leverage_by_venue["kucoin"] == 7
        rt.request_stop("test")


async def test_a_hedged_pair_is_not_closed_while_one_venue_is_dark_and_closes_once_it_is_back(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config(shutdown="leave_hedged")
    keep: dict[str, Any] = {}
    with structlog.testing.capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            rt = await start(nursery, config, wrap("bybit", GoesDark, keep))
            await eventually(lambda: any(a.state is S.HEDGED for a in legs_on(rt, "bybit")))
            hedged = [a for a in legs_on(rt, "bybit") if a.state is S.HEDGED]
            keep["bybit"].dark = True
            await trio.sleep(3 * config.detector.max_holding_s)  # every exit rule is due
            for actor in hedged:
                if actor.state is not S.SETTLED:  # settled before the dark: nothing to check
                    assert actor.state is S.HEDGED, actor.position.history
            held = [e for e in logs if e["event"] == "position.exit_held"]
            assert held and all(e["reason"].startswith("bybit: ") for e in held)
            # Nothing at all went to the dark venue, and no other leg was closed alone.
            for actor in legs_on(rt, "bybit"):
                assert actor.position.net_exposure() == 0 or actor.state is not S.HEDGED
            keep["bybit"].dark = False
            await trio.sleep(3 * config.detector.max_holding_s)
            assert all(a.state is S.SETTLED for a in hedged)
            rt.request_stop("test")


async def test_shutdown_flatten_keeps_a_pair_hedged_when_one_of_its_venues_is_dark(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config(shutdown="flatten", drain_timeout_s=10.0)
    keep: dict[str, Any] = {}
    with structlog.testing.capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            rt = await start(nursery, config, wrap("bybit", GoesDark, keep))
            await eventually(lambda: any(a.state is S.HEDGED for a in legs_on(rt, "bybit")))
            keep["bybit"].dark = True
            await trio.sleep(5)  # its books are stale by now: the service knows
            rt.request_stop("test")
    held = {e["position_id"] for e in logs if e["event"] == "service.flatten_held"}
    assert held
    for pid in held:
        actor = rt.positions.actors[pid]
        assert actor.state is S.HEDGED and actor.position.net_exposure() == 0
    assert not [e for e in logs if e["event"] == "service.drain_timeout"]


async def test_no_leg_opens_on_a_venue_without_the_free_margin_it_needs(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config()
    async with trio.open_nursery() as nursery:
        rt = await start(nursery, config, wrap("bitget", ShortOfMargin))
        await trio.sleep(600)
        assert rt.positions.opened > 0 and not legs_on(rt, "bitget")
        assert rt.gate.rejections["margin"] > 0
        free = rt.accounts.free_margin()
        assert free["bitget"] == Decimal(50) and free["bybit"] > 1000
        rt.request_stop("test")


async def test_a_leg_near_liquidation_has_both_legs_of_its_positions_flattened(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config(account_poll_s=2.0, shutdown="leave_hedged")
    with structlog.testing.capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            rt = await start(nursery, config, wrap("bybit", NearLiquidation))
            await eventually(lambda: any(e["event"] == "watchdog.near_liquidation" for e in logs))
            await trio.sleep(30)
            rt.request_stop("test")
    (first, *_) = [e for e in logs if e["event"] == "watchdog.near_liquidation"]
    assert first["venue"] == "bybit" and Decimal(first["distance_bps"]) < 1500
    assert first["flattened"]
    for pid in first["flattened"]:
        position = rt.positions.actors[pid].position
        assert "OperatorFlatten" in [t.event for t in position.history]
        assert position.held("long") == position.held("short") == 0


async def test_collateral_drifting_apart_across_venues_is_alerted(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config()
    with structlog.testing.capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            rt = await start(nursery, config, wrap("gateio", RichInCollateral))
            await trio.sleep(60)
            assert rt.watchdog.drift is not None and rt.watchdog.drift[0] == "gateio"
            rt.request_stop("test")
    (alert,) = [e for e in logs if e["event"] == "watchdog.collateral_drift"]
    assert alert["rich"] == "gateio" and Decimal(alert["ratio"]) > 3


async def test_an_orphan_fill_counts_in_net_exposure_until_a_venue_poll_agrees(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config(account_poll_s=5.0)
    async with trio.open_nursery() as nursery:
        rt = await start(nursery, config, in_process_clients)
        await trio.sleep(30)
        symbol = rt.venues.instrument("bybit", "BTC").symbol  # type: ignore[union-attr]
        orphan = Fill(venue="bybit", client_order_id="not-ours", trade_id="T-orphan",
                      side=Side.BUY, qty=Decimal("0.5"), price=Decimal(65_000), fee=Decimal(0),
                      ts=trio.current_time(), symbol=symbol)  # fmt: skip
        await rt.router.deliver(orphan)
        await rt.router.deliver(orphan)  # a repeat of the same trade is not counted twice
        exposure = rt.accounts.exposure()
        assert exposure.net_delta_by_asset["BTC"] >= Decimal("0.5")
        assert exposure.net_notional_by_asset["BTC"] > 30_000
        assert rt.gate.net_notional_breached(exposure) == ["BTC"]
        # The venue never held it (a stray message): the next polls agree with the positions.
        await trio.sleep(30)
        assert ("bybit", symbol) not in rt.router.orphan_fills
        assert abs(rt.accounts.exposure().net_notional_by_asset.get("BTC", Decimal(0))) < 30_000
        rt.request_stop("test")


async def test_every_opportunity_taken_or_rejected_is_journaled_with_its_figures(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config()
    async with trio.open_nursery() as nursery:
        rt = await start(nursery, config, in_process_clients)
        await trio.sleep(900)
        rt.request_stop("test")
    records = list(read_records(config.service.journal, kinds=("opportunity", "position")))
    taken = [r for r in records if r.kind == "opportunity" and r.type == "taken"]
    rejected = [r for r in records if r.kind == "opportunity" and r.type == "rejected"]
    opened = {r.position_id for r in records if r.kind == "position"}
    assert taken and {r.body["position_id"] for r in taken} == opened
    assert rejected and all(r.body["reason"] for r in rejected)
    for r in taken + rejected:
        body = r.body
        assert body["asset"] == "BTC" and body["long"] != body["short"]
        edge = body["gross_bps"] - body["basis_bps"] - body["exit_cost_bps"] - body["fees_bps"]
        edge -= body["funding_bps"] + body["buffer_bps"] + config.detector.slippage_buffer_bps
        assert abs(body["edge_bps"] - edge) < 1e-3
    assert sum(rt.strategy.episodes.rejected.values()) == len(rejected)
