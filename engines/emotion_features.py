"""Per-hop voice features of the learned emotion model, and the speaker's running baseline.

Training (training/emotion.py) and run time (engines/emotion_model.py) share this module, so
the network sees at run time exactly the features it was trained on.

Hop j (40 ms) is the causal 40 ms window of samples [(j + 1) * HOP - WIN, (j + 1) * HOP):
windows touch but do not overlap, which halves the cost of 20 ms hops (the spectrum and the
autocorrelation are most of it) for statistics over 1.6 s that barely change.
Each hop gives N_FEATURES numbers: 32 log-mel bands, energy, pitch, voicing, harmonics-to-
noise ratio, spectral tilt, and two perturbation cues (jitter-like: the pitch step from the
previous voiced hop, 40 ms earlier; shimmer-like: the energy step from the previous hop).
A stream's features are normalised against that stream's own running statistics, blended
with a corpus prior until enough of its speech has been heard: emotion is a departure from
the speaker's habit, and a live stream is one voice for minutes.
"""

from __future__ import annotations

import numpy as np

from facewire.engines.features import mel_filterbank
from facewire.pcm import SAMPLE_RATE

HOP = 640  # 40 ms
WIN = 640  # 40 ms, long enough for two periods of a 70 Hz voice
N_FFT = 1024  # exact autocorrelation for lags < N_FFT - WIN = 384 samples (f0 > 42 Hz)
N_MELS = 32
VERSION = 2  # of the feature computation: training caches are keyed by it
F0_MIN, F0_MAX = 70.0, 500.0
VOICING_THRESHOLD = 0.45  # normalised autocorrelation peak that counts as voiced
SPEECH_FLOOR_DB = -55.0  # dBFS: quieter hops are never speech
SPEECH_ABOVE_NOISE_DB = 10.0  # speech is this far above the stream's noise floor
FEATURE_NAMES = tuple(f"mel{i}" for i in range(N_MELS)) + (
    "energy", "f0", "voicing", "hnr", "tilt", "jitter", "shimmer",
)  # fmt: skip
N_FEATURES = len(FEATURE_NAMES)
F0_COL = FEATURE_NAMES.index("f0")
ENERGY_COL = FEATURE_NAMES.index("energy")
JITTER_COL = FEATURE_NAMES.index("jitter")
SHIMMER_COL = FEATURE_NAMES.index("shimmer")
# The raw row of a hop of digital silence (the hop before a stream's first).
SILENT_ROW = np.full(N_FEATURES, np.nan)
SILENT_ROW[ENERGY_COL] = -100.0

_HANN = np.hanning(WIN + 2)[1:-1]
_FREQS = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
# C order: numpy's matmul is 20x slower with the filterbank's transposed (F-order) view.
_MEL_FB = np.ascontiguousarray(mel_filterbank(N_MELS, N_FFT), dtype=np.float64)
_LOW = slice(*np.flatnonzero((_FREQS >= 80) & (_FREQS < 1000))[[0, -1]] + [0, 1])
_HIGH = slice(*np.flatnonzero((_FREQS >= 1000) & (_FREQS < 4000))[[0, -1]] + [0, 1])
_AC_RATE = SAMPLE_RATE // 2  # the autocorrelation's sampling rate (_pitch)
_AC_N = N_FFT // 2
_AC_BINS = _AC_N // 2 + 1
_LAG_MIN = int(_AC_RATE / F0_MAX)
_LAG_MAX = int(np.ceil(_AC_RATE / F0_MIN))
_WIN_AC = np.fft.irfft(np.abs(np.fft.rfft(_HANN, N_FFT)[:_AC_BINS]) ** 2, _AC_N)
_WIN_AC = (_WIN_AC / _WIN_AC[0])[: _LAG_MAX + 2]
# Praat's octave cost: a peak one octave lower must be 3 % higher to win (no period doubling).
_OCTAVE_WEIGHT = 1.0 - 0.03 * np.log2(np.arange(_LAG_MIN, _LAG_MAX + 1) / _LAG_MIN)


