"""Which bucket flagd puts a targeting key in, computed here the way flagd v0.15.0 and later compute it.

flagd's ``fractional`` operator (flagd ≥ v0.15.0, flagd#1909; the same code path as ``openfeature-flagd-core``
≥ 2.0 used by in-process providers) hashes the *CBOR encoding* of its bucketing value with murmur3 x86 32-bit
(seed 0) and maps the hash onto the summed weights: ``bucket = (hash * total) >> 32``. The variants are walked
in list order; the first whose cumulative weight exceeds the bucket wins.

The bucketing value is ``[flagKey, targetingKey]`` (a CBOR array of two text strings) in the shorthand form
(no bucketing expression), and the evaluated string in the explicit form (``{"cat": [...]}`` → one text
string). Releases before v0.15.0 hashed the plain string instead and put keys in other buckets: the step's
probe verification then fails and restores the previous split rather than trusting a wrong prediction.

Pure standard library: murmur3 and the two CBOR shapes we need are a few lines each.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["bucket", "bucket_value", "cbor_text", "murmur3_32", "pick"]

_MASK = 0xFFFFFFFF


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (32 - shift))) & _MASK


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit, unsigned (what Go's ``murmur3.Sum32`` and Python's ``mmh3.hash(signed=False)`` give)."""
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & _MASK
    whole = len(data) - len(data) % 4
    for start in range(0, whole, 4):
        k = int.from_bytes(data[start : start + 4], "little")
        k = (_rotl((k * c1) & _MASK, 15) * c2) & _MASK
        h = (_rotl(h ^ k, 13) * 5 + 0xE6546B64) & _MASK
    tail = data[whole:]
    if tail:
        k = int.from_bytes(tail, "little")
        h ^= (_rotl((k * c1) & _MASK, 15) * c2) & _MASK
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    return h ^ (h >> 16)


def _cbor_head(major: int, length: int) -> bytes:
    """A CBOR item head in its shortest form (the canonical encoding flagd hashes)."""
    if length < 24:
        return bytes([major << 5 | length])
    for marker, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes([major << 5 | marker]) + length.to_bytes(size, "big")
    raise ValueError(f"CBOR length {length} too large")


def cbor_text(text: str) -> bytes:
    """Canonical CBOR of one text string (major type 3)."""
    data = text.encode()
    return _cbor_head(3, len(data)) + data


def bucket_value(flag_key: str, targeting_key: str, *, explicit: bool) -> bytes:
    """The bytes flagd hashes: ``[flagKey, targetingKey]`` (shorthand) or ``flagKey+targetingKey`` (explicit cat)."""
    if explicit:
        return cbor_text(flag_key + targeting_key)
    return _cbor_head(4, 2) + cbor_text(flag_key) + cbor_text(targeting_key)


def bucket(flag_key: str, targeting_key: str, total: int, *, explicit: bool = False) -> int:
    """The bucket in ``[0, total)`` flagd puts ``targeting_key`` in for ``flag_key``."""
    return (murmur3_32(bucket_value(flag_key, targeting_key, explicit=explicit)) * total) >> 32


def pick(weights: Sequence[tuple[str, int]], flag_key: str, targeting_key: str, *, explicit: bool = False) -> str:
    """The variant flagd's ``fractional`` returns for ``targeting_key`` with ``weights`` (in list order)."""
    total = sum(weight for _, weight in weights)
    if total <= 0:
        raise ValueError("fractional weights sum to 0")
    spot = bucket(flag_key, targeting_key, total, explicit=explicit)
    end = 0
    for variant, weight in weights:
        end += weight
        if spot < end:
            return variant
    raise AssertionError("unreachable: the bucket is below the total")
