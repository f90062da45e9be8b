"""IngestActor: audio from ZeroMQ clients (game servers, voice chat, TTS) into the pipeline.

In:  a ROUTER socket; each client DEALER sends one Envelope per message: OpenStream,
     AudioChunk..., CloseStream. Many clients and many streams at once.
Out: open / audio (mono float32 at the source rate) / close messages to the pipeline.
Replies: Status OK for open and close, Status ERROR for anything bad (malformed bytes,
     wrong schema_version, unknown or foreign stream, bad PCM, NaN, oversize chunk,
     bad rate or channel count, bad parameter, duplicate id, admission limit), WARNING
     for dropped chunks, for `seq` gaps (one per stream per GAP_WARNING_INTERVAL_S, the
     rest counted) and for a stream the daemon ended itself (timeout, shutdown,
     worker_restarted; detail_json {"stream_ended": reason}); chunks that arrive after
     such an end get an ERROR with the same detail. A bad message never touches other
     streams.
Drops: audio is sent drop-newest when the pipeline's queue is full (a whole batch of
     chunks at once); every drop is counted and each chunk's client is told. Audio that
     is taken off a queue over facewire.actor.AUDIO_MAX_AGE_S after it was spoken (when
     it arrived, or for a client ahead of real time, when the stream reaches it in real
     time: a file sent at once is not late) is dropped by the pipeline,
     which reports it here (`stale`); the client gets a WARNING with the count (at most
     one per stream per GAP_WARNING_INTERVAL_S, the rest counted into the next). Control
     (open/close/params) is never dropped.
Inbox: the source commands (facewire.actors.source: drain, config), `lost_shard` from the
     supervisor and `stale` reports from the pipeline (in process, or over ipc from the
     worker processes).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

import zmq

from facewire.actors.source import Source
from facewire.audio import AudioError, check_format, decode_pcm
from facewire.config import Config
from facewire.engines.params import ParamError, StreamParams, check_emotion_map, stream_maps
from facewire.messages import Message, shard_of
from facewire.proto import facewire_pb2 as pb
from facewire.wire import Code, ProtocolError, decode, encoding_name, status

MAX_STREAM_ID = 128
WARNINGS_PER_S = 20  # logged client mistakes per second; the rest are counted, then summarised
GAP_WARNING_INTERVAL_S = 1.0  # at most one seq-gap WARNING per stream in this time
ENDED_MEMORY = 1024  # streams the daemon ended itself, remembered to answer late chunks
# Messages the ROUTER queues per client connection (ZeroMQ's default, stated): past it that
# client's sends block, back-pressure on the client rather than a drop here. Audio waiting
# there is not stamped yet; the time bound (facewire.actor.AUDIO_MAX_AGE_S) starts at decode.
CLIENT_QUEUE_MESSAGES = 1000


class StreamEndedByDaemon(ProtocolError):
    """A message for a stream the daemon has ended (timeout, shutdown, worker restart)."""

    def __init__(self, stream_id: str, reason: str) -> None:
        super().__init__(
            f"stream {stream_id!r} was ended by the daemon (reason {reason}); "
            "open a new stream to go on"
        )
        self.detail = {"stream_ended": reason}


@dataclass
class _Stream:
    client: bytes
    rate: int
    channels: int
    encoding: str
    next_seq: int = 0
    samples: int = 0
    last_activity: float = field(default_factory=time.monotonic)
    dropped: int = 0
    gap_warned_at: float = -GAP_WARNING_INTERVAL_S  # monotonic time of the last gap WARNING
    gaps_unreported: int = 0  # gaps since then, told in the next WARNING
    start_ns: int | None = None  # wall clock of the first chunk: the stream's time zero
    stale_warned_at: float = -GAP_WARNING_INTERVAL_S  # the last stale-audio WARNING
    stale_unreported: int = 0  # chunks dropped for their age since then


class IngestActor(Source):
    name = "ingest"
    policy = "drop-newest"
    flush_interval_s = 0.005  # batch 5 ms of every client's chunks per hop downstream

    def __init__(
        self, ctx: zmq.Context, cfg: Config, downstream: str | list[str] = "pipeline"
    ) -> None:
        super().__init__(ctx, cfg, downstream)
        self.streams: dict[str, _Stream] = {}
        self.router: zmq.Socket | None = None
        self._warn_window = 0.0  # start of the current one-second logging window
        self._warned = 0  # warnings logged in it
        self._suppressed = 0  # warnings counted but not logged in it
        # (client, stream id) -> reason, for streams the daemon ended without the client
        # asking: a chunk that was already on its way is told why, not "unknown stream".
        self._ended: OrderedDict[tuple[bytes, str], str] = OrderedDict()

    def on_start(self) -> None:
        if self.router is not None:  # restarted after a crash: the socket is still bound
            return
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.linger = 0
        self.router.setsockopt(zmq.MAXMSGSIZE, self.cfg.sockets.max_message_bytes)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 0)
        self.router.rcvhwm = CLIENT_QUEUE_MESSAGES
        self.router.bind(self.cfg.sockets.ingest)
        self.log.info("ingest_bound", endpoint=self.cfg.sockets.ingest)

    def stop(self, timeout: float = 2.0) -> None:
        # The ROUTER is closed here, on a real stop, like the base class's inbox, and not in
        # on_stop: after a crash it stays open for the restarted thread (the old one has
        # ended, so the socket changes threads safely), so the chunks queued in it, and what
        # clients send during the restart, are read then and no DEALER has to reconnect.
        super().stop(timeout)
        if self.router is not None:
            self.router.close(linger=0)
            self.router = None

    def poll_sockets(self) -> list[zmq.Socket]:
        return [self.router] if self.router is not None else []

    @property
    def busy(self) -> bool:
        return bool(self.streams)

    def on_command(self, msg: Message) -> None:
        if msg.kind == "lost_shard":
            self._lost_shard(int(msg.fields["shard"]), int(msg.fields["shards"]))
        elif msg.kind == "stale":
            self._stale(msg.fields["streams"], float(msg.fields["max_age_s"]))
        else:
            super().on_command(msg)

    def _lost_shard(self, shard: int, shards: int) -> None:
        """A worker process died (or hung and was killed) with its streams' state, so they
        end here. Publish sends their StreamEnded; nothing goes to the dead shard, whose
        queue may never be read again."""
        for sid in [sid for sid in self.streams if shard_of(sid, shards) == shard]:
            st = self._forget(sid, "worker_restarted")
            self.counters["streams_lost"] += 1
            self._end_reply(st.client, sid, "worker_restarted", "worker restarted")

    # -- client traffic ----------------------------------------------------------------
    def on_socket(self, sock: zmq.Socket) -> None:
        for _ in range(256):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            client = frames[0].bytes
            if len(frames) != 2:
                self._reject(client, "", f"expected one Envelope frame, got {len(frames) - 1}")
                continue
            body = None
            try:
                kind, body = decode(frames[1].buffer)
                handler = getattr(self, "_on_" + kind, None)
                if handler is None:
                    raise ProtocolError(f"{kind} is not accepted on the ingest socket")
                handler(client, body)
            except (ProtocolError, AudioError, ParamError) as exc:
                sid = getattr(body, "stream_id", "")
                self._reject(client, sid, str(exc), getattr(exc, "detail", None))

    def _reply(
        self, client: bytes, code: int, message: str, stream_id: str = "", detail=None
    ) -> None:
        try:
            self.router.send_multipart(
                [client, status(code, message, stream_id, detail)], zmq.NOBLOCK
            )
        except zmq.ZMQError:
            self.counters["replies_dropped"] += 1

    def _warn(self, event: str, **kw) -> None:
        """Log a client's mistake, at most WARNINGS_PER_S a second: a flood of bad
        messages must not turn into a flood of log lines (the counters see every one)."""
        now = time.monotonic()
        if now - self._warn_window >= 1.0:
            if self._suppressed:
                self.log.warning("client_warnings_suppressed", count=self._suppressed)
            self._warn_window, self._warned, self._suppressed = now, 0, 0
        if self._warned < WARNINGS_PER_S:
            self._warned += 1
            self.log.warning(event, **kw)
        else:
            self._suppressed += 1

    def _reject(self, client: bytes, stream_id: str, message: str, detail=None) -> None:
        self.counters["rejected"] += 1
        self._warn("message_rejected", stream=stream_id, reason=message)
        self._reply(client, Code.ERROR, message, stream_id, detail)

    def _on_open_stream(self, client: bytes, o: pb.OpenStream) -> None:
        sid = o.stream_id
        if self.drain_reason is not None:
            raise ProtocolError("the daemon is shutting down: no new streams")
        if not sid or len(sid) > MAX_STREAM_ID or not sid.isprintable():
            raise ProtocolError(f"stream_id must be 1-{MAX_STREAM_ID} printable characters")
        if sid in self.streams:
            raise ProtocolError(f"stream {sid!r} is already open")
        if len(self.streams) >= self.cfg.daemon.max_streams:
            raise ProtocolError(
                f"admission refused: {len(self.streams)} streams open "
                f"(max_streams={self.cfg.daemon.max_streams})"
            )
        per_client = self.cfg.daemon.max_streams_per_client
        if sum(st.client == client for st in self.streams.values()) >= per_client:
            raise ProtocolError(
                f"admission refused: this client has {per_client} streams open "
                f"(max_streams_per_client={per_client})"
            )
        channels = o.channels
        encoding = encoding_name(o.encoding)
        if encoding is None:
            raise ProtocolError(f"unknown encoding {o.encoding}")
        check_format(o.sample_rate, channels, encoding)
        maps = stream_maps(self.cfg.face, self.cfg.emotion, o)
        StreamParams.defaults().updated(**maps)  # validates; raises ParamError
        self.streams[sid] = _Stream(client, o.sample_rate, channels, encoding)
        self.counters["streams_opened"] += 1
        self.emit(
            Message(
                "open",
                sid,
                {"rate": o.sample_rate, "params": maps, "source": "zmq", "client": client.hex()},
            )
        )
        self.log.info("stream_opened", stream=sid, rate=o.sample_rate, channels=channels)
        self._reply(client, Code.OK, "stream opened", sid)

    def _owned(self, client: bytes, sid: str) -> _Stream:
        st = self.streams.get(sid)
        if st is None and (client, sid) in self._ended:
            raise StreamEndedByDaemon(sid, self._ended[(client, sid)])
        if st is None or st.client != client:
            raise ProtocolError(f"unknown stream {sid!r} (not open, or already closed)")
        return st

    def _on_audio_chunk(self, client: bytes, c: pb.AudioChunk) -> None:
        st = self._owned(client, c.stream_id)
        pcm = decode_pcm(c.data, st.encoding, st.channels, st.rate, self.cfg.daemon.max_chunk_s)
        now = time.time_ns()
        if st.start_ns is None:
            st.start_ns = now
        # When this chunk is spoken (facewire.actor.AUDIO_MAX_AGE_S): as it arrives for a
        # real-time client, later for one sending ahead of real time.
        spoken = max(now, st.start_ns + st.samples * 1_000_000_000 // st.rate)
        fields = {"seq": c.seq, "arrival_ns": now, "spoken_ns": spoken}
        if c.emotion:
            hint = dict(c.emotion)
            check_emotion_map(hint, "emotion hint")
            when = c.emotion_timecode if c.HasField("emotion_timecode") else st.samples / st.rate
            fields["hint"] = {"emotion": hint, "timecode": when}
        if c.seq != st.next_seq:
            self._seq_gap(client, c.stream_id, st, c.seq)
        st.next_seq = c.seq + 1
        st.samples += len(pcm)
        st.last_activity = time.monotonic()
        self.emit(Message("audio", c.stream_id, fields, {"pcm": pcm}))

    def _seq_gap(self, client: bytes, sid: str, st: _Stream, seq: int) -> None:
        """Count a gap; tell the client once per burst (GAP_WARNING_INTERVAL_S), so a
        client losing every other chunk gets one WARNING a second, not fifty."""
        self.counters["seq_gaps"] += 1
        self._warn("seq_gap", stream=sid, expected=st.next_seq, got=seq)
        now = time.monotonic()
        if now - st.gap_warned_at < GAP_WARNING_INTERVAL_S:
            st.gaps_unreported += 1
            return
        n = st.gaps_unreported
        earlier = f" ({n} more since the last warning)" if n else ""
        self._reply(
            client,
            Code.WARNING,
            f"seq gap: expected {st.next_seq}, got {seq}{earlier}; gaps in the next "
            f"{GAP_WARNING_INTERVAL_S:g} s are counted, not reported one by one",
            sid,
        )
        st.gap_warned_at, st.gaps_unreported = now, 0

    def on_dropped(self, msgs: list[Message]) -> None:
        """The pipeline's queue was full: tell each client which of its chunks were lost."""
        for msg in msgs:
            st = self.streams.get(msg.stream)
            if st is not None:
                st.dropped += 1
                self._reply(st.client, Code.WARNING, "pipeline full: chunk dropped", msg.stream)

    def _stale(self, counts: dict[str, int], max_age_s: float) -> None:
        """The pipeline dropped these streams' audio for waiting longer than max_age_s:
        count it and tell each client, once per GAP_WARNING_INTERVAL_S per stream."""
        now = time.monotonic()
        for sid, n in counts.items():
            self.counters["dropped_stale_audio"] += n
            st = self.streams.get(sid)
            if st is None:  # closed since, or not a client's stream (mic, replay)
                continue
            st.dropped += n
            st.stale_unreported += n
            if now - st.stale_warned_at < GAP_WARNING_INTERVAL_S:
                continue
            self._reply(
                st.client,
                Code.WARNING,
                f"pipeline overloaded: {st.stale_unreported} chunk(s) dropped after waiting "
                f"over {max_age_s:g} s",
                sid,
                {"dropped_stale": st.stale_unreported},
            )
            st.stale_warned_at, st.stale_unreported = now, 0

    def _on_close_stream(self, client: bytes, c: pb.CloseStream) -> None:
        self._owned(client, c.stream_id)
        self._close(c.stream_id, "closed")
        self._reply(client, Code.OK, "stream closed", c.stream_id)

    def _forget(self, sid: str, reason: str) -> _Stream:
        """Drop a stream's state; when the daemon ended it, remember why for late chunks."""
        st = self.streams.pop(sid)
        if reason != "closed":
            self._ended[(st.client, sid)] = reason
            while len(self._ended) > ENDED_MEMORY:
                self._ended.popitem(last=False)
        return st

    def _close(self, sid: str, reason: str) -> None:
        self.flush()  # the stream's queued chunks go (or are counted as dropped) first
        st = self._forget(sid, reason)
        fields = {"reason": reason, "dropped": st.dropped, "audio_s": st.samples / st.rate}
        self.emit(Message("close", sid, fields))
        self.log.info("stream_closed", stream=sid, reason=reason, audio_s=st.samples / st.rate)

    # -- timers ------------------------------------------------------------------------
    def on_tick(self) -> None:
        if self.drain_reason is not None:
            for sid, st in list(self.streams.items()):
                self._close(sid, self.drain_reason)
                self._end_reply(st.client, sid, self.drain_reason, "the daemon is shutting down")
            return
        now = time.monotonic()
        limit = self.cfg.daemon.stream_timeout_s
        for sid, st in list(self.streams.items()):
            if now - st.last_activity > limit:
                self.counters["streams_timed_out"] += 1
                self._close(sid, "timeout")
                self._end_reply(st.client, sid, "timeout", f"no audio for {limit:g} s")

    def _end_reply(self, client: bytes, sid: str, reason: str, why: str) -> None:
        """Tell a client the daemon ended its stream, in words and machine-readably."""
        message = f"{why}: stream ended (reason {reason})"
        self._reply(client, Code.WARNING, message, sid, {"stream_ended": reason})
