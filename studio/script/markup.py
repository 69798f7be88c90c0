"""The script markup: sentences, ``[emotion]`` tags and ``[pause 0.5s]`` tags.

    [happy] Hello and welcome!  [pause 0.8s]  Today I show you our new bakery.

    [sad] Sadly, the old shop closed.

* an emotion tag (``[happy]``, ``[sad]``, ``[angry]``, ``[surprised]``, ``[neutral]``) applies to
  every following sentence until the next emotion tag; a number sets its strength, from ``[happy 0.5]``
  (a little) to ``[happy 1.5]`` (very; 0..2, 1 when left out), for the voice and the face alike;
* ``[pause]`` (0.5 s) or ``[pause 1.2s]`` inserts silence at that point;
* a blank line starts a new paragraph (a short pause);
* anything else in square brackets is an unknown tag: it is dropped and reported as a warning
  (with a suggestion when it looks like a known tag, e.g. ``[excited]`` -> ``[happy]``).

Pauses are capped at 10 s. The spoken length is estimated at a narration pace of 3.3 words per
second (faster or slower by each emotion's speaking rate) plus the pauses; :func:`analyze` gives the
editor's live summary without ever raising.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from engines.emotions import EMOTIONS, MAX_STRENGTH, MIN_STRENGTH
from engines.voice.prosody import Prosody
from studio.errors import InputError

DEFAULT_PAUSE_S = 0.5
PARAGRAPH_PAUSE_S = 0.4
MAX_PAUSE_S = 10.0
WORDS_PER_SECOND = 3.3  # the default voice (Piper joe-medium), measured sentence by sentence: 3.32 words/s

_TAG = re.compile(r"\[([^\[\]]*)\]")
_PAUSE = re.compile(r"^pause(?:\s+(\d+(?:\.\d+)?)\s*(ms|s)?)?$", re.IGNORECASE)
_EMOTION = re.compile(r"^([a-z]+)(?:\s+(.*))?$")  # "happy", "happy 0.5"
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
# Words people (and language models) use for the known emotions, for suggestions and clean-up.
EMOTION_SYNONYMS = {
    "excited": "happy",
    "cheerful": "happy",
    "joyful": "happy",
    "enthusiastic": "happy",
    "glad": "happy",
    "upbeat": "happy",
    "smiling": "happy",
    "friendly": "happy",
    "warm": "happy",
    "positive": "happy",
    "sadly": "sad",
    "unhappy": "sad",
    "melancholy": "sad",
    "somber": "sad",
    "sombre": "sad",
    "disappointed": "sad",
    "mad": "angry",
    "furious": "angry",
    "annoyed": "angry",
    "frustrated": "angry",
    "upset": "angry",
    "surprise": "surprised",
    "amazed": "surprised",
    "shocked": "surprised",
    "astonished": "surprised",
    "wow": "surprised",
    "calm": "neutral",
    "serious": "neutral",
    "normal": "neutral",
    "professional": "neutral",
    "default": "neutral",
}
LONG_SENTENCE_WORDS = 40

MARKUP_GUIDE = """\
| markup | what it does |
|---|---|
| `[happy]` `[sad]` `[angry]` `[surprised]` `[neutral]` | voice and face take this mood until the next mood tag |
| `[happy 0.5]` … `[happy 1.5]` | the mood at that strength (0 = none, 1 = normal, at most 2), voice and face alike |
| `[pause]` | half a second of silence |
| `[pause 1.5s]` or `[pause 300ms]` | that much silence (at most 10 s) |
| a blank line | a new paragraph: a short breath (0.4 s) |
| anything else in `[ ]` | not spoken; the editor warns and suggests a known tag |

