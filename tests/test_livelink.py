"""Live Link Face packets: decoded by the independent `pylivelinkface` reader over real UDP."""

from __future__ import annotations

import socket
import struct
import uuid

import numpy as np
import pytest

from facewire.arkit import ARKIT_INDEX, ARKIT_NAMES, HEAD_NAMES
from facewire.livelink.codec import (
    EYE_LOOK_RAD,
    LIVELINK_NAMES,
    PACKET_VERSION,
    decode_packet,
    encode_packet,
    frame_rate,
    frame_time,
    values_from_frame,
)

DEVICE = str(uuid.UUID(int=0x1234_5678_9ABC_DEF0_1122_3344_5566_7788))  # 36 chars, like the app


def _values() -> np.ndarray:
    vals = np.linspace(0.0, 1.0, 61, dtype=np.float32)
    vals[52:] = np.linspace(-0.5, 0.5, 9)  # rotations in radians, signed
    return vals


def _udp_roundtrip(payload: bytes) -> bytes:
    """Send one datagram over loopback to a freshly bound port and return what arrived."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5.0)
        tx.sendto(payload, rx.getsockname())
        data, _ = rx.recvfrom(4096)
    return data


def test_pylivelinkface_decodes_our_packet_over_udp() -> None:
    pll = pytest.importorskip("pylivelinkface.pylivelinkface")
    vals = _values()
    packet = encode_packet("facewire", DEVICE, 1234, 0.25, 30, 1, vals)
    data = _udp_roundtrip(packet)

    ok, face = pll.PyLiveLinkFace.decode(data)
    assert ok
    assert face._version == PACKET_VERSION
    assert face.name == "facewire"
    # pylivelinkface reads the 4-byte length's last byte (36 = "$") as part of the id.
    assert face.uuid == "$" + DEVICE
    assert (face._frames, face._sub_frame, face.fps, face._denominator) == (1234, 0.25, 30, 1)
    assert len(face._blend_shapes) == 61
    np.testing.assert_array_equal(np.array(face._blend_shapes, dtype=np.float32), vals)
    assert face.get_blendshape(pll.FaceBlendShape.JawOpen) == pytest.approx(vals[17])
    assert face.get_blendshape(pll.FaceBlendShape.HeadYaw) == pytest.approx(vals[52])
    assert face.get_blendshape(pll.FaceBlendShape.RightEyeRoll) == pytest.approx(vals[60])

    ours = decode_packet(data)
    assert (ours.version, ours.device_id, ours.subject) == (6, DEVICE, "facewire")
    assert (ours.frame_number, ours.subframe, ours.fps_num, ours.fps_den) == (1234, 0.25, 30, 1)
    np.testing.assert_array_equal(ours.values, np.array(face._blend_shapes, dtype=np.float32))
    assert ours.seconds == pytest.approx(1234.25 / 30)


def test_we_decode_pylivelinkface_packets() -> None:
    """The other direction: a packet written by the independent encoder."""
    pll = pytest.importorskip("pylivelinkface.pylivelinkface")
    face = pll.PyLiveLinkFace(name="iPhone", uuid=DEVICE, fps=60)
    for shape, value in ((pll.FaceBlendShape.JawOpen, 0.75), (pll.FaceBlendShape.HeadPitch, -0.2)):
        face.set_blendshape(shape, value, no_filter=True)
    packet = decode_packet(_udp_roundtrip(face.encode()))
    assert (packet.device_id, packet.subject) == (DEVICE, "iPhone")
    assert (packet.fps_num, packet.fps_den) == (60, 1)
    assert packet.value("jawOpen") == pytest.approx(0.75)
    assert packet.value("headPitch") == pytest.approx(-0.2)
    assert np.count_nonzero(packet.values) == 2


def test_packet_layout_is_big_endian_v6() -> None:
    packet = encode_packet("Sub", DEVICE, 7, 0.0, 30000, 1001, _values())
    assert packet[0] == 6  # uint8 version
    assert struct.unpack(">i", packet[1:5]) == (36,)  # int32 device id length
    assert packet[5:41] == DEVICE.encode()
    assert struct.unpack(">i", packet[41:45]) == (3,)
    assert packet[45:48] == b"Sub"
    assert struct.unpack(">ifii", packet[48:64]) == (7, 0.0, 30000, 1001)
    assert packet[64] == 61  # uint8 count
    assert len(packet) == 65 + 61 * 4
    assert struct.unpack(">f", packet[65 + 17 * 4 : 65 + 18 * 4])[0] == pytest.approx(17 / 60)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p[:-3], "truncated"),
        (lambda p: bytes([5]) + p[1:], "version 5"),
        (lambda p: p[:64] + bytes([52]) + p[65:], "52 values"),
        (lambda p: p + b"\0", "trailing"),
        (lambda p: p[:1] + struct.pack(">i", -4) + p[5:], "device id length"),
    ],
)
def test_decode_rejects_broken_packets(mutate, message: str) -> None:
    packet = encode_packet("Sub", DEVICE, 7, 0.0, 30, 1, _values())
    with pytest.raises(ValueError, match=message):
        decode_packet(mutate(packet))


def test_encode_checks_fields() -> None:
    with pytest.raises(ValueError, match="61 values"):
        encode_packet("s", DEVICE, 0, 0.0, 30, 1, np.zeros(52))
    with pytest.raises(ValueError, match="subframe"):
        encode_packet("s", DEVICE, 0, 1.0, 30, 1, np.zeros(61))
    with pytest.raises(ValueError, match="frame rate"):
        encode_packet("s", DEVICE, 0, 0.0, 0, 1, np.zeros(61))


def test_values_from_arkit_and_head_channels() -> None:
    weights = np.zeros(55, dtype=np.float32)
    weights[ARKIT_INDEX["jawOpen"]] = 0.8
    weights[ARKIT_INDEX["tongueOut"]] = 0.3
    weights[52:] = [0.1, -0.2, 0.05]  # head yaw, pitch, roll
    weights[ARKIT_INDEX["eyeLookOutLeft"]] = 0.4  # both eyes toward the subject's left
    weights[ARKIT_INDEX["eyeLookInRight"]] = 0.4
    weights[ARKIT_INDEX["eyeLookUpLeft"]] = 0.2
    weights[ARKIT_INDEX["eyeLookUpRight"]] = 0.2
    vals = values_from_frame(weights)
    assert vals.shape == (61,) and vals.dtype == np.float32
    by_name = dict(zip(LIVELINK_NAMES, vals.tolist(), strict=True))
    assert by_name["jawOpen"] == pytest.approx(0.8)
    assert by_name["tongueOut"] == pytest.approx(0.3)
    assert [by_name[n] for n in HEAD_NAMES] == pytest.approx([0.1, -0.2, 0.05])
    assert by_name["leftEyeYaw"] == by_name["rightEyeYaw"] == pytest.approx(-0.4 * EYE_LOOK_RAD)
    assert by_name["leftEyePitch"] == by_name["rightEyePitch"] == pytest.approx(-0.2 * EYE_LOOK_RAD)
    assert by_name["leftEyeRoll"] == by_name["rightEyeRoll"] == 0.0


def test_values_by_name_batches_and_explicit_eyes() -> None:
    names = ["rightEyeYaw", *ARKIT_NAMES, "tongueTipUp"]  # any order; unknown extras skipped
    weights = np.zeros((4, len(names)), dtype=np.float32)
    weights[:, 0] = 0.3
    weights[:, 1 + ARKIT_INDEX["eyeLookInRight"]] = 1.0  # ignored: explicit eye curves win
    weights[:, 1 + ARKIT_INDEX["mouthClose"]] = np.arange(4) / 10
    vals = values_from_frame(weights, names)
    assert vals.shape == (4, 61)
    np.testing.assert_allclose(vals[:, LIVELINK_NAMES.index("rightEyeYaw")], 0.3)
    np.testing.assert_allclose(vals[:, ARKIT_INDEX["mouthClose"]], np.arange(4) / 10)
    assert not vals[:, 52:58].any()
    with pytest.raises(ValueError, match="pass names"):
        values_from_frame(np.zeros(53))
    with pytest.raises(ValueError, match="lacks ARKit"):
        values_from_frame(np.zeros(51), list(ARKIT_NAMES[:51]))


def test_frame_time_for_stream_frames() -> None:
    assert frame_time(31 / 30, 30) == (31, 0.0, 30, 1)
    assert frame_time(0.0, 60) == (0, 0.0, 60, 1)
    assert frame_rate(29.97) == (30000, 1001)
    number, sub, num, den = frame_time(1.5, 29.97)
    assert (num, den) == (30000, 1001)
    assert (number + sub) * den / num == pytest.approx(1.5)
    assert ARKIT_NAMES == LIVELINK_NAMES[:52]
