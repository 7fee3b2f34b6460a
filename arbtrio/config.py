"""Service configuration: TOML under ``config/``, structured by cattrs into attrs classes.

Every section is a frozen attrs class; the detector, risk, execution and simulator sections
are the core's and the simulator's own classes (:class:`DetectorConfig`, :class:`RiskLimits`,
:class:`ExecutionPolicy`, :class:`SimConfig`), so there is one definition of each knob.

Loading is strict: unknown keys are errors, an ``int`` field does not accept ``"10"`` or
``true``, a ``bool`` does not accept ``1``, money is Decimal (from a string, an integer, or a
float through its shortest repr). Every problem is reported with the key's dotted path:

    risk.max_open_positions: expected int, got "ten"
    venues.bybit: unknown key(s): api_secret

Secrets never live in the file: a venue's ``secrets`` table maps a credential field
(``api_key``, ``api_secret``, ``passphrase``, ``private_key``, ``account_address``) to the
*name* of an environment variable; :func:`load_credentials` reads them into
:class:`~arbtrio.venues.base.Credentials`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs
from cattrs.errors import ForbiddenExtraKeysError

from arbtrio.core.detector import DetectorConfig
from arbtrio.core.position import ExecutionPolicy
from arbtrio.core.risk import RiskLimits
from arbtrio.runtime.fx import FxConfig
from arbtrio.sim.config import SimConfig
from arbtrio.venues.base import Credentials

KNOWN_VENUES = ("hyperliquid", "bybit", "bitget", "gateio", "kucoin")
VENUE_QUOTES = {
    "hyperliquid": "USDC",
    "bybit": "USDT",
    "bitget": "USDT",
    "gateio": "USDT",
    "kucoin": "USDT",
}
CREDENTIAL_FIELDS = ("api_key", "api_secret", "passphrase", "private_key", "account_address")
# Which credential fields each venue needs to trade (account_address is not secret).
REQUIRED_CREDENTIALS = {
    "hyperliquid": ("private_key", "account_address"),
    "bybit": ("api_key", "api_secret"),
    "bitget": ("api_key", "api_secret", "passphrase"),
    "gateio": ("api_key", "api_secret"),
    "kucoin": ("api_key", "api_secret", "passphrase"),
}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists ``"dotted.key: what is wrong"``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid configuration:\n  " + "\n  ".join(problems))


def _positive(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not value > 0:
        raise ValueError(f"must be > 0, got {value!r}")


def _non_negative(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not value >= 0:
        raise ValueError(f"must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class BackoffConfig:
    """Restart delays of a failed venue task: ``min(cap, base × factor^n)`` with jitter."""

    base_s: float = attrs.field(default=0.5, validator=_positive)
    factor: float = attrs.field(default=2.0, validator=_positive)
    cap_s: float = attrs.field(default=30.0, validator=_positive)
    jitter: float = attrs.field(default=0.5, validator=_non_negative)


@attrs.frozen(kw_only=True)
class VenueConfig:
    """One venue. URLs default to the venue package's mainnet URLs when empty.

    ``secrets`` maps a credential field to the NAME of the environment variable holding it.
    ``leverage`` and ``margin_mode`` are set on every traded instrument at start-up
    (``VenueClient.configure_instrument``) before the venue counts as ready.
    """

    enabled: bool = True
    rest_url: str = ""
    ws_url: str = ""
    secrets: dict[str, str] = attrs.field(factory=dict)
    down_after: int = attrs.field(default=5, validator=_positive)
    backoff: BackoffConfig = attrs.field(factory=BackoffConfig)
    leverage: int = attrs.field(default=3, validator=_positive)
    margin_mode: Literal["cross", "isolated"] = "cross"

    def __attrs_post_init__(self) -> None:
        for field, env in self.secrets.items():
            if field not in CREDENTIAL_FIELDS:
                raise ValueError(
                    f"secrets: unknown credential field {field!r} (one of {CREDENTIAL_FIELDS})"
                )
            if not _ENV_NAME.match(env):
                raise ValueError(
                    f"secrets.{field}: expected an environment variable NAME, got {env!r}"
                )


def _default_venues() -> dict[str, VenueConfig]:
    return {name: VenueConfig() for name in KNOWN_VENUES}


@attrs.frozen(kw_only=True)
class ServiceConfig:
    """How the service runs.

    ``journal_sync``: ``full`` fsyncs every journal commit (a command is on disk before its
    order is sent, even across a power loss); ``normal`` skips the fsync (simulation only).

    ``shutdown``: on SIGINT/SIGTERM, ``flatten`` closes every position; ``leave_hedged``
    lets opening/unwinding/closing positions settle and leaves hedged pairs open (the
    journal resumes them on the next start).
    """

    mode: Literal["sim", "paper", "live"] = "sim"
    journal: str = "var/arbtrio-journal.sqlite"
    journal_sync: Literal["full", "normal"] = "full"
    admin_socket: str = "var/arbtrio.sock"
    shutdown: Literal["flatten", "leave_hedged"] = "flatten"
    drain_timeout_s: float = attrs.field(default=30.0, validator=_positive)
    tick_interval_s: float = attrs.field(default=0.25, validator=_positive)
    ack_timeout_s: float = attrs.field(default=5.0, validator=_positive)
    query_timeout_s: float = attrs.field(default=5.0, validator=_positive)
    ready_timeout_s: float = attrs.field(default=30.0, validator=_positive)
    account_poll_s: float = attrs.field(default=30.0, validator=_positive)
    watchdog_interval_s: float = attrs.field(default=1.0, validator=_positive)
    watchdog_grace_s: float = attrs.field(default=10.0, validator=_non_negative)
    status_interval_s: float = attrs.field(default=1.0, validator=_positive)
    inbox_capacity: int = attrs.field(default=64, validator=_positive)
    order_stream_capacity: int = attrs.field(default=1024, validator=_positive)
    max_settled_in_memory: int = attrs.field(default=1000, validator=_non_negative)


@attrs.frozen(kw_only=True)
class LoggingConfig:
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


def _default_detector() -> DetectorConfig:
    return DetectorConfig(
        entry_threshold_bps=3.0,
        exit_threshold_bps=0.5,
        slippage_buffer_bps=1.0,
        max_quote_age_ms=2000.0,
        target_notional=Decimal(2000),
        max_holding_s=600.0,
        stop_widen_bps=30.0,
    )


def _default_risk() -> RiskLimits:
    return RiskLimits(
        max_notional_per_position=Decimal(5000),
        max_notional_per_venue=Decimal(20000),
        max_notional_total=Decimal(60000),
        max_open_positions=10,
        max_net_notional_per_asset=Decimal(1000),
        daily_loss_limit=Decimal(500),
        max_consecutive_failures=5,
    )


def _default_quote_rates() -> dict[str, Decimal]:
    return {"USDT": Decimal(1), "USDC": Decimal(1)}


@attrs.frozen(kw_only=True)
class Config:
    """The whole service configuration (see ``config/live.example.toml`` for every key)."""

    service: ServiceConfig = attrs.field(factory=ServiceConfig)
    logging: LoggingConfig = attrs.field(factory=LoggingConfig)
    venues: dict[str, VenueConfig] = attrs.field(factory=_default_venues)
    assets: tuple[str, ...] = ("BTC", "ETH")
    quote_rates: dict[str, Decimal] = attrs.field(factory=_default_quote_rates)
    detector: DetectorConfig = attrs.field(factory=_default_detector)
    risk: RiskLimits = attrs.field(factory=_default_risk)
    execution: ExecutionPolicy = attrs.field(factory=ExecutionPolicy)
    sim: SimConfig = attrs.field(factory=SimConfig)
    fx: FxConfig = attrs.field(factory=FxConfig)

    @property
    def enabled_venues(self) -> tuple[str, ...]:
        return tuple(name for name, v in self.venues.items() if v.enabled)


# -- strict structuring ------------------------------------------------------------------
def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def _strict_int(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected int, got {_show(value)}")
    return value


def _strict_float(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {_show(value)}")
    return float(value)


def _strict_bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_show(value)}")
    return value


def _strict_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_show(value)}")
    return value


def _strict_decimal(value: Any, _: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected a decimal (string or number), got {_show(value)}")
    try:
        result = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"expected a decimal, got {_show(value)}") from None
    if not result.is_finite():
        raise ValueError(f"expected a finite decimal, got {_show(value)}")
    return result


def make_converter() -> cattrs.Converter:
    """The strict converter used for configuration (unknown keys are errors)."""
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(float, _strict_float)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(Decimal, _strict_decimal)
    conv.register_unstructure_hook(Decimal, str)
    return conv


_converter = make_converter()


def _format_exception(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, ForbiddenExtraKeysError):
        return f"unknown key(s): {', '.join(sorted(exc.extra_fields))}"
    if isinstance(exc, KeyError):
        return "required key missing"
    message = str(exc)
    if " not in literal " in message:  # cattrs' Literal check: "<value> not in literal <type>"
        value, _, choices = message.partition(" not in literal ")
        return f'expected one of {choices.removeprefix("typing.Literal")}, got "{value}"'
    if isinstance(exc, ValueError | TypeError) and not isinstance(exc, cattrs.BaseValidationError):
        return message
    return cattrs.v.format_exception(exc, type_)


_PATH_PART = re.compile(r"\[(?:'([^']*)'|(\d+))\]")


def _dotted(path: str) -> str:
    path = path.removeprefix("$").lstrip(".")
    return _PATH_PART.sub(
        lambda m: "." + (m.group(1) if m.group(1) is not None else m.group(2)), path
    ).lstrip(".")


_MERGED_SECTIONS = ("detector", "risk")


def _with_section_defaults(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with each partial ``[detector]`` / ``[risk]`` table completed from the
    defaults (their classes have no per-field defaults). Unknown keys stay errors."""
    out = dict(data)
    defaults = {"detector": _default_detector(), "risk": _default_risk()}
    for section in _MERGED_SECTIONS:
        given = out.get(section)
        if isinstance(given, Mapping):
            out[section] = {**_converter.unstructure(defaults[section]), **given}
    return out


