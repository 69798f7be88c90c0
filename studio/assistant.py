"""The script assistant: drafting and revising scripts by chatting with a local language model,
and dictation (speech to text) for the chat box and the editor.

Back-ends, chosen in the Script tab (:class:`ModelChoice`):

* ``built-in``: the bundled Qwen2.5 0.5B Instruct GGUF through llama-cpp-python; if that package
  is missing, the same file through transformers (slower, and the UI says so); if neither works,
  the template drafter;
* ``gguf``: another GGUF file or a downloaded catalog model through llama-cpp-python;
* ``transformers``: any Hugging Face model folder, cached repo id or GGUF file through transformers;
* ``server``: any OpenAI-compatible local server by URL (Ollama, LM Studio, llama.cpp server);
* ``template``: no language model at all; a script is drafted from the form fields.

Prompt presets (product intro, lesson, announcement, social short) live in ``presets/prompts.json``.
Answers are cleaned into plain script markup (:func:`clean_script`) before they reach the editor.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import unicodedata
import weakref
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from engines import registry
from engines.llm.base import LLMError, Message
from studio import models
from studio.config import PRESETS_DIR
from studio.errors import InputError, StudioError
from studio.script import EMOTION_SYNONYMS, EMOTIONS, WORDS_PER_SECOND

log = logging.getLogger(__name__)

BUILT_IN_LLM = "qwen2.5-0.5b-instruct-q4"
BUILT_IN_GGUF = "qwen2.5-0.5b-instruct-q4_k_m.gguf"
BUILT_IN_ASR = "whisper-base"
BACKENDS = ("built-in", "gguf", "transformers", "server", "template")
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

    def checked(self) -> "DraftRequest":
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
    parts = [*_rules(cfg, request.emotion_tags),
             cfg["length_rule"].format(words=request.words, seconds=int(round(request.seconds)),
                                       tone=request.tone, language=request.language)]
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


def build_messages(request: DraftRequest, history: Sequence[Message], user_text: str,
                   current_script: str = "") -> list[Message]:
    """System prompt + the last chat turns + the new user message."""
    if not user_text.strip():
        raise InputError("type or dictate a message first")
    recent = [m for m in history if m.get("role") in ("user", "assistant") and m.get("content")]
    recent = recent[-2 * MAX_HISTORY_TURNS:]
    return [{"role": "system", "content": system_prompt(request, current_script)},
            *({"role": m["role"], "content": str(m["content"])} for m in recent),
            {"role": "user", "content": user_text.strip()}]


# ---------------------------------------------------------------------------------------------
# Cleaning model output into script markup

_CHATTER_START = re.compile(
    r"^\s*(sure|certainly|of course|absolutely|okay|ok|great|alright|here('s| is| are)|below is|i('ve| have) (written|created)|"
    r"this script|title|script|video script|revised script)\b[^\n]*[:!.]?\s*$", re.IGNORECASE)
_CHATTER_END = re.compile(
    r"^\s*(let me know|i hope|feel free|hope this|if you('d| would) like|would you like|this script|note:|"
    r"word count|\(?approx(imately)?\.? \d+ words|\(\d+ words)", re.IGNORECASE)
_SPEAKER = re.compile(r"^\s*(\*\*|__)?\s*(narrator|host|presenter|speaker|voice ?over|vo|avatar|you|me|anna|"
                      r"instructor|teacher)\s*(\*\*|__)?\s*:\s*(\*\*|__)?", re.IGNORECASE)
_HEADING = re.compile(r"^\s*(#{1,6}\s|(\*\*|__)[^*_]{1,60}(\*\*|__):?\s*$|\[?(scene|shot|cut|intro|outro|opening|"
                      r"closing|hook|call to action|cta)\b[^\]\n]{0,60}\]?:?\s*$)", re.IGNORECASE)
_STAGE = re.compile(r"\((?:[^()]*?(?:music|sound|sfx|pause|smile|smiles|laugh|laughs|beat|cut|scene|shot|camera|"
                    r"on screen|on-screen|b-roll|visual|transition|fade|gestur|points?|holds?|shows?)[^()]*)\)",
                    re.IGNORECASE)
_LABEL = re.compile(r"^\W*(title|subject|topic|duration|length|tone|format|target audience|audience|word count)"
                    r"\W*:", re.IGNORECASE)
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
        if (line and re.fullmatch(r"(\[[^\]]+\]\s*)+", line) is None and line[-1].isalnum()
                and (listed or len(line.split()) > 3)):
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


# ---------------------------------------------------------------------------------------------
# Choosing and running a model


@dataclass(frozen=True)
class ModelChoice:
    """Which back-end answers: ``backend`` is one of :data:`BACKENDS`.

    ``model``: a catalog name (``python app.py models list``), a folder, a ``.gguf`` file or a
    Hugging Face repo id (gguf/transformers); the server's model name (server). ``url``: the
    server address, e.g. ``http://127.0.0.1:11434/v1`` for Ollama.
    """

    backend: str = "built-in"
    model: str = ""
    url: str = ""
    api_key: str = ""


@dataclass
class ChatModel:
    """A loaded back-end, what it is, and a notice to show when it is not what was asked for."""

    llm: Any | None  # None = the template drafter
    description: str
    notice: str = ""


class Assistant:
    """Loads chat models on demand (one cached per choice) and streams cleaned answers."""

    def __init__(self, studio: Any):
        self.studio = studio
        self._models: dict[ModelChoice, ChatModel] = {}
        self._lock = threading.Lock()  # held through a whole model load
        self._stop_lock = threading.Lock()  # its own, so Stop never waits for a model to load
        self._stops = 0  # bumped by stop(); an answer stops when it changes

    # -- models -----------------------------------------------------------------------------------

    def _model_path(self, name: str) -> Path:
        """A catalog name, a file or a folder -> a local path (joining bundled parts if needed)."""
        if name in models.catalog():
            return models.resolve(name, self.studio.paths)
        path = Path(name).expanduser()
        if path.exists():
            return path
        raise InputError(f"'{name}' is neither a model in the catalog nor a file or folder on this computer")

    def _open_gguf(self, path: Path, *, fallback_note: str) -> ChatModel:
        from engines.llm import llama_cpp

        if path.is_dir():
            ggufs = sorted(path.glob("*.gguf"))
            if not ggufs:
                raise InputError(f"there is no .gguf file in {path}")
            path = ggufs[0]
        if llama_cpp.available():
            llm = registry.create("llm", "llama-cpp", model_path=path)
            return ChatModel(llm, llm.description)
        # llama-cpp-python compiles at install time and may be missing: transformers reads GGUF too
        try:
            llm = registry.create("llm", "transformers", model=path.parent, gguf_file=path.name)
        except (ImportError, LLMError) as exc:
            log.info("transformers cannot load %s: %s", path, exc)
            return ChatModel(None, "template (no language model)",
                             "Neither llama-cpp-python nor transformers (with the gguf package) can run the "
                             "language model, so drafts come from a simple template. Run ./launch.sh to install them.")
        return ChatModel(llm, llm.description, fallback_note)

    def _open(self, choice: ModelChoice) -> ChatModel:
        backend = choice.backend
        if backend not in BACKENDS:
            raise InputError(f"unknown assistant back-end '{backend}': choose one of {', '.join(BACKENDS)}")
        if backend == "template":
            return ChatModel(None, "template (no language model)")
        if backend == "server":
            if not choice.url.strip():
                raise InputError("enter the address of the chat server, e.g. http://127.0.0.1:11434/v1 for Ollama")
            llm = registry.create("llm", "openai-compatible", base_url=choice.url, model=choice.model.strip(),
                                  api_key=choice.api_key)
            return ChatModel(llm, llm.description)
        if backend == "transformers":
            if not choice.model.strip():
                raise InputError("enter a model: a catalog name, a folder, a .gguf file or a Hugging Face id")
            name = choice.model.strip()
            try:
                target: Any = self._model_path(name)
            except InputError:
                target = name  # a Hugging Face repo id: from the local cache (or downloaded by transformers)
            gguf = None
            if isinstance(target, Path) and target.is_dir() and not (target / "config.json").exists():
                found = sorted(target.glob("*.gguf"))
                gguf = found[0].name if found else None
            llm = registry.create("llm", "transformers", model=target, gguf_file=gguf)
            return ChatModel(llm, llm.description)
        note = ("llama-cpp-python is not installed, so the language model runs through transformers: "
                "much slower (about a minute to load, a few words per second). Run ./launch.sh to build llama-cpp-python.")
        if backend == "gguf":
            if not choice.model.strip():
                raise InputError("enter a GGUF model: a catalog name or a .gguf file")
            return self._open_gguf(self._model_path(choice.model.strip()), fallback_note=note)
        return self._open_gguf(models.resolve(BUILT_IN_LLM, self.studio.paths) / BUILT_IN_GGUF, fallback_note=note)

    def model(self, choice: ModelChoice) -> ChatModel:
        """The loaded back-end for ``choice`` (loaded once; errors become one plain sentence)."""
        with self._lock:
            if choice not in self._models:
                try:
                    self._models[choice] = self._open(choice)
                except LLMError as exc:
                    raise StudioError(str(exc)) from exc
                except FileNotFoundError as exc:
                    raise InputError(f"{exc}: check the model path") from exc
                except (ImportError, OSError, ValueError) as exc:
                    raise StudioError(f"the language model could not be loaded ({type(exc).__name__}: {exc})") from exc
            return self._models[choice]

    def preload(self) -> threading.Thread | None:
        """Load the built-in model and evaluate the fixed start of the system prompt in the background,
        so the first answer starts sooner. Only when llama.cpp and the prepared model are there;
        problems are logged (the first real answer reports them)."""
        from engines.llm import llama_cpp

        if not llama_cpp.available() or models.status(BUILT_IN_LLM, self.studio.paths).state != "ready":
            return None

        def work() -> None:
            try:
                llm = self.model(ModelChoice()).llm
                if hasattr(llm, "warm"):
                    llm.warm(system_prompt_start())
            except Exception as exc:  # noqa: BLE001 - a background convenience must never crash the app
                log.info("the script assistant could not preload its model: %s", exc)

        thread = threading.Thread(target=work, name="assistant-preload", daemon=True)
        thread.start()
        return thread

    def forget(self, choice: ModelChoice | None = None) -> None:
        """Unload one model (or all) to free memory."""
        with self._lock:
            if choice is None:
                self._models.clear()
            else:
                self._models.pop(choice, None)

    # -- answers ----------------------------------------------------------------------------------

    def stream(self, choice: ModelChoice, messages: Sequence[Message], request: DraftRequest,
               settings: GenerationSettings | None = None, *, since: int | None = None) -> Iterator[str]:
        """The answer so far, growing with every piece (raw model text; clean it for the editor).

        With the template back-end the answer is the template draft for ``request``. :meth:`stop`
        ends the answer after the piece being written (the model stops generating too); ``since``
        (a value of :attr:`stops`, default: now) also honours a Stop pressed before the answer began.
        """
        settings = settings or GenerationSettings()
        ticket = self._stops if since is None else since
        loaded = self.model(choice)
        if loaded.llm is None:
            yield template_draft(request)
            return
        text = ""
        pieces = iter(loaded.llm.chat(messages, temperature=settings.temperature,
                                      max_tokens=settings.tokens_for(request)))
        try:
            for piece in pieces:
                if self._stops != ticket:
                    break
                text += piece
                yield text
        except LLMError as exc:
            raise StudioError(str(exc)) from exc
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # stops the back-end's generation and frees the model for the next answer

    def stop(self) -> None:
        """Stop every answer being written now (the Stop button)."""
        with self._stop_lock:
            self._stops += 1

    @property
    def stops(self) -> int:
        """How often :meth:`stop` was called (compare before and after an answer to see if it was stopped)."""
        return self._stops

    def draft(self, choice: ModelChoice, request: DraftRequest, settings: GenerationSettings | None = None) -> Iterator[str]:
        """Stream a first draft for the form (raw text so far)."""
        messages = build_messages(request, [], draft_prompt(request))
        return self.stream(choice, messages, request, settings)

    def draft_text(self, choice: ModelChoice, request: DraftRequest, settings: GenerationSettings | None = None) -> str:
        """A finished, cleaned draft (blocking)."""
        text = ""
        for text in self.draft(choice, request, settings):
            pass
        return clean_script(text, keep_tags=request.emotion_tags)


_assistants: "weakref.WeakKeyDictionary[Any, Assistant]" = weakref.WeakKeyDictionary()
_assistants_lock = threading.Lock()


def assistant_for(studio: Any) -> Assistant:
    """The one :class:`Assistant` of a :class:`studio.services.Studio` (models stay loaded)."""
    with _assistants_lock:
        if studio not in _assistants:
            _assistants[studio] = Assistant(studio)
        return _assistants[studio]


# ---------------------------------------------------------------------------------------------
# Dictation


_recognizers: dict[tuple[int, str, str], Any] = {}
_recognizers_lock = threading.Lock()


def speech_recognizer(studio: Any, model: str = BUILT_IN_ASR, device: str = "cpu") -> Any:
    """The faster-whisper engine for catalog model ``model``, loaded once per process.

    The built-in Whisper base is the studio's shared ``asr``/``faster-whisper`` engine.
    """
    folder = models.resolve(model, studio.paths)
    compute = "int8" if device == "cpu" else "float16"
    try:
        if model == BUILT_IN_ASR and device == "cpu":
            return studio.engine("asr", "faster-whisper", model_dir=folder, device=device, compute_type=compute)
        key = (id(studio), model, device)
        with _recognizers_lock:
            if key not in _recognizers:
                _recognizers[key] = registry.create("asr", "faster-whisper", model_dir=folder, device=device,
                                                    compute_type=compute)
            return _recognizers[key]
    except (OSError, RuntimeError, ValueError) as exc:
        raise StudioError(f"the speech recognizer '{model}' could not be loaded: {exc}") from exc


def dictate(studio: Any, audio: np.ndarray, sample_rate: int, *, language: str | None = None,
            model: str = BUILT_IN_ASR) -> str:
    """Text from a recording (mono or stereo samples at ``sample_rate`` Hz) for the chat or editor.

    ``language`` is a code such as "en" (None = detect). Raises InputError for silence.
    """
    audio = np.asarray(audio)
    if audio.size == 0 or sample_rate <= 0:
        raise InputError("the recording is empty: press record, speak, then stop")
    if audio.shape[0] / sample_rate > 600:
        raise InputError("the recording is longer than 10 minutes: dictate in shorter pieces")
    transcript = speech_recognizer(studio, model).transcribe(audio, sample_rate, language=language,
                                                              word_timestamps=False)
    if not transcript.text.strip():
        raise InputError("no speech was heard in the recording: check the microphone and speak closer to it")
    return transcript.text.strip()


LANGUAGE_CODES = {"English": "en", "German": "de", "French": "fr", "Spanish": "es", "Italian": "it",
                  "Portuguese": "pt", "Dutch": "nl", "Polish": "pl", "Japanese": "ja", "Chinese": "zh"}


def language_code(language: str) -> str | None:
    """Whisper language code for a language name from the form ("German" -> "de"); None = detect."""
    return LANGUAGE_CODES.get(language)
