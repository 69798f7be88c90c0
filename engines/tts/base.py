"""The speech every TTS back-end returns: audio plus phoneme and word timings."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from engines.timing import PhonemeTiming, WordTiming


@dataclass
class Speech:
    """Mono float32 audio in [-1, 1] at ``sample_rate`` Hz, with timings in seconds."""

    audio: np.ndarray
    sample_rate: int
    phonemes: list[PhonemeTiming] = field(default_factory=list)
    words: list[WordTiming] = field(default_factory=list)
    text: str = ""

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.audio) / float(self.sample_rate)

    def shifted(self, offset: float) -> Speech:
        """The same speech with every timing moved by ``offset`` seconds."""
        return Speech(
            audio=self.audio,
            sample_rate=self.sample_rate,
            phonemes=[PhonemeTiming(p.phoneme, p.start + offset, p.end + offset) for p in self.phonemes],
            words=[WordTiming(w.word, w.start + offset, w.end + offset) for w in self.words],
            text=self.text,
        )


# The take number of the current synthesis (0 = the first take). A back-end that samples noise seeds
# it from the sentence and this number, so the same sentence and take always sound the same and a
# new take (another number) varies on purpose. Set it around ``synthesize`` (it is per thread).
TAKE: ContextVar[int] = ContextVar("tts_take", default=0)


class TTS(Protocol):
    """A text-to-speech back-end."""

    name: str
    sample_rate: int

    def synthesize(self, text: str, *, emotion: str = "neutral", rate: float = 1.0, strength: float = 1.0) -> Speech:
        """Speak ``text`` (one sentence or more); ``rate`` > 1 speaks faster. ``emotion`` at ``strength``
        changes what the back-end's own scales can (rate, liveliness); the speakers add pitch, effort
        and pauses with ``engines.voice.prosody``."""
        ...


def words_from_phonemes(text: str, phonemes: list[PhonemeTiming]) -> list[WordTiming]:
    """Word timings from phoneme timings, where " " phonemes separate words.

    espeak may say a token as several words ("2024"), so when the counts differ the text's words
    are spread over the spoken span in proportion to their length.
    """
    spans: list[tuple[float, float]] = []
    start = None
    end = 0.0
    for p in phonemes:
        if p.phoneme.strip() and p.phoneme not in ("^", "$", "_") and any(c.isalpha() for c in p.phoneme):
            if start is None:
                start = p.start
            end = p.end
        elif p.phoneme == " " and start is not None:
            spans.append((start, end))
            start = None
    if start is not None:
        spans.append((start, end))
    tokens = text.split()
    if not tokens or not spans:
        return []
    if len(spans) == len(tokens):
        return [WordTiming(w, s, e) for w, (s, e) in zip(tokens, spans)]
    t0, t1 = spans[0][0], spans[-1][1]
    weights = np.array([max(1, sum(c.isalnum() for c in w)) for w in tokens], dtype=float)
    edges = t0 + (t1 - t0) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return [WordTiming(w, float(edges[i]), float(edges[i + 1])) for i, w in enumerate(tokens)]
