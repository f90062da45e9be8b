"""Emotion from the voice alone, and A2F's emotion post-processing.

`EmotionEstimator` measures prosody and voice quality and maps them to Audio2Emotion's ten
classes. There is no labelled emotional-speech corpus here, so nothing is learned: the
mapping follows the acoustic-correlates literature (Scherer 2003; Juslin & Laukka 2003;
Banse & Scherer 1996): high arousal (anger, joy, fear, amazement) raises pitch level and
range, vocal effort (a flatter spectral tilt) and speaking rate and shortens pauses; low
arousal (sadness, grief) does the opposite; breathiness (low harmonics-to-noise ratio, long
unvoiced breaths) marks being out of breath. Valence is only weakly audible in prosody:
we take wide, lively pitch movement as positive and a tense, effortful, irregular voice
(strong high frequencies, pitch perturbation) as negative. Features become z-scores
against a neutral reference (read speech) blended with the stream's own running averages,
so a speaker's habits fade into the baseline over ~30 s of speech (speaker adaptation).
The arousal/valence/breathiness point is then scored against a prototype per class and a
neutral prototype; the neutral share is left out, so the ten values sum to at most 1, and
silence gives all zeros. Limits: see docs/PARAMETERS.md.

`EmotionPost` is A2F's post-processing (audio2emotion-sdk's PostProcess), per frame and
for every due stream at once:
contrast, keep the top max_emotions, blend with the previous vector (live_blend_coef), mix
in the preferred emotion or the client's hint, smooth over live_transition_time, scale by
emotion_strength.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping

import numpy as np

from facewire.arkit import EMOTION_NAMES
from facewire.engines.base import frames_for
from facewire.engines.params import ParamError, StreamParams, check_emotion_map
from facewire.engines.slots import SlotArrays, row_slots
from facewire.pcm import SAMPLE_RATE

HOP = 160  # 10 ms analysis hop
WIN = 640  # 40 ms causal window: hop j covers samples [(j + 1) * HOP - WIN, (j + 1) * HOP)
N_FFT = 1024  # exact autocorrelation for lags < N_FFT - WIN = 384 samples
F0_MIN, F0_MAX = 70.0, 500.0
UPDATE_HOPS = 25  # a new estimate every 0.25 s (4 Hz)
WINDOW_HOPS = 150  # each estimate looks at the last 1.5 s
HISTORY_HOPS = 1000  # 10 s of per-hop features kept for the noise floor and speaker pitch floor
N_CLASSES = len(EMOTION_NAMES)

_HANN = np.hanning(WIN + 2)[1:-1]
_FREQS = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
# Contiguous bins, as slices: cheaper than boolean masks.
_LOW_BAND = slice(*np.flatnonzero((_FREQS >= 80) & (_FREQS < 1000))[[0, -1]] + [0, 1])
_HIGH_BAND = slice(*np.flatnonzero((_FREQS >= 1000) & (_FREQS < 4000))[[0, -1]] + [0, 1])
_WIN_AC = np.fft.irfft(np.abs(np.fft.rfft(_HANN, N_FFT)) ** 2, N_FFT)
_LAG_MIN = int(SAMPLE_RATE / F0_MAX)
_LAG_MAX = int(math.ceil(SAMPLE_RATE / F0_MIN))
VOICING_THRESHOLD = 0.45  # normalised autocorrelation peak that counts as voiced
SPEECH_FLOOR_DB = -50.0  # dBFS: quieter hops are never speech
SPEECH_ABOVE_NOISE_DB = 10.0
MIN_ACTIVE_FRACTION = 0.15  # less speech than this in a window -> no emotion (all zeros)


def hop_features(windows: np.ndarray) -> np.ndarray:
    """Per-hop measurements of (n, WIN) float audio windows.

    Returns:
        (n, 4) float64: energy dBFS, F0 in semitones re 100 Hz (nan when unvoiced),
        voicing (normalised autocorrelation peak, 0..1), spectral tilt in dB
        (1-4 kHz band power over 80-1000 Hz band power). Hops at or below SPEECH_FLOOR_DB
        are never speech, so they are not analysed: F0 nan, voicing 0, tilt nan.
    """
    energy = 10.0 * np.log10((windows**2).sum(1) / windows.shape[1] + 1e-10)
    out = np.empty((len(windows), 4))
    out[:, 0] = energy
    out[:, 1:] = (np.nan, 0.0, np.nan)
    loud = np.flatnonzero(energy > SPEECH_FLOOR_DB)
    if len(loud):
        out[loud, 1:] = _pitch_voicing_tilt(windows[loud])
    return out


def _pitch_voicing_tilt(windows: np.ndarray) -> np.ndarray:
    """(n, 3): F0 semitones (nan when unvoiced), voicing, tilt dB of loud windows."""
    n = len(windows)
    spec = np.fft.rfft(windows * _HANN, N_FFT, axis=1)
    # |X|^2 kept complex (zero imaginary part): numpy's irfft converts a real input to
    # complex first, which costs more than the transform itself.
    power_c = spec * spec.conj()
    power = power_c.real
    tilt = 10.0 * np.log10(
        (power[:, _HIGH_BAND].sum(1) + 1e-12) / (power[:, _LOW_BAND].sum(1) + 1e-12)
    )
    ac = np.fft.irfft(power_c, N_FFT, axis=1)[:, : _LAG_MAX + 2]
    ac = ac / np.maximum(ac[:, :1], 1e-12) / (_WIN_AC[: _LAG_MAX + 2] / _WIN_AC[0])
    seg = ac[:, _LAG_MIN : _LAG_MAX + 1]
    k = np.argmax(seg, axis=1)
    peak = seg[np.arange(n), k]
    lag = (k + _LAG_MIN).astype(np.float64)
    # Parabolic interpolation of the peak for sub-sample lag precision.
    inner = (k > 0) & (k < seg.shape[1] - 1)
    km, kp = np.maximum(k - 1, 0), np.minimum(k + 1, seg.shape[1] - 1)
    a, b, c = seg[np.arange(n), km], peak, seg[np.arange(n), kp]
    denom = a - 2 * b + c
    shift = np.where(inner & (denom < 0), 0.5 * (a - c) / np.where(denom < 0, denom, -1), 0.0)
    lag = lag + shift
    voicing = np.minimum(np.maximum(peak, 0.0), 1.0)
    f0_st = 12.0 * np.log2(SAMPLE_RATE / lag / 100.0)
    f0_st = np.where(voicing >= VOICING_THRESHOLD, f0_st, np.nan)
    return np.stack([f0_st, voicing, tilt], axis=1)


# Window descriptors (see window_descriptors) and their neutral reference: the mean over the
# read, neutral speech clips in ../shared/data/speech/aligned (LibriVox, praatIO, MFA), and
# a spread that is a plausible within-speaker range (documented in docs/PARAMETERS.md).
DESCRIPTORS = ("f0_level", "f0_range", "tilt", "hnr", "jitter", "rate", "pause", "breath",
               "loud", "attack")  # fmt: skip
REF_MEAN = np.array([3.75, 7.8, -12.8, 9.4, 0.29, 7.9, 0.11, 0.0, -24.6, 3.2])
REF_STD = np.array([2.5, 3.0, 5.0, 2.5, 0.06, 1.5, 0.07, 0.08, 4.0, 0.8])
ADAPT_SECONDS = 30.0  # speech seconds after which the stream's own average weighs as much

# Arousal, valence and breathiness as weighted sums of descriptor z-scores (directions from
# the literature cited above; magnitudes set by hand, not fitted).
_W_AROUSAL = np.array([0.35, 0.20, 0.20, 0.0, 0.0, 0.10, -0.15, 0.0, 0.10, 0.20])
_W_VALENCE = np.array([0.10, 0.30, -0.15, 0.15, -0.15, 0.0, 0.0, 0.0, 0.0, -0.30])
_W_BREATH = np.array([0.0, 0.0, 0.0, -0.30, 0.0, 0.0, 0.20, 0.50, 0.0, 0.0])

# Class prototypes in (arousal, valence, breathiness), after Russell's circumplex; neutral at 0.
PROTOTYPES = {
    "amazement": (1.3, 0.5, 0.0), "anger": (1.5, -1.0, 0.0), "cheekiness": (0.6, 1.0, 0.0),
    "disgust": (0.3, -1.2, 0.0), "fear": (1.2, -1.1, 0.3), "grief": (-0.8, -1.4, 0.4),
    "joy": (1.2, 1.3, 0.0), "outofbreath": (0.6, 0.0, 1.6), "pain": (0.8, -1.5, 0.3),
    "sadness": (-1.3, -0.8, 0.0),
}  # fmt: skip
_PROTO = np.array([PROTOTYPES[n] for n in EMOTION_NAMES])
PROTO_WIDTH = 0.6  # Gaussian width of each prototype's basin in the (A, V, B) space
NEUTRAL_BIAS = math.log(2.0)  # neutral's prior weight: ~13 % emotion mass at the origin


def _quantile(x: np.ndarray, q: float) -> float:
    """The q-quantile as the nearest order statistic (cheaper than np.percentile)."""
    k = min(len(x) - 1, int(q * len(x)))
    return float(np.partition(x, k)[k])


def _median(x: np.ndarray) -> float:
    """np.median by partition (the same value; np.median's generic path costs more)."""
    k = len(x) // 2
    if len(x) % 2:
        return float(np.partition(x, k)[k])
    p = np.partition(x, (k - 1, k))
    return float((p[k - 1] + p[k]) / 2)


def _mean(x: np.ndarray) -> float:
    """np.mean without its per-call overhead (the same pairwise sum, divided by the count)."""
    return float(x.sum() / len(x))


def _running(x: np.ndarray, half: int, fill: float, op: np.ufunc) -> np.ndarray:
    """op (np.maximum or np.minimum) over x[i - half .. i + half], `fill` beyond the ends:
    2 * half in-place ufunc calls, cheaper than a sliding_window_view at these widths."""
    n = len(x)
    padded = np.concatenate([np.full(half, fill), x, np.full(half, fill)])
    out = padded[:n].copy()
    for k in range(1, 2 * half + 1):
        op(out, padded[k : k + n], out=out)
    return out


def window_descriptors(feats: np.ndarray, noise_db: float, pitch_floor_st: float) -> np.ndarray:
    """Descriptors of one analysis window (see DESCRIPTORS); nan where not measurable.

    Args:
        feats: (n, 4) hop_features rows of the window, oldest first.
        noise_db: the stream's noise floor (dBFS), for speech activity.
        pitch_floor_st: the speaker's low pitch (10th percentile, semitones), for f0_level.
    """
    energy, f0, voicing, tilt = feats.T
    active = energy > max(noise_db + SPEECH_ABOVE_NOISE_DB, SPEECH_FLOOR_DB)
    voiced = active & ~np.isnan(f0)
    out = np.full(len(DESCRIPTORS), np.nan)
    if voiced.sum() >= 10:
        fv = f0[voiced]
        out[0] = _median(fv) - pitch_floor_st
        lo, hi = _quantile(fv, 0.1), _quantile(fv, 0.9)
        out[1] = hi - lo
        out[2] = _mean(tilt[voiced])
        r = np.clip(voicing[voiced], 1e-3, 0.999)
        out[3] = _mean(10 * np.log10(r / (1 - r)))
        both = voiced[1:] & voiced[:-1]
        d = np.abs(np.diff(f0))[both]
        d = d[d < 2.0]  # larger steps are intonation or octave errors, not perturbation
        out[4] = _mean(d) if len(d) else np.nan
    idx = np.flatnonzero(active)
    if len(idx):
        span = idx[-1] - idx[0] + 1
        seconds = active.sum() / 100.0
        out[6] = 1.0 - active.sum() / span  # pauses inside the speech span
        es = np.convolve(np.where(voiced, energy, -100.0), np.ones(3) / 3, mode="same")
        local_max = _running(es, 4, -100.0, np.maximum)
        local_min = _running(es, 10, np.inf, np.minimum)
        peaks = int(np.sum(voiced & (es >= local_max) & (es - local_min > 3.0)))
        out[5] = peaks / seconds
        out[7] = _breath_fraction(active & np.isnan(f0), len(active)) / max(active.mean(), 1e-6)
        out[8] = _mean(energy[active])
        both_active = active[1:] & active[:-1]
        if both_active.sum() >= 10:
            out[9] = _quantile(np.diff(energy)[both_active], 0.95)  # abrupt onsets, dB / 10 ms
    return out


def _breath_fraction(unvoiced_active: np.ndarray, n: int) -> float:
    """Share of the window in unvoiced sound runs of >= 150 ms (breaths; consonants are short)."""
    edges = np.diff(np.concatenate([[0], unvoiced_active.astype(np.int8), [0]]))
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return float(runs[runs >= 15].sum()) / n


def affect(z: np.ndarray) -> np.ndarray:
    """(arousal, valence, breathiness) from descriptor z-scores (nan counts as 0)."""
    z = np.nan_to_num(np.clip(z, -3.0, 3.0))
    return np.array([_W_AROUSAL @ z, _W_VALENCE @ z, _W_BREATH @ z])


def class_probabilities(point: np.ndarray) -> np.ndarray:
    """Ten class probabilities for an (A, V, B) point; the rest of the mass is neutral."""
    d2 = np.concatenate([((_PROTO - point) ** 2).sum(1), [(point**2).sum()]])
    logits = -d2 / (2 * PROTO_WIDTH**2)
    logits[-1] += NEUTRAL_BIAS
    p = np.exp(logits - logits.max())
    return (p / p.sum())[:N_CLASSES]


class EmotionEstimator:
    """Causal, speaker-adaptive emotion estimate of one stream, at the stream's frame rate.

    Estimates are made every 0.25 s of audio from the last 1.5 s; frame k (t = k / fps)
    carries the latest estimate made at or before t, so it uses only audio up to t, and the
    result does not depend on how the audio is chunked.
    """

    def __init__(self, fps: float) -> None:
        self.fps = float(fps)
        # Silence before the stream's start, so the first windows are plain slices too.
        self._buf = np.zeros(WIN - HOP, dtype=np.float32)
        self._offset = HOP - WIN  # stream sample index of _buf[0]
        self._samples = 0
        self._hops_done = 0
        self._feats = np.zeros((0, 4))  # last HISTORY_HOPS hop features
        self._updates: list[np.ndarray] = [np.zeros(N_CLASSES, np.float32)]  # estimate m at m*U
        self._first_update = 0  # update index of _updates[0]
        self._next_frame = 0
        self._finished = False
        self._adapt_sum = np.zeros(len(DESCRIPTORS))
        self._adapt_n = np.zeros(len(DESCRIPTORS))
        # Diagnostics of the latest speech window: descriptors and (arousal, valence, breath).
        self.last_descriptors = np.full(len(DESCRIPTORS), np.nan)
        self.last_affect = np.zeros(3)

    def push(self, pcm_f32: np.ndarray) -> None:
        """Add 16 kHz mono float audio."""
        if self._finished:
            raise RuntimeError("push() after finish()")
        pcm = np.asarray(pcm_f32, dtype=np.float32).reshape(-1)
        self._buf = np.concatenate([self._buf, pcm])
        self._samples += len(pcm)

    def analyse(self) -> None:
        """Compute the estimates the audio pushed so far allows (pop() does it when needed).

        Kept apart from push() so a daemon can run this work after it has sent the frames
        already due: an update costs about a millisecond, and streams that started together
        update together, which would hold back every other stream's frames behind them.
        """
        self._analyse()

    def finish(self) -> None:
        """The stream ended: every frame up to frames_for(samples) becomes ready."""
        self._finished = True

    def ready(self) -> int:
        """Frames whose raw estimate is known now."""
        return frames_for(self._samples, self.fps) - self._next_frame

    def pop(self, count: int) -> np.ndarray:
        """Raw probabilities (count, 10) float32 for the next `count` frames."""
        if count > self.ready():
            raise ValueError(f"pop({count}) but only {self.ready()} frames are ready")
        t_last = (self._next_frame + count - 1) * SAMPLE_RATE / self.fps
        self._analyse(upto_update=int(math.floor(t_last / (UPDATE_HOPS * HOP) + 1e-9)))
        out = np.zeros((count, N_CLASSES), dtype=np.float32)
        for i in range(count):
            t_samples = (self._next_frame + i) * SAMPLE_RATE / self.fps
            m = int(math.floor(t_samples / (UPDATE_HOPS * HOP) + 1e-9))
            out[i] = self._updates[m - self._first_update]
        self._next_frame += count
        t_next = self._next_frame * SAMPLE_RATE / self.fps
        drop = int(math.floor(t_next / (UPDATE_HOPS * HOP) + 1e-9)) - self._first_update
        if drop > 0:
            del self._updates[:drop]
            self._first_update += drop
        return out

    def _analyse(self, upto_update: int | None = None) -> None:
        """Compute the estimates that the audio so far allows, or only up to estimate
        `upto_update` (what pop() needs; the rest waits for analyse(), after the frames).

        Hop features are only needed at update times, so they are computed in blocks of
        UPDATE_HOPS (cheap: one vectorised pass per 0.25 s however small the chunks are).
        """
        while (self._samples // HOP) - self._hops_done >= UPDATE_HOPS and (
            upto_update is None or self._first_update + len(self._updates) <= upto_update
        ):
            # Window j is hops j..j+3 of the block: four shifted views, one concatenate.
            start = (self._hops_done + 1) * HOP - WIN - self._offset
            span = UPDATE_HOPS + WIN // HOP - 1
            hops = self._buf[start : start + span * HOP].astype(np.float64).reshape(span, HOP)
            windows = np.concatenate([hops[k : k + UPDATE_HOPS] for k in range(WIN // HOP)], axis=1)
            self._append(hop_features(windows))
            self._hops_done += UPDATE_HOPS
            self._updates.append(self._estimate())
        keep_from = (self._hops_done + 1) * HOP - WIN - self._offset
        if keep_from > 0:
            self._buf = self._buf[keep_from:]
            self._offset += keep_from

    def _append(self, feats: np.ndarray) -> None:
        self._feats = np.concatenate([self._feats, feats])[-HISTORY_HOPS:]

    def _estimate(self) -> np.ndarray:
        """The estimate at the current update time, from the last WINDOW_HOPS hops."""
        hist = self._feats
        window = hist[-WINDOW_HOPS:]
        energy = hist[:, 0]
        noise_db = _quantile(energy, 0.1)
        active = window[:, 0] > max(noise_db + SPEECH_ABOVE_NOISE_DB, SPEECH_FLOOR_DB)
        active_frac = active.mean()
        if active_frac < MIN_ACTIVE_FRACTION:
            return np.zeros(N_CLASSES, np.float32)
        f0_hist = hist[:, 1][~np.isnan(hist[:, 1])]
        pitch_floor = _quantile(f0_hist, 0.1) if len(f0_hist) >= 20 else np.nan
        desc = window_descriptors(window, noise_db, pitch_floor)
        known = ~np.isnan(desc)
        self._adapt_sum[known] += desc[known]
        self._adapt_n[known] += 1
        seconds = self._adapt_n * UPDATE_HOPS / 100.0
        own = self._adapt_sum / np.maximum(self._adapt_n, 1)
        baseline = (ADAPT_SECONDS * REF_MEAN + seconds * own) / (ADAPT_SECONDS + seconds)
        z = (desc - baseline) / REF_STD
        self.last_descriptors = desc
        self.last_affect = affect(z)
        probs = class_probabilities(self.last_affect)
        confidence = min(1.0, active_frac / 0.4)
        return (probs * confidence).astype(np.float32)


_EMO_SCALARS = ("emotion_contrast", "live_blend_coef", "preferred_emotion_strength",
                "emotion_strength")  # fmt: skip


class EmotionPost:
    """A2F's emotion post-processing for every stream, one row per slot (dt = 1 / fps).

    Hints from the client replace preferred_emotion from their timecode on (and are mixed in
    even when enable_preferred_emotion is 0: the client asked for them explicitly); an empty
    hint returns to preferred_emotion.
    """

    def __init__(self, fps: float) -> None:
        self.fps = float(fps)
        self.s = SlotArrays({
            "scalars": ((len(_EMO_SCALARS),), np.float64), "keep": ((), np.int64),
            "transition": ((), np.float64), "use_preferred": ((), bool),
            "preferred": ((N_CLASSES,), np.float64),
            "next_frame": ((), np.int64), "prev": ((N_CLASSES,), np.float64),
            "prev_blended": ((N_CLASSES,), np.float64), "blended": ((), bool),
            # The hint in force: whether one applies, its vector, and its timecode.
            "hinted": ((), bool), "hint": ((N_CLASSES,), np.float64),
            "hint_time": ((), np.float64), "next_hint": ((), np.float64),
        })  # fmt: skip
        # Hints not yet in force, per slot: (timecode, vector or None), sorted by time.
        self._pending: dict[int, list[tuple[float, np.ndarray | None]]] = {}

    def open(self, slot: int, params: StreamParams) -> None:
        """Start a stream in `slot`: its frame 0 comes next, from beginning_emotion."""
        s = self.s
        s.ensure(slot)
        s.next_frame[slot] = 0
        s.prev[slot] = params.beginning_emotion
        s.blended[slot] = s.hinted[slot] = False
        s.hint_time[slot] = -np.inf
        s.next_hint[slot] = np.inf
        self._pending.pop(slot, None)
        self.set_params(slot, params)

    def set_params(self, slot: int, params: StreamParams) -> None:
        """Use `params` for the stream in `slot` from its next frame on."""
        e, s = params.emotion, self.s
        s.scalars[slot] = [e[k] for k in _EMO_SCALARS]
        s.keep[slot] = int(e["max_emotions"])
        s.transition[slot] = min((1.0 / self.fps) / max(e["live_transition_time"], 1e-3), 1.0)
        s.use_preferred[slot] = bool(e["enable_preferred_emotion"])
        s.preferred[slot] = params.preferred_emotion

    def add_hint(self, slot: int, emotion: Mapping[str, float], timecode: float) -> None:
        """Use `emotion` (class name -> 0..1) for the stream in `slot` from stream time
        `timecode` (s) on."""
        t = float(timecode)
        if not math.isfinite(t) or t < 0:
            raise ParamError(f"emotion hint timecode={timecode!r} must be a finite time >= 0 s")
        vec = np.array(check_emotion_map(emotion, "emotion hint")) if emotion else None
        pending = self._pending.setdefault(slot, [])
        bisect.insort(pending, (t, vec), key=lambda h: h[0])
        self.s.next_hint[slot] = pending[0][0]

    def _apply_hints(self, slots: np.ndarray, t: np.ndarray) -> None:
        """Put in force the hints whose timecode has come (a Python loop over those only)."""
        s = self.s
        for slot, now in zip(slots.tolist(), t.tolist(), strict=True):
            pending = self._pending[slot]
            while pending and pending[0][0] <= now + 1e-9:
                when, vec = pending.pop(0)
                if when >= s.hint_time[slot]:  # an older hint can no longer apply
                    s.hint_time[slot] = when
                    s.hinted[slot] = vec is not None
                    if vec is not None:
                        s.hint[slot] = vec
            s.next_hint[slot] = pending[0][0] if pending else np.inf
            if not pending:
                del self._pending[slot]

    def step(self, slots: np.ndarray, counts: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Post-processed emotions (R, 10) float32 for raw estimates (R, 10): the next
        counts[i] frames of the stream in slots[i], rows stream after stream."""
        slots = np.asarray(slots, dtype=np.intp)
        counts = np.asarray(counts, dtype=np.intp)
        raw = np.asarray(raw, dtype=np.float64)
        if raw.shape != (int(counts.sum()), N_CLASSES):
            raise ValueError(f"raw emotions must be ({int(counts.sum())}, {N_CLASSES}), "
                             f"got {raw.shape}")  # fmt: skip
        s = self.s
        rows, _ = row_slots(slots, counts)
        sc = s.scalars[rows]
        # Contrast, rescaled to the estimate's total mass (no state: all rows at once).
        total = raw.sum(axis=1, keepdims=True)
        q = np.maximum(raw, 0.0) ** sc[:, 0:1]
        mass = q.sum(axis=1, keepdims=True)
        ok = (total > 0) & (mass > 0)  # a contrast can underflow every class to 0
        q = np.where(ok, q * (total / np.where(ok, mass, 1.0)), 0.0)
        # Keep the max_emotions largest (ties: the lower class index).
        rank = np.argsort(np.argsort(-q, axis=1, kind="stable"), axis=1, kind="stable")
        q = np.where(rank < s.keep[rows][:, None], q, 0.0)
        out = np.empty_like(q)
        starts = np.cumsum(counts) - counts
        for k in range(int(counts.max()) if len(counts) else 0):
            live = counts > k
            sl, r = slots[live], starts[live] + k
            t = (s.next_frame[sl] + k) / self.fps
            due = s.next_hint[sl] <= t + 1e-9
            if due.any():
                self._apply_hints(sl[due], t[due])
            blend, mix = sc[r, 1:2], sc[r, 2:3]
            s.prev[sl] = a = (1.0 - blend) * q[r] + blend * s.prev[sl]
            hinted = s.hinted[sl]
            target = np.where(hinted[:, None], s.hint[sl], s.preferred[sl])
            pull = (hinted | s.use_preferred[sl])[:, None]
            a = np.where(pull, (1.0 - mix) * a + mix * target, a)
            w = s.transition[sl][:, None]
            a = np.where(s.blended[sl][:, None], w * a + (1.0 - w) * s.prev_blended[sl], a)
            s.prev_blended[sl] = a
            s.blended[sl] = True
            out[r] = a * sc[r, 3:4]
        s.next_frame[slots] += counts
        return out.astype(np.float32)
