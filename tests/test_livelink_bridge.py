"""Integration: `facewire run --livelink` sends each stream to Unreal's Live Link Face port.

A real daemon, real speech in over ZeroMQ, real UDP datagrams out on loopback, decoded by
the independent `pylivelinkface` reader and compared with the PUB socket's frames.
"""

from __future__ import annotations

import math
import socket
import struct
import threading
import time
import uuid

import numpy as np
import pytest

from facewire.arkit import ARKIT_INDEX, ARKIT_NAMES, HEAD_NAMES
from facewire.client import Client, Control, Subscriber, wait_for_subscription
from facewire.config import LivelinkSection
from facewire.livelink.codec import decode_packet
from facewire.livelink.sink import LiveLinkSink, device_uuid, parse_target

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
    with _listener() as rx:  # read only after the stream: its buffer must hold it all
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


SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux values where Python lacks them
SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)


def _listener() -> socket.socket:
    """A loopback UDP socket with a 16 MB receive buffer (beyond net.core.rmem_max where the
    test may, as root) that reports the datagrams it had no room for (SO_RXQ_OVFL)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
    return sock


class UdpReceiver:
    """A real UDP listener on loopback, in its own thread, that counts packets per subject.

    It reads all the time into a large buffer that counts its own overflows (`_listener`),
    so a loss is pinned on the sender or on this receiver, never guessed."""

    def __init__(self) -> None:
        self.sock = _listener()
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.frames: dict[str, list[int]] = {}
        self.overflow = 0  # datagrams the kernel dropped because this buffer was full
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(4))
            except TimeoutError:
                continue
            for level, kind, value in anc:
                if (level, kind) == (socket.SOL_SOCKET, SO_RXQ_OVFL):
                    self.overflow = struct.unpack("=I", value[:4])[0]
            packet = decode_packet(data)
            self.frames.setdefault(packet.subject, []).append(packet.frame_number)

    def wait_for(self, total: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while sum(map(len, list(self.frames.values()))) < total:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def test_64_subjects_at_30_fps_lose_no_packet_on_loopback(start_daemon, example_pcm):
    """64 live streams fed at real time, every frame a Live Link datagram to a real UDP
    receiver: each subject gets every frame number exactly once, and the sender counts no
    failure. (Pacing is the clients' real-time audio; nothing here waits on a clock.)"""
    pcm, rate = example_pcm
    seconds = 2.0
    sids = [f"subject{i:02d}" for i in range(64)]
    clips = {sid: np.roll(pcm, i * 997)[: int(seconds * rate)] for i, sid in enumerate(sids)}
    step = rate // 50  # 20 ms chunks
    rx = UdpReceiver()
    try:
        d = start_daemon(
            {"daemon": {"engine": "dsp", "vad": "energy"}},
            ["--livelink", f"127.0.0.1:{rx.port}"],
        )
        with Client(d.ingest) as c, Subscriber(d.pub) as s:
            wait_for_subscription(s, c)
            for sid in sids:
                c.open_stream(sid, rate)
            t0 = time.monotonic()
            for k, pos in enumerate(range(0, int(seconds * rate), step)):
                for sid in sids:
                    c.send_audio(sid, k, (clips[sid][pos : pos + step] * 32767).astype("<i2"))
                time.sleep(max(0.0, t0 + (k + 1) * 0.02 - time.monotonic()))
            for sid in sids:
                c.close_stream(sid)
            ended = {}
            while len(ended) < len(sids):
                item = s.recv(60)
                assert item is not None, f"only {len(ended)} of {len(sids)} streams ended"
                if item[0] in clips and item[1] == "stream_ended":
                    ended[item[0]] = item[2].frames
        expected = math.ceil(seconds * 30)
        assert set(ended.values()) == {expected}, ended
        rx.wait_for(len(sids) * expected, timeout_s=30)
        sink = Control(d.control).status()["actors"]["publish"]["sinks"]["livelink"]
    finally:
        rx.close()
    assert rx.overflow == 0, f"the test's receiver dropped {rx.overflow} (its buffer was full)"
    lost = {sid: expected - len(set(rx.frames.get(sid, []))) for sid in sids}
    assert not any(lost.values()), f"lost per subject: {lost}; sender {sink}"
    assert all(sorted(rx.frames[sid]) == list(range(expected)) for sid in sids), "duplicates"
    assert sink["packets"] == len(sids) * expected, sink
    assert sink["dropped_full"] == sink["send_errors"] == 0, sink


def test_a_full_socket_is_waited_for_then_dropped_and_counted(monkeypatch):
    """A receiver that stops reading fills the sender's socket (EAGAIN): the sink waits for
    room for a bounded time, then drops and counts (an unbounded wait would hang here);
    with a receiver that reads, the waits succeed and nothing is lost, however often the
    socket is full. (An AF_UNIX datagram pair with a send buffer of a few datagrams,
    because loopback UDP never pushes back: the kernel frees a loopback datagram's buffer
    as it is sent.)"""
    sink = LiveLinkSink(LivelinkSection())
    sink.sock.close()
    sink.sock, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # room for a few
    sink.sock.setblocking(False)
    names = list(ARKIT_NAMES + HEAD_NAMES)
    sink.on_open("s", names, 30.0)
    weights = np.zeros((2000, len(names)), np.float32)
    emotions = np.zeros((2000, 10), np.float32)
    try:
        sink.on_frames("s", 0, weights, emotions)  # nobody reads: the queue fills up
        c = sink.counters
        assert c["packets"] + c["dropped_full"] == 2000 and c["dropped_full"] > 0, c
        assert c["send_retries"] > 0 and c["send_errors"] == 0, c
        while True:  # empty the queue
            try:
                peer.recv(4096, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
        got = []
        stop = threading.Event()

        def read() -> None:
            peer.settimeout(0.2)
            while not stop.is_set():
                try:
                    got.append(decode_packet(peer.recv(4096)).frame_number)
                except TimeoutError:
                    continue

        reader = threading.Thread(target=read)
        reader.start()
        before = dict(c)
        # A budget no scheduler delay of the reader thread can exhaust: this part is about
        # every wait ending in a send, not about how long the daemon may wait.
        monkeypatch.setattr("facewire.livelink.sink.WAIT_BUDGET_S", 30.0)
        sink.on_frames("s", 2000, weights[:300], emotions[:300])
        deadline = time.monotonic() + 10
        while len(got) < 300 and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        reader.join(5)
    finally:
        sink.sock.close()
        peer.close()
    assert got == list(range(2000, 2300)), "with a reader, every datagram gets through"
    assert c["dropped_full"] == before["dropped_full"], c
    assert c["send_retries"] > before["send_retries"], "the queue was full and waited for"
