"""``make bench``: the hot path measured against the speed targets of spec 003.

Rows (each ``{"name", "value", "unit", "target", "ok", "detail"}``):

* **sim feed decode+apply** — 5 venues × 50 symbols: msgspec-encoded book deltas (the
  simulated feed's message shape: symbol, sequence, changed levels) decoded by one
  module-level ``Decoder`` into Structs, sequence-checked and applied to the symbol's
  :class:`L2Book`. Messages per second on one core.
* **decision latency** — delta applied → both order requests built and signed (spec 003):
  the delta that opens an edge is applied to one book, then ``find_candidates`` over that
  asset's five books, the best candidate materialised (as the runtime does),
  ``RiskGate.check`` with the current :class:`Exposure`, a :class:`PositionSpec`,
  ``Position.handle(Open)`` returning the two ``PlaceOrder`` commands, and each leg's venue
  ``prepare_order`` building the exact signed HTTP request (Hyperliquid: msgpack + keccak +
  secp256k1 L1 signature; CEXs: JSON body + HMAC) with the timestamp / nonce read as the
  clients read it. p50 and p99, plus the same samples stopped at the two ``PlaceOrder``
  commands (before venue requests) for comparison.
* **resident memory** — the whole service (runtime, journal, strategy, five in-process
  simulated venues) on 5 venues × 50 symbols for a stretch of simulated time under Trio's
  MockClock: RSS at the end and its growth over the second half of the run.
* **venue rows** — every ``arbtrio.venues.<venue>`` package exporting ``bench_rows()`` adds
  its own rows (its real wire format's decode+apply, request signing).

Absolute figures depend on the machine (and on what else runs on it); the targets are the
design's, printed beside each row.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from arbtrio.core.book import L2Book
from arbtrio.core.detector import DetectorConfig, find_candidates
from arbtrio.core.events import Open, PlaceOrder
from arbtrio.core.instruments import Instrument
from arbtrio.core.position import ExecutionPolicy, Position, PositionSpec
from arbtrio.core.risk import Exposure, RiskGate, RiskLimits
from arbtrio.core.types import OrderRequest, Side
from arbtrio.sim.config import AssetConfig, SimConfig
from arbtrio.sim.market import SimMarket
from arbtrio.venues import bitget, bybit, gateio, hyperliquid, kucoin
from arbtrio.venues.base import PreparedRequest
from arbtrio.venues.hyperliquid.signing import Signer

VENUES = ("hyperliquid", "bybit", "bitget", "gateio", "kucoin")
TARGET_MSGS_PER_S = 200_000
TARGET_P50_US = 100.0
TARGET_P99_US = 500.0
TARGET_RSS_MB = 200.0


def bench_assets(n: int) -> tuple[AssetConfig, ...]:
    """``n`` simulated assets: BTC, ETH, SOL with real conventions, then synthetic ones."""
    rng = random.Random(5)
    named = [AssetConfig(asset="BTC", price=65_000.0), AssetConfig(asset="ETH", price=3_500.0),
             AssetConfig(asset="SOL", price=150.0)]  # fmt: skip
    extra = [
        AssetConfig(asset=f"A{i:02d}X", price=round(10 ** rng.uniform(-1, 3), 4))
        for i in range(max(0, n - len(named)))
    ]
    return tuple((named + extra)[:n])


# -- feed decode + apply ------------------------------------------------------------------
class Delta(msgspec.Struct, array_like=True):
    """The simulated feed's delta: symbol, sequence, changed bids and asks."""

    s: str
    u: int
    b: list[tuple[float, float]]
    a: list[tuple[float, float]]


_DELTA = msgspec.json.Decoder(Delta)


Books = dict[tuple[str, str], L2Book]


def _feed_messages(
    market: SimMarket, n: int, rng: random.Random
) -> tuple[Books, list[tuple[str, bytes]]]:
    books: dict[tuple[str, str], L2Book] = {}
    keys = []
    for venue in market.venues:
        for inst in market.instruments(venue):
            bids, asks = market.book_levels_float(venue, inst.symbol, 20)
            book = L2Book(venue, inst.symbol)
            book.apply_snapshot(bids, asks, 0.0, 0)
            books[(venue, inst.symbol)] = book
            keys.append((venue, inst.symbol, bids, asks, float(inst.tick_size)))
    seqs = {(v, s): 0 for v, s, *_ in keys}
    encoder = msgspec.json.Encoder()
    messages = []
    for _ in range(n):
        venue, symbol, bids, asks, _tick = keys[rng.randrange(len(keys))]
        seqs[(venue, symbol)] += 1
        changed_b = [(bids[rng.randrange(len(bids))][0], rng.choice((0.0, rng.uniform(0.1, 5.0))))
                     for _ in range(rng.randint(1, 3))]  # fmt: skip
        changed_a = [(asks[rng.randrange(len(asks))][0], rng.uniform(0.1, 5.0))
                     for _ in range(rng.randint(0, 2))]  # fmt: skip
        messages.append(
            (
                venue,
                encoder.encode(Delta(s=symbol, u=seqs[(venue, symbol)], b=changed_b, a=changed_a)),
            )
        )
    return books, messages


