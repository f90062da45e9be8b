"""A daemon's side of a fleet: `facewire run --broker EP` joins a `facewire broker`.

The daemon runs as usual on its own (private) sockets; a FleetAgent thread connects out to
the broker's backend ROUTER with one DEALER and relays:
  broker -> daemon: OpenStream/AudioChunk/CloseStream Envelopes of each client, sent on a
      local DEALER per client (so the daemon's per-client checks and limits hold as if the
      client had connected directly), and control requests, sent on a fresh local REQ;
  daemon -> broker: every message of the daemon's PUB, each ingest reply (Status) with the
      client it belongs to, each control reply.
Reliability follows the ZeroMQ Guide's Paranoid Pirate worker: READY with the capacity
(daemon.max_streams) when joining, HB both ways every HEARTBEAT_S, and a broker that does
not know this daemon (it restarted, or dropped us as silent) answers RESET: the daemon
closes the streams it had open through the broker (their clients have lost them) and
registers again, naming them as orphans so the broker can end them for their subscribers.
SIGTERM leaves gracefully: BYE first (the broker moves the streams elsewhere at once), then
the daemon drains and stops.

Backend frames (after the ROUTER's routing id), all bytes:
  daemon -> broker: READY json | HB | BYE | ST client status | PUB topic envelope
                    | CTLR request_id status
  broker -> daemon: HB | RESET | BYE (ack) | OPEN client stream_id envelope
                    | CLOSE client stream_id envelope | IN client envelope (chunks)
                    | CTL request_id request
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import structlog
import zmq

from facewire.config import Config, ConfigError, SocketsSection
from facewire.pcm import SAMPLE_RATE
from facewire.security import apply_client_curve, is_loopback
from facewire.wire import encode

log = structlog.get_logger()

HEARTBEAT_S = 0.2  # both directions
DAEMON_EXPIRY_S = 0.75  # broker: a daemon silent this long is dropped (issue bound: 1 s)
BROKER_LOST_S = 3.0  # daemon: a broker silent this long has lost our streams
CLIENT_IDLE_S = 60.0  # a local per-client DEALER with no traffic this long is closed
PROBE_PREFIX = "__fleet_probe_"  # the agent's own subscription probe streams (never relayed)
LEAVE_ACK_S = 1.0  # how long a leaving daemon waits for the broker's BYE

READY, HB, BYE, RESET = b"READY", b"HB", b"BYE", b"RESET"
OPEN, CLOSE, IN = b"OPEN", b"CLOSE", b"IN"
ST, PUB, CTL, CTLR = b"ST", b"PUB", b"CTL", b"CTLR"


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class FleetAgent(threading.Thread):
    """Relays one daemon's sockets to a broker (see the module docstring)."""

    def __init__(
        self,
        broker: str,
        sockets: SocketsSection,
        max_streams: int,
        name: str | None = None,
        server_key: str | None = None,
        client_key: str | None = None,
        on_left: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name="fleet-agent", daemon=True)
        if not is_loopback(broker) and not (server_key and client_key):
            raise ConfigError(
                f"--broker {broker} is not a loopback address: the broker link needs CurveZMQ "
                "(--broker-key BROKER.key and --broker-client-key THIS_DAEMON.key_secret, "
                "from `facewire keygen`)"
            )
        if bool(server_key) != bool(client_key):
            raise ConfigError("--broker-key and --broker-client-key go together")
        self.broker = broker
        self.sockets = sockets
        self.max_streams = max_streams
        self.daemon_name = name or default_name()
        self.curve = (server_key, client_key)
        self.on_left = on_left
        self.identity = self.daemon_name.encode() + b"/" + uuid.uuid4().hex[:8].encode()
        self.ctx = zmq.Context()
        self._leave = threading.Event()
        self.joined = threading.Event()  # set once subscribed locally and READY was sent
        self.error: str | None = None

    def leave(self) -> None:
        """Start a graceful leave (from a signal handler: only sets an event)."""
        self._leave.set()

    # -- sockets -----------------------------------------------------------------------
    def _backend(self) -> zmq.Socket:
        sock = self.ctx.socket(zmq.DEALER)
        sock.linger = 0
        sock.routing_id = self.identity
        sock.sndhwm = sock.rcvhwm = self.sockets.pub_hwm_messages
        apply_client_curve(sock, *self.curve)
        sock.connect(self.broker)
        return sock

    def _dealer(self, client: bytes) -> zmq.Socket:
        entry = self.dealers.get(client)
        if entry is None:
            sock = self.ctx.socket(zmq.DEALER)
            sock.linger = 0
            sock.sndhwm = sock.rcvhwm = self.sockets.queue_hwm
            sock.connect(self.sockets.ingest)
            self.poller.register(sock, zmq.POLLIN)
            self.dealer_client[sock] = client
            entry = self.dealers[client] = [sock, time.monotonic()]
        entry[1] = time.monotonic()
        return entry[0]

    def _subscribe(self) -> zmq.Socket:
        """SUB on the daemon's PUB, confirmed with probe streams (PUB/SUB joins late)."""
        from facewire.proto import facewire_pb2 as pb

        sub = self.ctx.socket(zmq.SUB)
        sub.linger = 0
        sub.set_hwm(0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(self.sockets.pub)
        probe = self.ctx.socket(zmq.DEALER)
        probe.linger = 0
        probe.connect(self.sockets.ingest)
        try:
            deadline = time.monotonic() + 30.0
            n = 0
            while time.monotonic() < deadline and not self._leave.is_set():
                sid = f"{PROBE_PREFIX}{n}"
                n += 1
                opened = pb.OpenStream(stream_id=sid, sample_rate=SAMPLE_RATE, channels=1)
                probe.send(encode(open_stream=opened))
                probe.send(encode(close_stream=pb.CloseStream(stream_id=sid)))
                end = time.monotonic() + 0.3
                while (left := end - time.monotonic()) > 0:
                    if sub.poll(int(left * 1000)) and sub.recv_multipart()[0] == sid.encode():
                        return sub
            raise RuntimeError("could not subscribe to the daemon's own PUB socket")
        finally:
            probe.close(linger=0)

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # the daemon goes on alone; the broker drops it
            self.error = str(exc)
            log.exception("fleet_agent_failed", broker=self.broker)
        finally:
            self.ctx.destroy(linger=0)

    def _run(self) -> None:
        self.dealers: dict[bytes, list] = {}  # client id -> [DEALER, last use]
        self.dealer_client: dict[zmq.Socket, bytes] = {}
        self.streams: dict[str, bytes] = {}  # streams opened through the broker -> client
        self.requests: dict[zmq.Socket, bytes] = {}  # local control REQ -> request id
        self.poller = zmq.Poller()
        sub = self._subscribe()
        self.backend = self._backend()
        self.poller.register(self.backend, zmq.POLLIN)
        self.poller.register(sub, zmq.POLLIN)
        self._register([])
        self.joined.set()
        log.info("fleet_joined", broker=self.broker, name=self.daemon_name, cap=self.max_streams)
        broker_seen = time.monotonic()
        next_hb = time.monotonic() + HEARTBEAT_S
        next_sweep = time.monotonic() + CLIENT_IDLE_S
        leave_deadline = None
        while True:
            timeout = max(0.0, next_hb - time.monotonic())
            for sock, _ in self.poller.poll(int(timeout * 1000) + 1):
                if sock is self.backend:
                    for _ in range(1000):
                        try:
                            frames = self.backend.recv_multipart(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        broker_seen = time.monotonic()
                        if self._from_broker(frames) and leave_deadline is not None:
                            self._left()
                            return
                elif sock is sub:
                    for _ in range(1000):
                        try:
                            topic, payload = sub.recv_multipart(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        if not topic.startswith(PROBE_PREFIX.encode()):
                            self._up([PUB, topic, payload])
                elif sock in self.requests:
                    self._up([CTLR, self.requests.pop(sock), sock.recv()])
                    self.poller.unregister(sock)
                    sock.close(linger=0)
                else:
                    client = self.dealer_client[sock]
                    while sock.poll(0):
                        self._up([ST, client, sock.recv()])
            now = time.monotonic()
            if self._leave.is_set() and leave_deadline is None:
                self._up([BYE])
                leave_deadline = now + LEAVE_ACK_S
                log.info("fleet_leaving", broker=self.broker)
            if leave_deadline is not None and now > leave_deadline:
                log.warning("fleet_leave_unacknowledged", broker=self.broker)
                self._left()
                return
            if now >= next_hb:
                next_hb = now + HEARTBEAT_S
                self._up([HB])
                if now - broker_seen > BROKER_LOST_S and self.streams:
                    log.warning("fleet_broker_lost", silent_s=round(now - broker_seen, 2))
                    self._orphan_streams()
            if now >= next_sweep:
                next_sweep = now + CLIENT_IDLE_S
                self._sweep(now)

    def _left(self) -> None:
        if self.on_left:
            self.on_left()

    def _up(self, frames: list[bytes]) -> None:
        try:
            self.backend.send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:  # no broker connected, or its queue is full: it resyncs via RESET
            pass

    def _register(self, orphans: list[str]) -> None:
        info = {"name": self.daemon_name, "max_streams": self.max_streams, "orphans": orphans}
        self._up([READY, json.dumps(info).encode()])

    def _from_broker(self, frames: list[bytes]) -> bool:
        """Handle one broker message; True for the BYE that acknowledges our leave."""
        cmd = frames[0]
        if cmd == IN and len(frames) == 3:
            self._dealer(frames[1]).send(frames[2])
        elif cmd == OPEN and len(frames) == 4:
            self.streams[frames[2].decode()] = frames[1]
            self._dealer(frames[1]).send(frames[3])
        elif cmd == CLOSE and len(frames) == 4:
            self.streams.pop(frames[2].decode(), None)
            self._dealer(frames[1]).send(frames[3])
        elif cmd == CTL and len(frames) == 3:
            req = self.ctx.socket(zmq.REQ)
            req.linger = 0
            req.connect(self.sockets.control)
            req.send(frames[2])
            self.poller.register(req, zmq.POLLIN)
            self.requests[req] = frames[1]
        elif cmd == RESET:
            orphans = self._orphan_streams()
            log.warning("fleet_reset", broker=self.broker, orphans=len(orphans))
            self._register(orphans)
        elif cmd == BYE:
            return True
        elif cmd != HB:
            log.warning("fleet_bad_message", command=cmd[:16].decode(errors="replace"))
        return False

    def _orphan_streams(self) -> list[str]:
        """Close every stream opened through the broker: nobody routes them any more."""
        from facewire.proto import facewire_pb2 as pb

        orphans = list(self.streams)
        for sid, client in self.streams.items():
            self._dealer(client).send(encode(close_stream=pb.CloseStream(stream_id=sid)))
        self.streams.clear()
        return orphans

    def _sweep(self, now: float) -> None:
        """Close per-client DEALERs idle for CLIENT_IDLE_S (their streams timed out)."""
        for client, (sock, last) in list(self.dealers.items()):
            if now - last > CLIENT_IDLE_S:
                self.poller.unregister(sock)
                del self.dealer_client[sock]
                del self.dealers[client]
                sock.close(linger=0)
                for sid in [s for s, c in self.streams.items() if c == client]:
                    del self.streams[sid]


def private_sockets(cfg: Config) -> Config:
    """With --broker the daemon's own sockets are reached only by its agent: those left at
    their defaults become ipc endpoints in a private directory, so several daemons share a
    host (systemd/facewire@.service) without choosing ports."""
    if cfg.sockets.curve or cfg.sockets.curve_server_secret:
        raise ConfigError(
            "--broker: the daemon's own sockets serve only its fleet agent, so sockets.curve* "
            "does not apply; secure the broker link with --broker-key and --broker-client-key"
        )
    defaults = SocketsSection()
    run_dir = Path(
        tempfile.mkdtemp(prefix="facewire-fleet-", dir=os.environ.get("RUNTIME_DIRECTORY"))
    )
    atexit.register(shutil.rmtree, run_dir, True)
    over = {
        f"sockets__{name}": f"ipc://{run_dir}/{name}"
        for name in ("ingest", "pub", "control")
        if getattr(cfg.sockets, name) == getattr(defaults, name)
    }
    return cfg.with_overrides(**over)


def join(agent: FleetAgent, sup) -> None:
    """Start the agent once the daemon is up; SIGTERM/SIGINT then leave the broker first
    (its streams move to other daemons) and stop the daemon when the broker acknowledges."""
    agent.on_left = sup.request_stop
    agent.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: agent.leave() if agent.is_alive() else sup.request_stop())
