"""The simulated market: five venues around one fair value per asset. Sans-IO, deterministic.

Theory of operation
-------------------
Time is the caller's: :meth:`SimMarket.advance` evolves the market to ``now`` in fixed steps
of ``tick_interval_s`` (the first call only anchors the clock), so the path depends on the
number of steps, never on how the caller slices time. Nothing here reads a clock or uses
module-level ``random``: every random draw comes from its own named ``random.Random`` stream
seeded from ``(seed, purpose, venue, asset)``, so adding an asset, a venue or a fault draw
never perturbs another stream.

Per step, for each asset the fair value moves by geometric Brownian motion; for each (venue,
asset) the basis is an Ornstein–Uhlenbeck process plus decaying jumps (dislocations, recorded
in :attr:`SimMarket.dislocations`); the venue's mid is ``fair × (1 + basis)`` (divided by the
USDC/USDT rate on Hyperliquid, which quotes USDC). Funding accrues a premium average and is
settled into each account on the venue's schedule.

Ladders are *derived*, not stored: a venue's ladder at a step is a pure function of its mid,
of deterministic per-level size draws (hashed from the seed, the level's price and the
refresh epoch) and of the liquidity taken by earlier executions, which refills with a
half-life. So observing a book never changes the market. Prices are kept as integer tick
units and sizes as integer lots; they become ``Decimal`` only at the boundary.

Execution is :class:`arbtrio.sim.execution.Account` over the venue's current ladder; the
liquidity it takes is removed from the ladder until it refills.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from decimal import Decimal
from typing import Any

import attrs

from arbtrio.core.instruments import Instrument, price_step, round_price
from arbtrio.core.types import (
    Balance,
    FundingRate,
    OrderReport,
    OrderStatus,
    Side,
    VenuePosition,
)
from arbtrio.sim.config import (
    FEED_FAULTS,
    ORDER_FAULTS,
    AssetConfig,
    LatencyConfig,
    SimConfig,
    VenueOverride,
)
from arbtrio.sim.execution import Account, DecimalLevel, Execution, FundingPayment

FloatLevel = tuple[float, float]

_SECONDS_PER_YEAR = 365.0 * 86_400.0
_LN2 = math.log(2.0)
_MASK64 = (1 << 64) - 1
_MIN_JUMP_BPS = 0.01  # a dislocation below this is forgotten (its decay is complete)


class UnknownInstrument(KeyError):
    """The venue has no such symbol (or asset) in this simulation."""


# -- venue conventions -------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class VenueProfile:
    """A venue's account-wide conventions (base fee tier, quote currency, funding)."""

    quote: str
    taker_fee: Decimal
    maker_fee: Decimal
    funding_interval_hours: int
    contract_venue: bool  # sizes in contracts × multiplier (Gate.io, KuCoin)
    max_leverage: int


VENUE_PROFILES: dict[str, VenueProfile] = {
    # Hyperliquid perps tier 0: taker 0.045 %, maker 0.015 %; funding hourly; USDC.
    "hyperliquid": VenueProfile(
        quote="USDC", taker_fee=Decimal("0.00045"), maker_fee=Decimal("0.00015"),
        funding_interval_hours=1, contract_venue=False, max_leverage=50,
    ),
    # Bybit linear VIP0: taker 0.055 %, maker 0.02 %; 8 h by default.
    "bybit": VenueProfile(
        quote="USDT", taker_fee=Decimal("0.00055"), maker_fee=Decimal("0.0002"),
        funding_interval_hours=8, contract_venue=False, max_leverage=100,
    ),
    # Bitget USDT-M VIP0: taker 0.06 %, maker 0.02 %.
    "bitget": VenueProfile(
        quote="USDT", taker_fee=Decimal("0.0006"), maker_fee=Decimal("0.0002"),
        funding_interval_hours=8, contract_venue=False, max_leverage=125,
    ),
    # Gate.io USDT perps VIP0: taker 0.05 %, maker 0.02 %; contracts × quanto_multiplier.
    "gateio": VenueProfile(
        quote="USDT", taker_fee=Decimal("0.0005"), maker_fee=Decimal("0.0002"),
        funding_interval_hours=8, contract_venue=True, max_leverage=100,
    ),
    # KuCoin Futures default: taker 0.06 %, maker 0.02 %; lots × multiplier.
    "kucoin": VenueProfile(
        quote="USDT", taker_fee=Decimal("0.0006"), maker_fee=Decimal("0.0002"),
        funding_interval_hours=8, contract_venue=True, max_leverage=125,
    ),
}  # fmt: skip

