"""Per-stream tuning parameters: Audio2Face's face and emotion settings, validated.

Clients send A2F's names in either spelling (`lowerFaceSmoothing` from A2F's yaml,
`lower_face_smoothing` from its server configs); everything is stored under the snake_case
name. A value outside its range or an unknown name is a `ParamError` that says which
parameter, which value and what is allowed (with a did-you-mean for typos), because a
tuning knob that is silently ignored is worse than one that fails loudly.

This is also the one home of the names parameters travel under: WIRE_MAPS (protobuf map
fields -> internal map keys), LIVE_WIRE_MAPS (what set_params may change), CLI_PREFIXES
(`--param PREFIX.NAME=VALUE`) and `stream_maps` (a new stream's maps from the config's
defaults and its OpenStream).

What every parameter does on our ARKit rig is documented in docs/PARAMETERS.md and in each
`ParamSpec.doc`; the code that applies them lives in `facewire.engines.face` (face) and
`facewire.engines.emotion` (emotion post-processing).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from facewire.arkit import ARKIT_INDEX, ARKIT_NAMES, EMOTION_INDEX, EMOTION_NAMES


class ParamError(ValueError):
    """A tuning parameter was unknown or out of range; the message says how to fix it."""


@dataclass(frozen=True)
class ParamSpec:
    """One scalar parameter: its default, allowed range and meaning.

    `integer` marks switches (0/1) and counts, which must be whole numbers.
    """

    name: str
    default: float
    lo: float
    hi: float
    doc: str
    a2f_default: float
    integer: bool = False

    @property
    def camel(self) -> str:
        """The camelCase spelling A2F's yaml uses."""
        head, *rest = self.name.split("_")
        return head + "".join(part.capitalize() for part in rest)


def _spec(
    name: str,
    default: float,
    lo: float,
    hi: float,
    doc: str,
    a2f: float | None = None,
    integer: bool = False,
) -> tuple[str, ParamSpec]:
    return name, ParamSpec(name, default, lo, hi, doc, default if a2f is None else a2f, integer)


FACE_PARAMS: dict[str, ParamSpec] = dict([
    _spec("input_strength", 1.0, 0.0, 4.0,
          "Audio gain applied before the lip-sync model (linear factor)."),
    _spec("skin_strength", 1.0, 0.0, 2.0,
          "Scales all skin shapes (everything but eyeLook*, jaw* and tongueOut, which A2F "
          "animates as separate eye, jaw and tongue parts)."),
    _spec("upper_face_strength", 1.0, 0.0, 2.0,
          "Scales shapes above the face mask line (brows, eyelids, eye squint)."),
    _spec("lower_face_strength", 1.0, 0.0, 2.0,
          "Scales shapes below the face mask line (mouth, jaw, cheeks, nose, tongue).", 1.25),
    _spec("upper_face_smoothing", 0.001, 0.0, 0.1,
          "Half-life in seconds of the exponential smoothing of upper-face shapes "
          "(A2F: alpha = 1 - 0.5 ** (dt / smoothing)); 0 disables it."),
    _spec("lower_face_smoothing", 0.006, 0.0, 0.1,
          "Half-life in seconds of the exponential smoothing of lower-face shapes; 0 disables."),
    _spec("face_mask_level", 0.6, 0.0, 1.0,
          "Height (0 = chin, 1 = top of forehead) of the upper/lower split; each shape has a "
          "height and belongs to the lower face by sigmoid((level - height) / softness)."),
    _spec("face_mask_softness", 0.0085, 0.001, 0.5,
          "Width of the upper/lower transition in face heights (A2F's sigmoid scale)."),
    _spec("eyelid_open_offset", 0.0, -1.0, 1.0,
          "Resting eyelid pose: -1 closed (eyeBlink +1), +1 wide open (eyeWide +1)."),
    _spec("lip_open_offset", 0.0, -0.2, 0.2,
          "Resting lip gap: >0 parts the lips (mouthUpperUp/mouthLowerDown), <0 presses them "
          "(mouthPress) and lowers the parting shapes."),
    _spec("blink_strength", 1.0, 0.0, 2.0,
          "Amplitude of procedural blinks (0 removes them); also scales blink_offset as in A2F."),
    _spec("blink_offset", 0.0, -1.0, 1.0,
          "Constant eyelid closure added to eyeBlink, times blink_strength (A2F semantics)."),
    _spec("tongue_strength", 1.3, 0.0, 3.0, "Scales tongueOut."),
    _spec("tongue_height_offset", 0.0, 0.0, 0.0,
          "A2F raises/lowers its tongue mesh; ARKit has no tongue-height channel, so only 0 "
          "is accepted rather than ignoring a non-zero value."),
    _spec("tongue_depth_offset", 0.0, -1.0, 1.0,
          "Moves the tongue forward (+) or back (-): a bias on tongueOut (protrusion)."),
    _spec("enable_clamping", 1, 0, 1,
          "1: clamp the 52 ARKit weights to [0, 1] after multipliers/offsets.", integer=True),
    _spec("enable_blinks", 1, 0, 1, "1: procedural blinks.", integer=True),
    _spec("enable_saccades", 1, 0, 1, "1: small procedural eye saccades (eyeLook*).",
          integer=True),
    _spec("enable_head_motion", 1, 0, 1,
          "1: speech-linked head yaw/pitch/roll (radians) on the 3 extra channels.", integer=True),
])  # fmt: skip

