"""A model-free lip-sync engine: acoustic cues mapped to mouth shapes by hand-set rules.

It needs no weights, so it is the fallback when no model is installed and the yardstick a
trained model must beat. Per 10 ms feature frame it reads five coarse bands of the log-mel
spectrum and derives:

- loudness of the speech (noise floor subtracted per band, relative to a slow peak follower
  of the stream's own speech level, so input gain hardly matters) -> jaw opening;
- spectral balance of voiced sound: energy low in frequency (low F2, as in /u o w/) ->
  rounding (funnel, pucker); high F2 (as in /i e/) -> a slight spread (stretch, smile);
- nasal murmur (voiced, quiet, almost all energy below ~450 Hz, as in /m/) -> lip closure
  (mouthClose, mouthPress) with the jaw nearly shut; stop closures (/p b/) are simply quiet;
- silence (nothing above the tracked noise floor) -> the rest pose, every mouth shape 0.

All trackers are causal recurrences written in closed form (running max / min with a
linear drift), and every stream of a process() call goes through one set of vectorised numpy
calls (rows of all streams concatenated, recurrences kept apart per stream), so the cost of
a tick hardly grows with the number of streams and the result does not depend on chunking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from facewire.arkit import ARKIT_INDEX, ARKIT_NAMES
from facewire.engines.base import Engine, FpsResampler, frames_for
from facewire.engines.features import (
    HOP_SAMPLES,
    LOG_FLOOR,
    N_FFT,
    SAMPLE_RATE,
    WIN_SAMPLES,
    StreamingWindows,
    log_mel_windows,
    mel_filterbank,
)

_DB_PER_NEPER = 10.0 / np.log(10.0)


def _band_matrix() -> np.ndarray:
    """(N_MELS, 5) float32 averaging matrix from mel bands to the five analysis bands.

    Bands by filter centre: low (<450 Hz: voicing, nasal murmur), F1 (450-1000 Hz),
    F2-low (1-2 kHz), F2-high (2-4 kHz), fricative (>4 kHz).
    """
    fb = mel_filterbank()
    freqs = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    centre = (fb * freqs[:, None]).sum(0) / fb.sum(0)
    edges = [60.0, 450.0, 1000.0, 2000.0, 4000.0, 8000.0]
    m = np.zeros((len(centre), len(edges) - 1), dtype=np.float32)
    for b in range(len(edges) - 1):
        sel = (centre >= edges[b]) & (centre < edges[b + 1])
        m[sel, b] = 1.0 / sel.sum()
    return m


_BANDS = _band_matrix()
LOW, F1, F2LO, F2HI, FRIC = range(5)


def _sum_matrix() -> np.ndarray:
    """(5, 6) float64: band powers -> the sums the rules compare.

    Columns: voiced level (bands below 4 kHz), fricative band, low band, formant bands
    (F1 + F2), upper formants (F2 weighted to the high side), F1.
    """
    m = np.zeros((5, 6))
    m[[LOW, F1, F2LO, F2HI], 0] = 1.0
    m[FRIC, 1] = 1.0
    m[LOW, 2] = 1.0
    m[[F1, F2LO, F2HI], 3] = 1.0
    m[F2HI, 4], m[F2LO, 4] = 1.0, 0.5
    m[F1, 5] = 1.0
    return m


_SUMS = _sum_matrix()

# Trackers, in dB per 10 ms frame.
NOISE_RISE_DB = 0.03  # noise floor may climb 3 dB/s; it drops at once to any quieter frame
# A running minimum sits below the mean noise power, the more so the fewer FFT bins a band
# has (its power fluctuates more): margin per band above the minimum, set from white noise.
NOISE_BIAS_DB = np.array([8.0, 6.0, 4.0, 3.0, 3.0])
PEAK_DECAY_DB = 0.02  # speech reference level sinks 2 dB/s when nobody speaks
MIN_PEAK_OVER_NOISE_DB = 15.0  # never treat something closer to the noise than this as loud

# Cues, each a smooth 0..1 ramp over a range in dB (low, high), evaluated in one call.
LOUD_DB = (-28.0, -2.0)  # level below the speech peak -> jaw opening
PRESENT_DB = (0.0, 6.0)  # speech power over noise power -> the mouth moves at all
VOICED_DB = (0.0, 8.0)  # voiced bands over the fricative band
LOW_HEAVY_DB = (6.0, 14.0)  # low band over the formant bands: nasal murmur (/m/)
MURMUR_QUIET_DB = (-8.0, -2.0)  # level below the peak; full vowels are not murmurs
ROUND_DB = (2.0, 12.0)  # F1 band over the F2 bands: low F2, rounded lips (/u o w/)
SPREAD_DB = (-4.0, 6.0)  # F2 bands over F1: high F2, spread lips (/i e/)
_RAMP_LO, _RAMP_HI = np.array(
    [LOUD_DB, PRESENT_DB, VOICED_DB, LOW_HEAVY_DB, MURMUR_QUIET_DB, ROUND_DB, SPREAD_DB]
).T
_RAMP_SCALE = 1.0 / (_RAMP_HI - _RAMP_LO)

# Causal smoothing of the per-frame mouth parameters (weights of frames t, t-1, ...).
_SMOOTH = np.array([0.45, 0.3, 0.15, 0.1], dtype=np.float64)
_HIST = len(_SMOOTH) - 1
_JAW_MAX = 0.7
# Bound on |dB| of any tracked value (float64 powers stay within +-3100 dB).
_MAX_SPAN_DB = 8_000.0


def _mix_matrix() -> np.ndarray:
    """(5, 52) float64: mouth parameters (jaw, closure, closure-unrounded, rounding, spread)
    -> ARKit weights. Closure presses the lips; mouthClose only where the lips aren't rounded."""
    m = np.zeros((5, len(ARKIT_NAMES)))
    i = ARKIT_INDEX
    m[0, i["jawOpen"]] = 1.0
    for side in ("Left", "Right"):
        m[0, i["mouthLowerDown" + side]] = 0.35
        m[0, i["mouthUpperUp" + side]] = 0.15
        m[1, i["mouthPress" + side]] = 0.5
        m[4, i["mouthStretch" + side]] = 0.25
        m[4, i["mouthSmile" + side]] = 0.15
    m[2, i["mouthClose"]] = 0.8
    m[3, i["mouthFunnel"]] = 0.5
    m[3, i["mouthPucker"]] = 0.6
    return m


