"""What only Hyperliquid has, against its emulator over real loopback sockets: the asset
index over a universe with a delisted coin, a stale subscription, pings against the idle
timeout, the IOC that cannot match, nonces and canonical numbers, ``scheduleCancel``, the
``userFills`` weight, the emulator registry and asset hints. What every venue does (books,
resyncs, reconnects, instruments, orders, errors, authentication) is in
``tests/venues/test_conformance.py``, with Hyperliquid's values in ``registry.py``.

On Trio's MockClock (``autojump_clock``): timeouts, pings, staleness and backoff run on
virtual time, so no test waits on the wall clock. Every wait is for an observable
condition, bounded by a ``trio.fail_after`` guard (virtual seconds); signature nonces use
the wall clock, which the emulator checks them against.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import attrs
import httpx
import pytest
import trio
from trio.testing import MockClock
from venues.rig import shared_tls_context

from arbtrio.core.book import L2Book
from arbtrio.core.ids import client_order_id
from arbtrio.core.instruments import round_price
from arbtrio.core.types import Fill, OrderRequest, OrderUpdate, Side
from arbtrio.emulators.app import ApiKeys
from arbtrio.emulators.hyperliquid import HyperliquidEmulator
from arbtrio.sim import FaultRates, MarketDriver, SimMarket, default_sim_config
from arbtrio.venues import hyperliquid
from arbtrio.venues.base import Credentials, OrderRejected, VenueError
from arbtrio.venues.hyperliquid import codecs as c
from arbtrio.venues.hyperliquid import create_client
from arbtrio.venues.hyperliquid.client import HyperliquidClient, symbols_for_hints
from arbtrio.venues.hyperliquid.signing import Signer
from arbtrio.venues.reconnect import Backoff

KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
OTHER_KEY = "0x" + "11" * 32
CREDS = Credentials(private_key=KEY)
EMU_KEYS = ApiKeys(private_key=KEY)
FAST = Backoff(base=0.05, cap=0.2)
GUARD = 10.0  # virtual seconds: a generous guard, never an assertion about speed


@attrs.define
class Env:
    market: SimMarket
    emulator: HyperliquidEmulator
    client: HyperliquidClient
    rest_url: str
    ws_url: str
    nursery: trio.Nursery

    def make_client(self, **kwargs: Any) -> HyperliquidClient:
        options: dict[str, Any] = {"request_timeout": 1.0, "backoff": FAST}
        options.update(kwargs)
        return create_client(rest_url=self.rest_url, ws_url=self.ws_url, **options)


@asynccontextmanager
async def running(faults: FaultRates | None = None, **emulator_options: Any) -> AsyncIterator[Env]:
    market = SimMarket(default_sim_config(seed=7, faults=faults))
    driver = MarketDriver(market)
    options: dict[str, Any] = {"hold_s": 3.0, "heartbeat_s": 0.2}
    options.update(emulator_options)
    with shared_tls_context():  # one CA bundle load per process, not per client
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            emulator = HyperliquidEmulator(market, driver, credentials=EMU_KEYS, **options)
            endpoints = await nursery.start(emulator.serve)
            client = create_client(
                rest_url=endpoints.rest_url,
                ws_url=endpoints.ws_url,
                credentials=CREDS,
                request_timeout=1.0,
                ping_interval=0.5,
                stale_after=1.0,
                backoff=FAST,
            )
            env = Env(market, emulator, client, endpoints.rest_url, endpoints.ws_url, nursery)
            try:
                yield env
            finally:
                await client.aclose()
                nursery.cancel_scope.cancel()


async def wait_for(condition: Callable[[], bool], signal: list[trio.Event]) -> None:
    """Wait (guarded) until ``condition()`` holds, re-checking whenever ``signal`` fires."""
    with trio.fail_after(GUARD):
        while not condition():
            await signal[0].wait()
            signal[0] = trio.Event()


def book_watcher() -> tuple[Callable[[L2Book], None], list[trio.Event], list[L2Book]]:
    signal = [trio.Event()]
    seen: list[L2Book] = []

    def on_update(book: L2Book) -> None:
        seen.append(book)
        signal[0].set()

    return on_update, signal, seen


def marketable(env: Env, side: Side, qty: str, attempt: int, away: str = "0.01") -> OrderRequest:
    inst = env.market.instrument("hyperliquid", "BTC")
    bids, asks = env.market.book_levels("hyperliquid", "BTC", 1)
    if side is Side.BUY:
        price = round_price(inst, asks[0][0] * (1 + Decimal(away)), "down")
    else:
        price = round_price(inst, bids[0][0] * (1 - Decimal(away)), "up")
    return OrderRequest(
        venue="hyperliquid",
        symbol="BTC",
        client_order_id=client_order_id("hyperliquid", "pos-1", "hl", attempt),
        side=side,
        qty=Decimal(qty),
        price=price,
    )


# -- instruments and books -----------------------------------------------------------------
async def test_instruments_index_the_full_universe(autojump_clock: MockClock) -> None:
    """Asset ids index the whole universe, delisted coins included; the instruments carry
    the venue's fixed rules (five significant figures, a $10 minimum). Ticks, lots and
    funding are compared with the simulator's in the conformance suite."""
    async with running() as env:
        instruments = {i.symbol: i for i in await env.client.load_instruments()}
        assert "LOOM" not in instruments  # delisted, but it still occupies index 1
        assert env.client._asset == {"BTC": 0, "LOOM": 1, "ETH": 2}
        for inst in instruments.values():
            assert inst.sig_figs == 5 and inst.min_notional == Decimal(10)


