"""The risk gate: approve or reject an opportunity, with a stable reason (pure; spec 008).

The runtime builds an :class:`Exposure` snapshot from its positions and the journal and asks
the gate before it spawns a position. The gate owns only its own switches (paused, the
consecutive-failure breaker) and its counters; everything else arrives in the snapshot.

Notional is gross leg notional in the reference currency (``Opportunity.long_notional`` and
``short_notional``): a hedged pair of 10 000 on each leg adds 10 000 to each venue and 20 000
to the total. A position's notional (for ``max_notional_per_position``) is its larger leg.

Margin: each leg needs ``leg notional / leverage × (1 + margin_headroom)`` of free margin on
its venue (``Exposure.free_margin_by_venue``, reference currency, net of what positions
opened since the venue's last balance report hold). The daily loss counts the realised PnL
of the day plus the mark-to-market of every open leg (FAULTED ones included).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

import attrs

from arbtrio.core.detector import Opportunity

RejectReason = Literal[
    "paused",
    "breaker",
    "daily_loss",
    "max_open_positions",
    "max_notional_position",
    "max_notional_venue",
    "max_notional_total",
    "max_net_notional",
    "margin",
]
REJECT_REASONS: tuple[RejectReason, ...] = (
    "paused",
    "breaker",
    "daily_loss",
    "max_open_positions",
    "max_notional_position",
    "max_notional_venue",
    "max_notional_total",
    "max_net_notional",
    "margin",
)
"""Every rejection reason, in the order the gate checks them."""


@attrs.frozen(kw_only=True)
class RiskLimits:
    """Hard limits. Notionals (net notional included) are reference-currency Decimals.

    ``daily_loss_limit`` is a positive amount: trading stops once today's realised PnL plus
    the open legs' mark-to-market is at or below ``−daily_loss_limit``. The breaker trips
    after ``max_consecutive_failures`` failed positions in a row. ``margin_headroom`` is the
    free margin a leg needs beyond its initial margin (0.5: 1.5 × notional / leverage);
    ``min_liquidation_distance_bps``: a leg whose mark is closer than this to its venue's
    liquidation price is reduced (both legs together) by the watchdog;
    ``collateral_drift_ratio``: the largest venue's free collateral over the smallest's
    above which collateral has drifted apart (an alert: rebalance the accounts).
    """

    max_notional_per_position: Decimal
    max_notional_per_venue: Decimal
    max_notional_total: Decimal
    max_open_positions: int
    max_net_notional_per_asset: Decimal
    daily_loss_limit: Decimal
    max_consecutive_failures: int
    margin_headroom: Decimal = Decimal("0.5")
    min_liquidation_distance_bps: Decimal = Decimal(1500)
    collateral_drift_ratio: Decimal = Decimal(3)

    def __attrs_post_init__(self) -> None:
        for name in (
            "max_notional_per_position",
            "max_notional_per_venue",
            "max_notional_total",
            "max_net_notional_per_asset",
            "margin_headroom",
            "min_liquidation_distance_bps",
        ):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value >= 0:
                raise ValueError(f"RiskLimits.{name} must be a Decimal >= 0, got {value!r}")
        if not isinstance(self.daily_loss_limit, Decimal) or not self.daily_loss_limit > 0:
            raise ValueError(
                f"RiskLimits.daily_loss_limit must be a positive Decimal, "
                f"got {self.daily_loss_limit!r}"
            )
        if not isinstance(self.collateral_drift_ratio, Decimal) or self.collateral_drift_ratio < 1:
            raise ValueError(
                f"RiskLimits.collateral_drift_ratio must be a Decimal >= 1, "
                f"got {self.collateral_drift_ratio!r}"
            )
        if self.max_open_positions < 0:
            raise ValueError(
                f"RiskLimits.max_open_positions must be >= 0, got {self.max_open_positions}"
            )
        if self.max_consecutive_failures < 1:
            raise ValueError(
                "RiskLimits.max_consecutive_failures must be >= 1, "
                f"got {self.max_consecutive_failures}"
            )


@attrs.frozen(kw_only=True)
class Exposure:
    """What is open now, as the runtime sees it.

    ``notional_by_venue`` and ``total_notional`` are gross leg notionals (reference currency);
    ``net_delta_by_asset`` is the signed base quantity summed over venues (long > 0), from
    the positions' fills and the orphan fills; ``net_notional_by_asset`` the same valued at
    the mark (reference currency); ``realized_pnl_today`` and ``unrealized_pnl`` (the open
    legs' mark-to-market) are in the reference currency, negative for a loss.
    ``free_margin_by_venue`` and ``leverage_by_venue`` feed the margin check; a venue missing
    from ``free_margin_by_venue`` has no known balance (its legs are refused) — unless the
    mapping is None (margin not checked: unit tests and venues without accounts).
    """

    open_positions: int = 0
    notional_by_venue: Mapping[str, Decimal] = attrs.field(factory=dict)
    total_notional: Decimal = Decimal(0)
    net_delta_by_asset: Mapping[str, Decimal] = attrs.field(factory=dict)
    net_notional_by_asset: Mapping[str, Decimal] = attrs.field(factory=dict)
    realized_pnl_today: Decimal = Decimal(0)
    unrealized_pnl: Decimal = Decimal(0)
    free_margin_by_venue: Mapping[str, Decimal] | None = None
    leverage_by_venue: Mapping[str, int] = attrs.field(factory=dict)


@attrs.frozen
class RiskDecision:
    approved: bool
    reason: Literal["ok"] | RejectReason


APPROVED = RiskDecision(True, "ok")


@attrs.define(eq=False)
class RiskGate:
    """Approves opportunities within :class:`RiskLimits`; counts every rejection by reason.

    The consecutive-failure breaker: :meth:`record_outcome` with ``success=False`` counts a
    failure, a success resets the count; at ``max_consecutive_failures`` the breaker trips
    and every check is rejected with ``"breaker"`` until :meth:`reset_breaker`.
    """

    limits: RiskLimits
    paused: bool = False
    breaker_tripped: bool = False
    consecutive_failures: int = 0
    approvals: int = 0
    rejections: Counter[str] = attrs.Factory(Counter)

    def check(self, opportunity: Opportunity, exposure: Exposure) -> RiskDecision:
        """Approve ``opportunity`` given ``exposure``, or reject with the first failed limit.

        Checks run in :data:`REJECT_REASONS` order. ``max_net_notional`` rejects a new
        position on an asset whose net notional already exceeds its limit (a hedge is out of
        balance); ``margin`` one whose leg lacks free margin on its venue.
        """
        reason = self._first_violation(opportunity, exposure)
        if reason is None:
            self.approvals += 1
            return APPROVED
        self.rejections[reason] += 1
        return RiskDecision(False, reason)

    def _first_violation(self, opp: Opportunity, exp: Exposure) -> RejectReason | None:
        lim = self.limits
        if self.paused:
            return "paused"
        if self.breaker_tripped:
            return "breaker"
        if exp.realized_pnl_today + exp.unrealized_pnl <= -lim.daily_loss_limit:
            return "daily_loss"
        if exp.open_positions >= lim.max_open_positions:
            return "max_open_positions"
        if max(opp.long_notional, opp.short_notional) > lim.max_notional_per_position:
            return "max_notional_position"
        long_venue, short_venue = opp.long.venue, opp.short.venue
        by_venue = exp.notional_by_venue
        if long_venue == short_venue:  # not an arbitrage the detector builds, but be exact
            legs = {long_venue: opp.long_notional + opp.short_notional}
        else:
            legs = {long_venue: opp.long_notional, short_venue: opp.short_notional}
        for venue, added in legs.items():
            if by_venue.get(venue, Decimal(0)) + added > lim.max_notional_per_venue:
                return "max_notional_venue"
        if exp.total_notional + opp.long_notional + opp.short_notional > lim.max_notional_total:
            return "max_notional_total"
        net = exp.net_notional_by_asset.get(opp.asset, Decimal(0))
        if abs(net) > lim.max_net_notional_per_asset:
            return "max_net_notional"
        if exp.free_margin_by_venue is not None:
            free = exp.free_margin_by_venue
            for venue, notional in legs.items():
                need = self.margin_needed(notional, exp.leverage_by_venue.get(venue, 1))
                if free.get(venue, Decimal(0)) < need:
                    return "margin"
        return None

    def margin_needed(self, notional: Decimal, leverage: int) -> Decimal:
        """The free margin a leg of ``notional`` needs at ``leverage`` (with the headroom)."""
        return notional / max(leverage, 1) * (1 + self.limits.margin_headroom)

    def pause(self) -> None:
        """Reject everything with ``"paused"`` until :meth:`resume` (open positions are kept)."""
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def record_outcome(self, success: bool) -> None:
        """Feed the breaker with one position's outcome (entry hedged = success)."""
        if success:
            self.consecutive_failures = 0
            return
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.limits.max_consecutive_failures:
            self.breaker_tripped = True

    def reset_breaker(self) -> None:
        """Operator action: clear the breaker and the failure count."""
        self.breaker_tripped = False
        self.consecutive_failures = 0

    def net_notional_breached(self, exposure: Exposure) -> list[str]:
        """Assets whose net notional exceeds ``max_net_notional_per_asset``: the watchdog
        flattens."""
        limit = self.limits.max_net_notional_per_asset
        return sorted(a for a, n in exposure.net_notional_by_asset.items() if abs(n) > limit)
