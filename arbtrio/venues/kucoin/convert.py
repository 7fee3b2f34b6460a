"""KuCoin Futures wire objects ⇄ arbtrio domain types (pure; lots ⇄ base units here only).

Sizes are lots: base quantity = lots × ``multiplier`` (Instrument.contract_multiplier);
``lot_size`` in base units is ``lotSize × multiplier``. KuCoin calls bitcoin XBT: the
canonical asset is "BTC". A fee paid in a coin other than the instrument's quote keeps its
currency (``Fill.fee_currency``). Conversions of venue input raise ``MalformedMessage``.
"""

from __future__ import annotations

from decimal import Decimal

from arbtrio.core.instruments import Instrument, from_contracts, to_contracts
from arbtrio.core.types import Fill, OrderReport, OrderStatus, OrderUpdate, Side, VenuePosition
from arbtrio.venues.base import BadRequest, MalformedMessage
from arbtrio.venues.kucoin.codecs import (
    VENUE,
    Contract,
    OrderChange,
    OrderDetail,
    Position,
    PositionChange,
    TradeFill,
    amount,
    optional_price,
)

ZERO = Decimal(0)
ASSET_ALIASES = {"XBT": "BTC"}
TIF = {"IOC": "IOC", "GTC": "GTC"}
SETTLE = "USDT"  # the one settlement currency arbtrio trades on KuCoin
DEFAULT_TAKER = Decimal("0.0006")  # the venue's default rates, when a contract has none
DEFAULT_MAKER = Decimal("0.0002")
DEFAULT_FUNDING_MS = 28_800_000


def instrument_from_contract(c: Contract) -> Instrument:
    """The instrument of a tradable contract; ValueError if its steps are not positive."""
    hours = max(1, round((c.fundingRateGranularity or DEFAULT_FUNDING_MS) / 3_600_000))
    lot = c.lotSize * c.multiplier
    return Instrument(
        venue=VENUE,
        symbol=c.symbol,
        asset=ASSET_ALIASES.get(c.baseCurrency, c.baseCurrency),
        quote=c.quoteCurrency or SETTLE,
        tick_size=c.tickSize,
        lot_size=lot,
        min_size=lot,
        min_notional=ZERO,
        taker_fee=DEFAULT_TAKER if c.takerFeeRate is None else c.takerFeeRate,
        maker_fee=DEFAULT_MAKER if c.makerFeeRate is None else c.makerFeeRate,
        funding_interval_hours=hours,
        contract_multiplier=c.multiplier,
        max_leverage=c.maxLeverage,
    )


def foreign_contract(c: Contract) -> str:
    """Why arbtrio does not trade ``c`` ("" when it does): open, linear, USDT-settled
    perpetuals only."""
    if c.isInverse:
        return "inverse"
    if c.settleCurrency != SETTLE:
        return f"settled in {c.settleCurrency}"
    if c.type != "FFWCSX":
        return f"not a perpetual ({c.type})"
    if c.status != "Open":
        return f"status {c.status}"
    if not (c.multiplier > 0 and c.lotSize > 0 and c.tickSize > 0):
        return "non-positive multiplier, lot or tick"
    return ""


def is_tradable_contract(c: Contract) -> bool:
    """Open, linear, USDT-settled perpetuals only (:func:`foreign_contract`)."""
    return not foreign_contract(c)


def lots_for(inst: Instrument, qty: Decimal) -> int:
    """Lots for ``qty`` base units; BadRequest unless a positive whole number of lots."""
    try:
        lots = to_contracts(inst, qty)
    except ValueError as exc:
        raise BadRequest(VENUE, str(exc)) from None
    if lots <= 0 or lots != lots.to_integral_value():
        raise BadRequest(VENUE, f"{inst.symbol}: {qty} is not a positive whole number of lots")
    return int(lots)


def done_status(size: Decimal, filled: Decimal) -> OrderStatus:
    """A finished order: FILLED when all of it filled, else CANCELLED (IOC remainder)."""
    return OrderStatus.FILLED if filled == size and size > 0 else OrderStatus.CANCELLED


def order_status(o: OrderChange) -> tuple[OrderStatus, Decimal]:
    """An order push's status and cumulative filled lots (``size``/``filledSize`` must be
    there: MalformedMessage otherwise)."""
    size = amount(o.size, "orderChange.size")
    filled = amount(o.filledSize, "orderChange.filledSize")
    if size is None or filled is None:
        raise MalformedMessage(VENUE, f"orderChange {o.orderId}: no size or filledSize")
    status = done_status(size, filled) if o.status == "done" else OrderStatus.OPEN
    return status, filled


def order_update(inst: Instrument, o: OrderChange, client_order_id: str, ts: float) -> OrderUpdate:
    status, filled = order_status(o)
    return OrderUpdate(
        venue=VENUE,
        client_order_id=client_order_id,
        status=status,
        filled_qty=from_contracts(inst, filled),
        avg_price=None,  # KuCoin's order events carry no average; fills carry prices
        ts=ts,
        reason=o.type if status.is_terminal else "",
    )


