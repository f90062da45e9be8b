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
(engines/tensorrt/), which runs the same model on a GPU. OnnxEngine adds the onnxruntime
session and a call path sized for many streams on one core (bench/engine_cost.py): the
windows of every stream are cut in one gather and turned into features in one call, straight
into a reused buffer that is bound to the model input; model state lives in a double-buffered
slot pool (HostStatePool) that the model reads and writes in place; by default it runs the
static int8 copy of the model (training/quantize.py), whose fixed scales keep each stream's
frames independent of the batch it is in.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import time
import weakref
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facewire.engines.base import Engine, FpsResampler, frames_for
from facewire.engines.features import (
    FEATURE_RATE,
    N_MELS,
    SAMPLE_RATE,
    WIN_SAMPLES,
    StreamingWindows,
    log_mel_windows,
    windows_of_segments,
)

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "lipsync.onnx"
N_CHANNELS = 52
PRECISIONS = ("auto", "int8", "fp32")
MAX_CALL_FRAMES = 4096  # feature frames per model call (41 s); longer input is split


class ModelStream:
    """Per-stream bookkeeping: window cutter, frame counters, fps resampler (no model state)."""

    def __init__(self, fps: float) -> None:
        self.windows = StreamingWindows()
        self.fed = 0  # feature frames given to the model
        self.resampler = FpsResampler(fps, N_CHANNELS)
        self.emitted = 0
        self.done = False


class HostStatePool:
    """Model state of every live stream in two (capacity, S) float32 host buffers.

    A stream holds a row (slot) from new_stream() until its last call. Its state is in
    buffer `side[slot]`. A model call over a run of consecutive slots that are all on the
    same side reads that buffer and writes the other one in place, then flips their side:
    no state is stacked, copied back or allocated per call. Other calls gather into and
    scatter from scratch rows. Slots are handed out lowest first, so streams that start
    together sit side by side. The pool starts small (0.8 MB for 8 streams) and doubles.
    """

    def __init__(self, state_size: int, capacity: int = 8) -> None:
        self.buffers = np.zeros((2, capacity, state_size), dtype=np.float32)
        self.side = np.zeros(capacity, dtype=np.int64)
        self._free = list(range(capacity))  # a heap: lowest slot first

    @property
    def capacity(self) -> int:
        return self.buffers.shape[1]

    @property
    def in_use(self) -> int:
        return self.capacity - len(self._free)

    def acquire(self) -> int:
        if not self._free:
            old, cap = self.buffers, self.capacity
            self.buffers = np.zeros((2, 2 * cap, old.shape[2]), dtype=np.float32)
            self.buffers[:, :cap] = old
            self.side = np.concatenate([self.side, np.zeros(cap, dtype=np.int64)])
            self._free = list(range(cap, 2 * cap))
        slot = heapq.heappop(self._free)
        self.side[slot] = 0
        self.buffers[0, slot] = 0.0
        return slot

    def release(self, slot: int) -> None:
        heapq.heappush(self._free, slot)

    def run_of(self, slots: np.ndarray) -> tuple[int, int] | None:
        """(first slot, side) when `slots` (ascending) are consecutive and on one side."""
        lo = int(slots[0])
        if int(slots[-1]) - lo + 1 != len(slots):
            return None
        side = self.side[lo : lo + len(slots)]
        if (side != side[0]).any():
            return None
        return lo, int(side[0])

    def flat_rows(self, slots: np.ndarray) -> np.ndarray:
        """Row indices of the slots' current states in buffers.reshape(-1, S)."""
        return self.side[slots] * self.capacity + slots


