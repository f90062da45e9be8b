"""Internal messages between actors: a JSON header frame plus one raw data frame, no pickle.

Messages travel in batches: a two-frame ZeroMQ message `[header, data]`. The header is a JSON
list with one `[kind, stream, fields, arrays]` entry per message, where `arrays` names each
array's `[name, dtype, shape]`; the data frame holds those arrays' bytes end to end, in
order. A receiver never guesses a format, and a malformed batch raises ValueError.

Kinds (control kinds are never dropped; data kinds may be, by the edge's stated policy):
  control: open, close, params
  data:    audio (source rate, raw PCM), audio16 (float32 16 kHz), frames
"""

from __future__ import annotations

import json
import math
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


def pack(msgs: list[Message]) -> list[bytes]:
    """The two frames of a batch: a JSON header, then every array's bytes end to end.

    Actors send everything one loop round produced as one batch, so the per-message cost of
    ZeroMQ and JSON is paid once per round, not once per stream and chunk; one data frame
    for all arrays (rather than one frame each) halves the cost of a hop again.
    """
    headers, blobs = [], []
    for msg in msgs:
        specs = []
        for name, a in msg.arrays.items():
            specs.append((name, a.dtype.str, a.shape))
            blobs.append(a.tobytes())
        headers.append((msg.kind, msg.stream, msg.fields, specs))
    return [json.dumps(headers, separators=(",", ":")).encode(), b"".join(blobs)]


def unpack(frames: list) -> list[Message]:
    """The messages of a batch made by `pack` (arrays are read-only views of its bytes)."""
    if len(frames) != 2:
        raise ValueError(f"a batch is 2 frames (header, data), got {len(frames)}")
    blob = bytes(frames[1])
    msgs, pos = [], 0
    for kind, stream, fields, specs in json.loads(bytes(frames[0])):
        arrays = {}
        for name, dtype, shape in specs:
            dt = np.dtype(dtype)
            count = math.prod(shape)
            if pos + count * dt.itemsize > len(blob):
                raise ValueError(f"batch data ends before array {name!r} of {kind} for {stream}")
            arrays[name] = np.frombuffer(blob, dt, count, pos).reshape(shape)
            pos += count * dt.itemsize
        msgs.append(Message(kind, stream, fields, arrays))
    if pos != len(blob):
        raise ValueError(f"batch data has {len(blob) - pos} bytes no header names")
    return msgs


def send(sock: zmq.Socket, msgs: list[Message], flags: int = 0) -> None:
    """Send a batch on `sock`; with zmq.NOBLOCK raises zmq.Again when the edge is full."""
    sock.send_multipart(pack(msgs), flags=flags)


def recv(sock: zmq.Socket, flags: int = 0) -> list[Message]:
    return unpack(sock.recv_multipart(flags=flags))


def shard_of(stream_id: str, shards: int) -> int:
    """The worker shard that carries `stream_id`: stable, so every source and the control
    socket send a stream's messages to the same worker."""
    return zlib.crc32(stream_id.encode()) % shards
