"""A small Python client for the daemon's three sockets (used by the CLI and the tests).

with Client("tcp://127.0.0.1:5555") as c:           # audio in (DEALER -> ROUTER)
    c.open_stream("npc-1", 16000)
    c.send_audio("npc-1", 0, pcm_int16)
    c.close_stream("npc-1")
with Subscriber("tcp://127.0.0.1:5556", "npc-1") as s:  # frames out (SUB)
    started, frames, ended = s.collect("npc-1", timeout_s=10)
Control("tcp://127.0.0.1:5557").status()             # control (REQ -> REP)

Against a daemon with CurveZMQ on (sockets.curve_server_secret), every class takes
`server_key` (the server's public .key file or Z85 key) and `client_key` (this client's
.key_secret file, whose public half is in the daemon's sockets.curve_clients_dir).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping

import numpy as np
import zmq

from facewire.proto import facewire_pb2 as pb
from facewire.security import apply_client_curve
from facewire.wire import Code, decode, encode, encoding_enum


class ClientError(RuntimeError):
    """The daemon answered with an ERROR Status, or did not answer in time."""


class StreamEndedError(ClientError):
    """The daemon ended one of this client's streams itself (shutdown, timeout, worker
    restart), as its Status said (detail_json {"stream_ended": reason})."""

    def __init__(self, stream_id: str, reason: str, chunks_sent: int | None = None) -> None:
        super().__init__(f"the daemon ended stream {stream_id!r} (reason {reason})")
        self.stream_id = stream_id
        self.reason = reason
        self.chunks_sent = chunks_sent


class Client:
    """An audio-pushing client: one DEALER socket, any number of streams."""

    def __init__(
        self,
        endpoint: str = "tcp://127.0.0.1:5555",
        timeout_s: float = 5.0,
        ctx: zmq.Context | None = None,
        server_key: str | bytes | None = None,
        client_key: str | None = None,
    ) -> None:
        self.ctx = ctx or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        # A fixed identity survives reconnects (e.g. after the ingest actor restarts), so
        # the daemon still knows this client owns its open streams.
        self.sock.routing_id = b"fw-" + uuid.uuid4().bytes
        # A DEALER with no connected daemon (down, or refusing our CurveZMQ key) blocks on
        # send: time out instead, so a caller gets a ClientError, not a hang.
        self.sock.sndtimeo = int(timeout_s * 1000)
        apply_client_curve(self.sock, server_key, client_key)
        self.sock.connect(endpoint)
        self.timeout_s = timeout_s
        self.statuses: list[pb.Status] = []  # every Status received, in order
        self.ended: dict[str, str] = {}  # stream id -> reason, for streams the daemon ended

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close(linger=0)

    def send_raw(self, data: bytes | list[bytes]) -> None:
        """Send arbitrary bytes (tests use this for malformed input)."""
        self._send(data)

    def _send(self, data: bytes | list[bytes]) -> None:
        try:
            if isinstance(data, list):
                self.sock.send_multipart(data)
            else:
                self.sock.send(data)
        except zmq.Again:
            raise ClientError(
                f"could not send within {self.timeout_s:g} s: no daemon connected"
            ) from None

    def recv_status(self, timeout_s: float | None = None) -> pb.Status | None:
        """Next Status from the daemon, or None after the timeout."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        if not self.sock.poll(int(timeout * 1000)):
            return None
        kind, body = decode(self.sock.recv())
        if kind != "status":
            raise ClientError(f"unexpected {kind} from the ingest socket")
        self.statuses.append(body)
        reason = _ended_reason(body)
        if reason is not None:
            self.ended[body.stream_id] = reason
        return body

    def _check_ended(self, stream_id: str, chunks_sent: int | None = None) -> None:
        """Read the Statuses already here; StreamEndedError if the daemon ended the stream."""
        while self.sock.poll(0):
            self.recv_status(0)
        if stream_id in self.ended:
            raise StreamEndedError(stream_id, self.ended[stream_id], chunks_sent)

    def _await(self, stream_id: str, what: str) -> pb.Status:
        deadline = time.monotonic() + self.timeout_s
        while (left := deadline - time.monotonic()) > 0:
            st = self.recv_status(left)
            if st is None:
                break
            if st.stream_id == stream_id and stream_id in self.ended:
                raise StreamEndedError(stream_id, self.ended[stream_id])
            if st.code == Code.ERROR and st.stream_id in (stream_id, ""):
                raise ClientError(st.message)
            if st.code == Code.OK and st.stream_id == stream_id:
                return st
        raise ClientError(f"no reply to {what} {stream_id!r} within {self.timeout_s:g} s")

    def open_stream(
        self,
        stream_id: str,
        sample_rate: int,
        channels: int = 1,
        encoding: str = "s16le",
        wait: bool = True,
        **params: Mapping,
    ) -> None:
        """Open a stream. `params` may hold face_params, blendshape_multipliers,
        blendshape_offsets, emotion_params, preferred_emotion, beginning_emotion maps."""
        msg = pb.OpenStream(
            stream_id=stream_id,
            sample_rate=sample_rate,
            channels=channels,
            encoding=encoding_enum(encoding),
        )
        for key, values in params.items():
            getattr(msg, key).update({k: float(v) for k, v in values.items()})
        self._send(encode(open_stream=msg))
        if wait:
            self._await(stream_id, "open")

    def send_audio(
        self,
        stream_id: str,
        seq: int,
        pcm: bytes | np.ndarray,
        emotion: Mapping[str, float] | None = None,
        emotion_timecode: float | None = None,
    ) -> None:
        data = pcm.tobytes() if isinstance(pcm, np.ndarray) else pcm
        chunk = pb.AudioChunk(stream_id=stream_id, seq=seq, data=data)
        if emotion:
            chunk.emotion.update(emotion)
        if emotion_timecode is not None:
            chunk.emotion_timecode = emotion_timecode
        self._send(encode(audio_chunk=chunk))

    def close_stream(self, stream_id: str, wait: bool = True) -> None:
        self._send(encode(close_stream=pb.CloseStream(stream_id=stream_id)))
        if wait:
            self._await(stream_id, "close")

    def send_pcm(
        self,
        stream_id: str,
        pcm_f32: np.ndarray,
        rate: int,
        chunk_ms: int = 20,
        realtime: bool = False,
        encoding: str = "f32le",
        **params: Mapping,
    ) -> int:
        """Open, stream a whole mono float32 signal in chunks, close. Returns chunks sent.

        Raises:
            StreamEndedError: the daemon ended the stream first (e.g. it shut down);
                `chunks_sent` says how far it got.
        """
        self.open_stream(stream_id, rate, encoding=encoding, **params)
        step = max(1, rate * chunk_ms // 1000)
        t0 = time.monotonic()
        seq = 0
        for pos in range(0, len(pcm_f32), step):
            block = pcm_f32[pos : pos + step]
            if encoding == "s16le":
                block = (np.clip(block, -1, 1) * 32767).astype("<i2")
            else:
                block = block.astype("<f4")
            if realtime:
                delay = t0 + pos / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            self._check_ended(stream_id, seq)
            self.send_audio(stream_id, seq, block)
            seq += 1
        try:
            self.close_stream(stream_id)
        except StreamEndedError as exc:
            exc.chunks_sent = seq
            raise
        return seq


def _ended_reason(st: pb.Status) -> str | None:
    """The reason in a Status that says the daemon ended a stream, else None."""
    if not st.detail_json:
        return None
    try:
        detail = json.loads(st.detail_json)
    except ValueError:
        return None
    reason = detail.get("stream_ended") if isinstance(detail, dict) else None
    return str(reason) if reason else None


class Subscriber:
    """A SUB socket on the PUB endpoint, filtered to some stream ids (all by default)."""

    def __init__(
        self,
        endpoint: str = "tcp://127.0.0.1:5556",
        *streams: str,
        ctx: zmq.Context | None = None,
        server_key: str | bytes | None = None,
        client_key: str | None = None,
    ) -> None:
        self.ctx = ctx or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.linger = 0
        self.sock.set_hwm(0)
        apply_client_curve(self.sock, server_key, client_key)
        for sid in streams or ("",):
            self.sock.setsockopt(zmq.SUBSCRIBE, sid.encode())
        self.sock.connect(endpoint)

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close(linger=0)

    def recv(self, timeout_s: float = 5.0) -> tuple[str, str, object] | None:
        """(stream_id, body name, body) of the next message, or None after the timeout."""
        if not self.sock.poll(int(timeout_s * 1000)):
            return None
        topic, payload = self.sock.recv_multipart()
        kind, body = decode(payload)
        return topic.decode(), kind, body

    def messages(self, timeout_s: float = 5.0) -> Iterator[tuple[str, str, object]]:
        while (item := self.recv(timeout_s)) is not None:
            yield item

    def collect(self, stream_id: str, timeout_s: float = 30.0):
        """(StreamStarted, [AnimationFrame...], StreamEnded) of one stream; raises on timeout.

        Topic filters match prefixes, so messages of other streams are skipped here.
        """
        started, frames = None, []
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            item = self.recv(left)
            if item is None:
                break
            sid, kind, body = item
            if sid != stream_id:
                continue
            if kind == "stream_started":
                started = body
            elif kind == "animation_frame":
                frames.append(body)
            elif kind == "stream_ended":
                return started, frames, body
        raise ClientError(
            f"stream {stream_id!r} did not end within {timeout_s:g} s ({len(frames)} frames so far)"
        )


def wait_for_subscription(
    sub: Subscriber, client: Client, probe_id: str = "__probe__", timeout_s: float = 5.0
) -> None:
    """Block until `sub` receives messages (PUB/SUB joins late: the slow-joiner problem).

    Opens and closes a tiny probe stream until its StreamStarted arrives.
    """
    deadline = time.monotonic() + timeout_s
    n = 0
    while time.monotonic() < deadline:
        sid = f"{probe_id}{n}"
        n += 1
        client.open_stream(sid, 16000)
        client.close_stream(sid)
        while (item := sub.recv(0.2)) is not None:
            if item[0] == sid and item[1] in ("stream_started", "stream_ended"):
                while sub.recv(0.05) is not None:  # drain the probe's remaining frames
                    pass
                return
    raise ClientError("subscriber did not connect in time")


class Control:
    """Control socket client: one fresh REQ per call, so a lost reply never wedges it."""

    def __init__(
        self,
        endpoint: str = "tcp://127.0.0.1:5557",
        timeout_s: float = 5.0,
        ctx: zmq.Context | None = None,
        server_key: str | bytes | None = None,
        client_key: str | None = None,
    ) -> None:
        self.ctx = ctx or zmq.Context.instance()
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.curve = (server_key, client_key)

    def request(
        self, command: str, stream_id: str = "", argument: str = "", **maps: Mapping
    ) -> pb.Status:
        req = pb.ControlRequest(command=command, stream_id=stream_id, argument=argument)
        for key, values in maps.items():
            getattr(req, key).update({k: float(v) for k, v in values.items()})
        sock = self.ctx.socket(zmq.REQ)
        sock.linger = 0
        try:
            apply_client_curve(sock, *self.curve)
            sock.connect(self.endpoint)
            sock.send(encode(control_request=req))
            if not sock.poll(int(self.timeout_s * 1000)):
                raise ClientError(f"control socket {self.endpoint} did not answer")
            kind, body = decode(sock.recv())
        finally:
            sock.close(linger=0)
        if kind != "status":
            raise ClientError(f"unexpected {kind} from the control socket")
        return body

    def status(self) -> dict:
        st = self.request("status")
        if st.code == Code.ERROR:
            raise ClientError(st.message)
        return json.loads(st.detail_json)

    def set_params(self, stream_id: str, **maps: Mapping) -> pb.Status:
        st = self.request("set_params", stream_id, **maps)
        if st.code == Code.ERROR:
            raise ClientError(st.message)
        return st
