"""ResampleActor: every stream's audio to 16 kHz mono float32, continuous across chunks.

In:  open (with the source rate) / audio (mono float32 at the source rate) / close / params
     from the sources (ingest, capture, replay) and the control socket.
Out: open / audio16 (float32 16 kHz, input_strength applied) / close / params to inference.
State: one soxr stream per stream (pipecat keeps one per stream too), so there are no clicks
     at chunk boundaries, no drift, and memory stays constant for hours.
Drops: nothing. This is the pipeline chain's first stage (facewire.chain): its inbox is the
     chain's, where ingest drops audio newest-first when it is full (counted, the client
     told) and capture/replay wait; what it emits is handed straight to inference.
"""

from __future__ import annotations

import numpy as np
import zmq

from facewire.actor import Actor
from facewire.audio import TARGET_RATE, StreamResampler
from facewire.messages import Message
from facewire.stages import merge_maps, params_from


class ResampleActor(Actor):
    name = "resample"

    def __init__(self, ctx: zmq.Context, fps: float) -> None:
        super().__init__(ctx)  # a chain stage: the chain (facewire.chain) sends what it emits
        self.fps = fps  # the stream's 16 kHz length is kept to its frame count at this rate
        # Per stream: the resampler, the wire parameter maps and the input_strength they give.
        self.streams: dict[str, tuple[StreamResampler, dict, np.float32]] = {}

    def on_message(self, msg: Message) -> None:
        sid = msg.stream
        if msg.kind == "open":
            maps = msg.fields["params"]
            resampler = StreamResampler(int(msg.fields["rate"]), self.fps)
            self.streams[sid] = (resampler, maps, _gain(maps))
            msg.fields["rate"] = TARGET_RATE
            self.emit(msg)
        elif msg.kind == "audio":
            if sid not in self.streams:
                self.counters["unknown_stream"] += 1
                return
            resampler, _maps, gain = self.streams[sid]
            out = resampler.process(msg.arrays["pcm"])
            self._emit_audio(sid, out * gain, msg.fields)
        elif msg.kind == "close":
            entry = self.streams.pop(sid, None)
            if entry is not None:
                resampler, _maps, gain = entry
                tail = resampler.process(np.zeros(0, dtype=np.float32), last=True)
                self._emit_audio(sid, tail * gain, {})
            self.emit(msg)
        elif msg.kind == "params":
            if sid in self.streams:
                # Through the validated params, so every spelling control accepts
                # (input_strength, inputStrength, InputStrength) takes effect.
                resampler, maps, _gain_before = self.streams[sid]
                maps = merge_maps(maps, msg.fields["params"])
                self.streams[sid] = (resampler, maps, _gain(maps))
            self.emit(msg)
        else:
            raise ValueError(f"unexpected message kind {msg.kind}")

    def _emit_audio(self, sid: str, pcm16k: np.ndarray, fields: dict) -> None:
        if not len(pcm16k) and "hint" not in fields:
            return
        out_fields = {k: v for k, v in fields.items() if k in ("arrival_ns", "hint")}
        self.emit(Message("audio16", sid, out_fields, {"pcm": pcm16k.astype(np.float32)}))


def _gain(maps: dict[str, dict]) -> np.float32:
    """The input_strength of a stream's wire parameter maps."""
    return np.float32(params_from(maps).face["input_strength"])
