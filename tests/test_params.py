"""Validation of per-stream tuning parameters (names, spellings, ranges, merging)."""

import json

import pytest

from facewire.arkit import ARKIT_NAMES, EMOTION_NAMES
from facewire.engines.params import (
    EMOTION_PARAMS,
    FACE_PARAMS,
    ParamError,
    StreamParams,
    canonical_name,
)

# A2F 2.3 names and defaults from DESIGN.md ("A2F tuning parameters to honour").
A2F_FACE = {
    "input_strength": 1.0, "skin_strength": 1.0, "upper_face_strength": 1.0,
    "lower_face_strength": 1.0, "upper_face_smoothing": 0.001, "lower_face_smoothing": 0.006,
    "face_mask_level": 0.6, "face_mask_softness": 0.0085, "eyelid_open_offset": 0.0,
    "lip_open_offset": 0.0, "blink_strength": 1.0, "blink_offset": 0.0, "tongue_strength": 1.3,
    "tongue_height_offset": 0.0, "tongue_depth_offset": 0.0,
}  # fmt: skip
A2F_EMOTION = {
    "emotion_contrast": 1.0, "live_blend_coef": 0.7, "enable_preferred_emotion": 1,
    "preferred_emotion_strength": 0.5, "emotion_strength": 0.6, "max_emotions": 3,
    "live_transition_time": 0.5,
}  # fmt: skip


def test_defaults_cover_every_a2f_parameter() -> None:
    p = StreamParams.defaults()
    for name, value in A2F_FACE.items():
        assert p.face[name] == pytest.approx(value), name
    for name, value in A2F_EMOTION.items():
        assert p.emotion[name] == pytest.approx(value), name
    assert set(p.face) == set(FACE_PARAMS) and set(p.emotion) == set(EMOTION_PARAMS)
    assert {"enable_clamping", "enable_blinks", "enable_saccades", "enable_head_motion"} <= set(
        p.face
    )
    assert all(p.face[k] == 1 for k in ("enable_blinks", "enable_saccades", "enable_head_motion"))
    assert p.multipliers == (1.0,) * 52 and p.offsets == (0.0,) * 52
    assert len(p.preferred_emotion) == 10 and len(p.beginning_emotion) == 10
    # A2F's own per-voice default is documented beside ours.
    assert FACE_PARAMS["lower_face_strength"].a2f_default == 1.25


def test_every_spec_default_is_in_its_range_and_documented() -> None:
    for spec in [*FACE_PARAMS.values(), *EMOTION_PARAMS.values()]:
        assert spec.lo <= spec.default <= spec.hi, spec.name
        assert len(spec.doc) > 15, spec.name


def test_camel_case_is_accepted() -> None:
    p = StreamParams.defaults().updated(
        face={"lowerFaceSmoothing": 0.02, "faceMaskLevel": 0.5, "enableBlinks": 0},
        emotion={"liveTransitionTime": 1.5, "maxEmotions": 2},
    )
    assert p.face["lower_face_smoothing"] == 0.02
    assert p.face["face_mask_level"] == 0.5
    assert p.face["enable_blinks"] == 0
    assert p.emotion["live_transition_time"] == 1.5
    assert p.emotion["max_emotions"] == 2
    assert canonical_name("upperFaceStrength") == "upper_face_strength"
    assert canonical_name("upper_face_strength") == "upper_face_strength"


@pytest.mark.parametrize(
    ("group", "name", "suggestion"),
    [
        ("face", "lower_face_strenght", "lower_face_strength"),
        ("face", "lowerFaceStrenght", "lower_face_strength"),
        ("emotion", "emotion_contrats", "emotion_contrast"),
    ],
)
def test_unknown_name_suggests_the_closest(group: str, name: str, suggestion: str) -> None:
    with pytest.raises(ParamError, match=f"did you mean '{suggestion}'"):
        StreamParams.defaults().updated(**{group: {name: 1.0}})


def test_unknown_blendshape_and_emotion_names_suggest() -> None:
    with pytest.raises(ParamError, match="did you mean 'jawOpen'"):
        StreamParams.defaults().updated(multipliers={"jawOpn": 0.5})
    with pytest.raises(ParamError, match="did you mean 'sadness'"):
        StreamParams.defaults().updated(preferred_emotion={"sadnes": 0.5})


def test_pascal_case_blendshape_names_are_accepted() -> None:
    p = StreamParams.defaults().updated(multipliers={"JawOpen": 0.5}, offsets={"EyeBlinkLeft": 0.1})
    assert p.multipliers[ARKIT_NAMES.index("jawOpen")] == 0.5
    assert p.offsets[ARKIT_NAMES.index("eyeBlinkLeft")] == 0.1
    assert StreamParams.defaults().updated(preferred_emotion={"Joy": 1.0}).preferred_emotion[6] == 1


