"""Stateless seeded randomness: the same (seed, keys) always gives the same number, in any process.

Readings are computed from the clock on demand, so noise has to be a pure function of the miner and
the time bucket rather than the output of a shared generator.
"""

from __future__ import annotations

import math

_MASK = (1 << 64) - 1


def _splitmix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def mix(*keys: int) -> int:
    """A 64-bit hash of integer keys.

    CPython hashes a tuple of ints the same way in every process (only str and bytes hashes are
    salted), so one C-level tuple hash plus one finalising round replaces a round per key: readings
    draw a dozen of these per request.
    """
    return _splitmix(hash(keys) & _MASK)


def uniform(*keys: int) -> float:
    """A number in [0, 1)."""
    return (mix(*keys) >> 11) / float(1 << 53)


def normal(*keys: int) -> float:
    """A standard normal deviate (Box-Muller on two derived uniforms)."""
    u1 = max(uniform(*keys, 1), 1e-12)
    u2 = uniform(*keys, 2)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def noise(*keys: int) -> float:
    """About standard normal, from one hash: four 16-bit uniforms summed (Irwin-Hall, variance 1/3)."""
    h = mix(*keys)
    total = (h & 0xFFFF) + (h >> 16 & 0xFFFF) + (h >> 32 & 0xFFFF) + (h >> 48)
    return (total / 65535.0 - 2.0) * 1.7320508075688772


_LANE = 2.0 * 1.7320508075688772 / 65536.0


def lanes(*keys: int) -> tuple[float, float, float, float]:
    """Four independent zero-mean, unit-variance uniform deviates from one hash (16 bits each)."""
    h = mix(*keys)
    return (
        (h & 0xFFFF) * _LANE - 1.7320508075688772,
        (h >> 16 & 0xFFFF) * _LANE - 1.7320508075688772,
        (h >> 32 & 0xFFFF) * _LANE - 1.7320508075688772,
        (h >> 48) * _LANE - 1.7320508075688772,
    )


def text_key(text: str) -> int:
    """An integer key for a string (stable across processes, unlike hash())."""
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & _MASK
    return h
