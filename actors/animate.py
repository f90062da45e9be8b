"""AnimateActor: the face: tuning, emotion poses, blinks, eyes, head, multipliers, clamping.

In:  open / frames (lip-sync + speaking + emotions) / close / params.
Out: open, frames (final weights (n, 55): 52 ARKit + head yaw/pitch/roll), close.
A params message takes effect from the stream's next frame.
Drops: nothing. The last stage of the pipeline chain (facewire.chain): its messages leave as
     the chain's batch to publish, over an edge that blocks when full (back-pressure), never
     drops.
"""

from __future__ import annotations

import zlib

from facewire.actor import Actor
from facewire.engines.face import FaceAnimator
from facewire.messages import Message
from facewire.stages import params_from, retune


class AnimateActor(Actor):
    name = "animate"

    def __init__(self, ctx, fps: float, seed: int):
        super().__init__(ctx)  # a chain stage: the chain (facewire.chain) sends what it emits
        self.fps = fps
        self.seed = seed
        self.streams: dict[str, tuple[FaceAnimator, dict]] = {}

    def on_message(self, msg: Message) -> None:
        sid = msg.stream
        if msg.kind == "open":
            maps = msg.fields["params"]
            # A per-stream seed keeps blinks deterministic yet different between speakers.
            seed = self.seed ^ zlib.crc32(sid.encode())
            self.streams[sid] = (FaceAnimator(params_from(maps), self.fps, seed), maps)
            self.emit(msg)
        elif msg.kind == "frames":
            if sid not in self.streams:
                self.counters["unknown_stream"] += 1
                return
            face = self.streams[sid][0]
            a = msg.arrays
            weights = face.step(
                a["lipsync"], a["emotions"], a["speaking"].astype(bool), msg.fields["first"]
            )
            msg.arrays = {
                "weights": weights,
                "speaking": a["speaking"],
                "emotions": a["emotions"],
                "emotions_raw": a["emotions_raw"],
            }
            self.emit(msg)
        elif msg.kind == "close":
            self.streams.pop(sid, None)
            self.emit(msg)
        elif msg.kind == "params":
            if sid in self.streams:
                self.streams[sid] = retune(self.streams[sid], msg.fields["params"])
        else:
            raise ValueError(f"unexpected message kind {msg.kind}")