def _apply_all(books: dict[tuple[str, str], L2Book], messages: list[tuple[str, bytes]]) -> float:
    start = time.perf_counter()
    decode = _DELTA.decode
    for venue, raw in messages:
        msg = decode(raw)
        book = books[(venue, msg.s)]
        if msg.u != book.seq + 1:
            raise AssertionError(f"bench feed out of sequence: {venue}:{msg.s}")
        book.apply_delta(msg.b, msg.a, 0.0, msg.u)
    return time.perf_counter() - start


def bench_feed(market_factory: Callable[[], SimMarket], n: int) -> dict[str, Any]:
    best = float("inf")
    for _ in range(3):
        books, messages = _feed_messages(market_factory(), n, random.Random(11))
        best = min(best, _apply_all(books, messages))
    rate = n / best
    return {
        "name": "sim feed decode+apply (5 venues x 50 symbols)",
        "value": round(rate),
        "unit": "msg/s",
        "target": TARGET_MSGS_PER_S,
        "ok": rate >= TARGET_MSGS_PER_S,
        "detail": f"{n} msgspec JSON deltas of 1-5 levels, seq-checked, one core, best of 3",
    }


# -- decision latency ---------------------------------------------------------------------
# Fixed test credentials (real shapes: a secp256k1 key, CEX key/secret/passphrase strings).
BENCH_HL_KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
BENCH_API_KEY = "bench0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6"
BENCH_API_SECRET = "bench9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9"
BENCH_PASSPHRASE = "bench-passphrase"

Preparer = Callable[[OrderRequest], PreparedRequest]


def order_preparers(market: SimMarket) -> dict[str, Preparer]:
    """Per venue: the venue's ``prepare_order`` with fixed test credentials, the request's
    instrument (Hyperliquid: and asset index) and the timestamp / nonce read exactly as that
    venue's client reads it (wall clock in ms; Hyperliquid's :class:`NonceSource`)."""
    insts: dict[str, dict[str, Instrument]] = {
        v: {i.symbol: i for i in market.instruments(v)} for v in market.venues
    }
    hl_markets = {i.symbol: (i, n) for n, i in enumerate(market.instruments("hyperliquid"))}
    hl_account = hyperliquid.HyperliquidAccount(Signer(BENCH_HL_KEY, is_mainnet=True))
    nonces = hl_account.signer.nonces
    by = bybit.BybitAccount(BENCH_API_KEY, BENCH_API_SECRET)
    bg = bitget.BitgetAccount(BENCH_API_KEY, BENCH_API_SECRET, BENCH_PASSPHRASE)
    gt = gateio.GateAccount(BENCH_API_KEY, BENCH_API_SECRET)
    kc = kucoin.KucoinAccount(BENCH_API_KEY, BENCH_API_SECRET, BENCH_PASSPHRASE)
    by_i, bg_i, gt_i, kc_i = (insts[v] for v in ("bybit", "bitget", "gateio", "kucoin"))
    now = time.time

    return {
        "hyperliquid": lambda r: hyperliquid.prepare_order(
            r, hl_markets[r.symbol], hl_account, nonces.next()
        ),
        "bybit": lambda r: bybit.prepare_order(r, by_i[r.symbol], by, int(now() * 1000)),
        "bitget": lambda r: bitget.prepare_order(r, bg_i[r.symbol], bg, int(now() * 1000)),
        "gateio": lambda r: gateio.prepare_order(r, gt_i[r.symbol], gt, int(now() * 1000)),
        "kucoin": lambda r: kucoin.prepare_order(r, kc_i[r.symbol], kc, int(now() * 1000)),
    }


