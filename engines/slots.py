"""Per-stream state as a struct of arrays: one row per stream slot, grown on demand.

The tick's array work (face rig, emotion post-processing) gathers the rows of the streams
that are due by slot index, so its cost is a few numpy calls per tick, not per stream.
"""

from __future__ import annotations

import numpy as np


class SlotArrays:
    """Named arrays whose first axis is the stream slot; `ensure(slot)` grows them all."""

    def __init__(self, spec: dict[str, tuple[tuple[int, ...], np.dtype | type]]) -> None:
        self._spec = spec
        self.capacity = 0
        self.grow(8)

    def grow(self, capacity: int) -> None:
        old = self.capacity
        for name, (shape, dtype) in self._spec.items():
            arr = np.zeros((capacity, *shape), dtype=dtype)
            if old:
                arr[:old] = getattr(self, name)
            setattr(self, name, arr)
        self.capacity = capacity

    def ensure(self, slot: int) -> None:
        if slot >= self.capacity:
            self.grow(max(2 * self.capacity, slot + 1))


def row_slots(slots: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(slot of each row, index of each row within its stream's block) for rows laid out
    stream after stream, counts[i] rows for slots[i]."""
    rows = np.repeat(slots, counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return rows, np.arange(len(rows)) - starts
