"""Hyperliquid answers and pushes → the unified types (pure; ``specs/010-hyperliquid.md``).

Every function here takes decoded wire Structs (``codecs``) and returns domain values. Lists
are converted item by item: an item that is foreign (a spot or builder-deployed coin, a
delisted asset, an order that is not ours) or malformed (an undecodable item, a number that
is not finite, an impossible size) is left out and counted in the given health's
``skipped`` — never taking its neighbours with it. A message whose *structure* is wrong (the
universe and its contexts differ in length, so asset ids would be guessed) is malformed as
a whole (``MalformedMessage``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Final

import attrs
import msgspec
import structlog

from arbtrio.core.instruments import Instrument
from arbtrio.core.types import (
    Balance,
    Fill,
    FundingRate,
    OrderReport,
    OrderStatus,
    Side,
    VenuePosition,
)
from arbtrio.venues.base import BadRequest, MalformedMessage, VenueHealth
from arbtrio.venues.hyperliquid import codecs as c

__all__ = [
    "Universe",
    "average_price",
    "balances_of",
    "fill_of",
    "filled_of",
    "fills_of",
    "funding_of",
    "order_status",
    "positions_counted",
    "positions_of",
    "report_of",
    "reported_price",
    "runtime_ts",
    "skip",
    "universe_of",
]

log = structlog.get_logger("arbtrio.venues.hyperliquid")

VENUE: Final = c.VENUE
_ZERO: Final = Decimal(0)


def skip(health: VenueHealth, what: str, reason: str, *, malformed: bool = False) -> None:
    """Count one skipped item in ``health.skipped`` and log why (a malformed item at
    warning level, with its reason kept as ``health.last_error``)."""
    health.skipped += 1
    if malformed:
        health.last_error = f"{what}: {reason}"[:200]
        log.warning("hyperliquid.item_skipped", what=what, reason=reason[:200])
    else:
        log.debug("hyperliquid.item_skipped", what=what, reason=reason[:200])


# -- orders ------------------------------------------------------------------------------------
def order_status(status: str) -> OrderStatus:
    """Map a venue order status to the unified one; MalformedMessage if unknown."""
    if status in ("open", "triggered"):
        return OrderStatus.OPEN
    if status == "filled":
        return OrderStatus.FILLED
    if status == "rejected" or status.endswith("Rejected"):
        return OrderStatus.REJECTED
    if status in ("canceled", "scheduledCancel") or status.endswith("Canceled"):
        return OrderStatus.CANCELLED
    raise MalformedMessage(VENUE, f"unknown order status {status!r}")


def filled_of(order: c.OrderInfo, status: OrderStatus) -> Decimal:
    """Cumulative filled size of an order report: ``origSz − sz`` (``sz`` is what remains)."""
    if status is OrderStatus.REJECTED:
        return _ZERO
    if status is OrderStatus.FILLED:
        return c.finite(order.origSz, "origSz")
    return max(_ZERO, c.finite(order.origSz, "origSz") - c.finite(order.sz, "sz"))


def average_price(fills: Sequence[Fill], filled: Decimal) -> Decimal | None:
    """The fills' size-weighted price when they add up to ``filled`` (> 0), else None."""
    qty = sum((f.qty for f in fills), _ZERO)
    if not fills or qty != filled or qty <= 0:
        return None
    return sum((f.price * f.qty for f in fills), _ZERO) / qty


def runtime_ts(venue_ms: int, now: float, wall: float) -> float:
    """A venue epoch-ms timestamp on the runtime's clock (``now`` there is ``wall`` here)."""
    return now - (wall - venue_ms / 1000.0)


def fill_of(fill: c.UserFill, cloid: str, now: float, wall: float) -> Fill:
    """One venue fill as a :class:`Fill` of order ``cloid`` (fees: positive is paid, in
    ``feeToken``: ``fee_currency`` ``""`` when USDC). MalformedMessage unless size and price
    are finite and positive and the fee, when given, finite; a fee sent as ``null`` or
    ``""`` is booked as 0 and logged."""
    qty = c.finite(fill.sz, "sz")
    price = c.finite(fill.px, "px")
    if qty <= 0 or price <= 0:
        raise MalformedMessage(VENUE, f"fill {fill.tid}: size {qty} / price {price} not positive")
    fee = c.opt_decimal(fill.fee, "fee")
    if fee is None:
        log.warning("hyperliquid.fill_without_fee", tid=fill.tid, oid=fill.oid)
        fee = _ZERO
    return Fill(
        venue=VENUE,
        client_order_id=cloid,
        trade_id=str(fill.tid),
        side=Side.BUY if fill.side == "B" else Side.SELL,
        qty=qty,
        price=price,
        fee=fee,
        ts=runtime_ts(fill.time, now, wall),
        fee_currency=c.fee_currency(fill.feeToken),
        symbol=fill.coin,
    )


