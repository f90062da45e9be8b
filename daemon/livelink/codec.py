"""Live Link Face UDP packets: the wire format of Epic's iPhone app, so Unreal can listen to us.

Unreal's Live Link Face source (AppleARKitFaceSupport's remote listener, default UDP port
11111) accepts one datagram per frame in the app's packet version 6. Every multi-byte field
is big-endian (Unreal's FNboSerialize, "network byte order"):

=========  ===========================================================
uint8      packet version, 6
int32      device id length in bytes, then the UTF-8 device id (the app sends its UUID)
int32      subject name length in bytes, then the UTF-8 subject name
int32      frame number  (FQualifiedFrameTime.Time.FrameNumber)
float32    sub-frame, 0 <= s < 1  (FQualifiedFrameTime.Time.SubFrame)
int32      frame rate numerator  (FQualifiedFrameTime.Rate)
int32      frame rate denominator
uint8      value count, 61
float32    x 61: the 52 ARKit curves in Apple's order, then head yaw/pitch/roll, left eye
           yaw/pitch/roll, right eye yaw/pitch/roll (radians)
=========  ===========================================================

Strings carry no terminator. docs/FORMATS.md lists the public sources this was checked
against; tests/test_livelink.py decodes our packets with the independent `pylivelinkface`
reader over a real UDP socket.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

from facewire.arkit import ARKIT_NAMES, HEAD_NAMES

PACKET_VERSION = 6
DEFAULT_PORT = 11111
VALUE_COUNT = 61

# Eye rotations after the head rotations, in the packet's order (radians).
EYE_NAMES: tuple[str, ...] = (
    "leftEyeYaw", "leftEyePitch", "leftEyeRoll", "rightEyeYaw", "rightEyePitch", "rightEyeRoll",
)  # fmt: skip

# The packet's 61 values by name, in packet order (our camelCase spelling).
LIVELINK_NAMES: tuple[str, ...] = ARKIT_NAMES + HEAD_NAMES + EYE_NAMES
assert len(LIVELINK_NAMES) == VALUE_COUNT

# Eye rotation (radians) for an eyeLook* coefficient of 1. ARKit's eye shapes are not linear
# in angle; 0.5 rad (~29 degrees) is a rough fit to public Live Link Face recordings, where
# eyeLookUp/Down of ~0.3-0.5 goes with a pitch of ~0.17-0.23 rad (yaw fits more loosely: the
# app's eye angles also carry vergence). Signs follow the same recordings: pitch > 0 looks
# down, yaw > 0 looks toward the subject's right.
EYE_LOOK_RAD = 0.5

_TIME = struct.Struct(">ifii")
_MAX_STRING = 1024  # far beyond any real device id / subject; guards against garbage lengths


@dataclass(frozen=True)
class LiveLinkPacket:
    """One decoded Live Link Face datagram.

    Attributes:
        version: packet version (6 for every packet `decode_packet` accepts).
        device_id: sender's device id (the app uses its UUID).
        subject: Live Link subject name shown in Unreal.
        frame_number: frame index at `fps_num / fps_den`.
        subframe: position within that frame, in [0, 1).
        fps_num: frame-rate numerator.
        fps_den: frame-rate denominator.
        values: (61,) float32 in `LIVELINK_NAMES` order.
    """

    version: int
    device_id: str
    subject: str
    frame_number: int
    subframe: float
    fps_num: int
    fps_den: int
    values: np.ndarray

    @property
    def seconds(self) -> float:
        """The packet's time in seconds: (frame_number + subframe) / rate."""
        return (self.frame_number + self.subframe) * self.fps_den / self.fps_num

    def value(self, name: str) -> float:
        """One value by its `LIVELINK_NAMES` name, e.g. ``packet.value("jawOpen")``."""
        return float(self.values[LIVELINK_NAMES.index(name)])


