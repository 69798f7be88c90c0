"""Turning a model's answer into speakable script markup (only the words to say and the studio's own
tags), fitting it to its word budget, and the template drafter used without a model."""

from __future__ import annotations

import difflib
import re
import unicodedata
import zlib

from studio.script.markup import EMOTION_SYNONYMS, EMOTIONS
from studio.script.prompts import DraftRequest, prompt_presets

# ---------------------------------------------------------------------------------------------
# Cleaning


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
    r"closing|hook|call to action|cta)\b[^\]\n.!?]{0,25}\]?:?\s*$)",
    re.IGNORECASE,
)
_STAGE = re.compile(
    r"\((?:[^()]*?(?:music|sound|sfx|pause|smile|smiles|laugh|laughs|beat|cut|scene|shot|camera|"
    r"on screen|on-screen|b-roll|visual|transition|fade|gestur|points?|holds?|shows?)[^()]*)\)",
    re.IGNORECASE,
)

_LABEL = re.compile(
    r"^\W*(title|subject|topic|duration|length|tone|format|target audience|audience|word count|scene|shot|"
    r"opening scene|closing scene|visuals?|music|sound|sfx|camera|cut to|b-roll|transition|on-screen text|"
    r"on screen|text on screen|caption|graphics?|setting|background|cue)\b[^:\n]{0,30}:",
    re.IGNORECASE,
)
# "Hook: ...", "Point 2: ...", "Narrator: ...", "Sam Lee: ...": a label of up to three capitalised words
_TITLE_LABEL = re.compile(
    r"(?:^|(?<=[.!?] )|(?<=\] ))\s*(\*\*|__)?((?:[A-Z][\w'’-]*|\d+)(?:\s+(?:[A-Z][\w'’-]*|\d+|to|of)){0,2})"
    r"(\*\*|__)?:\s+(\w?)"
)
# the plan's step names written into the script ("Hook. Are you ...", "Call to action - visit us")
_PLAN_WORD = re.compile(
    r"(^|(?<=[.!?]\s)|(?<=\]\s))((?:hook|point|step)\s*\d*|call to action|cta|intro|outro|conclusion|summary)"
    r"\s*[.:\-–—]\s+",
    re.IGNORECASE | re.MULTILINE,
)
_BRACKET = re.compile(r"\[([^\[\]\n]{0,60})\]")
_PAUSE_TAG = re.compile(r"^pause(\s+\d+(\.\d+)?\s*(ms|s)?)?$", re.IGNORECASE)
_EMOTION_TAG = re.compile(r"^([a-z]+)(?:\s+(\d+(?:\.\d+)?|\.\d+))?$")  # [happy], [happy 0.5]
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_LIST_MARK = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)])\s+")
# "[Your Name]", "{company}", "<product name>", "XYZ": slots the model left for a name
_PLACEHOLDER = re.compile(
    r"[\[{<]\s*(?:your |the |company |business |brand |shop |store |product |app |channel |event |our )*"
    r"(?:name|company|business|brand|shop|store|product|app|channel|event|bakery|restaurant|website|"
    r"location|address|link|date|time|city|place|host|speaker)(?: name| here)?\s*[\]}>]|\b(?:XYZ|ABC|XXX)\b|_{3,}",
    re.IGNORECASE,
)
# words a sentence cannot end with: "Our team is." "Fresh bread and."
DANGLING = frozenset(
    "a an the and or but nor so because than that which who whose whom to of for with without from by at in on "
    "into onto about as is are was were be been being will would can could should shall may might must has have "
    "had do does did our your their its my his her very more most such if when while like every each another "
    "not".split()
)
_EMPTY_SLOT = re.compile(
    r"\b(to|at|from|with|for|about|of|meet|called|named|visit|try|is|and)\s+[,.!?;]", re.IGNORECASE
)
_SENTENCE_SPLIT = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"'”)\]]))\s+")
_TAG_PREFIX = re.compile(r"^((?:\[[^\]]*\]\s*)+)")
# sentences the model says about the task instead of the script: refusals, questions back, the plan's
# own instructions ("Ask viewers to follow.", "What should the listener do next?")
_META = re.compile(
    r"^(?:\[[^\]]*\]\s*)*(?:i'?m sorry|i am sorry|as an ai|i (?:can'?t|cannot|don'?t have|do not have)|"
    r"could you (?:please )?(?:provide|clarify|share)|please provide|it'?s possible you meant|"
    r"(?:ask|tell|invite|encourage|remind) (?:the )?(?:viewers?|listeners?|audience)\b|"
    r"(?:open|start|begin|end|close|finish) (?:with|by) (?:a |an |the )?(?:hook|question|bold line|call to action|"
    r"summary)|grab (?:the )?attention|give the main benefits?|follow this plan|keep every sentence)"
    r"|\b(?:the (?:listener|viewer)s?|your request|more context|call to action|one-sentence summary|"
    r"end by asking|(?:ask|asking|invite|inviting) (?:the )?viewers)\b",
    re.IGNORECASE,
)


