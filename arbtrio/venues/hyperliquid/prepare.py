"""Hyperliquid ``/exchange`` requests built and L1-signed, as pure functions (no I/O, no
clock reads).

:func:`prepare_order` turns an :class:`OrderRequest` into the exact ``POST /exchange`` the
venue receives: ``{"action": {"type": "order", ...}, "nonce", "signature", "vaultAddress"}``
with the L1 signature over the action, nonce and vault (:mod:`.signing`).
:func:`prepare_action` signs any other action (:func:`leverage_action` builds
``updateLeverage``); :func:`prepare_info` builds an (unsigned)
``POST /info`` read. The client takes the nonce from the signer's
:class:`~arbtrio.venues.hyperliquid.signing.NonceSource` and sends the result.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from arbtrio.core.instruments import Instrument
from arbtrio.core.types import OrderRequest, Side
from arbtrio.venues.base import BadRequest, PreparedRequest
from arbtrio.venues.hyperliquid import codecs as c
from arbtrio.venues.hyperliquid.signing import Signer

__all__ = ["EXCHANGE_PATH", "INFO_PATH", "TIF", "HyperliquidAccount", "leverage_action",
           "order_action", "prepare_action", "prepare_info", "prepare_order"]  # fmt: skip

VENUE = c.VENUE
EXCHANGE_PATH = "/exchange"
INFO_PATH = "/info"
TIF = {"IOC": "Ioc", "GTC": "Gtc", "ALO": "Alo", "POST_ONLY": "Alo"}
_CLOID = re.compile(r"^0x[0-9a-f]{32}$")
_HEADERS = (("Content-Type", "application/json"),)


@attrs.frozen
class HyperliquidAccount:
    """What signs Hyperliquid actions: the API wallet's :class:`Signer` (cached key, network
    flag) and the vault / subaccount traded for (lowercase ``0x`` hex, None for none)."""

    signer: Signer
    vault_address: str | None = None


def prepare_action(action: Any, account: HyperliquidAccount, nonce: int) -> PreparedRequest:
    """The signed ``POST /exchange`` of ``action`` (a codecs action Struct) at ``nonce``."""
    sig = account.signer.sign(action, nonce, account.vault_address)
    body = c.encode(
        c.ExchangeRequest(
            action=action,
            nonce=nonce,
            signature=c.Signature(r=sig["r"], s=sig["s"], v=sig["v"]),
            vaultAddress=account.vault_address,
        )
    )
    return PreparedRequest("POST", EXCHANGE_PATH, body, _HEADERS)


def prepare_info(body: c.InfoRequest) -> PreparedRequest:
    """The ``POST /info`` of one read (``body.type`` names it; reads are not signed)."""
    return PreparedRequest("POST", INFO_PATH, c.encode(body), _HEADERS)


def order_action(request: OrderRequest, inst: Instrument, asset: int) -> c.OrderAction:
    """The ``order`` action of one limit order on asset index ``asset``; BadRequest naming
    the field the venue would refuse (cloid, time in force, price or size off the grid)."""
    cloid = request.client_order_id
    if not _CLOID.match(cloid):
        raise BadRequest(VENUE, f"client_order_id must be 0x + 32 lowercase hex: {cloid!r}")
    tif = TIF.get(request.time_in_force.upper())
    if tif is None:
        raise BadRequest(VENUE, f"time_in_force {request.time_in_force!r} not supported")
    if inst.symbol != request.symbol:
        raise BadRequest(VENUE, f"symbol {request.symbol!r} is not instrument {inst.symbol!r}")
    try:
        px = c.price_to_wire(inst, request.price)
        sz = c.size_to_wire(inst, request.qty)
    except ValueError as exc:
        raise BadRequest(VENUE, str(exc)) from None
    return c.OrderAction(
        orders=[
            c.OrderWire(
                a=asset,
                b=request.side is Side.BUY,
                p=px,
                s=sz,
                r=request.reduce_only,
                t=c.OrderType(limit=c.LimitTif(tif=tif)),  # type: ignore[arg-type]
                c=cloid,
            )
        ],
        grouping="na",
    )


def leverage_action(asset: int, leverage: int, margin_mode: str) -> c.UpdateLeverageAction:
    """The ``updateLeverage`` action setting asset index ``asset`` to ``leverage`` (an
    integer ≥ 1) in ``margin_mode`` (``"cross"``: ``isCross`` true; ``"isolated"``: false);
    BadRequest naming the value the venue could not deserialise or would refuse."""
    if isinstance(leverage, bool) or not isinstance(leverage, int) or leverage < 1:
        raise BadRequest(VENUE, f"leverage must be an integer >= 1, got {leverage!r}")
    if margin_mode not in ("cross", "isolated"):
        raise BadRequest(VENUE, f"margin_mode must be 'cross' or 'isolated', got {margin_mode!r}")
    return c.UpdateLeverageAction(asset=asset, isCross=margin_mode == "cross", leverage=leverage)


def prepare_order(
    request: OrderRequest,
    market: tuple[Instrument, int],
    account: HyperliquidAccount,
    ts_ms: int,
) -> PreparedRequest:
    """The signed ``POST /exchange`` of a limit order. ``market`` is the coin's instrument
    and its asset index (its position in ``meta.universe``); ``ts_ms`` is the nonce (ms,
    unique and increasing per signer)."""
    inst, asset = market
    return prepare_action(order_action(request, inst, asset), account, ts_ms)
