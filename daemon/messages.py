"""Internal messages between actors: a JSON header frame plus raw array frames, no pickle.

Every message is a multipart ZeroMQ message `[header, *buffers]`. The header is a small JSON
object with at least `kind` and `stream`; arrays travel as raw bytes whose dtype and shape the
header names (`arrays: [[name, dtype, shape], ...]`), so a receiver never guesses a format and
pyzmq can send numpy buffers without copying them.

Kinds (control kinds are never dropped; data kinds may be, by the edge's stated policy):
  control: open, close, params
  data:    audio (source rate, raw PCM), audio16 (float32 16 kHz), frames
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zmq

CONTROL_KINDS = frozenset({"open", "close", "params"})


@dataclass
class Message:
    """One internal message: header fields plus named numpy arrays."""

    kind: str
    stream: str
    fields: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def is_control(self) -> bool:
        return self.kind in CONTROL_KINDS

    def to_frames(self) -> list:
        header = dict(self.fields)
        header["kind"] = self.kind
        header["stream"] = self.stream
        header["arrays"] = [[n, a.dtype.str, list(a.shape)] for n, a in self.arrays.items()]
        frames: list = [json.dumps(header, separators=(",", ":")).encode()]
        frames.extend(np.ascontiguousarray(a) for a in self.arrays.values())
        return frames

    @classmethod
    def from_frames(cls, frames: list) -> Message:
        header = json.loads(bytes(frames[0]))
        specs = header.pop("arrays", [])
        if len(specs) != len(frames) - 1:
            raise ValueError(f"message has {len(frames) - 1} buffers, header names {len(specs)}")
        arrays = {}
        for (name, dtype, shape), buf in zip(specs, frames[1:], strict=True):
            data = buf.buffer if isinstance(buf, zmq.Frame) else buf
            arrays[name] = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape)
        kind = header.pop("kind")
        stream = header.pop("stream")
        return cls(kind, stream, header, arrays)


def send(sock: zmq.Socket, msg: Message, flags: int = 0) -> None:
    """Send `msg` on `sock`; with zmq.NOBLOCK raises zmq.Again when the edge is full."""
    sock.send_multipart(msg.to_frames(), flags=flags, copy=False)


def recv(sock: zmq.Socket, flags: int = 0) -> Message:
    return Message.from_frames(sock.recv_multipart(flags=flags, copy=False))
