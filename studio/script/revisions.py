"""Comparing a proposed script with the editor's, word by word, so a change is seen before it is made."""

from __future__ import annotations

import difflib
import re


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """``old`` -> ``new`` as (kind, text) runs: kind "=" kept, "-" removed, "+" added. Words, tags
    and line breaks are the units, so a paragraph break that moves shows as a change."""
    split = lambda text: re.findall(r"\[[^\]]*\]|\n\s*\n|[^\s\[\]]+", text or "")  # noqa: E731
    a, b = split(old), split(new)
    runs: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            runs.append(("=", " ".join(a[i1:i2])))
            continue
        if i2 > i1:
            runs.append(("-", " ".join(a[i1:i2])))
        if j2 > j1:
            runs.append(("+", " ".join(b[j1:j2])))
    return runs


def changed_words(old: str, new: str) -> tuple[int, int]:
    """How many units ``new`` removes from and adds to ``old``."""
    runs = word_diff(old, new)
    count = lambda kind: sum(len(t.split()) for k, t in runs if k == kind)  # noqa: E731
    return count("-"), count("+")