EMOTION_PARAMS: dict[str, ParamSpec] = dict([
    _spec("emotion_contrast", 1.0, 0.3, 3.0,
          "Sharpens (>1) or flattens (<1) the estimated distribution: p ** contrast, "
          "renormalised to the same total (A2F: softmax of logits times contrast)."),
    _spec("live_blend_coef", 0.7, 0.0, 1.0,
          "Per-frame weight of the previous blended vector: e = (1 - c) * new + c * previous."),
    _spec("enable_preferred_emotion", 1, 0, 1,
          "1: mix preferred_emotion in with preferred_emotion_strength.", integer=True),
    _spec("preferred_emotion_strength", 0.5, 0.0, 1.0,
          "Weight of the preferred emotion (or the client's hint) in the mix."),
    _spec("emotion_strength", 0.6, 0.0, 1.0, "Scales the final emotion vector."),
    _spec("max_emotions", 3, 1, 6,
          "Keeps the strongest k classes of the estimate and zeroes the rest.", integer=True),
    _spec("live_transition_time", 0.5, 0.0, 10.0,
          "Seconds of the final smoothing: per frame w = min(dt / time, 1), "
          "e = w * new + (1 - w) * previous (time constant about `time`)."),
])  # fmt: skip

_CAMEL_RE = re.compile(r"(?<=[a-z0-9])([A-Z])")


_ARKIT_FOLDED = {n.lower(): n for n in ARKIT_NAMES}


