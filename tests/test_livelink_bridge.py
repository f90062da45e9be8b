"""Integration: `facewire run --livelink` sends each stream to Unreal's Live Link Face port.

A real daemon, real speech in over ZeroMQ, real UDP datagrams out on loopback, decoded by
the independent `pylivelinkface` reader and compared with the PUB socket's frames.
"""

from __future__ import annotations

import socket
import time
import uuid

import numpy as np
import pytest

from facewire.actors.livelink import device_uuid, parse_target
from facewire.arkit import ARKIT_INDEX
from facewire.client import Client, Control, Subscriber, wait_for_subscription

pll = pytest.importorskip("pylivelinkface.pylivelinkface")


def _receive(rx: socket.socket, subject: str, count: int, timeout_s: float) -> list:
    """Decoded packets of `subject` until `count` arrived (others are skipped)."""
    faces = []
    deadline = time.monotonic() + timeout_s
    while len(faces) < count and (left := deadline - time.monotonic()) > 0:
        rx.settimeout(left)
        try:
            data, _ = rx.recvfrom(4096)
        except TimeoutError:
            break
        ok, face = pll.PyLiveLinkFace.decode(data)
        assert ok
        if face.name == subject:
            faces.append(face)
    return faces


def test_streamed_speech_arrives_as_live_link_face_packets(start_daemon, example_pcm):
    pcm, rate = example_pcm
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        port = rx.getsockname()[1]
        d = start_daemon(
            {"daemon": {"engine": "dsp"}, "livelink": {"device_id": "stage-left"}},
            ["--livelink", f"127.0.0.1:{port}"],
        )
        with Client(d.ingest) as c, Subscriber(d.pub, "actor-1") as s:
            wait_for_subscription(s, c, probe_id="actor-1-probe")
            c.send_pcm("actor-1", pcm, rate, chunk_ms=20)
            _, frames, ended = s.collect("actor-1", timeout_s=30)
        faces = _receive(rx, "actor-1", len(frames), timeout_s=10)
        sinks = Control(d.control).status()["actors"]["publish"]["sinks"]

    assert ended.frames == len(frames) > 60
    assert len(faces) == len(frames), sinks
    # pylivelinkface keeps the length prefix's last byte ("$" = 36) in front of the id.
    expected_id = str(uuid.uuid5(uuid.UUID("6f1c1c5e-5a0b-4f3e-9d39-6d2b8f0f7a11"),
                                 "facewire:stage-left"))  # fmt: skip
    assert {f.uuid for f in faces} == {"$" + expected_id}
    assert [f._frames for f in faces] == list(range(len(frames)))
    assert {(f.fps, f._denominator, f._sub_frame) for f in faces} == {(30, 1, 0.0)}
    assert {len(f._blend_shapes) for f in faces} == {61}

    jaw_udp = np.array([f.get_blendshape(pll.FaceBlendShape.JawOpen) for f in faces])
    jaw_pub = np.array([f.weights[ARKIT_INDEX["jawOpen"]] for f in frames])
    np.testing.assert_allclose(jaw_udp, jaw_pub, atol=1e-6)
    assert jaw_pub.max() > 0.2, "speech must open the jaw"
    head_yaw = np.array([f.get_blendshape(pll.FaceBlendShape.HeadYaw) for f in faces])
    np.testing.assert_allclose(head_yaw, [f.weights[52] for f in frames], atol=1e-6)
    assert sinks["livelink"]["packets"] >= len(frames)


def test_no_listener_costs_no_frames(start_daemon, example_pcm):
    """Nobody on the port: ICMP errors are counted, the PUB stream is untouched."""
    pcm, rate = example_pcm
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the daemon sends
    d = start_daemon({"daemon": {"engine": "dsp"}}, ["--livelink", f"127.0.0.1:{port}"])
    with Client(d.ingest) as c, Subscriber(d.pub, "lonely") as s:
        wait_for_subscription(s, c, probe_id="lonely-probe")
        c.send_pcm("lonely", pcm[:rate], rate)
        _, frames, ended = s.collect("lonely", timeout_s=30)
    assert ended.frames == len(frames) == 30
    sinks = Control(d.control).status()["actors"]["publish"]["sinks"]
    assert sinks["livelink"].get("send_errors", 0) > 0, sinks


def test_device_id_and_target_parsing():
    assert device_uuid("facewire") == device_uuid("facewire") != device_uuid("other")
    assert len(device_uuid("facewire")) == 36
    given = "12345678-9abc-def0-1122-334455667788"
    assert device_uuid(given) == given
    assert parse_target("10.0.0.5:11112") == ("10.0.0.5", 11112)
    assert parse_target("unreal-box") == ("unreal-box", 11111)
    assert parse_target("[::1]:9000") == ("::1", 9000)
    with pytest.raises(ValueError, match="1-65535"):
        parse_target("host:99999")
