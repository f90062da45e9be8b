"""Learned voice activity: a small network over log-mel, every stream of a tick in one call.

The network (engines/models/vad.npz, made by training/vad.py with Silero as the teacher;
card: engines/models/VAD_CARD.md) is five causal dilated convolutions (kernel 3) and a
logistic head over 10 ms log-mel frames: the lip-sync engine's features
(engines/features.py), computed here with a rounding that does not depend on the call.
Probability j is the speech probability of feature frame j, computed from frames up to
j + lookahead. Before a stream starts every layer holds what silence gives it; past its end
the features are those of zero-padded windows, so a stream's probabilities depend only on
its own audio.

Feature frame j counts as speaking when any probability j - hangover .. j reaches the
threshold; frame k (t = k / fps) takes the flag of feature frame round(t * 100) + shift.
Threshold, hangover and shift were chosen on held-out speakers and are stored in the model.

`score_all(vads)` advances many streams with one log-mel pass and one pass through the
layers for all of them (a streams x frames x channels array; each layer keeps the last
2 x dilation inputs of every stream, so only new frames are computed). A stream asked for
flags before a batch call scores itself, so a single stream works alone.

Every matrix product runs on blocks of a fixed number of rows: BLAS picks its kernels by
matrix size, so a row of a bigger product can round differently (1 ulp) and a probability
at the threshold could flip with the chunking or the batch. With fixed blocks a stream's
probabilities are the same bits whatever its chunking and whichever streams share a call
(tests/test_vad_learned.py).
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np

from facewire.engines.base import frames_for
from facewire.engines.features import (
    FEATURE_RATE,
    HANN,
    HOP_SAMPLES,
    LOG_FLOOR,
    MEL_FB,
    N_FFT,
    N_MELS,
    WIN_SAMPLES,
    frame_windows,
)

FORMAT = 1
MODEL_PATH = Path(__file__).resolve().parent / "models" / "vad.npz"
_NONE = -(10**9)  # "no speech yet" as a feature-frame index
_BLOCK = 4  # rows per matrix product


def _blocked(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """a @ w, as one product of _BLOCK rows per block, so each row rounds the same way."""
    rows = len(a)
    padded = np.zeros((-(-rows // _BLOCK) * _BLOCK, a.shape[1]), np.float32)
    padded[:rows] = a
    return np.matmul(padded.reshape(-1, _BLOCK, a.shape[1]), w).reshape(-1, w.shape[1])[:rows]


def log_mel(windows_f32: np.ndarray) -> np.ndarray:
    """engines/features.py's log-mel of (n, WIN_SAMPLES) windows, rounded independently of n."""
    spec = np.fft.rfft(windows_f32 * HANN[None, :], n=N_FFT, axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    return np.log(_blocked(power, MEL_FB) + LOG_FLOOR)


def frame_to_prob_index(k, fps: float, shift: int) -> np.ndarray:
    """Feature frame whose flag animation frame k takes: round(k / fps * 100) + shift."""
    return np.floor(np.asarray(k) * (FEATURE_RATE / fps) + 0.5 + 1e-9).astype(np.int64) + shift


def _prob_row(k: int, fps: float, shift: int) -> int:
    """frame_to_prob_index for one frame, without numpy's per-call cost."""
    return math.floor(k * (FEATURE_RATE / fps) + 0.5 + 1e-9) + shift


class LearnedVadModel:
    """The network and its decision constants, shared by every stream of a process."""

    def __init__(self, path: str | Path = MODEL_PATH) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"learned VAD model not found: {path}")
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != FORMAT:
                raise ValueError(f"{path} is not a facewire VAD model (format {FORMAT})")
            self.mean, self.std = z["mean"], z["std"]
            self.dilations = tuple(int(d) for d in meta["dilations"])
            # conv weights as (3 * C_in, C_out): taps t, t + d, t + 2d side by side
            self.layers = [(z[f"w{i}"], z[f"b{i}"]) for i in range(len(self.dilations))]
            self.head = (z["head_w"], z["head_b"])
        self.lookahead = int(meta["lookahead_frames"])
        self.threshold = float(meta["threshold"])
        self.hangover = int(meta["hangover_frames"])
        self.shift = int(meta["shift_frames"])
        self.silence = log_mel(np.zeros((1, WIN_SAMPLES), np.float32))[0]
        self.initial = self._silent_states()

    def _silent_states(self) -> list[np.ndarray]:
        """Each layer's input history after a long silence (constant rows)."""
        row, states = (self.silence - self.mean) / self.std, []
        for (w, b), d in zip(self.layers, self.dilations, strict=True):
            states.append(np.tile(row, (2 * d, 1)).astype(np.float32))
            row = np.maximum(np.tile(row, 3) @ w + b, 0)
        return states

    def run(
        self, mel: np.ndarray, counts: np.ndarray, states: list[np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Advance S streams by their new feature rows.

        Args:
            mel: (S, T, N_MELS) float32 log-mel; stream s's rows past counts[s] are padding.
            counts: (S,) new rows per stream.
            states: per layer, (S, 2 * dilation, C_in) float32 input history.

        Returns:
            (S, T) speech probability of every new row (padding rows: unused), and the
            states after each stream's counts[s] rows.
        """
        n_streams, steps = mel.shape[:2]
        x = (mel - self.mean) / self.std
        pick = np.arange(n_streams)[:, None]
        new_states = []
        for (w, b), d, state in zip(self.layers, self.dilations, states, strict=True):
            full = np.concatenate([state, x], axis=1)
            new_states.append(full[pick, counts[:, None] + np.arange(2 * d)])
            taps = np.concatenate([full[:, i * d : i * d + steps] for i in range(3)], axis=2)
            x = np.maximum(_blocked(taps.reshape(n_streams * steps, -1), w) + b, 0)
            x = x.reshape(n_streams, steps, -1)
        logit = _blocked(x.reshape(n_streams * steps, -1), self.head[0]) + self.head[1]
        prob = 1.0 / (1.0 + np.exp(-logit.reshape(n_streams, steps)))
        return prob.astype(np.float32), new_states


@functools.cache
def load_model(path: str = str(MODEL_PATH)) -> LearnedVadModel:
    return LearnedVadModel(path)


class LearnedVoiceActivity:
    """Speaking flags for one stream (the VoiceActivity API); scoring is batched by score_all.

    Args:
        fps: animation frame rate the flags are for.
        model: the shared network; the committed one by default.
    """

    def __init__(self, fps: float = 30.0, model: LearnedVadModel | None = None) -> None:
        self.fps = float(fps)
        self.model = model or load_model()
        self._states = self.model.initial  # replaced, never written in place
        self._buf = np.zeros(0, np.float32)  # stream samples from _buf_start on
        self._buf_start = 0
        self._feats = 0  # feature frames computed
        self._last_speech = _NONE  # feature frame of the last probability >= threshold
        self._flags = np.zeros(0, bool)  # per feature frame, from _first on
        self._first = 0
        self.samples = 0
        self.next_frame = 0
        self.finished = False

    def push(self, pcm_f32: np.ndarray) -> None:
        """Add 16 kHz mono float audio; it is scored at the next score_all or query."""
        if self.finished:
            raise RuntimeError("push() after finish()")
        pcm_f32 = np.asarray(pcm_f32, dtype=np.float32).reshape(-1)
        self._buf = np.concatenate([self._buf, pcm_f32])
        self.samples += len(pcm_f32)

    def finish(self) -> None:
        """End of stream: windows past the end read as zeros."""
        self.finished = True

    def _todo(self) -> int:
        """Feature frames that can be computed now and are not yet."""
        if self.finished:
            frames = frames_for(self.samples, self.fps)
            if frames == 0:
                return 0
            last = int(frame_to_prob_index(frames - 1, self.fps, self.model.shift))
            return max(0, last + self.model.lookahead + 1 - self._feats)
        complete = (self.samples - WIN_SAMPLES // 2) // HOP_SAMPLES + 1  # window inside audio
        return max(0, complete - self._feats)

    def _segment(self, count: int) -> np.ndarray:
        """The samples under the next `count` windows (zeros before 0 and past the end)."""
        start = self._feats * HOP_SAMPLES - WIN_SAMPLES // 2 - self._buf_start
        size = (count - 1) * HOP_SAMPLES + WIN_SAMPLES
        if 0 <= start and start + size <= len(self._buf):
            return self._buf[start : start + size]
        seg = frame_windows(self._buf, self._feats, count, self._buf_start)
        return np.concatenate([seg[:, :HOP_SAMPLES].reshape(-1), seg[-1, HOP_SAMPLES:]])

    def _absorb(self, count: int, flags: np.ndarray, last_speech: int, states: list) -> None:
        """Take the results of `count` new feature rows: per-frame flags from probability
        feats - lookahead on (rows before probability 0 already left out), new states."""
        self._states = states
        first_flag = max(0, self._feats - self.model.lookahead)
        self._feats += count
        self._last_speech = last_speech
        keep = self._feats * HOP_SAMPLES - WIN_SAMPLES // 2  # first sample a window still needs
        if keep > self._buf_start:
            self._buf = self._buf[keep - self._buf_start :]
            self._buf_start = keep
        if len(flags):
            if not len(self._flags):
                self._first = first_flag
            self._flags = np.concatenate([self._flags, flags])

    def frames_known(self) -> int:
        """Frames 0..n-1 whose flag is decided (absolute count, never beyond the stream end)."""
        if self._todo():
            score_all([self])
        known, shift = max(0, self._feats - self.model.lookahead), self.model.shift
        n = max(0, math.ceil((known - shift - 0.5) * self.fps / FEATURE_RATE))
        while n > 0 and _prob_row(n - 1, self.fps, shift) >= known:
            n -= 1
        while _prob_row(n, self.fps, shift) < known:
            n += 1
        return min(n, frames_for(self.samples, self.fps))

    def take(self, limit: int | None = None) -> np.ndarray:
        """(n,) bool flags of the next decided frames, up to absolute frame `limit`; frees them."""
        known = self.frames_known()
        stop = known if limit is None else min(limit, known)
        shift = self.model.shift
        if stop - self.next_frame == 1:  # the usual tick: numpy's per-call cost matters
            row = _prob_row(self.next_frame, self.fps, shift) - self._first
            out = self._flags[row : row + 1]
        else:
            ks = np.arange(self.next_frame, max(stop, self.next_frame))
            out = self._flags[frame_to_prob_index(ks, self.fps, shift) - self._first]
        self.next_frame = max(self.next_frame, stop)
        drop = _prob_row(self.next_frame, self.fps, shift) - self._first
        drop = min(max(drop, 0), len(self._flags))
        if drop:
            self._flags = self._flags[drop:]
            self._first += drop
        return out

    def speaking(self, k: int) -> bool:
        """Flag of frame k; it must be decided and not yet released by take()."""
        if not self.next_frame <= k < self.frames_known():
            raise IndexError(
                f"frame {k} not available (released < {self.next_frame}, "
                f"known < {self.frames_known()})"
            )
        return bool(self._flags[_prob_row(k, self.fps, self.model.shift) - self._first])


def score_all(vads: list) -> None:
    """Score the pending audio of many streams: one log-mel and one network pass per model.

    Other detectors in `vads` (Silero, energy) score as they are fed and are skipped.
    """
    groups: dict[int, list[tuple[LearnedVoiceActivity, int]]] = {}
    for vad in vads:
        if isinstance(vad, LearnedVoiceActivity) and (todo := vad._todo()):
            groups.setdefault(id(vad.model), []).append((vad, todo))
    for jobs in groups.values():
        model = jobs[0][0].model
        counts = np.array([n for _, n in jobs])
        segments = [v._segment(n) for v, n in jobs]
        # window r of job s starts at r * HOP in its segment: one gather for every job
        starts = np.cumsum([0] + [len(seg) for seg in segments[:-1]])
        rows = np.repeat(starts, counts) + HOP_SAMPLES * (
            np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        )
        flat = np.concatenate(segments)
        feats = log_mel(flat[rows[:, None] + np.arange(WIN_SAMPLES)])
        steps = int(counts.max())
        valid = np.arange(steps)[None, :] < counts[:, None]
        mel = np.empty((len(jobs), steps, N_MELS), np.float32)
        mel[:] = model.silence  # rows past a stream's new frames: outputs are not used
        mel[valid] = feats
        states = [np.stack([v._states[i] for v, _ in jobs]) for i in range(len(model.layers))]
        probs, states = model.run(mel, counts, states)
        # probability index of every output; those before 0 (the first lookahead rows) drop
        first = np.array([v._feats for v, _ in jobs]) - model.lookahead
        idx = first[:, None] + np.arange(steps)[None, :]
        last = np.where((probs >= model.threshold) & valid & (idx >= 0), idx, _NONE)
        last[:, 0] = np.maximum(last[:, 0], [v._last_speech for v, _ in jobs])
        last = np.maximum.accumulate(last, axis=1)
        flags = idx - last <= model.hangover
        for s, (vad, n) in enumerate(jobs):
            skip = max(0, -int(first[s]))
            vad._absorb(n, flags[s, skip:n], int(last[s, n - 1]), [layer[s] for layer in states])