_MIX = _mix_matrix()


@dataclass
class DspStream:
    """Per-stream state of DspEngine."""

    fps: float
    windows: StreamingWindows = field(default_factory=StreamingWindows)
    resampler: FpsResampler = field(init=False)
    noise_db: np.ndarray = field(default_factory=lambda: np.full(5, 300.0))  # running minima
    peak_db: float = -300.0  # running speech peak
    history: np.ndarray = field(default_factory=lambda: np.zeros((_HIST, 4)))  # last params
    samples: int = 0
    frames_out: int = 0

    def __post_init__(self) -> None:
        self.resampler = FpsResampler(self.fps, len(ARKIT_NAMES))


class _Rows:
    """Where each stream's rows sit in arrays that concatenate several streams' frames."""

    def __init__(self, counts: list[int]) -> None:
        self.counts = np.asarray(counts)
        n_streams, ends = len(counts), np.cumsum(self.counts)
        self.starts = ends - self.counts
        self.last = ends - 1  # (S,) each stream's last row
        stream = np.repeat(np.arange(n_streams), self.counts)  # (R,) stream of each row
        self.j = (np.arange(ends[-1]) - self.starts[stream]).astype(np.float64)[:, None]
        self.stream = stream
        # Each stream's span of the value axis must stay clear of the others' (running_min).
        self.shift = (_MAX_SPAN_DB + self.j.max()) * stream[:, None].astype(np.float64)
        # Layout for smoothing: every stream's history rows just before its own rows.
        self.padded = np.arange(ends[-1]) + _HIST * (stream + 1)  # (R,)
        self.hist_at = (self.starts + _HIST * np.arange(n_streams))[:, None] + np.arange(_HIST)
        self.tail_at = self.hist_at + self.counts[:, None]  # (S, _HIST) last rows of each

    def running_min(self, x: np.ndarray, start: np.ndarray, rise: float) -> np.ndarray:
        """Per stream y[j] = min(x[j], y[j-1] + rise), y[-1] = start; x (R, B), start (S, B).

        One cumulative minimum serves all streams: each stream is shifted below every earlier
        one by more than the span of the values, so no earlier stream's value can win.
        """
        drifted = x - rise * self.j - self.shift
        inner = np.minimum.accumulate(drifted, axis=0) + self.shift + rise * self.j
        return np.minimum(inner, start[self.stream] + rise * (self.j + 1.0))

    def running_max(self, x: np.ndarray, start: np.ndarray, decay: float) -> np.ndarray:
        """Per stream y[j] = max(x[j], y[j-1] - decay), y[-1] = start; x (R, B), start (S, B)."""
        return -self.running_min(-x, -start, decay)

    def smooth(self, params: np.ndarray, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Causal FIR `_SMOOTH` over each stream's rows, continuing from its last rows.

        Args:
            params: (R, P) float64 rows of all streams.
            history: (S, _HIST, P) float64 last rows of each stream before these.

        Returns:
            (R, P) smoothed rows and the (S, _HIST, P) new history.
        """
        ext = np.empty((len(params) + history.shape[0] * _HIST, params.shape[1]))
        ext[self.hist_at] = history
        ext[self.padded] = params
        out = _SMOOTH[0] * params
        for m in range(1, len(_SMOOTH)):
            out += _SMOOTH[m] * ext[self.padded - m]
        return out, ext[self.tail_at]


class DspEngine(Engine):
    """Rule-based lip-sync from loudness and spectral balance; no model, negligible cost."""

    name = "dsp"
    model_id = "dsp-rules-1"

    @property
    def lookahead_s(self) -> float:
        # A frame interpolates feature frames floor(t*100) and the next one (<= 10 ms ahead),
        # and that feature frame's window reaches half a window past its centre.
        return (HOP_SAMPLES + WIN_SAMPLES // 2) / SAMPLE_RATE

    def new_stream(self) -> DspStream:
        return DspStream(self.fps)

    def process(self, batch: Sequence[tuple[DspStream, np.ndarray, bool]]) -> list[np.ndarray]:
        busy, counts, windows = [], [], []
        for st, pcm, final in batch:
            pcm_f32 = np.asarray(pcm, dtype=np.float32).reshape(-1)
            st.windows.push(pcm_f32)
            st.samples += len(pcm_f32)
            limit = None
            if final:
                st.windows.finish()
                limit = st.resampler.feature_frames_needed(frames_for(st.samples, self.fps))
            n = st.windows.ready(limit)
            if n:
                busy.append(st)
                counts.append(n)
                windows.append(st.windows.take(n))
        if busy:
            weights = _weights(busy, _Rows(counts), log_mel_windows(np.concatenate(windows)))
            for st, w in zip(busy, np.split(weights, np.cumsum(counts)[:-1]), strict=True):
                st.resampler.push(w)
        out = []
        for st, _pcm, final in batch:
            limit = frames_for(st.samples, self.fps)
            frames = st.resampler.pop(limit)
            st.frames_out += len(frames)
            if final and st.frames_out != limit:
                raise RuntimeError(f"stream ended with {st.frames_out} frames, not {limit}")
            out.append(frames)
        return out


def _weights(streams: list[DspStream], rows: _Rows, logmel_f32: np.ndarray) -> np.ndarray:
    """(R, 52) float32 weights at 100 Hz from (R, N_MELS) log-mel rows; advances `streams`."""
    # Undo the features' log floor: it would act as a fixed noise at about -70 dBFS and make
    # quiet input look noisier than the same input played louder.
    mel = np.maximum(np.exp(logmel_f32.astype(np.float64)) - LOG_FLOOR, 0.0)
    band = mel @ _BANDS
    floor_db = rows.running_min(
        np.log(band + 1e-14) * _DB_PER_NEPER,
        np.stack([st.noise_db for st in streams]),
        NOISE_RISE_DB,
    )
    noise = np.exp((floor_db + NOISE_BIAS_DB) / _DB_PER_NEPER)
    speech = np.maximum(band - noise, 0.0)  # per-band power above the noise
    sums = speech @ _SUMS  # (R, 6), see _sum_matrix
    sums_db = np.log(sums + 1e-12) * _DB_PER_NEPER
    level_db = sums_db[:, :1]
    noise_db = np.log(noise[:, :FRIC].sum(1, keepdims=True)) * _DB_PER_NEPER
    peak = rows.running_max(level_db, np.array([[st.peak_db] for st in streams]), PEAK_DECAY_DB)
    below_ref = level_db - np.maximum(peak, noise_db + MIN_PEAK_OVER_NOISE_DB)
    snr_db = np.log(sums[:, :1] / noise[:, :FRIC].sum(1, keepdims=True) + 1e-6) * _DB_PER_NEPER
    cues = np.concatenate(
        [
            below_ref,  # LOUD_DB
            snr_db,  # PRESENT_DB
            level_db - sums_db[:, 1:2],  # VOICED_DB
            sums_db[:, 2:3] - sums_db[:, 3:4],  # LOW_HEAVY_DB
            below_ref,  # MURMUR_QUIET_DB
            sums_db[:, 5:6] - sums_db[:, 4:5],  # ROUND_DB
            sums_db[:, 4:5] - sums_db[:, 5:6],  # SPREAD_DB
        ],
        axis=1,
    )
    u = np.minimum(np.maximum((cues - _RAMP_LO) * _RAMP_SCALE, 0.0), 1.0)
    loud, present, voiced, low_heavy, quiet, rnd, spr = (u * u * (3.0 - 2.0 * u)).T

    nasal = voiced * low_heavy * (1.0 - quiet) * present
    gate = present * voiced * loud * (1.0 - nasal)
    params = np.stack(
        [
            _JAW_MAX * present * loud * (1.0 - nasal),
            nasal,
            gate * rnd,
            present * voiced * loud * spr,
        ],
        axis=1,
    )
    params, history = rows.smooth(params, np.stack([st.history for st in streams]))
    for st, last, hist in zip(streams, rows.last, history, strict=True):
        st.noise_db, st.peak_db, st.history = floor_db[last], float(peak[last, 0]), hist
    jaw, close, rnd, spr = params.T
    shapes = np.stack([jaw, close, close * (1.0 - rnd), rnd, spr], axis=1)
    return np.clip(shapes @ _MIX, 0.0, 1.0).astype(np.float32)
