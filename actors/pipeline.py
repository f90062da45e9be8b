"""PipelineActor: every stream's audio to frames, all streams in one tick (daemon/pipeline.py).

In:  open (source rate, wire parameter maps) / audio (mono float32 at the source rate, with
     arrival stamps and client emotion hints) / close / params, from the sources (ingest,
     capture, replay) and the control socket; in a worker, over its shard's ipc endpoint.
Out: open, frames (weights (n, 55), speaking (n,), emotions and emotions_raw (n, 10)), then
     close once a stream's last frames are out, to publish (in process or over ipc).
Batching: each round drains the inbox, then one Pipeline.tick() makes one engine call and
     the emotion and face array work for every stream whose next frame is due; the emotion
     estimators' analysis runs after that round's frames have been sent, in one batched
     model call, so no frame waits behind it.
Drops: audio taken off the inbox more than facewire.actor.AUDIO_MAX_AGE_S after it was
     spoken (overload): dropped unhandled, counted (dropped_stale_audio) and reported to
     ingest, which tells the client (the Actor base does it). Its inbox is where ingest drops
     audio newest-first when it is full (counted, the client told) and capture/replay wait;
     its edge to publish blocks when full (back-pressure). Audio or params for a stream
     that is not open are counted (unknown_stream); a close for one goes on to publish,
     which ends it or counts it.
"""

from __future__ import annotations

import zmq

from facewire.actor import Actor
from facewire.config import Config
from facewire.engines.base import Engine
from facewire.engines.emotion_model import EmotionModel, RulesModel
from facewire.messages import Message
from facewire.pipeline import Pipeline, StreamFrames


class PipelineActor(Actor):
    name = "pipeline"

    def __init__(
        self,
        ctx: zmq.Context,
        pipeline: Pipeline,
        downstream: str | list[str],
        hwm: int,
    ) -> None:
        super().__init__(ctx, downstream, hwm)
        self.pipeline = pipeline
        self.closing: dict[str, Message] = {}  # close messages held until the last frames

    def on_message(self, msg: Message) -> None:
        sid, p = msg.stream, self.pipeline
        if msg.kind == "open":
            p.open(sid, int(msg.fields["rate"]), msg.fields["params"])
            self.closing.pop(sid, None)
            self.emit(msg)
        elif msg.kind == "close":
            if sid in p:
                p.close(sid)
                self.closing[sid] = msg
            else:
                self.emit(msg)  # publish ends it (or counts it if it never started)
        elif sid not in p:
            if msg.kind not in ("audio", "params"):
                raise ValueError(f"unexpected message kind {msg.kind}")
            self.counters["unknown_stream"] += 1
        elif msg.kind == "audio":
            f = msg.fields
            p.feed(sid, msg.arrays["pcm"], f.get("hint"), f.get("arrival_ns"))
        elif msg.kind == "params":
            p.set_params(sid, msg.fields["params"])
        else:
            raise ValueError(f"unexpected message kind {msg.kind}")

    def on_tick(self) -> None:
        if not len(self.pipeline):
            return
        out = self.pipeline.tick()
        if out:  # ticks that produced frames, and for how many streams in all
            self.counters["batches"] += 1
            self.counters["batched_streams"] += len(out)
        for frames in out:
            if len(frames.weights):
                self.emit(self._frames(frames))
            if frames.final:
                self.emit(self.closing.pop(frames.stream))
        # Frames first, analysis after: this round's frames never wait behind the estimator
        # updates of streams whose audio just arrived (needed ~90 ms later, with their frames).
        self.flush()
        self.pipeline.analyse()

    def _frames(self, f: StreamFrames) -> Message:
        self.counters["frames"] += len(f.weights)
        fields = {"first": f.first, "final": f.final, "arrival_ns": f.arrival_ns}
        arrays = {
            "weights": f.weights,
            "speaking": f.speaking.astype("u1"),
            "emotions": f.emotions,
            "emotions_raw": f.emotions_raw,
        }
        return Message("frames", f.stream, fields, arrays)


def pipeline_actor(
    ctx: zmq.Context,
    cfg: Config,
    engine: Engine,
    publish: str | list[str],
    emotion: EmotionModel | RulesModel,
) -> PipelineActor:
    """The pipeline actor of this process; `publish` is where it sends frames: "publish" in
    process, or the daemon's ipc endpoint; `emotion` is shared by all its streams."""
    d = cfg.daemon
    return PipelineActor(
        ctx, Pipeline(engine, emotion, vad=d.vad, seed=d.seed), publish, cfg.sockets.queue_hwm
    )
