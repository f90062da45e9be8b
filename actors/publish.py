"""PublishActor: protobuf frames out on the PUB socket, topic = stream id.

In:  open / frames (final weights, speaking, emotions) / close from the animate actor;
     lost_shard from the supervisor when a worker process died: its streams end here.
Out: PUB multipart [stream_id, Envelope]: StreamStarted, one AnimationFrame per frame,
     StreamEnded. Sinks (Live Link UDP, recorders) see the same frames in this thread; a
     sink that raises is counted (`sink_errors`) and never stops the PUB socket.
Recording: a REP socket at inproc://publish-record takes `record` requests from the control
     actor (start/stop a stream's RecorderSink recording) and answers with a Status, so every
     recording's state lives in this thread.
Drops: the PUB socket never blocks; libzmq drops a slow subscriber's messages at its
     high-water mark (sockets.pub_hwm_messages). Our own send failures are counted.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Protocol

import numpy as np
import zmq

from facewire.actor import Actor
from facewire.actors.record import RecordError, RecorderSink
from facewire.arkit import EMOTION_NAMES
from facewire.messages import Message, recv, shard_of
from facewire.proto import facewire_pb2 as pb
from facewire.wire import Code, encode, status

RECORD_ENDPOINT = "inproc://publish-record"


SUBSCRIPTION_MAX_BYTES = 4096


class FrameSink(Protocol):
    """Something besides the PUB socket that wants every stream's frames.

    `name` labels it in logs and status; `counters` is shown in the status snapshot.
    """

    name: str
    counters: Counter[str]

    def on_open(self, stream_id: str, names: list[str], fps: float) -> None: ...

    def on_frames(
        self, stream_id: str, first: int, weights: np.ndarray, emotions: np.ndarray
    ) -> None: ...

    def on_close(self, stream_id: str) -> None: ...


class PublishActor(Actor):
    name = "publish"

    def __init__(
        self,
        ctx: zmq.Context,
        endpoint: str,
        info: dict,
        hwm: int,
        pub_hwm: int,
        sinks: list[FrameSink] | None = None,
    ) -> None:
        super().__init__(ctx, None, hwm)
        self.endpoint = endpoint
        self.info = info  # names, fps, engine, model_id, lookahead_ms
        self.pub_hwm = pub_hwm
        self.recorder = RecorderSink()
        self.sinks = [*(sinks or []), self.recorder]
        self.pub: zmq.Socket | None = None
        self.record_rep: zmq.Socket | None = None
        self.frames: dict[str, int] = {}  # open streams -> frames published

    def on_start(self) -> None:
        self.pub = self.ctx.socket(zmq.PUB)
        self.pub.linger = 0
        self.pub.set_hwm(self.pub_hwm)
        # Subscribers only send subscriptions (a stream id): anything bigger is hostile and
        # drops that subscriber's connection.
        self.pub.setsockopt(zmq.MAXMSGSIZE, SUBSCRIPTION_MAX_BYTES)
        self.pub.bind(self.endpoint)
        self.record_rep = self.ctx.socket(zmq.REP)
        self.record_rep.linger = 0
        self.record_rep.bind(RECORD_ENDPOINT)
        self.log.info("pub_bound", endpoint=self.endpoint)

    def on_stop(self) -> None:
        for sock in (self.pub, self.record_rep):
            if sock is not None:
                sock.close(linger=0)
        self.pub = self.record_rep = None

    def poll_sockets(self) -> list[zmq.Socket]:
        return [self.record_rep] if self.record_rep is not None else []

    def on_socket(self, sock: zmq.Socket) -> None:
        """A record request from the control actor: start/stop, answered with a Status."""
        (msg,) = recv(sock)
        try:
            if msg.kind != "record":
                raise RecordError(f"unexpected {msg.kind} request")
            if msg.fields.get("action") == "start":
                text = self.recorder.start(msg.stream, str(msg.fields.get("path", "")))
            else:
                text = self.recorder.stop(msg.stream)
            reply = status(Code.OK, text, msg.stream)
        except RecordError as exc:
            reply = status(Code.ERROR, str(exc), msg.stream)
        sock.send(reply)

    def _to_sinks(self, method: str, *args) -> None:
        for sink in self.sinks:
            try:
                getattr(sink, method)(*args)
            except Exception:
                self.counters["sink_errors"] += 1
                self.log.exception("sink_failed", sink=sink.name, call=method)

    def _send(self, sid: str, payload: bytes) -> None:
        try:
            self.pub.send_multipart([sid.encode(), payload], zmq.NOBLOCK)
        except zmq.ZMQError:
            self.counters["send_failed"] += 1

    def on_message(self, msg: Message) -> None:
        sid = msg.stream
        if msg.kind == "open":
            self.frames[sid] = 0
            info = self.info
            started = pb.StreamStarted(
                stream_id=sid,
                blendshape_names=info["names"],
                emotion_names=EMOTION_NAMES,
                fps=info["fps"],
                engine=info["engine"],
                model_id=info["model_id"],
                lookahead_ms=info["lookahead_ms"],
            )
            self._send(sid, encode(stream_started=started))
            self._to_sinks("on_open", sid, list(info["names"]), info["fps"])
        elif msg.kind == "frames":
            if sid not in self.frames:
                self.counters["unknown_stream"] += 1
                return
            self._publish_frames(sid, msg)
        elif msg.kind == "close":
            if sid not in self.frames:
                # Already ended (its worker was lost, and a close queued before that reached
                # the replacement): one StreamEnded per stream.
                self.counters["unknown_stream"] += 1
                return
            self._end(sid, msg.fields.get("reason", "closed"), msg.fields)
        elif msg.kind == "lost_shard":
            shard, shards = int(msg.fields["shard"]), int(msg.fields["shards"])
            for lost in [s for s in self.frames if shard_of(s, shards) == shard]:
                self._end(lost, "worker_restarted", {})
        else:
            raise ValueError(f"unexpected message kind {msg.kind}")

    def _end(self, sid: str, reason: str, fields: dict) -> None:
        count = self.frames.pop(sid)
        ended = pb.StreamEnded(
            stream_id=sid,
            frames=count,
            reason=reason,
            dropped_chunks=int(fields.get("dropped", 0)),
            audio_seconds=float(fields.get("audio_s", count / self.info["fps"])),
        )
        self._send(sid, encode(stream_ended=ended))
        self.counters["streams_ended"] += 1
        self._to_sinks("on_close", sid)

    def _publish_frames(self, sid: str, msg: Message) -> None:
        a = msg.arrays
        first = int(msg.fields["first"])
        if first != self.frames[sid]:
            self.counters["frame_gaps"] += 1
            self.log.warning("frame_gap", stream=sid, expected=self.frames[sid], got=first)
        fps = self.info["fps"]
        arrival = int(msg.fields.get("arrival_ns", 0))
        weights, emotions, raw = a["weights"], a["emotions"], a["emotions_raw"]
        speaking = a["speaking"]
        for i in range(len(weights)):
            seq = first + i
            frame = pb.AnimationFrame(
                stream_id=sid,
                seq=seq,
                timecode=seq / fps,
                weights=weights[i].tolist(),
                emotions=emotions[i].tolist(),
                emotions_raw=raw[i].tolist(),
                speaking=bool(speaking[i]),
                audio_arrival_ns=arrival,
                publish_ns=time.time_ns(),
            )
            self._send(sid, encode(animation_frame=frame))
        self.frames[sid] = first + len(weights)
        self.counters["frames"] += len(weights)
        self._to_sinks("on_frames", sid, first, weights, emotions)

    def snapshot(self) -> dict:
        snap = super().snapshot()
        snap["streams"] = dict(self.frames)
        snap["sinks"] = {sink.name: dict(sink.counters) for sink in self.sinks}
        return snap
