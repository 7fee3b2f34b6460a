"""The ``arbtrio`` command: ``sim``, ``run``, ``emulate``, ``admin`` and ``watch``.

* ``arbtrio sim`` — the whole service against the five simulated venues (in-process, or
  ``--wire`` through each venue's loopback emulator and real client). Real time by default
  with a status line every second; ``--virtual-time`` runs simulated hours in seconds. Ends
  with a summary (and ``--summary-json``, ``--report DIR``). ``--seeds 1-20`` (or
  ``3,5,9``) runs one virtual-time simulation per seed in parallel processes
  (:mod:`arbtrio.sim.evaluate`): a row per seed, an aggregate, a progress line.
* ``arbtrio run --config PATH`` — live (``mode = "live"``) or paper (live data, simulated
  execution). Refuses to start when a venue has no adapter package or its secrets are unset.
* ``arbtrio emulate`` — the five venue emulators on fixed loopback ports with test keys
  (prints the URLs and keys; ``--write-config`` writes a live config for ``arbtrio run``).
* ``arbtrio admin ...`` — the admin socket: status, positions, position ID, books, pause,
  resume, flatten ID | --all, kill, override, watch.
* ``arbtrio watch VENUE SYMBOL`` — stream one venue's book.

Exit codes: 0 success (including a graceful stop on SIGINT/SIGTERM), 1 runtime failure,
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing

from arbtrio.config import (
    Config,
    ConfigError,
    load_config,
    load_credentials,
    missing_secrets,
    structure_config,
)

DEFAULT_SIM_CONFIG = Path("config/sim.toml")


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""


# -- helpers ---------------------------------------------------------------------------------
def _load(path: str | None, *, default: Path | None = None) -> Config:
    if path is not None:
        return load_config(path)
    if default is not None and default.exists():
        return load_config(default)
    return structure_config({}, source="<built-in defaults>")


def _venue_package(venue: str) -> Any:
    try:
        return importlib.import_module(f"arbtrio.venues.{venue}")
    except ImportError as exc:
        raise CliError(
            f"venue {venue!r} has no adapter package (arbtrio.venues.{venue}): {exc}"
        ) from None


async def _serve_with_signals(runtime: Any, body: Any) -> None:
    """Run ``body`` (which runs the runtime); SIGINT/SIGTERM stop it gracefully, a second
    signal cancels at once."""
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:

            async def watch_signals() -> None:
                count = 0
                async for sig in signals:
                    count += 1
                    name = signal.Signals(sig).name
                    if count == 1:
                        print(f"\n{name}: stopping gracefully (again to stop now)", file=sys.stderr)
                        runtime().request_stop(f"signal {name}")
                    else:
                        nursery.cancel_scope.cancel()

            nursery.start_soon(watch_signals)
            await body()
            nursery.cancel_scope.cancel()


# -- sim -------------------------------------------------------------------------------------
def cmd_sim(args: argparse.Namespace) -> int:
    from arbtrio.runtime.clock import EpochClock
    from arbtrio.runtime.logs import StatusBoard, configure_logging
    from arbtrio.runtime.simulation import format_summary, new_world, run_simulation

    config = _load(args.config, default=DEFAULT_SIM_CONFIG)
    if config.service.mode != "sim":
        raise CliError(f"config mode is {config.service.mode!r}: use `arbtrio run` for it")
    if args.seeds is not None:
        return _sim_seeds(args, config)
    if args.seed is not None:
        config = attrs.evolve(config, sim=attrs.evolve(config.sim, seed=args.seed))
    journal = args.journal or config.service.journal
    admin_socket = None if args.no_admin else (args.admin_socket or config.service.admin_socket)
    _check_socket_free(admin_socket)
    _fresh_journal(journal)
    board = StatusBoard(sys.stdout, interactive=sys.stdout.isatty())
    configure_logging(level=config.logging.level, fmt=config.logging.format, board=board)
    status_out = None if args.quiet else board.show
    holder: dict[str, Any] = {}
    world = new_world(config)

    async def main() -> dict[str, Any]:
        summary: dict[str, Any] = {}

        async def body() -> None:
            summary.update(
                await run_simulation(
                    config,
                    duration=args.duration,
                    journal_path=journal,
                    admin_socket=admin_socket,
                    wire=args.wire,
                    status=status_out,
                    world=world,
                    runtime_hook=lambda rt: holder.__setitem__("runtime", rt),
                )
            )

        await _serve_with_signals(lambda: holder["runtime"], body)
        return summary

    if args.virtual_time:
        summary = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    else:
        summary = trio.run(main, clock=EpochClock())
    board.close()
    if not summary:
        print("stopped before the run completed (no summary)", file=sys.stderr)
        return 1
    print(format_summary(summary))
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(summary, indent=2) + "\n")
    if args.report:
        from arbtrio.sim.evaluate import aggregate
        from arbtrio.sim.report import write_report

        index = write_report([summary], aggregate([summary]), args.report)[-1]
        print(f"report written: {index}")
    return 0


def _sim_seeds(args: argparse.Namespace, config: Config) -> int:
    """``arbtrio sim --seeds``: one virtual-time run per seed in parallel processes."""
    from arbtrio.sim.evaluate import Progress, aggregate, evaluate, format_table, parse_seeds

    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.seed is not None:
        raise CliError("--seed and --seeds are exclusive")
    if args.duration is None or not args.duration > 0:
        raise CliError("--seeds needs --duration (simulated seconds per seed)")
    if args.wire:
        raise CliError("--seeds runs in-process venues in virtual time; --wire is not supported")
    if args.jobs is not None and args.jobs < 1:
        raise CliError("--jobs must be >= 1")
    progress = Progress(len(seeds))
    try:
        runs = evaluate(config, seeds, duration=args.duration, jobs=args.jobs,
                        on_done=progress.update)  # fmt: skip
    finally:
        progress.close()
    agg = aggregate(runs)
    print(format_table(runs, agg))
    if args.summary_json:
        document = {"seeds": seeds, "duration_s": args.duration, "runs": runs, "aggregate": agg}
        Path(args.summary_json).write_text(json.dumps(document, indent=2) + "\n")
    if args.report:
        from arbtrio.sim.report import write_report

        index = write_report(runs, agg, args.report)[-1]
        print(f"report written: {index}")
    return 0


def _check_socket_free(path: str | None) -> None:
    """Refuse early (and clearly) when another running service owns the admin socket."""
    if path is None or not os.path.exists(path):
        return
    import socket

    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return  # stale: the service replaces it
    finally:
        probe.close()
    raise CliError(f"admin socket {path} is in use: another arbtrio is running")


def _fresh_journal(path: str) -> None:
    """The simulated market starts flat, so a sim run starts a fresh journal."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        q = Path(str(p) + suffix)
        if q.exists():
            q.unlink()


