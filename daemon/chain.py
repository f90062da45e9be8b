"""ChainActor: several actors run in one thread, each handing its messages straight on.

Between separate actors every message is packed, queued, woken up for and unpacked, and the
threads take turns on the GIL: with many streams those hand-overs, not the processing, set
the latency (a frame crossed four of them inside the pipeline). A chain keeps the actors as
they are, in order, but replaces each one's `emit` by a direct call of the next one's
`on_message`; only the last one's messages leave, as one batch per loop round. Each stage
keeps the semantics it has alone: an exception from one message is counted and logged by
that stage and the others go on; a fault injected into any stage crashes the chain, which
the supervisor restarts with every stage's state intact.
"""

from __future__ import annotations

import zmq

from facewire.actor import Actor, InjectedFault
from facewire.messages import Message


class ChainActor(Actor):
    name = "pipeline"

    def __init__(
        self,
        ctx: zmq.Context,
        stages: list[Actor],
        downstream: str | list[str],
        hwm: int,
    ) -> None:
        """`stages` upstream first; the first one's inbox becomes the chain's."""
        super().__init__(ctx, downstream, hwm)
        self.stages = stages
        self.binds = [f"inproc://{stages[0].name}"]  # upstream still sends to the first stage
        for stage, after in zip(stages[:-1], stages[1:], strict=True):
            stage.emit = after.handle
        stages[-1].emit = self.emit
        for stage in stages:
            # A stage that flushes (emotion, before its analysis) sends the chain's batch.
            stage.flush = self.flush

    def on_message(self, msg: Message) -> None:
        # Errors are counted and logged by the stage that raised, as if it ran alone.
        self.stages[0].handle(msg)

    def on_tick(self) -> None:
        for stage in self.stages:
            if stage.fault.is_set():
                stage.fault.clear()
                raise InjectedFault(f"fault injected into {stage.name}")
            stage.on_tick()

    def snapshot(self) -> dict:
        out = super().snapshot()
        out["stages"] = {s.name: dict(s.counters) for s in self.stages}
        return out
