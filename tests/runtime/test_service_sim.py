"""The whole service against the simulated market, under Trio's MockClock.

These are the end-to-end checks of issue #4: an hour with every fault drains to stable
states; the journal replays to the same positions; a crash and restart on the same journal
resumes; the admin socket answers and steers; a failing venue is isolated.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import attrs
import structlog
import trio

from arbtrio.core.position import PositionState
from arbtrio.core.types import OrderAck, OrderReport, OrderStatus, Side
from arbtrio.runtime.admin import AdminClient, AdminError
from arbtrio.runtime.journal import read_records, replay
from arbtrio.runtime.service import Runtime
from arbtrio.runtime.simulation import SimWorld, in_process_clients, new_world, run_simulation
from arbtrio.sim.config import FaultRates

S = PositionState
STABLE = {S.SETTLED, S.HEDGED, S.FAULTED}


async def eventually(predicate: Any, step: float = 0.5) -> None:
    """Poll ``predicate`` on the (mock) clock until it holds."""
    while not predicate():  # noqa: ASYNC110 (state owned by other tasks has no event here)
        await trio.sleep(step)


def venue_books_match_positions(world: SimWorld, runtimes: list[Runtime]) -> None:
    """Every base unit the simulated venues hold is accounted for by some position."""
    expected: Counter[tuple[str, str]] = Counter()
    seen: dict[str, Any] = {}
    for runtime in runtimes:
        seen.update(runtime.positions.actors)  # a restarted run rebuilds the same ids
    for actor in seen.values():
        pos = actor.position
        expected[(pos.spec.long.venue, pos.spec.long.symbol)] += pos.held("long")
        expected[(pos.spec.short.venue, pos.spec.short.symbol)] -= pos.held("short")
    for venue in world.market.venues:
        for inst in world.market.instruments(venue):
            key = (venue, inst.symbol)
            assert world.market.position(venue, inst.symbol) == expected.get(key, 0), key


async def test_simulated_hour_with_every_fault_drains_to_stable_states(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config(faults=FaultRates.every(0.05), shutdown="leave_hedged")
    world = new_world(config)
    holder: dict[str, Runtime] = {}
    with structlog.testing.capture_logs() as logs:
        summary = await run_simulation(
            config,
            duration=3600.0,
            world=world,
            runtime_hook=lambda rt: holder.__setitem__("rt", rt),
        )
    runtime = holder["rt"]
    states = Counter(a.state for a in runtime.positions.actors.values())
    assert runtime.positions.opened >= 50, summary  # it traded through the faults
    assert set(states) <= STABLE, states
    assert not any(a.position.live_orders() for a in runtime.positions.actors.values())
    assert not [e for e in logs if e["event"] == "service.drain_timeout"]
    # faults really happened and were survived
    assert runtime.router.stats.unknown > 0 and runtime.router.stats.rejected > 0
    assert sum(c.health.reconnects for c in world.clients.values()) > 0
    assert any(e["event"] == "position.transition" and e["to_state"] == "UNWINDING" for e in logs)
    # every FAULTED position has its reason on a logged transition line
    for actor in runtime.positions.actors.values():
        if actor.state is S.FAULTED:
            lines = [
                e
                for e in logs
                if e["event"] == "position.transition"
                and e["position_id"] == actor.position_id
                and e["to_state"] == "FAULTED"
            ]
            assert lines and lines[-1]["reason"], actor.position_id
    venue_books_match_positions(world, [runtime])

    # The journal replays to exactly the live positions (state, orders, fills, PnL).
    rebuilt = replay(config.service.journal)
    assert set(rebuilt) == set(runtime.positions.actors)
    for pid, actor in runtime.positions.actors.items():
        assert rebuilt[pid].position.snapshot() == actor.position.snapshot(), pid
    assert sum(
        (r.position.realized_pnl(runtime.quote_rates) for r in rebuilt.values()
         if r.position.state is S.SETTLED),
        Decimal(0),
    ) == runtime.positions.realized_pnl()  # fmt: skip
    # every command was journaled before execution, with its client order id
    placed = {
        r.client_order_id
        for r in read_records(config.service.journal, kinds=("command",))
        if r.type == "PlaceOrder"
    }
    assert placed == {
        cid
        for a in runtime.positions.actors.values()
        for cid, _, _ in a.position.client_order_ids()
    }


async def test_crash_and_restart_on_the_same_journal_resumes(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config(faults=FaultRates(partial_fill=0.1))
    world = new_world(config)
    first: dict[str, Runtime] = {}

    async def crash_when_busy(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            task_status.started(scope)
            await run_simulation(
                config, world=world, runtime_hook=lambda rt: first.__setitem__("rt", rt)
            )

    async with trio.open_nursery() as nursery:
        scope = await nursery.start(crash_when_busy)
        # crash (no graceful shutdown) once positions are open and some order is in flight
        while True:
            await trio.sleep(0.001)
            rt = first.get("rt")
            if rt is None:
                continue
            hedged = [a for a in rt.positions.live.values() if a.state is S.HEDGED]
            in_flight = [a for a in rt.positions.live.values() if a.position.live_orders()]
            if len(hedged) >= 2 and in_flight:
                break
        scope.cancel()
    before = {
        pid: a.state for pid, a in first["rt"].positions.actors.items() if a.state is not S.SETTLED
    }
    assert len(before) >= 3

    second: dict[str, Runtime] = {}
    with structlog.testing.capture_logs() as logs:
        await run_simulation(
            config,
            world=world,
            duration=900.0,
            runtime_hook=lambda rt: second.__setitem__("rt", rt),
        )
    rt2 = second["rt"]
    assert set(rt2.positions.rebuilt) == set(before)  # every non-terminal position came back
    assert any(e["event"].startswith("reconcile.") and e.get("client_order_id") for e in logs)
    assert any(e["event"] == "reconcile.done" for e in logs)
    assert not rt2.reconciler.mismatches and not rt2.reconciler.reconciling
    for pid in before:  # resumed, then closed by exits or the flattening shutdown
        assert rt2.positions.actors[pid].state is S.SETTLED, (pid, rt2.positions.actors[pid].state)
    assert rt2.positions.opened > 0  # trading resumed after reconciliation
    venue_books_match_positions(world, [first["rt"], rt2])
    for venue in world.market.venues:  # flattened on shutdown: the venues are flat
        assert all(p.qty == 0 for p in world.market.positions(venue))


async def test_a_journal_that_disagrees_with_the_venue_blocks_opening(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config()
    world = new_world(config)
    inst = world.market.instrument("bybit", world.market.symbol_for("bybit", "BTC"))
    await trio.sleep(1)
    world.market.advance(trio.current_time())
    _, asks = world.market.book_levels("bybit", inst.symbol)
    world.market.execute(  # a foreign position the journal knows nothing about
        "bybit", inst.symbol, side=Side.BUY,
        qty=inst.lot_size * 10, price=asks[0][0], reduce_only=False, client_order_id="manual-1",
        now=trio.current_time(),
    )  # fmt: skip
    holder: dict[str, Runtime] = {}
    async with trio.open_nursery() as nursery:
        rt: Runtime = await nursery.start(
            lambda task_status: run_simulation(
                config, world=world, admin_socket=config.service.admin_socket,
                runtime_hook=lambda r: holder.__setitem__("rt", r), task_status=task_status,
            )
        )  # fmt: skip
        await trio.sleep(120)
        assert rt.reconciler.reconciling and rt.positions.opened == 0
        assert any(m["kind"] == "position_mismatch" for m in rt.reconciler.mismatches.values())
        assert rt.strategy.episodes.rejected["reconciling"] > 0
        client = await AdminClient.connect(config.service.admin_socket)
        status = await client.call("status")
        assert status["reconciling"] and status["mismatches"]
        assert (await client.call("override"))["reconciling"] is False
        await trio.sleep(120)
        assert rt.positions.opened > 0
        await client.aclose()
        rt.request_stop("test")


async def test_admin_socket_answers_and_steers_the_running_service(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config(shutdown="leave_hedged")
    sock = config.service.admin_socket
    async with trio.open_nursery() as nursery:
        rt: Runtime = await nursery.start(
            lambda task_status: run_simulation(config, admin_socket=sock, task_status=task_status)
        )
        client = await AdminClient.connect(sock)
        watcher = await AdminClient.connect(sock)
        assert await watcher.call("watch") == {"subscribed": True}
        await eventually(lambda: any(a.state is S.HEDGED for a in rt.positions.live.values()))

        status = await client.call("status")
        assert status["mode"] == "sim" and set(status["venues"]) == set(config.enabled_venues)
        assert all(v["up"] and v["book_age_s"] is not None for v in status["venues"].values())
        assert status["positions"].get("HEDGED", 0) >= 1 and not status["paused"]

        rows = await client.call("positions")
        hedged = next(r for r in rows if r["state"] == "HEDGED")
        assert {"id", "asset", "long_venue", "short_venue", "legs", "realized_pnl"} <= set(hedged)
        # (virtual time runs on while the client waits on the socket: it may have moved on)
        one = await client.call("position", {"id": hedged["id"]})
        assert one["state"] in ("HEDGED", "CLOSING", "SETTLED") and len(one["legs"]) == 2
        assert all(leg["orders"] and leg["fills"] for leg in one["legs"])
        assert "HEDGED" in [t["to"] for t in one["history"]]
        books = await client.call("books")
        assert len(books) == len(config.enabled_venues) and all(b["bid"] for b in books)

        note = await watcher.read_message()  # transitions stream as they happen
        assert note["method"] == "transition" and {"position_id", "from", "to"} <= set(
            note["params"]
        )

        for bad, code in (("position", -32602), ("flatten", -32602)):
            try:
                await client.call(bad, {})
            except AdminError as exc:
                assert exc.code == code
            else:
                raise AssertionError(f"{bad} without params must fail")
        try:
            await client.call("position", {"id": "no-such"})
        except AdminError as exc:
            assert exc.code == -32000
        else:
            raise AssertionError("unknown id must fail")

        assert await client.call("pause") == {"paused": True}
        opened = rt.positions.opened
        await trio.sleep(300)
        await client.aclose()  # idle for 300 s: the server closed it (admin idle_timeout_s)
        client = await AdminClient.connect(sock)
        assert rt.positions.opened == opened and (await client.call("status"))["paused"]
        assert (await client.call("resume"))["paused"] is False

        # flatten one: it goes to CLOSING and settles
        while True:
            target = next((p for p, a in rt.positions.live.items() if a.state is S.HEDGED), None)
            if target is None:
                await trio.sleep(1)
                continue
            try:
                flat = await client.call("flatten", {"id": target})
                break
            except AdminError as exc:  # it closed by itself meanwhile
                assert "already settled" in exc.message
        assert flat == {"flattened": [target], "held": {}}
        await eventually(lambda: rt.positions.actors[target].state is S.SETTLED)
        assert "OperatorFlatten" in [t.event for t in rt.positions.actors[target].position.history]

        # kill: flatten everything, then stop (despite shutdown = leave_hedged)
        await eventually(lambda: any(a.state is S.HEDGED for a in rt.positions.live.values()))
        killed = await client.call("kill")
        assert killed["killed"] is True
        await rt.wait_stopped()
        assert all(a.state in (S.SETTLED, S.FAULTED) for a in rt.positions.actors.values())
        await client.aclose()
        await watcher.aclose()
    assert not await trio.Path(sock).exists()


class FailingFeedClient:
    """A venue client whose book feed always fails right away (everything else works)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.attempts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def run_books(self, symbols: Any, on_update: Any, **kwargs: Any) -> None:
        self.attempts += 1
        await trio.sleep(0.05)
        raise ConnectionResetError("feed refused")