# -- run -------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from arbtrio.runtime.clock import EpochClock
    from arbtrio.runtime.logs import configure_logging
    from arbtrio.runtime.paper import PaperVenueClient
    from arbtrio.runtime.service import Runtime

    config = load_config(args.config)
    mode = config.service.mode
    if mode == "sim":
        raise CliError('config mode is "sim": use `arbtrio sim --config ...` for simulation')
    venues = list(config.enabled_venues)
    problems = []
    packages = {}
    for venue in venues:
        try:
            package = _venue_package(venue)
        except CliError as exc:
            problems.append(str(exc))
            continue
        if not hasattr(package, "create_client"):
            problems.append(f"venue {venue!r}: arbtrio.venues.{venue} has no create_client yet")
            continue
        packages[venue] = package
        if mode == "live":
            missing = missing_secrets(config, venue)
            if missing:
                problems.append(
                    f"venue {venue!r}: secrets missing from the environment: {', '.join(missing)}"
                )
    if problems:
        raise CliError("cannot start:\n  " + "\n  ".join(problems))
    _check_socket_free(config.service.admin_socket)
    credentials = {v: load_credentials(config, v) for v in venues} if mode == "live" else {}
    secrets_ = [s for c in credentials.values() for s in c.secrets()]
    configure_logging(level=config.logging.level, fmt=config.logging.format, secrets=secrets_)
    clients: dict[str, Any] = {}
    for venue, package in packages.items():
        vcfg = config.venues[venue]
        symbols = tuple(config.assets)
        client = package.create_client(
            rest_url=vcfg.rest_url or None,
            ws_url=vcfg.ws_url or None,
            credentials=credentials.get(venue),
            symbols_hint=symbols,
        )
        clients[venue] = PaperVenueClient(client) if mode == "paper" else client
    runtime = Runtime(config, clients, admin_socket=config.service.admin_socket)

    async def main() -> str:
        await _serve_with_signals(lambda: runtime, runtime.run)
        return runtime.status_line()

    print(trio.run(main, clock=EpochClock()))
    return 0