def canonical_name(name: str) -> str:
    """snake_case spelling of an A2F parameter name (`lowerFaceSmoothing` -> `lower_face_...`)."""
    return _CAMEL_RE.sub(r"_\1", name.strip()).lower()


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _as_float(what: str, value: Any) -> float:
    """A finite float from a wire value; bools count as 0/1 switches."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ParamError(f"{what}={value!r} is not a number") from None
    if not math.isfinite(out):
        raise ParamError(f"{what}={value!r} is not a finite number")
    return out


def _check_scalar(spec: ParamSpec, value: Any) -> float:
    out = _as_float(spec.name, value)
    if spec.lo == spec.hi and out != spec.lo:
        raise ParamError(
            f"{spec.name}={value!r} is not supported: only {spec.lo:g} is allowed ({spec.doc})"
        )
    if not spec.lo <= out <= spec.hi:
        raise ParamError(
            f"{spec.name}={value!r} is outside the allowed range {spec.lo:g}..{spec.hi:g}"
        )
    if spec.integer and out != round(out):
        raise ParamError(
            f"{spec.name}={value!r} must be a whole number in {spec.lo:g}..{spec.hi:g}"
        )
    return out


def _merge_scalars(
    current: Mapping[str, float],
    specs: Mapping[str, ParamSpec],
    update: Mapping[str, Any],
    group: str,
) -> Mapping[str, float]:
    merged = dict(current)
    for raw_name, value in update.items():
        name = canonical_name(str(raw_name))
        spec = specs.get(name)
        if spec is None:
            camels = [s.camel for s in specs.values()]
            shape = _ARKIT_FOLDED.get(str(raw_name).strip().lower())
            if shape is not None:
                raise ParamError(
                    f"unknown {group} parameter {raw_name!r}: {shape} is a blendshape; scale or "
                    f"shift it with multiplier.{shape}=VALUE or offset.{shape}=VALUE "
                    "(blendshape_multipliers / blendshape_offsets on the wire)"
                )
            hint = _suggest(name, specs) or _suggest(str(raw_name), camels)
            raise ParamError(f"unknown {group} parameter {raw_name!r}{hint}")
        merged[name] = _check_scalar(spec, value)
    return MappingProxyType(merged)


def _merge_vector(
    current: tuple[float, ...],
    index: Mapping[str, int],
    update: Mapping[str, Any],
    group: str,
    lo: float,
    hi: float,
) -> tuple[float, ...]:
    merged = list(current)
    folded = {key.lower(): i for key, i in index.items()}
    for name, value in update.items():
        # Case-insensitive, so A2F's and Live Link's PascalCase ("JawOpen") work too.
        i = index.get(str(name), folded.get(str(name).lower()))
        if i is None:
            hint = _suggest(str(name), index)
            if index is EMOTION_INDEX:  # ten names: list them all
                hint += f" (the emotion classes are {', '.join(EMOTION_NAMES)})"
            raise ParamError(f"unknown {group} name {name!r}{hint}")
        v = _as_float(f"{group}[{name}]", value)
        if not lo <= v <= hi:
            raise ParamError(
                f"{group}[{name}]={value!r} is outside the allowed range {lo:g}..{hi:g}"
            )
        merged[i] = v
    return tuple(merged)


MULTIPLIER_RANGE = (0.0, 10.0)
OFFSET_RANGE = (-1.0, 1.0)
EMOTION_VALUE_RANGE = (0.0, 1.0)


def check_emotion_map(emotion: Mapping[str, Any], group: str = "emotion") -> tuple[float, ...]:
    """Validate a map of emotion class names to 0..1 and return it as a 10-vector (0 elsewhere)."""
    return _merge_vector(
        (0.0,) * len(EMOTION_NAMES), EMOTION_INDEX, emotion, group, *EMOTION_VALUE_RANGE
    )


def _defaults(specs: Mapping[str, ParamSpec]) -> Mapping[str, float]:
    return MappingProxyType({name: float(spec.default) for name, spec in specs.items()})


@dataclass(frozen=True)
class StreamParams:
    """Everything one stream can tune, immutable; `updated()` returns a validated copy.

    Attributes:
        face: every FACE_PARAMS name -> value.
        emotion: every EMOTION_PARAMS name -> value.
        multipliers: 52 per-blendshape factors in ARKit order.
        offsets: 52 per-blendshape offsets in ARKit order.
        preferred_emotion: 10 values in EMOTION_NAMES order.
        beginning_emotion: 10 values, the emotion state before the first frame.
    """

    face: Mapping[str, float] = field(default_factory=lambda: _defaults(FACE_PARAMS))
    emotion: Mapping[str, float] = field(default_factory=lambda: _defaults(EMOTION_PARAMS))
    multipliers: tuple[float, ...] = (1.0,) * len(ARKIT_NAMES)
    offsets: tuple[float, ...] = (0.0,) * len(ARKIT_NAMES)
    preferred_emotion: tuple[float, ...] = (0.0,) * len(EMOTION_NAMES)
    beginning_emotion: tuple[float, ...] = (0.0,) * len(EMOTION_NAMES)

    @classmethod
    def defaults(cls) -> StreamParams:
        """facewire's defaults (see FACE_PARAMS / EMOTION_PARAMS)."""
        return cls()

    def updated(
        self,
        face: Mapping[str, Any] | None = None,
        emotion: Mapping[str, Any] | None = None,
        multipliers: Mapping[str, Any] | None = None,
        offsets: Mapping[str, Any] | None = None,
        preferred_emotion: Mapping[str, Any] | None = None,
        beginning_emotion: Mapping[str, Any] | None = None,
    ) -> StreamParams:
        """A copy with the given values merged over these; raises ParamError on any bad entry.

        Names are as on the wire: parameter names (snake_case or camelCase), ARKit names for
        multipliers/offsets, emotion class names for the emotion maps. Nothing changes unless
        every entry is valid.
        """
        changes: dict[str, Any] = {}
        if face:
            changes["face"] = _merge_scalars(self.face, FACE_PARAMS, face, "face")
        if emotion:
            changes["emotion"] = _merge_scalars(self.emotion, EMOTION_PARAMS, emotion, "emotion")
        if multipliers:
            changes["multipliers"] = _merge_vector(
                self.multipliers, ARKIT_INDEX, multipliers, "multipliers", *MULTIPLIER_RANGE
            )
        if offsets:
            changes["offsets"] = _merge_vector(
                self.offsets, ARKIT_INDEX, offsets, "offsets", *OFFSET_RANGE
            )
        if preferred_emotion:
            changes["preferred_emotion"] = _merge_vector(
                self.preferred_emotion,
                EMOTION_INDEX,
                preferred_emotion,
                "preferred_emotion",
                *EMOTION_VALUE_RANGE,
            )
        if beginning_emotion:
            changes["beginning_emotion"] = _merge_vector(
                self.beginning_emotion,
                EMOTION_INDEX,
                beginning_emotion,
                "beginning_emotion",
                *EMOTION_VALUE_RANGE,
            )
        return replace(self, **changes) if changes else self

    def to_dict(self) -> dict[str, dict[str, float]]:
        """Plain nested dicts (JSON-ready) for status output."""
        return {
            "face": dict(self.face),
            "emotion": dict(self.emotion),
            "multipliers": dict(zip(ARKIT_NAMES, self.multipliers, strict=True)),
            "offsets": dict(zip(ARKIT_NAMES, self.offsets, strict=True)),
            "preferred_emotion": dict(zip(EMOTION_NAMES, self.preferred_emotion, strict=True)),
            "beginning_emotion": dict(zip(EMOTION_NAMES, self.beginning_emotion, strict=True)),
        }


