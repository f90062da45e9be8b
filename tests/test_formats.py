"""Animation files: each format read back by a reader that is not ours, and round-tripped."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from facewire.arkit import ARKIT_INDEX, ARKIT_NAMES, EMOTION_NAMES, HEAD_NAMES
from facewire.formats import (
    FORMATS,
    LIVELINK_CSV_HEADER,
    Animation,
    AnimationRecorder,
    format_for_path,
    livelink_timecode,
    read_animation,
    write_animation,
)
from facewire.livelink.codec import EYE_LOOK_RAD

NAMES55 = list(ARKIT_NAMES + HEAD_NAMES)


def _pascal(name: str) -> str:
    return name[0].upper() + name[1:]


@pytest.fixture
def anim() -> Animation:
    """95 frames (3.17 s) at 30 fps: every channel distinct, head turns, real emotions."""
    rng = np.random.default_rng(7)
    frames = 95
    weights = rng.uniform(0.0, 1.0, (frames, 55)).astype(np.float32)
    weights[:, 52:] = rng.uniform(-0.4, 0.4, (frames, 3))
    emotions = rng.dirichlet(np.ones(10), frames).astype(np.float32)
    return Animation.build(30, weights, NAMES55, emotions, source="clip.wav")


# ---------------------------------------------------------------- Live Link Face CSV


@pytest.mark.parametrize(
    ("frame", "fps", "expected"),
    [
        (0, 30, "00:00:00:00.000"),
        (29, 30, "00:00:00:29.000"),
        (31, 30, "00:00:01:01.000"),
        (45, 60, "00:00:00:45.000"),
        (25 * 61, 25, "00:01:01:00.000"),
        (30 * 3600 + 7, 30, "01:00:00:07.000"),
        (30, 29.97, "00:00:01:00.030"),  # frame 30 lands 0.03 frames into second 1
        (2997, 29.97, "00:01:40:00.000"),
    ],
)
def test_timecode_is_app_style_frames_within_second(frame: int, fps: float, expected: str) -> None:
    assert livelink_timecode(frame, fps) == expected


def test_csv_has_app_header_and_maps_columns_by_name(tmp_path, anim: Animation) -> None:
    path = tmp_path / "take.csv"
    write_animation(anim, path)
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert tuple(header) == LIVELINK_CSV_HEADER
    assert header[:2] == ["Timecode", "BlendShapeCount"]
    # The app's order is not ARKit's: JawRight precedes JawLeft, MouthRight precedes MouthLeft.
    assert header.index("JawRight") < header.index("JawLeft")
    assert header.index("MouthRight") < header.index("MouthLeft")
    assert header[-9:] == [
        "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
        "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
    ]  # fmt: skip
    assert len(body) == anim.n_frames
    for k in (0, 31, anim.n_frames - 1):
        row = body[k]
        assert len(row) == 63
        assert row[0] == livelink_timecode(k, 30)
        assert row[1] == "61"
        for name in ARKIT_NAMES:
            got = float(row[header.index(_pascal(name))])
            assert got == pytest.approx(float(anim.weights[k, ARKIT_INDEX[name]]), abs=1e-9)
        for i, name in enumerate(HEAD_NAMES):
            assert float(row[header.index(_pascal(name))]) == pytest.approx(
                float(anim.weights[k, 52 + i]), abs=1e-9
            )
    assert body[31][0] == "00:00:01:01.000"


def test_csv_eye_rotations_follow_eye_look_shapes(tmp_path) -> None:
    weights = np.zeros((40, 52), dtype=np.float32)
    weights[:, ARKIT_INDEX["eyeLookUpLeft"]] = 0.6  # left eye up
    weights[:, ARKIT_INDEX["eyeLookInLeft"]] = 0.4  # left eye toward the nose (subject's right)
    weights[:, ARKIT_INDEX["eyeLookDownRight"]] = 0.2
    weights[:, ARKIT_INDEX["eyeLookInRight"]] = 0.5  # right eye toward the nose (subject's left)
    path = tmp_path / "eyes.csv"
    write_animation(Animation.build(30, weights), path)
    with open(path, newline="") as fh:
        row = next(csv.DictReader(fh))
    assert float(row["LeftEyePitch"]) == pytest.approx(-0.6 * EYE_LOOK_RAD, abs=1e-6)
    assert float(row["LeftEyeYaw"]) == pytest.approx(0.4 * EYE_LOOK_RAD, abs=1e-6)
    assert float(row["RightEyePitch"]) == pytest.approx(0.2 * EYE_LOOK_RAD, abs=1e-6)
    assert float(row["RightEyeYaw"]) == pytest.approx(-0.5 * EYE_LOOK_RAD, abs=1e-6)
    assert float(row["LeftEyeRoll"]) == 0.0 and float(row["HeadYaw"]) == 0.0


def test_csv_round_trips(tmp_path, anim: Animation) -> None:
    path = tmp_path / "take.csv"
    write_animation(anim, path)
    back = read_animation(path)
    assert back.fps == 30.0
    assert back.names[:55] == NAMES55
    assert back.names[55:] == [
        "leftEyeYaw", "leftEyePitch", "leftEyeRoll", "rightEyeYaw", "rightEyePitch", "rightEyeRoll",
    ]  # fmt: skip
    np.testing.assert_array_equal(back.timecodes, np.arange(anim.n_frames) / 30.0)
    np.testing.assert_allclose(back.weights[:, :55], anim.weights, atol=1e-9)
    assert back.emotion_names == list(EMOTION_NAMES)
    assert not back.emotions.any()  # the CSV carries no emotions

    # Written again, the eye rotations read from the file are kept, not re-derived.
    again = tmp_path / "again.csv"
    write_animation(back, again)
    assert again.read_text() == path.read_text()


@pytest.mark.parametrize("fps", [24, 25, 60])
def test_csv_infers_other_integer_rates(tmp_path, fps: int) -> None:
    weights = np.random.default_rng(fps).uniform(0, 1, (2 * fps + 5, 52))
    path = tmp_path / "r.csv"
    write_animation(Animation.build(fps, weights), path)
    back = read_animation(path)
    assert back.fps == fps
    np.testing.assert_array_equal(back.timecodes, np.arange(2 * fps + 5) / fps)


def test_csv_shorter_than_a_second_needs_fps(tmp_path) -> None:
    path = tmp_path / "short.csv"
    write_animation(Animation.build(25, np.zeros((20, 52))), path)
    with pytest.raises(ValueError, match="fps="):
        read_animation(path)
    assert read_animation(path, fps=25).fps == 25.0


def test_csv_reads_an_app_take(tmp_path) -> None:
    """The app's layout: wall-clock timecode counting 60 frames/s, 30 fps rows (every other
    FF), sub-frames drifting in thousandths of a frame, 10-decimal values."""
    rng = np.random.default_rng(3)
    values = rng.uniform(0, 1, (40, 61))
    lines = [",".join(LIVELINK_CSV_HEADER)]
    for k in range(40):
        frame60 = 47.169 + 2 * k - 0.0005 * k
        secs = 12 * 3600 + 27 * 60 + 47 + int(frame60 // 60)
        h, m, s = secs // 3600, secs // 60 % 60, secs % 60
        cells = ",".join(f"{v:.10f}" for v in values[k])
        lines.append(f"{h:02d}:{m:02d}:{s:02d}:{frame60 % 60:06.3f},61,{cells}")
    path = tmp_path / "Slate_1_iPhone.csv"
    path.write_text("\n".join(lines) + "\n")
    back = read_animation(path)
    assert back.fps == 30.0
    np.testing.assert_array_equal(back.timecodes, np.arange(40) / 30.0)
    col = LIVELINK_CSV_HEADER.index
    np.testing.assert_allclose(back.channel("jawLeft"), values[:, col("JawLeft") - 2], atol=1e-7)
    np.testing.assert_allclose(
        back.channel("mouthRight"), values[:, col("MouthRight") - 2], atol=1e-7
    )
    np.testing.assert_allclose(back.channel("headRoll"), values[:, col("HeadRoll") - 2], atol=1e-7)


def test_csv_reader_matches_names_case_insensitively_and_keeps_emotions(tmp_path) -> None:
    header = ["Timecode", "BlendshapeCount"] + [n for n in ARKIT_NAMES] + ["joy"]
    rows = [",".join(header)]
    for k in range(35):
        vals = [0.0] * 52 + [0.25]
        vals[ARKIT_INDEX["jawOpen"]] = k / 100
        rows.append(f"{livelink_timecode(k, 30)},52," + ",".join(map(str, vals)))
    path = tmp_path / "lower.csv"
    path.write_text("\n".join(rows) + "\n")
    back = read_animation(path)
    assert back.names == list(ARKIT_NAMES)
    np.testing.assert_allclose(back.channel("jawOpen"), np.arange(35) / 100, atol=1e-7)
    assert back.emotions[:, EMOTION_NAMES.index("joy")] == pytest.approx(0.25)


def test_csv_rejects_foreign_layout(tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("Frame,JawOpen\n0,0.5\n1,0.2\n")
    with pytest.raises(ValueError, match="Timecode, BlendShapeCount"):
        read_animation(path)


# ---------------------------------------------------------------- facewire JSON


def test_facewire_json_contract(tmp_path, anim: Animation) -> None:
    path = tmp_path / "clip.json"
    write_animation(anim, path)
    doc = json.loads(path.read_text())
    assert set(doc) == {"fps", "names", "timecodes", "weights", "emotion_names", "emotions"}
    assert doc["fps"] == 30
    assert doc["names"] == NAMES55
    assert doc["emotion_names"] == list(EMOTION_NAMES)
    assert len(doc["timecodes"]) == len(doc["weights"]) == len(doc["emotions"]) == anim.n_frames
    assert all(len(row) == len(doc["names"]) for row in doc["weights"])
    assert all(len(row) == 10 for row in doc["emotions"])
    assert doc["timecodes"][31] == pytest.approx(31 / 30)
    np.testing.assert_allclose(np.array(doc["weights"]), anim.weights, atol=1e-6)


def test_facewire_json_round_trips(tmp_path, anim: Animation) -> None:
    path = tmp_path / "clip.json"
    write_animation(anim, path)
    back = read_animation(path)
    assert (back.fps, back.names, back.emotion_names) == (30.0, NAMES55, list(EMOTION_NAMES))
    np.testing.assert_array_equal(back.timecodes, anim.timecodes)
    np.testing.assert_allclose(back.weights, anim.weights, atol=1e-6)
    np.testing.assert_allclose(back.emotions, anim.emotions, atol=1e-6)


def test_facewire_json_missing_key_is_named(tmp_path) -> None:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"fps": 30, "names": list(ARKIT_NAMES)}))
    with pytest.raises(ValueError, match="timecodes"):
        read_animation(path)


# ---------------------------------------------------------------- Audio2Face JSON


def test_a2f_json_has_a2f_keys_and_shape(tmp_path, anim: Animation) -> None:
    path = tmp_path / "clip.a2f.json"
    write_animation(anim, path)
    doc = json.loads(path.read_text())
    assert set(doc) == {"exportFps", "trackPath", "numPoses", "numFrames", "facsNames", "weightMat"}
    assert doc["exportFps"] == 30 and isinstance(doc["exportFps"], int)
    assert doc["trackPath"] == "clip.wav"
    assert doc["facsNames"] == list(ARKIT_NAMES)
    assert doc["numPoses"] == len(doc["facsNames"]) == 52
    assert doc["numFrames"] == len(doc["weightMat"]) == anim.n_frames
    assert all(len(row) == 52 for row in doc["weightMat"])
    np.testing.assert_allclose(np.array(doc["weightMat"]), anim.weights[:, :52], atol=1e-6)


def test_a2f_json_round_trips_and_fills_emotions_with_zeros(tmp_path, anim: Animation) -> None:
    path = tmp_path / "clip.a2f.json"
    write_animation(anim, path)
    back = read_animation(path)
    assert back.fps == 30.0 and back.names == list(ARKIT_NAMES)
    np.testing.assert_allclose(back.weights, anim.weights[:, :52], atol=1e-6)
    np.testing.assert_array_equal(back.timecodes, anim.timecodes)
    assert back.emotions.shape == (anim.n_frames, 10) and not back.emotions.any()


def test_a2f_reader_takes_subsets_and_extra_poses(tmp_path) -> None:
    """A2F solves a configurable pose subset (and may add tongue poses): match by name."""
    facs = ["jawOpen", "mouthClose", "tongueTipUp", "EyeBlinkLeft"]
    mat = [[0.5, 0.1, 0.3, 0.9], [0.4, 0.2, 0.0, 0.0]]
    doc = {"exportFps": 60.0, "trackPath": "a.wav", "numPoses": 4, "numFrames": 2,
           "facsNames": facs, "weightMat": mat}  # fmt: skip
    path = tmp_path / "take.json"
    path.write_text(json.dumps(doc))
    back = read_animation(path, fmt="a2f")
    assert back.fps == 60.0 and back.names == list(ARKIT_NAMES) + ["tongueTipUp"]
    np.testing.assert_allclose(back.channel("jawOpen"), [0.5, 0.4])
    np.testing.assert_allclose(back.channel("eyeBlinkLeft"), [0.9, 0.0])
    np.testing.assert_allclose(back.channel("tongueTipUp"), [0.3, 0.0])
    assert not back.channel("mouthSmileLeft").any()


def test_a2f_reader_checks_counts(tmp_path) -> None:
    doc = {"exportFps": 30, "numPoses": 1, "numFrames": 5,
           "facsNames": ["jawOpen"], "weightMat": [[0.1], [0.2]]}  # fmt: skip
    path = tmp_path / "x.a2f.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="numFrames"):
        read_animation(path)


# ---------------------------------------------------------------- npz


def test_npz_readable_by_numpy_without_pickle(tmp_path, anim: Animation) -> None:
    path = tmp_path / "clip.npz"
    write_animation(anim, path)
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) == {"weights", "names", "timecodes", "emotions", "emotion_names", "fps"}
        np.testing.assert_array_equal(z["weights"], anim.weights)
        assert z["weights"].dtype == np.float32
        assert list(z["names"]) == NAMES55
        assert list(z["emotion_names"]) == list(EMOTION_NAMES)
        assert float(z["fps"]) == 30.0
    back = read_animation(path)
    np.testing.assert_array_equal(back.weights, anim.weights)
    np.testing.assert_array_equal(back.emotions, anim.emotions)
    np.testing.assert_array_equal(back.timecodes, anim.timecodes)


# ---------------------------------------------------------------- choosing formats


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("name", ["take.json", "take.dat"])
def test_every_format_reads_back_by_content_whatever_its_name(tmp_path, anim, fmt, name) -> None:
    """A2F JSON saved as take.json, an npz without its extension: the content decides."""
    path = tmp_path / name
    write_animation(anim, path, fmt=fmt)
    back = read_animation(path)
    assert back.fps == 30.0 and back.n_frames == anim.n_frames
    np.testing.assert_allclose(back.weights[:, :52], anim.weights[:, :52], atol=1e-6)
    if fmt in ("json", "npz"):
        np.testing.assert_allclose(back.emotions, anim.emotions, atol=1e-6)
    assert read_animation(path, fmt=fmt).n_frames == anim.n_frames


def test_unrecognised_content_names_the_readable_formats(tmp_path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(ValueError, match="Live Link Face CSV, Audio2Face JSON or NumPy"):
        read_animation(path)


def test_format_from_extension() -> None:
    assert format_for_path("a/b.A2F.JSON") == "a2f"
    assert format_for_path("b.json") == "json"
    assert format_for_path("b.csv") == "csv"
    assert format_for_path("b.npz") == "npz"
    assert set(FORMATS) == {"json", "csv", "a2f", "npz"}
    with pytest.raises(ValueError, match=r"\.fbx"):
        format_for_path("b.fbx")


def test_unknown_format_and_stdout_rules(tmp_path, anim: Animation, capsys) -> None:
    with pytest.raises(ValueError, match="unknown animation format"):
        write_animation(anim, tmp_path / "x.json", fmt="xml")
    with pytest.raises(ValueError, match="stdout"):
        write_animation(anim, "-", fmt="npz")
    with pytest.raises(ValueError, match="stdout needs fmt"):
        write_animation(anim, "-")
    write_animation(anim, tmp_path / "x.json")
    with pytest.raises(ValueError, match="CSV only"):
        read_animation(tmp_path / "x.json", fps=30)

    write_animation(anim, "-", fmt="csv")
    out = capsys.readouterr().out
    assert out.splitlines()[0] == ",".join(LIVELINK_CSV_HEADER)
    assert len(out.splitlines()) == anim.n_frames + 1


def test_writes_to_open_files(tmp_path, anim: Animation) -> None:
    buf = io.StringIO()
    write_animation(anim, buf, fmt="a2f")
    assert json.loads(buf.getvalue())["numFrames"] == anim.n_frames
    with open(tmp_path / "named.json", "w") as fh:  # format from the open file's name
        write_animation(anim, fh)
    assert read_animation(tmp_path / "named.json").n_frames == anim.n_frames
    with open(tmp_path / "bin.npz", "wb") as fh:
        write_animation(anim, fh, fmt="npz")
    assert read_animation(tmp_path / "bin.npz").n_frames == anim.n_frames


# ---------------------------------------------------------------- Animation and recorder


def test_animation_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="canonical order"):
        Animation.build(30, np.zeros((3, 52)), names=list(reversed(ARKIT_NAMES)))
    with pytest.raises(ValueError, match="weights shape"):
        Animation(30, list(ARKIT_NAMES), np.zeros(3), np.zeros((3, 51)), list(EMOTION_NAMES),
                  np.zeros((3, 10)))  # fmt: skip
    with pytest.raises(ValueError, match="NaN"):
        Animation.build(30, np.full((2, 52), np.nan))


def test_recorder_grows_and_matches_batches() -> None:
    rng = np.random.default_rng(1)
    rec = AnimationRecorder(30, NAMES55, capacity=4)
    weights = rng.uniform(0, 1, (37, 55)).astype(np.float32)
    emotions = rng.uniform(0, 1, (37, 10)).astype(np.float32)
    rec.add(weights[0], emotions[0])  # one frame
    rec.add(weights[1:20], emotions[1:20])  # a batch past capacity
    early = rec.to_animation()
    rec.add(weights[20:])  # no emotions: zeros
    anim = rec.to_animation()
    assert len(rec) == 37 and early.n_frames == 20
    np.testing.assert_array_equal(anim.weights, weights)
    np.testing.assert_array_equal(anim.emotions[:20], emotions[:20])
    assert not anim.emotions[20:].any()
    np.testing.assert_array_equal(anim.timecodes, np.arange(37) / 30.0)
    np.testing.assert_array_equal(early.weights, weights[:20])  # a copy, not a view
    with pytest.raises(ValueError, match="55 channels"):
        rec.add(np.zeros(52))


def test_one_suffix_registry_covers_every_format() -> None:
    from facewire.formats.suffixes import ANIMATION_SUFFIXES, plot_path, suffix_for

    assert set(ANIMATION_SUFFIXES.values()) == set(FORMATS)
    for fmt in FORMATS:
        assert format_for_path(f"take{suffix_for(fmt).upper()}") == fmt
    assert plot_path("out/take.A2F.json").name == "take.png"
    assert plot_path("out/take.bin").name == "take.bin.png"