def _tag_for(inner: str) -> str | None:
    low = " ".join(inner.strip().lower().split())
    mood = _EMOTION_TAG.match(low)
    if mood and mood.group(1) in EMOTIONS:
        return f"[{low}]"
    if _PAUSE_TAG.match(low):
        return f"[{low}]"
    if mood and mood.group(1) in EMOTION_SYNONYMS:
        strength = f" {mood.group(2)}" if mood.group(2) else ""
        return f"[{EMOTION_SYNONYMS[mood.group(1)]}{strength}]"
    return None


def talks_about_the_task(sentence: str) -> bool:
    """True for a sentence about the writing task rather than part of the script (a refusal, "Ask
    viewers to follow.", "...the call to action...")."""
    return bool(_META.search(sentence))


_CONTENT_WORD = re.compile(r"[a-zà-ÿ][a-zà-ÿ'’-]{2,}")
_FUNCTION_WORDS = frozenset(
    "the and for with that this what who how are was were you your our its it's from into about than then "
    "they them their there here have has had will would can could should just also very more most some any "
    "all one each every not but yet".split()
)


def _content(text: str, leave_out: frozenset[str] = frozenset()) -> set[str]:
    words = {w.rstrip("s") for w in _CONTENT_WORD.findall(text.lower()) if w not in _FUNCTION_WORDS}
    return words - leave_out


def echoes_instructions(sentence: str, instructions: list[str], subject: str = "") -> bool:
    """True when ``sentence`` mostly repeats one of the ``instructions`` the model was given ("Open
    with a question or a bold line that names Maple Tax.", "One simple example."): three quarters of
    its words, or of its first clause's, (the subject's own left out) come from one instruction."""
    leave_out = _content(subject)
    body = _TAG_PREFIX.sub("", sentence)
    # the whole sentence, or its first clause ("Opening line that names GreenRide, and why ...")
    for part in dict.fromkeys([body, re.split(r"[,;—–]", body)[0]]):
        own = _content(part, leave_out)
        if len(own) >= 2 and any(len(own & _content(line)) >= 0.75 * len(own) for line in instructions):
            return True
    return False


def looks_like_title(sentence: str) -> bool:
    """True for a title written as a sentence ("Lesson on Compound Interest - How It Works.")."""
    words = re.findall(r"[A-Za-zÀ-ÿ][\w'’]*", _TAG_PREFIX.sub("", sentence))
    long = [w for w in words if len(w) > 3]
    return len(words) >= 4 and len(long) >= 3 and all(w[0].isupper() for w in long)


def is_known_tag(inner: str) -> bool:
    """True for the studio's own tags: an emotion (``happy``, ``happy 0.5``) or a pause (``pause 1s``)."""
    low = " ".join(inner.strip().lower().split())
    mood = _EMOTION_TAG.match(low)
    return bool((mood and mood.group(1) in EMOTIONS) or _PAUSE_TAG.match(low))


def _strip_symbols(text: str) -> str:
    # emojis and pictographs would be read out as their names (or skipped unpredictably)
    return "".join(ch for ch in text if unicodedata.category(ch) not in ("So", "Cs") and ch not in "\ufe0f\u200d")


def _fill_placeholders(line: str, subject: str) -> str:
    """Put the brief's name where the model left a slot for it ("Welcome to [Shop Name]"), and drop
    sentences with a slot left empty ("Welcome to , the ...") when there is no name to put there."""
    if subject:
        line = _PLACEHOLDER.sub(subject, line)
    else:
        line = _PLACEHOLDER.sub("\x00", line)
    kept = []
    for sentence in _SENTENCE_SPLIT.split(line):
        if _META.search(sentence):
            continue
        empty_slot = _EMPTY_SLOT.search(sentence)
        if "\x00" in sentence or (empty_slot and not subject):
            continue
        if empty_slot:  # "Welcome to , the bakery" -> "Welcome to Sunny Bread, the bakery"
            sentence = sentence[: empty_slot.end(1)] + " " + subject + sentence[empty_slot.end(1) :].lstrip()
        kept.append(sentence)
    return " ".join(kept)


