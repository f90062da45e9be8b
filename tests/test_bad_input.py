"""Bad input gets a clear error to whoever sent it; no other stream loses a frame."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import time

import numpy as np
import pytest

from facewire.client import Client, ClientError, Control, Subscriber, wait_for_subscription
from facewire.proto import facewire_pb2 as pb
from facewire.wire import Code, encode
from tests.conftest import EXAMPLE_WAV, FACEWIRE


def _error(client: Client) -> pb.Status:
    st = client.recv_status(5)
    assert st is not None, "no reply to a bad message"
    assert st.code == Code.ERROR, st
    return st


BAD_MESSAGES = {
    "malformed bytes": (b"\xff\x00garbage\x07", "malformed"),
    "empty body": (pb.Envelope(schema_version=1).SerializeToString(), "no body"),
    "wrong schema": (
        pb.Envelope(
            schema_version=7, close_stream=pb.CloseStream(stream_id="x")
        ).SerializeToString(),
        "schema_version 7",
    ),
    "outbound body": (
        encode(animation_frame=pb.AnimationFrame(stream_id="x")),
        "not accepted",
    ),
    "unknown stream": (
        encode(audio_chunk=pb.AudioChunk(stream_id="nobody", data=b"\0\0")),
        "unknown stream",
    ),
    "rate too high": (
        encode(open_stream=pb.OpenStream(stream_id="hi", sample_rate=384_000)),
        "8000-192000",
    ),
    "rate too low": (
        encode(open_stream=pb.OpenStream(stream_id="lo", sample_rate=4000)),
        "8000-192000",
    ),
    "empty stream id": (encode(open_stream=pb.OpenStream(sample_rate=16000)), "stream_id"),
    "unknown parameter": (
        encode(
            open_stream=pb.OpenStream(
                stream_id="p",
                sample_rate=16000,
                channels=1,
                face_params={"lower_face_strenght": 1.0},
            )
        ),
        "lower_face_strength",
    ),
    "parameter out of range": (
        encode(
            open_stream=pb.OpenStream(
                stream_id="q", sample_rate=16000, channels=1, emotion_params={"max_emotions": 9}
            )
        ),
        "max_emotions",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MESSAGES))
def test_bad_message_gets_an_error_status(dsp_daemon, case):
    data, fragment = BAD_MESSAGES[case]
    with Client(dsp_daemon.ingest) as c:
        c.send_raw(data)
        st = _error(c)
    assert fragment in st.message


def test_bad_audio_and_stream_misuse_get_errors_and_good_stream_keeps_every_frame(
    dsp_daemon, example_pcm
):
    d = dsp_daemon
    pcm, rate = example_pcm
    good_blocks = [(pcm[i : i + 320] * 32767).astype("<i2") for i in range(0, len(pcm), 320)]
    with (
        Client(d.ingest) as good,
        Client(d.ingest) as bad,
        Client(d.ingest) as other,
        Subscriber(d.pub, "good") as sub,
    ):
        wait_for_subscription(sub, good, probe_id="good-probe")
        good.open_stream("good", rate)
        bad.open_stream("f32", 16000, encoding="f32le")
        bad.open_stream("s16", 16000, channels=2)
        cases = [
            # odd byte count for 2-channel s16 (4-byte frames)
            lambda: bad.send_audio("s16", 0, b"\x00" * 6),
            lambda: bad.send_audio("f32", 0, np.array([0.1, np.nan], "<f4")),
            lambda: bad.send_audio("f32", 1, np.array([np.inf], "<f4")),
            lambda: bad.send_audio("f32", 2, np.zeros(16000 * 10 + 1600, "<f4")),  # > 10 s
            lambda: bad.open_stream("f32", 16000, wait=False),  # duplicate id
            lambda: other.send_audio("f32", 0, np.zeros(10, "<f4")),  # someone else's stream
            lambda: bad.send_raw([b"two", b"frames"]),
        ]
        expected = [
            "whole number",
            "NaN",
            "NaN or Inf",
            "exceeds",
            "already open",
            "unknown stream",
            "one Envelope",
        ]
        for i, block in enumerate(good_blocks):
            good.send_audio("good", i, block)
            if i < len(cases):
                cases[i]()
                client = other if i == 5 else bad
                assert expected[i] in _error(client).message
        bad.close_stream("f32")
        with pytest.raises(ClientError, match="unknown stream"):
            bad.close_stream("f32")  # already closed
        good.close_stream("good")
        _, frames, ended = sub.collect("good", timeout_s=20)
    assert len(frames) == ended.frames == math.ceil(len(pcm) / rate * 30)
    assert [f.seq for f in frames] == list(range(len(frames)))
    counters = Control(d.control).status()["actors"]["ingest"]["counters"]
    assert counters["rejected"] >= len(cases) + 1


def test_admission_limit_is_a_clear_error(start_daemon):
    d = start_daemon({"daemon": {"engine": "dsp", "max_streams": 2}})
    with Client(d.ingest) as c:
        c.open_stream("a", 16000)
        c.open_stream("b", 16000)
        with pytest.raises(ClientError, match="max_streams=2"):
            c.open_stream("c", 16000)
        c.close_stream("a")
        c.open_stream("c", 16000)  # room again


def test_idle_stream_times_out_with_stream_ended(start_daemon):
    d = start_daemon({"daemon": {"engine": "dsp", "stream_timeout_s": 0.3}})
    with Client(d.ingest) as c, Subscriber(d.pub, "idle") as s:
        wait_for_subscription(s, c, probe_id="idle-probe")
        c.open_stream("idle", 16000)
        c.send_audio("idle", 0, np.zeros(1600, "<i2"))
        _, frames, ended = s.collect("idle", timeout_s=5)
        st = c.recv_status(2)
        # A chunk that was on its way is told why, not "unknown stream".
        c.send_audio("idle", 1, np.zeros(160, "<i2"))
        late = _error(c)
        with Client(d.ingest) as other:
            other.send_audio("idle", 1, np.zeros(160, "<i2"))  # not its stream: no such news
            assert "unknown stream" in _error(other).message
    assert ended.reason == "timeout" and ended.frames == len(frames) == 3
    assert st.code == Code.WARNING and "no audio" in st.message
    assert json.loads(st.detail_json) == {"stream_ended": "timeout"}
    assert "ended by the daemon (reason timeout)" in late.message
    assert json.loads(late.detail_json) == {"stream_ended": "timeout"}
    assert c.ended == {"idle": "timeout"}


@pytest.mark.parametrize("channels", [0, 9, 2**32 - 1])
def test_channel_counts_outside_1_to_8_are_refused(dsp_daemon, channels):
    with Client(dsp_daemon.ingest) as c:
        o = pb.OpenStream(stream_id="ch", sample_rate=16000, channels=channels)
        c.send_raw(encode(open_stream=o))
        st = _error(c)
        assert f"channels={channels}" in st.message and "1-8" in st.message
        c.open_stream("ch", 16000, channels=8)  # the top of the range opens
        c.close_stream("ch")


def test_seq_gaps_get_one_warning_per_burst(dsp_daemon):
    from facewire.actors.ingest import GAP_WARNING_INTERVAL_S

    block = np.zeros(320, "<i2")
    with Client(dsp_daemon.ingest) as c:
        c.open_stream("gappy", 16000)
        for seq in (0, 1, 5, 9, 20):  # three gaps in a burst
            c.send_audio("gappy", seq, block)
        c.open_stream("sync", 16000)  # its OK comes after every reply to the chunks above
        warnings = [s for s in c.statuses if s.code == Code.WARNING]
        assert len(warnings) == 1, warnings
        assert warnings[0].stream_id == "gappy"
        assert warnings[0].message.startswith("seq gap: expected 2, got 5")
        # The rate limit's window, not synchronisation: the next burst is reported again.
        time.sleep(GAP_WARNING_INTERVAL_S + 0.1)
        c.send_audio("gappy", 30, block)
        c.close_stream("gappy")
        warnings = [s for s in c.statuses if s.code == Code.WARNING]
        assert len(warnings) == 2, warnings
        assert "expected 21, got 30 (2 more since the last warning)" in warnings[1].message
        counters = Control(dsp_daemon.control).status()["actors"]["ingest"]["counters"]
        assert counters["seq_gaps"] == 4


def test_send_says_the_daemon_ended_the_stream_when_it_shuts_down(dsp_daemon):
    d = dsp_daemon
    send = subprocess.Popen(
        [
            FACEWIRE,
            "send",
            str(EXAMPLE_WAV),
            "--realtime",
            "--ingest",
            d.ingest,
            "--stream-id",
            "talk",
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while "talk" not in Control(d.control).status()["streams"]:
            assert time.monotonic() < deadline and send.poll() is None, "the stream never opened"
            time.sleep(0.02)
        d.signal(signal.SIGTERM)
        out, err = send.communicate(timeout=20)
    finally:
        if send.poll() is None:
            send.kill()
    assert send.returncode == 1, err
    assert "the daemon ended stream 'talk' (reason shutdown)" in err, err
    assert "unknown stream" not in err and "sent " not in out
    assert d.proc.wait(10) == 0


@pytest.mark.parametrize(
    "content,fragment",
    [
        (b"RIFF\x00\x00\x00\x00WAVEfmt broken", "not a readable audio file"),
        (b"just some text\n" * 20, "not a readable audio file"),
    ],
)
def test_convert_rejects_a_broken_file_in_one_line(tmp_path, content, fragment):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(content)
    out = tmp_path / "out.json"
    r = subprocess.run(
        [FACEWIRE, "convert", str(bad), "-o", str(out), "--engine", "dsp"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0
    assert fragment in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_convert_rejects_a_missing_file_and_bad_params(tmp_path):
    r = subprocess.run(
        [FACEWIRE, "convert", str(tmp_path / "nope.wav"), "-o", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0 and "no such file" in r.stderr
    r = subprocess.run(
        [FACEWIRE, "convert", str(tmp_path / "x.wav"), "-o", "-", "--param", "jaw_strength=2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0 and "jaw_strength" in r.stderr


def test_convert_creates_the_output_folder(tmp_path):
    out = tmp_path / "new" / "dir" / "example.json"
    r = subprocess.run(
        [FACEWIRE, "convert", str(EXAMPLE_WAV), "-o", str(out), "--engine", "dsp"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert out.is_file() and f"{out}: 90 frames at 30 fps (dsp engine)" in r.stdout