The spoken length is estimated at 3.3 words per second (sad speaks slower, happy, angry and surprised faster)
plus the pauses; a render measures the real one.
Sentences longer than 40 words get a hint to split them (shorter ones read better and subtitle better).
"""

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+")


@dataclass
class Sentence:
    """One sentence to speak, its emotion at ``strength`` (0..2, 1 = the preset), and the silence
    (seconds) before and after it."""

    text: str
    emotion: str = "neutral"
    pause_before: float = 0.0
    pause_after: float = 0.0
    paragraph: int = 0
    strength: float = 1.0


@dataclass
class Script:
    sentences: list[Sentence] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The spoken words, without markup."""
        return " ".join(s.text for s in self.sentences)

    def estimated_duration(self) -> float:
        """Rough spoken length in seconds (words at a narration pace and each emotion's rate, plus pauses)."""
        speaking = sum(
            len(s.text.split()) / (WORDS_PER_SECOND * Prosody.of(s.emotion, s.strength).rate) for s in self.sentences
        )
        pauses = sum(s.pause_before + s.pause_after for s in self.sentences)
        return speaking + pauses


def suggest_tag(tag: str) -> str | None:
    """The known tag an unknown one probably meant (``excited`` -> ``happy``, ``hapy`` -> ``happy``)."""
    low = tag.strip().lower()
    if low in EMOTION_SYNONYMS:
        return EMOTION_SYNONYMS[low]
    if low.startswith(("pause", "paus", "break", "wait", "silence")):
        return "pause 0.5s"
    close = difflib.get_close_matches(low, list(EMOTIONS) + list(EMOTION_SYNONYMS), n=1, cutoff=0.75)
    if close:
        return EMOTION_SYNONYMS.get(close[0], close[0])
    return None


def _unknown_tag_warning(tag: str, line: int) -> str:
    word, _, rest = tag.strip().partition(" ")
    hint = suggest_tag(tag)
    if rest.strip() and _NUMBER.match(rest.strip()) and suggest_tag(word) in EMOTIONS:  # [excited 1.2]
        hint = f"{suggest_tag(word)} {rest.strip()}"
    known = f"known tags: {', '.join(f'[{e}]' for e in EMOTIONS)} (strength: [happy 0.5]), [pause 0.5s]"
    did_you_mean = f"did you mean [{hint}]? " if hint else ""
    return f"line {line}: unknown tag [{tag}] is ignored; {did_you_mean}({known})"


def _strength(text: str | None) -> tuple[float, str | None]:
    """The strength written after an emotion (None: 1) and a problem to warn about, if any."""
    if text is None or not text.strip():
        return 1.0, None
    text = text.strip().rstrip("x×").strip()
    if not _NUMBER.match(text):
        return 1.0, "has no strength number, so it counts as 1; write one from 0 to 2, e.g. [happy 1.5]"
    value = float(text)
    if value > MAX_STRENGTH:
        return MAX_STRENGTH, f"is limited to {MAX_STRENGTH:g}, the strongest"
    if value < MIN_STRENGTH:
        return MIN_STRENGTH, f"is raised to {MIN_STRENGTH:g} (no emotion)"
    return value, None


def _split_sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


