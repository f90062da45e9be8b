"""Static int8 version of the lip-sync model for the CPU engine.

    python -m training.quantize [--model engines/models/lipsync.onnx] [--out ...-int8.onnx]

Every MatMul gets int8 weights (per output channel) and int8 inputs with FIXED scales,
calibrated here (QDQ format; onnxruntime runs it with integer GEMMs). Fixed scales matter:
dynamic quantisation picks a scale per call from the whole batch, so one stream's frames
would depend on the other streams in the batch and on the chunking, which the engine
contract forbids. With fixed scales every row is computed on its own, as in the float model.

Calibration input: LibriSpeech utterances of the training speakers (training/align.py's
"train" split; CC BY 4.0), streamed through the float model in 4-frame calls from a zero
state, so the state inputs the calibration sees are the ones a live stream produces. Fixed
order and count, so the output is the same file every run.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from facewire.engines.features import log_mel
from training.align import SPEECH, utterances

HERE = Path(__file__).resolve().parent
MODELS = HERE.parent / "engines" / "models"
CALIB_UTTERANCES = 24
CALIB_FRAMES = 4  # per call, as in a live tick
CALIB_STEP = 7  # keep every 7th call: the state of a stream changes slowly


def calibration_batches(model: Path, speech: Path) -> list[dict[str, np.ndarray]]:
    """Feature/state inputs recorded while streaming training speakers through `model`."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    size = sess.get_inputs()[1].shape[1]
    train = [u for u in utterances(speech) if u[3] == "train"][:CALIB_UTTERANCES]
    batches = []
    for _, _, flac, _ in train:
        pcm, sr = sf.read(flac, dtype="float32")
        if sr != 16000:
            raise ValueError(f"{flac}: {sr} Hz, expected 16000")
        feats = log_mel(pcm)[None]
        state = np.zeros((1, size), dtype=np.float32)
        for i, a in enumerate(range(0, feats.shape[1] - CALIB_FRAMES + 1, CALIB_FRAMES)):
            x = np.ascontiguousarray(feats[:, a : a + CALIB_FRAMES])
            if i % CALIB_STEP == 0:
                batches.append({"features": x, "state": state})
            _, state = sess.run(None, {"features": x, "state": state})
    return batches


def quantize(model: Path, out: Path, speech: Path) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self, batches):
            self._it = iter(batches)

        def get_next(self):
            return next(self._it, None)

    batches = calibration_batches(model, speech)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(model), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(out),
            Reader(batches),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    print(f"wrote {out} ({len(batches)} calibration calls)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(MODELS / "lipsync.onnx"))
    ap.add_argument("--out", default=None, help="default: MODEL stem + '-int8.onnx'")
    ap.add_argument("--speech", default=str(SPEECH))
    args = ap.parse_args()
    model = Path(args.model)
    out = Path(args.out) if args.out else model.with_name(model.stem + "-int8.onnx")
    quantize(model, out, Path(args.speech))


if __name__ == "__main__":
    main()