async def test_failing_feed_marks_venue_down_with_backoff_while_others_trade(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config()
    holder: dict[str, Any] = {}

    def clients(world: SimWorld, venues: list[str]) -> dict[str, Any]:
        made = in_process_clients(world, venues)
        made["kucoin"] = holder["bad"] = FailingFeedClient(made["kucoin"])
        return made

    with structlog.testing.capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            rt: Runtime = await nursery.start(
                lambda task_status: run_simulation(
                    config, make_clients=clients, task_status=task_status
                )
            )
            await trio.sleep(600)
            assert rt.venues.venues["kucoin"].down and not rt.venues.venue_up("kucoin")
            assert all(rt.venues.venue_up(v) for v in config.enabled_venues if v != "kucoin")
            assert rt.positions.opened > 0
            assert all(
                "kucoin" not in (a.position.spec.long.venue, a.position.spec.short.venue)
                for a in rt.positions.actors.values()
            )
            rt.request_stop("test")
    delays = [
        e["retry_in_s"]
        for e in logs
        if e["event"] == "venue.task_failed" and e.get("task") == "books"
    ]
    cap = config.venues["kucoin"].backoff.cap_s
    assert len(delays) == holder["bad"].attempts - 1 or len(delays) == holder["bad"].attempts
    assert 5 <= len(delays) < 600 / 0.05  # restarted, but with backoff, not in a hot loop
    assert max(delays) > 4 * min(delays[:2]) and max(delays) <= cap
    assert any(e["event"] == "venue.down" for e in logs)


class RestingEntriesClient:
    """A venue that acknowledges entry orders but never fills or closes them (a stuck leg)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.resting: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def place_order(self, request: Any) -> Any:
        if request.reduce_only:
            return await self._inner.place_order(request)
        await trio.sleep(0.01)
        self.resting.add(request.client_order_id)
        return OrderAck(
            venue=request.venue,
            client_order_id=request.client_order_id,
            venue_order_id=f"rest-{len(self.resting)}",
            ts=trio.current_time(),
        )

    async def query_order(self, symbol: str, client_order_id: str) -> Any:
        if client_order_id in self.resting:
            return OrderReport(
                venue=self._inner.name,
                client_order_id=client_order_id,
                status=OrderStatus.OPEN,
                filled_qty=Decimal(0),
                avg_price=None,
            )
        return await self._inner.query_order(symbol, client_order_id)

    async def cancel_order(self, symbol: str, client_order_id: str) -> None:
        if client_order_id not in self.resting:
            await self._inner.cancel_order(symbol, client_order_id)


async def test_net_notional_watchdog_flattens_a_stuck_position(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config(watchdog_grace_s=5.0)
    config = attrs.evolve(  # one BTC entry leg (about 2000 of notional) breaches it
        config, risk=attrs.evolve(config.risk, max_net_notional_per_asset=Decimal(500))
    )
    stuck: dict[str, RestingEntriesClient] = {}

    def clients(world: SimWorld, venues: list[str]) -> dict[str, Any]:
        made = in_process_clients(world, venues)
        made["bybit"] = stuck["bybit"] = RestingEntriesClient(made["bybit"])
        return made

    with structlog.testing.capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            rt: Runtime = await nursery.start(
                lambda task_status: run_simulation(
                    config, make_clients=clients, task_status=task_status
                )
            )
            await eventually(lambda: bool(stuck["bybit"].resting), step=1.0)
            await trio.sleep(60)
            rt.request_stop("test")
    stuck_ids = {
        a.position_id
        for a in rt.positions.actors.values()
        if any(o.client_order_id in stuck["bybit"].resting for o in a.position.orders())
    }
    breaches = [e for e in logs if e["event"] == "watchdog.net_notional_breached"]
    assert breaches and breaches[0]["flattened"]
    assert set(breaches[0]["flattened"]) <= stuck_ids
    for pid in breaches[0]["flattened"]:
        position = rt.positions.actors[pid].position
        assert "OperatorFlatten" in [t.event for t in position.history]
        assert position.net_exposure() == 0  # the filled leg was closed


class UnreachableClient:
    """A venue client that can never load its instruments (DNS, refused, TLS: pick one)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def load_instruments(self) -> list[Any]:
        await trio.sleep(0.05)
        raise OSError("[Errno 111] Connection refused")


async def test_a_venue_that_never_becomes_ready_is_reported_and_the_others_trade_on(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config(ready_timeout_s=20.0)

    def clients(world: SimWorld, venues: list[str]) -> dict[str, Any]:
        made = in_process_clients(world, venues)
        made["bitget"] = UnreachableClient(made["bitget"])
        return made

    with structlog.testing.capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            rt: Runtime = await nursery.start(
                lambda task_status: run_simulation(
                    config, make_clients=clients, task_status=task_status
                )
            )
            await trio.sleep(300)
            (unavailable,) = rt.reconciler.mismatches.values()
            assert unavailable["kind"] == "venue_unavailable" and unavailable["venue"] == "bitget"
            assert "Connection refused" in unavailable["error"]
            assert rt.reconciler.reconciling and rt.reconciler.pending == {"bitget"}
            assert rt.positions.opened > 0  # the healthy venues trade on
            assert all(
                "bitget" not in (a.position.spec.long.venue, a.position.spec.short.venue)
                for a in rt.positions.actors.values()
            )
            rt.request_stop("test")
    assert any(
        e["event"] == "reconcile.venue_unavailable" and e["log_level"] == "critical" for e in logs
    )


async def test_a_position_drift_after_the_start_blocks_its_asset_until_it_clears(
    make_config: Any, autojump_clock: Any
) -> None:
    config = make_config(account_poll_s=5.0)
    world = new_world(config)

    def trade(side: Side, ts: float) -> None:
        inst = world.market.instrument("bybit", world.market.symbol_for("bybit", "BTC"))
        bids, asks = world.market.book_levels("bybit", inst.symbol)
        price = asks[0][0] if side is Side.BUY else bids[0][0]
        world.market.execute(  # a trade the service knows nothing about (manual, lost fill)
            "bybit", inst.symbol, side=side, qty=inst.lot_size * 10, price=price,
            reduce_only=False, client_order_id=f"manual-{side.value}", now=ts,
        )  # fmt: skip

    with structlog.testing.capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            rt: Runtime = await nursery.start(
                lambda task_status: run_simulation(config, world=world, task_status=task_status)
            )
            await trio.sleep(30)
            assert not rt.reconciler.reconciling and not rt.reconciler.drifts
            trade(Side.BUY, trio.current_time())
            await trio.sleep(30)  # several polls
            (drift,) = rt.reconciler.drifts.values()
            assert drift["kind"] == "position_drift" and drift["venue"] == "bybit"
            assert rt.reconciler.blocked_assets() == {"BTC"}
            opened = rt.positions.opened
            await trio.sleep(60)
            assert rt.positions.opened == opened  # nothing opens on BTC meanwhile
            trade(Side.SELL, trio.current_time())  # the venue agrees with the positions again
            await trio.sleep(30)
            assert not rt.reconciler.drifts and rt.reconciler.blocked_assets() == set()
            rt.request_stop("test")
    events = [e["event"] for e in logs]
    assert "reconcile.position_drift" in events and "reconcile.drift_resolved" in events
