"""Offline conversion: recorded audio through the daemon's own Pipeline, no sockets.

Many files are converted at once as many streams of one Pipeline (daemon/pipeline.py), fed
in one-second chunks, so the engine call and the emotion/face array work of a tick are shared
by all of them. A file's frames depend only on its audio, its parameters and its stream id
(never on the files converted beside it), and equal what the daemon streams for the same id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facewire.arkit import ARKIT_NAMES, EMOTION_NAMES, HEAD_NAMES
from facewire.audio import read_audio_file
from facewire.engines.base import Engine
from facewire.engines.emotion_model import EmotionModel, RulesModel, load_emotion_model
from facewire.formats import Animation
from facewire.pipeline import Pipeline

CHUNK_S = 1.0


@dataclass
class Track:
    """One signal to convert: mono float32 at `rate` Hz, as one stream of the batch."""

    pcm: np.ndarray
    rate: int
    stream_id: str  # with the seed, keys the procedural motion (same id -> same frames)
    maps: Mapping[str, dict] = field(default_factory=dict)  # wire parameter maps
    emotion_hint: Mapping[str, float] | None = None  # applied from t = 0, as AudioChunk's


def convert_tracks(
    tracks: Sequence[Track],
    engine: Engine,
    seed: int = 0,
    vad: str = "learned",
    emotion_model: EmotionModel | RulesModel | None = None,
    progress: Callable[[float], None] | None = None,
) -> list[Animation]:
    """Animate every track at once, one stream each (their stream ids must differ).

    Args:
        seed: config daemon.seed.
        vad: voice-activity detector for the speaking flags (config daemon.vad).
        emotion_model: the emotion estimator (config daemon.emotion_model); None: builtin.
        progress: called with seconds of audio done (of all tracks) after each chunk.
    """
    ids = [t.stream_id for t in tracks]
    if len(set(ids)) != len(ids):
        raise ValueError("convert_tracks: every track needs its own stream id")
    pipe = Pipeline(engine, emotion_model or load_emotion_model(), vad=vad, seed=seed)
    rows: dict[str, list] = {sid: [] for sid in ids}
    for t in tracks:
        pipe.open(t.stream_id, t.rate, dict(t.maps))
        if t.emotion_hint:
            pipe.hint(t.stream_id, dict(t.emotion_hint), 0.0)
    pos = [0] * len(tracks)
    done = 0.0
    while len(pipe):
        for i, t in enumerate(tracks):
            if t.stream_id not in pipe:
                continue
            step = int(CHUNK_S * t.rate)
            chunk = t.pcm[pos[i] : pos[i] + step]
            if len(chunk):
                pipe.feed(t.stream_id, chunk)
                done += len(chunk) / t.rate
            pos[i] += step
            if pos[i] >= len(t.pcm):
                pipe.close(t.stream_id)
        # No batched pipe.analyse() here: each stream's emotion updates are made by its own
        # network call when its frames need them, so a file's output is bit for bit the same
        # whichever files share its batch (a batched call can differ in the last bits).
        for out in pipe.tick():
            rows[out.stream].append((out.weights, out.emotions))
        if progress:
            progress(done)
    return [_animation(rows[t.stream_id], engine.fps, t.stream_id) for t in tracks]


def _animation(rows: list, fps: float, source: str) -> Animation:
    weights = np.concatenate([w for w, _ in rows]) if rows else np.zeros((0, 55), np.float32)
    emotions = np.concatenate([e for _, e in rows]) if rows else np.zeros((0, 10), np.float32)
    return Animation(
        fps=fps,
        names=list(ARKIT_NAMES + HEAD_NAMES),
        timecodes=np.arange(len(weights)) / fps,
        weights=weights,
        emotion_names=list(EMOTION_NAMES),
        emotions=emotions,
        source=source,
    )


def convert_pcm(
    pcm_f32: np.ndarray,
    rate: int,
    engine: Engine,
    maps: Mapping[str, dict] | None = None,
    stream_id: str = "convert",
    emotion_hint: Mapping[str, float] | None = None,
    **kwargs,
) -> Animation:
    """Animate one mono float32 signal at `rate` Hz (convert_tracks' other arguments)."""
    track = Track(pcm_f32, rate, stream_id, dict(maps or {}), emotion_hint)
    return convert_tracks([track], engine, **kwargs)[0]


def read_track(
    path: str | Path,
    maps: Mapping[str, dict] | None = None,
    emotion_hint: Mapping[str, float] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Track:
    """An audio file as a Track (AudioError if it is not one); its stem is the stream id.

    `warn` receives one-line warnings about the file (see `read_audio_file`).
    """
    pcm, rate = read_audio_file(path, warn)
    return Track(pcm, rate, Path(path).stem, dict(maps or {}), emotion_hint)
