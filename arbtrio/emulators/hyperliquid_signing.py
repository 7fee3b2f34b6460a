"""The Hyperliquid emulator's own check of L1 action signatures (the venue's side).

Written from the venue documentation's description of L1 signing (summarised in
``specs/010-hyperliquid.md``), not from the client's signing code:

1. the action, as the venue re-serialises it (an ordered mapping whose key order is the
   venue's field order; :func:`arbtrio.emulators.hyperliquid_wire.hash_view` builds it),
   encoded as MessagePack with the smallest encodings (:func:`msgpack_encode`);
2. followed by the nonce as a big-endian uint64, the vault flag (``0x00``, or ``0x01`` and
   the vault's 20 address bytes), and — only when set — ``0x00`` and ``expiresAfter`` as a
   big-endian uint64;
3. ``connectionId = keccak256(those bytes)`` (Ethereum Keccak-256, not SHA3-256);
4. the phantom agent ``{source: "a" (mainnet) | "b" (testnet), connectionId}`` hashed as the
   EIP-712 struct ``Agent(string source,bytes32 connectionId)`` in the domain
   ``{name "Exchange", version "1", chainId 1337, verifyingContract 0x0…0}``:
   ``digest = keccak256(0x19 0x01 ‖ domainSeparator ‖ structHash)``;
5. the signer is the Ethereum address (last 20 bytes of the Keccak-256 of the uncompressed
   public key without its 0x04 prefix) of the secp256k1 key recovered from the signature
   ``{r, s, v}`` over that digest, ``v = 27 + recovery id``; ``r``/``s`` are hex numbers that
   need not be zero-padded to 64 digits.

Nothing here signs: the venue only ever recovers. Keccak-256 comes from ``safe-pysha3``, the
public-key recovery from libsecp256k1 (``coincurve``); the MessagePack encoder is this
module's own (the actions hold only str, bool, int, None, lists and string-keyed maps).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from coincurve import PrivateKey, PublicKey
from sha3 import keccak_256  # type: ignore[import-untyped]  # safe-pysha3: Ethereum Keccak

__all__ = [
    "AGENT_TYPEHASH",
    "DOMAIN_TYPEHASH",
    "L1_DOMAIN_SEPARATOR",
    "BadSignature",
    "action_hash",
    "address_of_key",
    "agent_digest",
    "keccak256",
    "l1_digest",
    "msgpack_encode",
    "recover_address",
    "recover_l1_signer",
]

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_U64_MAX = (1 << 64) - 1


class BadSignature(ValueError):
    """The signature cannot be used at all (r/s out of range, v not 27/28, no key recovers)."""


def keccak256(data: bytes) -> bytes:
    """Ethereum's Keccak-256 (the pre-standard padding, not SHA3-256)."""
    digest: bytes = keccak_256(data).digest()
    return digest


# -- EIP-712 constants (the venue's L1 domain) -----------------------------------------------
DOMAIN_TYPEHASH = keccak256(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
AGENT_TYPEHASH = keccak256(b"Agent(string source,bytes32 connectionId)")
L1_DOMAIN_SEPARATOR = keccak256(
    DOMAIN_TYPEHASH
    + keccak256(b"Exchange")
    + keccak256(b"1")
    + (1337).to_bytes(32, "big")
    + bytes(32)  # verifyingContract: the zero address, left-padded to 32 bytes
)


# -- MessagePack (the subset actions use) ----------------------------------------------------
def msgpack_encode(value: Any) -> bytes:
    """MessagePack of ``value`` with the smallest encodings, maps in iteration order.

    ``None``/``False``/``True`` → ``c0``/``c2``/``c3``; integers → positive or negative
    fixint, else the narrowest of uint8–64 (``cc``–``cf``) or int8–64 (``d0``–``d3``); UTF-8
    strings → fixstr (< 32 bytes), else str8/16/32 (``d9``–``db``); lists → fixarray (< 16),
    array16/32; string-keyed mappings → fixmap (< 16), map16/32. Floats and anything else
    raise ``TypeError``: a venue action never holds them (numbers travel as strings).
    """
    out = bytearray()
    _pack(value, out)
    return bytes(out)


def _pack(value: Any, out: bytearray) -> None:
    if value is None:
        out.append(0xC0)
    elif value is True:
        out.append(0xC3)
    elif value is False:
        out.append(0xC2)
    elif isinstance(value, int):
        _pack_int(value, out)
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        n = len(raw)
        if n < 32:
            out.append(0xA0 | n)
        elif n <= 0xFF:
            out += struct.pack(">BB", 0xD9, n)
        elif n <= 0xFFFF:
            out += struct.pack(">BH", 0xDA, n)
        else:
            out += struct.pack(">BI", 0xDB, n)
        out += raw
    elif isinstance(value, list | tuple):
        _pack_len(len(value), out, 0x90, 0xDC)
        for item in value:
            _pack(item, out)
    elif isinstance(value, Mapping):
        _pack_len(len(value), out, 0x80, 0xDE)
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"map keys must be str, not {type(key).__name__}")
            _pack(key, out)
            _pack(item, out)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} in an action")


