# Regenerate with: bash proto/generate.sh (grpcio-tools, dev extra)
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Envelope(_message.Message):
    __slots__ = ("schema_version", "open_stream", "audio_chunk", "close_stream", "stream_started", "animation_frame", "stream_ended", "status", "control_request")
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    OPEN_STREAM_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CHUNK_FIELD_NUMBER: _ClassVar[int]
    CLOSE_STREAM_FIELD_NUMBER: _ClassVar[int]
    STREAM_STARTED_FIELD_NUMBER: _ClassVar[int]
    ANIMATION_FRAME_FIELD_NUMBER: _ClassVar[int]
    STREAM_ENDED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CONTROL_REQUEST_FIELD_NUMBER: _ClassVar[int]
    schema_version: int
    open_stream: OpenStream
    audio_chunk: AudioChunk
    close_stream: CloseStream
    stream_started: StreamStarted
    animation_frame: AnimationFrame
    stream_ended: StreamEnded
    status: Status
    control_request: ControlRequest
    def __init__(self, schema_version: _Optional[int] = ..., open_stream: _Optional[_Union[OpenStream, _Mapping]] = ..., audio_chunk: _Optional[_Union[AudioChunk, _Mapping]] = ..., close_stream: _Optional[_Union[CloseStream, _Mapping]] = ..., stream_started: _Optional[_Union[StreamStarted, _Mapping]] = ..., animation_frame: _Optional[_Union[AnimationFrame, _Mapping]] = ..., stream_ended: _Optional[_Union[StreamEnded, _Mapping]] = ..., status: _Optional[_Union[Status, _Mapping]] = ..., control_request: _Optional[_Union[ControlRequest, _Mapping]] = ...) -> None: ...

class OpenStream(_message.Message):
    __slots__ = ("stream_id", "sample_rate", "channels", "encoding", "face_params", "blendshape_multipliers", "blendshape_offsets", "emotion_params", "preferred_emotion", "beginning_emotion")
    class Encoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PCM_S16LE: _ClassVar[OpenStream.Encoding]
        PCM_F32LE: _ClassVar[OpenStream.Encoding]
    PCM_S16LE: OpenStream.Encoding
    PCM_F32LE: OpenStream.Encoding
    class FaceParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class BlendshapeMultipliersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class BlendshapeOffsetsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class EmotionParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class PreferredEmotionEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class BeginningEmotionEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    FACE_PARAMS_FIELD_NUMBER: _ClassVar[int]
    BLENDSHAPE_MULTIPLIERS_FIELD_NUMBER: _ClassVar[int]
    BLENDSHAPE_OFFSETS_FIELD_NUMBER: _ClassVar[int]
    EMOTION_PARAMS_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_EMOTION_FIELD_NUMBER: _ClassVar[int]
    BEGINNING_EMOTION_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    sample_rate: int
    channels: int
    encoding: OpenStream.Encoding
    face_params: _containers.ScalarMap[str, float]
    blendshape_multipliers: _containers.ScalarMap[str, float]
    blendshape_offsets: _containers.ScalarMap[str, float]
    emotion_params: _containers.ScalarMap[str, float]
    preferred_emotion: _containers.ScalarMap[str, float]
    beginning_emotion: _containers.ScalarMap[str, float]
    def __init__(self, stream_id: _Optional[str] = ..., sample_rate: _Optional[int] = ..., channels: _Optional[int] = ..., encoding: _Optional[_Union[OpenStream.Encoding, str]] = ..., face_params: _Optional[_Mapping[str, float]] = ..., blendshape_multipliers: _Optional[_Mapping[str, float]] = ..., blendshape_offsets: _Optional[_Mapping[str, float]] = ..., emotion_params: _Optional[_Mapping[str, float]] = ..., preferred_emotion: _Optional[_Mapping[str, float]] = ..., beginning_emotion: _Optional[_Mapping[str, float]] = ...) -> None: ...

class AudioChunk(_message.Message):
    __slots__ = ("stream_id", "seq", "data", "emotion", "emotion_timecode")
    class EmotionEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EMOTION_FIELD_NUMBER: _ClassVar[int]
    EMOTION_TIMECODE_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    seq: int
    data: bytes
    emotion: _containers.ScalarMap[str, float]
    emotion_timecode: float
    def __init__(self, stream_id: _Optional[str] = ..., seq: _Optional[int] = ..., data: _Optional[bytes] = ..., emotion: _Optional[_Mapping[str, float]] = ..., emotion_timecode: _Optional[float] = ...) -> None: ...

class CloseStream(_message.Message):
    __slots__ = ("stream_id",)
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    def __init__(self, stream_id: _Optional[str] = ...) -> None: ...