# -- emulate ---------------------------------------------------------------------------------
def cmd_emulate(args: argparse.Namespace) -> int:
    from arbtrio.emulators.serve import environment, live_config, serve_all
    from arbtrio.runtime.clock import EpochClock
    from arbtrio.runtime.logs import configure_logging

    config_path = Path(args.config) if args.config else DEFAULT_SIM_CONFIG
    config = _load(args.config, default=DEFAULT_SIM_CONFIG)
    sim = config.sim if args.seed is None else attrs.evolve(config.sim, seed=args.seed)
    venues = [v for v in config.enabled_venues]
    configure_logging(level="warning", fmt="console" if sys.stdout.isatty() else "json")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            started = await nursery.start(
                partial(serve_all, sim, venues=venues, port_base=args.port_base)
            )
            endpoints = started["endpoints"]
            print(f"arbtrio emulate: {len(endpoints)} venues on loopback, market seed {sim.seed}")
            for venue, ep in endpoints.items():
                print(f"  {venue:<12} rest {ep.rest_url}  ws {ep.ws_url}")
            print("test keys (loopback only), for `arbtrio run`:")
            for name, value in environment(venues).items():
                print(f"  export {name}={value}")
            text = live_config(
                endpoints,
                base=config_path if config_path.exists() else None,
                journal=args.journal,
                admin_socket=args.admin_socket,
                fx_usdc_usdt=str(sim.fx_usdc_usdt),
            )
            if args.write_config:
                path = trio.Path(args.write_config)
                await path.parent.mkdir(parents=True, exist_ok=True)
                await path.write_text(text)
                print(f"live config written: {path}  →  arbtrio run --config {path}")
            print("Ctrl-C stops.", flush=True)
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    trio.run(main, clock=EpochClock())
    return 0


def cmd_chaos(args: argparse.Namespace) -> int:
    from arbtrio.chaos import run_chaos

    return run_chaos(trials=args.trials, seed=args.seed, workdir=args.workdir)


# -- admin -----------------------------------------------------------------------------------
def cmd_admin(args: argparse.Namespace) -> int:
    from arbtrio.runtime.admin import AdminClient, AdminError

    socket_path = args.socket or _default_socket(args)
    params: dict[str, Any] = {}
    method = args.method
    if method in ("position",):
        if not args.target:
            raise CliError("usage: arbtrio admin position ID")
        params["id"] = args.target
    elif method == "flatten":
        if args.all:
            params["all"] = True
        elif args.target:
            params["id"] = args.target
        else:
            raise CliError("usage: arbtrio admin flatten ID | flatten --all [--force]")
        if args.force:
            params["force"] = True

    async def main() -> int:
        try:
            client = await AdminClient.connect(socket_path)
        except OSError as exc:
            raise CliError(
                f"cannot connect to the admin socket {socket_path}: {exc.strerror or exc}"
            ) from None
        try:
            try:
                result = await client.call(method, params)
            except AdminError as exc:
                print(f"error {exc.code}: {exc.message}", file=sys.stderr)
                return 1
            if method == "watch":
                if not args.json:
                    print("watching transitions (Ctrl-C to stop)", file=sys.stderr)
                async for note in client.notifications():
                    if args.json:
                        print(json.dumps(note), flush=True)
                    else:
                        print(_format_note(note), flush=True)
                return 0
            print(json.dumps(result, indent=2) if args.json else render(method, result))
            return 0
        finally:
            await client.aclose()

    try:
        return trio.run(main)
    except KeyboardInterrupt:
        return 0


