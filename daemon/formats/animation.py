"""Animation: the in-memory face animation every format reads and writes, and
AnimationRecorder, which builds one from a live stream's frames; plus the checks the
readers share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facewire.arkit import ARKIT_INDEX, ARKIT_NAMES, EMOTION_NAMES


@dataclass(eq=False)
class Animation:
    """A face animation: one row of weights and emotions per frame, frame k at k / fps.

    Attributes:
        fps: frames per second.
        names: channel names: the 52 ARKit names in canonical order, then extras such as
            headYaw/headPitch/headRoll (radians).
        timecodes: (T,) float64 seconds, k / fps (a CSV read from elsewhere keeps its own
            times if its rows are irregular).
        weights: (T, len(names)) float32.
        emotion_names: the emotion classes (A2E's ten, `facewire.arkit.EMOTION_NAMES`).
        emotions: (T, len(emotion_names)) float32 probabilities.
        source: where it came from (audio or file path), "" if unknown.
    """

    fps: float
    names: list[str]
    timecodes: np.ndarray
    weights: np.ndarray
    emotion_names: list[str]
    emotions: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        self.fps = float(self.fps)
        self.names = list(self.names)
        self.emotion_names = list(self.emotion_names)
        self.timecodes = np.asarray(self.timecodes, dtype=np.float64)
        self.weights = np.asarray(self.weights, dtype=np.float32)
        self.emotions = np.asarray(self.emotions, dtype=np.float32)
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be positive, got {self.fps}")
        if tuple(self.names[: len(ARKIT_NAMES)]) != ARKIT_NAMES:
            raise ValueError("names must start with the 52 ARKit names in canonical order")
        if len(set(self.names)) != len(self.names):
            raise ValueError("channel names must be unique")
        t = self.timecodes.shape[0] if self.timecodes.ndim == 1 else -1
        if self.weights.shape != (t, len(self.names)):
            raise ValueError(
                f"weights shape {self.weights.shape} != (frames {t}, names {len(self.names)})"
            )
        if self.emotions.shape != (t, len(self.emotion_names)):
            raise ValueError(
                f"emotions shape {self.emotions.shape} != "
                f"(frames {t}, emotion names {len(self.emotion_names)})"
            )
        for what, arr in (("timecodes", self.timecodes), ("weights", self.weights),
                          ("emotions", self.emotions)):  # fmt: skip
            if not np.isfinite(arr).all():
                raise ValueError(f"{what} contain NaN or infinity")

    @classmethod
    def build(
        cls,
        fps: float,
        weights: np.ndarray,
        names: Sequence[str] | None = None,
        emotions: np.ndarray | None = None,
        source: str = "",
    ) -> Animation:
        """An animation on the k / fps grid from bare arrays.

        Args:
            fps: frames per second.
            weights: (T, C) float array.
            names: C channel names; None means the 52 ARKit names.
            emotions: (T, 10) A2E probabilities; None means all zero.
            source: where it came from.
        """
        w = np.asarray(weights, dtype=np.float32)
        if w.ndim != 2:
            raise ValueError(f"weights must be (T, C), got shape {w.shape}")
        emo = (
            np.zeros((w.shape[0], len(EMOTION_NAMES)), dtype=np.float32)
            if emotions is None
            else emotions
        )
        return cls(
            fps=fps,
            names=list(ARKIT_NAMES if names is None else names),
            timecodes=np.arange(w.shape[0], dtype=np.float64) / float(fps),
            weights=w,
            emotion_names=list(EMOTION_NAMES),
            emotions=emo,
            source=source,
        )

    @property
    def n_frames(self) -> int:
        """Number of frames T."""
        return int(self.weights.shape[0])

    def channel(self, name: str) -> np.ndarray:
        """One channel over time, (T,) float32."""
        return self.weights[:, self.names.index(name)]


class AnimationRecorder:
    """Collects a live stream's frames into an `Animation`, a frame or a batch at a time.

    Rows go into preallocated float32 buffers that double when full, so recording costs
    amortised O(1) per frame and 4 bytes per value, with no per-frame Python objects.
    """

    def __init__(
        self,
        fps: float,
        names: Sequence[str] | None = None,
        emotion_names: Sequence[str] = EMOTION_NAMES,
        capacity: int = 1024,
        source: str = "",
    ) -> None:
        """Start an empty recording.

        Args:
            fps: the stream's frames per second.
            names: channel names (None: the 52 ARKit names).
            emotion_names: emotion classes (A2E's ten by default).
            capacity: initial rows preallocated.
            source: where the stream came from, copied into the animation.
        """
        self.fps = float(fps)
        self.names = list(ARKIT_NAMES if names is None else names)
        self.emotion_names = list(emotion_names)
        self.source = source
        cap = max(1, int(capacity))
        self._weights = np.zeros((cap, len(self.names)), dtype=np.float32)
        self._emotions = np.zeros((cap, len(self.emotion_names)), dtype=np.float32)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, weights: np.ndarray, emotions: np.ndarray | None = None) -> None:
        """Append one frame ((C,) rows) or a batch ((n, C) rows).

        Args:
            weights: (C,) or (n, C) weights in `names` order.
            emotions: (10,) or (n, 10) probabilities; None records zeros.
        """
        w = np.asarray(weights, dtype=np.float32)
        w = w[None, :] if w.ndim == 1 else w
        if w.ndim != 2 or w.shape[1] != len(self.names):
            raise ValueError(f"weights shape {w.shape} does not match {len(self.names)} channels")
        n = w.shape[0]
        if emotions is None:
            e = np.zeros((n, len(self.emotion_names)), dtype=np.float32)
        else:
            e = np.asarray(emotions, dtype=np.float32)
            e = e[None, :] if e.ndim == 1 else e
        if e.shape != (n, len(self.emotion_names)):
            raise ValueError(f"emotions shape {e.shape} != ({n}, {len(self.emotion_names)})")
        need = self._n + n
        if need > self._weights.shape[0]:
            cap = self._weights.shape[0]
            while cap < need:
                cap *= 2
            self._weights = _grown(self._weights, cap, self._n)
            self._emotions = _grown(self._emotions, cap, self._n)
        self._weights[self._n : need] = w
        self._emotions[self._n : need] = e
        self._n = need

    def to_animation(self) -> Animation:
        """The frames so far as an `Animation` (a copy; recording may continue)."""
        return Animation(
            fps=self.fps,
            names=self.names,
            timecodes=np.arange(self._n, dtype=np.float64) / self.fps,
            weights=self._weights[: self._n].copy(),
            emotion_names=self.emotion_names,
            emotions=self._emotions[: self._n].copy(),
            source=self.source,
        )


def _grown(buf: np.ndarray, rows: int, used: int) -> np.ndarray:
    out = np.zeros((rows, buf.shape[1]), dtype=buf.dtype)
    out[:used] = buf[:used]
    return out


def require(doc: dict, keys: Sequence[str], what: str) -> None:
    missing = [k for k in keys if k not in doc]
    if missing:
        raise ValueError(f"{what} lacks keys: {', '.join(missing)}")


def matrix(rows: object, cols: int, what: str) -> np.ndarray:
    try:
        arr = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a list of equal-length number rows") from exc
    if arr.size == 0:
        return np.zeros((0, cols), dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != cols:
        raise ValueError(f"{what} has shape {arr.shape}; every row needs {cols} values")
    return arr


def fps_number(fps: float) -> int | float:
    return int(fps) if float(fps).is_integer() else float(fps)


def by_name(columns: Sequence[str], data: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Columns matched to ARKit names case-insensitively, in canonical order; others kept
    after them as extras; ARKit shapes the file lacks are zero (A2F solves subsets)."""
    lookup = {n.lower(): n for n in ARKIT_NAMES}
    extras: list[str] = []
    rows = data.shape[0]
    out = np.zeros((rows, len(ARKIT_NAMES)), dtype=np.float32)
    extra_cols: list[np.ndarray] = []
    for j, col in enumerate(columns):
        key = lookup.get(col.lower())
        if key is not None:
            out[:, ARKIT_INDEX[key]] = data[:, j]
        else:
            extras.append(col)
            extra_cols.append(data[:, j])
    if extra_cols:
        out = np.concatenate([out, np.stack(extra_cols, axis=1)], axis=1)
    return list(ARKIT_NAMES) + extras, out
