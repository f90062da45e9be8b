"""InferenceActor: lip-sync for all live streams, one batched engine call per tick.

In:  open / audio16 / close / params from the resampler.
Out: open, audio16 (passed on for the emotion estimator, ahead of the frames that need it),
     frames (lip-sync weights (n, 52) + speaking flags (n,)), close, params.
Batching: each tick drains the inbox, then `LipsyncBatch.run()` makes one engine call over
     every stream that got audio, so cost grows sub-linearly with the number of streams.
Drops: nothing; in the pipeline chain (facewire.chain) its messages are handed straight to
     the emotion stage, so no frame is ever queued or lost between them.
"""

from __future__ import annotations

import zmq

from facewire.actor import Actor
from facewire.engines.base import Engine
from facewire.messages import Message
from facewire.stages import LipsyncBatch


class InferenceActor(Actor):
    name = "inference"

    def __init__(
        self,
        ctx: zmq.Context,
        engine: Engine,
        vad: str = "silero",
    ) -> None:
        super().__init__(ctx)  # a chain stage: the chain (facewire.chain) sends what it emits
        self.batch = LipsyncBatch(engine, vad)
        self.arrival: dict[str, int] = {}  # newest audio arrival stamp per stream (ns)
        self.closing: dict[str, Message] = {}

    def on_message(self, msg: Message) -> None:
        sid = msg.stream
        if msg.kind == "open":
            self.batch.open(sid)
            self.arrival[sid] = 0
            self.emit(msg)
        elif msg.kind == "audio16":
            if sid not in self.batch:
                self.counters["unknown_stream"] += 1
                return
            self.batch.feed(sid, msg.arrays["pcm"])
            self.arrival[sid] = msg.fields.get("arrival_ns", self.arrival[sid])
            self.emit(msg)
        elif msg.kind == "close":
            if sid in self.batch:
                self.batch.close(sid)
                self.closing[sid] = msg
            else:
                self.emit(msg)
        elif msg.kind == "params":
            self.emit(msg)
        else:
            raise ValueError(f"unexpected message kind {msg.kind}")

    def on_tick(self) -> None:
        if not len(self.batch):
            return
        outputs = self.batch.run()
        if outputs:  # engine calls that produced frames, and for how many streams in all
            self.counters["batches"] += 1
            self.counters["batched_streams"] += len(outputs)
        for sid, out in outputs.items():
            final = sid in self.closing
            self.emit(self._frames(sid, out.first, out.lipsync, out.speaking, final))
        for sid in list(self.closing):
            if sid not in self.batch:  # flushed: its last frames went out above
                if sid not in outputs:
                    self.emit(self._frames(sid, 0, None, None, True))
                self.arrival.pop(sid, None)
                self.emit(self.closing.pop(sid))

    def _frames(self, sid, first, lipsync, speaking, final) -> Message:
        fields = {"first": first, "final": final, "arrival_ns": self.arrival.get(sid, 0)}
        if lipsync is None:
            return Message("frames", sid, fields)
        self.counters["frames"] += len(lipsync)
        return Message(
            "frames", sid, fields, {"lipsync": lipsync, "speaking": speaking.astype("u1")}
        )
