"""The learned lip-sync engine: the committed causal CNN, run by onnxruntime on CPU.

Audio in, ARKit weights out, with every live stream batched into one feature call and as few
model calls as possible per tick. Per stream: StreamingWindows cuts analysis windows; the
model (explicit conv-cache state, see training/model.py) advances in blocks of
`block_frames` feature frames; its output for feature frame j is the face of frame
j - lookahead_frames; FpsResampler maps those 100 Hz rows to `fps`. Streams advance only in
whole blocks, so all streams with the same number of ready blocks share one model call. On
the final chunk the stream is padded with features of zero audio, exactly what an offline
pass sees past the end, so the output never depends on how the audio was chunked.

That bookkeeping lives in StreamingModelEngine, shared with the TensorRT engine
(engines/tensorrt.py), which runs the same model on a GPU; OnnxEngine adds only the
onnxruntime session and its model call.
"""

from __future__ import annotations

import hashlib
import json
import time
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facewire.engines.base import Engine, FpsResampler, frames_for
from facewire.engines.features import (
    FEATURE_RATE,
    SAMPLE_RATE,
    WIN_SAMPLES,
    StreamingWindows,
    log_mel_windows,
)

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "lipsync.onnx"
N_CHANNELS = 52
MAX_CALL_FRAMES = 4096  # feature frames per model call (41 s); longer input is split


class ModelStream:
    """Per-stream bookkeeping: window cutter, frame counters, fps resampler (no model state)."""

    def __init__(self, fps: float) -> None:
        self.windows = StreamingWindows()
        self.fed = 0  # feature frames given to the model
        self.resampler = FpsResampler(fps, N_CHANNELS)
        self.emitted = 0
        self.done = False


class _OnnxStream(ModelStream):
    """Per-stream state of OnnxEngine: the bookkeeping plus the model state on the host."""

    def __init__(self, state_size: int, fps: float) -> None:
        super().__init__(fps)
        self.state_f32 = np.zeros(state_size, dtype=np.float32)  # (S,) conv caches


