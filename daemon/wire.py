"""Envelope helpers shared by the actors, the client and the tests."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.message import DecodeError

from facewire.proto import SCHEMA_VERSION
from facewire.proto import facewire_pb2 as pb

Code = pb.Status.Code


def encoding_enum(name: str) -> int:
    """OpenStream.Encoding of a facewire.pcm.PCM_ENCODINGS name ("s16le" -> PCM_S16LE)."""
    return pb.OpenStream.Encoding.Value(f"PCM_{name.upper()}")


def encoding_name(enum: int) -> str | None:
    """The PCM_ENCODINGS name of an OpenStream.Encoding value; None for an unknown one."""
    try:
        return pb.OpenStream.Encoding.Name(enum).removeprefix("PCM_").lower()
    except ValueError:
        return None


class ProtocolError(ValueError):
    """A message that is not a valid facewire Envelope of this schema version."""


def wrap(**body: Any) -> pb.Envelope:
    """An Envelope holding one body, e.g. wrap(status=pb.Status(...))."""
    return pb.Envelope(schema_version=SCHEMA_VERSION, **body)


def encode(**body: Any) -> bytes:
    return wrap(**body).SerializeToString()


def decode(data: bytes) -> tuple[str, Any]:
    """Parse an Envelope; returns (body name, body). Raises ProtocolError with the reason."""
    env = pb.Envelope()
    try:
        env.ParseFromString(bytes(data))
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ProtocolError(f"malformed Envelope: {exc}") from None
    if env.schema_version != SCHEMA_VERSION:
        raise ProtocolError(
            f"schema_version {env.schema_version} is not supported (this daemon speaks "
            f"{SCHEMA_VERSION})"
        )
    name = env.WhichOneof("body")
    if name is None:
        raise ProtocolError("Envelope has no body")
    return name, getattr(env, name)


def status(code: int, message: str, stream_id: str = "", detail: Any = None) -> bytes:
    return encode(
        status=pb.Status(
            code=code,
            message=message,
            stream_id=stream_id,
            detail_json=json.dumps(detail) if detail is not None else "",
        )
    )
