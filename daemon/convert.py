"""Offline conversion: a recorded file through the daemon's own stages, no sockets.

The audio goes through the same StreamResampler, LipsyncBatch, EmotionStage and
FaceAnimator that the actors use, in one-second chunks, so a converted file and the same
file streamed to the daemon give the same frames, and memory stays flat for long files.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from facewire.arkit import ARKIT_NAMES, EMOTION_NAMES, HEAD_NAMES
from facewire.audio import StreamResampler, read_audio_file
from facewire.engines.base import Engine
from facewire.engines.emotion_model import EmotionModel, RulesModel, load_emotion_model
from facewire.engines.face import FaceAnimator
from facewire.formats import Animation
from facewire.stages import EmotionStage, LipsyncBatch, params_from

CHUNK_S = 1.0


def face_seed(seed: int, stream_id: str) -> int:
    """Per-stream seed: blinks stay deterministic but differ between speakers."""
    return seed ^ zlib.crc32(stream_id.encode())


def convert_pcm(
    pcm_f32: np.ndarray,
    rate: int,
    engine: Engine,
    maps: Mapping[str, dict] | None = None,
    stream_id: str = "convert",
    seed: int = 0,
    emotion_hint: Mapping[str, float] | None = None,
    progress: Callable[[float], None] | None = None,
    vad: str = "learned",
    emotion_model: EmotionModel | RulesModel | None = None,
) -> Animation:
    """Animate one mono float32 signal at `rate` Hz.

    Args:
        maps: parameter maps as on the wire (face, emotion, multipliers, offsets, ...).
        stream_id: used for the per-stream blink seed (same id -> same frames as streaming).
        emotion_hint: a client emotion applied from t = 0, as AudioChunk.emotion would be.
        progress: called with seconds of audio done after each chunk.
        vad: voice-activity detector for the speaking flags (config daemon.vad).
        emotion_model: the emotion estimator (config daemon.emotion_model); None: builtin.
    """
    maps = dict(maps or {})
    params = params_from(maps)
    gain = np.float32(params.face["input_strength"])
    resampler = StreamResampler(rate, engine.fps)
    lipsync = LipsyncBatch(engine, vad)
    lipsync.open(stream_id)
    emotion = EmotionStage(params, engine.fps, emotion_model or load_emotion_model())
    if emotion_hint:
        emotion.hint(dict(emotion_hint), 0.0)
    face = FaceAnimator(params, engine.fps, face_seed(seed, stream_id))
    rows: list[np.ndarray] = []
    emo_rows: list[np.ndarray] = []

    def consume(final: bool) -> None:
        for out in lipsync.run().values():
            if final:
                emotion.finish()
            emotions, _raw = emotion.frames(out.first, len(out.lipsync))
            rows.append(face.step(out.lipsync, emotions, out.speaking, out.first))
            emo_rows.append(emotions)

    step = int(CHUNK_S * rate)
    for pos in range(0, len(pcm_f32), step):
        pcm16 = resampler.process(pcm_f32[pos : pos + step]) * gain
        lipsync.feed(stream_id, pcm16)
        emotion.feed(pcm16)
        consume(final=False)
        if progress:
            progress(min(len(pcm_f32), pos + step) / rate)
    tail = resampler.process(np.zeros(0, dtype=np.float32), last=True) * gain
    lipsync.feed(stream_id, tail)
    emotion.feed(tail)
    lipsync.close(stream_id)
    consume(final=True)
    weights = np.concatenate(rows) if rows else np.zeros((0, 55), np.float32)
    emotions = np.concatenate(emo_rows) if emo_rows else np.zeros((0, 10), np.float32)
    return Animation(
        fps=engine.fps,
        names=list(ARKIT_NAMES + HEAD_NAMES),
        timecodes=np.arange(len(weights)) / engine.fps,
        weights=weights,
        emotion_names=list(EMOTION_NAMES),
        emotions=emotions,
        source=stream_id,
    )


def convert_file(
    path: str | Path,
    engine: Engine,
    warn: Callable[[str], None] | None = None,
    **kwargs,
) -> Animation:
    """Read an audio file (AudioError if it is not one) and animate it.

    `warn` receives one-line warnings about the file (see `read_audio_file`); the
    animation's `source` is the audio path, as A2F's `trackPath` expects.
    """
    pcm, rate = read_audio_file(path, warn)
    kwargs.setdefault("stream_id", Path(path).stem)
    anim = convert_pcm(pcm, rate, engine, **kwargs)
    anim.source = str(path)
    return anim
