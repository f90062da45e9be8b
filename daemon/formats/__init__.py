"""Animation files that animators' tools already read: facewire JSON, Live Link Face CSV,
Audio2Face blendshape JSON and NumPy archives.

`write_animation` picks the format from the file name (".json", ".csv", ".a2f.json",
".npz") or an explicit `fmt`, `read_animation` from the file's content or an explicit
`fmt`; `AnimationRecorder` collects a live stream's frames for the daemon's recording
feature. docs/FORMATS.md documents every field and the public files and importers each
format was checked against.

Rooms: `suffixes` (the one suffix registry: animation, audio and plot file names),
`animation` (Animation, AnimationRecorder), `files` (read/write/sniff), and one module per
codec (`json_formats`, `livelink_csv`, `npz`). The names below are the public API.
"""

from facewire.formats.animation import Animation, AnimationRecorder
from facewire.formats.files import FORMATS, read_animation, sniff_format, write_animation
from facewire.formats.livelink_csv import (
    LIVELINK_CSV_COLUMNS,
    LIVELINK_CSV_HEADER,
    livelink_timecode,
)
from facewire.formats.suffixes import format_for_path

__all__ = [
    "FORMATS",
    "LIVELINK_CSV_COLUMNS",
    "LIVELINK_CSV_HEADER",
    "Animation",
    "AnimationRecorder",
    "format_for_path",
    "livelink_timecode",
    "read_animation",
    "sniff_format",
    "write_animation",
]
