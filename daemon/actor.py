"""Actor base: one thread, its own sockets, an inbox, explicit lifecycle hooks.

The daemon's actors are the sources (ingest, capture, replay), the pipeline, publish
and control, each one thread. An actor binds a PULL inbox at `inproc://<name>` (plus the
endpoints in `binds`: an ipc endpoint fed by other
processes) and polls it together with its own sockets (`poll_sockets`, e.g. ingest's
ROUTER). `emit` does not send: it queues the message, and what one loop round emitted, for
every stream, leaves as one batch at the end of the round (sources wait `flush_interval_s`
to collect more; MAX_BATCH caps a batch), so a hop costs per round, not per stream and
chunk, and batches grow by themselves under load. A batch goes through one PUSH connected
to the downstream actor's inbox, or, when `downstream` is a list of worker shards, through
one PUSH per shard, each message to its stream's shard (`shard_of`).

Every edge is bounded twice, both stated here: by messages (an actor's `hwm`, from
sockets.queue_hwm: ZeroMQ counts batches, so each side of an edge holds at most
hwm / (2 x MAX_BATCH) of them, plus the kernel's socket buffers on a worker's ipc edge) and
by time (AUDIO_MAX_AGE_S: audio taken off an inbox longer than that after it was spoken,
`spoken_ns`, is dropped there unhandled, counted, and reported to ingest, which tells the
stream's client with a WARNING). So under overload latency stops growing at about
AUDIO_MAX_AGE_S, instead of the ~100 s of audio a full queue of batches held; the message
bound only caps memory.

Control messages (open/close/params) are never dropped. Data messages use the edge's
overflow policy: `block` waits for room (back-pressure), `drop-newest` drops the data of a
batch that finds the edge full, counts it and tells `on_dropped`.

Commands from the supervisor and the control actor arrive in the inbox like any message
(`tell`): `stall` (fault injection: the loop sleeps, as a slow model would), and for
sources `drain` and `config`; no thread writes another actor's attributes. The one
exception is the crash fault, an Event (see Actor.__init__). `handle` counts every
message and contains an exception from `on_message` (counted and logged; the actor goes
on); an exception escaping the loop ends the thread, and the supervisor (ActorGroup)
restarts the actor with backoff, its inbox and state intact.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from collections import Counter
from typing import Any

import structlog
import zmq

from facewire.backoff import BACKOFF_FIRST_S, next_backoff
from facewire.messages import Message, recv, send, shard_of

POLL_MS = 20
HEARTBEAT_STALE_S = 5.0  # an actor loop that has not turned for this long is unhealthy
MAX_BATCH = 256  # messages per batch: bounds the memory one queued batch can hold
# Audio (the `audio` kind) taken off an inbox longer than this after its `spoken_ns` is
# dropped: the time bound of every queue, which keeps latency under overload at about this
# much. A source stamps `spoken_ns` when it arrived, or, for a client sending ahead of real
# time, when the stream reaches it in real time (so a file sent at once is not "old");
# audio without one (an unpaced replay) is never dropped for its age.
AUDIO_MAX_AGE_S = 1.0
DROP_REPORTS = "inproc://ingest"  # where stale-audio drops are reported (ingest's inbox)
MAX_STALL_S = 30.0  # longest `stall` fault


class Actor:
    """Base class; subclasses implement on_message and optionally on_start/on_tick/on_stop."""

    name = "actor"
    # Overflow policy of this actor's outgoing data edge: "block" or "drop-newest".
    policy = "block"
    # Sources set this to collect a batch for a while before sending it: fewer, larger
    # batches, so every actor downstream wakes less often (the GIL hand-over on each wake
    # is what many small messages cost), at the price of up to this much latency.
    flush_interval_s = 0.0

    def __init__(
        self, ctx: zmq.Context, downstream: str | list[str] | None = None, hwm: int = 1000
    ) -> None:
        """`hwm`: the most messages one edge (this actor's inbox, or one of its outgoing
        edges) holds; data beyond it is blocked or dropped by the edge's policy."""
        self.ctx = ctx
        self.downstream = downstream
        self.binds: list[str] = []  # extra inbox endpoints (ipc, from other processes)
        self.hwm = hwm
        # ZeroMQ's high-water mark counts batches of up to MAX_BATCH messages, and an
        # inproc pipe holds the sender's plus the receiver's mark: half the budget each.
        self._hwm_batches = max(1, hwm // (2 * MAX_BATCH))
        self.drop_reports = DROP_REPORTS  # a worker process reports over ipc instead
        self._reports: zmq.Socket | None = None
        self.counters: Counter[str] = Counter()
        self.log = structlog.get_logger(actor=self.name)
        self.inbox: zmq.Socket | None = None
        self.outs: list[zmq.Socket] = []  # one PUSH, or one per worker shard
        self.started = threading.Event()
        self.stopping = threading.Event()
        self.failure: BaseException | None = None
        self.heartbeat = time.monotonic()
        # Set by the control socket's `fault` command (only when fault injection is enabled
        # in the config): the loop raises InjectedFault, as a real bug would. An Event, not
        # an inbox command, because a crash is most worth injecting under overload, and an
        # inbox command would wait behind the whole backlog (or block the control thread
        # on a full inbox); the Event is seen at the loop's next turn.
        self.fault = threading.Event()
        self._thread: threading.Thread | None = None
        self._outbox: list[Message] = []
        self._last_flush = 0.0

    # -- lifecycle hooks -------------------------------------------------------------
    def on_start(self) -> None:
        """Bind/connect extra sockets and load resources (runs in the actor's thread)."""

    def on_message(self, msg: Message) -> None:
        """Handle one inbox message."""
        raise NotImplementedError

    def on_tick(self) -> None:
        """Called after every poll round (messages or timeout), for timers and batching."""

    def on_stop(self) -> None:
        """Release what on_start acquired (also after a crash, before a restart)."""

    def on_dropped(self, msgs: list[Message]) -> None:
        """Data messages a `drop-newest` edge dropped (already counted); e.g. tell clients."""

    def poll_sockets(self) -> list[zmq.Socket]:
        """Extra sockets (besides the inbox) that the loop should poll."""
        return []

    def on_socket(self, sock: zmq.Socket) -> None:
        """An extra socket from poll_sockets() is readable."""

    # -- plumbing ----------------------------------------------------------------------
    def emit(self, msg: Message) -> None:
        """Queue `msg` for this round's batch (sent by `flush`, at the latest when the round
        ends)."""
        if not self.outs:
            return
        self._outbox.append(msg)
        if len(self._outbox) >= MAX_BATCH:
            self.flush()

    def _poll_ms(self) -> int:
        """Poll until the next message, timer, or when the waiting batch is due."""
        if not self._outbox:
            return POLL_MS
        due = self._last_flush + self.flush_interval_s - time.monotonic()
        return max(0, min(POLL_MS, int(due * 1000) + 1))

    def flush(self) -> None:
        """Send the queued messages as one batch per target, honouring the edge policy."""
        self._last_flush = time.monotonic()
        msgs, self._outbox = self._outbox, []
        if not msgs or not self.outs:
            return
        if len(self.outs) == 1:
            self._send_batch(self.outs[0], msgs)
            return
        shards: dict[int, list[Message]] = {}
        for m in msgs:
            shards.setdefault(shard_of(m.stream, len(self.outs)), []).append(m)
        for k, part in shards.items():
            self._send_batch(self.outs[k], part)

    def _send_batch(self, sock: zmq.Socket, msgs: list[Message]) -> None:
        if self.policy == "block":
            send(sock, msgs)
            return
        try:
            send(sock, msgs, zmq.NOBLOCK)
            return
        except zmq.Again:
            pass
        control = [m for m in msgs if m.is_control]
        dropped = [m for m in msgs if not m.is_control]
        if control:
            send(sock, control)
        for m in dropped:
            self.counters["dropped_" + m.kind] += 1
        self.on_dropped(dropped)

    def start(self) -> None:
        """Start (or, after a crash, restart) the actor's thread; its inbox and state stay."""
        self.failure = None
        self.started.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for sock in (self.inbox, *self.outs, self._reports):
            if sock is not None:
                sock.close(linger=0)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _open_sockets(self) -> None:
        # The inbox outlives a crash: upstream PUSH sockets stay connected to it, and
        # messages queued there during a restart are not lost.
        if self.inbox is not None:
            return
        self.inbox = self.ctx.socket(zmq.PULL)
        self.inbox.set_hwm(self._hwm_batches)
        self.inbox.linger = 0
        self.inbox.bind(f"inproc://{self.name}")
        for endpoint in self.binds:
            self.inbox.bind(endpoint)
        targets = (
            [f"inproc://{self.downstream}"]
            if isinstance(self.downstream, str)
            else list(self.downstream or [])
        )
        for endpoint in targets:
            out = self.ctx.socket(zmq.PUSH)
            out.set_hwm(self._hwm_batches)
            out.linger = 0
            out.connect(endpoint)
            self.outs.append(out)

    def _run(self) -> None:
        _name_os_thread(self.name)
        try:
            self._open_sockets()
            self.on_start()
            self.started.set()
            poller = zmq.Poller()
            poller.register(self.inbox, zmq.POLLIN)
            extra = self.poll_sockets()
            for sock in extra:
                poller.register(sock, zmq.POLLIN)
            while not self.stopping.is_set():
                self.heartbeat = time.monotonic()
                if self.fault.is_set():
                    self.fault.clear()
                    raise InjectedFault(f"fault injected into {self.name}")
                events = dict(poller.poll(self._poll_ms()))
                if self.inbox in events:
                    self._drain_inbox()
                for sock in extra:
                    if sock in events:
                        self.on_socket(sock)
                self.on_tick()
                if time.monotonic() - self._last_flush >= self.flush_interval_s:
                    self.flush()
        except BaseException as exc:  # the supervisor decides what a crash means
            self.failure = exc
            self.counters["crashes"] += 1
            self.log.error("actor_crashed", error=repr(exc), exc_info=True)
        finally:
            try:
                self.on_stop()
                self.flush()
            except Exception:
                self.log.exception("actor_stop_failed")
            self.started.set()

    def _drain_inbox(self, limit: int = 512) -> None:
        """Handle waiting batches until `limit` messages are done, so a tick sees them all at
        once yet comes round soon enough when a flood is queued. Audio older than
        AUDIO_MAX_AGE_S is dropped unhandled (cheap, so a backlog clears fast)."""
        done = 0
        stale: Counter[str] = Counter()
        while done < limit:
            try:
                msgs = recv(self.inbox, zmq.NOBLOCK)
            except zmq.Again:
                break
            oldest = time.time_ns() - int(AUDIO_MAX_AGE_S * 1e9)
            for msg in msgs:
                if msg.kind == "audio" and msg.fields.get("spoken_ns", oldest) < oldest:
                    stale[msg.stream] += 1
                else:
                    self.handle(msg)
            done += len(msgs)
        if stale:
            self._report_stale(stale)

    def _report_stale(self, stale: Counter[str]) -> None:
        """Count audio dropped for its age and tell ingest, which tells the clients."""
        self.counters["dropped_stale_audio"] += stale.total()
        if self._reports is None:  # made on first use, in this actor's own thread
            self._reports = self.ctx.socket(zmq.PUSH)
            self._reports.linger = 0
            self._reports.connect(self.drop_reports)
        report = Message("stale", "", {"streams": dict(stale), "max_age_s": AUDIO_MAX_AGE_S})
        try:
            send(self._reports, [report], zmq.NOBLOCK)
        except zmq.Again:  # ingest is gone or flooded: the counter above still has them
            self.counters["stale_reports_lost"] += 1

    def handle(self, msg: Message) -> None:
        """on_message, with the message counted and an exception counted and logged; a
        `stall` command sleeps here (fault injection: a slow model or a long GC pause)."""
        self.counters["messages"] += 1
        if msg.kind == "stall":
            time.sleep(min(float(msg.fields["seconds"]), MAX_STALL_S))
            return
        try:
            self.on_message(msg)
        except Exception:
            self.counters["message_errors"] += 1
            self.log.exception("message_failed", kind=msg.kind, stream=msg.stream)

    def snapshot(self) -> dict[str, Any]:
        return {"alive": self.alive, "counters": dict(self.counters)}


class ActorGroup:
    """Actors started in order (each waits until the previous one has bound its sockets),
    restarted with exponential backoff when they crash, and stopped in reverse order."""

    def __init__(self, actors: list[Actor], log_=None) -> None:
        self.actors = actors
        self.log = log_ or structlog.get_logger()
        self.restarts: dict[str, int] = {}
        self._next_restart: dict[str, float] = {}
        self._backoff: dict[str, float] = {}

    def start(self, timeout: float = 10.0) -> None:
        for actor in self.actors:
            actor.start()
            if not actor.started.wait(timeout) or actor.failure is not None:
                reason = repr(actor.failure) if actor.failure else "start timed out"
                self.stop()
                raise RuntimeError(f"actor {actor.name} failed to start: {reason}")

    def healthy(self) -> bool:
        now = time.monotonic()
        return all(a.alive and now - a.heartbeat < HEARTBEAT_STALE_S for a in self.actors)

    def restart_crashed(self) -> None:
        """Schedule a restart of each crashed actor, or restart it once its backoff is over."""
        now = time.monotonic()
        for actor in self.actors:
            if actor.alive:
                continue
            due = self._next_restart.get(actor.name)
            if due is None:
                delay = self._backoff.get(actor.name, BACKOFF_FIRST_S)
                self._next_restart[actor.name] = now + delay
                self._backoff[actor.name] = next_backoff(delay)
                self.log.warning(
                    "actor_restart_scheduled",
                    actor=actor.name,
                    delay_s=delay,
                    error=repr(actor.failure),
                )
            elif now >= due:
                del self._next_restart[actor.name]
                self.restarts[actor.name] = self.restarts.get(actor.name, 0) + 1
                actor.start()
                self.log.warning(
                    "actor_restarted", actor=actor.name, restarts=self.restarts[actor.name]
                )

    def stop(self) -> None:
        for actor in reversed(self.actors):
            actor.stop()


def _name_os_thread(name: str) -> None:
    """Give the OS thread the actor's name, so `top -H` and /proc show which actor is busy."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    pr_set_name = 15
    libc.prctl(pr_set_name, name.encode()[:15], 0, 0, 0)


class InjectedFault(RuntimeError):
    """Raised by fault-injection hooks in tests to crash an actor on purpose."""