def fills_of(items: Iterable[msgspec.Raw], health: VenueHealth) -> list[c.UserFill]:
    """The fills of a REST ``userFills`` answer, item by item (a malformed one skipped and
    counted)."""
    out: list[c.UserFill] = []
    for raw in items:
        try:
            out.append(c.decode_item("fill", raw))
        except MalformedMessage as exc:
            skip(health, "userFills", exc.message, malformed=True)
    return out


def report_of(
    answer: c.OrderStatusResponse,
    client_order_id: str,
    fills: Iterable[c.UserFill],
    now: float,
    wall: float,
    health: VenueHealth,
) -> OrderReport | None:
    """The :class:`OrderReport` of an ``orderStatus`` answer plus the order's fills (those
    that do not convert are skipped and counted); None for ``unknownOid``."""
    if answer.status != "order" or answer.order is None:
        return None
    entry = answer.order
    status = order_status(entry.status)
    filled = filled_of(entry.order, status)
    events: list[Fill] = []
    for fill in fills:
        try:
            events.append(fill_of(fill, client_order_id, now, wall))
        except MalformedMessage as exc:
            skip(health, "orderStatus fills", exc.message, malformed=True)
    return OrderReport(
        venue=VENUE,
        client_order_id=client_order_id,
        status=status,
        filled_qty=filled,
        avg_price=average_price(events, filled),
        fills=tuple(events),
        reason="" if status is OrderStatus.FILLED else entry.status,
    )


# -- instruments and funding -------------------------------------------------------------------
@attrs.frozen
class Universe:
    """``metaAndAssetCtxs`` decoded item by item: ``assets`` maps every coin decoded to its
    asset id (the index in the full universe, delisted coins included); ``instruments`` the
    tradable first-dex perps; ``ctxs`` each coin's context."""

    assets: dict[str, int]
    instruments: list[Instrument]
    ctxs: dict[str, c.AssetCtx]
    malformed: int = 0  # items that did not decode


def universe_of(
    answer: tuple[c.Meta, list[msgspec.Raw]],
    health: VenueHealth,
    *,
    taker_fee: Decimal = c.BASE_TAKER_FEE,
    maker_fee: Decimal = c.BASE_MAKER_FEE,
) -> Universe:
    """Assets, instruments and contexts of a ``metaAndAssetCtxs`` answer (module docstring:
    a delisted or foreign coin and a malformed item are skipped and counted; universe and
    contexts of different lengths are malformed as a whole)."""
    meta, ctxs = answer
    if len(ctxs) != len(meta.universe):
        raise MalformedMessage(VENUE, "metaAndAssetCtxs: meta and contexts differ in length")
    out = Universe({}, [], {})
    malformed = 0
    for index, (raw_asset, raw_ctx) in enumerate(zip(meta.universe, ctxs, strict=True)):
        try:
            asset: c.AssetMeta = c.decode_item("asset", raw_asset)
        except MalformedMessage as exc:
            skip(health, f"universe[{index}]", exc.message, malformed=True)
            malformed += 1
            continue
        out.assets[asset.name] = index  # the index in the FULL universe
        try:
            out.ctxs[asset.name] = c.decode_item("assetCtx", raw_ctx)
        except MalformedMessage as exc:
            skip(health, f"assetCtxs[{index}] ({asset.name})", exc.message, malformed=True)
            malformed += 1
        if asset.isDelisted:
            skip(health, f"universe[{index}]", f"{asset.name}: delisted")
            continue
        if c.foreign_coin(asset.name):
            skip(health, f"universe[{index}]", f"{asset.name}: not a first-dex perp")
            continue
        try:
            inst = c.instrument_from_meta(asset, taker_fee=taker_fee, maker_fee=maker_fee)
        except MalformedMessage as exc:
            skip(health, f"universe[{index}]", exc.message, malformed=True)
            malformed += 1
            continue
        out.instruments.append(inst)
    return attrs.evolve(out, malformed=malformed)