def parse_script(text: str, *, emotion: str = "neutral") -> Script:
    """Parse the markup into sentences. ``emotion`` is the starting emotion.

    Raises InputError when nothing is left to say.
    """
    if emotion not in EMOTIONS:
        raise InputError(f"unknown emotion '{emotion}': choose one of {', '.join(EMOTIONS)}")
    script = Script()
    pending_pause = 0.0
    current = emotion
    strength = 1.0
    text = text.replace("\r\n", "\n")
    paragraphs = re.split(r"(\n\s*\n)", text)
    separators = paragraphs[1::2]
    paragraphs = paragraphs[0::2]
    first_line = 1
    for p_index, paragraph in enumerate(paragraphs):
        if p_index:
            first_line += paragraphs[p_index - 1].count("\n") + separators[p_index - 1].count("\n")
        if p_index and script.sentences:
            pending_pause += PARAGRAPH_PAUSE_S
        pos = 0
        buffer = ""

        def flush(buf: str) -> None:
            nonlocal pending_pause
            if "[" in buf or "]" in buf:
                where = (
                    f"line {first_line}" if "\n" not in paragraph.strip() else f"the paragraph from line {first_line}"
                )
                warning = f"{where}: a square bracket without its partner was dropped; write tags like [happy]"
                if warning not in script.warnings:
                    script.warnings.append(warning)
                buf = buf.replace("[", " ").replace("]", " ")
            for sentence in _split_sentences(" ".join(buf.split())):
                if not any(ch.isalnum() for ch in sentence):
                    continue
                script.sentences.append(
                    Sentence(sentence, current, pause_before=pending_pause, paragraph=p_index, strength=strength)
                )
                pending_pause = 0.0

        for match in _TAG.finditer(paragraph):
            buffer += paragraph[pos : match.start()]
            pos = match.end()
            tag = match.group(1).strip()
            low = tag.lower()
            pause = _PAUSE.match(low)
            mood = _EMOTION.match(" ".join(low.split()))
            line = first_line + paragraph.count("\n", 0, match.start())
            if mood and mood.group(1) in EMOTIONS:
                flush(buffer)
                buffer = ""
                current = mood.group(1)
                strength, problem = _strength(mood.group(2))
                if problem:
                    script.warnings.append(f"line {line}: [{tag}] {problem}")
            elif pause:
                flush(buffer)
                buffer = ""
                seconds = float(pause.group(1)) if pause.group(1) else DEFAULT_PAUSE_S
                if pause.group(2) == "ms":
                    seconds /= 1000.0
                if seconds > MAX_PAUSE_S:
                    script.warnings.append(
                        f"line {first_line + paragraph.count(chr(10), 0, match.start())}: "
                        f"[{tag}] is shortened to {MAX_PAUSE_S:g} s, the longest pause"
                    )
                pending_pause += min(seconds, MAX_PAUSE_S)
            else:
                script.warnings.append(_unknown_tag_warning(tag, first_line + paragraph.count("\n", 0, match.start())))
        flush(buffer + paragraph[pos:])
    if not script.sentences:
        raise InputError("the script is empty: type what the avatar should say")
    script.sentences[-1].pause_after += pending_pause
    for sentence in script.sentences:
        if len(sentence.text.split()) > LONG_SENTENCE_WORDS:
            script.warnings.append(
                f'a sentence has {len(sentence.text.split())} words ("{sentence.text[:40]}…"): '
                "split it for natural pauses and subtitles"
            )
    return script


@dataclass
class ScriptSummary:
    """The editor's live read-out: counts, estimated spoken seconds, emotions used, warnings."""

    sentences: int
    words: int
    seconds: float
    emotions: list[str]
    warnings: list[str]

    def describe(self) -> str:
        """One line for the editor, e.g. "≈ 0:42 spoken · 7 sentences · 98 words · happy, sad"."""
        minutes, secs = divmod(int(round(self.seconds)), 60)
        parts = [
            f"≈ {minutes}:{secs:02d} spoken",
            f"{self.sentences} sentence{'s' if self.sentences != 1 else ''}",
            f"{self.words} word{'s' if self.words != 1 else ''}",
        ]
        if self.emotions:
            parts.append(", ".join(self.emotions))
        return " · ".join(parts)


def analyze(text: str, *, emotion: str = "neutral") -> ScriptSummary:
    """Summarise a script being typed; never raises (an empty script has 0 seconds)."""
    try:
        script = parse_script(text or "", emotion=emotion if emotion in EMOTIONS else "neutral")
    except InputError:
        return ScriptSummary(0, 0, 0.0, [], [])
    used = list(dict.fromkeys(s.emotion for s in script.sentences))
    return ScriptSummary(
        sentences=len(script.sentences),
        words=sum(len(s.text.split()) for s in script.sentences),
        seconds=script.estimated_duration(),
        emotions=used if used != ["neutral"] else [],
        warnings=list(script.warnings),
    )
