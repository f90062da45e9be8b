"""The learned lip-sync engine: the committed causal CNN, run by onnxruntime on CPU.

Audio in, ARKit weights out, with every live stream batched into one feature call and as few
model calls as possible per tick. Per stream: StreamingWindows cuts analysis windows; the
model (explicit conv-cache state, see training/model.py) advances in blocks of
`block_frames` feature frames; its output for feature frame j is the face of frame
j - lookahead_frames; FpsResampler maps those 100 Hz rows to `fps`. Streams advance only in
whole blocks, so all streams with the same number of ready blocks share one model call. On
the final chunk the stream is padded with features of zero audio, exactly what an offline
pass sees past the end, so the output never depends on how the audio was chunked.
"""

from __future__ import annotations

import hashlib
import json
import time
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


class _OnnxStream:
    """Per-stream state: window cutter, model state, frame counters, fps resampler."""

    def __init__(self, state_size: int, fps: float) -> None:
        self.windows = StreamingWindows()
        self.state_f32 = np.zeros(state_size, dtype=np.float32)  # (S,) conv caches
        self.fed = 0  # feature frames given to the model
        self.resampler = FpsResampler(fps, N_CHANNELS)
        self.emitted = 0
        self.done = False


class OnnxEngine(Engine):
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
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ImportError("OnnxEngine needs onnxruntime: pip install onnxruntime") from err
        meta = json.loads(meta_path.read_text())
        self.state_size = int(meta["state_size"])
        self.lookahead_frames = int(meta["lookahead_frames"])
        self.block_frames = int(block_frames)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        model_bytes = path.read_bytes()
        self.model_id = f"{path.stem}-{hashlib.sha256(model_bytes).hexdigest()[:12]}"
        self._session = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
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

    def new_stream(self) -> _OnnxStream:
        return _OnnxStream(self.state_size, self.fps)

    def _frames_to_feed(self, st: _OnnxStream) -> int:
        """Feature frames this stream can give the model now, a whole number of blocks."""
        k = self.block_frames
        if st.windows.finished:
            total = frames_for(st.windows.samples_seen, self.fps)
            rows = st.resampler.feature_frames_needed(total)
            target = -(-(rows + self.lookahead_frames) // k) * k
            return max(0, target - st.fed)
        return st.windows.ready() // k * k

    def process(self, batch: Sequence[tuple[Any, np.ndarray, bool]]) -> list[np.ndarray]:
        counts = []
        for st, pcm_f32, final in batch:
            if st.done:
                raise ValueError("stream already ended (final=True was passed before)")
            st.windows.push(np.asarray(pcm_f32, dtype=np.float32))
            if final:
                st.windows.finish()
            counts.append(self._frames_to_feed(st))
        # One feature call for every stream (windows past a finished stream's end read as zero).
        t0 = time.perf_counter()
        active = [i for i, n in enumerate(counts) if n]
        wins = [batch[i][0].windows.take(counts[i]) for i in active]
        feats = log_mel_windows(np.concatenate(wins)) if wins else None
        t1 = time.perf_counter()
        starts = dict(zip(active, np.cumsum([0] + [counts[i] for i in active]), strict=False))
        # One model call per distinct block count: streams fed alike share a batch.
        groups: dict[int, list[int]] = {}
        for i in active:
            groups.setdefault(counts[i], []).append(i)
        per_stream: list[np.ndarray | None] = [None] * len(batch)
        for n, members in groups.items():
            x = np.stack([feats[starts[i] : starts[i] + n] for i in members])
            s = np.stack([batch[i][0].state_f32 for i in members])
            w, s_out = self._session.run(None, {"features": x, "state": s})
            for row, i in enumerate(members):
                batch[i][0].state_f32 = s_out[row]
                per_stream[i] = w[row]
        t2 = time.perf_counter()
        self.timing["features_s"] += t1 - t0
        self.timing["model_s"] += t2 - t1
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