def bench_decision(market: SimMarket, iterations: int) -> list[dict[str, Any]]:
    """Delta applied → find_candidates → the best one materialised → risk gate →
    Position.handle(Open) → 2 orders → both venue requests built and signed."""
    detector = DetectorConfig(
        entry_threshold_bps=3.0, exit_threshold_bps=0.5, slippage_buffer_bps=1.0,
        max_quote_age_ms=1e12, target_notional=Decimal(2000), max_holding_s=600.0,
        stop_widen_bps=30.0,
    )  # fmt: skip
    gate = RiskGate(
        RiskLimits(
            max_notional_per_position=Decimal(10_000), max_notional_per_venue=Decimal(10**9),
            max_notional_total=Decimal(10**9), max_open_positions=10**6,
            max_net_notional_per_asset=Decimal(10**9), daily_loss_limit=Decimal(10**9),
            max_consecutive_failures=10**6,
        )
    )  # fmt: skip
    quote_rates = {"USDT": Decimal(1), "USDC": Decimal(1)}
    policy = ExecutionPolicy()
    books: dict[str, dict[str, tuple[Any, L2Book]]] = {}
    for venue in market.venues:
        for inst in market.instruments(venue):
            bids, asks = market.book_levels_float(venue, inst.symbol, 20)
            book = L2Book(venue, inst.symbol)
            book.apply_snapshot(bids, asks, 0.0, 0)
            books.setdefault(inst.asset, {})[venue] = (inst, book)
    assets = sorted(books)
    # For each (asset, venue): that venue's book shifted 40 bps down with its cheap asks
    # missing; the timed delta puts the cheapest ask back, which opens the edge.
    shifted: dict[tuple[str, str], tuple[L2Book, tuple[float, float]]] = {}
    for asset in assets:
        for venue, (inst, book) in books[asset].items():
            others_ask = max(b.best_ask()[0] for v, (_, b) in books[asset].items() if v != venue)  # type: ignore[index]
            bids = [(p * 0.996, q) for p, q in book.levels(Side.BUY)]
            asks = [(p * 0.996, q) for p, q in book.levels(Side.SELL)]
            moved = L2Book(venue, inst.symbol)
            moved.apply_snapshot(bids, [(p, q) for p, q in asks if p > others_ask], 0.0, 0)
            shifted[(asset, venue)] = (moved, (asks[0][0], asks[0][1] * 3))
    exposure = Exposure()
    prepare = order_preparers(market)
    rng = random.Random(3)
    samples: list[float] = []
    unsigned: list[float] = []
    found = 0
    gc.disable()
    try:
        for i in range(iterations):
            asset = assets[rng.randrange(len(assets))]
            venue = VENUES[rng.randrange(len(VENUES))]
            quotes = dict(books[asset])
            book, level = shifted[(asset, venue)]
            quotes[venue] = (quotes[venue][0], book)
            t0 = time.perf_counter_ns()
            book.apply_delta((), (level,), 0.0, book.seq + 1)
            candidates = find_candidates(
                asset, quotes, now=0.0, config=detector, quote_rates=quote_rates
            )
            commands: list[Any] = []
            if candidates:
                opp = candidates[0].materialize()
                if gate.check(opp, exposure).approved:
                    spec = PositionSpec(
                        position_id=f"b-{i}", asset=asset, long=opp.long, short=opp.short,
                        qty=opp.qty, long_price=opp.long_price, short_price=opp.short_price,
                        policy=policy, created_ts=0.0,
                    )  # fmt: skip
                    commands = Position(spec).handle(Open(ts=0.0))
            t1 = time.perf_counter_ns()
            requests = [
                prepare[c.request.venue](c.request) for c in commands if isinstance(c, PlaceOrder)
            ]
            t2 = time.perf_counter_ns()
            book.apply_delta((), ((level[0], 0.0),), 0.0, book.seq + 1)  # restore
            if len(commands) == 2 and len(requests) == 2:
                found += 1
                unsigned.append((t1 - t0) / 1000.0)
                samples.append((t2 - t0) / 1000.0)
    finally:
        gc.enable()
    if not samples:
        raise AssertionError("decision bench found no opportunity")
    p50, p99 = _percentiles(samples)
    u50, u99 = _percentiles(unsigned)
    detail = f"{found}/{iterations} deltas opened a pair; 5 books/asset, 50 assets, gc off"
    bare = "same samples stopped at the 2 PlaceOrder commands (no venue request)"
    return [
        {"name": "decision latency p50 (delta -> 2 requests signed)", "value": round(p50, 1),
         "unit": "us", "target": TARGET_P50_US, "ok": p50 <= TARGET_P50_US, "detail": detail},
        {"name": "decision latency p99 (delta -> 2 requests signed)", "value": round(p99, 1),
         "unit": "us", "target": TARGET_P99_US, "ok": p99 <= TARGET_P99_US, "detail": detail},
        {"name": "  of which decision only, p50", "value": round(u50, 1), "unit": "us",
         "target": None, "ok": True, "detail": bare},
        {"name": "  of which decision only, p99", "value": round(u99, 1), "unit": "us",
         "target": None, "ok": True, "detail": bare},
    ]  # fmt: skip


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


