"""What the script assistant is asked: presets (presets/prompts.json), the draft form and the chat messages.

Back-ends live in :mod:`studio.script.assistant`; answers are cleaned by :mod:`studio.script.cleaning`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from engines.llm.base import Message
from studio.config import PRESETS_DIR
from studio.errors import InputError, StudioError
from studio.script.markup import WORDS_PER_SECOND

PROMPTS_FILE = PRESETS_DIR / "prompts.json"
MAX_HISTORY_TURNS = 6  # older chat turns are dropped: small models have small context windows


# ---------------------------------------------------------------------------------------------
# Presets and the form


@lru_cache(maxsize=4)
def _load_prompts(path: str, mtime_ns: int) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def prompt_presets() -> dict[str, Any]:
    """The contents of ``presets/prompts.json`` (re-read when the file changes)."""
    try:
        return _load_prompts(str(PROMPTS_FILE), PROMPTS_FILE.stat().st_mtime_ns)
    except (OSError, ValueError) as exc:
        raise StudioError(f"{PROMPTS_FILE} is missing or damaged: reinstall the studio") from exc


def preset_titles() -> dict[str, str]:
    """Preset key -> title shown in the UI ("product-intro" -> "Product introduction")."""
    return {key: p["title"] for key, p in prompt_presets()["presets"].items()}


@dataclass
class DraftRequest:
    """The Script tab's form: what the script is about and how it should sound.

    ``seconds`` is the target spoken length; ``key_points`` holds one point per line.
    """

    topic: str = ""
    preset: str = "product-intro"
    seconds: float = 45.0
    tone: str = "friendly"
    language: str = "English"
    key_points: str = ""
    emotion_tags: bool = True

    @property
    def words(self) -> int:
        """Target word count at the narration pace of the duration estimate."""
        return max(10, int(round(self.seconds * WORDS_PER_SECOND)))

    def points(self) -> list[str]:
        return [p.strip(" -*•\t") for p in self.key_points.splitlines() if p.strip(" -*•\t")]

    def checked(self) -> DraftRequest:
        presets = prompt_presets()["presets"]
        if self.preset not in presets:
            raise InputError(f"unknown prompt preset '{self.preset}': choose one of {', '.join(presets)}")
        if not 3 <= float(self.seconds) <= 1800:
            raise InputError("the target length must be between 3 seconds and 30 minutes")
        return self


@dataclass
class GenerationSettings:
    """Sampling settings: ``temperature`` 0 = always the likeliest word; ``max_tokens`` caps the answer."""

    temperature: float = 0.7
    max_tokens: int = 0  # 0 = enough for the target length

    def tokens_for(self, request: DraftRequest) -> int:
        if self.max_tokens > 0:
            return int(self.max_tokens)
        # about 1.4 tokens per English word, plus room for tags and a little overshoot
        return int(min(2048, max(96, request.words * 1.6 + 48)))


def _rules(cfg: dict[str, Any], tags: bool) -> list[str]:
    """The fixed start of every system prompt: who the assistant is and the emotion-tag rule."""
    return [cfg["system"], cfg["tags_rule"] if tags else cfg["no_tags_rule"]]


def system_prompt(request: DraftRequest, current_script: str = "") -> str:
    """The system message for a draft or a revision (short: prompt time is first-token time)."""
    cfg = prompt_presets()
    parts = [
        *_rules(cfg, request.emotion_tags),
        cfg["length_rule"].format(
            words=request.words, seconds=int(round(request.seconds)), tone=request.tone, language=request.language
        ),
    ]
    if current_script.strip():
        parts.append(cfg["revise_rule"].format(script=current_script.strip()))
    return "\n".join(parts)


def system_prompt_start() -> str:
    """The part of every system prompt that never changes (with emotion tags), for warming a model."""
    return "\n".join(_rules(prompt_presets(), True))


def draft_prompt(request: DraftRequest) -> str:
    """The user message asking for a first draft from the form fields."""
    request.checked()
    if not request.topic.strip():
        raise InputError("say what the video is about first (the Topic field)")
    preset = prompt_presets()["presets"][request.preset]
    points = request.points()
    clause = f", covering: {'; '.join(points)}" if points else ""
    return preset["request"].format(topic=request.topic.strip(), points_clause=clause)


def build_messages(
    request: DraftRequest, history: Sequence[Message], user_text: str, current_script: str = ""
) -> list[Message]:
    """System prompt + the last chat turns + the new user message."""
    if not user_text.strip():
        raise InputError("type or dictate a message first")
    recent = [m for m in history if m.get("role") in ("user", "assistant") and m.get("content")]
    recent = recent[-2 * MAX_HISTORY_TURNS :]
    return [
        {"role": "system", "content": system_prompt(request, current_script)},
        *({"role": m["role"], "content": str(m["content"])} for m in recent),
        {"role": "user", "content": user_text.strip()},
    ]


# ---------------------------------------------------------------------------------------------
# Cleaning model output into script markup
