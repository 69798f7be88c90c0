"""Saved data is written atomically and user names never become unsafe paths."""

from __future__ import annotations

import errno
import os

import pytest

from studio.errors import InputError, StudioError
from studio.storage import atomic_write_json, atomic_write_npz, child_path, read_json, read_npz, sanitize_name


@pytest.mark.parametrize(
    "name,expected",
    [
        ("Anna's voice #2", "Anna-s-voice-2"),
        ("  Zoë  ", "Zoe"),
        ("my_avatar-1", "my_avatar-1"),
    ],
)
def test_names_are_sanitised_to_safe_folder_names(name, expected):
    assert sanitize_name(name) == expected


@pytest.mark.parametrize("name", ["", "...", "../", "///", "CON", "  "])
def test_unusable_names_are_refused(name):
    with pytest.raises(InputError):
        sanitize_name(name)


@pytest.mark.parametrize("name", ["../../etc/passwd", "..\\..\\windows", "/abs/path", "a/../../b"])
def test_path_traversal_names_stay_inside_the_folder(tmp_path, name):
    path = child_path(tmp_path, name)
    assert path.parent == tmp_path.resolve()


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "profile.json"
    atomic_write_json(target, {"version": 1})

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(StudioError, match="disk is full"):
        atomic_write_json(target, {"version": 2})
    monkeypatch.undo()
    assert read_json(target) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["profile.json"]  # no temp files left


def test_npz_round_trip_refuses_pickles(tmp_path):
    import numpy as np

    atomic_write_npz(tmp_path / "a.npz", landmarks=np.arange(6, dtype=np.float32).reshape(3, 2))
    assert read_npz(tmp_path / "a.npz")["landmarks"].shape == (3, 2)
    np.savez(tmp_path / "evil.npz", obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError):
        read_npz(tmp_path / "evil.npz")


def test_damaged_json_gives_a_clear_error(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(InputError, match="damaged"):
        read_json(tmp_path / "x.json")