# -- memory --------------------------------------------------------------------------------
def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):  # not Linux: peak RSS instead
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def bench_memory(n_assets: int, sim_seconds: float) -> list[dict[str, Any]]:
    import trio
    import trio.testing

    from arbtrio.config import structure_config
    from arbtrio.runtime.logs import configure_logging
    from arbtrio.runtime.simulation import run_simulation

    configure_logging(level="error", fmt="json")
    baseline = _rss_mb()
    assets = bench_assets(n_assets)
    with tempfile.TemporaryDirectory() as tmp:
        config = structure_config(
            {
                "assets": [a.asset for a in assets],
                "service": {"journal": str(Path(tmp) / "bench.sqlite")},
                "logging": {"level": "error"},
                "sim": {"assets": [{"asset": a.asset, "price": a.price} for a in assets]},
            }
        )
        samples: list[tuple[float, float]] = []

        async def main() -> None:
            async def sample() -> None:
                while True:
                    await trio.sleep(sim_seconds / 10)
                    samples.append((trio.current_time(), _rss_mb()))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(sample)
                await run_simulation(config, duration=sim_seconds)
                nursery.cancel_scope.cancel()

        start = time.perf_counter()
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        wall = time.perf_counter() - start
    rss = _rss_mb()
    half = [m for t, m in samples if t >= samples[0][0] + sim_seconds / 2] or [rss]
    growth = max(half) - min(half)
    return [
        {"name": f"resident memory, 5 venues x {n_assets} symbols", "value": round(rss, 1),
         "unit": "MB", "target": TARGET_RSS_MB, "ok": rss <= TARGET_RSS_MB,
         "detail": f"whole service, {sim_seconds:g} s simulated in {wall:.0f} s wall "
                   f"(process before the run: {baseline:.0f} MB)"},
        {"name": "memory growth over the second half", "value": round(growth, 1), "unit": "MB",
         "target": 0.1 * TARGET_RSS_MB, "ok": growth <= 0.1 * TARGET_RSS_MB,
         "detail": "max - min RSS sampled every tenth of the run"},
    ]  # fmt: skip


# -- venue rows ---------------------------------------------------------------------------
def venue_rows() -> list[dict[str, Any]]:
    """Rows from every venue package that exports ``bench_rows()``."""
    rows: list[dict[str, Any]] = []
    for venue in VENUES:
        try:
            package = importlib.import_module(f"arbtrio.venues.{venue}")
        except ImportError:
            continue
        fn = getattr(package, "bench_rows", None)
        if fn is None:
            continue
        try:
            rows.extend(fn())
        except Exception as exc:  # one venue's broken bench must not hide the others
            rows.append(
                {
                    "name": f"{venue} bench",
                    "value": None,
                    "unit": "",
                    "target": None,
                    "ok": False,
                    "detail": f"failed: {type(exc).__name__}: {exc}",
                }
            )
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    header = ["benchmark", "value", "unit", "target", "ok", "detail"]
    cells = [header] + [
        [
            str(r["name"]),
            "-" if r["value"] is None else f"{r['value']:,}",
            str(r["unit"]),
            "-" if r["target"] is None else (
                f"<= {r['target']:,}" if r["unit"] in ("us", "MB") else f">= {r['target']:,}"
            ),
            "yes" if r["ok"] else "NO",
            str(r.get("detail", "")),
        ]
        for r in rows
    ]  # fmt: skip
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arbtrio.bench")
    parser.add_argument("--symbols", type=int, default=50, help="symbols (assets) per venue")
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--decisions", type=int, default=5_000)
    parser.add_argument("--sim-seconds", type=float, default=300.0,
                        help="simulated seconds of the memory run (0 to skip)")  # fmt: skip
    parser.add_argument("--no-venues", action="store_true", help="skip the venue packages' rows")
    parser.add_argument("--json", action="store_true", help="print rows as JSON lines")
    args = parser.parse_args(argv)

    config = SimConfig(assets=bench_assets(args.symbols))

    def factory() -> SimMarket:
        market = SimMarket(config)
        market.advance(0.0)
        market.advance(config.tick_interval_s)
        return market

    rows = [bench_feed(factory, args.messages)]
    rows += bench_decision(factory(), args.decisions)
    if args.sim_seconds > 0:
        rows += bench_memory(args.symbols, args.sim_seconds)
    if not args.no_venues:
        rows += venue_rows()
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(render(rows))
        print("\ntargets: spec 003 (absolute figures are indicative on a shared machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
