"""Audio in: PCM decoding and validation, file reading, per-stream resampling to 16 kHz."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soxr
import structlog

from facewire.pcm import PCM_ENCODINGS, SAMPLE_RATE

TARGET_RATE = SAMPLE_RATE  # every stream is resampled to the pipeline's rate
MIN_RATE = 8_000
MAX_RATE = 192_000
MAX_CHANNELS = 8  # mono to 7.1; mixed down to mono on arrival
ENCODINGS = {name: np.dtype(dt) for name, dt in PCM_ENCODINGS.items()}


class AudioError(ValueError):
    """Audio that facewire cannot accept; the message says what is wrong."""


def check_format(rate: int, channels: int, encoding: str) -> None:
    """Raise AudioError unless the stream format is one we accept."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"sample_rate={rate} is outside the supported {MIN_RATE}-{MAX_RATE} Hz")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioError(
            f"channels={channels} is outside 1-{MAX_CHANNELS} (interleaved frames; 1 for mono)"
        )
    if encoding not in ENCODINGS:
        raise AudioError(f"encoding {encoding!r} is not one of {', '.join(ENCODINGS)}")


def decode_pcm(
    data: bytes | memoryview, encoding: str, channels: int, rate: int, max_s: float
) -> np.ndarray:
    """Decode interleaved PCM bytes to mono float32 in [-1, 1].

    Raises AudioError for partial frames, chunks longer than `max_s`, or NaN/Inf samples.
    """
    dtype = ENCODINGS[encoding]
    frame_bytes = dtype.itemsize * channels
    if len(data) % frame_bytes:
        raise AudioError(
            f"chunk of {len(data)} bytes is not a whole number of {frame_bytes}-byte frames "
            f"({encoding}, {channels} channel(s))"
        )
    frames = len(data) // frame_bytes
    if frames > max_s * rate:
        raise AudioError(f"chunk of {frames / rate:.2f} s exceeds the {max_s:g} s limit")
    pcm = np.frombuffer(data, dtype=dtype).reshape(frames, channels)
    if dtype.kind == "f" and not np.isfinite(pcm).all():
        raise AudioError("chunk contains NaN or Inf samples")
    # Mono, the common case, skips the channel mean (the same values; a chunk arrives 50
    # times a second per stream, so the call overhead counts).
    if channels == 1:
        mono = pcm[:, 0].astype(np.float32)
    elif dtype.kind == "i":
        mono = pcm.astype(np.float32).mean(axis=1)
    else:
        mono = pcm.mean(axis=1, dtype=np.float32)
    if dtype.kind == "i":
        mono /= 32768.0
    return np.ascontiguousarray(mono, dtype=np.float32)


def read_audio_file(
    path: str | Path, warn: Callable[[str], None] | None = None
) -> tuple[np.ndarray, int]:
    """Read a wav/flac/ogg/mp3 file as mono float32 and its rate; AudioError if it is not audio.

    Args:
        path: the file.
        warn: called with a one-line message when the file is usable but suspect (a wav
            whose header promises more audio than it holds); None logs it instead.
    """
    import soundfile

    path = Path(path)
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file (name the files in it)")
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        info = soundfile.info(str(path))
        pcm, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(f"{path}: not a readable audio file ({exc})") from None
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"{path}: sample rate {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    if len(pcm) == 0:
        raise AudioError(f"{path}: the file holds no audio")
    mono = pcm.mean(axis=1, dtype=np.float32)
    if not np.isfinite(mono).all():
        raise AudioError(f"{path}: contains NaN or Inf samples")
    promised = _wav_promised_frames(path) if info.format in ("WAV", "WAVEX") else None
    if promised is not None and promised > len(mono):
        # libsndfile reads what is there without a word; a cut-off download or an
        # interrupted recording would otherwise convert to a shorter animation silently.
        message = (
            f"{path}: truncated: its header promises {promised / rate:.2f} s of audio but "
            f"the file holds {len(mono) / rate:.2f} s; using the {len(mono) / rate:.2f} s present"
        )
        if warn is None:
            structlog.get_logger().warning(
                "audio_truncated",
                file=str(path),
                header_s=round(promised / rate, 3),
                present_s=round(len(mono) / rate, 3),
            )
        else:
            warn(message)
    return np.ascontiguousarray(mono), int(rate)


def _wav_promised_frames(path: Path) -> int | None:
    """Frames the RIFF header's data chunk declares (None if unknown or unbounded)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)  # the data chunk header sits in the first few hundred bytes
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None  # RF64 and other containers: no 32-bit data size to trust
    block_align = 0
    pos = 12
    while pos + 8 <= len(head):
        chunk_id = head[pos : pos + 4]
        (size,) = struct.unpack_from("<I", head, pos + 4)
        if chunk_id == b"fmt " and pos + 22 <= len(head):
            (block_align,) = struct.unpack_from("<H", head, pos + 20)
        if chunk_id == b"data":
            # 0 and 0xFFFFFFFF are what streaming writers put when the length is unknown.
            if block_align == 0 or size in (0, 0xFFFFFFFF):
                return None
            return size // block_align
        pos += 8 + size + (size & 1)  # chunks are padded to even sizes
    return None


class StreamResampler:
    """One soxr stream per audio stream: state survives chunk boundaries (no clicks, no
    drift) and memory stays constant however long the stream runs. 16 kHz passes through.

    The contract promises ceil(d x fps) frames for a stream of d seconds at its own rate,
    and every stage counts frames on the 16 kHz samples. 16 kHz frame boundaries fall
    between samples (533.3 at 30 fps), so the plain rounding of the resampled length gains
    or loses a frame whenever the source ends within half a 16 kHz sample of a boundary. The
    flush at the end therefore pads or trims the tail (by at most a sample or two) to the
    length nearest the exact one that spans the source's frame count.
    """

    def __init__(self, in_rate: int, fps: float) -> None:
        self.in_rate = in_rate
        self.fps = fps
        self._soxr = None
        self._samples_in = 0
        self._samples_out = 0
        if in_rate != TARGET_RATE:
            self._soxr = soxr.ResampleStream(in_rate, TARGET_RATE, 1, dtype="float32", quality="HQ")

    def process(self, pcm_f32: np.ndarray, last: bool = False) -> np.ndarray:
        """Resample a chunk (mono float32); `last=True` flushes the filter's tail."""
        if self._soxr is None:
            return pcm_f32
        self._samples_in += len(pcm_f32)
        out = self._soxr.resample_chunk(pcm_f32, last=last)
        if last:
            fix = self._length_16k() - (self._samples_out + len(out))
            if fix > 0:
                out = np.concatenate([out, np.zeros(fix, np.float32)])
            elif fix < 0:
                out = out[: len(out) + fix]
        self._samples_out += len(out)
        return out

    def _length_16k(self) -> int:
        """The stream's 16 kHz length: nearest the exact one among the lengths that give
        ceil(duration x fps) frames (the frame counting of engines.base.frames_for)."""
        exact = self._samples_in * TARGET_RATE / self.in_rate
        frames = math.ceil(self._samples_in * self.fps / self.in_rate - 1e-9)
        near = round(exact)
        for n in sorted(range(max(0, near - 2), near + 3), key=lambda n: abs(n - exact)):
            if math.ceil(n * self.fps / TARGET_RATE - 1e-9) == frames:
                return n
        raise AssertionError(f"no 16 kHz length near {exact} spans {frames} frames")