def _default_socket(args: argparse.Namespace) -> str:
    if args.config:
        return load_config(args.config).service.admin_socket
    if DEFAULT_SIM_CONFIG.exists():
        return load_config(DEFAULT_SIM_CONFIG).service.admin_socket
    return structure_config({}).service.admin_socket


def _format_note(note: dict[str, Any]) -> str:
    if note.get("method") == "watch.dropped":
        return f"dropped by the server: {note['params'].get('reason')}"
    p = note.get("params", {})
    reason = f" ({p['reason']})" if p.get("reason") else ""
    return (
        f"{p.get('position_id')} {p.get('asset')}: {p.get('from')} --{p.get('event')}--> "
        f"{p.get('to')}{reason} pnl {p.get('realized_pnl')}"
    )


def _table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(method: str, result: Any) -> str:
    """Human-readable output of an admin method's result."""
    if method == "status":
        r = result
        flags = [k for k in ("paused", "breaker", "stopping", "reconciling") if r.get(k)]
        out = [
            f"mode {r['mode']}  run {r['run_id']}  uptime {r['uptime_s']}s"
            + (f"  [{' '.join(flags).upper()}]" if flags else ""),
            f"positions {r['positions'] or {}}  realised PnL {r['realized_pnl']}  fees {r['fees']}",
            f"opportunities seen {r['opportunities_seen']}  opened {r['opened']}  "
            f"rejected {r['rejections'] or {}}",
            "",
        ]
        rows = []
        for name, v in r["venues"].items():
            rows.append(
                [
                    name,
                    "up" if v["up"] else ("DOWN" if v["down"] else "not ready"),
                    " ".join(f"{k}{'+' if on else '-'}" for k, on in v["tasks"].items()),
                    f"{v['books_tradable']}/{v['books']}",
                    v["book_age_s"],
                    v["restarts"],
                    v["last_error"][:60],
                ]
            )
        out.append(
            _table(rows, ["venue", "state", "tasks", "books", "age s", "restarts", "last error"])
        )
        if r.get("mismatches"):
            out.append("")
            out.append("reconciliation mismatches:")
            out.extend(f"  {m}" for m in r["mismatches"])
        return "\n".join(out)
    if method == "positions":
        rows = [
            [
                p["id"], p["asset"], p["state"], p["long_venue"], p["short_venue"], p["qty"],
                f"{p['legs'][0]['filled']}/{p['legs'][1]['filled']}", p["net_exposure"],
                p["realized_pnl"] if p["state"] == "SETTLED" else "open", p["age_s"],
            ]
            for p in result
        ]  # fmt: skip
        header = ["id", "asset", "state", "long", "short", "qty", "filled L/S", "net", "realised"]
        return _table(rows, [*header, "age s"]) if rows else "no positions"
    if method == "position":
        p = result
        out = [
            f"{p['id']}  {p['asset']}  {p['state']}  long {p['long_venue']} / short "
            f"{p['short_venue']}  qty {p['qty']}  net {p['net_exposure']}",
            f"realised PnL {p['realized_pnl']}  fees {p['fees']}  funding {p['funding']}",
            "",
        ]
        leg_rows = [
            [
                leg["leg"],
                leg["venue"],
                leg["side"],
                leg["qty"],
                leg["filled"],
                leg["avg_price"],
                leg["status"],
            ]
            for leg in p["legs"]
        ]
        out.append(
            _table(leg_rows, ["leg", "venue", "side", "qty", "filled", "avg price", "status"])
        )
        order_rows = [
            [o["leg"], o["attempt"], o["purpose"], o["side"], o["qty"], o["price"], o["status"],
             o["filled"], o["client_order_id"]]
            for leg in p["legs"] for o in leg["orders"]
        ]  # fmt: skip
        out += [
            "",
            _table(
                order_rows,
                [
                    "leg",
                    "#",
                    "purpose",
                    "side",
                    "qty",
                    "price",
                    "status",
                    "filled",
                    "client order id",
                ],
            ),
        ]
        fill_rows = [
            [leg["leg"], f["trade_id"], f["side"], f["qty"], f["price"], f["fee"]]
            for leg in p["legs"] for f in leg["fills"]
        ]  # fmt: skip
        if fill_rows:
            out += ["", _table(fill_rows, ["leg", "trade id", "side", "qty", "price", "fee"])]
        hist = [[t["ts"], t["from"], t["event"], t["to"], t["reason"]] for t in p["history"]]
        out += ["", _table(hist, ["ts", "from", "event", "to", "reason"])]
        return "\n".join(out)
    if method == "books":
        rows = [
            [b["venue"], b["symbol"], b["bid"], b["bid_size"], b["ask"], b["ask_size"],
             "yes" if b["tradable"] else f"no ({b['reason']})", b["age_s"], b["seq"]]
            for b in result
        ]  # fmt: skip
        return _table(
            rows, ["venue", "symbol", "bid", "size", "ask", "size", "tradable", "age s", "seq"]
        )
    return json.dumps(result, indent=2)


