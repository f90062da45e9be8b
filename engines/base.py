"""The engine interface: 16 kHz mono float32 audio in, (n, 52) ARKit weights out.

An engine is shared by all streams of a daemon; per-stream state lives in the object that
`new_stream()` returns. `process()` takes one entry per stream that has news this tick and
answers with the frames that became computable, so one call serves every live stream (the
inference actor batches that way). Frame k of a stream is the face at t = k / fps seconds
of its audio; after the call that passes `final=True`, a stream has produced exactly
`frames_for(samples, fps)` frames in total, whatever the chunking.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from facewire.arkit import ARKIT_NAMES
from facewire.engines.features import FEATURE_RATE, SAMPLE_RATE

MIN_FPS = 24.0
MAX_FPS = 60.0


def frames_for(samples: int, fps: float) -> int:
    """Frames in a stream of `samples` 16 kHz samples: ceil(duration * fps)."""
    return math.ceil(samples * fps / SAMPLE_RATE - 1e-9)


class Engine(ABC):
    """Base class of lip-sync engines (DSP, onnxruntime, TensorRT)."""

    name: str = "engine"
    model_id: str = ""
    channel_names: tuple[str, ...] = ARKIT_NAMES

    def __init__(self, fps: float = 30.0) -> None:
        if not MIN_FPS <= fps <= MAX_FPS:
            raise ValueError(f"fps={fps} is outside the allowed range {MIN_FPS}-{MAX_FPS}")
        self.fps = float(fps)

    @property
    @abstractmethod
    def lookahead_s(self) -> float:
        """Audio past a frame's time that the engine needs before it can emit that frame."""

    @abstractmethod
    def new_stream(self) -> Any:
        """Fresh per-stream state."""

    @abstractmethod
    def process(self, batch: Sequence[tuple[Any, np.ndarray, bool]]) -> list[np.ndarray]:
        """Advance streams by new audio.

        Args:
            batch: (state, pcm_f32 (n,) at 16 kHz, final) per stream; final=True means the
                stream ended after this audio and every remaining frame must be returned.

        Returns:
            One float32 array (frames, len(channel_names)) per entry, in batch order.
        """


class FpsResampler:
    """Maps per-feature-frame outputs (100 Hz, frame j at t = j / 100) to frames at `fps`.

    Output frame k at t = k / fps interpolates linearly between the two feature frames
    around it, so it is ready once feature frame floor(t * 100) + 1 exists. Deterministic
    and chunk-size invariant: frame k depends only on feature frames, never on timing.
    """

    def __init__(self, fps: float, channels: int) -> None:
        self.fps = fps
        self.next_frame = 0
        self._first = 0  # feature-frame index of _rows[0]
        self._rows = np.zeros((0, channels), dtype=np.float32)

    def push(self, rows_f32: np.ndarray) -> None:
        self._rows = np.concatenate([self._rows, rows_f32.astype(np.float32, copy=False)])

    def pop(self, limit: int) -> np.ndarray:
        """Frames computable from the rows so far, up to frame index `limit` (exclusive)."""
        have = self._first + len(self._rows)  # feature frames known
        # Frame k needs feature frame ceil(k * 100 / fps); k_end bounds the ready ones.
        k_end = min(limit, int(math.floor((have - 1) * self.fps / FEATURE_RATE + 1e-9)) + 1)
        if k_end <= self.next_frame:
            return self._rows[:0]
        if k_end == self.next_frame + 1:  # the usual live tick: one frame, no index arrays
            t = self.next_frame / self.fps * FEATURE_RATE
            j0 = int(math.floor(t + 1e-9))
            frac = t - j0
            j1 = j0 + 1 if frac > 1e-9 else j0
            if j1 >= have:
                return self._rows[:0]
            a = self._rows[j0 - self._first : j0 - self._first + 1]
            b = self._rows[j1 - self._first : j1 - self._first + 1]
            out = a + (b - a) * np.float32(frac)
            self.next_frame += 1
            self._drop_used()
            return out
        k = np.arange(self.next_frame, k_end)
        t = k / self.fps * FEATURE_RATE
        j0 = np.floor(t + 1e-9).astype(np.int64)
        frac = t - j0
        j1 = np.where(frac > 1e-9, j0 + 1, j0)
        k, j0, j1, frac = k[j1 < have], j0[j1 < have], j1[j1 < have], frac[j1 < have]
        a = self._rows[j0 - self._first]
        b = self._rows[j1 - self._first]
        out = a + (b - a) * frac.astype(np.float32)[:, None]
        self.next_frame += len(k)
        self._drop_used()
        return out

    def _drop_used(self) -> None:
        """Keep only rows that frames still to come can need."""
        t_next = self.next_frame / self.fps * FEATURE_RATE
        # Never past the rows received: a later push must still land at its true index.
        drop = min(int(math.floor(t_next + 1e-9)) - self._first, len(self._rows))
        if drop > 0:
            self._rows = self._rows[drop:]
            self._first += drop

    def feature_frames_needed(self, frames: int) -> int:
        """Feature frames (count from 0) that output frames 0..frames-1 require."""
        if frames <= 0:
            return 0
        t = (frames - 1) / self.fps * FEATURE_RATE
        j0 = int(math.floor(t + 1e-9))
        return j0 + (2 if t - j0 > 1e-9 else 1)