# -- the names parameters travel under ------------------------------------------------
# Protobuf map field (OpenStream, ControlRequest) -> internal map key (StreamParams.updated,
# and the maps in open/params messages between actors).
WIRE_MAPS: Mapping[str, str] = MappingProxyType(
    {
        "face_params": "face",
        "emotion_params": "emotion",
        "blendshape_multipliers": "multipliers",
        "blendshape_offsets": "offsets",
        "preferred_emotion": "preferred_emotion",
        "beginning_emotion": "beginning_emotion",
    }
)
# The maps a live `set_params` (ControlRequest) carries: the starting emotion is only
# meaningful when a stream opens.
LIVE_WIRE_MAPS: tuple[str, ...] = tuple(k for k in WIRE_MAPS if k != "beginning_emotion")
# `--param PREFIX.NAME=VALUE` on the command line -> internal map key. Names without a prefix
# are face or emotion parameters, told apart by name (`param_section`).
CLI_PREFIXES: Mapping[str, str] = MappingProxyType(
    {
        "multiplier": "multipliers",
        "offset": "offsets",
        "preferred_emotion": "preferred_emotion",
        "beginning_emotion": "beginning_emotion",
    }
)


def param_section(name: str) -> str:
    """ "emotion" for an emotion parameter's name (either spelling), else "face" (an
    unknown name then fails face validation, with a suggestion)."""
    return "emotion" if canonical_name(name) in EMOTION_PARAMS else "face"


def maps_from_wire(msg: Any, fields: Iterable[str] = WIRE_MAPS) -> dict[str, dict[str, float]]:
    """Internal parameter maps from a protobuf message's map fields (the non-empty ones)."""
    maps = {WIRE_MAPS[f]: dict(getattr(msg, f)) for f in fields}
    return {k: v for k, v in maps.items() if v}


def stream_maps(
    face: Mapping[str, float], emotion: Mapping[str, float], msg: Any = None
) -> dict[str, dict[str, float]]:
    """Parameter maps for a new stream: the config's face/emotion defaults, overlaid with
    an OpenStream's maps (`msg`, None for a stream without a client: mic, replay)."""
    maps: dict[str, dict[str, float]] = {"face": dict(face), "emotion": dict(emotion)}
    for key, values in (maps_from_wire(msg) if msg is not None else {}).items():
        maps.setdefault(key, {}).update(values)
    return {k: v for k, v in maps.items() if v}
