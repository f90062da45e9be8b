"""Input files for `facewire convert`: paths, directories, globs and @list files.

A dialogue library is named however is handy: `lines/` (every audio file below it),
`'lines/**/*.wav'` (a glob, expanded here so it works beyond the shell's argument limit),
or `@lines.txt` (one path per line; blank lines and `#` comments are skipped).
"""

from __future__ import annotations

import glob
from pathlib import Path

from facewire.formats.suffixes import AUDIO_SUFFIXES, is_audio


def expand_inputs(items: list[str]) -> tuple[list[Path], bool]:
    """The files `items` name, in a stable order, and whether any item named several
    (so the output must be a directory even when it matched one file).

    Raises ValueError for a list file that cannot be read or a glob that matches nothing.
    """
    out: list[Path] = []
    several = False
    for item in items:
        if item.startswith("@"):
            several = True
            try:
                lines = Path(item[1:]).read_text().splitlines()
            except OSError as exc:
                raise ValueError(f"{item}: cannot read the list ({exc.strerror})") from None
            out += [Path(s.strip()) for s in lines if s.strip() and not s.startswith("#")]
        elif Path(item).is_dir():
            several = True
            found = sorted(p for p in Path(item).rglob("*") if is_audio(p))
            if not found:
                raise ValueError(
                    f"{item}: is a directory with no audio files "
                    f"({', '.join(AUDIO_SUFFIXES)}) below it"
                )
            out += found
        elif glob.has_magic(item) and not Path(item).exists():
            several = True
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise ValueError(f"{item!r} matches no file")
            out += [Path(m) for m in matches]
        else:
            out.append(Path(item))
    if not out:
        raise ValueError("no input files")
    return out, several
