"""`facewire convert` inputs: paths, directories, quoted globs and @list files."""

from __future__ import annotations

import pytest

from facewire.inputs import expand_inputs


def test_directories_globs_and_lists_expand_in_a_stable_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("b.wav", "a.flac", "sub/c.WAV", "notes.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    files, several = expand_inputs(["."])
    assert [str(f) for f in files] == ["a.flac", "b.wav", "sub/c.WAV"] and several
    files, several = expand_inputs(["**/*.wav"])
    assert [str(f) for f in files] == ["b.wav"] and several
    (tmp_path / "list.txt").write_text("# lines\nsub/c.WAV\n\nb.wav\n")
    files, several = expand_inputs(["@list.txt"])
    assert [str(f) for f in files] == ["sub/c.WAV", "b.wav"] and several
    files, several = expand_inputs(["b.wav"])
    assert [str(f) for f in files] == ["b.wav"] and not several


def test_a_glob_matching_nothing_or_an_unreadable_list_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="matches no file"):
        expand_inputs([str(tmp_path / "*.wav")])
    with pytest.raises(ValueError, match="cannot read the list"):
        expand_inputs([f"@{tmp_path}/missing.txt"])
