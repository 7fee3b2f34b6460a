"""``arbtrio emulate``: all five venue emulators on fixed loopback ports, with test keys.

One simulated market (from a sim config's ``[sim]`` section and a seed) backs every
emulator. Venue ``i`` of :data:`VENUE_ORDER` listens on ``127.0.0.1:port_base + i``, so the
URLs are known before anything starts, and a service started against them in live mode
(``arbtrio run``) trades venues that outlive it: that is how crash recovery is tested for
real. :data:`TEST_KEYS` are the emulated accounts' API keys (loopback only, never real);
:func:`live_config` writes the live configuration that points ``arbtrio run`` at the
emulators, and :func:`environment` the variables that carry the keys to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import trio

from arbtrio.emulators import emulator_class
from arbtrio.emulators.app import ApiKeys, Endpoints
from arbtrio.sim.config import SimConfig
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.market import SimMarket

__all__ = [
    "DEFAULT_PORT_BASE",
    "TEST_KEYS",
    "VENUE_ORDER",
    "environment",
    "live_config",
    "serve_all",
]

VENUE_ORDER = ("hyperliquid", "bybit", "bitget", "gateio", "kucoin")
DEFAULT_PORT_BASE = 18_500

TEST_KEYS: Mapping[str, ApiKeys] = {
    "hyperliquid": ApiKeys(
        private_key="0x" + "4b" * 32,  # the API wallet
        account_address="0x" + "a1" * 20,  # the master account it trades for
    ),
    "bybit": ApiKeys(api_key="emu-bybit-key", api_secret="emu-bybit-secret"),
    "bitget": ApiKeys(
        api_key="emu-bitget-key", api_secret="emu-bitget-secret", passphrase="emu-bitget-pass"
    ),
    "gateio": ApiKeys(api_key="emu-gateio-key", api_secret="emu-gateio-secret"),
    "kucoin": ApiKeys(
        api_key="emu-kucoin-key", api_secret="emu-kucoin-secret", passphrase="emu-kucoin-pass"
    ),
}
"""The emulated accounts' keys (test values: the emulators check signatures with them)."""

_FIELDS = ("api_key", "api_secret", "passphrase", "private_key", "account_address")


def env_name(venue: str, field: str) -> str:
    """The environment variable that carries one key field to ``arbtrio run``."""
    return f"ARBTRIO_EMU_{venue.upper()}_{field.upper()}"


def environment(venues: Sequence[str] = VENUE_ORDER) -> dict[str, str]:
    """Every key of ``venues`` as the environment variables :func:`live_config` names."""
    out = {}
    for venue in venues:
        keys = TEST_KEYS[venue]
        for field in _FIELDS:
            value = getattr(keys, field)
            if value:
                out[env_name(venue, field)] = value
    return out


async def serve_all(
    sim: SimConfig,
    *,
    venues: Sequence[str] = VENUE_ORDER,
    port_base: int = DEFAULT_PORT_BASE,
    task_status: trio.TaskStatus[dict[str, Any]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the market and every emulator of ``venues`` until cancelled;
    ``task_status.started({"market", "emulators", "endpoints"})``."""
    market = SimMarket(sim)
    driver = MarketDriver(market)
    emulators: dict[str, Any] = {}
    endpoints: dict[str, Endpoints] = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.run)
        for venue in venues:
            emulator = emulator_class(venue)(market, driver, TEST_KEYS[venue])
            port = port_base + VENUE_ORDER.index(venue)
            serve = partial(emulator.serve, host="127.0.0.1", port=port)
            endpoints[venue] = await nursery.start(serve)
            emulators[venue] = emulator
        task_status.started({"market": market, "emulators": emulators, "endpoints": endpoints})


def live_config(
    endpoints: Mapping[str, Endpoints],
    *,
    base: Path | None = None,
    journal: str = "var/emulate-journal.sqlite",
    admin_socket: str = "var/emulate.sock",
    fx_usdc_usdt: str = "1.0",
) -> str:
    """A live configuration (TOML) for ``arbtrio run`` against ``endpoints``.

    The trading sections (``assets``, ``[detector]``, ``[risk]``, ``[execution]``) are copied
    from ``base`` (a sim config, e.g. ``config/sim.toml``) when given, so the live service
    trades the emulated market as the simulation does; ``[quote_rates]`` carries the
    simulated USDC/USDT rate."""
    lines = [
        "# arbtrio — live configuration against `arbtrio emulate` (loopback test keys).",
        "# Written by `arbtrio emulate --write-config`; the keys come from the environment",
        "# variables the command prints.",
        "",
    ]
    assets, sections = _trading_sections(base) if base is not None else ("", "")
    if assets:
        lines.append(assets)
    lines += [
        "",
        "[service]",
        'mode = "live"',
        f"journal = {_quote(journal)}",
        'journal_sync = "full"',
        f"admin_socket = {_quote(admin_socket)}",
        'shutdown = "flatten"',
        "ack_timeout_s = 3.0",
        "query_timeout_s = 3.0",
        "account_poll_s = 10.0",
        "",
        "[quote_rates]",
        'USDT = "1"',
        f"USDC = {_quote(fx_usdc_usdt)}",
    ]
    for venue in VENUE_ORDER:
        ep = endpoints.get(venue)
        lines += ["", f"[venues.{venue}]"]
        if ep is None:
            lines.append("enabled = false")
            continue
        lines += [f"rest_url = {_quote(ep.rest_url)}", f"ws_url = {_quote(ep.ws_url)}"]
        keys = TEST_KEYS[venue]
        secrets = [
            f"{field} = {_quote(env_name(venue, field))}"
            for field in _FIELDS
            if getattr(keys, field)
        ]
        lines.append("secrets = { " + ", ".join(secrets) + " }")
    if sections:
        lines += ["", sections]
    return "\n".join(lines) + "\n"


def _trading_sections(path: Path) -> tuple[str, str]:
    """The ``assets = …`` line and the ``[detector]``, ``[risk]``, ``[execution]`` tables of
    a TOML file, verbatim (comments included)."""
    keep = ("[detector]", "[risk]", "[execution]")
    out: list[str] = []
    assets = ""
    section = None
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.split("#", 1)[0].strip()
            if section in keep:
                out.append("")
        if section is None and stripped.startswith("assets"):
            assets = line
        elif section in keep:
            out.append(line)
    return assets, "\n".join(out).strip("\n")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
