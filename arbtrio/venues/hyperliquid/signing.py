"""Hyperliquid request signing: the L1 scheme (orders, cancels, …) and user-signed actions.

Pure functions, no I/O. The L1 scheme (the documentation's signing page and the official
Python SDK's ``action_hash`` / ``construct_phantom_agent``; ``specs/010-hyperliquid.md``):

1. ``data = msgpack(action)`` with the action's keys in wire order (dict insertion order or
   msgspec Struct field order; never sorted),
2. ``+ nonce`` as uint64 big-endian, ``+ 0x00`` (no vault) or ``0x01 + 20 address bytes``,
   ``+ 0x00 + expires_after`` as uint64 only when an expiry is set,
3. ``connectionId = keccak256(data)``; phantom agent ``{source: "a"|"b", connectionId}``,
4. EIP-712 digest of ``Agent(string source,bytes32 connectionId)`` in the domain
   ``Exchange / 1 / chainId 1337 / zero address``,
5. secp256k1 with RFC 6979 nonces and low s (libsecp256k1 via coincurve); ``v = 27 + recid``,
   ``r``/``s`` as unpadded lowercase hex (``hex(int)``), exactly as the official SDK prints.

Speed: one cached ``coincurve.PrivateKey`` per key string, safe-pysha3's C Keccak (~0.5 µs a
hash; pycryptodome's ctypes wrapper took ~3.5 µs, three hashes per signature), msgspec's
msgpack encoder (byte-identical to msgpack-python for str/int/bool/None/list/dict).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

import msgspec
from coincurve import PrivateKey, PublicKey
from sha3 import keccak_256  # type: ignore[import-untyped]  # safe-pysha3: C Keccak

__all__ = [
    "NonceSource",
    "Signer",
    "action_hash",
    "address_of",
    "float_to_int",
    "float_to_int_for_hashing",
    "float_to_usd_int",
    "float_to_wire",
    "l1_digest",
    "recover_l1_signer",
    "sign_l1_action",
    "sign_user_signed_action",
    "user_signed_digest",
]


def keccak256(data: bytes) -> bytes:
    """Keccak-256 (Ethereum's, not NIST SHA3-256)."""
    digest: bytes = keccak_256(data).digest()
    return digest


_ZERO_ADDRESS_WORD = bytes(32)
_DOMAIN_TYPEHASH = keccak256(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
_AGENT_TYPEHASH = keccak256(b"Agent(string source,bytes32 connectionId)")


def _domain_separator(name: str, version: str, chain_id: int) -> bytes:
    return keccak256(
        _DOMAIN_TYPEHASH
        + keccak256(name.encode())
        + keccak256(version.encode())
        + chain_id.to_bytes(32, "big")
        + _ZERO_ADDRESS_WORD
    )


L1_DOMAIN_SEPARATOR = _domain_separator("Exchange", "1", 1337)
_SOURCE_HASH = {True: keccak256(b"a"), False: keccak256(b"b")}
_EIP712_PREFIX = b"\x19\x01"
_L1_PREFIX = _EIP712_PREFIX + L1_DOMAIN_SEPARATOR

_msgpack = msgspec.msgpack.Encoder()  # order=None: insertion / definition order, as required


# -- action hash, digest, signature -------------------------------------------------------
def _vault_bytes(vault_address: str | None) -> bytes:
    if vault_address is None:
        return b"\x00"
    raw = bytes.fromhex(vault_address[2:] if vault_address.startswith("0x") else vault_address)
    if len(raw) != 20:
        raise ValueError(f"vault_address must be 20 bytes of hex, got {len(raw)} bytes")
    return b"\x01" + raw


def action_hash(
    action: Any, nonce: int, vault_address: str | None, expires_after: int | None = None
) -> bytes:
    """The 32-byte ``connectionId`` of an action (a dict in wire key order or a Struct)."""
    if not isinstance(action, dict | msgspec.Struct):
        action = dict(action)
    data = _msgpack.encode(action) + nonce.to_bytes(8, "big") + _vault_bytes(vault_address)
    if expires_after is not None:
        data += b"\x00" + expires_after.to_bytes(8, "big")
    return keccak256(data)


def l1_digest(connection_id: bytes, is_mainnet: bool) -> bytes:
    """The EIP-712 digest of the phantom agent ``{source, connectionId}``."""
    struct_hash = keccak256(_AGENT_TYPEHASH + _SOURCE_HASH[is_mainnet] + connection_id)
    return keccak256(_L1_PREFIX + struct_hash)


@lru_cache(maxsize=16)
def _private_key(private_key: str) -> PrivateKey:
    hex_key = private_key[2:] if private_key.startswith("0x") else private_key
    try:
        raw = bytes.fromhex(hex_key)
    except ValueError:
        raise ValueError("private_key is not hex") from None
    if len(raw) != 32:
        raise ValueError("private_key must be 32 bytes of hex")
    return PrivateKey(raw)


def _address_of_public(public: PublicKey) -> str:
    return "0x" + keccak256(public.format(compressed=False)[1:])[-20:].hex()


def address_of(private_key: str) -> str:
    """The lowercase ``0x`` address of a hex private key (the API wallet / signer)."""
    return _address_of_public(_private_key(private_key).public_key)


def _sign_digest(key: PrivateKey, digest: bytes) -> dict[str, Any]:
    sig = key.sign_recoverable(digest, hasher=None)
    return {
        "r": hex(int.from_bytes(sig[:32], "big")),
        "s": hex(int.from_bytes(sig[32:64], "big")),
        "v": 27 + sig[64],
    }


def sign_l1_action(
    private_key: str,
    action: Mapping[str, Any],
    nonce: int,
    vault_address: str | None,
    is_mainnet: bool,
    expires_after: int | None = None,
) -> dict[str, Any]:
    """Sign an L1 action; returns ``{"r", "s", "v"}`` exactly as the official SDK does.

    ``action`` is the dict the venue receives (keys in wire order), or a msgspec Struct whose
    fields are defined in wire order. ``vault_address`` is lowercase ``0x`` hex or None.
    """
    digest = l1_digest(action_hash(action, nonce, vault_address, expires_after), is_mainnet)
    return _sign_digest(_private_key(private_key), digest)


def _signature_bytes(signature: Mapping[str, Any]) -> bytes:
    try:
        r = int(signature["r"], 16)
        s = int(signature["s"], 16)
        v = int(signature["v"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed signature: {exc}") from None
    if v not in (27, 28) or not (0 < r < 1 << 256 and 0 < s < 1 << 256):
        raise ValueError("malformed signature: r, s or v out of range")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v - 27])


def recover_signer(digest: bytes, signature: Mapping[str, Any]) -> str:
    """The address that produced ``signature`` over ``digest``. Raises ValueError if none."""
    try:
        public = PublicKey.from_signature_and_message(
            _signature_bytes(signature), digest, hasher=None
        )
    except ValueError:
        raise
    except Exception as exc:  # coincurve raises bare Exception on an unrecoverable signature
        raise ValueError(f"unrecoverable signature: {exc}") from None
    return _address_of_public(public)


def recover_l1_signer(
    action: Any,
    nonce: int,
    vault_address: str | None,
    signature: Mapping[str, Any],
    is_mainnet: bool,
    expires_after: int | None = None,
) -> str:
    """Server side of :func:`sign_l1_action`: the signer address the venue would recover."""
    digest = l1_digest(action_hash(action, nonce, vault_address, expires_after), is_mainnet)
    return recover_signer(digest, signature)


# -- user-signed actions (transfers, withdrawals, approveAgent) ---------------------------
def _encode_field(kind: str, value: Any) -> bytes:
    if kind == "string":
        return keccak256(str(value).encode())
    if kind == "address":
        raw = bytes.fromhex(str(value)[2:])
        if len(raw) != 20:
            raise ValueError(f"address field must be 20 bytes, got {value!r}")
        return bytes(12) + raw
    if kind == "bool":
        return int(bool(value)).to_bytes(32, "big")
    if kind.startswith("uint"):
        return int(value).to_bytes(32, "big")
    if kind == "bytes32":
        return bytes(value)
    raise ValueError(f"unsupported EIP-712 field type {kind!r}")


def user_signed_digest(
    action: Mapping[str, Any],
    payload_types: Sequence[tuple[str, str]],
    primary_type: str,
    is_mainnet: bool,
) -> bytes:
    """EIP-712 digest of a user-signed action (domain ``HyperliquidSignTransaction``).

    ``payload_types`` lists ``(name, type)`` in the typed-data order, e.g.
    ``[("hyperliquidChain","string"),("destination","string"),("amount","string"),
    ("time","uint64")]``. ``signatureChainId`` defaults to ``0x66eee`` and
    ``hyperliquidChain`` to ``Mainnet``/``Testnet`` when absent from ``action``.
    """
    values = dict(action)
    values.setdefault("signatureChainId", "0x66eee")
    values.setdefault("hyperliquidChain", "Mainnet" if is_mainnet else "Testnet")
    type_string = f"{primary_type}(" + ",".join(f"{t} {n}" for n, t in payload_types) + ")"
    struct_hash = keccak256(
        keccak256(type_string.encode())
        + b"".join(_encode_field(t, values[n]) for n, t in payload_types)
    )
    domain = _domain_separator(
        "HyperliquidSignTransaction", "1", int(values["signatureChainId"], 16)
    )
    return keccak256(_EIP712_PREFIX + domain + struct_hash)


def sign_user_signed_action(
    private_key: str,
    action: Mapping[str, Any],
    payload_types: Sequence[tuple[str, str]],
    primary_type: str,
    is_mainnet: bool,
) -> dict[str, Any]:
    """Sign a user-signed action; the posted action must carry the same two chain fields."""
    digest = user_signed_digest(action, payload_types, primary_type, is_mainnet)
    return _sign_digest(_private_key(private_key), digest)


# -- the SDK's number helpers --------------------------------------------------------------
def float_to_wire(x: float) -> str:
    """The SDK's ``float_to_wire``: ≤ 8 decimals, no trailing zeros, never an exponent.

    Raises ValueError when 8 decimals would change the value. One deliberate difference:
    negative zero gives ``"0"`` (the SDK's guard never fires and it returns ``"-0"``).
    """
    rounded = f"{x:.8f}"
    if abs(float(rounded) - x) >= 1e-12:
        raise ValueError(f"float_to_wire causes rounding: {x!r}")
    text = f"{Decimal(rounded).normalize():f}"
    return "0" if text == "-0" else text


def float_to_int(x: float, power: int) -> int:
    """``x × 10^power`` as an int; ValueError if that is not (nearly) an integer."""
    with_decimals: float = x * 10**power
    if abs(round(with_decimals) - with_decimals) >= 1e-3:
        raise ValueError(f"float_to_int causes rounding: {x!r}")
    return round(with_decimals)


def float_to_int_for_hashing(x: float) -> int:
    return float_to_int(x, 8)


def float_to_usd_int(x: float) -> int:
    return float_to_int(x, 6)


# -- nonces and a signer -------------------------------------------------------------------
class NonceSource:
    """Unique, strictly increasing nonces: ``max(now_ms, last + 1)``. Thread-safe.

    Share one per signer key across every sender (REST and WS post) of a process.
    """

    def __init__(self, clock_ms: Any = None) -> None:
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            nonce = max(int(self._clock_ms()), self._last + 1)
            self._last = nonce
            return nonce


class Signer:
    """One API wallet: its cached key, its address, its nonce source, the network flag."""

    __slots__ = ("_key", "address", "is_mainnet", "nonces")

    def __init__(self, private_key: str, *, is_mainnet: bool, nonces: NonceSource | None = None):
        self._key = _private_key(private_key)
        self.address = _address_of_public(self._key.public_key)
        self.is_mainnet = is_mainnet
        self.nonces = nonces or NonceSource()

    def sign(self, action: Any, nonce: int, vault_address: str | None = None) -> dict[str, Any]:
        digest = l1_digest(action_hash(action, nonce, vault_address), self.is_mainnet)
        return _sign_digest(self._key, digest)

    def __repr__(self) -> str:
        return f"Signer(address={self.address}, is_mainnet={self.is_mainnet})"