def clean_script(text: str, *, keep_tags: bool = True, subject: str = "", fallback: bool = True) -> str:
    """Turn a model's answer into script markup: only the words to speak, plus known tags.

    Removes greetings and sign-offs ("Sure! Here is your script:"), markdown (headings, bold,
    lists, code fences), speaker names and labels ("Narrator:", "Hook:"), stage directions
    ("Opening scene: ...", "(music swells)"), quotes around paragraphs, emojis and hashtag lines;
    maps tag synonyms (``[excited]`` -> ``[happy]``) and drops other brackets. Slots left for a name
    ("[Your Name]") get ``subject``; sentences with an empty slot are repaired with it or dropped.
    ``keep_tags`` False drops every tag. If nothing would be left, the plain text is returned (an
    empty string with ``fallback`` False).
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
        line = _TITLE_LABEL.sub(lambda m: m.group(4).upper(), line)  # "Narrator: hello" -> "Hello"
        line = _STAGE.sub(" ", line)
        line = re.sub(r"\*([^*\n]{1,60})\*", " ", line)  # *smiles* left after bold was removed
        line = _fill_placeholders(line, subject)
        line = _BRACKET.sub(lambda m: (_tag_for(m.group(1)) or " ") if keep_tags else " ", line)
        line = re.sub(r"(?<!\w)#(\w)", r"\1", line)  # inline hashtags: keep the word
        line = _strip_symbols(line).replace("*", "")
        line = re.sub(r"[ \t]+", " ", line).strip()
        line = _PLAN_WORD.sub("", line)
        # a paragraph in quotes: "Hello there." -> Hello there.
        body = _TAG_PREFIX.sub("", line)
        if body[:1] in '"“' and body.rstrip()[-1:] in '"”':
            line = line[: len(line) - len(body)] + body[1:-1].strip()
        line = re.sub(r"\s+([,.!?])", r"\1", line).strip()
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
    cleaned = re.sub(r"^(\[[a-z]+(?: [\d.]+)?\])\s*\n(?!\n)", r"\1 ", cleaned, flags=re.MULTILINE)
    if not re.search(r"\w", re.sub(r"\[[^\]]*\]", "", cleaned)):
        return _strip_symbols(text).strip() if fallback else ""
    return cleaned


# ---------------------------------------------------------------------------------------------
# Fitting a draft to its budget


def _paragraphs(text: str) -> list[list[str]]:
    """Script markup as paragraphs of sentences (a sentence keeps the tags written before it)."""
    out = []
    for para in re.split(r"\n\s*\n", text.strip()):
        sentences = [s.strip() for s in _SENTENCE_SPLIT.split(" ".join(para.split())) if s.strip()]
        if sentences:
            out.append(sentences)
    return out


def _join(paragraphs: list[list[str]]) -> str:
    return "\n\n".join(" ".join(p) for p in paragraphs if p)


def spoken_words(text: str) -> list[str]:
    """The words a script makes the voice say (tags left out)."""
    return re.sub(r"\[[^\]]*\]", " ", text).split()


def _normal(sentence: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", re.sub(r"\[[^\]]*\]", " ", sentence).lower()).split())


def is_repeat(sentence: str, earlier: list[str]) -> bool:
    """True when ``sentence`` says (nearly) the same as one of the ``earlier`` sentences."""
    own = _normal(sentence)
    if len(own.split()) < 3:
        return own in (_normal(e) for e in earlier) and len(own) > 12
    # long sentences that share four fifths of their letters say the same thing in other words
    limit = 0.8 if len(own.split()) >= 8 else 0.9
    return any(difflib.SequenceMatcher(None, own, _normal(e)).ratio() >= limit for e in earlier)


def repeated_sentences(text: str) -> list[str]:
    """The sentences of ``text`` that repeat an earlier one (nearly word for word)."""
    seen: list[str] = []
    repeats = []
    for sentence in (s for p in _paragraphs(text) for s in p):
        if is_repeat(sentence, seen):
            repeats.append(sentence)
        seen.append(sentence)
    return repeats


def is_complete_sentence(sentence: str) -> bool:
    """True when ``sentence`` ends in . ! or ? and not on a word that needs more after it ("is.", "and.")."""
    body = _TAG_PREFIX.sub("", sentence.strip()).rstrip("\"')” ")
    if not body or body[-1] not in ".!?…":
        return False
    words = re.findall(r"[\w'’]+", body.lower())
    return bool(words) and words[-1] not in DANGLING


def drop_repeats(text: str) -> str:
    """``text`` without sentences that repeat an earlier one (the first time is kept)."""
    seen: list[str] = []
    paragraphs = []
    for para in _paragraphs(text):
        kept = []
        for sentence in para:
            if not is_repeat(sentence, seen):
                kept.append(sentence)
            seen.append(sentence)
        paragraphs.append(kept)
    return _join(paragraphs)


def trim_to_budget(text: str, words: int, tolerance: float = 0.2) -> str:
    """End ``text`` on its last complete sentence, and drop whole sentences from the end while it is
    over ``words`` by more than ``tolerance`` (0.2 = 20 %). A tag left with nothing after it goes too."""
    paragraphs = _paragraphs(text)
    flat = [(i, s) for i, p in enumerate(paragraphs) for s in p]
    while flat and not is_complete_sentence(flat[-1][1]):
        flat.pop()
    count = lambda items: sum(len(spoken_words(s)) for _, s in items)  # noqa: E731
    while len(flat) > 1 and count(flat) > words * (1 + tolerance):
        flat.pop()
    out: list[list[str]] = [[] for _ in paragraphs]
    for i, sentence in flat:
        out[i].append(sentence)
    return _join(out)


def finish_draft(text: str, *, words: int, keep_tags: bool = True, subject: str = "") -> str:
    """A model's answer as a script to read out: cleaned, without repeated sentences, ending on a
    complete sentence within the word budget (``words`` +20 %); empty when nothing speakable is left
    (e.g. the model refused)."""
    cleaned = clean_script(text, keep_tags=keep_tags, subject=subject, fallback=False)
    return trim_to_budget(drop_repeats(cleaned), words)


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
