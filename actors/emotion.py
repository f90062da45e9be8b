"""EmotionActor: per-frame emotion for every stream, A2F-style post-processing.

In:  open / audio16 (for the voice estimator, with client hints) / frames / close / params.
Out: open, frames (+ emotions (n, 10) post-processed and emotions_raw (n, 10)), close, params.
The estimator sees the audio before the frames that need it (the inference actor forwards
audio16 first), so an emotion never waits on the lip-sync lookahead; its analysis runs after
each round's frames have been sent, for all streams in one batched model call.
Drops: nothing; in the pipeline chain (facewire.chain) its messages are handed straight to
     the animate stage.
"""

from __future__ import annotations

import zmq

from facewire.actor import Actor
from facewire.engines.emotion_model import EmotionModel, RulesModel
from facewire.messages import Message
from facewire.stages import EmotionStage, params_from, retune


class EmotionActor(Actor):
    name = "emotion"

    def __init__(self, ctx: zmq.Context, fps: float, model: EmotionModel | RulesModel):
        super().__init__(ctx)  # a chain stage: the chain (facewire.chain) sends what it emits
        self.fps = fps
        self.model = model
        self.streams: dict[str, tuple[EmotionStage, dict]] = {}

    def on_message(self, msg: Message) -> None:
        sid = msg.stream
        if msg.kind == "open":
            maps = msg.fields["params"]
            self.streams[sid] = (EmotionStage(params_from(maps), self.fps, self.model), maps)
            self.emit(msg)
        elif msg.kind == "audio16":
            if sid in self.streams:
                stage = self.streams[sid][0]
                hint = msg.fields.get("hint")
                if hint:
                    stage.hint(hint["emotion"], hint["timecode"])
                stage.feed(msg.arrays["pcm"])
        elif msg.kind == "frames":
            if sid not in self.streams:
                self.counters["unknown_stream"] += 1
                return
            stage = self.streams[sid][0]
            if msg.fields.get("final"):
                stage.finish()
            if "lipsync" in msg.arrays:
                emotions, raw = stage.frames(msg.fields["first"], len(msg.arrays["lipsync"]))
                msg.arrays["emotions"] = emotions
                msg.arrays["emotions_raw"] = raw
                self.emit(msg)
        elif msg.kind == "close":
            self.streams.pop(sid, None)
            self.emit(msg)
        elif msg.kind == "params":
            if sid in self.streams:
                self.streams[sid] = retune(self.streams[sid], msg.fields["params"])
            self.emit(msg)
        else:
            raise ValueError(f"unexpected message kind {msg.kind}")

    def on_tick(self) -> None:
        # Frames first, analysis after: the frames of this round never wait behind the
        # estimator updates of streams whose audio just arrived (they are needed ~90 ms
        # later, when those streams' frames come).
        self.flush()
        EmotionStage.catch_up_all([stage for stage, _ in self.streams.values()])
