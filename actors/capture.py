"""CaptureActor: a live microphone (PortAudio through sounddevice) as a stream.

In:  the source commands (facewire.actors.source: drain, config). PortAudio's callback
     thread only queues blocks; this actor's thread turns them into messages (sockets
     never cross threads).
Out: open / audio (mono float32 at the device rate) / close.
Faults: a lost or broken device ends the current stream (reason "device_lost") and is
     retried with the restart backoff (facewire.backoff) up to capture.retry_max_s; a new
     stream then opens.
Drops: if this thread falls behind, the callback queue (BLOCK_QUEUE blocks) drops its
     oldest block for each new one (`dropped_blocks`): a live microphone should stay current,
     so latency stays bounded and the newest audio is what reaches the face. Audio taken off
     a queue downstream over facewire.actor.AUDIO_MAX_AGE_S after it was captured is dropped
     (and counted) by that actor. PortAudio's status flags (e.g. input overflow) are
     counted (`device_status_flags`); the last STATUS_FLAGS_KEPT are kept for the
     `capture_lost` log line.
sounddevice is imported lazily, so machines without PortAudio run everything else.
"""

from __future__ import annotations

import queue
import time
from collections import deque

import numpy as np
import zmq

from facewire.actors.source import Source
from facewire.backoff import BACKOFF_FIRST_S, next_backoff
from facewire.config import Config
from facewire.engines.params import stream_maps
from facewire.messages import Message

BLOCK_QUEUE = 500  # blocks between PortAudio's callback and this thread (10 s at 20 ms)
STATUS_FLAGS_KEPT = 16


class CaptureActor(Source):
    name = "capture"

    def __init__(self, ctx: zmq.Context, cfg: Config, downstream: str = "pipeline") -> None:
        super().__init__(ctx, cfg, downstream)
        self.cc = cfg.capture
        self.blocks: queue.Queue[np.ndarray] = queue.Queue(maxsize=BLOCK_QUEUE)
        self.stream = None  # sounddevice.InputStream
        self.status_flags: deque[str] = deque(maxlen=STATUS_FLAGS_KEPT)
        self.open = False
        self.seq = 0
        self.retry_at = 0.0
        self.backoff = BACKOFF_FIRST_S

    @property
    def busy(self) -> bool:
        return self.open

    def _device(self):
        dev = self.cc.device
        return int(dev) if dev.isdigit() else (dev or None)

    def _callback(self, indata, frames, time_info, status) -> None:  # PortAudio thread
        if status:
            self.status_flags.append(str(status))
            self.counters["device_status_flags"] += 1
        # int16 from the device: what microphones deliver, and never NaN.
        block = indata.mean(axis=1, dtype=np.float32) / np.float32(32768)
        while True:
            try:
                self.blocks.put_nowait(block)
                return
            except queue.Full:
                try:  # make room by dropping the oldest (this thread may empty it first)
                    self.blocks.get_nowait()
                    self.counters["dropped_blocks"] += 1
                except queue.Empty:
                    pass

    def _start_device(self) -> None:
        import sounddevice

        if self.counters["device_errors"] or self.counters["device_lost"]:
            # PortAudio lists devices once, at initialisation: without a rescan a microphone
            # that was unplugged and plugged in again is never found.
            sounddevice._terminate()
            sounddevice._initialize()
        rate = self.cc.sample_rate or int(
            sounddevice.query_devices(self._device(), "input")["default_samplerate"]
        )
        self.stream = sounddevice.InputStream(
            device=self._device(),
            samplerate=rate,
            channels=self.cc.channels,
            dtype="int16",
            blocksize=int(rate * self.cc.block_ms / 1000),
            callback=self._callback,
        )
        self.stream.start()
        self.rate = rate
        self.seq = 0
        maps = stream_maps(self.cfg.face, self.cfg.emotion)
        fields = {"rate": rate, "params": maps, "source": "mic"}
        self.emit(Message("open", self.cc.stream_id, fields))
        self.counters["streams_opened"] += 1
        self.open = True
        self.backoff = BACKOFF_FIRST_S
        self.log.info("capture_started", device=self.cc.device or "default", rate=rate)

    def _stop_device(self, reason: str) -> None:
        if self.stream is not None:
            try:
                self.stream.close()
            except Exception:  # a vanished device may fail to close; it is gone either way
                self.log.warning("capture_close_failed", exc_info=True)
            self.stream = None
        if self.open:
            self.emit(Message("close", self.cc.stream_id, {"reason": reason}))
            self.open = False

    def on_tick(self) -> None:
        if self.drain_reason is not None:
            self._stop_device(self.drain_reason)
            return
        if self.stream is None:
            if time.monotonic() < self.retry_at:
                return
            try:
                self._start_device()
            except Exception as exc:  # PortAudio raises several types for a missing device
                self.counters["device_errors"] += 1
                self.log.warning("capture_unavailable", error=str(exc), retry_s=self.backoff)
                self._stop_device("device_lost")
                self.retry_at = time.monotonic() + self.backoff
                self.backoff = next_backoff(self.backoff, self.cc.retry_max_s)
                return
        if not self.stream.active:
            self.counters["device_lost"] += 1
            self.log.warning("capture_lost", flags=list(self.status_flags)[-3:])
            self._stop_device("device_lost")
            self.retry_at = time.monotonic() + self.backoff
            return
        while True:
            try:
                block = self.blocks.get_nowait()
            except queue.Empty:
                break
            now = time.time_ns()  # a live microphone: spoken as it arrives
            fields = {"seq": self.seq, "arrival_ns": now, "spoken_ns": now}
            self.emit(Message("audio", self.cc.stream_id, fields, {"pcm": block}))
            self.seq += 1

    def on_stop(self) -> None:
        self._stop_device("shutdown")
