"""Parameters reach the face from every place a user sets them: OpenStream, the control
socket mid-stream, config defaults (see test_daemon's SIGHUP test), and convert flags."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import numpy as np
import pytest

from facewire.arkit import ARKIT_INDEX, EMOTION_INDEX
from facewire.client import Client, ClientError, Control, Subscriber, wait_for_subscription
from tests.conftest import EXAMPLE_WAV, FACEWIRE

JAW = ARKIT_INDEX["jawOpen"]


def _collect(d, sid, pcm, rate, realtime=False, during=None, **params):
    with Client(d.ingest) as c, Subscriber(d.pub, sid) as s:
        wait_for_subscription(s, c, probe_id=sid + "-probe")
        sender = threading.Thread(
            target=c.send_pcm, args=(sid, pcm, rate), kwargs={"realtime": realtime, **params}
        )
        sender.start()
        if during:
            during()
        _, frames, _ = s.collect(sid, timeout_s=30)
        sender.join(10)
    return frames


def test_open_stream_parameters_shape_that_stream_only(dsp_daemon, example_pcm):
    pcm, rate = example_pcm
    plain = _collect(dsp_daemon, "plain", pcm, rate)
    muted = _collect(
        dsp_daemon,
        "muted",
        pcm,
        rate,
        blendshape_multipliers={"jawOpen": 0.0},
        blendshape_offsets={"browInnerUp": 0.25},
    )
    w_plain = np.array([f.weights for f in plain])
    w_muted = np.array([f.weights for f in muted])
    assert w_plain[:, JAW].max() > 0.2
    assert np.all(w_muted[:, JAW] == 0.0), "a jawOpen multiplier of 0 gives exactly 0"
    assert w_muted[:, ARKIT_INDEX["browInnerUp"]].min() >= 0.25


def test_set_params_mid_stream_takes_effect_within_a_frame(dsp_daemon, example_pcm):
    pcm, rate = example_pcm
    long_pcm = np.tile(pcm, 2)
    ctl = Control(dsp_daemon.control)
    applied = {}

    def mute_half_way():
        time.sleep(len(pcm) / rate)  # one pass of the clip, then still the lower face
        ctl.set_params("live", face_params={"lower_face_strength": 0.0})
        applied["ns"] = time.time_ns()

    frames = _collect(dsp_daemon, "live", long_pcm, rate, realtime=True, during=mute_half_way)
    jaw = np.array([f.weights[JAW] for f in frames])
    published = np.array([f.publish_ns for f in frames])
    before = jaw[published < applied["ns"]]
    # A frame in flight when the reply came back may still carry the old value; one more
    # frame later the new value rules.
    after = jaw[published > applied["ns"] + int(2e9 / 30)]
    assert before.max() > 0.2 and len(after) > 30
    assert after.max() < 1e-3, "lower_face_strength 0 stills the mouth"


def test_set_params_errors_name_the_problem(dsp_daemon):
    ctl = Control(dsp_daemon.control)
    with pytest.raises(ClientError, match="unknown stream"):
        ctl.set_params("ghost", face_params={"blink_strength": 0})
    with Client(dsp_daemon.ingest) as c:
        c.open_stream("real", 16000)
        with pytest.raises(ClientError, match="blink_strength"):
            ctl.set_params("real", face_params={"blink_strenght": 0})
        with pytest.raises(ClientError, match="0.3..3"):
            ctl.set_params("real", emotion_params={"emotion_contrast": 5})
        c.close_stream("real")


def test_client_emotion_hint_moves_the_published_emotion(dsp_daemon, example_pcm):
    pcm, rate = example_pcm
    sid = "hinted"
    with Client(dsp_daemon.ingest) as c, Subscriber(dsp_daemon.pub, sid) as s:
        wait_for_subscription(s, c, probe_id="hinted-probe")
        c.open_stream(sid, rate, encoding="f32le")
        step = rate // 10
        for i, pos in enumerate(range(0, len(pcm), step)):
            c.send_audio(
                sid,
                i,
                pcm[pos : pos + step].astype("<f4"),
                emotion={"joy": 1.0} if i == 0 else None,
            )
        c.close_stream(sid)
        _, frames, _ = s.collect(sid, timeout_s=20)
    joy = np.array([f.emotions[EMOTION_INDEX["joy"]] for f in frames])
    assert joy[-10:].mean() > 0.2, "a joy hint must show in the published emotions"
    assert joy[-1] > joy[0]


def test_convert_param_and_emotion_flags(tmp_path):
    out = {}
    for name, extra in {
        "plain": [],
        "tuned": ["--param", "multiplier.jawOpen=0", "--emotion", "joy=1"],
    }.items():
        path = tmp_path / f"{name}.json"
        subprocess.run(
            [
                FACEWIRE,
                "convert",
                str(EXAMPLE_WAV),
                "-o",
                str(path),
                "--engine",
                "dsp",
                "-q",
                *extra,
            ],
            check=True,
            timeout=60,
        )
        out[name] = json.loads(path.read_text())
    w = np.array(out["tuned"]["weights"])
    assert np.all(w[:, JAW] == 0.0) and np.array(out["plain"]["weights"])[:, JAW].max() > 0.2
    joy = EMOTION_INDEX["joy"]
    assert (
        np.array(out["tuned"]["emotions"])[-5:, joy].mean()
        > np.array(out["plain"]["emotions"])[-5:, joy].mean() + 0.2
    )


@pytest.mark.parametrize("spelling", ["input_strength", "inputStrength", "InputStrength"])
def test_live_input_strength_takes_effect_in_every_accepted_spelling(spelling):
    import zmq

    from facewire.actors.pipeline import PipelineActor
    from facewire.engines.emotion_model import load_emotion_model
    from facewire.engines.registry import load_engine
    from facewire.messages import Message
    from facewire.pipeline import Pipeline

    pipe = Pipeline(load_engine("dsp", 30.0), load_emotion_model(), vad="energy")
    actor = PipelineActor(zmq.Context.instance(), pipe, "publish", 10)
    actor.on_message(Message("open", "s", {"rate": 16000, "params": {}}))
    tone = np.sin(np.arange(1600, dtype=np.float32) / 5).astype(np.float32)

    def level() -> float:  # the 16 kHz audio the engine, VAD and emotion estimator get
        actor.on_message(Message("audio", "s", {}, {"pcm": tone}))
        return float(np.abs(pipe._streams["s"].pending_audio[-1]).max())

    before = level()
    actor.on_message(Message("params", "s", {"params": {"face": {spelling: 2.0}}}))
    assert level() == pytest.approx(2 * before, rel=1e-3)
