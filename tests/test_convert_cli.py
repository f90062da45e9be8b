"""End-to-end: `facewire convert` over many files with worker processes, `--plot`, `plot`."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios

import numpy as np
import pytest
import soundfile as sf

from facewire.formats import read_animation
from tests.conftest import EXAMPLE_WAV, FACEWIRE

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([FACEWIRE, *args], capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture
def three_inputs(tmp_path, example_pcm):
    """Two real speech files and one broken file, in a folder of their own."""
    pcm, rate = example_pcm
    src = tmp_path / "in"
    src.mkdir()
    sf.write(str(src / "a.wav"), pcm, rate)
    sf.write(str(src / "b.flac"), np.roll(pcm, rate // 2), rate)
    (src / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt broken")
    return [src / "a.wav", src / "broken.wav", src / "b.flac"]


def test_two_workers_convert_the_good_files_and_name_the_bad_one(tmp_path, three_inputs):
    out = tmp_path / "out"
    r = _run("convert", *map(str, three_inputs), "-o", str(out), "--engine", "dsp",
             "--jobs", "2", "--format", "csv")  # fmt: skip
    assert r.returncode == 1, r.stderr
    errors = [line for line in r.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "broken.wav" in errors[0], r.stderr
    assert "not a readable audio file" in errors[0]
    assert "1 of 3 files failed" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "b.csv"]
    assert "a.csv: 90 frames at 30 fps (dsp engine)" in r.stdout

    # Each worker's engine gives the same frames as a one-process conversion.
    for name, src in (("a", three_inputs[0]), ("b", three_inputs[2])):
        single = tmp_path / f"{name}-single.json"
        assert _run("convert", str(src), "-o", str(single), "--engine", "dsp", "-q").returncode == 0
        ref = read_animation(single)
        got = read_animation(out / f"{name}.csv")
        np.testing.assert_allclose(got.channel("jawOpen"), ref.channel("jawOpen"), atol=1e-6)
        np.testing.assert_allclose(got.channel("headYaw"), ref.channel("headYaw"), atol=1e-6)


def test_one_process_also_keeps_going_after_a_bad_file(tmp_path, three_inputs):
    out = tmp_path / "out"
    r = _run("convert", *map(str, three_inputs), "-o", str(out), "--engine", "dsp", "-j", "1")
    assert r.returncode == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "b.json"]
    assert len([line for line in r.stderr.splitlines() if "broken.wav" in line]) == 1


def test_progress_bar_over_files_on_a_tty(tmp_path, three_inputs):
    """On a terminal, stderr shows one bar over the files."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen(
        [
            FACEWIRE,
            "convert",
            *map(str, three_inputs),
            "-o",
            str(tmp_path / "o"),
            "--engine",
            "dsp",
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert proc.wait(60) == 1
    text = seen.decode(errors="replace")
    assert "files" in text and "3/3" in text, text
    assert "broken.wav" in text


def test_plot_flag_and_plot_command(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "take.a2f.json"
    r = _run("convert", str(EXAMPLE_WAV), "-o", str(out), "--engine", "dsp", "-q", "--plot")
    assert r.returncode == 0, r.stderr
    png = tmp_path / "take.png"
    assert png.read_bytes()[:8] == PNG_MAGIC

    src = tmp_path / "take.json"
    assert (
        _run("convert", str(EXAMPLE_WAV), "-o", str(src), "--engine", "dsp", "-q").returncode == 0
    )
    for name in ("take.json", "take.csv", "take.npz"):
        path = tmp_path / name
        if not path.exists():
            from facewire.formats import write_animation

            write_animation(read_animation(src), path)
        dest = tmp_path / f"{name}-curves.png"
        r = _run("plot", str(path), "-o", str(dest))
        assert r.returncode == 0, r.stderr
        assert dest.read_bytes()[:8] == PNG_MAGIC
        assert "90 frames at 30 fps" in r.stdout

    r = _run("plot", str(tmp_path / "nope.json"))
    assert r.returncode == 2 and "nope.json" in r.stderr and len(r.stderr.splitlines()) == 1
    r = _run("convert", str(EXAMPLE_WAV), "-o", "-", "--engine", "dsp", "--plot")
    assert r.returncode == 2 and "--plot" in r.stderr


def test_clashing_outputs_are_refused_before_any_work(tmp_path, example_pcm):
    pcm, rate = example_pcm
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        sf.write(str(tmp_path / sub / "line.wav"), pcm, rate)
    r = _run("convert", str(tmp_path / "x" / "line.wav"), str(tmp_path / "y" / "line.wav"),
             "-o", str(tmp_path / "out"), "--engine", "dsp")  # fmt: skip
    assert r.returncode == 2 and "line.json" in r.stderr
    assert not (tmp_path / "out").exists()


def test_emotion_model_setting_is_used_or_refused_by_convert(tmp_path):
    """daemon.emotion_model reaches convert: rules gives other emotions than the network,
    and a file that is not emotion weights stops convert before any work."""
    out = {}
    for spec in ("builtin", "rules"):
        cfg = tmp_path / f"{spec}.yaml"
        cfg.write_text(f"daemon:\n  emotion_model: {spec}\n")
        dest = tmp_path / f"{spec}.json"
        proc = _run("convert", "--config", str(cfg), str(EXAMPLE_WAV), "-o", str(dest))
        assert proc.returncode == 0, proc.stderr
        out[spec] = read_animation(dest).emotions
    assert out["builtin"].shape == out["rules"].shape
    assert not np.allclose(out["builtin"], out["rules"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"daemon:\n  emotion_model: {tmp_path / 'missing.onnx'}\n")
    proc = _run("convert", "--config", str(bad), str(EXAMPLE_WAV), "-o", str(tmp_path / "x.json"))
    assert proc.returncode == 2
    assert "daemon.emotion_model" in proc.stderr and "no such file" in proc.stderr
    assert not (tmp_path / "x.json").exists()