# -- watch -----------------------------------------------------------------------------------
def cmd_watch(args: argparse.Namespace) -> int:
    from decimal import Decimal

    from arbtrio.core.instruments import format_decimal
    from arbtrio.core.types import Side

    package = _venue_package(args.venue)
    if not hasattr(package, "create_client"):
        raise CliError(f"arbtrio.venues.{args.venue} has no create_client yet")
    client = package.create_client(
        rest_url=args.rest_url, ws_url=args.ws_url, symbols_hint=[args.symbol]
    )
    last: dict[str, Any] = {}
    steps: dict[str, Decimal] = {}

    def fmt(value: float, kind: str) -> str:
        """A book float as a decimal string on the instrument's tick or lot when known."""
        d = Decimal(repr(value))
        step = steps.get(kind)
        return format_decimal(d.quantize(step) if step is not None else d)

    def on_update(book: Any) -> None:
        if book.symbol != args.symbol:
            return
        bids = book.levels(Side.BUY, args.levels)
        asks = book.levels(Side.SELL, args.levels)
        top = (tuple(bids), tuple(asks), book.tradable)
        if last.get("top") == top:
            return
        last["top"] = top
        if args.json:
            if not book.tradable:
                return  # resyncing: the next snapshot is printed
            print(
                json.dumps(
                    {
                        "venue": args.venue,
                        "symbol": args.symbol,
                        "ts": book.last_update_ts,
                        "bids": [[fmt(p, "price"), fmt(s, "size")] for p, s in bids],
                        "asks": [[fmt(p, "price"), fmt(s, "size")] for p, s in asks],
                    }
                ),
                flush=True,
            )
            return
        state = "" if book.tradable else f"  [not tradable: {book.invalid_reason}]"
        print(f"{args.venue} {args.symbol} seq {book.seq}{state}")
        for ap, asz in reversed(asks):
            print(f"            {ap:>14.6g}  {asz:<12.6g}")
        for bp, bsz in bids:
            print(f"{bsz:>12.6g}{bp:>14.6g}")
        print(flush=True)

    async def main() -> None:
        try:
            try:
                with trio.fail_after(10):
                    instruments = await client.load_instruments()
            except Exception as exc:  # watching still works, with float formatting
                print(f"(instruments unavailable: {type(exc).__name__})", file=sys.stderr)
                instruments = []
            for inst in instruments:
                if inst.symbol == args.symbol:
                    steps["price"] = inst.tick_size
                    steps["size"] = inst.lot_size
            await client.run_books([args.symbol], on_update)
        finally:
            with trio.CancelScope(shield=True):
                await client.aclose()

    from arbtrio.runtime.clock import EpochClock

    with contextlib.suppress(KeyboardInterrupt):
        trio.run(main, clock=EpochClock())  # book timestamps read as epoch seconds
    return 0


