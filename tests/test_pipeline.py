"""The Pipeline over a stream table (daemon/pipeline.py) and its actor (actors/pipeline.py).

A stream's frames depend on its audio, parameters and stream id only: not on its chunking,
not on the streams that share its ticks, and they equal what `facewire convert` makes for
the same id (the daemon's streamed path against convert is tests/test_determinism.py).
"""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pytest
import soundfile as sf
import soxr
import zmq

from facewire.actors.pipeline import PipelineActor
from facewire.convert import convert_pcm
from facewire.engines.emotion_model import load_emotion_model
from facewire.engines.registry import load_engine
from facewire.messages import Message
from facewire.pipeline import Pipeline
from tests.conftest import FACEWIRE

RATE = 44_100


@pytest.fixture(scope="module", params=["dsp", "onnx"])
def engine(request):
    try:
        return load_engine(request.param, 30.0)
    except (ImportError, RuntimeError, OSError) as exc:
        pytest.skip(f"{request.param} engine unavailable: {exc}")


@pytest.fixture(scope="module")
def speech_44k(example_pcm) -> np.ndarray:
    pcm, rate = example_pcm
    return soxr.resample(pcm, rate, RATE).astype(np.float32)


def _other(speech: np.ndarray, i: int) -> np.ndarray:
    """Another stream's audio: a different part of the speech, of a different length."""
    start = (i * 7919) % len(speech)
    return np.roll(speech, -start)[: int(RATE * (0.3 + (i % 7) * 0.25))]


def test_a_stream_alone_or_among_100_others_whatever_its_chunking(engine, speech_44k):
    target = speech_44k[: int(RATE * 4.0)]
    ref = convert_pcm(target, RATE, engine, stream_id="target", vad="energy")
    assert len(ref.weights) == math.ceil(len(target) / RATE * 30 - 1e-9)
    pipe = Pipeline(engine, load_emotion_model(), vad="energy")
    rng = np.random.default_rng(0)
    signals = {"target": target} | {f"o{i}": _other(speech_44k, i) for i in range(100)}
    pos = dict.fromkeys(signals, 0)
    opened: set[str] = set()
    got: list = []
    while pos["target"] <= len(target) or "target" in pipe:
        for sid, sig in signals.items():
            # The others start at random times, end at random times, and some start again.
            if sid not in pipe and sid not in opened and (sid == "target" or rng.random() < 0.3):
                pipe.open(sid, RATE, {})
                opened.add(sid)
            if sid not in pipe or pos[sid] > len(sig):
                continue
            step = int(rng.integers(1, 12)) * 441  # 10 to 110 ms chunks, every one different
            pipe.feed(sid, sig[pos[sid] : pos[sid] + step])
            pos[sid] += step
            if pos[sid] > len(sig):
                pipe.close(sid)
        for out in pipe.tick():
            if out.stream == "target":
                got.append(out)
        pipe.analyse()
        if rng.random() < 0.1:  # and some of the others come back for a second stream
            gone = [s for s in opened if s != "target" and s not in pipe]
            for sid in gone[:3]:
                opened.discard(sid)
                pos[sid] = 0
    assert got[-1].final and [g.final for g in got].count(True) == 1
    assert [g.first for g in got] == list(np.cumsum([0] + [len(g.weights) for g in got[:-1]]))
    weights = np.concatenate([g.weights for g in got])
    emotions = np.concatenate([g.emotions for g in got])
    assert weights.shape == ref.weights.shape
    assert np.abs(weights - ref.weights).max() <= 1e-4
    assert np.abs(emotions - ref.emotions).max() <= 1e-4


def test_256_streams_through_the_pipeline_actor_in_order(speech_44k):
    """A smoke run: 256 streams of 20 ms chunks through the actor; every stream gets its
    StreamStarted-to-be (open), all its frames in order, then its close, and nothing else."""
    engine = load_engine("dsp", 30.0)
    pipe = Pipeline(engine, load_emotion_model(), vad="energy")
    actor = PipelineActor(zmq.Context.instance(), pipe, "publish", 10)
    sent: list[Message] = []
    actor.emit = sent.append
    actor.flush = lambda: None
    n, seconds, step = 256, 1.5, RATE // 50
    signals = {f"s{i:03d}": _other(speech_44k, i * 3)[: int(RATE * seconds)] for i in range(n)}
    for sid in signals:
        actor.on_message(Message("open", sid, {"rate": RATE, "params": {}}))
    for pos in range(0, int(RATE * seconds), step):
        for sid, sig in signals.items():
            if pos < len(sig):
                actor.on_message(Message("audio", sid, {}, {"pcm": sig[pos : pos + step]}))
                if pos + step >= len(sig):
                    actor.on_message(Message("close", sid, {"reason": "closed"}))
        actor.on_tick()
    for _ in range(20):  # the last frames come within a lookahead of the last audio
        if not len(pipe):
            break
        actor.on_tick()
    assert not len(pipe)
    by_stream: dict[str, list[Message]] = {}
    for m in sent:
        by_stream.setdefault(m.stream, []).append(m)
    assert set(by_stream) == set(signals)
    for sid, msgs in by_stream.items():
        kinds = [m.kind for m in msgs]
        assert kinds[0] == "open" and kinds[-1] == "close", sid
        assert set(kinds[1:-1]) == {"frames"}, sid
        frames = msgs[1:-1]
        counts = [len(m.arrays["weights"]) for m in frames]
        assert [m.fields["first"] for m in frames] == list(np.cumsum([0] + counts[:-1])), sid
        assert sum(counts) == math.ceil(len(signals[sid]) / RATE * 30 - 1e-9), sid
        weights = np.concatenate([m.arrays["weights"] for m in frames])
        assert np.isfinite(weights).all() and weights[:, :52].min() >= 0, sid
        assert weights[:, :52].max() <= 1, sid
    assert actor.counters["frames"] == sum(
        len(m.arrays["weights"]) for m in sent if m.kind == "frames"
    )


def test_convert_of_many_files_is_byte_identical_to_each_file_alone(tmp_path, speech_44k):
    src = tmp_path / "in"
    src.mkdir()
    for i, rate in enumerate((RATE, 16_000, 48_000, RATE)):
        sig = _other(speech_44k, i * 5 + 2)
        sig = soxr.resample(sig, RATE, rate) if rate != RATE else sig
        sf.write(str(src / f"f{i}.wav"), sig, rate, subtype="PCM_16")

    def convert(*args: str) -> None:
        cmd = [FACEWIRE, "convert", *args, "--engine", "onnx", "-q"]
        subprocess.run(cmd, check=True, timeout=120, stdout=subprocess.DEVNULL)

    convert(str(src), "-o", str(tmp_path / "together"), "--jobs", "1")
    convert(str(src), "-o", str(tmp_path / "two"), "--jobs", "2")  # this process + a worker
    for path in sorted(src.iterdir()):
        convert(str(path), "-o", str(tmp_path / "alone" / f"{path.stem}.json"))
    for path in sorted(src.iterdir()):
        alone = (tmp_path / "alone" / f"{path.stem}.json").read_bytes()
        assert (tmp_path / "together" / f"{path.stem}.json").read_bytes() == alone, path.name
        assert (tmp_path / "two" / f"{path.stem}.json").read_bytes() == alone, path.name
