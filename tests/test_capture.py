"""The microphone path for real: PortAudio records from an ALSA device backed by a file."""

from __future__ import annotations

import ctypes.util

import numpy as np
import pytest
import soundfile as sf

from facewire.arkit import ARKIT_INDEX
from facewire.client import Subscriber
from tests.conftest import EXAMPLE_WAV

pytestmark = pytest.mark.skipif(
    ctypes.util.find_library("portaudio") is None,
    reason="libportaudio2 is not installed (Debian: apt-get install libportaudio2)",
)

ASOUNDRC = """pcm.filemic {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{raw}"
    format "raw"
}}
"""


@pytest.fixture
def filemic(tmp_path, monkeypatch):
    """An ALSA capture device 'filemic' that plays the example speech (s16le, 16 kHz)."""
    pcm, _ = sf.read(str(EXAMPLE_WAV), dtype="int16")
    raw = tmp_path / "speech.raw"
    np.tile(pcm, 20).astype("<i2").tofile(raw)  # a minute of speech, so the test never runs dry
    (tmp_path / ".asoundrc").write_text(ASOUNDRC.format(raw=raw))
    monkeypatch.setenv("HOME", str(tmp_path))  # the daemon subprocess inherits it
    return tmp_path


def test_microphone_capture_animates_the_mic_stream(start_daemon, filemic):
    d = start_daemon(
        {
            "daemon": {"engine": "dsp"},
            "capture": {"device": "filemic", "sample_rate": 16000, "stream_id": "mic"},
        },
        ["--source", "mic"],
    )
    jaw = []
    with Subscriber(d.pub, "mic") as s:
        for _ in range(200):  # frames keep coming while the device delivers audio
            item = s.recv(5)
            assert item is not None, d.log()
            if item[1] == "animation_frame":
                jaw.append(item[2].weights[ARKIT_INDEX["jawOpen"]])
            if len(jaw) >= 90:
                break
    assert len(jaw) >= 90
    assert max(jaw) > 0.2, "captured speech must open the jaw"
    assert '"capture_started"' in d.log()
