"""The learned emotion estimator: a small network over the voice, batched over streams.

Every UPDATE_HOPS hops (0.24 s) of a stream's audio, its last WINDOW_HOPS hops (1.6 s) of
features (engines/emotion_features.py), normalised against the stream's running baseline, go
through the network (training/emotion.py; ONNX, committed as models/emotion.onnx with its
card EMOTION_CARD.md). `EmotionModel.analyse` gathers the due updates of every stream it is
given into one feature pass and one network call. Estimates are causal: frame k
(t = k / fps) carries the latest estimate made at or before t, so an emotion never waits for
audio that lip-sync has not already received, and never delays a lip-sync frame.

The network scores neutral and the five classes EmoDB has (anger, joy, sadness, fear,
disgust); the neutral share is left out of the ten outputs, so neutral speech gives all ten
low. amazement, cheekiness, grief, outofbreath and pain have no training data: they stay 0.
Windows with little speech give all zeros.

`load_emotion_model` picks the model by the daemon.emotion_model setting: "builtin" (the
committed network), "rules" (the hand-set prosody rules of engines/emotion.py), or a path
to weights made with `python -m training.emotion`; a file that is not such a model is an
error at start.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from facewire.arkit import EMOTION_INDEX, EMOTION_NAMES
from facewire.engines import emotion_features as ef
from facewire.engines.base import frames_for

BUILTIN = Path(__file__).resolve().parent / "models" / "emotion.onnx"
FORMAT = "facewire-emotion-1"
UPDATE_HOPS = 6  # a new estimate every 0.24 s
WINDOW_HOPS = 40  # over the last 1.6 s
HISTORY_HOPS = 250  # 10 s of energies kept for the noise floor
FEATURE_ROWS = 96  # hops per feature pass
MIN_ACTIVE = 0.15  # less speech than this share of the window: no emotion (all zeros)
FULL_ACTIVE = 0.35  # from this share of speech on the estimate counts fully
N_CLASSES = len(EMOTION_NAMES)


class EmotionModelError(ValueError):
    """A file given as emotion weights that facewire cannot use; the message says why."""


class EmotionModel:
    """The network (an onnxruntime session) and its normalisation prior, shared by streams."""

    name = "learned"

    def __init__(self, path: str | Path = BUILTIN) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise EmotionModelError(f"emotion model {path}: no such file")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise EmotionModelError(f"emotion model {path}: not a loadable ONNX file") from exc
        raw = self.session.get_modelmeta().custom_metadata_map.get("facewire_emotion")
        try:
            meta = json.loads(raw or "")
            assert meta["format"] == FORMAT
            assert meta["features"] == list(ef.FEATURE_NAMES)
            assert meta["window_hops"] == WINDOW_HOPS
            self.classes = [str(c) for c in meta["classes"]]
            assert self.classes[0] == "neutral" and len(set(self.classes)) == len(self.classes)
            assert all(c in EMOTION_INDEX for c in self.classes[1:])
            self.prior_mean = np.asarray(meta["prior_mean"], np.float64)
            self.prior_std = np.asarray(meta["prior_std"], np.float64)
            assert self.prior_mean.shape == self.prior_std.shape == (ef.N_FEATURES,)
            self.prior_hops = float(meta["prior_hops"])
        except (ValueError, KeyError, TypeError, AssertionError):
            raise EmotionModelError(
                f"emotion model {path}: not a {FORMAT} model (make one with "
                "`python -m training.emotion`)"
            ) from None
        self.model_id = f"{path.name}:{meta.get('sha', '')}"
        self._targets = np.array([EMOTION_INDEX[c] for c in self.classes[1:]])

    def new_stream(self, fps: float) -> NetEstimator:
        return NetEstimator(self, fps)

    def analyse(self, estimators: list, upto: list[int | None] | None = None) -> None:
        """Make every update the audio pushed so far allows (or, per stream, updates up to
        index upto[i]), for all streams at once: one feature pass, one network call."""
        upto = upto or [None] * len(estimators)
        work = [(est, est.due(u)) for est, u in zip(estimators, upto, strict=True)]
        work = [(est, k) for est, k in work if k]
        if not work:
            return
        blocks = [est.windows(k) for est, k in work]
        windows = np.concatenate(blocks)
        # In slices of FEATURE_ROWS: the spectra of a 64-stream batch at once outgrow the
        # cache and cost up to twice as much per hop.
        feats = np.concatenate(
            [
                ef.hop_features(windows[i : i + FEATURE_ROWS])
                for i in range(0, len(windows), FEATURE_ROWS)
            ]
        )
        steps, owners = [], []
        at = 0
        for (est, k), block in zip(work, blocks, strict=True):
            f = feats[at : at + len(block)]
            at += len(block)
            est.add_steps(f)
            for u in range(k):
                steps.append(est.step(f[u * UPDATE_HOPS : (u + 1) * UPDATE_HOPS]))
                owners.append(est)
        window, active, mean, std, gates = (np.stack(c) for c in zip(*steps, strict=True))
        probs = self._run(ef.normalise(window, active, mean, std))
        for est, p, gate in zip(owners, probs, gates, strict=True):
            out = np.zeros(N_CLASSES, np.float32)
            if gate > 0:
                out[self._targets] = p[1:] * gate
            est.updates.append(out)

    def _run(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (n, len(classes)) for inputs (n, WINDOW_HOPS, N_FEATURES)."""
        (logits,) = self.session.run(None, {"features": x})
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


