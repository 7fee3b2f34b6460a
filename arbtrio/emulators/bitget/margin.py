"""The emulator's margin rules: per-symbol leverage and margin mode, and the liquidation
price it reports for a position (pure functions; ``specs/012-bitget.md`` says why these
formulas).

Bitget reports an *estimated* liquidation price (``liquidationPrice``; <= 0 means none at
this time) from its tiered maintenance margin rate (``keepMarginRate``). The emulator uses
one rate, :data:`~arbtrio.emulators.bitget.protocol.MAINTENANCE_MARGIN_RATE` (the first
tier of the documented BTCUSDT table), and formulas chosen to be conservative: the price
they give is never farther from the entry than the maintenance rule puts it, so a
strategy tested against the emulator sees no more room than it has.

* isolated, margin ``entry × size / leverage``: long ``entry × (1 − 1/L + mmr)``
  (maintenance charged on the entry notional, which for a long is the larger of the entry
  and the liquidation notional); short ``entry × (1 + 1/L) / (1 + mmr)`` (maintenance on
  the liquidation notional, the larger for a short; to first order the same as
  ``entry × (1 + 1/L − mmr)``, and slightly nearer the entry).
* cross: the same two rules with the position's margin replaced by the account's
  wallet balance less the initial margin (``notional / leverage``) of every other position
  and less their unrealised losses (their gains are not counted).
"""

from __future__ import annotations

from decimal import Decimal

import attrs

ZERO = Decimal(0)
ONE = Decimal(1)


@attrs.define
class Setting:
    """One symbol's settings on the account: margin mode (``crossed``/``isolated``), the
    cross leverage and the isolated leverage of each side."""

    margin_mode: str
    cross_leverage: int
    long_leverage: int
    short_leverage: int

    def leverage(self, long: bool) -> int:
        """The leverage a position of that side runs at."""
        if self.margin_mode == "crossed":
            return self.cross_leverage
        return self.long_leverage if long else self.short_leverage

    def as_answer(self, symbol: str, margin_coin: str) -> dict[str, str]:
        """The ``data`` of a set-leverage / set-margin-mode answer."""
        return {"symbol": symbol, "marginCoin": margin_coin,
                "longLeverage": str(self.long_leverage),
                "shortLeverage": str(self.short_leverage),
                "crossMarginLeverage": str(self.cross_leverage),
                "marginMode": self.margin_mode}  # fmt: skip


def liquidation_price(qty: Decimal, entry: Decimal, margin: Decimal, mmr: Decimal) -> Decimal:
    """The price at which ``margin`` (the position's, or the account's share for cross)
    no longer covers maintenance for a position of signed ``qty`` opened at ``entry``.

    Long: ``entry + mmr × entry − margin / qty`` (maintenance on the entry notional);
    short: ``(entry + margin / |qty|) / (1 + mmr)`` (maintenance on the notional at that
    price). May be <= 0 (a long with more margin than notional): no liquidation price."""
    if qty == 0:
        raise ValueError("no position, no liquidation price")
    size = abs(qty)
    if qty > 0:
        return entry * (ONE + mmr) - margin / size
    return (entry + margin / size) / (ONE + mmr)


def isolated_margin(qty: Decimal, entry: Decimal, leverage: int) -> Decimal:
    """The initial (isolated) margin of a position: its entry notional over the leverage."""
    return abs(qty) * entry / leverage