# Built-in instrument conventions (the venues' documented contract metadata, specs 010-014).
# CEX: tick, lot (base units; on contract venues the lot is one contract = the multiplier),
# min_size, min_notional. Hyperliquid: szDecimals (lot 10^-szDecimals, 5 significant
# figures, at most 6 − szDecimals price decimals, $10 minimum notional).
_BUILTIN: dict[tuple[str, str], dict[str, Any]] = {
    ("hyperliquid", "BTC"): {"sz_decimals": 5},
    ("hyperliquid", "ETH"): {"sz_decimals": 4},
    ("hyperliquid", "SOL"): {"sz_decimals": 2},
    ("bybit", "BTC"): {"tick": "0.1", "lot": "0.001", "min_size": "0.001", "min_notional": "5"},
    ("bybit", "ETH"): {"tick": "0.01", "lot": "0.01", "min_size": "0.01", "min_notional": "5"},
    ("bybit", "SOL"): {"tick": "0.01", "lot": "0.1", "min_size": "0.1", "min_notional": "5"},
    # Bitget BTCUSDT per its contracts example: pricePlace 1, sizeMultiplier 0.01.
    ("bitget", "BTC"): {"tick": "0.1", "lot": "0.01", "min_size": "0.01", "min_notional": "5"},
    ("bitget", "ETH"): {"tick": "0.01", "lot": "0.01", "min_size": "0.01", "min_notional": "5"},
    ("bitget", "SOL"): {"tick": "0.001", "lot": "0.1", "min_size": "0.1", "min_notional": "5"},
    # Gate.io: quanto_multiplier per contract, order_size_min 1 contract.
    ("gateio", "BTC"): {"tick": "0.1", "multiplier": "0.0001"},
    ("gateio", "ETH"): {"tick": "0.01", "multiplier": "0.01"},
    ("gateio", "SOL"): {"tick": "0.01", "multiplier": "1"},
    # KuCoin: multiplier per lot, lotSize 1.
    ("kucoin", "BTC"): {"tick": "0.1", "multiplier": "0.001"},
    ("kucoin", "ETH"): {"tick": "0.01", "multiplier": "0.01"},
    ("kucoin", "SOL"): {"tick": "0.001", "multiplier": "0.1"},
}

HYPERLIQUID_MIN_NOTIONAL = Decimal(10)
HYPERLIQUID_MAX_DECIMALS = 6  # perps: price decimals ≤ 6 − szDecimals


def venue_symbol(venue: str, asset: str) -> str:
    """The venue's own symbol for ``asset``'s USDT (USDC on Hyperliquid) perpetual."""
    if venue == "hyperliquid":
        return asset
    if venue in ("bybit", "bitget"):
        return f"{asset}USDT"
    if venue == "gateio":
        return f"{asset}_USDT"
    if venue == "kucoin":
        return f"{'XBT' if asset == 'BTC' else asset}USDTM"
    raise ValueError(f"unknown venue {venue!r}")


def _pow10(exponent: int) -> Decimal:
    return Decimal(1).scaleb(exponent)


def _derived_conventions(venue: str, price: float) -> dict[str, Any]:
    """Conventions for an asset without built-in ones: ~5 significant figures of tick and a
    lot worth a few quote units (Hyperliquid: a lot worth about one quote unit)."""
    magnitude = math.floor(math.log10(price))
    if venue == "hyperliquid":
        return {"sz_decimals": max(0, -math.ceil(math.log10(1.0 / price)))}
    tick = _pow10(max(magnitude - 4, -8))
    lot = _pow10(max(math.ceil(math.log10(5.0 / price)), -8))
    if VENUE_PROFILES[venue].contract_venue:
        return {"tick": tick, "multiplier": lot}
    return {"tick": tick, "lot": lot, "min_size": lot, "min_notional": "5"}