class NetEstimator:
    """One stream's state for EmotionModel; the interface of engines.emotion.EmotionEstimator
    (push, analyse, finish, ready, pop)."""

    def __init__(self, model: EmotionModel, fps: float) -> None:
        self.model = model
        self.fps = float(fps)
        self._buf = np.zeros(ef.WIN - ef.HOP, np.float32)  # silence before the stream
        self._offset = ef.HOP - ef.WIN  # stream sample index of _buf[0]
        self._last_row = ef.SILENT_ROW  # raw features of the latest hop
        self._samples = 0
        self._hops_done = 0
        self._energy = np.zeros(0)  # last HISTORY_HOPS hop energies
        self._feats = np.zeros((WINDOW_HOPS, ef.N_FEATURES))  # last WINDOW_HOPS hops
        self._active = np.zeros(WINDOW_HOPS, bool)
        self._baseline = ef.Baseline(model.prior_mean, model.prior_std, model.prior_hops)
        self.updates: list[np.ndarray] = [np.zeros(N_CLASSES, np.float32)]  # update m at m * U
        self._first_update = 0  # update index of updates[0]
        self._next_frame = 0
        self._finished = False

    def push(self, pcm_f32: np.ndarray) -> None:
        """Add 16 kHz mono float audio."""
        if self._finished:
            raise RuntimeError("push() after finish()")
        pcm = np.asarray(pcm_f32, dtype=np.float32).reshape(-1)
        self._buf = np.concatenate([self._buf, pcm])
        self._samples += len(pcm)

    def analyse(self) -> None:
        """Make the updates the audio so far allows (a batch of one stream)."""
        self.model.analyse([self])

    def finish(self) -> None:
        """The stream ended: every frame up to frames_for(samples) becomes ready."""
        self._finished = True

    def ready(self) -> int:
        """Frames whose raw estimate is known now."""
        return frames_for(self._samples, self.fps) - self._next_frame

    def due(self, upto: int | None = None) -> int:
        """Updates that can be made now (at most up to update index `upto`)."""
        k = (self._samples // ef.HOP - self._hops_done) // UPDATE_HOPS
        if upto is not None:
            k = min(k, upto + 1 - (self._first_update + len(self.updates)))
        return max(k, 0)

    def windows(self, k: int) -> np.ndarray:
        """Analysis windows of the next k updates' hops."""
        out = ef.hop_windows(self._buf, self._hops_done, k * UPDATE_HOPS, self._offset)
        keep_from = (self._hops_done + k * UPDATE_HOPS + 1) * ef.HOP - ef.WIN - self._offset
        self._buf = self._buf[keep_from:]
        self._offset += keep_from
        return out

    def add_steps(self, feats: np.ndarray) -> None:
        """Fill the perturbation columns of this stream's next hops (ef.add_steps)."""
        ef.add_steps(feats, self._last_row)
        self._last_row = feats[-1]

    def step(self, feats: np.ndarray) -> tuple:
        """Take one update's UPDATE_HOPS hops of features. Returns the window ending here
        (raw hops, speech flags), the baseline (mean, std) to normalise it with, and the
        speech gate (0 = no emotion, 1 = full weight)."""
        self._hops_done += len(feats)
        self._energy = np.concatenate([self._energy, feats[:, ef.ENERGY_COL]])[-HISTORY_HOPS:]
        active = ef.active_mask(feats[:, ef.ENERGY_COL], ef.noise_floor(self._energy))
        self._baseline.add(feats[active])
        self._feats = np.concatenate([self._feats[len(feats) :], feats])
        self._active = np.concatenate([self._active[len(feats) :], active])
        mean, std = self._baseline.mean_std()
        share = float(self._active.mean())
        gate = 0.0 if share < MIN_ACTIVE else min(1.0, share / FULL_ACTIVE)
        return self._feats, self._active, mean, std, gate

    def pop(self, count: int) -> np.ndarray:
        """Raw probabilities (count, 10) float32 for the next `count` frames."""
        if count > self.ready():
            raise ValueError(f"pop({count}) but only {self.ready()} frames are ready")
        per_update = UPDATE_HOPS * ef.HOP
        t_last = (self._next_frame + count - 1) * ef.SAMPLE_RATE / self.fps
        self.model.analyse([self], [int(math.floor(t_last / per_update + 1e-9))])
        out = np.zeros((count, N_CLASSES), dtype=np.float32)
        for i in range(count):
            t = (self._next_frame + i) * ef.SAMPLE_RATE / self.fps
            m = int(math.floor(t / per_update + 1e-9))
            out[i] = self.updates[m - self._first_update]
        self._next_frame += count
        t_next = self._next_frame * ef.SAMPLE_RATE / self.fps
        drop = int(math.floor(t_next / per_update + 1e-9)) - self._first_update
        if drop > 0:
            del self.updates[:drop]
            self._first_update += drop
        return out


class RulesModel:
    """The hand-set prosody rules (engines/emotion.py) behind the same interface."""

    name = "rules"
    model_id = "rules"

    def new_stream(self, fps: float):
        from facewire.engines.emotion import EmotionEstimator

        return EmotionEstimator(fps)

    def analyse(self, estimators: list) -> None:
        for est in estimators:
            est.analyse()


def load_emotion_model(spec: str = "builtin") -> EmotionModel | RulesModel:
    """The estimator that daemon.emotion_model names: builtin | rules | PATH to an .onnx."""
    if spec == "rules":
        return RulesModel()
    return EmotionModel(BUILTIN if spec in ("", "builtin") else Path(spec))
