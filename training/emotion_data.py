"""Emotion corpora for training and evaluation: file lists by layout, and a feature cache.

Layouts (labels from the file names, as each corpus documents them):
- emodb:   `03a01Wa.wav`, 6th character W anger, L boredom, E disgust, A fear, F happiness,
           T sadness, N neutral; speaker = first two digits.
- ravdess: `03-01-EE-II-SS-RR-AA.wav`, EE 01 neutral, 02 calm, 03 happy, 04 sad, 05 angry,
           06 fearful, 07 disgust, 08 surprised; AA actor.
- crema-d: `1001_DFA_ANG_XX.wav`, ANG, DIS, FEA, HAP, NEU, SAD; speaker = first field.
- neutral: any speech, all neutral (read speech such as LibriSpeech); speaker = the first
           `-`/`_` field of the name.
Boredom and calm count as neutral (A2E has no class for them); surprised has no class the
network learns (A2E's amazement), so its clips are used only in evaluation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from facewire.engines import emotion_features as ef
from training.augment import augment

REPO = Path(__file__).resolve().parent.parent
SPEECH = REPO.parent / "shared" / "data" / "speech"
CACHE = REPO / "training" / "work" / "emotion_cache"
AUDIO_EXT = (".wav", ".flac")

_EMODB = {"W": "anger", "L": "neutral", "E": "disgust", "A": "fear", "F": "joy",
          "T": "sadness", "N": "neutral"}  # fmt: skip
_RAVDESS = {"01": "neutral", "02": "calm", "03": "joy", "04": "sadness", "05": "anger",
            "06": "fear", "07": "disgust", "08": "surprised"}  # fmt: skip
_CREMA = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "joy", "NEU": "neutral",
          "SAD": "sadness"}  # fmt: skip
LAYOUTS = ("emodb", "ravdess", "crema-d", "neutral")


@dataclass
class Clip:
    path: Path
    label: str  # neutral, calm, anger, joy, sadness, fear, disgust, surprised
    speaker: str
    corpus: str


def _label(layout: str, stem: str) -> tuple[str, str]:
    if layout == "emodb":
        return _EMODB[stem[5]], stem[:2]
    if layout == "ravdess":
        f = stem.split("-")
        return _RAVDESS[f[2]], f[6]
    if layout == "crema-d":
        f = stem.split("_")
        return _CREMA[f[2]], f[0]
    if layout == "neutral":
        return "neutral", stem.replace("_", "-").split("-")[0]
    raise ValueError(f"unknown layout {layout!r} (choose {', '.join(LAYOUTS)})")


def list_clips(directory: str | Path, layout: str) -> list[Clip]:
    """Every audio file under `directory` with its label and speaker, sorted by path."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SystemExit(f"--data {directory}: not a directory")
    paths = sorted(p for p in directory.rglob("*") if p.suffix.lower() in AUDIO_EXT)
    clips = []
    for p in paths:
        try:
            label, speaker = _label(layout, p.stem)
        except (KeyError, IndexError):
            raise SystemExit(f"{p}: name does not follow the {layout} layout") from None
        clips.append(Clip(p, label, f"{layout}:{speaker}", layout))
    if not clips:
        raise SystemExit(f"--data {directory}: no .wav or .flac files")
    return clips


def read16k(path: Path) -> np.ndarray:
    """Mono 16 kHz float32 audio of a file."""
    pcm, rate = sf.read(path, dtype="float32", always_2d=True)
    pcm = pcm.mean(axis=1)
    if rate != ef.SAMPLE_RATE:
        pcm = soxr.resample(pcm, rate, ef.SAMPLE_RATE).astype(np.float32)
    return pcm


def augmented(pcm: np.ndarray, seed: int) -> np.ndarray:
    """A corrupted copy: moderate pitch and tempo (a resampling of +-8 %), then noise,
    reverb, gain and band limits (training/augment.py, milder noise than lip-sync's)."""
    rng = np.random.default_rng(seed)
    factor = rng.uniform(0.92, 1.08)
    y = soxr.resample(pcm, ef.SAMPLE_RATE, ef.SAMPLE_RATE * factor).astype(np.float32)
    return augment(y, rng, [], noise_p=0.6, snr_db=(10.0, 40.0))


def features(clip: Clip, copy: int, cache: Path = CACHE) -> np.ndarray:
    """Cached ef.clip_features of copy `copy` of a clip (0 = clean, k > 0 = augmented)."""
    version = f"{ef.FEATURE_NAMES}|{ef.HOP}|{ef.WIN}|{ef.VERSION}"
    key = hashlib.sha1(f"{clip.path.resolve()}|{copy}|{version}".encode()).hexdigest()
    path = cache / f"{key[:20]}.npy"
    if path.exists():
        return np.load(path)
    pcm = read16k(clip.path)
    if copy:
        pcm = augmented(pcm, int(key[:8], 16))
    out = ef.clip_features(pcm).astype(np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out
