"""When each sound and word is spoken: the timings shared by speech, recognition and animation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PhonemeTiming:
    """One phoneme (IPA symbol, or " " between words) from ``start`` to ``end`` seconds."""

    phoneme: str
    start: float
    end: float


@dataclass(frozen=True)
class WordTiming:
    """One spoken word from ``start`` to ``end`` seconds."""

    word: str
    start: float
    end: float
