"""Choosing and running the assistant's language model: llama.cpp, transformers, a local server or templates.

Back-ends are chosen in the Script tab (:class:`ModelChoice`); one :class:`Assistant` per studio keeps the
loaded model, streams answers and stops them.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines import registry
from engines.llm.base import LLMError, Message
from studio import models
from studio.errors import InputError, StudioError
from studio.script.cleaning import (
    clean_script,
    echoes_instructions,
    finish_draft,
    is_complete_sentence,
    is_repeat,
    looks_like_title,
    spoken_words,
    talks_about_the_task,
    template_draft,
)
from studio.script.prompts import (
    WORDS_PER_SENTENCE,
    DraftRequest,
    EditRequest,
    GenerationSettings,
    build_messages,
    draft_emotions,
    draft_prompt,
    edit_messages,
    instructions,
    outline,
    prompt_presets,
    speakable_grammar,
    step_prompt,
    system_prompt_start,
)

log = logging.getLogger(__name__)

BUILT_IN_LLM = "qwen2.5-0.5b-instruct-q4"
BUILT_IN_GGUF = "qwen2.5-0.5b-instruct-q4_k_m.gguf"
BACKENDS = ("built-in", "gguf", "transformers", "server", "template")
MAX_CONTINUATIONS = 3  # times a draft that ended short is asked to go on (back-ends without ``prefill``)
MAX_REDRAWS = 6  # sentences a draft may write again (rejected, or the answer ended short) before it settles
GIVE_UP_AFTER = 3  # tries in a row without a usable sentence that end a paragraph (when it has one)
WARM_USER_START = "Write the script of a"  # how every preset's request begins (presets/prompts.json)
MAX_EXTRA_STEPS = 3  # points added to a plan whose points ran dry before the budget
MOST_SENTENCES = 5  # a plan step asks for at most this many sentences
OPENER_AFTER = 1  # failed tries in a row after which a point's sentence starts with an opener (2: slower)
REDRAW_WARMER = 0.3  # temperature added per failed try
LONGEST_SENTENCE = 40  # words: a sentence still going on past this runs away and is written again
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
_BOUNDARY = re.compile(r"[.!?](?=\s)")


def _last_sentence_start(text: str) -> int:
    """Where the last sentence of ``text`` begins (after the space or new paragraph that follows the
    previous sentence's end; its tag, if any, belongs to it)."""
    ends = [m.end() for m in _BOUNDARY.finditer(text.rstrip())]
    if not ends:
        return 0
    return ends[-1] + len(text[ends[-1] :]) - len(text[ends[-1] :].lstrip())


def _fit_keeping_the_ending(parts: list[str], words: int, tolerance: float = 0.2) -> list[str]:
    """Paragraphs of a draft over its budget by more than ``tolerance`` lose sentences from the end
    of the paragraphs before the last (the call to action stays; so does the first, the hook). A
    paragraph's tag is at the start of its first sentence, so it goes only with the whole paragraph."""
    paragraphs = [[s for s in _SENTENCE_END.split(p) if s.strip()] for p in parts]
    count = lambda: sum(len(spoken_words(s)) for p in paragraphs for s in p)  # noqa: E731
    while count() > words * (1 + tolerance):
        body = next((p for p in reversed(paragraphs[1:-1]) if p), None)
        if body is None:
            break
        body.pop()
    return [" ".join(p) for p in paragraphs if p]


def _without_opener(sentence: str) -> str:
    """``sentence`` without its tag and the opener it may start with ("Plus, we fix bikes." -> "we fix
    bikes."): a sentence is a repeat whatever opener it was given."""
    body = re.sub(r"^(\[[^\]]*\]\s*)+", "", sentence.strip())
    for opener in prompt_presets().get("openers") or []:
        if body.lower().startswith(opener.lower()):
            return body[len(opener) :].strip()
    return body


def _normal_words(sentence: str) -> str:
    return " ".join(re.findall(r"\w+", re.sub(r"\[[^\]]*\]", " ", sentence).lower()))


def _cut_point(text: str) -> int:
    """The end of the last complete sentence of ``text`` (its final . ! or ?), 0 when there is none."""
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", text.rstrip())]
    return ends[-1] if ends else 0


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
                    # the system prompt of drafts and the start every preset's first request shares
                    llm.warm(system_prompt_start(), WARM_USER_START)
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
        the brief; on llama.cpp a grammar keeps every token speakable, and the draft is written step
        by step along the plan with every sentence checked (:meth:`_draft_by_steps`). ``messages`` (a chat with the
        user's own request) replace the draft request; the answer is finished the same way. ``fill``
        asks a model that stopped well short of the budget to go on (off for chat answers, which may
        be short on purpose: "make it shorter")."""
        planned = messages is None
        messages = list(messages or build_messages(request, [], draft_prompt(request)))
        grammar = speakable_grammar(request.emotion_tags, request.language, draft_emotions(request))
        ticket = self._stops if since is None else since
        llm = self.model(choice).llm
        if fill and planned and getattr(llm, "continues_answers", False):
            yield from self._draft_by_steps(llm, request, settings, ticket)
            return
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

    def _draft_by_steps(
        self,
        llm: Any,
        request: DraftRequest,
        settings: GenerationSettings | None,
        ticket: int,
    ) -> Iterator[str]:
        """A draft written along its hidden plan, one paragraph per step, for models that can go on
        from a given start of their answer (llama.cpp).

        The first request gives the brief and the whole plan and asks for the hook; each next step
        is a short request in the same chat (llama.cpp's cache keeps everything before it, so only
        the new words cost). Every step asks for a number of sentences from the word budget left
        (measured words per sentence so far); the middle steps together fill the budget up to the
        call to action, which is the last sentence. Sentences are checked as they are written (see
        :meth:`_write_part`). So a draft is never too short and always ends on its call to action."""
        settings = settings or GenerationSettings()
        cfg = prompt_presets()
        steps = outline(request)
        told = instructions(request)
        words = request.words
        chat: list[Message] = [{"role": "system", "content": system_prompt_start(request.emotion_tags)}]
        parts: list[str] = []
        done = 0  # spoken words so far
        sentences = 0
        middle = len(steps) - 2
        extra = 0
        i = -1
        while i + 1 < len(steps):
            i += 1
            step = steps[i]
            # words per sentence: measured once there are a few sentences (a hook may be a short question)
            per_sentence = min(18.0, max(10.0, done / sentences)) if sentences >= 2 else WORDS_PER_SENTENCE
            last = i == len(steps) - 1
            goal = None
            if last or i == 0:
                count = 1
            else:
                left = words - done - per_sentence  # the call to action still comes
                if left < per_sentence / 2 and i > 1:
                    continue  # the budget is full: on to the call to action
                count = min(MOST_SENTENCES, max(1, round(left / per_sentence / max(1, middle - i + 1))))
                # the last point fills the budget up to the call to action; no point goes past it
                goal = words - per_sentence - done
                if i < len(steps) - 2:
                    goal = -goal  # (negative: only a limit)
            amount = "one sentence" if count == 1 else f"{count} sentences"
            if i == 0:
                ask = step_prompt(request, amount, step)
            else:
                ask = cfg["step_last" if last else "step_next"].format(amount=amount, step=step)
            chat.append({"role": "user", "content": ask})
            earlier = [s for p in parts for s in _SENTENCE_END.split(p) if s.strip()]
            if not last:  # the call to action comes last, not in the middle
                earlier += [s for s in _SENTENCE_END.split(steps[-1].split("such as")[-1]) if s.strip()]
            log.debug("draft step %d: %s sentences, goal %s words (%d so far)", i, count, goal, done)
            part = yield from self._write_part(
                llm,
                chat,
                request,
                settings,
                ticket,
                told,
                parts,
                earlier,
                count=count,
                goal=goal,
                openers=goal is not None,
            )
            if self._stops != ticket:
                parts.append(part)
                break
            if i == len(steps) - 2 and extra < MAX_EXTRA_STEPS and part:
                # the last point ended short of the budget (the model ran dry): one more point
                after = done + len(spoken_words(part))
                if after < words * (1 - LENGTH_SLACK) - per_sentence:
                    more = cfg["presets"][request.preset].get("more") or ["more about {subject}"]
                    steps.insert(i + 1, more[extra % len(more)].format(subject=request.subject))
                    middle += 1
                    extra += 1
            if part:
                parts.append(part)
                chat.append({"role": "assistant", "content": part})
                done += len(spoken_words(part))
                sentences += len([s for s in _SENTENCE_END.split(part) if s.strip()])
            else:
                chat.pop()
        yield finish_draft(
            "\n\n".join(_fit_keeping_the_ending(parts, words)),
            words=words,
            keep_tags=request.emotion_tags,
            subject=request.subject,
        )

    def _write_part(
        self,
        llm: Any,
        chat: list[Message],
        request: DraftRequest,
        settings: GenerationSettings,
        ticket: int,
        told: list[str],
        shown: list[str],
        earlier: list[str],
        *,
        count: int,
        goal: float | None = None,
        openers: bool = False,
    ):
        """Write one paragraph of a draft (yields the whole draft so far as it grows; returns the
        paragraph): ``count`` sentences, but no more once it has ``abs(goal)`` spoken words; a
        positive ``goal`` also makes it go on past ``count`` until it has them (at most 4 sentences
        more).

        A sentence that repeats an earlier one, reads out the task or the plan, is a title, dangles
        ("Our team is.") or runs away is taken back and written again from the same point with
        another seed (and a little hotter). When the model ends its answer early, it is made to go
        on (the grammar then asks for one more sentence). After a few tries in a row without a
        usable sentence, a paragraph that has one ends there. ``openers``: a sentence written again
        may start with one of the presets' openers (for the plan's points, not its hook or ending)."""
        tags = request.emotion_tags
        emotions = draft_emotions(request)
        head = "\n\n".join(shown) + ("\n\n" if shown else "")
        text = ""  # this paragraph so far: complete, accepted sentences
        redraws = 0

        def finished(part: str) -> bool:
            n = len([s for s in _SENTENCE_END.split(part) if s.strip()])
            spoken = len(spoken_words(part))
            # (half a sentence short of a goal is closer to it than half a sentence past it)
            if goal is not None and spoken >= abs(goal) - WORDS_PER_SENTENCE / 2:
                return True
            return n >= count + 4 if goal is not None and goal > 0 else n >= count

        failed = 0  # tries in a row that ended without a new sentence
        starts = (prompt_presets().get("openers") or []) if openers else []
        while self._stops == ticket and redraws <= MAX_REDRAWS:
            if failed >= GIVE_UP_AFTER:
                break  # the model keeps writing what is not wanted here: the paragraph ends (or is left out)
            seed = zlib.crc32(f"{redraws}:{head}{text}".encode()) if redraws else None
            # each new try a little hotter: at the same temperature a small model writes the same again;
            # after a failed try the sentence also starts with an opener ("On top of that,"), for the
            # model keeps starting the same way ("Maple Tax offers ...")
            temperature = min(1.3, settings.temperature + REDRAW_WARMER * failed)
            opener = starts[(seed or 0) % len(starts)] if failed >= OPENER_AFTER and starts else ""
            lead = ""
            if opener:
                calm = "neutral" if "neutral" in emotions else emotions[0]
                lead = (" " if text else (f"[{calm}] " if tags else "")) + opener
            grammar = speakable_grammar(
                tags, request.language, emotions, continuing=bool(text), paragraphs=False, mid_sentence=bool(opener)
            )
            current, complete, kept = "", False, None
            pieces = iter(
                llm.chat(
                    chat,
                    temperature=temperature,
                    max_tokens=settings.tokens_for(request),
                    repeat_penalty=settings.repeat_penalty,
                    grammar=grammar,
                    prefill=text + lead,
                    seed=seed,
                )
            )
            try:
                for piece in pieces:
                    if self._stops != ticket:
                        break
                    current += piece
                    whole = text + lead + current
                    yield head + whole
                    start = _last_sentence_start(whole)
                    sentence = whole[start:].strip()
                    ended = sentence.endswith((".", "!", "?"))
                    if (
                        not ended
                        and len(sentence.split()) <= LONGEST_SENTENCE
                        and len(sentence) <= 8 * LONGEST_SENTENCE
                    ):
                        continue
                    before = [e for e in _SENTENCE_END.split(whole[:start]) if e.strip()] if start else []
                    if not ended or self._rejects(sentence, earlier + before, told, request.subject):
                        log.debug("draft sentence written again: %r", sentence)
                        # take the sentence back: the answer goes on from the end of the one before
                        kept = whole[: _cut_point(whole[:start])]
                        redraws += 1
                        break
                    if finished(whole):
                        complete = True
                        break
                else:
                    redraws += 1  # the model ended its answer before the paragraph was long enough
            except LLMError as exc:
                raise StudioError(str(exc)) from exc
            finally:
                close = getattr(pieces, "close", None)
                if close is not None:
                    close()  # stops llama.cpp at once (the model is free for the next try)
            kept = (text + lead + current) if kept is None else kept
            failed = 0 if len(kept) > len(text) else failed + 1
            text = kept
            if complete:
                break
        return text

    @staticmethod
    def _rejects(sentence: str, earlier: list[str], told: list[str], subject: str) -> bool:
        """True when a just-written draft sentence must be written again (see
        :meth:`_write_part`)."""
        core, before = _without_opener(sentence), [_without_opener(e) for e in earlier]
        return (
            not is_complete_sentence(sentence)
            or is_repeat(core, before)
            or _normal_words(core) in {_normal_words(e) for e in before}
            or talks_about_the_task(sentence)
            or looks_like_title(sentence)
            or echoes_instructions(sentence, told, subject)
        )

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
