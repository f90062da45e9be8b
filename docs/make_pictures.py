"""Redraw the README's two pictures from the shipped model, so they cannot go stale unnoticed.

    .venv/bin/python docs/make_pictures.py            # both pictures
    .venv/bin/python docs/make_pictures.py curves     # docs/curves.png only
    .venv/bin/python docs/make_pictures.py --check    # exit 1 if docs/curves.png is stale

docs/curves.png: `facewire convert daemon/data/example.wav` with the ONNX engine (the
committed weights) and the default config, plotted by the same code as `convert --plot`.
The PNG carries a summary of the curves it shows (peaks and means of every plotted channel,
mean of every emotion) in a text chunk; `--check` converts the clip again and compares, and
tests/test_plot.py runs it, so a model change without a new picture fails the tests.

docs/view.png: a real `facewire run` (ONNX engine) on private ipc endpoints, `facewire view`,
and headless Chromium driven over its DevTools protocol. The clip is an acted, angry one
(Claire's, from the Audio2Face-3D samples, Apache-2.0, in ../shared/data/speech/emotion) so
the emotion bars show what the estimator hears; neutral read speech rightly leaves them
near 0. Without ../shared it falls back to the example clip. It is streamed in real time
and held mid-sentence (the sender pauses) at the frame whose mouth is open widest while the
emotion bars are fullest, so the screenshot shows a frame that stays put.

Needs the plot and view extras and Chromium (Debian: apt-get install chromium).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.devtools, shared with the viewer test

from tests.devtools import HEADLESS_FLAGS  # noqa: E402

CLIP = Path("daemon/data/example.wav")  # relative: the picture's title names no machine path
EMOTIONAL_CLIP = Path("../shared/data/speech/emotion/Claire_anger.wav")
CURVES_PNG = REPO / "docs" / "curves.png"
VIEW_PNG = REPO / "docs" / "view.png"
FACEWIRE = str(Path(sys.executable).with_name("facewire"))
SUMMARY_KEY = "facewire-curves"
TOLERANCE = 0.01  # curves differ by more than this: another model drew the picture
CHROMIUM_FLAGS = [
    *HEADLESS_FLAGS,
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--window-size=800,500",
]


# -- the curves ------------------------------------------------------------------------------
def convert_clip(workdir: Path, clip: Path = CLIP):
    """A clip through `facewire convert` (ONNX engine, default config) as an Animation."""
    from facewire.formats import read_animation

    out = workdir / f"{clip.stem}.json"
    subprocess.run(
        [FACEWIRE, "convert", str(clip), "-o", str(out), "--engine", "onnx", "-q"],
        cwd=REPO,
        check=True,
        timeout=300,
        stdout=subprocess.DEVNULL,
    )
    anim = read_animation(out)
    anim.source = str(clip)
    return anim


def summary(anim) -> dict:
    """What the curve picture shows, in numbers: the plotted channels' peaks and means and
    the emotions' means, rounded (a model change moves them far more than rounding)."""
    from facewire.plot import PANELS

    channels = sorted({name for _, lines in PANELS for names, _ in lines for name in names})
    return {
        "frames": anim.n_frames,
        "fps": anim.fps,
        "peak": {c: round(float(anim.channel(c).max()), 4) for c in channels},
        "mean": {c: round(float(anim.channel(c).mean()), 4) for c in channels},
        "emotion_mean": {
            n: round(float(anim.emotions[:, i].mean()), 4) for i, n in enumerate(anim.emotion_names)
        },
    }


def stored_summary(png: Path) -> dict | None:
    """The summary in a PNG's text chunk, or None."""
    from PIL import Image

    with Image.open(png) as img:
        text = img.text.get(SUMMARY_KEY) if hasattr(img, "text") else None
    return json.loads(text) if text else None


def differences(want: dict, got: dict | None) -> list[str]:
    if got is None:
        return ["the picture carries no curve summary (drawn by something else)"]
    out = []
    for key in ("frames", "fps"):
        if want[key] != got.get(key):
            out.append(f"{key}: picture {got.get(key)}, model {want[key]}")
    for group in ("peak", "mean", "emotion_mean"):
        for name, value in want[group].items():
            old = got.get(group, {}).get(name)
            if old is None or abs(old - value) > TOLERANCE:
                out.append(f"{group} {name}: picture {old}, model {value}")
    return out


def make_curves(workdir: Path):
    from facewire.plot import plot_animation

    anim = convert_clip(workdir)
    meta = {SUMMARY_KEY: json.dumps(summary(anim), sort_keys=True)}
    plot_animation(anim, CURVES_PNG, metadata=meta)
    jaw = anim.channel("jawOpen")
    print(f"{CURVES_PNG.relative_to(REPO)}: {anim.n_frames} frames, jawOpen peak {jaw.max():.2f}")
    return anim


def check(workdir: Path) -> int:
    problems = differences(summary(convert_clip(workdir)), stored_summary(CURVES_PNG))
    if problems:
        print(f"{CURVES_PNG.relative_to(REPO)} is stale; run docs/make_pictures.py:")
        for line in problems[:12]:
            print(f"  {line}")
        return 1
    print(f"{CURVES_PNG.relative_to(REPO)} matches the shipped model")
    return 0


# -- the viewer ------------------------------------------------------------------------------
def _wait(what: str, timeout_s: float, poll):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = poll()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not happen within {timeout_s:g} s")


