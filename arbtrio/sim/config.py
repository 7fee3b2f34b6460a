"""Configuration of the simulated market: attrs frozen classes, structurable from TOML.

Every class here is ``@attrs.frozen(kw_only=True)`` with plain snake_case fields, so the
runtime can load ``config/sim.toml`` with :func:`structure_sim_config` (or its own cattrs
converter after :func:`register_hooks`). Every numeric field is validated on construction
and a bad value raises ``ValueError`` naming the field.

Units: prices and notionals in quote units (USDT), rates as fractions unless the field name
says ``_bps`` (basis points, 1e-4), durations in seconds unless it says ``_hours``; volatility
is annualised (fraction per √year).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
import cattrs

VENUES: tuple[str, ...] = ("hyperliquid", "bybit", "bitget", "gateio", "kucoin")
"""The five simulated venues, named after the real ones."""

LATENCY_DISTRIBUTIONS = ("fixed", "uniform", "lognormal", "exponential")

ORDER_FAULTS = (
    "reject",
    "ack_timeout_executed",
    "ack_timeout_not_executed",
    "partial_fill",
    "duplicate_fill",
    "rate_limit",
)
"""Faults drawn once per order request (or per fill for ``duplicate_fill``)."""

FEED_FAULTS = ("feed_disconnect", "sequence_gap", "bad_checksum", "stale_feed")
"""Faults drawn once per market-data frame (one per venue per market tick)."""


def _probability(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
        raise ValueError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


def _non_negative(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _finite(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{attribute.name} must be finite, got {value!r}")


@attrs.frozen(kw_only=True)
class FaultRates:
    """Probability of each fault. Order faults are drawn per order request (``duplicate_fill``
    per fill delivered); feed faults per market-data frame (one frame per venue per tick).

    ``partial_fill`` is applied by :meth:`SimMarket.execute` (it caps the fill below what the
    ladder could give); the others are applied by the venue client or emulator, which draw them
    with :meth:`SimMarket.fault`.
    """

    reject: float = attrs.field(default=0.0, validator=_probability)
    ack_timeout_executed: float = attrs.field(default=0.0, validator=_probability)
    ack_timeout_not_executed: float = attrs.field(default=0.0, validator=_probability)
    partial_fill: float = attrs.field(default=0.0, validator=_probability)
    duplicate_fill: float = attrs.field(default=0.0, validator=_probability)
    feed_disconnect: float = attrs.field(default=0.0, validator=_probability)
    sequence_gap: float = attrs.field(default=0.0, validator=_probability)
    bad_checksum: float = attrs.field(default=0.0, validator=_probability)
    stale_feed: float = attrs.field(default=0.0, validator=_probability)
    rate_limit: float = attrs.field(default=0.0, validator=_probability)

    @classmethod
    def every(cls, order: float, feed: float | None = None) -> FaultRates:
        """Every fault enabled: order faults at ``order``, feed faults at ``feed`` (default
        ``order / 10``, since feed faults are drawn ten times a second)."""
        feed_rate = order / 10 if feed is None else feed
        return cls(
            **{name: order for name in ORDER_FAULTS}, **{name: feed_rate for name in FEED_FAULTS}
        )

    def rate(self, kind: str) -> float:
        if kind not in ORDER_FAULTS and kind not in FEED_FAULTS:
            raise ValueError(f"unknown fault kind {kind!r}")
        value: float = getattr(self, kind)
        return value


@attrs.frozen(kw_only=True)
class LatencyConfig:
    """A latency distribution (seconds), sampled per message.

    * ``fixed``: always ``median_s``.
    * ``uniform``: uniform on [``min_s``, ``max_s``].
    * ``lognormal``: ``min_s + median_s × exp(sigma × N(0,1))``.
    * ``exponential``: ``min_s`` + an exponential with mean ``median_s``.

    Every draw is clipped to [``min_s``, ``max_s``].
    """

    distribution: str = "lognormal"
    min_s: float = attrs.field(default=0.0, validator=_non_negative)
    median_s: float = attrs.field(default=0.02, validator=_non_negative)
    sigma: float = attrs.field(default=0.5, validator=_non_negative)
    max_s: float = attrs.field(default=1.0, validator=_non_negative)

    def __attrs_post_init__(self) -> None:
        if self.distribution not in LATENCY_DISTRIBUTIONS:
            raise ValueError(
                f"distribution must be one of {LATENCY_DISTRIBUTIONS}, got {self.distribution!r}"
            )
        if self.max_s < self.min_s:
            raise ValueError(f"max_s ({self.max_s}) must be >= min_s ({self.min_s})")


@attrs.frozen(kw_only=True)
class VenueOverride:
    """Per-venue instrument overrides for one asset (unset fields keep the built-in value)."""

    symbol: str | None = None
    tick_size: Decimal | None = None
    lot_size: Decimal | None = None  # base units (multiplier included)
    contract_multiplier: Decimal | None = None
    min_size: Decimal | None = None
    min_notional: Decimal | None = None
    sz_decimals: int | None = None  # Hyperliquid only
    funding_interval_hours: int | None = None


@attrs.frozen(kw_only=True)
class AssetConfig:
    """One simulated asset: its starting fair value (USDT) and annualised volatility.

    BTC, ETH and SOL have built-in instrument conventions on every venue; any other asset gets
    conventions derived from its price (about five significant figures of tick, a lot worth a
    few USDT). ``overrides`` maps a venue name to field overrides (e.g. a 4 h funding interval).
    """

    asset: str
    price: float = attrs.field(validator=_positive)
    volatility: float = attrs.field(default=0.6, validator=_non_negative)
    drift: float = attrs.field(default=0.0, validator=_finite)
    overrides: dict[str, VenueOverride] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if not self.asset or not self.asset.isalnum() or self.asset.upper() != self.asset:
            raise ValueError(f"asset must be an upper-case symbol like 'BTC', got {self.asset!r}")
        for venue in self.overrides:
            if venue not in VENUES:
                raise ValueError(f"overrides: unknown venue {venue!r} for {self.asset}")


@attrs.frozen(kw_only=True)
class BasisConfig:
    """Each venue's basis (mid / fair − 1): an Ornstein–Uhlenbeck process.

    Stationary standard deviation ``std_bps``, mean reversion with half-life ``half_life_s``,
    long-run mean ``mean_bps`` plus a per-venue offset from ``venue_mean_bps``.
    """

    std_bps: float = attrs.field(default=1.5, validator=_non_negative)
    half_life_s: float = attrs.field(default=30.0, validator=_positive)
    mean_bps: float = attrs.field(default=0.0, validator=_finite)
    venue_mean_bps: dict[str, float] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class DislocationConfig:
    """Jumps of one venue's basis that decay exponentially (the arbitrage opportunities).

    Per (venue, asset), jumps arrive as a Poisson process at ``rate_per_hour``; each has a
    random sign, a size uniform on [``min_bps``, ``max_bps``] and a half-life uniform on
    [``min_half_life_s``, ``max_half_life_s``].
    """

    rate_per_hour: float = attrs.field(default=4.0, validator=_non_negative)
    min_bps: float = attrs.field(default=10.0, validator=_non_negative)
    max_bps: float = attrs.field(default=50.0, validator=_non_negative)
    min_half_life_s: float = attrs.field(default=10.0, validator=_positive)
    max_half_life_s: float = attrs.field(default=60.0, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.max_bps < self.min_bps:
            raise ValueError("dislocations: max_bps must be >= min_bps")
        if self.max_half_life_s < self.min_half_life_s:
            raise ValueError("dislocations: max_half_life_s must be >= min_half_life_s")


@attrs.frozen(kw_only=True)
class LadderConfig:
    """The order-book ladder each venue shows around its mid.

    ``levels`` per side on a grid ``level_spacing_bps`` apart (at least one price step); the
    touch is at least ``spread_bps`` wide (the nearest grid levels outside mid ± spread/2);
    each level's size is a random notional uniform on [0.25, 1.75] × ``level_notional``,
    redrawn every ``refresh_s``. Liquidity taken by an order refills with half-life
    ``refill_half_life_s``.
    """

    levels: int = attrs.field(default=20, validator=_positive)
    spread_bps: float = attrs.field(default=0.5, validator=_non_negative)
    level_spacing_bps: float = attrs.field(default=0.5, validator=_non_negative)
    level_notional: float = attrs.field(default=25_000.0, validator=_positive)
    refresh_s: float = attrs.field(default=5.0, validator=_positive)
    refill_half_life_s: float = attrs.field(default=2.0, validator=_positive)


@attrs.frozen(kw_only=True)
class FundingConfig:
    """Funding rate per interval = (P + clamp(I − P, −clamp, +clamp)) × interval / 8 h,
    capped at ±``cap_8h`` × interval / 8 h, where I is ``interest_8h`` and P the average
    premium over the interval: the venue's basis plus a slow per-venue premium
    (OU, stationary std ``premium_std_bps``, half-life ``premium_half_life_s``)."""

    interest_8h: float = attrs.field(default=0.0001, validator=_finite)
    clamp_8h: float = attrs.field(default=0.0005, validator=_non_negative)
    cap_8h: float = attrs.field(default=0.03, validator=_non_negative)
    premium_std_bps: float = attrs.field(default=3.0, validator=_non_negative)
    premium_half_life_s: float = attrs.field(default=3600.0, validator=_positive)


@attrs.frozen(kw_only=True)
class FeeConfig:
    """Taker and maker fee (fractions) overriding a venue's built-in base-tier fees."""

    taker: Decimal
    maker: Decimal


