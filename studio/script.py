"""The script markup: sentences, ``[emotion]`` tags and ``[pause 0.5s]`` tags.

    [happy] Hello and welcome!  [pause 0.8s]  Today I show you our new bakery.

    [sad] Sadly, the old shop closed.

* an emotion tag (``[happy]``, ``[sad]``, ``[angry]``, ``[surprised]``, ``[neutral]``) applies to
  every following sentence until the next emotion tag;
* ``[pause]`` (0.5 s) or ``[pause 1.2s]`` inserts silence at that point;
* a blank line starts a new paragraph (a short pause);
* anything else in square brackets is an unknown tag: it is dropped and reported as a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from studio.errors import InputError

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised")
DEFAULT_PAUSE_S = 0.5
PARAGRAPH_PAUSE_S = 0.4
MAX_PAUSE_S = 10.0
WORDS_PER_SECOND = 2.6  # typical narration pace, for duration estimates

_TAG = re.compile(r"\[([^\[\]]*)\]")
_PAUSE = re.compile(r"^pause(?:\s+(\d+(?:\.\d+)?)\s*(ms|s)?)?$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+")


@dataclass
class Sentence:
    """One sentence to speak, its emotion, and the silence (seconds) before and after it."""

    text: str
    emotion: str = "neutral"
    pause_before: float = 0.0
    pause_after: float = 0.0
    paragraph: int = 0


@dataclass
class Script:
    sentences: list[Sentence] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The spoken words, without markup."""
        return " ".join(s.text for s in self.sentences)

    def estimated_duration(self) -> float:
        """Rough spoken length in seconds (words at a narration pace, plus pauses)."""
        words = sum(len(s.text.split()) for s in self.sentences)
        pauses = sum(s.pause_before + s.pause_after for s in self.sentences)
        return words / WORDS_PER_SECOND + pauses


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
    paragraphs = re.split(r"\n\s*\n", text.replace("\r\n", "\n"))
    for p_index, paragraph in enumerate(paragraphs):
        if p_index and script.sentences:
            pending_pause += PARAGRAPH_PAUSE_S
        pos = 0
        buffer = ""

        def flush(buf: str) -> None:
            nonlocal pending_pause
            for sentence in _split_sentences(" ".join(buf.split())):
                if not any(ch.isalnum() for ch in sentence):
                    continue
                script.sentences.append(Sentence(sentence, current, pause_before=pending_pause, paragraph=p_index))
                pending_pause = 0.0

        for match in _TAG.finditer(paragraph):
            buffer += paragraph[pos:match.start()]
            pos = match.end()
            tag = match.group(1).strip()
            low = tag.lower()
            pause = _PAUSE.match(low)
            if low in EMOTIONS:
                flush(buffer)
                buffer = ""
                current = low
            elif pause:
                flush(buffer)
                buffer = ""
                seconds = float(pause.group(1)) if pause.group(1) else DEFAULT_PAUSE_S
                if pause.group(2) == "ms":
                    seconds /= 1000.0
                pending_pause += min(seconds, MAX_PAUSE_S)
            else:
                script.warnings.append(f"unknown tag [{tag}] was ignored (known: {', '.join(EMOTIONS)}, pause)")
        flush(buffer + paragraph[pos:])
    if not script.sentences:
        raise InputError("the script is empty: type what the avatar should say")
    script.sentences[-1].pause_after += pending_pause
    return script
