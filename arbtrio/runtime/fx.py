"""Quote currency rates: USDC against USDT from a measured source, inside a sanity band.

Hyperliquid quotes USDC, the CEXs USDT, so every spread, notional and PnL across them goes
through ``quote_rates``. A static rate is right only while the two coins hold their peg;
with ``[fx] source = "http"`` the :class:`FxTracker` task polls a public price (by default
a spot ticker of USDC in USDT: any JSON endpoint, with the path to the price in it) every
``poll_s`` and writes the rate into the runtime's one ``quote_rates`` mapping, which every
reader shares. A reading outside ``band_bps`` of the configured rate is refused (logged as
an error, the last good rate kept: a depeg or a broken source needs a person), and so is
one that cannot be read (a warning). ``source = "static"`` keeps the configured rate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import attrs
import httpx
import structlog
import trio

__all__ = ["FxConfig", "FxTracker", "http_source", "read_path"]

log = structlog.get_logger("arbtrio.runtime")

FxSource = Callable[[], Awaitable[Decimal]]


def _positive(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not value > 0:
        raise ValueError(f"must be > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class FxConfig:
    """``[fx]``: where the rate of ``currency`` (in the reference currency) comes from.

    ``url`` answers JSON; ``path`` is the dotted path to the price in it (list indices as
    numbers, e.g. ``result.list.0.lastPrice``); ``invert`` when the source quotes the
    reference currency in ``currency``."""

    source: Literal["static", "http"] = "static"
    currency: str = "USDC"
    url: str = ""
    path: str = ""
    invert: bool = False
    poll_s: float = attrs.field(default=30.0, validator=_positive)
    band_bps: float = attrs.field(default=50.0, validator=_positive)
    timeout_s: float = attrs.field(default=5.0, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.source == "http" and not (self.url and self.path):
            raise ValueError('fx: source "http" needs url and path')


def read_path(data: Any, path: str) -> Any:
    """``data`` followed along ``path`` (dots; numbers index lists). KeyError/IndexError/
    TypeError when it does not lead anywhere."""
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def http_source(config: FxConfig, client: httpx.AsyncClient) -> FxSource:
    """The rate read from ``config.url`` at ``config.path`` (inverted if asked)."""

    async def read() -> Decimal:
        response = await client.get(config.url, timeout=config.timeout_s)
        response.raise_for_status()
        value = Decimal(str(read_path(response.json(), config.path)))
        if not value.is_finite() or value <= 0:
            raise ValueError(f"not a positive price: {value}")
        return 1 / value if config.invert else value

    return read


class FxTracker:
    """Keeps ``quote_rates[config.currency]`` measured (see the module docstring); the one
    writer of that entry."""

    def __init__(
        self,
        config: FxConfig,
        quote_rates: MutableMapping[str, Decimal],
        source: FxSource | None = None,
    ) -> None:
        self.config = config
        self.quote_rates = quote_rates
        self.configured = quote_rates.get(config.currency)
        self.source = source
        self.readings = 0
        self.refused = 0
        self.failures = 0
        self.last_error = ""

    def accept(self, rate: Decimal) -> bool:
        """Take ``rate`` if it lies inside the band around the configured rate."""
        base = self.configured
        if base is None or abs(rate / base - 1) * 10_000 > Decimal(repr(self.config.band_bps)):
            self.refused += 1
            log.error("fx.outside_band", currency=self.config.currency, rate=str(rate),
                      configured=str(base), band_bps=self.config.band_bps,
                      kept=str(self.quote_rates.get(self.config.currency)))  # fmt: skip
            return False
        if self.quote_rates.get(self.config.currency) != rate:
            log.info("fx.rate", currency=self.config.currency, rate=str(rate))
        self.quote_rates[self.config.currency] = rate
        self.readings += 1
        return True

    async def run(self) -> None:
        """Poll the source every ``poll_s`` until cancelled (returns at once when static)."""
        if self.config.source == "static":
            return
        async with httpx.AsyncClient() as client:
            source = self.source or http_source(self.config, client)
            while True:
                try:
                    self.accept(await source())
                except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError,
                        InvalidOperation) as exc:  # fmt: skip
                    self.failures += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("fx.unreadable", currency=self.config.currency,
                                error=self.last_error)  # fmt: skip
                await trio.sleep(self.config.poll_s)
