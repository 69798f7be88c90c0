"""The rules a draft must pass to be read out as written: the bench's rubric, also used by the tests.

A draft is *usable* when its estimated spoken length is within 20 % of the target, no sentence
repeats, it only has the studio's own tags (none when tags were not asked for), every line is
speakable (no stage directions, labels, markdown, quotes around a paragraph, emoji or empty name
slots), no sentence talks about the task instead of the subject ("Ask viewers to follow."), it
ends on a complete sentence, and it names what the brief is about.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from studio.errors import InputError
from studio.script.cleaning import (
    DANGLING,
    is_complete_sentence,
    is_known_tag,
    repeated_sentences,
    spoken_words,
    talks_about_the_task,
)
from studio.script.markup import parse_script
from studio.script.prompts import has_proper_name

LENGTH_TOLERANCE = 0.2
_STOPWORDS = DANGLING | frozenset("new our we you it this these those all just".split())
_UNSPEAKABLE = [
    (re.compile(r"[*#_`~|<>{}]"), "markdown or code characters"),
    (re.compile(r"^\s*[\"“”]|[\"“”]\s*$", re.MULTILINE), "quotes around a paragraph"),
    (re.compile(r"\([^)]*\)"), "a stage direction in brackets"),
    (re.compile(r"^\s*(?:\[[^\]]*\]\s*)*[\w'’ -]{1,30}:", re.MULTILINE), "a label or stage direction ('Narrator:')"),
    (re.compile(r"\b(to|at|from|with|for|about|of|meet|called|named)\s+[,.!?;]"), "an empty name slot"),
    (re.compile(r"^\s*[-•]\s", re.MULTILINE), "a list"),
]


@dataclass
class RubricResult:
    """What :func:`check_draft` found: ``usable`` when ``problems`` is empty; seconds are estimated."""

    usable: bool
    problems: list[str] = field(default_factory=list)
    words: int = 0
    seconds: float = 0.0
    target_seconds: float = 0.0


def names_subject(text: str, subject: str) -> bool:
    """True when ``text`` names ``subject``: a proper name word for word (any case); a plain
    description ("a bicycle repair shop") by at least half of its content words."""
    low = " ".join(re.findall(r"[\w'’]+", text.lower()))
    if has_proper_name(subject):
        return " ".join(re.findall(r"[\w'’]+", subject.lower())) in low
    content = [w for w in re.findall(r"[\w'’]+", subject.lower()) if w not in _STOPWORDS and len(w) > 2]
    if not content:
        return True
    found = sum(1 for w in content if re.search(rf"\b{re.escape(w[:-1] if len(w) > 4 else w)}", low))
    return found * 2 >= len(content)


def check_draft(text: str, *, seconds: float, subject: str, tags: bool = True, pace: float = 1.0) -> RubricResult:
    """Check a finished draft against the rubric; ``seconds`` is the asked length, ``pace`` the
    voice's speaking-rate factor (1 = the default voice)."""
    problems: list[str] = []
    try:
        script = parse_script(text)
    except InputError:
        return RubricResult(False, ["the draft is empty"], 0, 0.0, seconds)
    spoken = script.estimated_duration() / (pace if pace > 0 else 1.0)
    if abs(spoken - seconds) > LENGTH_TOLERANCE * seconds:
        problems.append(f"about {spoken:.0f} s spoken for {seconds:.0f} s asked (more than 20 % off)")
    for sentence in repeated_sentences(text):
        problems.append(f'a repeated sentence: "{sentence[:50]}"')
    unknown = [t for t in re.findall(r"\[([^\]]*)\]", text) if not is_known_tag(t)]
    if unknown:
        problems.append(f"unknown tags: {', '.join(f'[{t}]' for t in unknown)}")
    if not tags and re.search(r"\[[^\]]*\]", text):
        problems.append("emotion tags although none were asked for")
    if "[" in re.sub(r"\[[^\[\]]*\]", "", text) or "]" in re.sub(r"\[[^\[\]]*\]", "", text):
        problems.append("a stray square bracket")
    for pattern, what in _UNSPEAKABLE:
        if pattern.search(text):
            problems.append(f"not speakable: {what}")
    if any(unicodedata.category(ch) == "So" for ch in text):
        problems.append("not speakable: emoji or symbols")
    for sentence in (s.text for s in script.sentences):
        if talks_about_the_task(sentence):
            problems.append(f'talks about the task, not the subject: "{sentence[:50]}"')
    last = script.sentences[-1].text
    if not is_complete_sentence(last):
        problems.append(f'it ends mid-sentence: "…{last[-30:]}"')
    if not names_subject(text, subject):
        problems.append(f'it does not name "{subject}"')
    return RubricResult(not problems, problems, len(spoken_words(text)), round(spoken, 2), seconds)
