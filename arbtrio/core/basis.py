"""The market model (pure): each venue's persistent basis and each asset's volatility.

Spreads between venues do not converge to zero: Hyperliquid carries a funding-linked premium
or discount over the CEXs that can last for hours, and each CEX has its own. A detector that
assumes convergence to zero trades that premium as if it were a dislocation and waits for a
convergence that never comes. :class:`MarketModel` measures, per asset:

* the **reference mid**: the median of the venues' mids (in the reference currency), robust
  to one venue dislocating;
* each venue's **basis**: the median of ``(mid_v / reference − 1)·1e4`` bps over the last
  ``basis_window_s``, sampled at most once per ``BASIS_SAMPLE_S``. A median is what a
  dislocation (tens of bps for seconds to a minute) cannot move while it covers less than
  half the window, and what follows a drift of the basis itself within half a window. A
  venue is *warming up* (its basis not offered) until it has ``basis_warmup_s`` of samples;
* the **volatility** of the reference mid: a time-weighted moving average (half-life
  ``vol_half_life_s``) of squared log returns per second, sampled at least ``VOL_SAMPLE_S``
  apart (finer samples measure the bid-ask bounce, not the price), as bps per √s.

:meth:`MarketModel.outlook` turns these into the detector's
:class:`~arbtrio.core.detector.VenueOutlook` per venue: the basis, and the latency buffer
``latency_z × σ × √latency`` of the venue's measured order latency.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Mapping

import attrs

from arbtrio.core.detector import DetectorConfig, VenueOutlook

__all__ = ["BASIS_SAMPLE_S", "VOL_SAMPLE_S", "MarketModel"]

BASIS_SAMPLE_S = 1.0
VOL_SAMPLE_S = 1.0
_LN2 = math.log(2.0)


@attrs.define
class _Basis:
    """One venue's basis samples of the window: in time order, and sorted (for the median)."""

    first_ts: float
    last_ts: float
    window: deque[tuple[float, float]] = attrs.Factory(deque)  # (ts, bps)
    ordered: list[float] = attrs.Factory(list)

    def add(self, ts: float, bps: float, horizon: float) -> None:
        self.window.append((ts, bps))
        insort(self.ordered, bps)
        self.last_ts = ts
        while self.window and self.window[0][0] < horizon:
            _, old = self.window.popleft()
            del self.ordered[bisect_left(self.ordered, old)]

    def median(self) -> float:
        values, n = self.ordered, len(self.ordered)
        return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


@attrs.define
class _Vol:
    last_ts: float
    last_mid: float
    var_per_s: float | None = None  # of log returns, per second


class MarketModel:
    """Basis per (asset, venue) and volatility per asset (see the module docstring)."""

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config
        self._basis: dict[tuple[str, str], _Basis] = {}
        self._vol: dict[str, _Vol] = {}

    def observe(self, asset: str, mids: Mapping[str, float], now: float) -> None:
        """Fold one look at ``asset``'s venue mids (reference currency, each > 0) in."""
        if not mids:
            return
        ordered = sorted(mids.values())
        n = len(ordered)
        ref = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
        if not ref > 0:
            return
        horizon = now - self.config.basis_window_s
        for venue, mid in mids.items():
            state = self._basis.get((asset, venue))
            if state is None:
                state = self._basis[(asset, venue)] = _Basis(now, -math.inf)
            if now - state.last_ts >= BASIS_SAMPLE_S:
                state.add(now, (mid / ref - 1.0) * 1e4, horizon)
        self._observe_vol(asset, ref, now)

    def _observe_vol(self, asset: str, ref: float, now: float) -> None:
        vol = self._vol.get(asset)
        if vol is None:
            self._vol[asset] = _Vol(now, ref)
            return
        dt = now - vol.last_ts
        if dt < VOL_SAMPLE_S:
            return
        r = math.log(ref / vol.last_mid)
        sample = r * r / dt
        if vol.var_per_s is None:
            vol.var_per_s = sample
        else:
            weight = 1.0 - math.exp(-dt * _LN2 / self.config.vol_half_life_s)
            vol.var_per_s += weight * (sample - vol.var_per_s)
        vol.last_ts, vol.last_mid = now, ref

    def basis_bps(self, asset: str, venue: str, now: float) -> float | None:
        """The venue's basis on ``asset`` in bps, or None while it is warming up."""
        state = self._basis.get((asset, venue))
        if state is None or not state.ordered:
            return None
        if now - state.first_ts < self.config.basis_warmup_s:
            return None
        return state.median()

    def vol_bps(self, asset: str) -> float | None:
        """The asset's volatility in bps per √second, or None before two samples."""
        vol = self._vol.get(asset)
        if vol is None or vol.var_per_s is None:
            return None
        return math.sqrt(vol.var_per_s) * 1e4

    def pair_basis_bps(self, asset: str, long_venue: str, short_venue: str, now: float) -> float:
        """Where the short venue's mid over the long venue's is expected to return (0 while
        either is warming up)."""
        long_b = self.basis_bps(asset, long_venue, now)
        short_b = self.basis_bps(asset, short_venue, now)
        if long_b is None or short_b is None:
            return 0.0
        return short_b - long_b

    def outlook(
        self, asset: str, venues: Mapping[str, float | None], now: float
    ) -> dict[str, VenueOutlook]:
        """The detector's outlook of each venue in ``venues`` (venue → measured order latency
        in seconds, None: unmeasured, ``assumed_latency_ms``). A venue still warming up, or
        an asset with no volatility yet, is left out (the detector skips it)."""
        sigma = self.vol_bps(asset)
        if sigma is None:
            return {}
        cfg = self.config
        out = {}
        for venue, latency in venues.items():
            basis = self.basis_bps(asset, venue, now)
            if basis is None:
                continue
            lat = cfg.assumed_latency_ms / 1000.0 if latency is None else latency
            out[venue] = VenueOutlook(basis, cfg.latency_z * sigma * math.sqrt(max(lat, 0.0)))
        return out