def _pack_len(n: int, out: bytearray, fix: int, wide: int) -> None:
    """Array (``fix`` 0x90, ``wide`` 0xdc) or map (0x80, 0xde) header for ``n`` items."""
    if n < 16:
        out.append(fix | n)
    elif n <= 0xFFFF:
        out += struct.pack(">BH", wide, n)
    else:
        out += struct.pack(">BI", wide + 1, n)


def _pack_int(n: int, out: bytearray) -> None:
    if 0 <= n < 0x80:
        out.append(n)
    elif n >= 0:
        for limit, code, fmt in ((0xFF, 0xCC, ">BB"), (0xFFFF, 0xCD, ">BH"),
                                 (0xFFFFFFFF, 0xCE, ">BI"), (_U64_MAX, 0xCF, ">BQ")):  # fmt: skip
            if n <= limit:
                out += struct.pack(fmt, code, n)
                return
        raise OverflowError(f"{n} does not fit in uint64")
    elif n >= -32:
        out.append(n & 0xFF)  # negative fixint
    else:
        for low, code, fmt in ((-(1 << 7), 0xD0, ">Bb"), (-(1 << 15), 0xD1, ">Bh"),
                               (-(1 << 31), 0xD2, ">Bi"), (-(1 << 63), 0xD3, ">Bq")):  # fmt: skip
            if n >= low:
                out += struct.pack(fmt, code, n)
                return
        raise OverflowError(f"{n} does not fit in int64")


# -- hashing ----------------------------------------------------------------------------------
def action_hash(
    action: Mapping[str, Any], nonce: int, vault_address: str | None,
    expires_after: int | None = None,
) -> bytes:  # fmt: skip
    """The ``connectionId``: keccak256(msgpack(action) ‖ nonce u64 BE ‖ vault flag [+ 20
    address bytes] ‖ [0x00 ‖ expiresAfter u64 BE, only when set]).

    ``action`` must already be in the venue's canonical form and key order.
    """
    data = bytearray(msgpack_encode(action))
    data += nonce.to_bytes(8, "big")
    if vault_address is None:
        data.append(0x00)
    else:
        data.append(0x01)
        data += _address_bytes(vault_address)
    if expires_after is not None:
        data.append(0x00)
        data += expires_after.to_bytes(8, "big")
    return keccak256(bytes(data))


def agent_digest(connection_id: bytes, is_mainnet: bool) -> bytes:
    """The EIP-712 digest of the phantom agent ``{source, connectionId}``."""
    if len(connection_id) != 32:
        raise ValueError("connectionId is 32 bytes")
    source = b"a" if is_mainnet else b"b"
    struct_hash = keccak256(AGENT_TYPEHASH + keccak256(source) + connection_id)
    return keccak256(b"\x19\x01" + L1_DOMAIN_SEPARATOR + struct_hash)


def l1_digest(
    action: Mapping[str, Any], nonce: int, vault_address: str | None, is_mainnet: bool,
    expires_after: int | None = None,
) -> bytes:  # fmt: skip
    """What the signer signed for ``action`` (canonical form) with these envelope fields."""
    return agent_digest(action_hash(action, nonce, vault_address, expires_after), is_mainnet)


# -- recovery -----------------------------------------------------------------------------------
def recover_address(digest: bytes, r: int, s: int, v: int) -> str:
    """The lowercase ``0x`` address whose key made signature ``(r, s, v)`` over ``digest``.

    Raises :class:`BadSignature` when ``r`` or ``s`` is outside ``[1, n)``, ``v`` is not 27
    or 28, or no public key recovers (a point off the curve). High-``s`` signatures are not
    refused: the documentation only says the signer normalises ``s`` low.
    """
    if v not in (27, 28):
        raise BadSignature(f"v must be 27 or 28, not {v}")
    if not (0 < r < _SECP256K1_N and 0 < s < _SECP256K1_N):
        raise BadSignature("r and s must lie in [1, n)")
    compact = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v - 27])
    try:
        key = PublicKey.from_signature_and_message(compact, digest, hasher=None)
    except Exception as exc:  # coincurve raises a bare Exception when recovery fails
        raise BadSignature(f"no public key recovers: {exc}") from None
    return _address_of_public(key)


def recover_l1_signer(
    action: Mapping[str, Any], nonce: int, vault_address: str | None,
    signature: tuple[int, int, int], is_mainnet: bool, expires_after: int | None = None,
) -> str:  # fmt: skip
    """The address that signed ``action`` (canonical form) as an L1 action; ``signature``
    is ``(r, s, v)``. A different payload than the one signed recovers another address."""
    r, s, v = signature
    return recover_address(
        l1_digest(action, nonce, vault_address, is_mainnet, expires_after), r, s, v
    )


def address_of_key(private_key: str) -> str:
    """The lowercase ``0x`` address of a hex secp256k1 private key (``0x`` optional)."""
    raw = bytes.fromhex(private_key.removeprefix("0x"))
    return _address_of_public(PrivateKey(raw).public_key)


def _address_of_public(key: PublicKey) -> str:
    return "0x" + keccak256(key.format(compressed=False)[1:])[-20:].hex()


def _address_bytes(address: str) -> bytes:
    raw = bytes.fromhex(address.removeprefix("0x"))
    if len(raw) != 20:
        raise ValueError(f"an address is 20 bytes: {address!r}")
    return raw