def test_out_of_range_names_parameter_value_and_range() -> None:
    with pytest.raises(ParamError) as err:
        StreamParams.defaults().updated(emotion={"emotion_contrast": 5})
    msg = str(err.value)
    assert "emotion_contrast" in msg and "5" in msg and "0.3..3" in msg
    with pytest.raises(ParamError, match=r"lip_open_offset=0.5 .*-0.2..0.2"):
        StreamParams.defaults().updated(face={"lipOpenOffset": 0.5})
    with pytest.raises(ParamError, match=r"max_emotions=7 .*1..6"):
        StreamParams.defaults().updated(emotion={"max_emotions": 7})
    with pytest.raises(ParamError, match=r"offsets\[jawOpen\]=2"):
        StreamParams.defaults().updated(offsets={"jawOpen": 2})
    with pytest.raises(ParamError, match=r"beginning_emotion\[joy\]=1.5 .*0..1"):
        StreamParams.defaults().updated(beginning_emotion={"joy": 1.5})


def test_bad_values_are_rejected() -> None:
    base = StreamParams.defaults()
    with pytest.raises(ParamError, match="whole number"):
        base.updated(emotion={"max_emotions": 2.5})
    with pytest.raises(ParamError, match="not a finite number"):
        base.updated(face={"skin_strength": float("nan")})
    with pytest.raises(ParamError, match="not a number"):
        base.updated(face={"skin_strength": "strong"})


def test_parameter_without_arkit_meaning_is_refused_not_ignored() -> None:
    base = StreamParams.defaults()
    assert base.updated(face={"tongueHeightOffset": 0.0}).face["tongue_height_offset"] == 0.0
    with pytest.raises(ParamError, match="tongue_height_offset=0.2 is not supported"):
        base.updated(face={"tongueHeightOffset": 0.2})


def test_updated_merges_and_is_atomic() -> None:
    base = StreamParams.defaults()
    p = base.updated(multipliers={"jawOpen": 0.0}, offsets={"browInnerUp": 0.1})
    p = p.updated(multipliers={"mouthClose": 2.0}, preferred_emotion={"joy": 1.0})
    assert p.multipliers[ARKIT_NAMES.index("jawOpen")] == 0.0
    assert p.multipliers[ARKIT_NAMES.index("mouthClose")] == 2.0
    assert p.offsets[ARKIT_NAMES.index("browInnerUp")] == 0.1
    assert p.preferred_emotion[EMOTION_NAMES.index("joy")] == 1.0
    with pytest.raises(ParamError):
        p.updated(face={"skin_strength": 1.5, "upper_face_strength": 9})
    assert p.face["skin_strength"] == 1.0  # nothing changed: p is immutable
    assert base.multipliers == (1.0,) * 52
    with pytest.raises(TypeError):
        p.face["skin_strength"] = 2.0  # type: ignore[index]


def test_to_dict_is_json_ready() -> None:
    p = StreamParams.defaults().updated(face={"blinkStrength": 0.5}, offsets={"jawOpen": 0.1})
    d = json.loads(json.dumps(p.to_dict()))
    assert d["face"]["blink_strength"] == 0.5
    assert d["offsets"]["jawOpen"] == 0.1
    assert list(d["preferred_emotion"]) == list(EMOTION_NAMES)


def test_wire_map_table_names_every_protobuf_map_field() -> None:
    """WIRE_MAPS is the one table of parameter names on the wire: it must name every map
    field OpenStream carries, and LIVE_WIRE_MAPS exactly ControlRequest's, each going to a
    StreamParams field (so a proto change cannot leave a map accepted and ignored)."""
    from facewire.engines.params import LIVE_WIRE_MAPS, WIRE_MAPS, maps_from_wire
    from facewire.proto import facewire_pb2 as pb

    def map_fields(message) -> set[str]:
        return {f.name for f in message.DESCRIPTOR.fields if f.message_type is not None}

    assert set(WIRE_MAPS) == map_fields(pb.OpenStream)
    assert set(LIVE_WIRE_MAPS) == map_fields(pb.ControlRequest)
    assert set(WIRE_MAPS.values()) == set(StreamParams.defaults().to_dict())
    req = pb.ControlRequest(blendshape_offsets={"jawOpen": 0.1})
    assert maps_from_wire(req, LIVE_WIRE_MAPS) == {"offsets": {"jawOpen": pytest.approx(0.1)}}
