"""What the script assistant is asked: presets (presets/prompts.json), the draft form, the hidden plan
a draft follows, editing requests, the chat messages and the grammar that keeps answers speakable.

Back-ends live in :mod:`studio.script.assistant`; answers are cleaned by :mod:`studio.script.cleaning`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from engines.emotions import EMOTIONS
from engines.llm.base import Message
from studio.config import PRESETS_DIR
from studio.errors import InputError, StudioError
from studio.script.markup import WORDS_PER_SECOND

PROMPTS_FILE = PRESETS_DIR / "prompts.json"
MAX_HISTORY_TURNS = 6  # older chat turns are dropped: small models have small context windows
MAX_POINTS = 3  # the plan has a hook, at most three points and a call to action
LONG_SCRIPT_WORDS = 120  # a longer script's plan has three points
WORDS_PER_SENTENCE = 12  # a small model's spoken sentences: the plan asks for budget / 12 sentences
# The model is asked for this much more than the word budget: a small model writes short (the bench's
# drafts ended 20-60 % under the asked length), and the answer stops on the budget anyway.
ASK_LONGER = 1.3
# Languages written in the Latin alphabet: the speakable-text grammar lists their letters.
LATIN_LANGUAGES = {"english", "german", "french", "spanish", "italian", "portuguese", "dutch", "polish"}


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


def edit_titles() -> dict[str, str]:
    """Editing action key -> title shown in the UI ("shorten" -> "Shorten")."""
    return {key: e["title"] for key, e in prompt_presets()["edits"].items()}


def subject_of(topic: str) -> str:
    """The name a brief is about: the part of the topic before a comma, dash, colon or bracket
    ("Sunny Bread, our new bakery" -> "Sunny Bread"); the whole topic when that part is long."""
    topic = " ".join(topic.split()).strip(" .!?")
    head = re.split(r",|\s[-–—]\s|:|\(|;", topic, maxsplit=1)[0].strip()
    return head if head and len(head.split()) <= 6 else topic


def has_proper_name(subject: str) -> bool:
    """True when ``subject`` contains a capitalised word past its first (or is one): a name to repeat."""
    words = subject.split()
    return any(w[:1].isupper() for w in words[1:]) or (len(words) == 1 and words[0][:1].isupper())


@dataclass
class DraftRequest:
    """The Script tab's form: what the script is about and how it should sound.

    ``seconds`` is the target spoken length; ``key_points`` holds one point per line; ``pace`` is the
    chosen voice's speaking-rate factor (1 = the default voice, 1.1 = ten per cent faster).
    """

    topic: str = ""
    preset: str = "product-intro"
    seconds: float = 45.0
    tone: str = "friendly"
    language: str = "English"
    key_points: str = ""
    emotion_tags: bool = True
    pace: float = 1.0

    @property
    def words_per_second(self) -> float:
        """The chosen voice's measured speaking rate (words per second)."""
        return WORDS_PER_SECOND * (self.pace if self.pace > 0 else 1.0)

    @property
    def words(self) -> int:
        """The word budget: the target length at the chosen voice's speaking rate."""
        return max(8, int(round(self.seconds * self.words_per_second)))

    @property
    def asked_words(self) -> int:
        """The length the model is asked for (see :data:`ASK_LONGER`)."""
        return int(round(self.words * ASK_LONGER))

    @property
    def subject(self) -> str:
        """What the script must name (see :func:`subject_of`)."""
        return subject_of(self.topic)

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
    """Sampling settings: ``temperature`` 0 = always the likeliest word; ``max_tokens`` caps the answer
    (0 = from the word budget); ``repeat_penalty`` > 1 makes repeating recent words less likely."""

    temperature: float = 0.5  # drafts keep to their plan better than at 0.7
    max_tokens: int = 0
    repeat_penalty: float = 1.1

    def tokens_for(self, request: DraftRequest) -> int:
        if self.max_tokens > 0:
            return int(self.max_tokens)
        # about 1.4 tokens per English word, plus room for tags; the answer stops on the budget anyway
        return int(min(2048, max(96, request.words * 1.6 + 48)))


# ---------------------------------------------------------------------------------------------
# Prompts


def _rules(cfg: dict[str, Any], tags: bool) -> list[str]:
    """The fixed start of every system prompt: who the assistant is and the emotion-tag rule."""
    return [cfg["system"], cfg["tags_rule"] if tags else cfg["no_tags_rule"]]


