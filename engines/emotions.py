"""The one emotion table: ``presets/emotions.json``, read by the voice, the face and the script.

Each emotion has a ``description``, face ``controls`` (see ``engines/animate/motion.py``) and voice
``prosody`` (see ``engines/voice/prosody.py``). The names, in the file's order, are :data:`EMOTIONS`;
"neutral" comes first and changes nothing. Strength (``[happy 0.5]``, the global emotion strength)
scales both the same way: 0 is neutral, 1 the preset, up to :data:`MAX_STRENGTH`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

PRESETS_PATH = Path(__file__).resolve().parents[1] / "presets" / "emotions.json"
MIN_STRENGTH, MAX_STRENGTH = 0.0, 2.0


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, dict]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "neutral" not in data:
        raise ValueError(f"{path}: an emotion table needs at least a 'neutral' entry")
    return {
        str(name): {
            "description": str(spec.get("description", "")),
            "controls": {k: float(v) for k, v in (spec.get("controls") or {}).items()},
            "prosody": {k: float(v) for k, v in (spec.get("prosody") or {}).items()},
        }
        for name, spec in data.items()
    }


def emotion_table(path: str | Path | None = None) -> dict[str, dict]:
    """``{name: {"description": str, "controls": {name: value}, "prosody": {name: value}}}``."""
    return _load(str(path or PRESETS_PATH))


def clamp_strength(strength: float) -> float:
    """``strength`` inside ``MIN_STRENGTH..MAX_STRENGTH`` (NaN becomes 1)."""
    s = float(strength)
    if s != s:  # NaN
        return 1.0
    return min(MAX_STRENGTH, max(MIN_STRENGTH, s))


EMOTIONS: tuple[str, ...] = tuple(emotion_table())