def _default_assets() -> tuple[AssetConfig, ...]:
    return (
        AssetConfig(asset="BTC", price=65_000.0, volatility=0.6),
        AssetConfig(asset="ETH", price=3_500.0, volatility=0.75),
    )


@attrs.frozen(kw_only=True)
class SimConfig:
    """Everything that defines a simulated run. Same config + seed + call sequence → same run."""

    seed: int = 1
    assets: tuple[AssetConfig, ...] = attrs.field(factory=_default_assets)
    venues: tuple[str, ...] = VENUES
    tick_interval_s: float = attrs.field(default=0.1, validator=_positive)
    basis: BasisConfig = attrs.field(factory=BasisConfig)
    dislocations: DislocationConfig = attrs.field(factory=DislocationConfig)
    ladder: LadderConfig = attrs.field(factory=LadderConfig)
    funding: FundingConfig = attrs.field(factory=FundingConfig)
    fees: dict[str, FeeConfig] = attrs.field(factory=dict)  # venue -> override
    faults: FaultRates = attrs.field(factory=FaultRates)
    venue_faults: dict[str, FaultRates] = attrs.field(factory=dict)  # venue -> override
    ack_latency: LatencyConfig = attrs.field(
        factory=lambda: LatencyConfig(min_s=0.005, median_s=0.02, sigma=0.5, max_s=0.5)
    )
    md_latency: LatencyConfig = attrs.field(
        factory=lambda: LatencyConfig(min_s=0.001, median_s=0.005, sigma=0.5, max_s=0.1)
    )
    ack_timeout_s: float = attrs.field(default=2.0, validator=_positive)
    stale_feed_s: float = attrs.field(default=5.0, validator=_positive)
    starting_balance: Decimal = attrs.field(default=Decimal(100_000), validator=_non_negative)
    leverage: int = attrs.field(default=10, validator=_positive)
    fx_usdc_usdt: Decimal = attrs.field(default=Decimal("1.0"), validator=_positive)

    def __attrs_post_init__(self) -> None:
        if not self.assets:
            raise ValueError("assets must name at least one asset")
        names = [a.asset for a in self.assets]
        if len(set(names)) != len(names):
            raise ValueError(f"assets: duplicate asset in {names}")
        if not self.venues or len(set(self.venues)) != len(self.venues):
            raise ValueError(f"venues must be distinct and non-empty, got {self.venues}")
        for where, mapping in (
            ("venues", dict.fromkeys(self.venues)),
            ("fees", self.fees),
            ("venue_faults", self.venue_faults),
            ("basis.venue_mean_bps", self.basis.venue_mean_bps),
        ):
            for venue in mapping:
                if venue not in VENUES:
                    raise ValueError(f"{where}: unknown venue {venue!r} (known: {VENUES})")

    def faults_for(self, venue: str) -> FaultRates:
        return self.venue_faults.get(venue, self.faults)


