"""Source: the base of the actors that open streams (ingest, capture, replay).

In:  commands from the supervisor, in the inbox like any message (no thread writes a
     source's attributes): `drain` {"reason"} ends every stream and opens no more;
     `config` {"config": to_dict(Config)} gives new per-stream defaults (SIGHUP; sockets
     and devices keep theirs until a restart). Anything else goes to `on_command`.
Out: whatever the subclass emits.
Drops: none here.
"""

from __future__ import annotations

import zmq

from facewire import config as config_mod
from facewire.actor import Actor
from facewire.config import Config
from facewire.messages import Message


class Source(Actor):
    def __init__(self, ctx: zmq.Context, cfg: Config, downstream: str | list[str]) -> None:
        super().__init__(ctx, downstream, cfg.sockets.queue_hwm)
        self.cfg = cfg
        self.drain_reason: str | None = None  # set by a `drain` command: end every stream

    def on_message(self, msg: Message) -> None:
        if msg.kind == "drain":
            self.drain_reason = str(msg.fields["reason"])
        elif msg.kind == "config":
            self.cfg = config_mod.from_dict(msg.fields["config"])
        else:
            self.on_command(msg)

    def on_command(self, msg: Message) -> None:
        """An inbox message other than drain/config."""
        raise ValueError(f"{self.name} takes no {msg.kind} messages")

    @property
    def busy(self) -> bool:
        """Whether a stream is still open here (drain waits until no source is busy)."""
        raise NotImplementedError