def best_frame(anim) -> int:
    """Mid-sentence (the middle 60 % of the clip): mouth open, emotion bars fullest."""
    jaw = anim.channel("jawOpen")
    emotion = anim.emotions.sum(axis=1)
    lo, hi = int(0.2 * anim.n_frames), int(0.8 * anim.n_frames)
    score = jaw[lo:hi] * (1e-3 + emotion[lo:hi])  # the jaw alone where emotions are all 0
    return lo + int(np.argmax(score))


def make_view(workdir: Path, clip: Path) -> None:
    from websockets.sync.client import connect

    from facewire.client import Client, Control
    from tests.devtools import DevTools

    chromium = next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )
    if chromium is None:
        raise SystemExit("view.png needs Chromium (Debian: apt-get install chromium)")
    anim = convert_clip(workdir, clip)
    target = best_frame(anim)
    pcm, rate = sf.read(str(REPO / clip), dtype="float32")
    eps = {k: f"ipc://{workdir}/{k}" for k in ("ingest", "pub", "control")}
    config = workdir / "config.yaml"
    config.write_text(
        json.dumps({"sockets": eps, "daemon": {"engine": "onnx", "log_format": "json"}})
    )  # JSON is YAML
    procs: list[subprocess.Popen] = []
    try:
        log = open(workdir / "daemon.log", "wb")
        procs.append(subprocess.Popen([FACEWIRE, "run", "--config", str(config)],
                                      stdout=log, stderr=subprocess.STDOUT))  # fmt: skip
        control = Control(eps["control"], timeout_s=1.0)

        def ready():
            try:
                return control.status()
            except Exception:  # not up yet
                if procs[0].poll() is not None:
                    raise RuntimeError((workdir / "daemon.log").read_text()[-2000:]) from None
                return None

        info = _wait("the daemon's control socket", 60, ready)
        viewer = subprocess.Popen([FACEWIRE, "view", "--pub", eps["pub"], "--port", "0"],
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        procs.append(viewer)
        url = viewer.stdout.readline().split()[2]
        profile = workdir / "chromium-profile"
        procs.append(
            subprocess.Popen(
                [
                    chromium,
                    *CHROMIUM_FLAGS,
                    f"--user-data-dir={profile}",
                    "--remote-debugging-port=0",
                    url,
                ],  # fmt: skip
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        port_file = profile / "DevToolsActivePort"
        _wait("Chromium's DevTools port", 30, lambda: port_file.exists() and port_file.read_text())
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None) as ws, Client(eps["ingest"]) as c:
            tools = DevTools(ws)
            # The page's own size, whatever window decorations this Chromium counts.
            tools.call("Emulation.setDeviceMetricsOverride", width=800, height=500,
                       deviceScaleFactor=1, mobile=False)  # fmt: skip
            _wait("the page's WebSocket", 20,
                  lambda: tools.js("document.body.dataset.connected === '1'"))  # fmt: skip
            # The viewer's SUB joins late (slow joiner): probe until the page shows a stream.
            deadline = time.monotonic() + 30
            for n in itertools.count():
                c.open_stream(f"probe{n}", rate)
                c.close_stream(f"probe{n}")
                time.sleep(0.05)  # the frames' way to the page: daemon, viewer, WebSocket
                if tools.js(f"document.getElementById('face').dataset.stream === 'probe{n}'"):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("the page never showed a stream")
            # Real time until the page reaches the chosen frame, then the sender pauses
            # (the stream stays open), so the face holds still for the screenshot.
            seq = "Number(document.getElementById('face').dataset.seq)"
            c.open_stream("speech", rate, encoding="f32le")
            step, t0, sent = rate // 50, time.monotonic(), 0
            while tools.js(seq) < target:
                if sent >= len(pcm):
                    raise RuntimeError(f"the page never reached frame {target}")
                time.sleep(max(0.0, t0 + sent / rate - time.monotonic()))
                c.send_audio("speech", sent // step, pcm[sent : sent + step].astype("<f4"))
                sent += step
            _wait("the face to hold still", 10, lambda: _still(tools, seq))
            shown = tools.js(seq)
            png = tools.screenshot_png()
            if tools.js(seq) != shown:
                raise RuntimeError("a frame arrived during the screenshot; run it again")
            VIEW_PNG.write_bytes(png)
            for pos in range(sent, len(pcm), step):  # finish the utterance properly
                c.send_audio("speech", pos // step, pcm[pos : pos + step].astype("<f4"))
            c.close_stream("speech")
        top = int(np.argmax(anim.emotions[shown]))
        print(
            f"{VIEW_PNG.relative_to(REPO)}: frame {shown} of stream 'speech' ({info['engine']} "
            f"engine), jawOpen {anim.channel('jawOpen')[shown]:.2f}, top emotion "
            f"{anim.emotion_names[top]} {anim.emotions[shown, top]:.2f}"
        )
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _still(tools, seq: str) -> bool:
    before = tools.js(seq)
    time.sleep(0.5)  # five frames' time at 30 fps with nothing new: the sender has paused
    return tools.js(seq) == before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="?", choices=("curves", "view", "both"), default="both")
    parser.add_argument("--check", action="store_true", help="only check docs/curves.png")
    args = parser.parse_args()
    # ipc paths must stay short (108 bytes), hence a short temporary directory.
    workdir = Path(tempfile.mkdtemp(prefix="fw-pics-"))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        if args.check:
            return check(workdir)
        if args.which in ("curves", "both"):
            make_curves(workdir)
        if args.which in ("view", "both"):
            make_view(workdir, EMOTIONAL_CLIP if (REPO / EMOTIONAL_CLIP).is_file() else CLIP)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
