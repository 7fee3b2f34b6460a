"""Hyperliquid perpetuals: wire codecs, L1 signing, the venue client and the wire emulator."""

from arbtrio.venues.hyperliquid.signing import sign_l1_action

__all__ = ["sign_l1_action"]
