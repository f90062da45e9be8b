"""Log-mel features, written once against an array module `xp` (numpy or cupy).

Training (training/) and run time share this code, so a model sees exactly the features
it was trained on. Feature frame j is centred on sample j * HOP_SAMPLES (t = j * 10 ms) and
covers WIN_SAMPLES around it; samples before 0 or after the end of a stream read as zero.
That fixed window is what makes streamed features equal offline features bit for bit.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from facewire.pcm import SAMPLE_RATE

HOP_SAMPLES = 160  # 10 ms
WIN_SAMPLES = 400  # 25 ms analysis window
N_FFT = 512
N_MELS = 80
FMIN_HZ = 50.0
FMAX_HZ = 8_000.0
LOG_FLOOR = 1e-6
FEATURE_RATE = SAMPLE_RATE / HOP_SAMPLES  # 100 frames per second


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT) -> np.ndarray:
    """Triangular HTK-mel filters, float32 of shape (n_fft // 2 + 1, n_mels), area-normalised."""
    freqs = np.linspace(0.0, SAMPLE_RATE / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(FMIN_HZ), _hz_to_mel(FMAX_HZ), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lower) / (centre - lower)
    falling = (upper - freqs[None, :]) / (upper - centre)
    fb = np.clip(np.minimum(rising, falling), 0.0, None)
    fb *= 2.0 / (upper - lower)  # equal area, so loud and quiet bands stay comparable
    return fb.T.astype(np.float32)


# The analysis window and filterbank of every 16 kHz log-mel here (also the learned VAD's).
HANN = np.hanning(WIN_SAMPLES + 2)[1:-1].astype(np.float32)
MEL_FB = mel_filterbank()
_DEVICE_CONSTANTS: dict[tuple, tuple] = {}


def _constants(xp: ModuleType) -> tuple:
    """Window and filterbank as arrays of `xp`, uploaded once per module and device."""
    if xp is np:
        return HANN, MEL_FB
    device_id = getattr(getattr(xp, "cuda", None), "get_device_id", None)
    key = (id(xp), device_id() if device_id is not None else None)
    if key not in _DEVICE_CONSTANTS:
        _DEVICE_CONSTANTS[key] = (xp.asarray(HANN), xp.asarray(MEL_FB))
    return _DEVICE_CONSTANTS[key]


def log_mel_windows(windows_f32, xp: ModuleType = np, out=None):
    """Log-mel of analysis windows.

    Only `xp` functions and array operators touch the data, so with xp=cupy every step runs
    on the device and nothing is copied to the host.

    Args:
        windows_f32: (n, WIN_SAMPLES) float32 audio windows, an array of `xp`.
        xp: numpy or cupy; the result lives where the input does.
        out: optional (n, N_MELS) float32 array of `xp` to write the result into, e.g. an
            inference engine's input buffer, which saves a copy per call.

    Returns:
        (n, N_MELS) float32 natural-log mel power (`out` when given).
    """
    hann, fb = _constants(xp)
    frames = windows_f32 * hann[None, :]
    spec = xp.fft.rfft(frames, n=N_FFT, axis=1)
    power = (spec.real**2 + spec.imag**2).astype(xp.float32)
    mel = power @ fb  # float32
    mel += LOG_FLOOR
    return xp.log(mel, out=out)


def frame_windows(pcm_f32: np.ndarray, first: int, count: int, offset: int = 0) -> np.ndarray:
    """Cut `count` analysis windows for feature frames first..first+count-1.

    Args:
        pcm_f32: (n,) float32 samples; pcm_f32[0] is stream sample number `offset`.
        first: index of the first feature frame.
        count: number of frames.
        offset: stream sample index of pcm_f32[0]; samples outside the buffer read as zero.

    Returns:
        (count, WIN_SAMPLES) float32 windows (a copy).
    """
    starts = (np.arange(first, first + count) * HOP_SAMPLES - WIN_SAMPLES // 2) - offset
    idx = starts[:, None] + np.arange(WIN_SAMPLES)[None, :]
    valid = (idx >= 0) & (idx < len(pcm_f32))
    out = np.zeros(idx.shape, dtype=np.float32)
    out[valid] = pcm_f32[idx[valid]]
    return out


def log_mel(pcm_f32: np.ndarray, xp: ModuleType = np):
    """Offline log-mel of a whole utterance: (ceil(n / HOP_SAMPLES), N_MELS) float32."""
    count = -(-len(pcm_f32) // HOP_SAMPLES)
    windows = frame_windows(np.asarray(pcm_f32, dtype=np.float32), 0, count)
    return log_mel_windows(xp.asarray(windows), xp)


def segment_samples(count: int) -> int:
    """Samples spanned by `count` consecutive analysis windows."""
    return (count - 1) * HOP_SAMPLES + WIN_SAMPLES if count > 0 else 0


_WINDOW_INDEX: dict[int, np.ndarray] = {}


def window_index(count: int) -> np.ndarray:
    """(count, WIN_SAMPLES) int64 indices that cut `count` windows from one segment; cached."""
    idx = _WINDOW_INDEX.get(count)
    if idx is None:
        idx = np.arange(count)[:, None] * HOP_SAMPLES + np.arange(WIN_SAMPLES)[None, :]
        if count <= 64:  # the per-tick sizes; longer offline calls build theirs once
            _WINDOW_INDEX[count] = idx
    return idx


def windows_of_segments(segments: list[np.ndarray], count: int, out=None) -> np.ndarray:
    """Cut `count` windows from each segment (all segment_samples(count) long) in one gather.

    Returns (len(segments) * count, WIN_SAMPLES) float32, segment by segment (`out` if given).
    """
    flat = segments[0] if len(segments) == 1 else np.concatenate(segments)
    idx = window_index(count)
    if len(segments) > 1:
        step = segment_samples(count)
        idx = (np.arange(len(segments)) * step)[:, None, None] + idx[None]
    rows = len(segments) * count
    return np.take(flat, idx.reshape(rows, WIN_SAMPLES), out=out)


class StreamingWindows:
    """Cuts analysis windows from a live stream, keeping only the samples still needed.

    Frame j needs samples up to j * HOP + WIN / 2; `ready()` counts the frames whose window
    is complete. Samples before 0 are zeros kept at the front of the buffer; after
    `finish()`, the missing future samples read as zero too, so the last frames match the
    offline computation exactly. Memory stays constant for hours of audio.
    """

    def __init__(self) -> None:
        self._buf = np.zeros(WIN_SAMPLES // 2, dtype=np.float32)  # stream samples -200..-1
        self._offset = -(WIN_SAMPLES // 2)  # stream sample index of _buf[0]
        self.next_frame = 0
        self.samples_seen = 0
        self.finished = False

    def push(self, pcm_f32: np.ndarray) -> None:
        if len(pcm_f32):
            self._buf = np.concatenate([self._buf, pcm_f32.astype(np.float32, copy=False)])
            self.samples_seen += len(pcm_f32)

    def finish(self) -> None:
        self.finished = True

    def ready(self, limit: int | None = None) -> int:
        """Frames computable now (bounded by `limit`, an absolute frame index, if given)."""
        if self.finished:
            last = limit if limit is not None else -(-self.samples_seen // HOP_SAMPLES)
        else:
            last = (self.samples_seen - WIN_SAMPLES // 2) // HOP_SAMPLES + 1
            if limit is not None:
                last = min(last, limit)
        return max(0, last - self.next_frame)

    def segment(self, count: int) -> np.ndarray:
        """The segment_samples(count) samples under the next `count` windows; advances.

        A view of the buffer while it holds them all; zero-padded past a finished stream's end.
        """
        start = self.next_frame * HOP_SAMPLES - WIN_SAMPLES // 2 - self._offset
        need = segment_samples(count)
        seg = self._buf[start : start + need]
        if len(seg) < need:
            if not self.finished:
                raise ValueError(f"{count} windows asked for, {self.ready()} ready")
            seg = np.concatenate([seg, np.zeros(need - len(seg), dtype=np.float32)])
        self.next_frame += count
        keep_from = start + count * HOP_SAMPLES
        if keep_from > 0:
            self._buf = self._buf[keep_from:]  # a view; the next push copies what is left
            self._offset += keep_from
        return seg

    def take(self, count: int) -> np.ndarray:
        """(count, WIN_SAMPLES) windows for the next `count` frames; advances the stream."""
        return windows_of_segments([self.segment(count)], count)
