"""ReplayActor: a recorded file as a live stream, at real time or as fast as possible.

In:  the source commands (facewire.actors.source: drain, config); reads the file of
     `daemon.source: file:PATH` once at start.
Out: open / audio (mono float32 at the file's rate, replay.chunk_ms chunks) / close.
Pacing: real time against the monotonic clock (chunks are never sent early), or unpaced
     with back-pressure from the pipeline (this edge blocks, nothing is dropped).
Drops: paced audio past facewire.actor.AUDIO_MAX_AGE_S on a queue is dropped (counted by
     the actor that drops it); unpaced audio never.
"""

from __future__ import annotations

import time

import zmq

from facewire.actors.source import Source
from facewire.audio import read_audio_file
from facewire.config import Config
from facewire.engines.params import stream_maps
from facewire.messages import Message


class ReplayActor(Source):
    name = "replay"

    def __init__(self, ctx: zmq.Context, cfg: Config, path: str, downstream: str = "pipeline"):
        super().__init__(ctx, cfg, downstream)
        self.rc = cfg.replay
        self.pcm, self.rate = read_audio_file(path)  # AudioError here stops the daemon early
        self.path = path
        self.pos = 0
        self.t0 = 0.0
        self.open = False
        self.done = False

    @property
    def busy(self) -> bool:
        return self.open

    def _open(self) -> None:
        maps = stream_maps(self.cfg.face, self.cfg.emotion)
        fields = {"rate": self.rate, "params": maps, "source": f"file:{self.path}"}
        self.emit(Message("open", self.rc.stream_id, fields))
        self.counters["streams_opened"] += 1
        self.pos, self.t0, self.open = 0, time.monotonic(), True
        self.log.info(
            "replay_started",
            path=self.path,
            rate=self.rate,
            seconds=round(len(self.pcm) / self.rate, 2),
        )

    def _close(self, reason: str) -> None:
        fields = {"reason": reason, "audio_s": self.pos / self.rate}
        self.emit(Message("close", self.rc.stream_id, fields))
        self.open = False

    def on_tick(self) -> None:
        if self.drain_reason is not None:
            if self.open:
                self._close(self.drain_reason)
            self.done = True
        if self.done:
            return
        if not self.open:
            self._open()
        chunk = max(1, self.rate * self.rc.chunk_ms // 1000)
        if self.rc.realtime:
            due = int((time.monotonic() - self.t0) * self.rate)
        else:
            due = len(self.pcm)
        now = time.time_ns()
        # Paced audio is spoken as it is sent, so it has a time bound (facewire.actor); an
        # unpaced file goes as fast as back-pressure allows and is never dropped for age.
        spoken = {"spoken_ns": now} if self.rc.realtime else {}
        while self.pos < min(due, len(self.pcm)):
            pcm = self.pcm[self.pos : self.pos + chunk]
            self.emit(
                Message(
                    "audio",
                    self.rc.stream_id,
                    {"seq": self.pos // chunk, "arrival_ns": now, **spoken},
                    {"pcm": pcm},
                )
            )
            self.pos += len(pcm)
        if self.pos >= len(self.pcm):
            self._close("closed")
            self.done = not self.rc.loop