class StreamingModelEngine(Engine):
    """What every engine running the committed streaming model shares (onnxruntime, TensorRT).

    Reads the model's JSON sidecar, schedules whole blocks per stream, trims the lookahead,
    resamples to fps and checks the frame count at the end. A subclass says where the model
    runs: new_stream() returns a ModelStream (plus the subclass's model state) and
    _run_model() advances the model for the streams that have blocks to feed.
    """

    def __init__(self, fps: float, model_path: str | Path | None, block_frames: int) -> None:
        """Read the model and its sidecar.

        Args:
            fps: output frame rate (24-60).
            model_path: ONNX file; its JSON sidecar (same stem) gives state size and lookahead.
                None selects the committed model.
            block_frames: feature frames per model step; larger batches better, adds latency.
        """
        super().__init__(fps)
        path = Path(model_path) if model_path is not None else DEFAULT_MODEL
        meta_path = path.with_suffix(".json")
        if not path.is_file() or not meta_path.is_file():
            raise FileNotFoundError(
                f"lip-sync model missing: need {path} and {meta_path} (train it with "
                "training/run_all.sh, or pass model_path)"
            )
        if block_frames < 1:
            raise ValueError(f"block_frames={block_frames} must be >= 1")
        meta = json.loads(meta_path.read_text())
        self.state_size = int(meta["state_size"])
        self.lookahead_frames = int(meta["lookahead_frames"])
        self.block_frames = int(block_frames)
        self.model_bytes = path.read_bytes()  # what the subclass loads or compiles
        self.model_sha256 = hashlib.sha256(self.model_bytes).hexdigest()
        self.model_id = f"{path.stem}-{self.model_sha256[:12]}"
        self.model_path = path
        self.timing = {"features_s": 0.0, "model_s": 0.0}  # cumulative, for bench/

    @property
    def lookahead_s(self) -> float:
        """Model lookahead + half an analysis window + one interpolation row + block wait."""
        frame = 1.0 / FEATURE_RATE
        return (
            self.lookahead_frames * frame
            + WIN_SAMPLES / 2 / SAMPLE_RATE
            + frame
            + (self.block_frames - 1) * frame
        )

    def _frames_to_feed(self, st: ModelStream) -> int:
        """Feature frames this stream can give the model now, a whole number of blocks."""
        k = self.block_frames
        if st.windows.finished:
            total = frames_for(st.windows.samples_seen, self.fps)
            rows = st.resampler.feature_frames_needed(total)
            target = -(-(rows + self.lookahead_frames) // k) * k
            return max(0, target - st.fed)
        return st.windows.ready() // k * k

    @staticmethod
    def _group_by_count(counts: Sequence[int]) -> dict[int, list[int]]:
        """Batch indices by frames to feed (zeros left out): streams fed alike share a call."""
        groups: dict[int, list[int]] = {}
        for i, n in enumerate(counts):
            if n:
                groups.setdefault(n, []).append(i)
        return groups

    @abstractmethod
    def _run_model(
        self, batch: Sequence[tuple[Any, np.ndarray, bool]], counts: Sequence[int]
    ) -> list[np.ndarray | None]:
        """Take counts[i] windows from stream i and advance its model state over them.

        Returns:
            Per batch entry the model's (counts[i], 52) float32 output rows (host arrays),
            None where counts[i] is 0.
        """

    def process(self, batch: Sequence[tuple[Any, np.ndarray, bool]]) -> list[np.ndarray]:
        counts = []
        for st, pcm_f32, final in batch:
            if st.done:
                raise ValueError("stream already ended (final=True was passed before)")
            st.windows.push(np.asarray(pcm_f32, dtype=np.float32))
            if final:
                st.windows.finish()
            counts.append(self._frames_to_feed(st))
        per_stream = self._run_model(batch, counts)
        out = []
        for i, (st, _, _) in enumerate(batch):
            w = per_stream[i]
            if w is not None:
                skip = max(0, self.lookahead_frames - st.fed)  # outputs before frame 0
                st.fed += counts[i]
                st.resampler.push(w[skip:])
            if st.windows.finished:
                limit = frames_for(st.windows.samples_seen, self.fps)
                st.done = True
            else:
                limit = 1 << 62
            frames = st.resampler.pop(limit)
            st.emitted += len(frames)
            if st.done and st.emitted != limit:
                raise RuntimeError(f"stream ended with {st.emitted} frames, expected {limit}")
            out.append(frames.astype(np.float32, copy=False))
        return out


class OnnxEngine(StreamingModelEngine):
    """onnxruntime CPU engine for the committed lip-sync model (engines/models/lipsync.onnx)."""

    name = "onnx"

    def __init__(
        self,
        fps: float = 30.0,
        model_path: str | Path | None = None,
        threads: int = 1,
        block_frames: int = 2,
    ) -> None:
        """Load the model.

        Args:
            fps: output frame rate (24-60).
            model_path: ONNX file; its JSON sidecar (same stem) gives state size and lookahead.
                None selects the committed model.
            threads: onnxruntime intra-op threads (1 keeps one core per daemon).
            block_frames: feature frames per model step; larger batches better, adds latency.
        """
        super().__init__(fps, model_path, block_frames)
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ImportError("OnnxEngine needs onnxruntime: pip install onnxruntime") from err
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(
            self.model_bytes, opts, providers=["CPUExecutionProvider"]
        )

    def new_stream(self) -> _OnnxStream:
        return _OnnxStream(self.state_size, self.fps)

    def _run_model(
        self, batch: Sequence[tuple[Any, np.ndarray, bool]], counts: Sequence[int]
    ) -> list[np.ndarray | None]:
        # One feature call for every stream (windows past a finished stream's end read as zero).
        t0 = time.perf_counter()
        active = [i for i, n in enumerate(counts) if n]
        wins = [batch[i][0].windows.take(counts[i]) for i in active]
        feats = log_mel_windows(np.concatenate(wins)) if wins else None
        t1 = time.perf_counter()
        starts = dict(zip(active, np.cumsum([0] + [counts[i] for i in active]), strict=False))
        per_stream: list[np.ndarray | None] = [None] * len(batch)
        for n, members in self._group_by_count(counts).items():
            x = np.stack([feats[starts[i] : starts[i] + n] for i in members])
            s = np.stack([batch[i][0].state_f32 for i in members])
            pieces = []
            for a in range(0, n, MAX_CALL_FRAMES):  # bounded memory for long offline input
                w, s = self._session.run(
                    None, {"features": x[:, a : a + MAX_CALL_FRAMES], "state": s}
                )
                pieces.append(w)
            w = np.concatenate(pieces, axis=1)
            for row, i in enumerate(members):
                batch[i][0].state_f32 = s[row].copy()
                per_stream[i] = w[row]
        t2 = time.perf_counter()
        self.timing["features_s"] += t1 - t0
        self.timing["model_s"] += t2 - t1
        return per_stream