def build_instrument(
    venue: str, asset: AssetConfig, *, taker_fee: Decimal | None = None,
    maker_fee: Decimal | None = None,
) -> Instrument:  # fmt: skip
    """The simulated venue's instrument for ``asset``: built-in conventions, else derived
    from the asset's price, then the asset's per-venue overrides."""
    profile = VENUE_PROFILES[venue]
    spec = dict(_BUILTIN.get((venue, asset.asset)) or _derived_conventions(venue, asset.price))
    over = asset.overrides.get(venue, VenueOverride())
    symbol = over.symbol or venue_symbol(venue, asset.asset)
    funding_hours = over.funding_interval_hours or profile.funding_interval_hours
    common: dict[str, Any] = {
        "venue": venue,
        "symbol": symbol,
        "asset": asset.asset,
        "quote": profile.quote,
        "taker_fee": profile.taker_fee if taker_fee is None else taker_fee,
        "maker_fee": profile.maker_fee if maker_fee is None else maker_fee,
        "funding_interval_hours": funding_hours,
        "max_leverage": profile.max_leverage,
    }
    if venue == "hyperliquid":
        szd = over.sz_decimals if over.sz_decimals is not None else int(spec["sz_decimals"])
        max_decimals = HYPERLIQUID_MAX_DECIMALS - szd
        lot = over.lot_size or _pow10(-szd)
        return Instrument(
            **common,
            tick_size=over.tick_size or _pow10(-max_decimals),
            lot_size=lot,
            min_size=over.min_size if over.min_size is not None else lot,
            min_notional=(
                over.min_notional if over.min_notional is not None else HYPERLIQUID_MIN_NOTIONAL
            ),
            sig_figs=5,
            max_price_decimals=max_decimals,
        )
    tick = over.tick_size or Decimal(spec["tick"])
    if profile.contract_venue:
        multiplier = over.contract_multiplier or Decimal(spec["multiplier"])
        lot = over.lot_size or multiplier
        return Instrument(
            **common,
            tick_size=tick,
            lot_size=lot,
            min_size=over.min_size if over.min_size is not None else lot,
            min_notional=over.min_notional if over.min_notional is not None else Decimal(0),
            contract_multiplier=multiplier,
        )
    lot = over.lot_size or Decimal(spec["lot"])
    return Instrument(
        **common,
        tick_size=tick,
        lot_size=lot,
        min_size=over.min_size if over.min_size is not None else Decimal(spec["min_size"]),
        min_notional=(
            over.min_notional if over.min_notional is not None else Decimal(spec["min_notional"])
        ),
    )


# -- recorded dislocations ---------------------------------------------------------------
@attrs.frozen(kw_only=True)
class Dislocation:
    """One injected jump of a venue's basis: ``size_bps`` (signed: + makes the venue dear)
    at ``start``, decaying as ``size × 2^(−(t − start) / half_life_s)``."""

    venue: str
    asset: str
    symbol: str
    start: float
    size_bps: float
    half_life_s: float
    fair_value: float  # the asset's fair value at the start (quote units)

    def remaining_bps(self, t: float) -> float:
        if t < self.start:
            return 0.0
        return self.size_bps * math.exp(-_LN2 * (t - self.start) / self.half_life_s)


@attrs.frozen(kw_only=True)
class Outage:
    """A venue fully down (books, private stream and REST) from ``start`` to ``end``."""

    venue: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@attrs.frozen(kw_only=True)
class Liquidation:
    """A position the venue closed because it breached maintenance margin."""

    venue: str
    symbol: str
    ts: float
    qty: Decimal  # signed base units closed (the position's sign)
    price: Decimal


# -- internal state ----------------------------------------------------------------------
def _mix(*values: int) -> float:
    """A uniform float in [0, 1) hashed from integers (a polynomial combine, then the
    splitmix64 finaliser): deterministic across processes, unlike ``hash()`` of a str."""
    x = 0
    for v in values:
        x = (x * 0x100000001B3 + (v & _MASK64)) & _MASK64
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    x ^= x >> 31
    return (x >> 11) / float(1 << 53)


def _stable_id(text: str) -> int:
    """A stable 64-bit id of a string (Python's hash() is salted per process)."""
    x = 0xCBF29CE484222325
    for byte in text.encode():
        x = ((x ^ byte) * 0x100000001B3) & _MASK64
    return x


def _exact_inverse(step: Decimal) -> int | None:
    """``1 / step`` when it is an integer (0.1 → 10), so ``units / inverse`` is the nearest
    float to ``units × step``; ``None`` otherwise."""
    inverse = Decimal(1) / step
    return int(inverse) if inverse == inverse.to_integral_value() else None


class _Book:
    """One venue-symbol ladder: conventions in integer units and the depletion it carries."""

    def __init__(self, inst: Instrument, book_id: int) -> None:
        self.inst = inst
        self.book_id = book_id
        self.tick = inst.tick_size
        self.tick_f = float(inst.tick_size)
        self.lot = inst.lot_size
        self.lot_f = float(inst.lot_size)
        self.inv_tick = _exact_inverse(inst.tick_size)
        self.inv_lot = _exact_inverse(inst.lot_size)
        self.min_lots = max(1, math.ceil(inst.min_size / inst.lot_size))
        # side (+1 asks, −1 bids) -> price units -> (lots taken, time taken)
        self.taken: dict[int, dict[int, tuple[float, float]]] = {1: {}, -1: {}}
        self.taken_version = 0
        self.stamp: tuple[int, int] | None = None
        self.ladder: tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]] = ((), ())
        self.decimal_ladder: Any = None  # the ladder ``decimal`` was converted from
        self.decimal: tuple[list[DecimalLevel], list[DecimalLevel]] = ([], [])
        self.float_ladder: Any = None
        self.floats: tuple[list[FloatLevel], list[FloatLevel]] = ([], [])
        self.version = 0
        self.seen: Any = None
        self.key: tuple[int, ...] | None = None  # grid position the ladder was built at
        self.step_key: int | None = None  # price magnitude ``step_u`` was computed for
        self.step_u = 1
        self.epoch = -1  # ladder refresh epoch of ``draws``
        self.draws: dict[int, dict[int, float]] = {1: {}, -1: {}}  # side -> price units -> u

    def price_f(self, units: int) -> float:
        return units / self.inv_tick if self.inv_tick else units * self.tick_f

    def size_f(self, lots: int) -> float:
        return lots / self.inv_lot if self.inv_lot else lots * self.lot_f


