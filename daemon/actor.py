"""Actor base: one thread, its own sockets, an inbox, explicit lifecycle hooks.

An actor binds a PULL inbox at `inproc://<name>` and sends downstream through a PUSH
connected to the next actor's inbox. Control messages (open/close/params) are sent
blocking: they are never dropped. Data messages use the edge's overflow policy:
`block` waits for room (back-pressure), `drop-newest` drops the message being sent and
counts it. The supervisor owns the thread; an exception escaping `on_message` is counted
and logged without killing the actor, an exception escaping the loop ends the thread and
the supervisor restarts the actor.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import structlog
import zmq

from facewire.messages import Message, recv, send

POLL_MS = 20


class Actor:
    """Base class; subclasses implement on_message and optionally on_start/on_tick/on_stop."""

    name = "actor"
    # Overflow policy of this actor's outgoing data edge: "block" or "drop-newest".
    policy = "block"

    def __init__(self, ctx: zmq.Context, downstream: str | None = None, hwm: int = 1000) -> None:
        self.ctx = ctx
        self.downstream = downstream
        self.hwm = hwm
        self.counters: Counter[str] = Counter()
        self.log = structlog.get_logger(actor=self.name)
        self.inbox: zmq.Socket | None = None
        self.out: zmq.Socket | None = None
        self.started = threading.Event()
        self.stopping = threading.Event()
        self.failure: BaseException | None = None
        self.heartbeat = time.monotonic()
        # Set by the control socket's `fault` command (only when fault injection is enabled
        # in the config): the loop raises InjectedFault, as a real bug would.
        self.fault = threading.Event()
        self._thread: threading.Thread | None = None

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

    def poll_sockets(self) -> list[zmq.Socket]:
        """Extra sockets (besides the inbox) that the loop should poll."""
        return []

    def on_socket(self, sock: zmq.Socket) -> None:
        """An extra socket from poll_sockets() is readable."""

    # -- plumbing ----------------------------------------------------------------------
    def emit(self, msg: Message) -> None:
        """Send downstream honouring the edge policy; control is never dropped."""
        if self.out is None:
            return
        if msg.is_control or self.policy == "block":
            send(self.out, msg)
            return
        try:
            send(self.out, msg, zmq.NOBLOCK)
        except zmq.Again:
            self.counters["dropped_" + msg.kind] += 1

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
        for sock in (self.inbox, self.out):
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
        self.inbox.set_hwm(self.hwm)
        self.inbox.linger = 0
        self.inbox.bind(f"inproc://{self.name}")
        if self.downstream:
            self.out = self.ctx.socket(zmq.PUSH)
            self.out.set_hwm(self.hwm)
            self.out.linger = 0
            self.out.connect(f"inproc://{self.downstream}")

    def _run(self) -> None:
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
                events = dict(poller.poll(POLL_MS))
                if self.inbox in events:
                    self._drain_inbox()
                for sock in extra:
                    if sock in events:
                        self.on_socket(sock)
                self.on_tick()
        except BaseException as exc:  # the supervisor decides what a crash means
            self.failure = exc
            self.counters["crashes"] += 1
            self.log.error("actor_crashed", error=repr(exc), exc_info=True)
        finally:
            try:
                self.on_stop()
            except Exception:
                self.log.exception("actor_stop_failed")
            self.started.set()

    def _drain_inbox(self, limit: int = 512) -> None:
        """Handle every waiting message (up to `limit`), so a tick sees them all at once."""
        for _ in range(limit):
            try:
                msg = recv(self.inbox, zmq.NOBLOCK)
            except zmq.Again:
                return
            self.counters["messages"] += 1
            try:
                self.on_message(msg)
            except Exception:
                self.counters["message_errors"] += 1
                self.log.exception("message_failed", kind=msg.kind, stream=msg.stream)

    def snapshot(self) -> dict[str, Any]:
        return {"alive": self.alive, "counters": dict(self.counters)}


class InjectedFault(RuntimeError):
    """Raised by fault-injection hooks in tests to crash an actor on purpose."""
