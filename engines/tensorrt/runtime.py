"""Running a plan on the GPU: the device I/O buffers, the TensorRT execution context, the
per-stream model-state pool, and host<->device copies. cupy and tensorrt arrive as
arguments (or through import_cupy), never at import time."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from facewire.engines.features import N_MELS, WIN_SAMPLES
from facewire.engines.onnx import N_CHANNELS

IO_NAMES = ("features", "state", "weights", "state_out")


class IoBuffers:
    """Fixed-size arrays of `xp` bound to the plan's inputs and outputs, plus the windows.

    A model call over b streams and t frames uses the first b * t rows of `features` and
    `weights` ([b, t, C] row-major) and the first b rows of `state_in` / `state_out`.
    `windows` and `features` have a power-of-two row count so feature calls can be padded to
    a few FFT sizes (cuFFT keeps a plan per size).
    """

    def __init__(self, xp: ModuleType, max_streams: int, max_frames: int, state_size: int):
        rows = max_streams * max_frames
        self.row_capacity = 1 << (rows - 1).bit_length()
        self.windows = xp.zeros((self.row_capacity, WIN_SAMPLES), dtype=xp.float32)
        self.features = xp.zeros((self.row_capacity, N_MELS), dtype=xp.float32)
        self.state_in = xp.zeros((max_streams, state_size), dtype=xp.float32)
        self.weights = xp.zeros((rows, N_CHANNELS), dtype=xp.float32)
        self.state_out = xp.zeros((max_streams, state_size), dtype=xp.float32)

    def feature_rows(self, rows: int) -> int:
        """Rows to run the feature code on for `rows` windows: the next power of two."""
        return min(self.row_capacity, 1 << max(0, rows - 1).bit_length())


class TrtRunner(IoBuffers):
    """A deserialized plan, one execution context and one CUDA stream, on CuPy buffers."""

    def __init__(
        self,
        trt: ModuleType,
        cp: ModuleType,
        plan: bytes,
        max_streams: int,
        max_frames: int,
        state_size: int,
    ) -> None:
        self.stream = cp.cuda.Stream(non_blocking=True)
        with self.stream:
            super().__init__(cp, max_streams, max_frames, state_size)
        self._state_size = state_size
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(plan)
        if self._engine is None:
            raise RuntimeError("TensorRT could not deserialize the plan")
        names = {self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)}
        if names != set(IO_NAMES):
            raise RuntimeError(f"plan tensors {sorted(names)} != expected {sorted(IO_NAMES)}")
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise RuntimeError("TensorRT could not create an execution context")
        buffers = {
            "features": self.features,
            "state": self.state_in,
            "weights": self.weights,
            "state_out": self.state_out,
        }
        for name, buf in buffers.items():
            if not self._context.set_tensor_address(name, buf.data.ptr):
                raise RuntimeError(f"TensorRT refused the buffer for {name!r}")

    def run(self, b: int, t: int):
        """Queue one model call over the first b streams / b * t rows; returns device views
        (weights [b, t, 52], state_out [b, S]) valid once the stream reaches them."""
        ctx = self._context
        if not (
            ctx.set_input_shape("features", (b, t, N_MELS))
            and ctx.set_input_shape("state", (b, self._state_size))
        ):
            raise RuntimeError(f"shape (streams={b}, frames={t}) outside the plan's profile")
        if not ctx.execute_async_v3(self.stream.ptr):
            raise RuntimeError("TensorRT execute_async_v3 failed (see its log)")
        return self.weights[: b * t].reshape(b, t, N_CHANNELS), self.state_out[:b]


def stream_through(runner: Any, xp: ModuleType, feats_f32: np.ndarray, chunk: int) -> np.ndarray:
    """Run (B, T, 80) features through `runner` in chunks of `chunk` frames, carrying the
    state on the device as a live stream does; returns the (B, T, 52) weights on the host."""
    b, total, _ = feats_f32.shape
    out = []
    with runner.stream:
        runner.state_in[:b] = 0
        for t0 in range(0, total, chunk):
            t = min(chunk, total - t0)
            upload(xp, runner.features[: b * t], feats_f32[:, t0 : t0 + t].reshape(b * t, N_MELS))
            weights, state_out = runner.run(b, t)
            runner.state_in[:b] = state_out
            out.append(to_host(xp, weights))
    return np.concatenate(out, axis=1)


def upload(xp: ModuleType, dst, src_f32: np.ndarray) -> None:
    """Copy a host array into a same-shaped contiguous `xp` array (on the current stream)."""
    if xp is np:
        dst[...] = src_f32
    else:
        dst.set(np.ascontiguousarray(src_f32, dtype=np.float32))


def to_host(xp: ModuleType, arr) -> np.ndarray:
    """A host copy (buffers are reused by the next call); waits for the stream on a GPU."""
    return np.array(arr) if xp is np else xp.asnumpy(arr)


class StatePool:
    """Model state of every live stream: one (capacity, S) float32 array of `xp`.

    A stream holds a row (slot) from new_stream() until it ends or is garbage collected, so
    a model call moves state with one gather and one scatter, whatever the number of streams.
    The pool doubles when full; callers queue its device work on the engine's stream.
    """

    def __init__(self, xp: ModuleType, state_size: int, capacity: int = 64) -> None:
        self._xp = xp
        self.states = xp.zeros((capacity, state_size), dtype=xp.float32)
        self._free = list(range(capacity - 1, -1, -1))

    @property
    def in_use(self) -> int:
        return len(self.states) - len(self._free)

    def acquire(self) -> int:
        if not self._free:
            old = self.states
            self.states = self._xp.zeros((2 * len(old), old.shape[1]), dtype=old.dtype)
            self.states[: len(old)] = old
            self._free.extend(range(len(self.states) - 1, len(old) - 1, -1))
        slot = self._free.pop()
        self.states[slot] = 0
        return slot

    def release(self, slot: int) -> None:
        self._free.append(slot)

    def gather(self, slots, out) -> None:
        """out[i] = states[slots[i]]; slots: int64 array of `xp`."""
        self._xp.take(self.states, slots, axis=0, out=out)

    def scatter(self, slots, src) -> None:
        """states[slots[i]] = src[i]."""
        self.states[slots] = src


def import_cupy() -> ModuleType:
    """cupy with at least one CUDA device, or ImportError / RuntimeError saying why not."""
    try:
        import cupy as cp
    except Exception as exc:  # a broken install can raise more than ImportError
        raise ImportError(
            f"the TensorRT engine needs the gpu extra (pip install 'facewire[gpu]'): "
            f"cupy is not importable ({exc})"
        ) from exc
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, no device
        raise RuntimeError(f"no usable CUDA device: cupy says {exc}") from exc
    if count < 1:
        raise RuntimeError("no CUDA device: cupy sees 0 GPUs")
    return cp