def fill_from_match(
    inst: Instrument, o: OrderChange, fee_rate: Decimal, client_order_id: str, ts: float
) -> Fill | None:
    """A ``type: match`` order event as a Fill; None when its match fields are absent
    (``""``: the order's re-query has the trade). KuCoin does not send the fee here: it is
    ``notional × fee_rate`` (the account's rate for the match's liquidity); the exact amount
    is in ``GET /api/v1/fills`` (what :meth:`query_order` reports)."""
    price = amount(o.matchPrice, "orderChange.matchPrice")
    lots = amount(o.matchSize, "orderChange.matchSize")
    if price is None or lots is None or not o.tradeId:
        return None
    if not (price > 0 and lots > 0):
        raise MalformedMessage(VENUE, f"orderChange {o.orderId}: match {lots} @ {price}")
    qty = from_contracts(inst, lots)
    return Fill(
        venue=VENUE,
        client_order_id=client_order_id,
        trade_id=o.tradeId,
        side=Side.BUY if o.side == "buy" else Side.SELL,
        qty=qty,
        price=price,
        fee=qty * price * fee_rate,
        ts=ts,
        symbol=inst.symbol,
    )


def fee_currency(inst: Instrument, currency: str | None) -> str:
    """``Fill.fee_currency``: "" for the instrument's quote (or none given), else the coin."""
    coin = (currency or "").upper()
    return "" if coin in ("", inst.quote.upper()) else coin


def fill_from_trade(inst: Instrument, t: TradeFill, client_order_id: str, ts: float) -> Fill:
    """A ``GET /api/v1/fills`` item as a Fill: the venue's fee amount in its currency; a
    ``null`` fee is ``value × feeRate`` (``qty × price`` when no value), else the
    instrument's rate for the liquidity."""
    if not (t.price > 0 and t.size > 0):
        raise MalformedMessage(VENUE, f"fill {t.tradeId}: {t.size} @ {t.price}")
    qty = from_contracts(inst, t.size)
    fee = t.fee
    if fee is None:
        rate = t.feeRate
        if rate is None:
            rate = inst.maker_fee if t.liquidity == "maker" else inst.taker_fee
        fee = (t.value if t.value is not None else qty * t.price) * rate
    return Fill(
        venue=VENUE,
        client_order_id=client_order_id,
        trade_id=t.tradeId,
        side=Side.BUY if t.side == "buy" else Side.SELL,
        qty=qty,
        price=t.price,
        fee=fee,
        ts=ts,
        fee_currency=fee_currency(inst, t.feeCurrency),
        symbol=inst.symbol,
    )


def position(
    inst: Instrument,
    lots: Decimal,
    entry: Decimal | None,
    mark: Decimal | None = None,
    liquidation: Decimal | None = None,
) -> VenuePosition:
    """A position of ``lots`` (signed) in base units; no entry price when flat or 0, no
    liquidation price when flat. ``mark`` and ``liquidation`` as :func:`codecs.optional_price`
    read them (None: not reported, or none)."""
    qty = from_contracts(inst, lots)
    return VenuePosition(
        venue=VENUE, symbol=inst.symbol, qty=qty, entry_price=entry if qty and entry else None,
        mark_price=mark, liquidation_price=liquidation if qty else None,
    )  # fmt: skip


def reported_position(inst: Instrument, p: Position | PositionChange) -> VenuePosition:
    """The position a REST item or a push with ``currentQty`` reports, with its mark and
    liquidation price (MalformedMessage when it has no quantity or a price is not one)."""
    if p.currentQty is None:
        raise MalformedMessage(VENUE, f"{inst.symbol} position: no currentQty")
    return position(
        inst, p.currentQty, p.avgEntryPrice,
        optional_price(p.markPrice, f"{inst.symbol} markPrice"),
        optional_price(p.liquidationPrice, f"{inst.symbol} liquidationPrice"),
    )  # fmt: skip


def filled_lots(o: OrderDetail) -> Decimal:
    """An order's filled lots: ``filledSize``, or ``dealSize`` (MalformedMessage if none)."""
    filled = o.filledSize if o.filledSize is not None else o.dealSize
    if filled is None:
        raise MalformedMessage(VENUE, f"order {o.id}: neither filledSize nor dealSize")
    return filled


def order_report(
    inst: Instrument, o: OrderDetail, fills: list[TradeFill], client_order_id: str, ts: float
) -> OrderReport:
    """The report of order ``o`` (queried by ``client_order_id``) with its ``fills``."""
    lots = filled_lots(o)
    status = done_status(o.size, lots) if o.status == "done" else OrderStatus.OPEN
    filled = from_contracts(inst, lots)
    avg = None
    if filled > 0:
        value = o.filledValue if o.filledValue is not None else o.dealValue
        avg = o.avgDealPrice or (value / filled if value else None)
    cid = client_order_id
    return OrderReport(
        venue=VENUE,
        client_order_id=cid,
        status=status,
        filled_qty=filled,
        avg_price=avg,
        fills=tuple(fill_from_trade(inst, t, cid, ts) for t in fills),
    )
