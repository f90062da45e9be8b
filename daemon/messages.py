"""Internal messages between actors: a JSON header frame plus raw array frames, no pickle.

Messages travel in batches: one multipart ZeroMQ message `[header, *buffers]` whose header is
a JSON list with one object per message, each with at least `kind` and `stream`. Arrays travel
as raw bytes whose dtype and shape the header names (`arrays: [[name, dtype, shape], ...]`), so
a receiver never guesses a format, and pyzmq sends large numpy buffers without copying them.

Kinds (control kinds are never dropped; data kinds may be, by the edge's stated policy):
  control: open, close, params
  data:    audio (source rate, raw PCM), audio16 (float32 16 kHz), frames
"""

from __future__ import annotations

import json
import zlib
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


def pack(msgs: list[Message]) -> list:
    """Frames of a batch: one JSON header listing every message, then all their arrays.

    Actors send everything one loop round produced as one batch, so the per-message cost of
    ZeroMQ and JSON is paid once per round, not once per stream and chunk.
    """
    headers, frames = [], []
    for msg in msgs:
        header = dict(msg.fields)
        header["kind"] = msg.kind
        header["stream"] = msg.stream
        header["arrays"] = [[n, a.dtype.str, list(a.shape)] for n, a in msg.arrays.items()]
        headers.append(header)
        frames.extend(np.ascontiguousarray(a) for a in msg.arrays.values())
    return [json.dumps(headers, separators=(",", ":")).encode(), *frames]


def unpack(frames: list) -> list[Message]:
    """The messages of a batch made by `pack` (frames as bytes or zmq.Frame)."""
    headers = json.loads(bytes(frames[0]))
    wanted = sum(len(h.get("arrays", [])) for h in headers)
    if wanted != len(frames) - 1:
        raise ValueError(f"batch has {len(frames) - 1} buffers, its headers name {wanted}")
    msgs, pos = [], 1
    for header in headers:
        arrays = {}
        for name, dtype, shape in header.pop("arrays", []):
            buf = frames[pos]
            data = buf.buffer if isinstance(buf, zmq.Frame) else buf
            arrays[name] = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape)
            pos += 1
        kind = header.pop("kind")
        stream = header.pop("stream")
        msgs.append(Message(kind, stream, header, arrays))
    return msgs


def send(sock: zmq.Socket, msgs: list[Message], flags: int = 0) -> None:
    """Send a batch on `sock`; with zmq.NOBLOCK raises zmq.Again when the edge is full."""
    sock.send_multipart(pack(msgs), flags=flags, copy=False)


def recv(sock: zmq.Socket, flags: int = 0) -> list[Message]:
    # copy=True: our frames are small, and pyzmq copies small frames faster than it
    # wraps them in zmq.Frame objects.
    return unpack(sock.recv_multipart(flags=flags))


def shard_of(stream_id: str, shards: int) -> int:
    """The worker shard that carries `stream_id`: stable, so every source and the control
    socket send a stream's messages to the same worker."""
    return zlib.crc32(stream_id.encode()) % shards
