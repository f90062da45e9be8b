"""`facewire broker`: one front door with the daemon's wire contract for a fleet of daemons.

Clients use the broker exactly as one daemon: a DEALER to its ingest ROUTER, a SUB to its
PUB (same topics, same Envelopes), a REQ to its control. Daemons join with
`facewire run --broker BACKEND` (facewire.fleet: READY with capacity, heartbeats both ways,
the ZeroMQ Guide's Paranoid Pirate / Majordomo pattern).

Placement: a new stream goes to the daemon with the most free capacity
(daemon.max_streams minus its open streams) and stays there.
Failover: a daemon silent for DAEMON_EXPIRY_S, or whose connection is gone when the broker
sends to it, is dropped; each of its streams reopens on the daemon with the most room, with
the client's OpenStream with every set_params the old daemon accepted folded in (the
parameters it has now). Frames go on with `seq` continuing past the lost audio (seq and
timecode stay seq/fps of stream audio, so the jump is the gap); the client gets a WARNING
Status naming the gap, and StreamEnded.dropped_chunks counts the chunks that never became
frames. With no
daemon left (or none with room) the stream ends: StreamEnded reason "no_daemon".
Broker restart: stream routes live only in the broker, so a restart ends the streams open
through it. Each daemon sees an unknown-broker RESET, closes them and re-registers; their
StreamEnded reaches subscribers with reason "broker_restarted"; a client's later chunks get
an ERROR "unknown stream"; new streams work at once.
SIGTERM: every open stream ends (reason "shutdown") and every daemon is RESET.
Security: an endpoint off loopback needs CurveZMQ (the daemons' sockets' rule):
--curve-secret (the broker's key pair) with --daemon-keys (public keys allowed to register)
for the backend, and --client-keys for ingest/pub/control; --allow-insecure-public opts out.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog
import zmq
from zmq.auth.thread import ThreadAuthenticator

from facewire.config import ConfigError
from facewire.engines.params import LIVE_WIRE_MAPS
from facewire.fleet import (
    BYE,
    CLOSE,
    CTL,
    CTLR,
    DAEMON_EXPIRY_S,
    HB,
    HEARTBEAT_S,
    IN,
    OPEN,
    PUB,
    READY,
    RESET,
    ST,
)
from facewire.pcm import PCM_ENCODINGS
from facewire.proto import facewire_pb2 as pb
from facewire.sdnotify import Notifier
from facewire.security import _read_keys, is_loopback
from facewire.wire import Code, ProtocolError, decode, encode, encoding_name, status

log = structlog.get_logger()

CONTROL_TIMEOUT_S = 5.0  # a relayed control request whose daemon never answers
RESET_EVERY_S = 0.5  # at most one RESET per unknown daemon this often
# A restarted broker RESETs the daemons still carrying its predecessor's streams only after
# this long, so that subscribers have reconnected (ZeroMQ retries every 0.1 s) when those
# streams' StreamEnded are published.
REJOIN_AFTER_S = 1.0
BATCH = 512  # messages per socket per loop turn (keeps every socket and timer served)


@dataclass
class DaemonEntry:
    ident: bytes
    name: str
    max_streams: int
    last_seen: float
    joined_at: float
    streams: set[str] = field(default_factory=set)
    orphans: set[str] = field(default_factory=set)  # streams lost in a broker restart

    @property
    def free(self) -> int:
        return self.max_streams - len(self.streams)


@dataclass
class Route:
    """Where one client stream lives, and what the client has seen of it."""

    client: bytes
    daemon: bytes
    open_env: bytes  # the client's OpenStream Envelope: reopened as is on failover
    rate: int
    frame_bytes: int  # bytes per sample frame (all channels)
    confirmed: bool = False  # its first daemon answered the open
    reopening: bool = False  # the next OK is the new daemon's: the client already had one
    closing: bool = False
    started: bool = False  # StreamStarted published (once, whatever the failovers)
    fps: float = 0.0
    samples: int = 0  # sample frames received from the client
    next_client_seq: int = 0
    seq_base: int = 0  # client seq of the first chunk the current daemon got
    samples_base: int = 0  # samples the earlier daemons got
    frame_base: int = 0  # added to the current daemon's frame seq
    next_seq: int = 0  # next frame seq subscribers see
    frames: int = 0  # frames published to subscribers
    frames_here: int = 0  # frames from the current daemon
    pending: deque = field(default_factory=deque)  # (seq, end sample here) not yet framed
    lost_chunks: int = 0
    failovers: int = 0


class BrokerSecurity:
    """CurveZMQ for the broker's sockets; ConfigError for an exposed endpoint without it."""

    def __init__(
        self,
        endpoints: dict[str, str],
        curve_secret: str | None,
        daemon_keys: str | None,
        client_keys: str | None,
        allow_insecure: bool,
    ) -> None:
        self.keys = (b"", b"")
        if daemon_keys or client_keys:
            if not curve_secret:
                raise ConfigError(
                    "--daemon-keys/--client-keys need --curve-secret (the "
                    "broker's .key_secret from `facewire keygen`)"
                )
            public, secret = _read_keys(curve_secret, "--curve-secret", True)
            self.keys = (public, secret or b"")
        for flag, path in (("--daemon-keys", daemon_keys), ("--client-keys", client_keys)):
            if path and not Path(path).is_dir():
                raise ConfigError(f"{flag} {path!r} is not a directory")
        self.domains = {
            "backend": daemon_keys,
            "ingest": client_keys,
            "pub": client_keys,
            "control": client_keys,
        }
        exposed = [
            f"--{n} {ep}"
            for n, ep in endpoints.items()
            if not is_loopback(ep) and not self.domains[n]
        ]
        if exposed and not allow_insecure:
            raise ConfigError(
                f"{', '.join(exposed)} is not a loopback address: give --curve-secret with "
                "--daemon-keys (backend) and --client-keys (ingest, pub, control), or accept "
                "unencrypted, unauthenticated sockets with --allow-insecure-public"
            )
        for item in exposed:
            log.warning(
                "insecure_public_socket",
                socket=item,
                warning="UNENCRYPTED and UNAUTHENTICATED (--allow-insecure-public)",
            )
        self._auth: ThreadAuthenticator | None = None

    def start(self, ctx: zmq.Context) -> None:
        dirs = {d for d in self.domains.values() if d}
        if not dirs:
            return
        self._auth = ThreadAuthenticator(ctx)
        self._auth.start()
        for name, directory in (
            ("fleet", self.domains["backend"]),
            ("clients", self.domains["ingest"]),
        ):
            if directory:
                self._auth.configure_curve(domain=name, location=directory)

    def apply(self, sock: zmq.Socket, name: str) -> None:
        """Make `sock` a CURVE server (before bind) when its role has allowed keys."""
        if self.domains[name]:
            sock.curve_publickey, sock.curve_secretkey = self.keys
            sock.curve_server = True
            sock.zap_domain = b"fleet" if name == "backend" else b"clients"

    def stop(self) -> None:
        if self._auth is not None:
            self._auth.stop()


