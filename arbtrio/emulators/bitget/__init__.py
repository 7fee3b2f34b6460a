"""A Bitget V2 mix (USDT-FUTURES) emulator, written from the venue documentation.

It imports nothing from ``arbtrio.venues``: the protocol facts
(:mod:`~arbtrio.emulators.bitget.protocol`), request parsing
(:mod:`~arbtrio.emulators.bitget.wire`), signature checks
(:mod:`~arbtrio.emulators.bitget.auth`) and the book checksum
(:mod:`~arbtrio.emulators.bitget.checksum`) are its own, so a client bug in any of them
shows up as a refused request or a checksum mismatch instead of being mirrored.
:class:`BitgetEmulator` (:mod:`~arbtrio.emulators.bitget.server`) serves it.
"""

from __future__ import annotations

from arbtrio.emulators.bitget.protocol import ApiError
from arbtrio.emulators.bitget.server import BitgetEmulator

__all__ = ["ApiError", "BitgetEmulator"]
