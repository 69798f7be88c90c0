"""Turning a model's answer into speakable script markup, and the template drafter used without a model."""

from __future__ import annotations

import re
import unicodedata
import zlib

from studio.script.markup import EMOTION_SYNONYMS, EMOTIONS
from studio.script.prompts import DraftRequest, prompt_presets

# ---------------------------------------------------------------------------------------------
# Presets and the form


_CHATTER_START = re.compile(
    r"^\s*(sure|certainly|of course|absolutely|okay|ok|great|alright|here('s| is| are)|below is|"
    r"i('ve| have) (written|created)|"
    r"this script|title|script|video script|revised script)\b[^\n]*[:!.]?\s*$",
    re.IGNORECASE,
)
_CHATTER_END = re.compile(
    r"^\s*(let me know|i hope|feel free|hope this|if you('d| would) like|would you like|this script|note:|"
    r"word count|\(?approx(imately)?\.? \d+ words|\(\d+ words)",
    re.IGNORECASE,
)
_SPEAKER = re.compile(
    r"^\s*(\*\*|__)?\s*(narrator|host|presenter|speaker|voice ?over|vo|avatar|you|me|anna|"
    r"instructor|teacher)\s*(\*\*|__)?\s*:\s*(\*\*|__)?",
    re.IGNORECASE,
)
_HEADING = re.compile(
    r"^\s*(#{1,6}\s|(\*\*|__)[^*_]{1,60}(\*\*|__):?\s*$|\[?(scene|shot|cut|intro|outro|opening|"
    r"closing|hook|call to action|cta)\b[^\]\n]{0,60}\]?:?\s*$)",
    re.IGNORECASE,
)
_STAGE = re.compile(
    r"\((?:[^()]*?(?:music|sound|sfx|pause|smile|smiles|laugh|laughs|beat|cut|scene|shot|camera|"
    r"on screen|on-screen|b-roll|visual|transition|fade|gestur|points?|holds?|shows?)[^()]*)\)",
    re.IGNORECASE,
)

_LABEL = re.compile(
    r"^\W*(title|subject|topic|duration|length|tone|format|target audience|audience|word count)"
    r"\W*:",
    re.IGNORECASE,
)
_BRACKET = re.compile(r"\[([^\[\]\n]{0,60})\]")
_PAUSE_TAG = re.compile(r"^pause(\s+\d+(\.\d+)?\s*(ms|s)?)?$", re.IGNORECASE)
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_LIST_MARK = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)])\s+")


def _tag_for(inner: str) -> str | None:
    low = inner.strip().lower()
    if low in EMOTIONS:
        return f"[{low}]"
    if _PAUSE_TAG.match(low):
        return f"[{low}]"
    if low in EMOTION_SYNONYMS:
        return f"[{EMOTION_SYNONYMS[low]}]"
    return None


def _strip_symbols(text: str) -> str:
    # emojis and pictographs would be read out as their names (or skipped unpredictably)
    return "".join(ch for ch in text if unicodedata.category(ch) not in ("So", "Cs") and ch not in "\ufe0f\u200d")