def system_prompt(request: DraftRequest) -> str:
    """The system message for a draft (short: prompt time is first-token time)."""
    cfg = prompt_presets()
    parts = [
        *_rules(cfg, request.emotion_tags),
        cfg["length_rule"].format(
            words=request.asked_words, seconds=int(round(request.seconds)), tone=request.tone, language=request.language
        ),
    ]
    return "\n".join(parts)


def system_prompt_start(tags: bool = True) -> str:
    """The part of every system prompt that never changes, for warming a model; the whole system
    prompt of a draft written step by step."""
    return "\n".join(_rules(prompt_presets(), tags))


def draft_emotions(request: DraftRequest) -> list[str]:
    """The emotion tags that suit a draft's tone: its mood (presets' ``tones``), neutral and happy;
    a small model otherwise tags a library announcement [angry]."""
    mood = prompt_presets()["tones"].get(request.tone.strip().lower(), "neutral")
    return list(dict.fromkeys([mood, "neutral", "happy"]))


def outline(request: DraftRequest) -> list[str]:
    """The hidden plan of a draft: the preset's hook, the brief's key points (or the preset's own
    points fill in up to two or three), and the preset's call to action. The steps are descriptions, not
    orders ("the main benefit", not "Give the main benefit."): a small model reads orders out."""
    steps = prompt_presets()["presets"][request.preset]["outline"]
    hook, *middle, action = [s.format(subject=request.subject) for s in steps]
    given = request.points()[:MAX_POINTS]
    # the brief's points first; the preset's own fill the plan up to two points (three for a long
    # script: a small model writes about 50 words per point before it runs dry)
    wanted = 2 if request.words <= LONG_SCRIPT_WORDS else MAX_POINTS
    return [hook, *given, *middle[len(given) : wanted], action]


def instructions(request: DraftRequest) -> list[str]:
    """Everything a draft is told besides its subject (the preset's request and rules, the plan's
    steps), one clause each: a script sentence that says the same is the task read out."""
    cfg = prompt_presets()
    asked = cfg["presets"][request.preset]["request"].format(topic="", points_clause="")
    more = [m.format(subject=request.subject) for m in cfg["presets"][request.preset].get("more", [])]
    steps = [s.split("such as")[0] for s in [*outline(request), *more] if s not in request.points()]
    texts = [asked, cfg["system"], cfg["tags_rule"], *steps]
    return [c.strip() for t in texts for c in re.split(r"[.,;:!?]|\band\b", t) if len(c.split()) >= 2]


def draft_prompt(request: DraftRequest) -> str:
    """The user message asking for a first draft: the preset's request and the plan to follow."""
    request.checked()
    if not request.topic.strip():
        raise InputError("say what the video is about first (the Topic field)")
    cfg = prompt_presets()
    preset = cfg["presets"][request.preset]
    points = request.points()
    clause = f", covering: {'; '.join(points)}" if points else ""
    plan = "; ".join(f"{i}) {step}" for i, step in enumerate(outline(request), 1))
    rule = "name_rule" if has_proper_name(request.subject) else "topic_rule"
    return cfg["draft_request"].format(
        request=preset["request"].format(topic=request.topic.strip(), points_clause=clause),
        name_rule=cfg[rule].format(subject=request.subject),
        outline=plan,
        words=request.asked_words,
        language=request.language,
    )


def step_prompt(request: DraftRequest, amount: str, step: str) -> str:
    """The first request of a draft written step by step: the brief, the plan and its first step
    (short: it is all the model reads before the first word)."""
    request.checked()
    if not request.topic.strip():
        raise InputError("say what the video is about first (the Topic field)")
    cfg = prompt_presets()
    points = request.points()
    clause = f", covering: {'; '.join(points)}" if points else ""
    rule = "name_rule" if has_proper_name(request.subject) else "topic_rule"
    english = request.language.strip().lower() == "english"
    return cfg["step_first"].format(
        request=cfg["presets"][request.preset]["request"].format(topic=request.topic.strip(), points_clause=clause),
        tone=request.tone,
        language="" if english else f" Language: {request.language}.",
        name_rule=cfg[rule].format(subject=request.subject),
        outline="; ".join(f"{i}) {s}" for i, s in enumerate(outline(request), 1)),
        amount=amount,
        step=step,
    )