def _pack_string(text: str, what: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > _MAX_STRING:
        raise ValueError(f"{what} is {len(raw)} bytes; Live Link Face strings stay short")
    return struct.pack(">i", len(raw)) + raw


def encode_packet(
    subject: str,
    device_id: str,
    frame_number: int,
    subframe: float,
    fps_num: int,
    fps_den: int,
    values: Sequence[float] | np.ndarray,
) -> bytes:
    """Build one version-6 Live Link Face datagram.

    Args:
        subject: Live Link subject name (what Unreal lists).
        device_id: sender id. Unreal only uses it to tell senders apart; send a UUID string
            (36 characters) like the app does, which is also what `pylivelinkface` assumes.
        frame_number: frame index at `fps_num / fps_den` (int32).
        subframe: position within the frame, in [0, 1).
        fps_num: frame-rate numerator, > 0.
        fps_den: frame-rate denominator, > 0.
        values: 61 floats in `LIVELINK_NAMES` order (see `values_from_frame`).

    Returns:
        The datagram bytes.

    Raises:
        ValueError: on a wrong value count or out-of-range field.
    """
    vals = np.asarray(values, dtype=">f4").reshape(-1)
    if vals.size != VALUE_COUNT:
        raise ValueError(f"a Live Link Face packet carries {VALUE_COUNT} values, got {vals.size}")
    if not -(2**31) <= frame_number < 2**31:
        raise ValueError(f"frame_number {frame_number} does not fit an int32")
    if not 0.0 <= subframe < 1.0:
        raise ValueError(f"subframe must be in [0, 1), got {subframe}")
    if fps_num <= 0 or fps_den <= 0:
        raise ValueError(f"frame rate must be positive, got {fps_num}/{fps_den}")
    return b"".join(
        (
            struct.pack(">B", PACKET_VERSION),
            _pack_string(device_id, "device_id"),
            _pack_string(subject, "subject"),
            _TIME.pack(frame_number, subframe, fps_num, fps_den),
            struct.pack(">B", VALUE_COUNT),
            vals.tobytes(),
        )
    )


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise ValueError(
                f"Live Link Face packet truncated reading {what}: "
                f"needs {end} bytes, has {len(self.data)}"
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def string(self, what: str) -> str:
        (length,) = struct.unpack(">i", self.take(4, f"{what} length"))
        if not 0 <= length <= _MAX_STRING:
            raise ValueError(f"Live Link Face packet has a bad {what} length {length}")
        try:
            return self.take(length, what).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"Live Link Face packet {what} is not UTF-8") from exc


def decode_packet(data: bytes) -> LiveLinkPacket:
    """Parse one version-6 Live Link Face datagram (ours or the app's).

    Raises:
        ValueError: if the data is not a complete version-6 packet with 61 values.
    """
    rd = _Reader(bytes(data))
    (version,) = struct.unpack(">B", rd.take(1, "version"))
    if version != PACKET_VERSION:
        raise ValueError(f"Live Link Face packet version {version}; only {PACKET_VERSION} is known")
    device_id = rd.string("device id")
    subject = rd.string("subject name")
    frame_number, subframe, fps_num, fps_den = _TIME.unpack(rd.take(_TIME.size, "frame time"))
    (count,) = struct.unpack(">B", rd.take(1, "value count"))
    if count != VALUE_COUNT:
        raise ValueError(f"Live Link Face packet has {count} values; expected {VALUE_COUNT}")
    values = np.frombuffer(rd.take(4 * count, "values"), dtype=">f4").astype(np.float32)
    if rd.pos != len(rd.data):
        raise ValueError(f"Live Link Face packet has {len(rd.data) - rd.pos} trailing bytes")
    return LiveLinkPacket(
        version, device_id, subject, frame_number, float(subframe), fps_num, fps_den, values
    )


def frame_rate(fps: float) -> tuple[int, int]:
    """Unreal's FFrameRate for `fps` as (numerator, denominator).

    Whole rates are n/1; the NTSC rates written as 23.976, 29.97 or 59.94 become
    n*1000/1001, as Unreal spells them; anything else is the nearest fraction.
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    ntsc = round(fps * 1.001)
    if not float(fps).is_integer() and abs(fps - ntsc / 1.001) < 0.005:
        return ntsc * 1000, 1001
    rate = Fraction(fps).limit_denominator(1000)
    return rate.numerator, rate.denominator


def frame_time(seconds: float, fps: float) -> tuple[int, float, int, int]:
    """The (frame_number, subframe, fps_num, fps_den) fields for an instant of a stream.

    Frame k of a facewire stream sits at k / fps, so its packet has frame_number k and
    subframe 0 (up to float rounding, which this absorbs).
    """
    num, den = frame_rate(fps)
    frames = seconds * num / den
    whole = int(np.floor(frames + 1e-6))
    sub = max(0.0, frames - whole)
    return whole, (0.0 if sub < 1e-6 else sub), num, den


# Derived eye slots (left yaw, left pitch, right yaw, right pitch) and the eyeLook shapes
# whose difference gives each: yaw > 0 toward the subject's right, pitch > 0 down.
_EYE_SLOTS = np.array([LIVELINK_NAMES.index(n) for n in EYE_NAMES if not n.endswith("Roll")])
_EYE_SHAPES = (
    ("eyeLookInLeft", "eyeLookDownLeft", "eyeLookOutRight", "eyeLookDownRight"),
    ("eyeLookOutLeft", "eyeLookUpLeft", "eyeLookInRight", "eyeLookUpRight"),
)


@lru_cache(maxsize=64)
def _mapping(
    names: tuple[str, ...],
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """(source columns, packet slots, eyeLook columns to derive eyes from or None)."""
    index = {name: i for i, name in enumerate(names)}
    missing = [n for n in ARKIT_NAMES if n not in index]
    if missing:
        raise ValueError(f"frame lacks ARKit curves: {', '.join(missing)}")
    pairs = [(index[n], slot) for slot, n in enumerate(LIVELINK_NAMES) if n in index]
    src, dst = (np.array(column) for column in zip(*pairs, strict=True))
    eyes = None
    if not any(n in index for n in EYE_NAMES):
        eyes = tuple(np.array([index[n] for n in group]) for group in _EYE_SHAPES)
    return src, dst, eyes


def values_from_frame(weights: np.ndarray, names: Sequence[str] | None = None) -> np.ndarray:
    """Map our channels onto the packet's 61 values, by name.

    ARKit curves and head rotations are copied by name. Eye rotations are taken from
    channels named like `EYE_NAMES` when the frame has them, and otherwise derived from the
    eyeLook* shapes (`EYE_LOOK_RAD` per unit; roll 0), so rigs that turn eye bones from the
    rotation curves follow the same gaze as rigs driven by the eyeLook shapes. Channels with
    other names (e.g. tongue extras) have no slot in the packet and are not sent.

    Args:
        weights: (C,) or (T, C) float array.
        names: the C channel names; None means ARKit order (C = 52) or ARKit + head
            yaw/pitch/roll (C = 55).

    Returns:
        float32 array, (61,) or (T, 61), in `LIVELINK_NAMES` order.

    Raises:
        ValueError: if names are missing and C is not 52 or 55, the lengths disagree, or an
            ARKit curve is missing.
    """
    w = np.asarray(weights, dtype=np.float32)
    single = w.ndim == 1
    w2 = w[None, :] if single else w
    if w2.ndim != 2:
        raise ValueError(f"weights must be (C,) or (T, C), got shape {w.shape}")
    channels = w2.shape[1]
    if names is None:
        if channels == len(ARKIT_NAMES):
            names = ARKIT_NAMES
        elif channels == len(ARKIT_NAMES) + len(HEAD_NAMES):
            names = ARKIT_NAMES + HEAD_NAMES
        else:
            raise ValueError(f"pass names for {channels} channels (only 52 or 55 are implied)")
    if len(names) != channels:
        raise ValueError(f"{len(names)} names for {channels} channels")
    src, dst, eyes = _mapping(tuple(names))
    out = np.zeros((w2.shape[0], VALUE_COUNT), dtype=np.float32)
    out[:, dst] = w2[:, src]
    if eyes is not None:
        # (positive shape - negative shape) per derived slot, in radians.
        out[:, _EYE_SLOTS] = EYE_LOOK_RAD * (w2[:, eyes[0]] - w2[:, eyes[1]])
    return out[0] if single else out
