"""The per-stream pipeline over a stream table: what the daemon, each worker and
`facewire convert` run.

`Pipeline` holds every live stream in a slot: `open / feed / set_params / close`, then
`tick()` advances every stream whose next frame is due, in one pass: resampling to 16 kHz
(one soxr stream per stream, so no clicks at chunk boundaries), one batched engine call for
lip-sync, voice activity, the emotion estimate, then A2F's emotion post-processing and the
face rig over all due streams at once as (rows x classes) and (rows x 52) array work
(engines/emotion.py: EmotionPost, engines/face.py: FaceRig). Gain (input_strength), the
procedural-motion key (seed, stream id) and end-of-stream flushing live here and nowhere
else, so a stream's frames are the same whether it is streamed or converted, whatever its
chunking and whichever streams share its ticks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facewire.audio import StreamResampler
from facewire.config import Config, ConfigError
from facewire.engines.base import Engine
from facewire.engines.emotion import EmotionPost
from facewire.engines.emotion_model import (
    EmotionModel,
    EmotionModelError,
    RulesModel,
    load_emotion_model,
)
from facewire.engines.face import FaceRig
from facewire.engines.features import HOP_SAMPLES, SAMPLE_RATE
from facewire.engines.noise import stream_key
from facewire.engines.params import StreamParams
from facewire.engines.vad import make_vad
from facewire.engines.vad_learned import score_all


def emotion_model(cfg: Config) -> EmotionModel | RulesModel:
    """The estimator daemon.emotion_model names; a file that is not one is a ConfigError."""
    try:
        return load_emotion_model(cfg.daemon.emotion_model)
    except EmotionModelError as exc:
        raise ConfigError(f"daemon.emotion_model: {exc}") from None


def engine_info(engine: Engine) -> dict:
    """What StreamStarted and `status` say about the engine."""
    return {
        "engine": engine.name,
        "model_id": engine.model_id,
        "fps": engine.fps,
        "lookahead_ms": engine.lookahead_s * 1000,
    }


def params_from(maps: dict[str, dict]) -> StreamParams:
    """StreamParams from the wire-name maps that travel in open/params messages."""
    return StreamParams.defaults().updated(**maps)


def merge_maps(base: dict[str, dict], delta: dict[str, dict]) -> dict[str, dict]:
    """Parameter maps with `delta`'s values laid over `base`'s, section by section."""
    out = {k: dict(v) for k, v in base.items()}
    for section, values in delta.items():
        out.setdefault(section, {}).update(values)
    return out


@dataclass
class StreamFrames:
    """The frames one stream produced in one tick; `final`: the stream ended with them."""

    stream: str
    first: int  # index of the first frame
    weights: np.ndarray  # (n, 55) float32: 52 ARKit weights + head yaw/pitch/roll
    emotions: np.ndarray  # (n, 10) float32, post-processed
    emotions_raw: np.ndarray  # (n, 10) float32, the estimator's
    speaking: np.ndarray  # (n,) bool
    final: bool
    arrival_ns: int  # newest audio arrival stamp of the stream (ns), 0 if none


@dataclass
class _Stream:
    """What a slot holds that is not array state: per-stream DSP objects and buffers."""

    sid: str
    slot: int
    resampler: StreamResampler
    maps: dict
    gain: np.float32
    state: object  # the engine's per-stream state
    vad: object  # engines/vad.py, behind make_vad
    estimator: object  # the emotion model's per-stream estimator
    pending_audio: list[np.ndarray] = field(default_factory=list)
    pending_frames: np.ndarray | None = None
    emitted: int = 0
    final: bool = False
    arrival_ns: int = 0


class Pipeline:
    """Every live stream of one engine; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        emotion: EmotionModel | RulesModel,
        vad: str = "learned",
        seed: int = 0,
    ) -> None:
        self.engine = engine
        self.fps = engine.fps
        self.emotion = emotion  # shared by all streams: analyse() makes one batched call
        self.vad = vad  # config daemon.vad: learned | silero | energy | PATH.npz
        self.seed = seed  # config daemon.seed: with the stream id, keys procedural motion
        self.face = FaceRig(self.fps)
        self.post = EmotionPost(self.fps)
        self._streams: dict[str, _Stream] = {}
        self._free: list[int] = []  # slots of ended streams, reused lowest first
        self._slots = 0

    def __contains__(self, stream_id: str) -> bool:
        return stream_id in self._streams

    def __len__(self) -> int:
        return len(self._streams)

    def open(self, stream_id: str, rate: int, maps: dict[str, dict] | None = None) -> None:
        """Start a stream whose audio comes at `rate` Hz, with wire parameter maps `maps`
        (ParamError if they are not valid). Reopening an id starts it afresh."""
        maps = dict(maps or {})
        params = params_from(maps)
        if stream_id in self._streams:
            self._release(self._streams.pop(stream_id))
        if self._free:
            slot = self._free.pop(0)
        else:
            slot, self._slots = self._slots, self._slots + 1
        self._streams[stream_id] = _Stream(
            sid=stream_id,
            slot=slot,
            resampler=StreamResampler(int(rate), self.fps),
            maps=maps,
            gain=np.float32(params.face["input_strength"]),
            state=self.engine.new_stream(),
            vad=make_vad(self.vad, self.fps),
            estimator=self.emotion.new_stream(self.fps),
            pending_frames=np.zeros((0, len(self.engine.channel_names)), np.float32),
        )
        self.face.open(slot, params, stream_key(self.seed, stream_id))
        self.post.open(slot, params)

    def feed(
        self,
        stream_id: str,
        pcm: np.ndarray,
        hint: dict | None = None,
        arrival_ns: int | None = None,
    ) -> None:
        """Add mono float32 audio at the stream's rate (KeyError for a stream not open).
        `hint` ({"emotion": {...}, "timecode": s}) is a client emotion from its timecode on
        (ParamError if it is not valid: the audio is taken all the same)."""
        st = self._streams[stream_id]
        if arrival_ns is not None:
            st.arrival_ns = arrival_ns
        self._push16k(st, st.resampler.process(np.asarray(pcm, np.float32)))
        if hint:
            self.hint(stream_id, hint["emotion"], hint["timecode"])

    def hint(self, stream_id: str, emotion: dict[str, float], timecode: float) -> None:
        """A client emotion (class -> 0..1; {} returns to preferred_emotion) from stream time
        `timecode` (s) on; ParamError if it is not valid."""
        self.post.add_hint(self._streams[stream_id].slot, emotion, timecode)

    def set_params(self, stream_id: str, delta: dict[str, dict]) -> None:
        """Lay wire parameter maps over the stream's (ParamError if invalid: then nothing
        changes); input_strength applies to audio fed from now on, the rest from the next
        frame."""
        st = self._streams[stream_id]
        maps = merge_maps(st.maps, delta)
        params = params_from(maps)
        st.maps, st.gain = maps, np.float32(params.face["input_strength"])
        self.face.set_params(st.slot, params)
        self.post.set_params(st.slot, params)

    def close(self, stream_id: str) -> None:
        """No more audio: the stream's remaining frames come with the next tick(s), the last
        with final=True, and then its slot is free."""
        st = self._streams[stream_id]
        if st.final:
            return
        self._push16k(st, st.resampler.process(np.zeros(0, np.float32), last=True))
        st.final = True
        st.vad.finish()
        st.estimator.finish()

    def _push16k(self, st: _Stream, pcm16k: np.ndarray) -> None:
        if len(pcm16k):
            if st.gain != 1:
                pcm16k = (pcm16k * st.gain).astype(np.float32)
            st.pending_audio.append(pcm16k)
            st.vad.push(pcm16k)
            st.estimator.push(pcm16k)

    def _due(self, st: _Stream) -> bool:
        """True when the pending audio completes the stream's next frame (or it ended).

        Calling the engine earlier would only compute feature rows that no frame can use
        yet, and most of an engine call's cost is per call, not per row. The hop of slack
        keeps rounding from ever holding a frame back.
        """
        if st.final:
            return True
        if not st.pending_audio:
            return False
        produced = st.emitted + len(st.pending_frames)
        need = (produced / self.fps + self.engine.lookahead_s) * SAMPLE_RATE - HOP_SAMPLES
        return st.vad.samples >= need  # the VAD counts every sample fed

    def tick(self) -> list[StreamFrames]:
        """Advance every stream whose next frame is due: one batched engine call, then the
        emotion and face array work over all of them. Ended streams come last with
        final=True (their frames may be empty) and are forgotten."""
        busy = [st for st in self._streams.values() if self._due(st)]
        if not busy:
            return []
        batch = []
        for st in busy:
            audio = (
                np.concatenate(st.pending_audio) if st.pending_audio else np.zeros(0, np.float32)
            )
            st.pending_audio = []
            batch.append((st.state, audio, st.final))
        results = self.engine.process(batch)
        score_all([st.vad for st in busy])  # the learned VAD: one call for every due stream
        ready: list[tuple[_Stream, int, np.ndarray, np.ndarray]] = []
        for st, frames in zip(busy, results, strict=True):
            if len(frames):
                st.pending_frames = np.concatenate([st.pending_frames, frames])
            n = min(len(st.pending_frames), st.vad.frames_known() - st.emitted)
            if n:
                lipsync, st.pending_frames = st.pending_frames[:n], st.pending_frames[n:]
                ready.append((st, st.emitted, lipsync, st.vad.take(st.emitted + n)))
                st.emitted += n
        out = self._animate(ready) if ready else {}
        result = []
        for st in busy:
            got = out.get(st.sid)
            if got is None and not st.final:
                continue
            if got is None:
                got = StreamFrames(st.sid, st.emitted, *_empty(), True, st.arrival_ns)
            got.final = st.final
            result.append(got)
            if st.final:
                self._release(self._streams.pop(st.sid))
        return result

    def _animate(self, ready: list) -> dict[str, StreamFrames]:
        """Emotion estimate, post-processing and face rig for every stream with frames."""
        slots = np.array([st.slot for st, *_ in ready], dtype=np.intp)
        counts = np.array([len(lip) for _, _, lip, _ in ready], dtype=np.intp)
        raw = np.concatenate([st.estimator.pop(len(lip)) for st, _, lip, _ in ready])
        lipsync = np.concatenate([lip for _, _, lip, _ in ready])
        speaking = np.concatenate([sp for *_, sp in ready]).astype(bool)
        emotions = self.post.step(slots, counts, raw)
        weights = self.face.step(slots, counts, lipsync, emotions, speaking)
        out, pos = {}, 0
        for (st, first, _, _), n in zip(ready, counts.tolist(), strict=True):
            rows = slice(pos, pos + n)
            pos += n
            out[st.sid] = StreamFrames(
                st.sid, first, weights[rows], emotions[rows], raw[rows], speaking[rows],
                False, st.arrival_ns,
            )  # fmt: skip
        return out

    def analyse(self) -> None:
        """Run the emotion estimators' pending analysis now, in one batched model call (a
        tick runs only what its frames need, so the daemon can send them first)."""
        if self._streams:
            self.emotion.analyse([st.estimator for st in self._streams.values()])

    def _release(self, st: _Stream) -> None:
        self._free.append(st.slot)
        self._free.sort()


def _empty() -> tuple[np.ndarray, ...]:
    return (
        np.zeros((0, 55), np.float32),
        np.zeros((0, 10), np.float32),
        np.zeros((0, 10), np.float32),
        np.zeros(0, bool),
    )
