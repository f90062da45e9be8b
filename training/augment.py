"""Audio augmentation for training: noise, reverb, gain, band limits, resampling, clipping.

Everything works on 16 kHz float32 numpy audio with a numpy Generator, so a fixed seed
reproduces the exact training stream. Probabilities are per crop.
"""

from __future__ import annotations

import numpy as np
import soxr

SR = 16_000


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-9)


def _speech_rms(x: np.ndarray) -> float:
    """RMS over the loud half of 10 ms blocks, so pauses do not lower the reference."""
    n = len(x) // 160 * 160
    if n == 0:
        return _rms(x)
    e = np.mean(x[:n].reshape(-1, 160).astype(np.float64) ** 2, axis=1)
    top = e[e >= np.median(e)]
    return float(np.sqrt(top.mean()) + 1e-9)


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spec / np.sqrt(f), n)
    return (x / (x.std() + 1e-9)).astype(np.float32)


def coloured(n: int, rng: np.random.Generator) -> np.ndarray:
    """Noise with a random spectral tilt 1/f^alpha (alpha 0..2.5: white to beyond brown),
    high-passed at 20-150 Hz: rumble, traffic and fan noise that looks like voicing."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / SR)
    f[0] = 1.0
    shape = f ** (-rng.uniform(0.0, 2.5) / 2) * np.clip(f / rng.uniform(20.0, 150.0), 0, 1) ** 2
    x = np.fft.irfft(spec * shape, n)
    return (x / (x.std() + 1e-9)).astype(np.float32)


def hum(n: int, rng: np.random.Generator) -> np.ndarray:
    base = rng.choice([50.0, 60.0]) * rng.uniform(0.99, 1.01)
    t = np.arange(n) / SR
    x = np.zeros(n)
    for k in range(1, 8):
        x += rng.uniform(0.1, 1.0) / k * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 6.3))
    x += 0.05 * rng.standard_normal(n)
    return (x / (x.std() + 1e-9)).astype(np.float32)


def room_response(rng: np.random.Generator) -> np.ndarray:
    """Synthetic room impulse response: direct path, sparse early echoes, exponential tail."""
    rt60 = rng.uniform(0.15, 0.9)
    n = int(min(rt60, 0.6) * SR)
    t = np.arange(n) / SR
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    tail[: int(0.003 * SR)] = 0.0
    ir = tail * rng.uniform(0.2, 0.8)
    ir[0] = 1.0
    for _ in range(rng.integers(3, 9)):
        ir[rng.integers(int(0.002 * SR), int(0.03 * SR))] += rng.uniform(-0.6, 0.6)
    return (ir / np.sqrt(np.sum(ir**2))).astype(np.float32)


def fft_filter(x: np.ndarray, lo_hz: float, hi_hz: float) -> np.ndarray:
    """Band-pass by an FFT mask with 100 Hz cosine skirts."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / SR)
    mask = np.clip((f - lo_hz + 100) / 200, 0, 1) * np.clip((hi_hz + 100 - f) / 200, 0, 1)
    mask = 0.5 - 0.5 * np.cos(np.pi * mask)
    return np.fft.irfft(spec * mask, len(x)).astype(np.float32)


def augment(
    x: np.ndarray,
    rng: np.random.Generator,
    babble_pool: list[np.ndarray],
    noise_p: float = 0.75,
    snr_db: tuple[float, float] = (0.0, 30.0),
    kinds: tuple[str, ...] = ("white", "pink", "babble", "hum", "mix"),
) -> np.ndarray:
    """One random corruption chain for a clean crop x (n,) float32; returns (n,) float32.

    noise_p, snr_db and kinds set how often, how loud and what additive noise is (stage 2
    of training hardens the model with more, louder noise, including coloured noise).
    """
    n = len(x)
    y = x.astype(np.float32).copy()
    if rng.random() < 0.4:  # reverberation
        ir = room_response(rng)
        wet = np.fft.irfft(np.fft.rfft(y, n + len(ir)) * np.fft.rfft(ir, n + len(ir)))[:n]
        mix = rng.uniform(0.3, 1.0)
        y = (mix * wet + (1 - mix) * y).astype(np.float32)
    if rng.random() < 0.2:  # sample-rate round trip
        sr = int(rng.choice([8000, 11025, 22050, 44100]))
        y = soxr.resample(soxr.resample(y, SR, sr), sr, SR)[:n]
        y = np.pad(y, (0, n - len(y)))
    if rng.random() < 0.25:  # band limiting: telephone or a random low-pass
        if rng.random() < 0.6:
            y = fft_filter(y, 300.0, 3400.0)
        else:
            y = fft_filter(y, rng.uniform(0, 200), rng.uniform(3000, 7500))
    # Level: speech at -45 .. -8 dBFS (the +-20 dB gain range around a typical -25 dBFS).
    level_db = rng.uniform(-45.0, -8.0)
    y *= 10 ** (level_db / 20) / _speech_rms(y)
    srms = 10 ** (level_db / 20)
    if rng.random() < noise_p:  # additive noise
        kind = rng.choice(kinds)
        if kind == "white":
            noise = rng.standard_normal(n).astype(np.float32)
        elif kind == "pink":
            noise = pink(n, rng)
        elif kind == "coloured":
            noise = coloured(n, rng)
        elif kind == "hum":
            noise = hum(n, rng)
        elif kind == "babble" and babble_pool:
            noise = np.zeros(n, dtype=np.float32)
            for _ in range(rng.integers(3, 7)):
                src = babble_pool[rng.integers(len(babble_pool))]
                if len(src) > n:
                    s = rng.integers(0, len(src) - n)
                    noise += src[s : s + n] * rng.uniform(0.5, 1.0)
        elif kind == "colmix":  # white hiss over rumble, as from a cheap mic in a room
            noise = rng.standard_normal(n).astype(np.float32) + rng.uniform(0.5, 2.0) * coloured(
                n, rng
            )
        else:
            noise = rng.standard_normal(n).astype(np.float32) + pink(n, rng)
        snr = rng.uniform(*snr_db)
        y += noise / _rms(noise) * srms * 10 ** (-snr / 20)
    y += rng.standard_normal(n).astype(np.float32) * 10 ** (rng.uniform(-95, -65) / 20)  # dither
    if rng.random() < 0.15:
        y += rng.uniform(-0.05, 0.05)  # DC offset
    clip = 1.0 if rng.random() > 0.1 else 10 ** (rng.uniform(-12, 0) / 20) * np.abs(y).max()
    return np.clip(y, -clip, clip).astype(np.float32)