class StreamStarted(_message.Message):
    __slots__ = ("stream_id", "blendshape_names", "emotion_names", "fps", "engine", "model_id", "lookahead_ms")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    BLENDSHAPE_NAMES_FIELD_NUMBER: _ClassVar[int]
    EMOTION_NAMES_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    LOOKAHEAD_MS_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    blendshape_names: _containers.RepeatedScalarFieldContainer[str]
    emotion_names: _containers.RepeatedScalarFieldContainer[str]
    fps: float
    engine: str
    model_id: str
    lookahead_ms: float
    def __init__(self, stream_id: _Optional[str] = ..., blendshape_names: _Optional[_Iterable[str]] = ..., emotion_names: _Optional[_Iterable[str]] = ..., fps: _Optional[float] = ..., engine: _Optional[str] = ..., model_id: _Optional[str] = ..., lookahead_ms: _Optional[float] = ...) -> None: ...

class AnimationFrame(_message.Message):
    __slots__ = ("stream_id", "seq", "timecode", "weights", "emotions", "speaking", "emotions_raw", "audio_arrival_ns", "publish_ns")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TIMECODE_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    EMOTIONS_FIELD_NUMBER: _ClassVar[int]
    SPEAKING_FIELD_NUMBER: _ClassVar[int]
    EMOTIONS_RAW_FIELD_NUMBER: _ClassVar[int]
    AUDIO_ARRIVAL_NS_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_NS_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    seq: int
    timecode: float
    weights: _containers.RepeatedScalarFieldContainer[float]
    emotions: _containers.RepeatedScalarFieldContainer[float]
    speaking: bool
    emotions_raw: _containers.RepeatedScalarFieldContainer[float]
    audio_arrival_ns: int
    publish_ns: int
    def __init__(self, stream_id: _Optional[str] = ..., seq: _Optional[int] = ..., timecode: _Optional[float] = ..., weights: _Optional[_Iterable[float]] = ..., emotions: _Optional[_Iterable[float]] = ..., speaking: _Optional[bool] = ..., emotions_raw: _Optional[_Iterable[float]] = ..., audio_arrival_ns: _Optional[int] = ..., publish_ns: _Optional[int] = ...) -> None: ...

class StreamEnded(_message.Message):
    __slots__ = ("stream_id", "frames", "reason", "audio_seconds", "dropped_chunks")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AUDIO_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    frames: int
    reason: str
    audio_seconds: float
    dropped_chunks: int
    def __init__(self, stream_id: _Optional[str] = ..., frames: _Optional[int] = ..., reason: _Optional[str] = ..., audio_seconds: _Optional[float] = ..., dropped_chunks: _Optional[int] = ...) -> None: ...

class Status(_message.Message):
    __slots__ = ("code", "message", "stream_id", "detail_json")
    class Code(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OK: _ClassVar[Status.Code]
        INFO: _ClassVar[Status.Code]
        WARNING: _ClassVar[Status.Code]
        ERROR: _ClassVar[Status.Code]
    OK: Status.Code
    INFO: Status.Code
    WARNING: Status.Code
    ERROR: Status.Code
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    DETAIL_JSON_FIELD_NUMBER: _ClassVar[int]
    code: Status.Code
    message: str
    stream_id: str
    detail_json: str
    def __init__(self, code: _Optional[_Union[Status.Code, str]] = ..., message: _Optional[str] = ..., stream_id: _Optional[str] = ..., detail_json: _Optional[str] = ...) -> None: ...

class ControlRequest(_message.Message):
    __slots__ = ("command", "stream_id", "face_params", "blendshape_multipliers", "blendshape_offsets", "emotion_params", "preferred_emotion", "argument")
    class FaceParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class BlendshapeMultipliersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class BlendshapeOffsetsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class EmotionParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class PreferredEmotionEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_PARAMS_FIELD_NUMBER: _ClassVar[int]
    BLENDSHAPE_MULTIPLIERS_FIELD_NUMBER: _ClassVar[int]
    BLENDSHAPE_OFFSETS_FIELD_NUMBER: _ClassVar[int]
    EMOTION_PARAMS_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_EMOTION_FIELD_NUMBER: _ClassVar[int]
    ARGUMENT_FIELD_NUMBER: _ClassVar[int]
    command: str
    stream_id: str
    face_params: _containers.ScalarMap[str, float]
    blendshape_multipliers: _containers.ScalarMap[str, float]
    blendshape_offsets: _containers.ScalarMap[str, float]
    emotion_params: _containers.ScalarMap[str, float]
    preferred_emotion: _containers.ScalarMap[str, float]
    argument: str
    def __init__(self, command: _Optional[str] = ..., stream_id: _Optional[str] = ..., face_params: _Optional[_Mapping[str, float]] = ..., blendshape_multipliers: _Optional[_Mapping[str, float]] = ..., blendshape_offsets: _Optional[_Mapping[str, float]] = ..., emotion_params: _Optional[_Mapping[str, float]] = ..., preferred_emotion: _Optional[_Mapping[str, float]] = ..., argument: _Optional[str] = ...) -> None: ...