def hop_windows(pcm: np.ndarray, first_hop: int, count: int, offset: int) -> np.ndarray:
    """(count, WIN) float64 windows of hops first_hop.. from pcm (pcm[0] is stream sample
    `offset`; samples before the stream are zeros in pcm). The caller keeps the samples from
    (first_hop + 1) * HOP - WIN on."""
    start = (first_hop + 1) * HOP - WIN - offset
    span = count + WIN // HOP - 1
    hops = pcm[start : start + span * HOP].astype(np.float64).reshape(span, HOP)
    return np.concatenate([hops[k : k + count] for k in range(WIN // HOP)], axis=1)


def clip_features(pcm_f32: np.ndarray) -> np.ndarray:
    """Features (len // HOP, N_FEATURES) of a whole signal, as a stream starting with it has."""
    count = len(pcm_f32) // HOP
    if count == 0:
        return np.zeros((0, N_FEATURES))
    padded = np.concatenate([np.zeros(WIN - HOP, np.float32), np.asarray(pcm_f32, np.float32)])
    feats = hop_features(hop_windows(padded, 0, count, HOP - WIN))
    add_steps(feats, SILENT_ROW)
    return feats


def hop_features(windows: np.ndarray) -> np.ndarray:
    """Raw features (n, N_FEATURES) float64 of (n, WIN) windows; f0 is nan on unvoiced hops.

    Hops at or below SPEECH_FLOOR_DB are never speech, so only their energy is measured (the
    rest is nan; normalise() zeroes such hops anyway): the spectrum is most of the cost. The
    perturbation columns are left for add_steps, which needs each stream's previous hop (the
    windows of one call may come from many streams).
    """
    out = np.full((len(windows), N_FEATURES), np.nan)
    energy = 10.0 * np.log10((windows**2).mean(1) + 1e-10)
    out[:, ENERGY_COL] = energy
    out[:, F0_COL + 1] = 0.0
    loud = np.flatnonzero(energy > SPEECH_FLOOR_DB)
    if len(loud) == 0:
        return out
    spec = np.fft.rfft(windows[loud] * _HANN, N_FFT, axis=1)
    power = spec.real**2 + spec.imag**2
    out[loud, :N_MELS] = 10.0 * np.log10(power @ _MEL_FB + 1e-10)
    out[loud, F0_COL + 3] = 10.0 * np.log10(
        (power[:, _HIGH].sum(1) + 1e-12) / (power[:, _LOW].sum(1) + 1e-12)
    )
    f0, voicing = _pitch(power)
    out[loud, F0_COL] = np.where(voicing >= VOICING_THRESHOLD, f0, np.nan)
    out[loud, F0_COL + 1] = voicing
    r = np.clip(out[:, F0_COL + 1], 1e-3, 0.999)
    out[:, F0_COL + 2] = 10.0 * np.log10(r / (1.0 - r))
    return out


def _pitch(power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F0 (semitones re 100 Hz) and voicing (0..1) from power spectra (m, N_FFT // 2 + 1).

    The autocorrelation is the inverse transform of the power below 4 kHz, at 8 kHz (half
    the cost of the full band; voice pitch lives well below 4 kHz), corrected for the window
    (Boersma 1993); a parabola through the peak restores sub-sample lag precision.
    """
    m = len(power)
    ac = np.fft.irfft(power[:, :_AC_BINS], _AC_N, axis=1)[:, : _LAG_MAX + 2]
    ac = ac / np.maximum(ac[:, :1], 1e-12) / _WIN_AC
    seg = ac[:, _LAG_MIN : _LAG_MAX + 1]
    k = np.argmax(seg * _OCTAVE_WEIGHT, axis=1)
    rows = np.arange(m)
    peak = seg[rows, k]
    a = ac[rows, k + _LAG_MIN - 1]
    c = ac[rows, k + _LAG_MIN + 1]
    denom = a - 2 * peak + c
    shift = np.where(denom < 0, 0.5 * (a - c) / np.where(denom < 0, denom, -1.0), 0.0)
    lag = k + _LAG_MIN + np.clip(shift, -0.5, 0.5)
    f0 = 12.0 * np.log2(_AC_RATE / lag / 100.0)
    return f0, np.clip(peak, 0.0, 1.0)


def add_steps(feats: np.ndarray, prev: np.ndarray) -> None:
    """Fill the perturbation columns of consecutive hops `feats` (n, N_FEATURES) in place;
    `prev` is the raw row of the hop before them (SILENT_ROW before a stream's start).
    Jitter-like: the pitch step from the previous hop when both are voiced (steps of 2
    semitones or more are intonation or octave errors: 0); nan when this hop is unvoiced.
    Shimmer-like: the energy step from the previous hop, at most 20 dB."""
    f0 = np.concatenate([prev[F0_COL : F0_COL + 1], feats[:, F0_COL]])
    energy = np.concatenate([prev[ENERGY_COL : ENERGY_COL + 1], feats[:, ENERGY_COL]])
    step = np.abs(np.diff(f0))
    voiced = ~np.isnan(feats[:, F0_COL])
    feats[:, JITTER_COL] = np.where(step < 2.0, step, np.where(voiced, 0.0, np.nan))
    feats[:, SHIMMER_COL] = np.minimum(np.abs(np.diff(energy)), 20.0)


def active_mask(energy: np.ndarray, noise_db: float) -> np.ndarray:
    """Hops that are speech: loud enough above the floor and the stream's noise."""
    return energy > max(noise_db + SPEECH_ABOVE_NOISE_DB, SPEECH_FLOOR_DB)


def noise_floor(energy_history: np.ndarray) -> float:
    """The stream's noise floor (dBFS): the 10th percentile of recent hop energies."""
    k = int(0.1 * len(energy_history))
    return float(np.partition(energy_history, k)[k])


class Baseline:
    """Running sums of a speaker's speech features, for normalisation.

    The baseline is the prior (mean, var) weighted as `prior_hops` hops of speech, blended
    with what the stream has said: mean = (P * prior + sum) / (P + n), and the same for the
    second moment. Voiced-only columns count only voiced hops.
    """

    def __init__(self, prior_mean: np.ndarray, prior_std: np.ndarray, prior_hops: float) -> None:
        self.prior_mean = prior_mean
        self.prior_m2 = prior_std**2 + prior_mean**2
        self.prior_hops = prior_hops
        self.n = np.zeros(N_FEATURES)
        self.s1 = np.zeros(N_FEATURES)
        self.s2 = np.zeros(N_FEATURES)

    def add(self, feats: np.ndarray) -> None:
        """Count the speech hops `feats` (m, N_FEATURES); nan entries are skipped."""
        known = ~np.isnan(feats)
        x = np.where(known, feats, 0.0)
        self.n += known.sum(0)
        self.s1 += x.sum(0)
        self.s2 += (x * x).sum(0)

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        w = self.prior_hops + self.n
        mean = (self.prior_hops * self.prior_mean + self.s1) / w
        m2 = (self.prior_hops * self.prior_m2 + self.s2) / w
        return mean, np.sqrt(np.maximum(m2 - mean**2, 1e-2))


def normalise(feats: np.ndarray, active: np.ndarray, mean: np.ndarray, std: np.ndarray):
    """Network input (..., n, N_FEATURES) float32 of raw hops (..., n, N_FEATURES) with
    their speech flags (..., n) and baselines (..., N_FEATURES): z-scores, clipped to +-5;
    0 on hops that are not speech and on voiced-only columns of unvoiced hops."""
    z = np.clip((feats - mean[..., None, :]) / std[..., None, :], -5.0, 5.0)
    z = np.where(np.isnan(z) | ~active[..., None], 0.0, z)
    return z.astype(np.float32)
