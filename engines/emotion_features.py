"""Per-hop voice features of the learned emotion model, and the speaker's running baseline.

Training (training/emotion.py) and run time (engines/emotion_model.py) share this module, so
the network sees at run time exactly the features it was trained on.

Hop j (20 ms) is the causal 40 ms window of samples [(j + 1) * HOP - WIN, (j + 1) * HOP).
Each hop gives N_FEATURES numbers: 32 log-mel bands, energy, pitch, voicing, harmonics-to-
noise ratio, spectral tilt, and two perturbation cues (jitter-like: the pitch step from the
previous voiced hop; shimmer-like: the energy step from the previous hop). A stream's features
are normalised against that stream's own running statistics, blended with a corpus prior
until enough of its speech has been heard: emotion is a departure from the speaker's habit,
and a live stream is one voice for minutes.
"""

from __future__ import annotations

import numpy as np

from facewire.engines.features import mel_filterbank

SAMPLE_RATE = 16_000
HOP = 320  # 20 ms
WIN = 640  # 40 ms, long enough for two periods of a 70 Hz voice
N_FFT = 1024  # exact autocorrelation for lags < N_FFT - WIN = 384 samples (f0 > 42 Hz)
N_MELS = 32
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
# Columns measured only on voiced hops (elsewhere they read as the baseline: z = 0).
VOICED_COLS = np.array([FEATURE_NAMES.index(n) for n in ("f0", "jitter")])

_HANN = np.hanning(WIN + 2)[1:-1]
_FREQS = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
_MEL_FB = mel_filterbank(N_MELS, N_FFT).astype(np.float64)
_LOW = slice(*np.flatnonzero((_FREQS >= 80) & (_FREQS < 1000))[[0, -1]] + [0, 1])
_HIGH = slice(*np.flatnonzero((_FREQS >= 1000) & (_FREQS < 4000))[[0, -1]] + [0, 1])
_WIN_AC = np.fft.irfft(np.abs(np.fft.rfft(_HANN, N_FFT)) ** 2, N_FFT)
_LAG_MIN = int(SAMPLE_RATE / F0_MAX)
_LAG_MAX = int(np.ceil(SAMPLE_RATE / F0_MIN))


def hop_windows(pcm: np.ndarray, first_hop: int, count: int, offset: int) -> np.ndarray:
    """(count + 1, WIN) float64 windows of hops first_hop - 1 .. first_hop + count - 1 from
    pcm (pcm[0] is stream sample `offset`; samples before the stream are zeros in pcm).

    The extra hop in front gives the first hop's perturbation steps their predecessor, so a
    block's features equal those of the whole signal. The caller keeps the samples from
    first_hop * HOP - WIN on.
    """
    start = first_hop * HOP - WIN - offset
    span = count + WIN // HOP
    hops = pcm[start : start + span * HOP].astype(np.float64).reshape(span, HOP)
    return np.concatenate([hops[k : k + count + 1] for k in range(WIN // HOP)], axis=1)


def clip_features(pcm_f32: np.ndarray) -> np.ndarray:
    """Features (len // HOP, N_FEATURES) of a whole signal, as a stream starting with it has."""
    count = len(pcm_f32) // HOP
    padded = np.concatenate([np.zeros(WIN, np.float32), np.asarray(pcm_f32, np.float32)])
    if count == 0:
        return np.zeros((0, N_FEATURES))
    return hop_features(hop_windows(padded, 0, count, -WIN))[1:]


def hop_features(windows: np.ndarray) -> np.ndarray:
    """Raw features (n, N_FEATURES) float64 of (n, WIN) windows of consecutive hops; f0 and
    jitter are nan on unvoiced hops. The perturbation columns hold the step from the previous
    row (meaningless in the first row, which callers drop)."""
    n = len(windows)
    spec = np.fft.rfft(windows * _HANN, N_FFT, axis=1)
    power_c = spec * spec.conj()  # complex, so irfft needs no conversion
    power = np.ascontiguousarray(power_c.real)  # a strided view makes the matmul 10x slower
    out = np.empty((n, N_FEATURES))
    out[:, :N_MELS] = 10.0 * np.log10(power @ _MEL_FB + 1e-10)
    energy = 10.0 * np.log10((windows**2).mean(1) + 1e-10)
    out[:, ENERGY_COL] = energy
    ac = np.fft.irfft(power_c, N_FFT, axis=1)[:, : _LAG_MAX + 1]
    ac = ac / np.maximum(ac[:, :1], 1e-12) / (_WIN_AC[: _LAG_MAX + 1] / _WIN_AC[0])
    seg = ac[:, _LAG_MIN:]
    k = np.argmax(seg, axis=1)
    voicing = np.clip(seg[np.arange(n), k], 0.0, 1.0)
    f0 = 12.0 * np.log2(SAMPLE_RATE / (k + _LAG_MIN) / 100.0)
    voiced = (voicing >= VOICING_THRESHOLD) & (energy > SPEECH_FLOOR_DB)
    out[:, F0_COL] = np.where(voiced, f0, np.nan)
    out[:, F0_COL + 1] = voicing
    r = np.clip(voicing, 1e-3, 0.999)
    out[:, F0_COL + 2] = 10.0 * np.log10(r / (1.0 - r))
    out[:, F0_COL + 3] = 10.0 * np.log10(
        (power[:, _HIGH].sum(1) + 1e-12) / (power[:, _LOW].sum(1) + 1e-12)
    )
    step = np.abs(np.diff(out[:, F0_COL], prepend=np.nan))
    out[:, F0_COL + 4] = np.where(step < 2.0, step, np.where(voiced, 0.0, np.nan))
    out[:, F0_COL + 5] = np.minimum(np.abs(np.diff(energy, prepend=energy[:1])), 20.0)
    return out


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
    """Network input (n, N_FEATURES) float32: z-scores, clipped to +-5; 0 on hops that are
    not speech and on voiced-only columns of unvoiced hops."""
    z = np.clip((feats - mean) / std, -5.0, 5.0)
    z = np.where(np.isnan(z) | ~active[:, None], 0.0, z)
    return z.astype(np.float32)
