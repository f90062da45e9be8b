"""The lip-sync model on an NVIDIA GPU: TensorRT plan, CuPy features, model state on device.

Same model, same bookkeeping and same output as the onnxruntime engine (StreamingModelEngine
in engines/onnx.py does the per-stream scheduling for both); only the model call differs:

- Analysis windows are cut on the host (StreamingWindows), uploaded once per call into a
  device buffer, and `log_mel_windows(xp=cupy, out=...)` writes the features straight into
  TensorRT's input buffer.
- Every live stream owns a row of one device array of model states (StatePool); a model call
  gathers the rows of its streams into the state input and scatters the state output back,
  so model state never leaves the GPU.
- The plan has one optimization profile with a dynamic batch (1 ... max_streams) and time
  (1 ... max_frames) axis; a call with more streams or frames runs in pieces (exact, the model
  is causal with explicit state). All device work is queued on one CUDA stream.
- Precision: an FP16 plan where it agrees with onnxruntime's FP32 output on real speech
  (max |dw| <= fp16_tolerance), else FP32. The plan is cached on disk keyed by GPU, TensorRT
  version, model hash and profile, so a restart loads it instead of building again.

Modules: `plan` (build, check, cache), `runtime` (device buffers, execution, state pool),
`engine` (TensorRTEngine). tensorrt and cupy are imported lazily: importing this package
works on any machine, and the
constructor raises ImportError or RuntimeError saying what is missing (the registry's `auto`
then falls back to onnxruntime). Written against TensorRT 10.x/11.x (strongly typed networks,
named tensors, execute_async_v3); see docs/GPU.md, including what was verified on hardware.
"""

from facewire.engines.tensorrt.engine import TensorRTEngine, TrtStream
from facewire.engines.tensorrt.plan import (
    ACCURACY_LIMIT,
    PlanKey,
    default_cache_dir,
    fp16_onnx,
    load_or_build_plan,
    onnxruntime_reference,
    reference_features,
)
from facewire.engines.tensorrt.runtime import IoBuffers, StatePool, TrtRunner, stream_through

__all__ = [
    "ACCURACY_LIMIT",
    "IoBuffers",
    "PlanKey",
    "StatePool",
    "TensorRTEngine",
    "TrtRunner",
    "TrtStream",
    "default_cache_dir",
    "fp16_onnx",
    "load_or_build_plan",
    "onnxruntime_reference",
    "reference_features",
    "stream_through",
]
