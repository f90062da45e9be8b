"""Counter-based random numbers: a value is a pure function of (stream key, frame, channel).

Procedural motion (blinks, saccades, head) draws from here, so a stream's frames do not
depend on how its audio was chunked, nor on which other streams share its tick, and a whole
tick's draws are a handful of numpy calls. The mixer is splitmix64's finaliser (Steele et
al., "Fast splittable pseudorandom number generators", 2014) on uint64 lanes.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))


def stream_key(seed: int, stream_id: str) -> int:
    """64-bit key of one stream under the daemon's seed: same id and seed, same motion."""
    digest = hashlib.blake2b(f"{seed}\0{stream_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _mix(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def uniforms(keys: np.ndarray, frames: np.ndarray, channels: int) -> np.ndarray:
    """(len(keys), channels) float64 in [0, 1): channel c of frame frames[i] of stream keys[i]."""
    base = _mix(keys.astype(np.uint64) ^ (frames.astype(np.uint64) * _GOLDEN))
    lanes = np.arange(1, channels + 1, dtype=np.uint64) * _M2
    with np.errstate(over="ignore"):
        x = _mix(base[:, None] + lanes)
    return (x >> _S11).astype(np.float64) * (1.0 / (1 << 53))


def normals(u: np.ndarray) -> np.ndarray:
    """Standard normals from pairs of uniform columns (Box-Muller): (m, 2k) -> (m, 2k)."""
    r = np.sqrt(-2.0 * np.log1p(-u[:, 0::2]))
    theta = 2.0 * np.pi * u[:, 1::2]
    return np.concatenate([r * np.cos(theta), r * np.sin(theta)], axis=1)
