"""The accounts view: what the risk gate and the watchdog know of each venue's account.

It owns nothing: balances come from the venue supervisor's REST polls
(``VenueState.balances``, every ``service.account_poll_s``) and the clients' private-stream
pushes (``pushed_balances``, ``pushed_positions``), positions from the position book, marks
from the market view. From them it derives, in the reference currency:

* **free margin** per venue: the settle currency's available balance, less the initial
  margin (leg notional / leverage) of every leg opened there since that balance was
  reported (REST), and never more than the latest pushed available balance: the lower,
  conservative, estimate. A venue with neither is unknown: the gate refuses its legs;
* **exposure** (:meth:`Accounts.exposure`): the position book's, with the net notional per
  asset and the mark-to-market of the open legs valued at the books' mids, the orphan fills
  (executions no position claimed: the router's ``orphan_fills``) in the net exposure, and
  the margin;
* **liquidation risk** (:meth:`Accounts.near_liquidation`): venue positions whose mark is
  within ``risk.min_liquidation_distance_bps`` of their liquidation price;
* **collateral drift** (:meth:`Accounts.collateral_drift`): the richest venue's free
  collateral over the poorest's, above ``risk.collateral_drift_ratio``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

import attrs

from arbtrio.config import Config
from arbtrio.core.detector import quote_rate
from arbtrio.core.risk import Exposure
from arbtrio.core.types import VenuePosition
from arbtrio.runtime.positions import PositionBook
from arbtrio.runtime.venues import VenueSupervisor
from arbtrio.venues.base import VenueClient

__all__ = ["Accounts", "LiquidationRisk"]

_ZERO = Decimal(0)
_BPS = Decimal(10_000)

Mark = Callable[[str, str], Decimal | None]
"""``mark(venue, symbol)``: the book's mid in the venue's quote currency, or None."""


@attrs.frozen
class LiquidationRisk:
    """A venue position whose mark is ``distance_bps`` from its liquidation price."""

    venue: str
    symbol: str
    asset: str
    qty: Decimal
    mark: Decimal
    liquidation_price: Decimal
    distance_bps: Decimal


class Accounts:
    """Derived account figures per venue (see the module docstring); reads only."""

    def __init__(
        self,
        config: Config,
        *,
        clients: Mapping[str, VenueClient],
        venues: VenueSupervisor,
        positions: PositionBook,
        quote_rates: Mapping[str, Decimal],
        mark: Mark,
    ) -> None:
        self.config = config
        self.clients = clients
        self.venues = venues
        self.positions = positions
        self.quote_rates = quote_rates
        self.mark = mark

    def settle_currency(self, venue: str) -> str | None:
        """The quote currency of the venue's traded instruments (None before they load)."""
        for inst in self.venues.venues[venue].instruments.values():
            return inst.quote
        return None

    def free_margin(self) -> dict[str, Decimal]:
        """Free margin per venue in the reference currency; venues with no balance known
        are left out."""
        out = {}
        for venue, state in self.venues.venues.items():
            currency = self.settle_currency(venue)
            if currency is None or currency not in self.quote_rates:
                continue
            estimates = []
            rest = state.balances.get(currency)
            if rest is not None and state.balances_ts is not None:
                estimates.append(rest.available - self._opened_since(venue, state.balances_ts))
            pushed = getattr(self.clients[venue], "pushed_balances", {}).get(currency)
            if pushed is not None:
                estimates.append(pushed.available)
            if estimates:
                out[venue] = min(estimates) * self.quote_rates[currency]
        return out

    def _opened_since(self, venue: str, ts: float) -> Decimal:
        """Initial margin (venue currency) of the legs on ``venue`` of positions created
        after ``ts`` and not settled: what a balance reported at ``ts`` does not show."""
        leverage = max(self.venues.venues[venue].leverage, 1)
        held = _ZERO
        for actor in self.positions.unsettled():
            spec = actor.position.spec
            if spec.created_ts <= ts:
                continue
            for inst, price in ((spec.long, spec.long_price), (spec.short, spec.short_price)):
                if inst.venue == venue:
                    held += spec.qty * price / leverage
        return held

    def exposure(self) -> Exposure:
        """The position book's exposure, with net notional and mark-to-market at the marks
        and each venue's free margin and leverage."""
        base = self.positions.exposure()
        net_notional: dict[str, Decimal] = {}
        unrealized = _ZERO
        for actor in self.positions.unsettled():
            pos = actor.position
            spec = pos.spec
            net = _ZERO  # long value − short value at the marks
            for leg, inst, ref in (
                ("long", spec.long, spec.long_price),
                ("short", spec.short, spec.short_price),
            ):
                held = pos.held(leg)  # type: ignore[arg-type]
                if held == 0:
                    continue
                mark = self.mark(inst.venue, inst.symbol) or ref
                worth = held * mark * quote_rate(self.quote_rates, inst)
                net += worth if leg == "long" else -worth
            net_notional[spec.asset] = net_notional.get(spec.asset, _ZERO) + net
            unrealized += pos.realized_pnl(self.quote_rates) + net
        net_delta = dict(base.net_delta_by_asset)
        for (venue, symbol), orphans in self.positions.router.orphan_fills.items():
            asset = self.venues.symbol_asset.get((venue, symbol))
            traded = self.venues.instrument(venue, asset) if asset is not None else None
            if asset is None or traded is None:
                continue
            qty = sum((o.qty for o in orphans), _ZERO)
            mark = self.mark(venue, symbol) or orphans[-1].price
            rate = quote_rate(self.quote_rates, traded)
            net_delta[asset] = net_delta.get(asset, _ZERO) + qty
            net_notional[asset] = net_notional.get(asset, _ZERO) + qty * mark * rate
        return attrs.evolve(
            base,
            net_delta_by_asset=net_delta,
            net_notional_by_asset=net_notional,
            unrealized_pnl=unrealized,
            free_margin_by_venue=self.free_margin(),
            leverage_by_venue={v: s.leverage for v, s in self.venues.venues.items()},
        )

    def venue_positions(self, venue: str) -> list[VenuePosition]:
        """The venue's positions: the pushed ones where the stream pushes them (fresher),
        else the last REST poll."""
        pushed = getattr(self.clients[venue], "pushed_positions", {})
        if pushed:
            return list(pushed.values())
        return list(self.venues.venues[venue].positions)

    def near_liquidation(self) -> list[LiquidationRisk]:
        """Venue positions of traded symbols whose mark is within
        ``risk.min_liquidation_distance_bps`` of their liquidation price."""
        limit = self.config.risk.min_liquidation_distance_bps
        out = []
        for venue in self.venues.venues:
            for vp in self.venue_positions(venue):
                asset = self.venues.symbol_asset.get((venue, vp.symbol))
                liq = vp.liquidation_price
                if asset is None or vp.qty == 0 or liq is None or liq <= 0:
                    continue
                mark = vp.mark_price or self.mark(venue, vp.symbol)
                if mark is None or mark <= 0:
                    continue
                distance = abs(mark - liq) / mark * _BPS
                if distance < limit:
                    out.append(LiquidationRisk(venue, vp.symbol, asset, vp.qty, mark, liq,
                                               distance.quantize(Decimal("0.1"))))  # fmt: skip
        return out

    def collateral_drift(self) -> tuple[str, str, Decimal] | None:
        """(richest venue, poorest venue, ratio of their free collateral) when the ratio
        exceeds ``risk.collateral_drift_ratio``; None otherwise or with fewer than two."""
        free = {v: m for v, m in self.free_margin().items() if self.venues.venue_up(v)}
        if len(free) < 2:
            return None
        rich = max(free, key=lambda v: free[v])
        poor = min(free, key=lambda v: free[v])
        if free[poor] <= 0:
            return rich, poor, Decimal("Infinity")
        ratio = free[rich] / free[poor]
        if ratio > self.config.risk.collateral_drift_ratio:
            return rich, poor, ratio.quantize(Decimal("0.01"))
        return None
