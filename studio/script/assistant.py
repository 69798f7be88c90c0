"""Choosing and running the assistant's language model: llama.cpp, transformers, a local server or templates.

Back-ends are chosen in the Script tab (:class:`ModelChoice`); one :class:`Assistant` per studio keeps the
loaded model, streams answers and stops them.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines import registry
from engines.llm.base import LLMError, Message
from studio import models
from studio.errors import InputError, StudioError
from studio.script.cleaning import clean_script, finish_draft, is_repeat, spoken_words, template_draft
from studio.script.prompts import (
    DraftRequest,
    EditRequest,
    GenerationSettings,
    build_messages,
    draft_emotions,
    draft_prompt,
    edit_messages,
    prompt_presets,
    speakable_grammar,
    system_prompt_start,
)

log = logging.getLogger(__name__)

BUILT_IN_LLM = "qwen2.5-0.5b-instruct-q4"
BUILT_IN_GGUF = "qwen2.5-0.5b-instruct-q4_k_m.gguf"
BACKENDS = ("built-in", "gguf", "transformers", "server", "template")
MAX_CONTINUATIONS = 3  # times a draft that ended short is asked to go on
LENGTH_SLACK = 0.1  # a draft within 10 % under its word budget is long enough (the rubric allows 20 %)


# ---------------------------------------------------------------------------------------------
# The model choice and the voice's pace


def speaking_pace(studio: Any, voice: str | None) -> float:
    """The speaking-rate factor of voice profile ``voice`` (1 for the default voice or an unknown
    name): how much faster than the default voice it talks, measured when the profile was made."""
    if not voice or not str(voice).strip():
        return 1.0
    from studio.voice.profiles import VoiceLibrary

    try:
        profile = VoiceLibrary(studio.paths).load(str(voice))
    except StudioError:
        return 1.0
    rate = profile.settings.get("match", {}).get("rate", 1.0)
    return float(rate) if isinstance(rate, (int, float)) and 0.5 <= rate <= 2.0 else 1.0


def budget_reached(text: str, words: int) -> bool:
    """True when an answer being written should stop: it has ``words`` spoken words and just ended a
    sentence, or it is 20 % over (the trimmer then ends it on its last complete sentence)."""
    count = len(spoken_words(text))
    return count >= words * 1.2 or (count >= words and text.rstrip().endswith((".", "!", "?")))


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n")


def repeats_itself(text: str) -> bool:
    """True when the sentence ``text`` just finished says (nearly) the same as an earlier one."""
    if not text.rstrip().endswith((".", "!", "?")):
        return False
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s.strip()]
    return len(sentences) > 1 and is_repeat(sentences[-1], sentences[:-1])


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
            return ChatModel(
                None,
                "template (no language model)",
                "Neither llama-cpp-python nor transformers (with the gguf package) can run the "
                "language model, so drafts come from a simple template. Run ./launch.sh to install them.",
            )
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
            llm = registry.create(
                "llm", "openai-compatible", base_url=choice.url, model=choice.model.strip(), api_key=choice.api_key
            )
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
        note = (
            "llama-cpp-python is not installed, so the language model runs through transformers: "
            "much slower (about a minute to load, a few words per second). Run ./launch.sh to build llama-cpp-python."
        )
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

    def stream(
        self,
        choice: ModelChoice,
        messages: Sequence[Message],
        request: DraftRequest,
        settings: GenerationSettings | None = None,
        *,
        since: int | None = None,
        budget: int | None = None,
        grammar: str | None = None,
    ) -> Iterator[str]:
        """The answer so far, growing with every piece (raw model text; clean it for the editor).

        With the template back-end the answer is the template draft for ``request``. :meth:`stop`
        ends the answer after the piece being written (the model stops generating too); ``since``
        (a value of :attr:`stops`, default: now) also honours a Stop pressed before the answer began.
        ``budget`` (spoken words) ends the answer once it is reached at a sentence end, 20 % past
        it, or when a sentence repeats an earlier one; ``grammar`` (GBNF) constrains back-ends that can.
        """
        settings = settings or GenerationSettings()
        ticket = self._stops if since is None else since
        loaded = self.model(choice)
        if loaded.llm is None:
            yield template_draft(request)
            return
        text = ""
        pieces = iter(
            loaded.llm.chat(
                messages,
                temperature=settings.temperature,
                max_tokens=settings.tokens_for(request),
                repeat_penalty=settings.repeat_penalty,
                grammar=grammar,
            )
        )
        try:
            for piece in pieces:
                if self._stops != ticket:
                    break
                text += piece
                yield text
                if budget and (
                    budget_reached(text, budget) or (any(c in piece for c in ".!?") and repeats_itself(text))
                ):
                    break
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

    def draft(
        self,
        choice: ModelChoice,
        request: DraftRequest,
        settings: GenerationSettings | None = None,
        *,
        since: int | None = None,
        messages: Sequence[Message] | None = None,
        fill: bool = True,
    ) -> Iterator[str]:
        """Stream a first draft for the form: the raw text so far, then, last, the finished script
        (cleaned, no repeats, ending on a complete sentence within the word budget).

        The model writes from a hidden plan (hook, points, call to action) built from the preset and
        the brief; on llama.cpp a grammar keeps every token speakable. ``messages`` (a chat with the
        user's own request) replace the draft request; the answer is finished the same way. ``fill``
        asks a model that stopped well short of the budget to go on (off for chat answers, which may
        be short on purpose: "make it shorter")."""
        messages = list(messages or build_messages(request, [], draft_prompt(request)))
        grammar = speakable_grammar(request.emotion_tags, request.language, draft_emotions(request))
        ticket = self._stops if since is None else since
        text = raw = ""
        for part in range(1 + (MAX_CONTINUATIONS if fill else 0)):
            # a small model often stops early: ask it to go on (its own answer stays in llama.cpp's
            # cache, so only the short request is evaluated) until the draft is long enough
            missing = request.words - len(spoken_words(text))
            asked = messages
            if part and text:  # (nothing usable left, e.g. a refusal: ask afresh)
                # (tried: the whole draft in one new request with the plan's points: on the bench the
                # 0.5B model then answered nothing usable more often than in this second chat turn)
                follow = prompt_presets()["continue_request"].format(words=missing, subject=request.subject)
                asked = [*messages, {"role": "assistant", "content": text}, {"role": "user", "content": follow}]
            head = text + ("\n\n" if text else "")
            for piece in self.stream(choice, asked, request, settings, since=ticket, budget=missing, grammar=grammar):
                text = head + piece
                yield text
            if self.model(choice).llm is None:
                return  # the template draft is finished already
            # measured on the finished text: repeats and a cut-off ending do not count
            # each part is cleaned on its own: a part's greeting ("Sure! Here is...") is not at the start
            part_text = clean_script(text[len(head) :], keep_tags=request.emotion_tags, fallback=False)
            finished = finish_draft(
                head + part_text, words=request.words, keep_tags=request.emotion_tags, subject=request.subject
            )
            if self._stops != ticket or len(spoken_words(finished)) >= request.words * (1 - LENGTH_SLACK):
                break
            raw, text = text, finished
        # nothing speakable came (the model refused every time): show what it said instead
        yield finished or clean_script(raw if not text else text, keep_tags=request.emotion_tags)

    def draft_text(self, choice: ModelChoice, request: DraftRequest, settings: GenerationSettings | None = None) -> str:
        """A finished draft (blocking)."""
        *_, text = ("", *self.draft(choice, request, settings))
        return text

    def edit(
        self,
        choice: ModelChoice,
        edit: EditRequest,
        settings: GenerationSettings | None = None,
        *,
        since: int | None = None,
        language: str = "English",
    ) -> Iterator[str]:
        """Stream the whole revised script for an explicit edit ("shorten", "friendlier", "add emotion
        tags", or the typed instruction): raw text so far, then the finished revision."""
        messages = edit_messages(edit)
        if self.model(choice).llm is None:
            raise InputError(
                "editing a script needs a language model: choose the built-in model (or another) under Model"
            )
        target = edit.target_words()
        request = DraftRequest(topic="edit", seconds=max(3.0, target / DraftRequest().words_per_second))
        grammar = speakable_grammar(edit.keeps_tags, language)
        text = ""
        for text in self.stream(
            choice, messages, request, settings, since=since, budget=int(target * 1.15), grammar=grammar
        ):
            yield text
        yield finish_draft(text, words=target, keep_tags=edit.keeps_tags)


_assistants: weakref.WeakKeyDictionary[Any, Assistant] = weakref.WeakKeyDictionary()
_assistants_lock = threading.Lock()


def assistant_for(studio: Any) -> Assistant:
    """The one :class:`Assistant` of a :class:`studio.services.Studio` (models stay loaded)."""
    with _assistants_lock:
        if studio not in _assistants:
            _assistants[studio] = Assistant(studio)
        return _assistants[studio]
