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


@pytest.mark.parametrize("fmt", ["json", "csv", "a2f", "npz"])
def test_plot_reads_back_every_format_convert_writes(tmp_path, fmt):
    """Whatever the file is called: A2F JSON as take.json, npz as take.json."""
    pytest.importorskip("matplotlib")
    out = tmp_path / "take.json"
    wav = tmp_path / "speech.wav"
    wav.write_bytes(EXAMPLE_WAV.read_bytes())
    r = _run("convert", str(wav), "-o", str(out), "--format", fmt, "--engine", "dsp", "-q")
    assert r.returncode == 0, r.stderr
    r = _run("plot", str(out), "-o", str(tmp_path / "by-content.png"))
    assert r.returncode == 0, r.stderr
    assert "90 frames at 30 fps" in r.stdout
    assert (tmp_path / "by-content.png").read_bytes()[:8] == PNG_MAGIC
    r = _run("plot", str(out), "--format", fmt, "-o", str(tmp_path / "named.png"))
    assert r.returncode == 0, r.stderr
    if fmt == "a2f":
        import json

        assert json.loads(out.read_text())["trackPath"] == str(wav)  # docs/FORMATS.md


def test_plot_of_a_file_that_is_no_animation_is_one_line(tmp_path):
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": 1}')
    r = _run("plot", str(bad))
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "fmt=" not in r.stderr and "notes.json" in r.stderr


def test_clashing_outputs_are_refused_before_any_work(tmp_path, example_pcm):
    pcm, rate = example_pcm
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        sf.write(str(tmp_path / sub / "line.wav"), pcm, rate)
    r = _run("convert", str(tmp_path / "x" / "line.wav"), str(tmp_path / "y" / "line.wav"),
             "-o", str(tmp_path / "out"), "--engine", "dsp")  # fmt: skip
    assert r.returncode == 2 and "line.json" in r.stderr
    assert not (tmp_path / "out").exists()


def _gpu_extra_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("cupy") is not None


@pytest.mark.skipif(_gpu_extra_importable(), reason="the gpu extra is installed here")
def test_tensorrt_without_the_gpu_extra_is_one_line_and_exit_2(tmp_path):
    r = _run("convert", str(EXAMPLE_WAV), "-o", str(tmp_path / "t.json"), "--engine", "tensorrt")
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "gpu extra" in r.stderr and not (tmp_path / "t.json").exists()
    eps = {k: f"ipc://{tmp_path}/{k}" for k in ("ingest", "pub", "control")}
    r = _run("run", "--engine", "tensorrt", *(f"--{k}={v}" for k, v in eps.items()))
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "gpu extra" in r.stderr, r.stderr