def default_sim_config(seed: int = 1, *, faults: FaultRates | None = None) -> SimConfig:
    """BTC and ETH on all five venues with the built-in defaults and the given faults."""
    return SimConfig(seed=seed, faults=faults or FaultRates())


# -- loading from TOML dicts ---------------------------------------------------------------
def _structure_decimal(value: Any, _type: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"expected a decimal number, got {value!r}")
    try:
        # Floats go through repr so that 0.1 becomes Decimal("0.1"), not its binary expansion.
        result = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"expected a decimal number, got {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"expected a finite decimal number, got {value!r}")
    return result


def register_hooks(converter: cattrs.Converter) -> cattrs.Converter:
    """Teach ``converter`` the types the sim config uses (Decimal from str/int/float)."""
    converter.register_structure_hook(Decimal, _structure_decimal)
    converter.register_unstructure_hook(Decimal, str)
    return converter


def sim_converter() -> cattrs.Converter:
    """A converter that rejects unknown keys (typos) and parses Decimals."""
    return register_hooks(cattrs.Converter(forbid_extra_keys=True))


def _describe(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, ValueError) and not isinstance(exc, cattrs.BaseValidationError):
        return f"invalid value ({exc})"
    return cattrs.v.format_exception(exc, type_)


def structure_sim_config(data: Mapping[str, Any]) -> SimConfig:
    """Build a :class:`SimConfig` from a TOML-shaped dict.

    Raises ``ValueError`` whose message lists every bad key with its path, e.g.
    ``"invalid sim config: 'x' is an unknown key @ $.ladder"``.
    """
    try:
        return sim_converter().structure(dict(data), SimConfig)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            problems = "; ".join(cattrs.transform_error(exc, format_exception=_describe))
        else:
            problems = str(exc)
        raise ValueError(f"invalid sim config: {problems}") from exc


def unstructure_sim_config(config: SimConfig) -> dict[str, Any]:
    """The inverse of :func:`structure_sim_config` (JSON/TOML-friendly; Decimals as str)."""
    result: dict[str, Any] = sim_converter().unstructure(config)
    return result