class _OnnxStream(ModelStream):
    """Per-stream state of OnnxEngine: the bookkeeping plus a HostStatePool slot."""

    def __init__(self, fps: float, pool: HostStatePool) -> None:
        super().__init__(fps)
        self.slot = pool.acquire()
        self._release = weakref.finalize(self, pool.release, self.slot)

    def release(self) -> None:
        self._release()  # idempotent


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
        block_frames: int = 4,
        precision: str = "auto",
    ) -> None:
        """Load the model.

        Args:
            fps: output frame rate (24-60).
            model_path: float ONNX file; its JSON sidecar (same stem) gives state size and
                lookahead. None selects the committed model.
            threads: onnxruntime intra-op threads (1 keeps one core per daemon).
            block_frames: feature frames per model step. 4 (40 ms, two 20 ms chunks) halves
                the model calls of a 20 ms tick and keeps 64 streams under 0.002 CPU s per
                audio s; each frame above 1 adds 10 ms of latency (lookahead_s).
            precision: "int8" runs `<stem>-int8.onnx` beside the model (static int8, made
                by training/quantize.py), "fp32" the float model, "auto" int8 when that file
                exists.
        """
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r}: choose one of {', '.join(PRECISIONS)}")
        path = Path(model_path) if model_path is not None else DEFAULT_MODEL
        int8 = path.with_name(path.stem + "-int8.onnx")
        if precision == "int8" and not int8.is_file():
            raise FileNotFoundError(
                f"int8 model missing: {int8} (make it with python -m training.quantize)"
            )
        self.precision = (
            "int8" if precision == "int8" or (precision == "auto" and int8.is_file()) else "fp32"
        )
        super().__init__(fps, path, block_frames)
        if self.precision == "int8":  # the sidecar and interface are the float model's
            self.model_bytes = int8.read_bytes()
            self.model_sha256 = hashlib.sha256(self.model_bytes).hexdigest()
            self.model_id = f"{int8.stem}-{self.model_sha256[:12]}"
            self.model_path = int8
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
        self._io = self._session.io_binding()
        self._pool = HostStatePool(self.state_size)
        self._scratch: dict[str, np.ndarray] = {}

    def new_stream(self) -> _OnnxStream:
        return _OnnxStream(self.fps, self._pool)

    def _buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A reused float32 scratch array of at least `shape` (grown, never shrunk), cut to it.

        Reuse matters: fresh multi-megabyte arrays come from new pages and page faults cost
        as much as the model's smaller layers.
        """
        rows = shape[0]
        buf = self._scratch.get(name)
        if buf is None or buf.shape[0] < rows or buf.shape[1:] != shape[1:]:
            buf = np.empty(
                (max(rows, 2 * (0 if buf is None else buf.shape[0])), *shape[1:]), dtype=np.float32
            )
            self._scratch[name] = buf
        return buf[:rows]

    def _call(
        self, feats: np.ndarray, state_in: np.ndarray, state_out: np.ndarray, weights: np.ndarray
    ) -> None:
        """One onnxruntime run with every input and output bound to the given host arrays."""
        io = self._io
        io.clear_binding_inputs()
        io.clear_binding_outputs()
        for name, arr, bind in (
            ("features", feats, io.bind_input),
            ("state", state_in, io.bind_input),
            ("weights", weights, io.bind_output),
            ("state_out", state_out, io.bind_output),
        ):
            bind(name, "cpu", 0, np.float32, list(arr.shape), arr.ctypes.data)
        self._session.run_with_iobinding(io)

    def _advance(self, feats: np.ndarray, slots: np.ndarray, weights: np.ndarray) -> None:
        """Run streams `slots` (ascending) over feats (b, n, 80) -> weights (b, n, 52)."""
        pool, (b, n, _) = self._pool, feats.shape
        run = pool.run_of(slots) if n <= MAX_CALL_FRAMES else None
        if run is not None:  # the common case: read one side, write the other, in place
            lo, side = run
            self._call(
                feats,
                pool.buffers[side, lo : lo + b],
                pool.buffers[1 - side, lo : lo + b],
                weights,
            )
            pool.side[lo : lo + b] = 1 - side
            return
        flat = pool.buffers.reshape(-1, self.state_size)
        rows = pool.flat_rows(slots)
        s_in = self._buffer("state_a", (b, self.state_size))
        s_out = self._buffer("state_b", (b, self.state_size))
        np.take(flat, rows, axis=0, out=s_in)
        for a in range(0, n, MAX_CALL_FRAMES):  # bounded memory for long offline input
            t = min(MAX_CALL_FRAMES, n - a)
            part = feats if t == n else np.ascontiguousarray(feats[:, a : a + t])
            w = weights if t == n else np.empty((b, t, N_CHANNELS), dtype=np.float32)
            self._call(part, s_in, s_out, w)
            if t != n:
                weights[:, a : a + t] = w
            s_in, s_out = s_out, s_in
        flat[rows] = s_in

    def _run_model(
        self, batch: Sequence[tuple[Any, np.ndarray, bool]], counts: Sequence[int]
    ) -> list[np.ndarray | None]:
        # Streams fed alike form a group, in slot order, so each group's feature rows are one
        # contiguous block of a single feature call and its states one run of the pool.
        t0 = time.perf_counter()
        groups = []
        total = 0
        for n, members in self._group_by_count(counts).items():
            members.sort(key=lambda i: batch[i][0].slot)
            groups.append((n, members, total))
            total += n * len(members)
        per_stream: list[np.ndarray | None] = [None] * len(batch)
        if not total:
            return per_stream
        wins = self._buffer("windows", (total, WIN_SAMPLES))
        for n, members, r0 in groups:
            segs = [batch[i][0].windows.segment(n) for i in members]
            windows_of_segments(segs, n, out=wins[r0 : r0 + n * len(members)])
        feats = log_mel_windows(wins, out=self._buffer("features", (total, N_MELS)))
        weights = self._buffer("weights", (total, N_CHANNELS))
        t1 = time.perf_counter()
        for n, members, r0 in groups:
            rows = slice(r0, r0 + n * len(members))
            w = weights[rows].reshape(len(members), n, N_CHANNELS)
            slots = np.fromiter((batch[i][0].slot for i in members), np.int64, len(members))
            self._advance(feats[rows].reshape(len(members), n, N_MELS), slots, w)
            for row, i in enumerate(members):
                per_stream[i] = w[row]  # a view: process() copies it into the resampler
        for st, _, _ in batch:
            if st.windows.finished:
                st.release()  # its last model call is done
        t2 = time.perf_counter()
        self.timing["features_s"] += t1 - t0
        self.timing["model_s"] += t2 - t1
        return per_stream