async def test_stale_subscription_is_resubscribed(autojump_clock: MockClock) -> None:
    async with running() as env:
        on_update, signal, _ = book_watcher()
        client = env.client
        await env.nursery.start(client.run_books, ["BTC"], on_update)
        await wait_for(lambda: client.books["BTC"].tradable, signal)
        for conn in env.emulator.conns:
            conn.stale.add("BTC")  # the venue silently stops updating this subscription
        await wait_for(lambda: client.books["BTC"].invalid_reason == "stale feed", signal)
        await wait_for(lambda: client.books["BTC"].tradable, signal)
        assert client.health.resyncs >= 1 and client.health.reconnects == 0


async def test_pings_keep_an_idle_connection_open(autojump_clock: MockClock) -> None:
    async with running(idle_timeout_s=0.6) as env:
        on_update, signal, seen = book_watcher()
        client = env.make_client(ping_interval=0.2, stale_after=5.0)
        await env.nursery.start(client.run_books, ["BTC"], on_update)
        await wait_for(lambda: len(seen) >= 30, signal)  # ≥ 30 pushes span several idle windows
        assert client.health.reconnects == 0
        await client.aclose()


# -- orders ----------------------------------------------------------------------------------
async def until_settled(receive: trio.MemoryReceiveChannel[Any]) -> list[Any]:
    """Events up to a terminal OrderUpdate whose filled_qty the fills seen so far add up to
    (the fills and the order update travel on two channels, in either order)."""
    events: list[Any] = []
    with trio.fail_after(GUARD):
        async for event in receive:
            events.append(event)
            final = [e for e in events if isinstance(e, OrderUpdate) and e.status.is_terminal]
            filled = sum(e.qty for e in events if isinstance(e, Fill))
            if final and final[-1].filled_qty == filled:
                return events
    raise AssertionError("stream ended")


async def test_ioc_that_cannot_match_is_rejected(autojump_clock: MockClock) -> None:
    async with running() as env:
        await env.client.load_instruments()
        request = marketable(env, Side.BUY, "0.01", 4, away="-0.05")  # 5 % below the ask
        with pytest.raises(OrderRejected, match="could not immediately match"):
            await env.client.place_order(request)


async def test_duplicate_nonce_and_non_canonical_numbers_are_refused(
    autojump_clock: MockClock,
) -> None:
    async with running() as env:
        signer = Signer(KEY, is_mainnet=False)
        order = c.OrderWire(
            a=0, b=True, p="1000", s="0.01", r=False, t=c.OrderType(limit=c.LimitTif(tif="Ioc"))
        )

        def body(action: Any, nonce: int) -> bytes:
            sig = signer.sign(action, nonce)
            return c.encode(
                c.ExchangeRequest(action=action, nonce=nonce, signature=c.Signature(**sig))
            )

        noop, nonce = c.NoopAction(), signer.nonces.next()
        async with httpx.AsyncClient(base_url=env.rest_url) as http:
            first = (await http.post("/exchange", content=body(noop, nonce))).json()
            second = (await http.post("/exchange", content=body(noop, nonce))).json()
            assert first == {"status": "ok", "response": {"type": "default"}}
            assert second == {
                "status": "err",
                "response": f"Invalid nonce: duplicate nonce {nonce}",
            }
            # "1000.0" is not canonical: the venue hashes "1000" and recovers another signer.
            padded = c.OrderAction(
                orders=[c.OrderWire(**{**_fields(order), "p": "1000.0"})], grouping="na"
            )
            reply = (
                await http.post("/exchange", content=body(padded, signer.nonces.next()))
            ).json()
            assert reply["status"] == "err" and "does not exist" in reply["response"]
            assert signer.address not in reply["response"]