def funding_of(
    universe: Universe, symbols: Sequence[str], next_ts: float, health: VenueHealth
) -> list[FundingRate]:
    """The hourly rates of ``symbols``. A coin without a usable context (its item was
    malformed, or its rate is not finite) is skipped and counted; a coin the universe does
    not name is ``BadRequest`` — unless an item of the universe was malformed (it may have
    been that coin): then it is skipped too."""
    out: list[FundingRate] = []
    for symbol in symbols:
        ctx = universe.ctxs.get(symbol)
        if ctx is None:
            if symbol not in universe.assets and not universe.malformed:
                raise BadRequest(VENUE, f"unknown coin {symbol!r}")
            skip(health, "funding", f"{symbol}: no usable asset context", malformed=True)
            continue
        try:
            rate = c.finite(ctx.funding, "funding")
        except MalformedMessage as exc:
            skip(health, "funding", f"{symbol}: {exc.message}", malformed=True)
            continue
        out.append(
            FundingRate(
                venue=VENUE, symbol=symbol, rate=rate, interval_hours=1, next_funding_ts=next_ts
            )
        )
    return out


# -- account ------------------------------------------------------------------------------------
def balances_of(state: c.ClearinghouseState) -> list[Balance]:
    """The account's USDC margin balance: total = ``accountValue``, available =
    ``withdrawable`` (MalformedMessage when either is not a finite number)."""
    return [
        Balance(
            venue=VENUE,
            currency=c.QUOTE,
            total=c.finite(state.marginSummary.accountValue, "accountValue"),
            available=c.finite(state.withdrawable, "withdrawable"),
        )
    ]


def positions_of(state: c.ClearinghouseState, health: VenueHealth) -> list[VenuePosition]:
    """The open positions, item by item: flat ones left out; a foreign coin (a builder
    dex's) or a malformed item skipped and counted. Each carries the venue's mark price
    (``positionValue`` ÷ |``szi``|: the same answer, so the same instant) and its
    ``liquidationPx`` (null, ``""`` or not above 0: None, the venue's "no liquidation
    price")."""
    return positions_counted(state, health)[0]


def positions_counted(
    state: c.ClearinghouseState, health: VenueHealth
) -> tuple[list[VenuePosition], int]:
    """:func:`positions_of` and the number of items that were malformed (a push whose
    items did not all decode cannot say which coins are flat)."""
    out: list[VenuePosition] = []
    malformed = 0
    for index, raw in enumerate(state.assetPositions):
        try:
            item: c.AssetPosition = c.decode_item("position", raw)
            position = item.position
            qty = c.finite(position.szi, "szi")
            entry = c.opt_decimal(position.entryPx, "entryPx")
        except MalformedMessage as exc:
            skip(health, f"assetPositions[{index}]", exc.message, malformed=True)
            malformed += 1
            continue
        if c.foreign_coin(position.coin):
            skip(health, f"assetPositions[{index}]", f"{position.coin}: not a first-dex perp")
            continue
        if qty == 0:
            continue
        value = reported_price(position.positionValue, "positionValue", position.coin)
        out.append(
            VenuePosition(
                venue=VENUE,
                symbol=position.coin,
                qty=qty,
                entry_price=entry,
                mark_price=None if value is None else value / abs(qty),
                liquidation_price=reported_price(
                    position.liquidationPx, "liquidationPx", position.coin
                ),
            )
        )
    return out, malformed


def reported_price(value: Any, field: str, coin: str) -> Decimal | None:
    """A price the venue reports beside a position, read leniently: ``None`` for null,
    ``""`` or a value not above 0 (how the venue says "none"); a value that is not a finite
    number is logged and read as ``None`` (the position itself is kept: losing a held
    position to a bad side field would hide it)."""
    if value is None or value == "":
        return None
    try:
        price = c.opt_decimal(value, field)
    except MalformedMessage as exc:
        log.warning("hyperliquid.bad_position_field", coin=coin, error=exc.message[:200])
        return None
    return price if price is not None and price > 0 else None
