"""The audio facewire speaks: one sample rate inside, and the PCM encodings clients send.

Every stream is resampled to SAMPLE_RATE mono float32 on arrival; the lip-sync features,
the VAD and the emotion estimator all run at it. Imports nothing, so the engines, the
client and the daemon can share it.
"""

SAMPLE_RATE = 16_000  # Hz, inside the pipeline (what every model was trained at)

# PCM encodings a client may send: name -> little-endian sample dtype (numpy spelling).
# On the wire each is OpenStream.Encoding PCM_<NAME> (facewire.wire.encoding_enum/_name).
PCM_ENCODINGS: dict[str, str] = {"s16le": "<i2", "f32le": "<f4"}