def clean_script(text: str, *, keep_tags: bool = True) -> str:
    """Turn a model's answer into script markup: only the words to speak, plus known tags.

    Removes greetings and sign-offs ("Sure! Here is your script:"), markdown (headings, bold,
    lists, code fences), speaker names, stage directions, emojis and hashtag lines; maps tag
    synonyms (``[excited]`` -> ``[happy]``) and drops other brackets. ``keep_tags`` False drops
    every tag. If nothing would be left, the plain text is returned.
    """
    lines = _strip_symbols(text.replace("\r\n", "\n")).split("\n")
    lines = [line for line in lines if not line.strip().startswith("```") and not _LABEL.match(line)]
    lines = [line for line in lines if not re.fullmatch(r"\s*([-*_=]\s*){3,}\s*", line)]  # rules
    # greetings before the script and sign-offs after it
    while lines and (not lines[0].strip() or _CHATTER_START.match(lines[0]) or _HEADING.match(lines[0])):
        lines.pop(0)
    cut = next((i for i, line in enumerate(lines) if i > 0 and _CHATTER_END.match(line)), None)
    if cut is not None:
        lines = lines[:cut]
    out: list[str] = []
    for line in lines:
        if _HEADING.match(line) and not _BRACKET.fullmatch(line.strip()):
            continue
        if re.fullmatch(r"\s*(#\w+\s*)+", line):  # a line of hashtags
            continue
        line = _SPEAKER.sub("", line)
        listed = bool(_LIST_MARK.match(line))
        line = _LIST_MARK.sub("", line)
        line = _EMPHASIS.sub(r"\2", line)
        line = _STAGE.sub(" ", line)
        line = re.sub(r"\*([^*\n]{1,60})\*", " ", line)  # *smiles* left after bold was removed
        line = _BRACKET.sub(lambda m: (_tag_for(m.group(1)) or " ") if keep_tags else " ", line)
        line = re.sub(r"(?<!\w)#(\w)", r"\1", line)  # inline hashtags: keep the word
        line = _strip_symbols(line).replace("*", "")
        line = re.sub(r"[ \t]+", " ", line).strip()
        if (
            line
            and re.fullmatch(r"(\[[^\]]+\]\s*)+", line) is None
            and line[-1].isalnum()
            and (listed or len(line.split()) > 3)
        ):
            line += "."  # a list item or a line without an end: make it a sentence
        out.append(line)
    cleaned = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()
    # a tag alone on its line belongs to the paragraph below it
    cleaned = re.sub(r"^(\[[a-z]+\])\s*\n(?!\n)", r"\1 ", cleaned, flags=re.MULTILINE)
    if not re.search(r"\w", re.sub(r"\[[^\]]*\]", "", cleaned)):
        return _strip_symbols(text).strip()
    return cleaned


# ---------------------------------------------------------------------------------------------
# The template drafter (no language model)


def template_draft(request: DraftRequest) -> str:
    """A usable script from the form fields alone, fitted to about ``request.seconds``.

    English only; the topic and key points are inserted into the preset's sentences.
    """
    request.checked()
    topic = request.topic.strip().rstrip(".!?") or "our topic"
    preset = prompt_presets()["presets"][request.preset]["template"]
    mood = prompt_presets()["tones"].get(request.tone, "neutral")
    points = [p[0].upper() + p[1:] + ("" if p[-1] in ".!?" else ".") for p in request.points()]
    fmt = lambda s: s.format(topic=topic)  # noqa: E731
    # the topic picks the opening, so the same form always gives the same draft
    opening = fmt(preset["opening"][zlib.crc32(topic.encode("utf-8")) % len(preset["opening"])])
    closing = [fmt(s) for s in preset["closing"]]
    generic = [fmt(s) for s in preset["middle"] if "{point}" not in s]
    middle = list(points)
    budget = request.words
    count = lambda parts: sum(len(p.split()) for p in parts)  # noqa: E731
    extras = generic
    while extras and count([opening, *middle, *closing]) + len(extras[0].split()) <= budget * 1.1:
        middle.append(extras.pop(0))
    while middle and count([opening, *middle, *closing]) > budget * 1.2:
        middle.pop()  # too long for the target: drop the last points
    if count([opening, *middle, *closing]) > budget * 1.2 and len(closing) > 1:
        closing = closing[:1]
    tag = lambda name: f"[{name}] " if request.emotion_tags else ""  # noqa: E731
    paragraphs = [f"{tag(mood)}{opening}"]
    if middle:
        paragraphs.append(f"{tag('neutral') if mood != 'neutral' else ''}{' '.join(middle)}")
    paragraphs.append(f"{tag(mood) if middle and mood != 'neutral' else ''}{' '.join(closing)}")
    return "\n\n".join(paragraphs)
