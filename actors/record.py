"""RecorderSink: records live streams to curve files (facewire JSON, Live Link CSV, A2F, npz).

In:  the publish actor's frames (a FrameSink, called in the publish thread), and
     `start` / `stop` calls from the publish actor when the control socket asks for
     `record_start` (stream id, output path) or `record_stop` (stream id).
Out: one file per recording, in the format its extension names (`formats.format_for_path`),
     written by a background thread to a temporary name beside it and renamed into place, so
     a file that exists is complete. A recording ends on `record_stop` or when its stream ends.
Timing: a recording asked for before its stream opens waits for it and starts at frame 0;
     one asked for mid-stream starts at the next frame published, and its timecodes count
     from there. Collecting is an array append; nothing here waits on the disk.
Audio is not recorded (only the curves).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

from facewire.formats import AnimationRecorder, format_for_path, write_animation

log = structlog.get_logger(actor="record")


class RecordError(ValueError):
    """A recording request that cannot be honoured; the message says why."""


@dataclass
class _Recording:
    path: Path
    recorder: AnimationRecorder
    first_seq: int | None = None  # stream frame number of the recording's frame 0


class RecorderSink:
    """A FrameSink holding the daemon's recordings; used only from the publish thread."""

    name = "record"

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.streams: dict[str, tuple[list[str], float]] = {}  # open streams: names, fps
        self.waiting: dict[str, Path] = {}  # asked for before the stream opened
        self.active: dict[str, _Recording] = {}

    # -- requests ----------------------------------------------------------------------
    def start(self, stream_id: str, path: str) -> str:
        """Record `stream_id` to `path` (absolute; format from its extension).

        Returns:
            A one-line description for the Status reply.

        Raises:
            RecordError: no stream id, a relative path, an unknown extension, a directory
                that does not exist or is not writable, or the stream is already recording.
        """
        if not stream_id:
            raise RecordError("record_start needs a stream_id")
        dest = Path(path)
        if not path or not dest.is_absolute():
            raise RecordError(f"record_start needs an absolute output path, got {path!r}")
        try:
            format_for_path(dest)
        except ValueError as exc:
            raise RecordError(str(exc)) from None
        if not dest.parent.is_dir() or not os.access(dest.parent, os.W_OK):
            raise RecordError(f"{dest.parent} is not a writable directory")
        current = self.active.get(stream_id)
        busy = current.path if current else self.waiting.get(stream_id)
        if busy is not None:
            raise RecordError(f"stream {stream_id!r} is already recording to {busy}")
        if stream_id in self.streams:
            self._begin(stream_id, dest)
            return f"recording {stream_id} to {dest} from the next frame"
        self.waiting[stream_id] = dest
        return f"recording {stream_id} to {dest} when the stream opens"

    def stop(self, stream_id: str) -> str:
        """End a recording (its file is written in the background).

        Raises:
            RecordError: the stream is not recording.
        """
        if self.waiting.pop(stream_id, None) is not None:
            return f"recording of {stream_id} cancelled before the stream opened"
        if stream_id not in self.active:
            raise RecordError(f"stream {stream_id!r} is not recording")
        rec = self.active[stream_id]
        self._finish(stream_id)
        n = len(rec.recorder)
        span = f" (stream frames {rec.first_seq}-{rec.first_seq + n - 1})" if n else ""
        return f"writing {n} frames of {stream_id}{span} to {rec.path}"

    # -- FrameSink ---------------------------------------------------------------------
    def on_open(self, stream_id: str, names: list[str], fps: float) -> None:
        self.streams[stream_id] = (list(names), fps)
        dest = self.waiting.pop(stream_id, None)
        if dest is not None:
            self._begin(stream_id, dest)

    def on_frames(
        self, stream_id: str, first: int, weights: np.ndarray, emotions: np.ndarray
    ) -> None:
        """Append frames: weights (n, C) float32, emotions (n, 10) float32."""
        rec = self.active.get(stream_id)
        if rec is None:
            return
        if rec.first_seq is None:
            rec.first_seq = first
        rec.recorder.add(weights, emotions)

    def on_close(self, stream_id: str) -> None:
        self.streams.pop(stream_id, None)
        if stream_id in self.active:
            self._finish(stream_id)

    # -- internals ---------------------------------------------------------------------
    def _begin(self, stream_id: str, dest: Path) -> None:
        names, fps = self.streams[stream_id]
        self.active[stream_id] = _Recording(dest, AnimationRecorder(fps, names, source=stream_id))
        self.counters["recordings_started"] += 1
        log.info("recording_started", stream=stream_id, path=str(dest))

    def _finish(self, stream_id: str) -> None:
        rec = self.active.pop(stream_id)
        anim = rec.recorder.to_animation()
        # Not a daemon thread: a file being written when the daemon stops is finished.
        threading.Thread(
            target=self._write, args=(anim, rec.path, stream_id), name="record-writer"
        ).start()

    def _write(self, anim, dest: Path, stream_id: str) -> None:
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
            os.close(fd)
            write_animation(anim, tmp, format_for_path(dest))
            os.replace(tmp, dest)
        except (OSError, ValueError) as exc:
            self.counters["recordings_failed"] += 1
            log.error("recording_failed", stream=stream_id, path=str(dest), error=str(exc))
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
            return
        self.counters["recordings_written"] += 1
        log.info("recording_written", stream=stream_id, path=str(dest), frames=anim.n_frames)