def _fields(struct: Any) -> dict[str, Any]:
    return {f: getattr(struct, f) for f in struct.__struct_fields__}


async def test_schedule_cancel_needs_volume(autojump_clock: MockClock) -> None:
    async with running() as env:
        with pytest.raises(VenueError, match="enough volume traded"):
            await env.client.schedule_cancel(None)
    async with running(schedule_cancel_volume=Decimal(0)) as env:
        await env.client.schedule_cancel(None)
        assert env.emulator.scheduled_cancel is None


async def test_registered_emulator_reports_its_endpoints(autojump_clock: MockClock) -> None:
    from arbtrio.emulators import emulator_class
    from arbtrio.venues import hyperliquid

    market = SimMarket(default_sim_config(seed=3))
    driver = MarketDriver(market)
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.run)
        emulator = emulator_class("hyperliquid")(market, driver, EMU_KEYS)
        endpoints = await nursery.start(emulator.serve)
        assert endpoints.venue == "hyperliquid" and endpoints.ws_url.endswith("/ws")
        client = hyperliquid.create_client(rest_url=endpoints.rest_url)  # ws URL derived
        assert client.ws_url == endpoints.ws_url and not client.is_mainnet
        assert {i.symbol for i in await client.load_instruments()} == {"BTC", "ETH"}
        await client.aclose()
        nursery.cancel_scope.cancel()


async def test_user_fills_pay_one_more_weight_per_20_fills(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: MockClock
) -> None:
    """The documented IP weights: ``userFills`` is 20 plus 1 per 20 fills returned; the
    client's bucket pays what the emulator charges (45 fills: 20 + 2)."""
    from arbtrio.venues.ratelimit import TokenBucket

    seen: list[float] = []
    acquire = TokenBucket.acquire

    async def recording(self: TokenBucket, weight: float = 1.0) -> None:
        seen.append(weight)
        await acquire(self, weight)

    async with running() as env:
        await env.client.load_instruments()
        await env.client.place_order(marketable(env, Side.BUY, "0.01", 10))
        env.emulator.fills[:] = env.emulator.fills[:1] * 45
        monkeypatch.setattr(TokenBucket, "acquire", recording)
        fills = await env.client.fetch_fills()
        assert len(fills) == 45
        assert seen == [20, 2]


# -- symbol hints ------------------------------------------------------------------------------
def test_hints_name_instruments_by_asset_or_symbol() -> None:
    btc = c.instrument_from_meta(c.AssetMeta(name="BTC", szDecimals=5, maxLeverage=50))
    kbonk = attrs.evolve(
        c.instrument_from_meta(c.AssetMeta(name="kBONK", szDecimals=0, maxLeverage=5)),
        asset="BONK",
    )
    hints = ("BONK", "BTC", "kBONK", "DOGE", "BTC")
    assert symbols_for_hints(hints, [btc, kbonk]) == ["kBONK", "BTC"]
    assert symbols_for_hints((), [btc]) == []


async def test_asset_hints_as_arbtrio_run_passes_them(autojump_clock: MockClock) -> None:
    """``arbtrio run`` passes the configured *assets* as ``symbols_hint``: the client maps
    them through its instruments and never fails on one it does not know."""
    async with running() as env:
        client = hyperliquid.create_client(
            rest_url=env.rest_url, ws_url=env.ws_url, credentials=CREDS,
            symbols_hint=("BTC", "ETH", "DOGE"),
        )  # fmt: skip
        assert client.hinted_symbols == []  # nothing is resolved before instruments load
        assert {i.symbol for i in await client.load_instruments()} == {"BTC", "ETH"}
        assert client.hinted_symbols == ["BTC", "ETH"]
        on_update, signal, _ = book_watcher()
        await env.nursery.start(client.run_books, client.hinted_symbols, on_update)
        await wait_for(lambda: all(client.books[s].tradable for s in ("BTC", "ETH")), signal)
        send, receive = trio.open_memory_channel[Any](100)
        await env.nursery.start(client.run_order_stream, send)
        request = marketable(env, Side.BUY, "0.01", 11)
        await client.place_order(request)
        events = await until_settled(receive)
        assert sum(e.qty for e in events if isinstance(e, Fill)) == request.qty
        assert client.health.malformed == client.order_health.malformed == 0
        await client.aclose()
