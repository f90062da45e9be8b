"""The per-stream processing stages, free of sockets.

The actors wrap these objects and `facewire convert` chains them directly, so a file
converted offline and the same file streamed through the daemon go through the same code
and give the same frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facewire.engines.base import Engine
from facewire.engines.emotion import EmotionPostProcessor
from facewire.engines.emotion_model import EmotionModel, RulesModel
from facewire.engines.features import HOP_SAMPLES, SAMPLE_RATE
from facewire.engines.params import StreamParams
from facewire.engines.vad import make_vad
from facewire.engines.vad_learned import score_all


@dataclass
class LipsyncOut:
    """Frames a stream produced in one batch: lip-sync weights and voice activity."""

    first: int  # index of the first frame
    lipsync: np.ndarray  # (n, 52) float32
    speaking: np.ndarray  # (n,) bool


class _LipsyncStream:
    def __init__(self, engine: Engine, fps: float, vad: str) -> None:
        self.state = engine.new_stream()
        self.vad = make_vad(vad, fps)
        self.pending_audio: list[np.ndarray] = []
        self.pending_frames = np.zeros((0, len(engine.channel_names)), dtype=np.float32)
        self.emitted = 0
        self.final = False

    def due(self, engine: Engine, fps: float) -> bool:
        """True when the pending audio completes the stream's next frame (or it ended).

        Calling the engine earlier would only compute feature rows that no frame can use
        yet, and most of an engine call's cost is per call, not per row. The hop of slack
        keeps rounding from ever holding a frame back.
        """
        if self.final:
            return True
        if not self.pending_audio:
            return False
        produced = self.emitted + len(self.pending_frames)
        need = (produced / fps + engine.lookahead_s) * SAMPLE_RATE - HOP_SAMPLES
        return self.vad.samples >= need  # the VAD counts every sample fed


class LipsyncBatch:
    """All live streams of one engine; `run()` makes one batched engine call per tick."""

    def __init__(self, engine: Engine, vad: str = "learned") -> None:
        self.engine = engine
        self.fps = engine.fps
        self.vad = vad  # config daemon.vad: learned | silero | energy | PATH
        self._streams: dict[str, _LipsyncStream] = {}

    def __contains__(self, stream_id: str) -> bool:
        return stream_id in self._streams

    def __len__(self) -> int:
        return len(self._streams)

    def open(self, stream_id: str) -> None:
        self._streams[stream_id] = _LipsyncStream(self.engine, self.fps, self.vad)

    def feed(self, stream_id: str, pcm_f32: np.ndarray) -> None:
        st = self._streams[stream_id]
        st.pending_audio.append(pcm_f32)
        st.vad.push(pcm_f32)

    def close(self, stream_id: str) -> None:
        st = self._streams[stream_id]
        st.final = True
        st.vad.finish()

    def run(self) -> dict[str, LipsyncOut]:
        """Advance every stream whose next frame is due; finished streams are flushed and
        forgotten."""
        busy = [(sid, st) for sid, st in self._streams.items() if st.due(self.engine, self.fps)]
        outputs: dict[str, LipsyncOut] = {}
        if not busy:
            return outputs
        batch = []
        for _, st in busy:
            audio = (
                np.concatenate(st.pending_audio)
                if st.pending_audio
                else np.zeros(0, dtype=np.float32)
            )
            st.pending_audio = []
            batch.append((st.state, audio, st.final))
        results = self.engine.process(batch)
        score_all([st.vad for _, st in busy])  # the learned VAD: one call for all streams
        for (sid, st), frames in zip(busy, results, strict=True):
            if len(frames):
                st.pending_frames = np.concatenate([st.pending_frames, frames])
            n = min(len(st.pending_frames), st.vad.frames_known() - st.emitted)
            if n:
                speaking = st.vad.take(st.emitted + n)
                outputs[sid] = LipsyncOut(st.emitted, st.pending_frames[:n], speaking)
                st.pending_frames = st.pending_frames[n:]
                st.emitted += n
            if st.final:
                del self._streams[sid]
        return outputs


class EmotionStage:
    """One stream's emotion: the voice estimate, client hints, A2F post-processing.

    `model` (engines/emotion_model.py: load_emotion_model) is shared by the streams of one
    pipeline, so `catch_up_all` can estimate all of them in one batched call.
    """

    def __init__(self, params: StreamParams, fps: float, model: EmotionModel | RulesModel) -> None:
        self.model = model
        self.estimator = model.new_stream(fps)
        self.post = EmotionPostProcessor(params, fps)

    def set_params(self, params: StreamParams) -> None:
        self.post.set_params(params)

    def feed(self, pcm_f32: np.ndarray) -> None:
        self.estimator.push(pcm_f32)

    def catch_up(self) -> None:
        """Run the estimator's pending analysis now (frames() would run it when needed)."""
        self.estimator.analyse()

    def hint(self, emotion: dict[str, float], timecode: float) -> None:
        self.post.add_hint(emotion, timecode)

    @staticmethod
    def catch_up_all(stages: list[EmotionStage]) -> None:
        """catch_up() of many streams of one model, batched into one model call."""
        if stages:
            stages[0].model.analyse([s.estimator for s in stages])

    def finish(self) -> None:
        self.estimator.finish()

    def frames(self, first: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(emotions, raw) for frames first..first+n-1, both (n, 10) float32."""
        raw = self.estimator.pop(n)
        return self.post.step(raw, first), raw


def params_from(maps: dict[str, dict]) -> StreamParams:
    """StreamParams from the wire-name maps that travel in open/params messages."""
    return StreamParams.defaults().updated(**maps)


def merge_maps(base: dict[str, dict], delta: dict[str, dict]) -> dict[str, dict]:
    """Parameter maps with `delta`'s values laid over `base`'s, section by section."""
    out = {k: dict(v) for k, v in base.items()}
    for section, values in delta.items():
        out.setdefault(section, {}).update(values)
    return out


def retune(entry: tuple[Any, dict], delta: dict[str, dict]) -> tuple[Any, dict]:
    """Apply a live parameter update to an (object with set_params, maps) pair."""
    target, maps = entry
    maps = merge_maps(maps, delta)
    target.set_params(params_from(maps))
    return target, maps