class Broker:
    def __init__(
        self,
        ingest: str,
        pub: str,
        control: str,
        backend: str,
        security: BrokerSecurity,
        hwm: int = 100_000,
    ) -> None:
        self.endpoints = {"ingest": ingest, "pub": pub, "control": control, "backend": backend}
        self.security = security
        self.hwm = hwm
        self.daemons: dict[bytes, DaemonEntry] = {}
        self.routes: dict[str, Route] = {}
        self.counters: Counter[str] = Counter()
        self.reset_sent: dict[bytes, float] = {}
        # req_id -> (client envelope, deadline, the set_params request to fold into its
        # stream's OpenStream once the daemon accepts it, or None)
        self.ctl_pending: dict[bytes, tuple[list[bytes], float, Any]] = {}
        self.ctl_next = 0
        self.started_at = time.monotonic()
        self.stop_event = threading.Event()
        self.notifier = Notifier()  # READY=1, then WATCHDOG=1 while the loop turns

    # -- sockets -----------------------------------------------------------------------
    def bind(self, ctx: zmq.Context) -> None:
        self.security.start(ctx)
        kinds = {"ingest": zmq.ROUTER, "pub": zmq.PUB, "control": zmq.ROUTER, "backend": zmq.ROUTER}
        self.socks: dict[str, zmq.Socket] = {}
        for name, kind in kinds.items():
            sock = ctx.socket(kind)
            sock.linger = 0
            sock.sndhwm = sock.rcvhwm = self.hwm
            if name == "backend":
                sock.router_mandatory = True  # a vanished daemon shows at once (EHOSTUNREACH)
            self.security.apply(sock, name)
            sock.bind(self.endpoints[name])
            self.socks[name] = sock
        log.info("broker_bound", **self.endpoints)

    def close(self) -> None:
        for sid in list(self.routes):
            self._end(sid, "shutdown")
        for ident in list(self.daemons):
            self._to_daemon(ident, [RESET])
        for sock in self.socks.values():
            sock.close(linger=0)
        self.security.stop()

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> None:
        poller = zmq.Poller()
        handlers = {
            self.socks["backend"]: self._from_daemon,
            self.socks["ingest"]: self._from_client,
            self.socks["control"]: self._from_control,
        }
        for sock in handlers:
            poller.register(sock, zmq.POLLIN)
        next_hb = time.monotonic()
        while not self.stop_event.is_set():
            for sock, _ in poller.poll(int(HEARTBEAT_S * 250)):
                handler = handlers[sock]
                for _ in range(BATCH):
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    handler(frames)
            now = time.monotonic()
            for ident, d in list(self.daemons.items()):
                if now - d.last_seen > DAEMON_EXPIRY_S:
                    self._drop(ident, "silent")
            if now >= next_hb:
                next_hb = now + HEARTBEAT_S
                self.notifier.watchdog()
                for ident in list(self.daemons):
                    self._to_daemon(ident, [HB])
                for req_id, (env, deadline, _) in list(self.ctl_pending.items()):
                    if now > deadline:
                        del self.ctl_pending[req_id]
                        self._control_reply(env, status(Code.ERROR, "daemon did not answer"))

    def _to_daemon(self, ident: bytes, frames: list[bytes]) -> bool:
        """Send to a daemon; a daemon whose connection is gone is dropped (False)."""
        try:
            self.socks["backend"].send_multipart([ident, *frames], zmq.NOBLOCK)
            return True
        except zmq.Again:
            self.counters["backend_full"] += 1
            return True
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EHOSTUNREACH:
                raise
            if ident in self.daemons:
                self._drop(ident, "disconnected")
            return False

    def _reply(
        self, client: bytes, code: int, message: str, sid: str = "", detail: dict | None = None
    ) -> None:
        try:
            self.socks["ingest"].send_multipart(
                [client, status(code, message, sid, detail)], zmq.NOBLOCK
            )
        except zmq.ZMQError:
            self.counters["replies_dropped"] += 1

    def _publish(self, sid: str, payload: bytes) -> None:
        try:
            self.socks["pub"].send_multipart([sid.encode(), payload], zmq.NOBLOCK)
        except zmq.ZMQError:
            self.counters["publish_errors"] += 1

    # -- clients -------------------------------------------------------------------------
    def _from_client(self, frames: list[bytes]) -> None:
        client = frames[0]
        self.counters["client_messages"] += 1
        if len(frames) != 2:
            self._reply(client, Code.ERROR, f"expected one Envelope frame, got {len(frames) - 1}")
            return
        try:
            kind, body = decode(frames[1])
        except ProtocolError as exc:
            self._reply(client, Code.ERROR, str(exc))
            return
        if kind == "open_stream":
            self._open(client, body, frames[1])
        elif kind in ("audio_chunk", "close_stream"):
            route = self.routes.get(body.stream_id)
            if route is None or route.client != client:
                self._reply(
                    client,
                    Code.ERROR,
                    f"unknown stream {body.stream_id!r} (not open, or already closed)",
                    body.stream_id,
                )
            elif kind == "audio_chunk":
                self._chunk(client, route, body, frames[1])
            else:
                route.closing = True
                self._to_daemon(route.daemon, [CLOSE, client, body.stream_id.encode(), frames[1]])
        else:
            self._reply(
                client,
                Code.ERROR,
                f"{kind} is not accepted on the ingest socket",
                getattr(body, "stream_id", ""),
            )

    def _place(self) -> DaemonEntry | None:
        best = max(self.daemons.values(), key=lambda d: (d.free, -d.joined_at), default=None)
        return best if best is not None and best.free > 0 else None

    def _open(self, client: bytes, o: pb.OpenStream, env: bytes) -> None:
        sid = o.stream_id
        if sid in self.routes:
            self._reply(client, Code.ERROR, f"stream {sid!r} is already open", sid)
            return
        d = self._place()
        if d is None:
            self._reply(
                client,
                Code.ERROR,
                f"admission refused: no daemon has room ({len(self.daemons)} daemons registered)",
                sid,
            )
            return
        name = encoding_name(o.encoding)
        sample = np.dtype(PCM_ENCODINGS[name]).itemsize if name in PCM_ENCODINGS else 2
        width = sample * (o.channels or 1)
        self.routes[sid] = Route(client, d.ident, env, max(o.sample_rate, 1), width)
        d.streams.add(sid)
        self.counters["streams_opened"] += 1
        self._to_daemon(d.ident, [OPEN, client, sid.encode(), env])

    def _chunk(self, client: bytes, route: Route, c: pb.AudioChunk, env: bytes) -> None:
        self.counters["chunks"] += 1
        route.samples += len(c.data) // route.frame_bytes
        route.next_client_seq = c.seq + 1
        route.pending.append((c.seq, route.samples - route.samples_base))
        if route.seq_base:  # the current daemon counts this stream's chunks from 0
            c.seq = max(0, c.seq - route.seq_base)
            env = encode(audio_chunk=c)
        self._to_daemon(route.daemon, [IN, client, env])

    # -- daemons ---------------------------------------------------------------------------
    def _from_daemon(self, frames: list[bytes]) -> None:
        ident, cmd, rest = frames[0], frames[1] if len(frames) > 1 else b"", frames[2:]
        d = self.daemons.get(ident)
        now = time.monotonic()
        if cmd == READY:
            self._register(ident, rest, now)
            return
        if d is None:
            if cmd == BYE:
                self._to_daemon(ident, [BYE])
            elif now - self.started_at < REJOIN_AFTER_S:
                return  # let subscribers reconnect first: they must see orphans end
            elif now - self.reset_sent.get(ident, 0.0) > RESET_EVERY_S:
                self.reset_sent[ident] = now
                self.counters["resets"] += 1
                self._to_daemon(ident, [RESET])
            return
        d.last_seen = now
        if cmd == PUB and len(rest) == 2:
            self._from_pub(d, rest[0].decode(errors="replace"), rest[1])
        elif cmd == ST and len(rest) == 2:
            self._from_status(d, rest[0], rest[1])
        elif cmd == CTLR and len(rest) == 2:
            pending = self.ctl_pending.pop(rest[0], None)
            if pending:
                if pending[2] is not None:
                    self._keep_params(pending[2], rest[1])
                self._control_reply(pending[0], rest[1])
        elif cmd == BYE:
            self._drop(ident, "left")
            self._to_daemon(ident, [BYE])
        elif cmd != HB:
            log.warning("broker_bad_daemon_message", daemon=d.name, command=cmd[:16].hex())

    def _register(self, ident: bytes, rest: list[bytes], now: float) -> None:
        try:
            info = json.loads(rest[0])
            name, cap = str(info["name"]), int(info["max_streams"])
            # A stream it lost that already lives elsewhere (it was dropped as silent and
            # the stream moved) is not an orphan: it goes on.
            orphans = {str(s) for s in info.get("orphans", [])} - set(self.routes)
        except (IndexError, ValueError, KeyError, TypeError):
            log.warning("broker_bad_ready", daemon=ident[:64].hex())
            return
        if ident in self.daemons:  # it re-registered: whatever it had is gone
            self._drop(ident, "re-registered")
        self.daemons[ident] = DaemonEntry(ident, name, cap, now, now, orphans=orphans)
        self.counters["daemons_joined"] += 1
        log.info("daemon_joined", daemon=name, max_streams=cap, orphans=len(orphans))

    def _from_status(self, d: DaemonEntry, client: bytes, payload: bytes) -> None:
        try:
            _, st = decode(payload)
        except ProtocolError:
            return
        route = self.routes.get(st.stream_id)
        if st.stream_id and (route is None or route.daemon != d.ident):
            return  # about a stream no longer routed there (orphaned or moved)
        if route is not None and route.reopening:
            if st.code == Code.OK:
                route.reopening = False
                return
            if st.code == Code.ERROR:
                self._reply(
                    client, Code.ERROR, f"could not reopen on {d.name}: {st.message}", st.stream_id
                )
                self._end(st.stream_id, "error")
                return
        elif route is not None and not route.confirmed:
            if st.code == Code.ERROR:  # the daemon refused the open
                del self.routes[st.stream_id]
                d.streams.discard(st.stream_id)
            elif st.code == Code.OK:
                route.confirmed = True
        try:
            self.socks["ingest"].send_multipart([client, payload], zmq.NOBLOCK)
        except zmq.ZMQError:
            self.counters["replies_dropped"] += 1

    def _from_pub(self, d: DaemonEntry, sid: str, payload: bytes) -> None:
        route = self.routes.get(sid)
        if route is None or route.daemon != d.ident:
            if route is None and sid in d.orphans:
                self._orphan_ended(d, sid, payload)
            return
        try:
            kind, body = decode(payload)
        except ProtocolError:
            self.counters["bad_daemon_messages"] += 1
            return
        if kind == "animation_frame":
            self.counters["frames"] += 1
            route.frames += 1
            route.frames_here += 1
            if route.frame_base:
                body.seq += route.frame_base
                body.timecode = body.seq / route.fps
                payload = encode(animation_frame=body)
            route.next_seq = body.seq + 1
            covered = route.frames_here * route.rate / route.fps
            while route.pending and route.pending[0][1] <= covered:
                route.pending.popleft()
        elif kind == "stream_started":
            if route.started:
                return
            route.started, route.fps = True, body.fps
        elif kind == "stream_ended":
            body.frames = route.frames
            body.audio_seconds += route.samples_base / route.rate
            body.dropped_chunks += route.lost_chunks
            del self.routes[sid]
            d.streams.discard(sid)
            self.counters["streams_ended"] += 1
            payload = encode(stream_ended=body)
        self._publish(sid, payload)

    def _orphan_ended(self, d: DaemonEntry, sid: str, payload: bytes) -> None:
        try:
            kind, body = decode(payload)
        except ProtocolError:
            return
        if kind == "stream_ended":
            d.orphans.discard(sid)
            body.reason = "broker_restarted"
            log.info("orphan_ended", stream=sid, daemon=d.name)
            self._publish(sid, encode(stream_ended=body))

    def _drop(self, ident: bytes, why: str) -> None:
        d = self.daemons.pop(ident)
        silent = time.monotonic() - d.last_seen
        self.counters["daemons_lost"] += why != "left"
        log.warning(
            "daemon_dropped",
            daemon=d.name,
            why=why,
            silent_s=round(silent, 3),
            streams=len(d.streams),
        )
        for sid in sorted(d.streams):
            self._failover(sid, d, why, silent)

    def _failover(self, sid: str, old: DaemonEntry, why: str, silent: float) -> None:
        route = self.routes[sid]
        lost = len(route.pending)
        route.lost_chunks += lost
        route.pending.clear()
        if route.closing:
            self._end(sid, "closed")
            return
        new = self._place()
        if new is None:
            self._reply(
                route.client,
                Code.ERROR,
                f"daemon {old.name} lost ({why}) and no daemon has room: stream ended",
                sid,
            )
            self._end(sid, "no_daemon")
            return
        at_audio = round(route.samples / route.rate * route.fps) if route.fps else 0
        base = max(route.next_seq, at_audio)
        gap = base - route.next_seq
        route.frame_base, route.next_seq = base, base
        route.samples_base, route.seq_base = route.samples, route.next_client_seq
        route.frames_here = 0
        route.daemon = new.ident
        route.reopening = route.confirmed
        route.failovers += 1
        new.streams.add(sid)
        self.counters["failovers"] += 1
        detail = {
            "from": old.name,
            "to": new.name,
            "why": why,
            "silent_s": round(silent, 3),
            "dropped_chunks": lost,
            "gap_frames": gap,
        }
        log.warning("stream_moved", stream=sid, **detail)
        self._reply(
            route.client,
            Code.WARNING,
            f"daemon {old.name} lost ({why}): stream moved "
            f"to {new.name}, {lost} chunks / {gap} frames lost",
            sid,
            detail,
        )
        self._to_daemon(new.ident, [OPEN, route.client, sid.encode(), route.open_env])

    def _end(self, sid: str, reason: str) -> None:
        """End a stream here (its daemon cannot): StreamEnded with what the client got."""
        route = self.routes.pop(sid)
        d = self.daemons.get(route.daemon)
        if d is not None:
            d.streams.discard(sid)
        self.counters["streams_ended"] += 1
        self._publish(
            sid,
            encode(
                stream_ended=pb.StreamEnded(
                    stream_id=sid,
                    frames=route.frames,
                    reason=reason,
                    audio_seconds=route.samples / route.rate,
                    dropped_chunks=route.lost_chunks,
                )
            ),
        )

    # -- control -------------------------------------------------------------------------
    def _control_reply(self, envelope: list[bytes], payload: bytes) -> None:
        try:
            self.socks["control"].send_multipart([*envelope, payload], zmq.NOBLOCK)
        except zmq.ZMQError:
            self.counters["replies_dropped"] += 1

    def _from_control(self, frames: list[bytes]) -> None:
        envelope, payload = frames[:-1], frames[-1]
        try:
            kind, req = decode(payload)
            if kind != "control_request":
                raise ProtocolError(f"{kind} is not accepted on the control socket")
        except ProtocolError as exc:
            self._control_reply(envelope, status(Code.ERROR, str(exc)))
            return
        if req.command == "status":
            self._control_reply(envelope, status(Code.OK, "broker status", "", self.snapshot()))
            return
        route = self.routes.get(req.stream_id) if req.stream_id else None
        if route is None:
            what = (
                f"unknown stream {req.stream_id!r}"
                if req.stream_id
                else (
                    f"the broker answers `status` and stream commands; {req.command!r} without a "
                    "stream_id goes to each daemon's own control socket"
                )
            )
            self._control_reply(envelope, status(Code.ERROR, what, req.stream_id))
            return
        self.ctl_next += 1
        req_id = str(self.ctl_next).encode()
        update = req if req.command == "set_params" else None
        self.ctl_pending[req_id] = (envelope, time.monotonic() + CONTROL_TIMEOUT_S, update)
        self._to_daemon(route.daemon, [CTL, req_id, payload])

    def _keep_params(self, req, reply: bytes) -> None:
        """A live set_params the daemon accepted joins its stream's OpenStream, so a
        failover reopens the stream with the parameters it has now, not those it opened with."""
        route = self.routes.get(req.stream_id)
        try:
            kind, st = decode(reply)
        except ProtocolError:
            return
        if route is None or kind != "status" or st.code != Code.OK:
            return
        _, opened = decode(route.open_env)
        for name in LIVE_WIRE_MAPS:  # named as in OpenStream
            getattr(opened, name).update(getattr(req, name))
        route.open_env = encode(open_stream=opened)

    def snapshot(self) -> dict:
        now = time.monotonic()
        names = {d.ident: d.name for d in self.daemons.values()}
        return {
            "role": "broker",
            "uptime_s": round(now - self.started_at, 3),
            "daemons": [
                {
                    "name": d.name,
                    "streams": len(d.streams),
                    "max_streams": d.max_streams,
                    "free": d.free,
                    "last_seen_s": round(now - d.last_seen, 3),
                    "joined_s": round(now - d.joined_at, 3),
                }
                for d in self.daemons.values()
            ],
            "streams": {sid: names.get(r.daemon, "") for sid, r in self.routes.items()},
            "counters": dict(self.counters),
        }


def serve(args) -> int:
    """The `facewire broker` command: bind, READY=1, run until SIGTERM/SIGINT."""
    from facewire import logs

    logs.configure(args.log_format, "info")
    endpoints = {
        "ingest": args.ingest,
        "pub": args.pub,
        "control": args.control,
        "backend": args.backend,
    }
    security = BrokerSecurity(
        endpoints, args.curve_secret, args.daemon_keys, args.client_keys, args.allow_insecure_public
    )
    broker = Broker(args.ingest, args.pub, args.control, args.backend, security)
    ctx = zmq.Context()
    broker.bind(ctx)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: broker.stop_event.set())
    broker.notifier.ready("broker")
    try:
        broker.run()
    finally:
        broker.notifier.stopping()
        broker.close()
        ctx.destroy(linger=0)
        log.info("broker_stopped")
    return 0