def structure_config(data: Mapping[str, Any], *, source: str = "<config>") -> Config:
    """Build and validate a :class:`Config` from a TOML-shaped mapping.

    Raises:
        ConfigError: listing every problem as ``"dotted.key: problem"``.
    """
    try:
        config = _converter.structure(_with_section_defaults(data), Config)
    except cattrs.BaseValidationError as exc:
        problems = []
        for line in cattrs.transform_error(exc, path="$", format_exception=_format_exception):
            message, _, path = line.rpartition(" @ ")
            dotted = _dotted(path)
            problems.append(f"{dotted}: {message}" if dotted else message)
        raise ConfigError(source, problems) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(source, [str(exc)]) from None
    problems = validate(config)
    if problems:
        raise ConfigError(source, problems)
    return config


def validate(config: Config) -> list[str]:
    """Cross-field checks the classes cannot do alone."""
    problems = []
    for name in config.venues:
        if name not in KNOWN_VENUES:
            problems.append(f"venues.{name}: unknown venue (known: {', '.join(KNOWN_VENUES)})")
    enabled = [v for v in config.enabled_venues if v in KNOWN_VENUES]
    if len(enabled) < 2:
        problems.append("venues: at least two venues must be enabled to arbitrage")
    if not config.assets:
        problems.append("assets: name at least one asset")
    for quote in sorted({VENUE_QUOTES[v] for v in enabled}):
        rate = config.quote_rates.get(quote)
        if rate is None:
            problems.append(
                f"quote_rates.{quote}: required (a venue quotes {quote}); never assumed to be 1"
            )
        elif not rate > 0:
            problems.append(f"quote_rates.{quote}: must be > 0, got {rate}")
    if config.fx.source != "static":
        if config.fx.currency not in config.quote_rates:
            problems.append(
                f"fx.currency: {config.fx.currency!r} has no configured rate in quote_rates "
                f"(the measured rate is checked against it)"
            )
        if config.service.mode == "sim":
            problems.append('fx.source: the simulator sets its own rate; use "static" in sim')
    if config.service.mode == "sim":
        missing = [a for a in config.assets if a not in {s.asset for s in config.sim.assets}]
        if missing:
            problems.append(f"assets: {missing} not simulated (add them to sim.assets)")
        for v in enabled:
            if v not in config.sim.venues:
                problems.append(f"venues.{v}: enabled but not in sim.venues")
        usdc, usdt = config.quote_rates.get("USDC"), config.quote_rates.get("USDT")
        if usdc and usdt and "hyperliquid" in enabled and usdc / usdt != config.sim.fx_usdc_usdt:
            problems.append(
                f"quote_rates: USDC/USDT = {usdc / usdt} but the simulator's "
                f"sim.fx_usdc_usdt = {config.sim.fx_usdc_usdt}"
            )
    return problems


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML configuration file.

    Raises:
        ConfigError: the file is missing, not TOML, or invalid (problems name the keys).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), [f"cannot read: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), [f"not valid TOML: {exc}"]) from None
    return structure_config(data, source=str(p))


# -- secrets -----------------------------------------------------------------------------
def missing_secrets(
    config: Config, venue: str, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Environment variable names a venue needs to trade that are unset or empty."""
    env = os.environ if environ is None else environ
    vc = config.venues[venue]
    out = []
    for field in REQUIRED_CREDENTIALS.get(venue, ()):
        name = vc.secrets.get(field)
        if name is None:
            out.append(f"venues.{venue}.secrets.{field} (not configured)")
        elif not env.get(name):
            out.append(name)
    return out


def load_credentials(
    config: Config, venue: str, environ: Mapping[str, str] | None = None
) -> Credentials:
    """The venue's credentials from the environment variables its config names."""
    env = os.environ if environ is None else environ
    values = {field: env.get(name, "") for field, name in config.venues[venue].secrets.items()}
    return Credentials(**values)