@attrs.define(eq=False)
class _Leg:
    """Per (venue, asset) processes: basis (OU + jumps), funding premium and schedule."""

    venue: str
    asset: str
    symbol: str
    mean_bps: float
    rng: random.Random
    ou_bps: float = 0.0
    jumps: list[list[float]] = attrs.field(factory=list)  # [value_bps, per-step decay]
    premium_bps: float = 0.0  # slow funding premium (OU)
    premium_sum: float = 0.0
    premium_n: int = 0
    interval_s: float = 28_800.0
    next_funding: float = 0.0
    last_rate: float = 0.0

    @property
    def basis_bps(self) -> float:
        return self.ou_bps + sum(j[0] for j in self.jumps)


class SimMarket:
    """Five simulated venues around one fair value per asset (see the module docstring).

    Owned by one task (the :class:`~arbtrio.sim.driver.MarketDriver` advances it; clients
    and emulators read it and execute against it between awaits).
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.venues: tuple[str, ...] = config.venues
        self.assets: tuple[str, ...] = tuple(a.asset for a in config.assets)
        self.now: float = 0.0
        self.started = False
        self.steps = 0
        self.dislocations: list[Dislocation] = []
        self.outages: list[Outage] = []  # every outage scheduled, in start order
        self.liquidations: list[Liquidation] = []
        self.margin_rejections: Counter[str] = Counter()  # venue -> orders refused for margin
        self.fx_usdc_usdt = config.fx_usdc_usdt
        self._fx_f = float(config.fx_usdc_usdt)
        self._t0 = 0.0
        self._dt = config.tick_interval_s
        self._streams: dict[str, random.Random] = {}

        self._fair: dict[str, float] = {a.asset: a.price for a in config.assets}
        self._fair_rng = {a.asset: self.stream(f"fair:{a.asset}") for a in config.assets}
        dt_years = self._dt / _SECONDS_PER_YEAR
        self._gbm = {
            a.asset: (
                (a.drift - 0.5 * a.volatility**2) * dt_years,
                a.volatility * math.sqrt(dt_years),
            )
            for a in config.assets
        }

        self._instruments: dict[str, dict[str, Instrument]] = {}
        self._by_asset: dict[tuple[str, str], Instrument] = {}
        self._books: dict[tuple[str, str], _Book] = {}
        self._legs: dict[tuple[str, str], _Leg] = {}
        self._accounts: dict[str, Account] = {}
        for venue in self.venues:
            fees = config.fees.get(venue)
            self._instruments[venue] = {}
            for asset in config.assets:
                inst = build_instrument(
                    venue, asset,
                    taker_fee=fees.taker if fees else None,
                    maker_fee=fees.maker if fees else None,
                )  # fmt: skip
                if inst.symbol in self._instruments[venue]:
                    raise ValueError(f"{venue}: two assets map to symbol {inst.symbol!r}")
                self._instruments[venue][inst.symbol] = inst
                self._by_asset[(venue, asset.asset)] = inst
                self._books[(venue, inst.symbol)] = _Book(
                    inst, _stable_id(f"{venue}:{inst.symbol}")
                )
                self._legs[(venue, asset.asset)] = _Leg(
                    venue=venue,
                    asset=asset.asset,
                    symbol=inst.symbol,
                    mean_bps=config.basis.mean_bps + config.basis.venue_mean_bps.get(venue, 0.0),
                    rng=self.stream(f"basis:{venue}:{asset.asset}"),
                    interval_s=inst.funding_interval_hours * 3600.0,
                )
            self._accounts[venue] = Account(
                venue,
                VENUE_PROFILES[venue].quote,
                config.starting_balance,
                leverage=config.leverage,
            )
        for leg in self._legs.values():
            leg.ou_bps = leg.mean_bps
        basis = config.basis
        self._ou_a = math.exp(-_LN2 * self._dt / basis.half_life_s)
        self._ou_sd = basis.std_bps * math.sqrt(1.0 - self._ou_a**2)
        funding = config.funding
        self._prem_a = math.exp(-_LN2 * self._dt / funding.premium_half_life_s)
        self._prem_sd = funding.premium_std_bps * math.sqrt(1.0 - self._prem_a**2)
        self._jump_p = config.dislocations.rate_per_hour * self._dt / 3600.0
        self._refill_k = _LN2 / config.ladder.refill_half_life_s

    # -- randomness ------------------------------------------------------------------------
    def stream(self, name: str) -> random.Random:
        """The named random stream (created on first use, seeded from the seed and name)."""
        rng = self._streams.get(name)
        if rng is None:
            rng = self._streams[name] = random.Random(f"{self.config.seed}:{name}")
        return rng

    def fault(self, venue: str, kind: str) -> bool:
        """Draw fault ``kind`` (a :class:`FaultRates` field) for ``venue``: True if it fires.

        Each (venue, kind) has its own stream and every call draws, so the n-th draw of a kind
        is the same whatever else happened.
        """
        if kind not in ORDER_FAULTS and kind not in FEED_FAULTS:
            raise ValueError(f"unknown fault kind {kind!r}")
        self._check_venue(venue)
        u = self.stream(f"fault:{venue}:{kind}").random()
        return u < self.config.faults_for(venue).rate(kind)

    def latency(self, venue: str, kind: str) -> float:
        """One latency draw (seconds) for ``venue``: ``kind`` is ``"ack"`` or ``"md"``."""
        if kind == "ack":
            dist = self.config.ack_latency
        elif kind == "md":
            dist = self.config.md_latency
        else:
            raise ValueError(f"latency kind must be 'ack' or 'md', got {kind!r}")
        self._check_venue(venue)
        return sample_latency(dist, self.stream(f"latency:{venue}:{kind}"))

    # -- instruments -----------------------------------------------------------------------
    def instruments(self, venue: str) -> list[Instrument]:
        self._check_venue(venue)
        return list(self._instruments[venue].values())

    def instrument(self, venue: str, symbol: str) -> Instrument:
        self._check_venue(venue)
        try:
            return self._instruments[venue][symbol]
        except KeyError:
            raise UnknownInstrument(f"{venue}: unknown symbol {symbol!r}") from None

    def symbol_for(self, venue: str, asset: str) -> str:
        self._check_venue(venue)
        inst = self._by_asset.get((venue, asset))
        if inst is None:
            raise UnknownInstrument(f"{venue}: unknown asset {asset!r}")
        return inst.symbol

    # -- the market path -------------------------------------------------------------------
    def advance(self, now: float) -> None:
        """Evolve the market to ``now`` in whole steps (the first call anchors the clock).

        A ``now`` earlier than the market time is ignored (time never runs backwards).
        """
        if not math.isfinite(now):
            raise ValueError(f"now must be finite, got {now!r}")
        if not self.started:
            self.started = True
            self._t0 = self.now = now
            for leg in self._legs.values():
                leg.next_funding = (math.floor(now / leg.interval_s) + 1) * leg.interval_s
            return
        if now <= self.now:
            return
        target = math.floor((now - self._t0) / self._dt + 1e-9)
        while self.steps < target:
            self._step()
        self.now = now

    @property
    def step_time(self) -> float:
        """Market time of the last step (≤ :attr:`now`)."""
        return self._t0 + self.steps * self._dt

    def is_down(self, venue: str, now: float) -> bool:
        """The venue is in an outage at ``now`` (nothing reaches it, nothing comes out)."""
        return any(o.venue == venue and o.start <= now < o.end for o in self.outages)

    def fair_value(self, asset: str) -> float:
        return self._fair[asset]

    def basis_bps(self, venue: str, asset: str) -> float:
        return self._leg(venue, asset).basis_bps

    def mid(self, venue: str, asset: str) -> float:
        """The venue's mid in its own quote currency (USDC on Hyperliquid)."""
        leg = self._leg(venue, asset)
        mid = self._fair[asset] * (1.0 + leg.basis_bps * 1e-4)
        return mid / self._fx_f if VENUE_PROFILES[venue].quote == "USDC" else mid

    def _step(self) -> None:
        self.steps += 1
        t = self.step_time
        for asset, rng in self._fair_rng.items():
            drift, vol = self._gbm[asset]
            self._fair[asset] *= math.exp(drift + vol * rng.gauss(0.0, 1.0))
        disl = self.config.dislocations
        for leg in self._legs.values():
            rng = leg.rng
            leg.ou_bps = (
                leg.mean_bps + (leg.ou_bps - leg.mean_bps) * self._ou_a
            ) + self._ou_sd * rng.gauss(0.0, 1.0)
            leg.premium_bps = leg.premium_bps * self._prem_a + self._prem_sd * rng.gauss(0.0, 1.0)
            if leg.jumps:
                for jump in leg.jumps:
                    jump[0] *= jump[1]
                leg.jumps = [j for j in leg.jumps if abs(j[0]) >= _MIN_JUMP_BPS]
            # Draw all three every step so the stream stays aligned whatever fires.
            u_arrive, u_size, u_life = rng.random(), rng.random(), rng.random()
            if u_arrive < self._jump_p:
                sign = 1.0 if u_size < 0.5 else -1.0
                size = sign * (disl.min_bps + (disl.max_bps - disl.min_bps) * (2 * u_size % 1.0))
                half_life = (
                    disl.min_half_life_s + (disl.max_half_life_s - disl.min_half_life_s) * u_life
                )
                leg.jumps.append([size, 0.5 ** (self._dt / half_life)])
                self.dislocations.append(
                    Dislocation(
                        venue=leg.venue,
                        asset=leg.asset,
                        symbol=leg.symbol,
                        start=t,
                        size_bps=size,
                        half_life_s=half_life,
                        fair_value=self._fair[leg.asset],
                    )
                )
            leg.premium_sum += leg.basis_bps + leg.premium_bps
            leg.premium_n += 1
            if t >= leg.next_funding - 1e-9:
                self._settle_funding(leg)

    # -- funding ---------------------------------------------------------------------------
    def _rate_8h(self, premium_bps: float) -> float:
        f = self.config.funding
        p = premium_bps * 1e-4
        rate = p + max(-f.clamp_8h, min(f.clamp_8h, f.interest_8h - p))
        return max(-f.cap_8h, min(f.cap_8h, rate))

    def _leg_rate(self, leg: _Leg) -> float:
        if leg.premium_n == 0:
            return leg.last_rate
        rate_8h = self._rate_8h(leg.premium_sum / leg.premium_n)
        return rate_8h * leg.interval_s / 28_800.0

    def _settle_funding(self, leg: _Leg) -> None:
        rate = self._leg_rate(leg)
        leg.last_rate = rate
        inst = self._by_asset[(leg.venue, leg.asset)]
        mark = round_price(inst, Decimal(repr(self.mid(leg.venue, leg.asset))))
        self._accounts[leg.venue].apply_funding(
            inst.symbol, Decimal(f"{rate:.8f}"), mark, leg.next_funding
        )
        leg.premium_sum = 0.0
        leg.premium_n = 0
        leg.next_funding += leg.interval_s

    def funding_rate(self, venue: str, symbol: str) -> FundingRate:
        """The predicted rate of the running interval (premium average so far)."""
        inst = self.instrument(venue, symbol)
        leg = self._leg(venue, inst.asset)
        return FundingRate(
            venue=venue,
            symbol=symbol,
            rate=Decimal(f"{self._leg_rate(leg):.8f}"),
            interval_hours=inst.funding_interval_hours,
            next_funding_ts=leg.next_funding if self.started else None,
        )

    def funding_payments(self, venue: str) -> list[FundingPayment]:
        return list(self._account(venue).funding_payments)

    # -- ladders -----------------------------------------------------------------------------
    def _ladder(self, book: _Book) -> tuple[tuple[tuple[int, int], ...], ...]:
        """The venue's ladder now, in (price units, lots), bids then asks, best first.

        Levels sit on a fixed grid of ``spacing_u`` price units, so a small move of the mid
        changes only the levels at the edges; the sizes hash from the level's price and the
        refresh epoch. Cached until the step, the grid position or the depletion changes.
        """
        stamp = (self.steps, book.taken_version)
        if book.stamp == stamp:
            return book.ladder
        cfg = self.config.ladder
        inst = book.inst
        mid = self.mid(inst.venue, inst.asset)
        tick_f = book.tick_f
        step_u = 1
        if inst.sig_figs is not None:
            # The significant-figure step at the top of the ladder: a multiple of every finer
            # step below it, so every level is a valid price.
            far = mid * (1.0 + (cfg.spread_bps + cfg.levels * cfg.level_spacing_bps) * 2e-4)
            magnitude = math.floor(math.log10(far))
            if book.step_key != magnitude:
                top = Decimal(1).scaleb(magnitude + 1) - inst.tick_size
                book.step_key = magnitude
                book.step_u = int(price_step(inst, top) / inst.tick_size)
            step_u = book.step_u
        spacing_u = max(
            step_u, round(mid * cfg.level_spacing_bps * 1e-4 / tick_f / step_u) * step_u
        )
        half = mid * cfg.spread_bps * 0.5e-4
        bid_u = math.floor((mid - half) / tick_f / spacing_u) * spacing_u
        ask_u = math.ceil((mid + half) / tick_f / spacing_u) * spacing_u
        if ask_u <= bid_u:
            ask_u = bid_u + spacing_u
        t = self.step_time
        epoch = int(t // cfg.refresh_s)
        depleted = bool(book.taken[1] or book.taken[-1])
        key = (bid_u, ask_u, spacing_u, epoch, book.taken_version)
        if key == book.key and not depleted:
            book.stamp = stamp
            return book.ladder
        if epoch != book.epoch:
            book.epoch = epoch
            book.draws = {1: {}, -1: {}}
        seed = self.config.seed
        unit_notional = tick_f * book.lot_f  # quote value of one lot at one price unit
        sides = []
        for side, start, direction in ((-1, bid_u, -1), (1, ask_u, 1)):
            taken = book.taken[side]
            draws = book.draws[side]
            levels = []
            for k in range(cfg.levels):
                pu = start + direction * k * spacing_u
                if pu <= 0:
                    break
                u = draws.get(pu)
                if u is None:
                    u = draws[pu] = _mix(seed, book.book_id, side, pu, epoch)
                notional = cfg.level_notional * (0.25 + 1.5 * u)
                lots = max(book.min_lots, int(notional / (pu * unit_notional)))
                if taken:
                    took = taken.get(pu)
                    if took is not None:
                        remaining = took[0] * math.exp(-self._refill_k * (t - took[1]))
                        if remaining < 0.5:
                            del taken[pu]
                        else:
                            lots -= math.ceil(remaining - 1e-9)
                if lots > 0:
                    levels.append((pu, lots))
            if taken and levels:  # forget depletion of prices the ladder moved away from
                lo = min(levels[0][0], levels[-1][0]) - spacing_u
                hi = max(levels[0][0], levels[-1][0]) + spacing_u
                for pu in [p for p in taken if p < lo or p > hi]:
                    del taken[pu]
            sides.append(tuple(levels))
        ladder = (sides[0], sides[1])
        if ladder != book.ladder:
            book.ladder = ladder
        book.key = key
        book.stamp = stamp
        return book.ladder

    def _observe(self, book: _Book) -> tuple[tuple[tuple[int, int], ...], ...]:
        ladder = self._ladder(book)
        if ladder is not book.seen:
            if book.seen is None or ladder != book.seen:
                book.version += 1
            book.seen = ladder
        return ladder

    def book_version(self, venue: str, symbol: str) -> int:
        """A counter that grows whenever the ladder (as observed) has changed."""
        self._observe(self._book(venue, symbol))
        return self._book(venue, symbol).version

    def book_levels(
        self, venue: str, symbol: str, depth: int = 50
    ) -> tuple[list[DecimalLevel], list[DecimalLevel]]:
        """``(bids, asks)`` best first, prices on the venue's tick, sizes in base units."""
        book = self._book(venue, symbol)
        ladder = self._observe(book)
        if book.decimal_ladder is not ladder:
            tick, lot = book.tick, book.lot
            book.decimal = (
                [(tick * pu, lot * n) for pu, n in ladder[0]],
                [(tick * pu, lot * n) for pu, n in ladder[1]],
            )
            book.decimal_ladder = ladder
        bids, asks = book.decimal
        return (bids[:depth], asks[:depth])

    def book_levels_float(
        self, venue: str, symbol: str, depth: int = 50
    ) -> tuple[list[FloatLevel], list[FloatLevel]]:
        """Like :meth:`book_levels` but floats (market data for :class:`L2Book`)."""
        book = self._book(venue, symbol)
        ladder = self._observe(book)
        if book.float_ladder is not ladder:
            pf, sf = book.price_f, book.size_f
            book.floats = (
                [(pf(pu), sf(n)) for pu, n in ladder[0]],
                [(pf(pu), sf(n)) for pu, n in ladder[1]],
            )
            book.float_ladder = ladder
        bids, asks = book.floats
        return (bids[:depth], asks[:depth])

    # -- execution -------------------------------------------------------------------------
    def execute(
        self,
        venue: str,
        symbol: str,
        *,
        side: Side,
        qty: Decimal,
        price: Decimal,
        reduce_only: bool,
        client_order_id: str,
        now: float,
    ) -> Execution:
        """A limit-IOC order against the venue's current ladder (see :meth:`Account.execute`).

        Draws the ``partial_fill`` fault: when it fires on an order of more than one lot, the
        fill is capped at a random 10–90 % of the order (floored to the lot), as if others
        took the liquidity first. Liquidity taken is removed from the ladder until it refills.
        An unknown symbol is REJECTED ("unknown symbol") and not remembered.
        """
        account = self._account(venue)
        inst = self._instruments[venue].get(symbol)
        if inst is None:
            return Execution(
                venue=venue, symbol=symbol, client_order_id=client_order_id,
                status=OrderStatus.REJECTED, venue_order_id="", fills=(),
                filled_qty=Decimal(0), avg_price=None, reason=f"unknown symbol {symbol!r}",
            )  # fmt: skip
        book = self._book(venue, symbol)
        bids, asks = self.book_levels(venue, symbol, depth=self.config.ladder.levels)
        max_fill = None
        partial = self.fault(venue, "partial_fill")
        fraction = self.stream(f"partial:{venue}").uniform(0.1, 0.9)
        if partial and qty > inst.lot_size:
            max_fill = max(
                inst.lot_size, (qty * Decimal(repr(fraction)) // inst.lot_size) * inst.lot_size
            )
            if max_fill >= qty:
                max_fill = qty - inst.lot_size
        execution = account.execute(
            inst,
            asks if side is Side.BUY else bids,
            side=side,
            qty=qty,
            price=price,
            reduce_only=reduce_only,
            client_order_id=client_order_id,
            now=now,
            max_fill=max_fill,
        )
        if execution.fills:
            taken = book.taken[1 if side is Side.BUY else -1]
            t = self.step_time
            for fill in execution.fills:
                pu = int(fill.price / book.tick)
                lots = float(fill.qty / book.lot)
                prev = taken.get(pu)
                if prev is not None:
                    lots += prev[0] * math.exp(-self._refill_k * (t - prev[1]))
                taken[pu] = (lots, t)
            book.taken_version += 1
        return execution

    def reject(
        self,
        venue: str,
        symbol: str,
        *,
        side: Side,
        qty: Decimal,
        price: Decimal,
        reduce_only: bool,
        client_order_id: str,
        reason: str,
        now: float,
    ) -> Execution:
        """Record an order refused before matching (the ``reject`` fault), so a later query
        finds it REJECTED. A duplicate client order id is reported as such."""
        return self._account(venue).reject(
            self.instrument(venue, symbol), client_order_id, reason,
            side=side, qty=qty, price=price, reduce_only=reduce_only, now=now,
        )  # fmt: skip

    def order(self, venue: str, client_order_id: str) -> OrderReport | None:
        return self._account(venue).order(client_order_id)

    def position(self, venue: str, symbol: str) -> Decimal:
        self.instrument(venue, symbol)
        return self._account(venue).position(symbol)

    def positions(self, venue: str) -> list[VenuePosition]:
        return self._account(venue).positions()

    def balances(self, venue: str) -> list[Balance]:
        return self._account(venue).balances()

    def account(self, venue: str) -> Account:
        """The venue's account (read it; only this market writes it)."""
        return self._account(venue)

    # -- available edge ----------------------------------------------------------------------
    def round_trip_cost_bps(self, venue_a: str, venue_b: str) -> float:
        """Cost in bps of notional of a full round trip between two venues: taker fee on
        four fills (open and close on both) plus crossing the quoted spread on each."""
        fa = float(self._fee(venue_a)) * 1e4
        fb = float(self._fee(venue_b)) * 1e4
        return 2.0 * (fa + fb) + 2.0 * self.config.ladder.spread_bps

    def available_edge_bps(self, dislocation: Dislocation) -> float:
        """The most a perfect strategy could capture from ``dislocation``, bps of notional.

        ``max(0, |size_bps| − min over other venues v of round_trip_cost_bps(venue, v))``:
        enter the pair at the jump's peak (short the dear venue, long the cheap one), exit at
        full convergence, pay four taker fees and cross both spreads twice. An upper bound
        per dislocation: it ignores the ordinary basis noise and depth limits.
        """
        others = [v for v in self.venues if v != dislocation.venue]
        if not others:
            return 0.0
        cost = min(self.round_trip_cost_bps(dislocation.venue, v) for v in others)
        return max(0.0, abs(dislocation.size_bps) - cost)

    # -- helpers ------------------------------------------------------------------------------
    def _fee(self, venue: str) -> Decimal:
        override = self.config.fees.get(venue)
        return override.taker if override else VENUE_PROFILES[venue].taker_fee

    def _check_venue(self, venue: str) -> None:
        if venue not in self._accounts:
            raise UnknownInstrument(f"unknown venue {venue!r} (simulated: {self.venues})")

    def _account(self, venue: str) -> Account:
        self._check_venue(venue)
        return self._accounts[venue]

    def _book(self, venue: str, symbol: str) -> _Book:
        book = self._books.get((venue, symbol))
        if book is None:
            self.instrument(venue, symbol)  # raises with a clear message
            raise AssertionError("unreachable")
        return book

    def _leg(self, venue: str, asset: str) -> _Leg:
        leg = self._legs.get((venue, asset))
        if leg is None:
            self.symbol_for(venue, asset)
            raise AssertionError("unreachable")
        return leg


def sample_latency(dist: LatencyConfig, rng: random.Random) -> float:
    """One draw from ``dist`` (seconds), clipped to [min_s, max_s]. Always draws one gauss
    or uniform so streams stay aligned across distributions of the same kind."""
    if dist.distribution == "fixed":
        value = dist.median_s
    elif dist.distribution == "uniform":
        value = rng.uniform(dist.min_s, dist.max_s)
    elif dist.distribution == "lognormal":
        value = dist.min_s + dist.median_s * math.exp(dist.sigma * rng.gauss(0.0, 1.0))
    else:  # exponential
        value = dist.min_s + (rng.expovariate(1.0 / dist.median_s) if dist.median_s > 0 else 0.0)
    return min(dist.max_s, max(dist.min_s, value))
