"""Integration: the daemon records live streams to curve files on a control request."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import numpy as np

from facewire.arkit import ARKIT_INDEX, ARKIT_NAMES, EMOTION_NAMES
from facewire.client import Client, Control, Subscriber, wait_for_subscription
from facewire.formats import read_animation
from facewire.wire import Code


def _wait_for_file(path: Path, timeout_s: float = 10.0) -> None:
    """Recordings appear atomically (renamed into place), so existing means complete."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} was not written within {timeout_s} s"
        time.sleep(0.02)


def test_recording_armed_before_the_stream_holds_every_published_frame(
    dsp_daemon, example_pcm, tmp_path
):
    d, (pcm, rate) = dsp_daemon, example_pcm
    out = tmp_path / "take1.json"
    control = Control(d.control)
    st = control.request("record_start", "take1", str(out))
    assert st.code == Code.OK and "when the stream opens" in st.message, st
    with Client(d.ingest) as c, Subscriber(d.pub, "take1") as s:
        wait_for_subscription(s, c, probe_id="take1-probe")
        c.send_pcm("take1", pcm, rate)
        _, frames, ended = s.collect("take1", timeout_s=30)
    _wait_for_file(out)  # the stream's end ends the recording
    anim = read_animation(out)
    assert anim.n_frames == ended.frames == len(frames) > 60
    assert anim.fps == 30.0 and anim.names[:52] == list(ARKIT_NAMES)
    assert anim.emotion_names == list(EMOTION_NAMES)
    np.testing.assert_allclose(anim.weights, [f.weights for f in frames], atol=1e-6)
    np.testing.assert_allclose(anim.emotions, [f.emotions for f in frames], atol=1e-6)
    np.testing.assert_allclose(anim.timecodes, [f.timecode for f in frames], atol=1e-9)
    # The recording is over: stopping it again is an error.
    assert control.request("record_stop", "take1").code == Code.ERROR


def test_record_start_and_stop_mid_stream(dsp_daemon, example_pcm, tmp_path):
    """A CSV recording of part of a realtime stream: its frames are that part of the PUB."""
    d, (pcm, rate) = dsp_daemon, example_pcm
    out = tmp_path / "middle.csv"
    control = Control(d.control)
    frames, replies = [], {}
    with Client(d.ingest) as c, Subscriber(d.pub, "live") as s:
        wait_for_subscription(s, c, probe_id="live-probe")
        sender = threading.Thread(target=c.send_pcm, args=("live", pcm, rate), daemon=True,
                                  kwargs={"realtime": True})  # fmt: skip
        sender.start()
        while (item := s.recv(10)) is not None:
            sid, kind, body = item
            if sid != "live" or kind != "animation_frame":
                if kind == "stream_ended" and sid == "live":
                    break
                continue
            frames.append(body)
            if len(frames) == 15:
                replies["start"] = control.request("record_start", "live", str(out))
            elif len(frames) == 60:
                replies["stop"] = control.request("record_stop", "live")
        sender.join(10)
    assert replies["start"].code == Code.OK, replies["start"]
    assert replies["stop"].code == Code.OK, replies["stop"]
    span = re.search(r"stream frames (\d+)-(\d+)", replies["stop"].message)
    assert span, replies["stop"].message
    first, last = int(span[1]), int(span[2])
    assert 15 <= first < last <= 60 + 10  # frames in flight when the requests were made
    _wait_for_file(out)
    anim = read_animation(out)
    assert anim.n_frames == last - first + 1
    pub = np.array([f.weights for f in frames[first : last + 1]])
    for name in ("jawOpen", "mouthClose", "eyeBlinkLeft", "browInnerUp"):
        np.testing.assert_allclose(anim.channel(name), pub[:, ARKIT_INDEX[name]], atol=1e-6)
    np.testing.assert_allclose(anim.channel("headYaw"), pub[:, 52], atol=1e-6)


def test_bad_record_requests_get_an_error_with_the_reason(dsp_daemon, tmp_path):
    control = Control(dsp_daemon.control)
    cases = [
        (("record_start", "s", "relative.json"), "absolute"),
        (("record_start", "s", str(tmp_path / "take.wav")), "extension"),
        (("record_start", "s", str(tmp_path / "missing" / "take.json")), "not a writable"),
        (("record_start", "", str(tmp_path / "take.json")), "stream_id"),
        (("record_stop", "nobody"), "not recording"),
    ]
    for args, fragment in cases:
        st = control.request(*args)
        assert st.code == Code.ERROR and fragment in st.message, (args, st)
    assert control.request("record_start", "s", str(tmp_path / "a.npz")).code == Code.OK
    st = control.request("record_start", "s", str(tmp_path / "b.npz"))
    assert st.code == Code.ERROR and "already recording" in st.message
    st = control.request("record_stop", "s")
    assert st.code == Code.OK and "cancelled" in st.message
    assert not (tmp_path / "a.npz").exists()


def test_sigterm_writes_the_recordings_of_streams_still_open(start_daemon, example_pcm, tmp_path):
    d, (pcm, rate) = start_daemon({"daemon": {"engine": "dsp"}}), example_pcm
    out = tmp_path / "cut.a2f.json"
    with Client(d.ingest) as c, Subscriber(d.pub, "cut") as s:
        wait_for_subscription(s, c, probe_id="cut-probe")
        c.open_stream("cut", rate)
        assert Control(d.control).request("record_start", "cut", str(out)).code == Code.OK
        # 1.2 s, so that a second of frames is out while the stream is open: the last
        # frames wait for the lookahead (the learned VAD's ~62 ms past a frame's instant).
        c.send_audio("cut", 0, (pcm[: rate * 6 // 5] * 32767).astype("<i2"))
        published = 0
        while published < 30:  # one second of frames published, the stream still open
            item = s.recv(10)
            assert item is not None, f"no frames after {published}"
            # the topic "cut" also matches the probe stream "cut-probe": count "cut" only
            published += item[0] == "cut" and item[1] == "animation_frame"
        assert d.stop() == 0
    anim = read_animation(out)
    assert anim.n_frames >= 30
    assert anim.channel("jawOpen").max() > 0.1