def test_truncated_wav_converts_what_is_there_and_says_so(tmp_path, example_pcm):
    pcm, rate = example_pcm
    whole = tmp_path / "whole.wav"
    sf.write(str(whole), pcm, rate, subtype="PCM_16")
    data = whole.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: 44 + (len(data) - 44) // 2])  # a download that stopped half-way
    r = _run("convert", str(cut), "-o", str(tmp_path / "cut.json"), "--engine", "dsp", "-q")
    assert r.returncode == 0, r.stderr
    warning = [line for line in r.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1, r.stderr
    assert "cut.wav" in warning[0] and "truncated" in warning[0]
    assert f"{len(pcm) / rate:.2f} s" in warning[0] and f"{len(pcm) / 2 / rate:.2f} s" in warning[0]
    assert "45 frames" in r.stdout
    r = _run("convert", str(whole), "-o", str(tmp_path / "whole.json"), "--engine", "dsp", "-q")
    assert r.returncode == 0 and r.stderr == "", r.stderr  # a whole file: no word


def test_confusing_paths_are_usage_errors(tmp_path):
    folder = tmp_path / "takes"
    folder.mkdir()
    r = _run("convert", str(folder), "-o", str(tmp_path / "x.json"), "--engine", "dsp")
    assert r.returncode == 2 and "is a directory" in r.stderr and "no such file" not in r.stderr
    r = _run("convert", str(EXAMPLE_WAV), str(folder / "nope.wav"), "-o",
             str(tmp_path / "many.json"), "--engine", "dsp")  # fmt: skip
    assert r.returncode == 2 and "many.json" in r.stderr and "DIRECTORY" in r.stderr, r.stderr
    assert not (tmp_path / "many.json").exists()
    r = _run("convert", str(EXAMPLE_WAV), "-o", str(tmp_path / "x.txt"), "--engine", "dsp")
    assert r.returncode == 2 and "--format" in r.stderr and not (tmp_path / "x.txt").exists()
    # An existing directory takes one input too.
    r = _run("convert", str(EXAMPLE_WAV), "-o", str(folder), "--engine", "dsp", "-q")
    assert r.returncode == 0 and (folder / "example.json").is_file(), r.stderr


def test_plot_flag_without_matplotlib_writes_the_curves_and_warns(tmp_path):
    """The plot extra missing: `import matplotlib` fails in this process, as it would."""
    import sys

    out = tmp_path / "take.csv"
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from facewire.cli import main\n"
        f"sys.exit(main(['convert', {str(EXAMPLE_WAV)!r}, '-o', {str(out)!r}, "
        "'--engine', 'dsp', '-q', '--plot']))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and "facewire[plot]" in r.stderr, r.stderr
    assert read_animation(out).n_frames == 90
    assert not (tmp_path / "take.png").exists()


def test_every_audio_format_the_help_names_converts(tmp_path, example_pcm):
    r = _run("convert", "--help")
    assert r.returncode == 0
    for fmt in ("wav", "flac", "ogg", "mp3", "libsndfile"):
        assert fmt in r.stdout, r.stdout
    pcm, rate = example_pcm
    files = []
    for ext in ("wav", "flac", "ogg", "mp3"):
        files.append(tmp_path / f"speech-{ext}.{ext}")
        sf.write(str(files[-1]), pcm, rate)
    out = tmp_path / "out"
    r = _run("convert", *map(str, files), "-o", str(out), "--engine", "dsp", "-j", "1")
    assert r.returncode == 0, r.stderr
    for f in files:
        # mp3 and ogg encoders pad a little; every file still gives ~3 s of frames.
        assert 89 <= read_animation(out / f"{f.stem}.json").n_frames <= 92


def test_every_option_of_the_user_commands_has_help():
    from facewire.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in ("convert", "run", "send", "listen", "status", "plot", "view"):
        for action in sub.choices[name]._actions:
            assert action.help, f"facewire {name} {'/'.join(action.option_strings) or action.dest}"


@pytest.mark.parametrize(
    "argv,fragments",
    [
        (["convert", str(EXAMPLE_WAV)], ["-o/--output"]),
        (
            ["convert", str(EXAMPLE_WAV), "-o", "x.json", "--param", "jawOpen=0.5"],
            ["multiplier.jawOpen"],
        ),  # fmt: skip
        (
            ["convert", str(EXAMPLE_WAV), "-o", "x.json", "--emotion", "happy=1"],
            ["amazement, anger, cheekiness, disgust, fear, grief, joy, outofbreath, pain, sadness"],
        ),
        (
            ["convert", str(EXAMPLE_WAV), "-o", "x.json", "--param", "lower_face_strength=9"],
            ["lower_face_strength", "0..2"],
        ),  # fmt: skip
        (["convert", str(EXAMPLE_WAV), "-o", "x.json", "--jobs", "0"], ["--jobs"]),
        (["convert", str(EXAMPLE_WAV), "-o", "x.json", "--fps", "500"], ["24..60"]),
        (["send", str(EXAMPLE_WAV), "--chunk-ms", "0"], ["--chunk-ms"]),
        (["send", str(EXAMPLE_WAV), "--param", "bogus"], ["NAME=VALUE"]),
        (["listen", "--count", "-1"], ["--count"]),
        (["status", "--timeout", "0"], ["--timeout"]),
        (["run", "--fps", "500"], ["24..60"]),
        (["plot"], ["input"]),
    ],
)
def test_usage_errors_exit_2(tmp_path, argv, fragments):
    r = _run(*argv, cwd=tmp_path)
    assert r.returncode == 2, (argv, r.stderr)
    assert "Traceback" not in r.stderr
    for fragment in fragments:
        assert fragment in r.stderr, (argv, r.stderr)


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