def build_messages(request: DraftRequest, history: Sequence[Message], user_text: str) -> list[Message]:
    """System prompt + the last chat turns + the new user message."""
    if not user_text.strip():
        raise InputError("type or dictate a message first")
    recent = [m for m in history if m.get("role") in ("user", "assistant") and m.get("content")]
    recent = recent[-2 * MAX_HISTORY_TURNS :]
    return [
        {"role": "system", "content": system_prompt(request)},
        *({"role": m["role"], "content": str(m["content"])} for m in recent),
        {"role": "user", "content": user_text.strip()},
    ]


@dataclass
class EditRequest:
    """An explicit edit of the editor's script: ``action`` is a key of the presets' ``edits``
    ("shorten", "friendlier", "emotion-tags", "custom"); ``message`` is the instruction for "custom"."""

    script: str
    action: str = "shorten"
    message: str = ""

    def checked(self) -> EditRequest:
        edits = prompt_presets()["edits"]
        if self.action not in edits:
            raise InputError(f"unknown edit '{self.action}': choose one of {', '.join(edits)}")
        if not self.script.strip():
            raise InputError("the editor is empty: write or draft a script before asking for an edit")
        if self.action == "custom" and not self.message.strip():
            raise InputError("type what to change in the message box (e.g. 'add a question at the start')")
        return self

    @property
    def keeps_tags(self) -> bool:
        """Whether the revised script should carry emotion tags."""
        return bool(prompt_presets()["edits"][self.action].get("tags")) or "[" in self.script

    def target_words(self) -> int:
        """About how many spoken words the revised script should have."""
        words = len(re.sub(r"\[[^\]]*\]", " ", self.script).split())
        return max(8, int(round(words * float(prompt_presets()["edits"][self.action].get("length", 1.0)))))


def edit_messages(edit: EditRequest) -> list[Message]:
    """The messages asking for the whole revised script (no chat history: only the script counts)."""
    edit.checked()
    cfg = prompt_presets()
    instruction = cfg["edits"][edit.action]["instruction"].format(message=edit.message.strip())
    tags = cfg["tags_rule"] if edit.keeps_tags else cfg["no_tags_rule"]
    return [
        {"role": "system", "content": f"{cfg['edit_system']}\n{tags}"},
        {"role": "user", "content": cfg["edit_request"].format(instruction=instruction, script=edit.script.strip())},
    ]


# ---------------------------------------------------------------------------------------------
# The speakable-text grammar (llama.cpp GBNF)

# Letters of the Latin-script languages the studio offers, digits, and the punctuation read aloud
# naturally. No colon (speaker labels, "Opening scene:"), no brackets outside tags, no quotes, no
# markdown, no emoji.
_LETTERS = "a-zA-Z0-9À-ÖØ-öø-ÿĀ-ž"
_INNER = _LETTERS + " ,'’%$€£&—–-"


def speakable_grammar(
    tags: bool,
    language: str = "English",
    emotions: Sequence[str] = EMOTIONS,
    *,
    continuing: bool = False,
    paragraphs: bool = True,
    mid_sentence: bool = False,
) -> str | None:
    """A GBNF grammar for llama.cpp that only lets the model write speakable script markup:
    paragraphs of sentences that start with a capital letter or digit and end in . ! or ?, with
    one of the studio's emotion tags at the start of a paragraph when ``tags`` is on (no pauses:
    they would stretch the length the word budget sets), chosen from ``emotions``. ``continuing``:
    the answer goes on after a complete sentence, so it starts with a space or a new paragraph and
    has at least one more sentence; ``mid_sentence``: the answer goes on inside a sentence (its
    start was given). ``paragraphs`` False: one paragraph (one tag at its start).
    None for languages outside the Latin alphabet (their answers are only cleaned)."""
    if language.strip().lower() not in LATIN_LANGUAGES:
        return None
    choices = " | ".join(f'"{e}"' for e in EMOTIONS if e in emotions)
    tag = "tag " if tags else ""
    if mid_sentence:
        start = "rest"
    elif continuing:
        start = "gap sent"
    else:
        start = f"{tag}sent"
    lines = [
        f"root ::= {start} (gap sent)*",
        f'rest ::= " " ([{_INNER}] | "." [0-9])* [.!?]',
        f'gap ::= " " | "\\n\\n" {tag}'.rstrip() if paragraphs else 'gap ::= " "',
        f'sent ::= [A-Z0-9À-ÖØ-Þ] ([{_INNER}] | "." [0-9])* [.!?]',
    ]
    if tags:
        lines.append(f'tag ::= "[" ({choices}) "] "')
    return "\n".join(lines) + "\n"