# -- parser ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arbtrio", description="Hedged perp arbitrage on Trio.")
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("sim", help="run the service against the simulated venues")
    sim.add_argument("--config", help=f"TOML config (default {DEFAULT_SIM_CONFIG} if present)")
    sim.add_argument("--seed", type=int, help="simulator seed (overrides sim.seed)")
    sim.add_argument("--duration", type=float, help="stop after this many (simulated) seconds")
    sim.add_argument("--virtual-time", action="store_true", help="simulated time: hours in seconds")
    sim.add_argument("--admin-socket", help="admin socket path (default from config)")
    sim.add_argument("--no-admin", action="store_true", help="do not open an admin socket")
    sim.add_argument("--journal", help="journal path (default from config; started fresh)")
    sim.add_argument("--summary-json", help="also write the summary as JSON to this file")
    sim.add_argument("--wire", action="store_true", help="use venue emulators + real clients")
    sim.add_argument("--quiet", action="store_true", help="no status line")
    sim.add_argument("--seeds", metavar="SPEC",
                     help="one virtual-time run per seed in parallel, e.g. 1-20 or 3,5,9 "
                          "(needs --duration)")  # fmt: skip
    sim.add_argument("--jobs", type=int, help="processes for --seeds (default: all cores)")
    sim.add_argument("--report", metavar="DIR",
                     help="also write PNG plots and index.html into DIR")  # fmt: skip
    sim.set_defaults(func=cmd_sim)

    run = sub.add_parser("run", help="run live or paper")
    run.add_argument("--config", required=True, help="TOML config (mode live or paper)")
    run.set_defaults(func=cmd_run)

    adm = sub.add_parser("admin", help="inspect and control a running service")
    adm.add_argument("--socket", help="admin socket path (default from config)")
    adm.add_argument("--config", help="read the socket path from this config")
    adm.add_argument("--json", action="store_true", help="raw JSON result")
    adm.add_argument(
        "method",
        choices=["status", "positions", "position", "books", "pause", "resume", "flatten", "kill",
                 "override", "watch"],
    )  # fmt: skip
    adm.add_argument("target", nargs="?", help="position id (position, flatten)")
    adm.add_argument("--all", action="store_true", help="flatten every position")
    adm.add_argument(
        "--force",
        action="store_true",
        help="flatten even a hedged pair whose venue is down, stale or refusing orders",
    )
    adm.set_defaults(func=cmd_admin)

    emu = sub.add_parser(
        "emulate", help="serve the five venue emulators on fixed loopback ports (test keys)"
    )
    emu.add_argument("--config", help=f"sim config for the market (default {DEFAULT_SIM_CONFIG})")
    emu.add_argument("--seed", type=int, help="market seed (overrides sim.seed)")
    emu.add_argument("--port-base", type=int, default=18_500,
                     help="venue i listens on 127.0.0.1:PORT_BASE+i (default 18500)")  # fmt: skip
    emu.add_argument("--write-config", metavar="PATH",
                     help="write a live config for `arbtrio run` against them")  # fmt: skip
    emu.add_argument("--journal", default="var/emulate-journal.sqlite",
                     help="journal path in the written config")  # fmt: skip
    emu.add_argument("--admin-socket", default="var/emulate.sock",
                     help="admin socket path in the written config")  # fmt: skip
    emu.set_defaults(func=cmd_emulate)

    chaos = sub.add_parser(
        "chaos", help="SIGKILL `arbtrio run` against `arbtrio emulate` at random moments"
    )
    chaos.add_argument("--trials", type=int, default=20, help="killed runs (default 20)")
    chaos.add_argument("--seed", type=int, default=1, help="market and kill-time seed")
    chaos.add_argument("--workdir", help="journal, configs and logs (default: a temp dir)")
    chaos.set_defaults(func=cmd_chaos)

    watch = sub.add_parser("watch", help="stream one venue's order book")
    watch.add_argument("venue")
    watch.add_argument("symbol")
    watch.add_argument("--ws-url")
    watch.add_argument("--rest-url")
    watch.add_argument("--levels", type=int, default=5)
    watch.add_argument("--json", action="store_true", help="one JSON object per top change")
    watch.set_defaults(func=cmd_watch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except (ConfigError, CliError) as exc:
        print(f"arbtrio: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
