"""ControlActor: the operator's and the game's control socket (REQ -> REP).

In:  an Envelope with a ControlRequest: `status` (streams, counters, drops, engine,
     uptime), `set_params` (a live stream's face/emotion parameters and blendshape
     multipliers/offsets: validated here, then sent down the pipeline, effective from the
     stream's next frame), `record_start` (stream id, argument = absolute output path,
     format from its extension) and `record_stop` (stream id), answered by the publish
     actor, which owns the recordings, `reload` (re-read the config file, as SIGHUP does),
     `fault` (only with daemon.allow_fault_injection, for tests): argument `NAME` crashes
     that actor, `NAME stall=SECONDS` makes its thread sleep that long (a
     command in its inbox, as a slow model would stall it).
Out: one Status reply per request (ERROR with the reason for anything bad); params
     messages to the pipeline's inbox (control messages, never dropped); stall commands
     to the faulted actor's inbox. It writes no other actor's attributes: the crash fault
     sets that actor's `fault` Event (facewire.actor says why an Event).
"""

from __future__ import annotations

import zmq

from facewire.actor import MAX_STALL_S, Actor
from facewire.actors.publish import RECORD_ENDPOINT
from facewire.engines.params import LIVE_WIRE_MAPS, ParamError, StreamParams, maps_from_wire
from facewire.messages import Message, send
from facewire.wire import Code, ProtocolError, decode, status

RECORD_TIMEOUT_MS = 2000


class ControlActor(Actor):
    name = "control"

    def __init__(
        self,
        ctx: zmq.Context,
        endpoint: str,
        supervisor,
        max_bytes: int,
        downstream: str | list[str] = "pipeline",
    ) -> None:
        super().__init__(ctx, downstream, 1000)
        self.endpoint = endpoint
        self.supervisor = supervisor
        self.max_bytes = max_bytes
        self.rep: zmq.Socket | None = None

    def on_start(self) -> None:
        self.rep = self.ctx.socket(zmq.REP)
        self.rep.linger = 0
        self.rep.setsockopt(zmq.MAXMSGSIZE, self.max_bytes)
        self.rep.bind(self.endpoint)
        self.log.info("control_bound", endpoint=self.endpoint)

    def on_stop(self) -> None:
        if self.rep is not None:
            self.rep.close(linger=0)
            self.rep = None

    def poll_sockets(self) -> list[zmq.Socket]:
        return [self.rep] if self.rep is not None else []

    def on_message(self, msg: Message) -> None:
        raise RuntimeError(f"control takes no inbox messages (got {msg.kind})")

    def on_socket(self, sock: zmq.Socket) -> None:
        frames = sock.recv_multipart()
        try:
            if len(frames) != 1:
                raise ProtocolError(f"expected one Envelope frame, got {len(frames)}")
            kind, req = decode(frames[0])
            if kind != "control_request":
                raise ProtocolError(f"{kind} is not accepted on the control socket")
            reply = self._handle(req)
        except (ProtocolError, ParamError) as exc:
            self.counters["rejected"] += 1
            reply = status(Code.ERROR, str(exc))
        sock.send(reply)

    def _handle(self, req) -> bytes:
        cmd = req.command
        if cmd == "status":
            return status(Code.OK, "ok", detail=self.supervisor.snapshot())
        if cmd == "set_params":
            return self._set_params(req)
        if cmd == "reload":
            self.supervisor.request_reload()
            return status(Code.OK, "reload requested")
        if cmd == "fault":
            return self._fault(req.argument)
        if cmd in ("record_start", "record_stop"):
            return self._record(cmd.removeprefix("record_"), req.stream_id, req.argument)
        raise ProtocolError(
            f"unknown command {cmd!r} "
            "(known: status, set_params, reload, record_start, record_stop, fault)"
        )

    def _record(self, action: str, sid: str, path: str) -> bytes:
        """Ask the publish actor (over a fresh inproc REQ) and relay its Status."""
        req = self.ctx.socket(zmq.REQ)
        req.linger = 0
        try:
            req.connect(RECORD_ENDPOINT)
            send(req, [Message("record", sid, {"action": action, "path": path})])
            if not req.poll(RECORD_TIMEOUT_MS):
                raise ProtocolError("the publish actor did not answer the record request")
            return req.recv()
        finally:
            req.close(linger=0)

    def _set_params(self, req) -> bytes:
        sid = req.stream_id
        if not self.supervisor.has_stream(sid):
            raise ProtocolError(f"unknown stream {sid!r}")
        maps = maps_from_wire(req, LIVE_WIRE_MAPS)
        if not maps:
            raise ProtocolError("set_params names no parameter")
        StreamParams.defaults().updated(**maps)  # validates names and ranges
        self.emit(Message("params", sid, {"params": maps}))
        return status(Code.OK, "parameters updated", sid)

    def _fault(self, argument: str) -> bytes:
        if not self.supervisor.cfg.daemon.allow_fault_injection:
            raise ProtocolError("fault injection is disabled (daemon.allow_fault_injection)")
        actor, *how = argument.split() or [""]
        target = self.supervisor.actor(actor)
        if target is None or target is self:
            raise ProtocolError(f"no actor {actor!r} to fault")
        if not how:
            target.fault.set()
            return status(Code.OK, f"fault injected into {actor}")
        seconds = _stall_seconds(how)
        stall = Message("stall", "", {"seconds": seconds})
        self.supervisor.tell(actor, stall)
        return status(Code.OK, f"{actor} stalls for {seconds:g} s")


def _stall_seconds(how: list[str]) -> float:
    """SECONDS of a `stall=SECONDS` fault argument, 0 < SECONDS <= MAX_STALL_S."""
    key, _, value = how[0].partition("=")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if len(how) != 1 or key != "stall" or not 0 < seconds <= MAX_STALL_S:
        raise ProtocolError(
            f"fault argument: NAME, or NAME stall=SECONDS (0 < SECONDS <= {MAX_STALL_S:g})"
        )
    return seconds
