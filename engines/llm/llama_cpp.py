"""GGUF chat models through llama-cpp-python (the embedded default: Qwen2.5 0.5B Instruct Q4_K_M).

llama-cpp-python compiles from source at install time, so it may be missing: importing this module
then raises ImportError and the studio falls back to transformers (and says so).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import json
import logging
import os
import sys
import threading
import time
import weakref
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from engines.llm.base import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_REPEAT_PENALTY,
    DEFAULT_TEMPERATURE,
    LLMError,
    Message,
    check_messages,
    simple_prompt,
)
from engines.registry import register

_LOAD_LOCK = threading.Lock()


@functools.cache
def cpu_has_amx() -> bool:
    """True on CPUs with Intel AMX tiles (Linux ``/proc/cpuinfo`` flag ``amx_tile``)."""
    try:
        return " amx_tile" in Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return False


@contextlib.contextmanager
def _model_params(**fields):
    """Let ``llama_cpp.Llama`` load with extra llama_model_params fields it has no argument for."""
    import llama_cpp.llama as api

    real = api.llama_cpp.llama_model_default_params

    def patched():
        params = real()
        for key, value in fields.items():
            setattr(params, key, value)
        return params

    with _LOAD_LOCK:
        api.llama_cpp.llama_model_default_params = patched
        try:
            yield
        finally:
            api.llama_cpp.llama_model_default_params = real


class _KeepStreams:
    """Stands in for llama-cpp-python's ``suppress_stdout_stderr``, which points the whole process's
    stdout/stderr file descriptors at /dev/null while a model loads: in the studio that silently
    swallowed every other thread's output (the UI server, the CLI). Its log level already keeps
    loading quiet."""

    def __init__(self, disable: bool = True):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False


@functools.cache  # patch llama-cpp-python once, however many models load
def _keep_output_streams() -> None:
    import llama_cpp._internals as internals
    import llama_cpp.llama as api

    for module in (internals, api):
        module.suppress_stdout_stderr = _KeepStreams
    # llama.cpp's own load-time chatter ("control-looking token ...") means nothing to a creator;
    # failures still surface as exceptions.
    api.set_verbose = lambda verbose: logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL)


_OPEN: weakref.WeakSet[LlamaCppLLM] = weakref.WeakSet()


@atexit.register
def _close_open_models() -> None:
    """Free models before interpreter teardown (llama-cpp-python's own finaliser fails then)."""
    for llm in list(_OPEN):
        with contextlib.suppress(Exception):
            llm._llama.close()


def physical_cores() -> int:
    """One llama.cpp thread per physical core this process may use: hyper-threads only make its
    workers wait on each other (measured here on 2 real cores: 1 thread 14.9, 2 threads 26.9 tokens/s)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or usable
        logical = psutil.cpu_count(logical=True) or usable
    except ImportError:
        physical = logical = usable
    return max(1, usable * physical // max(1, logical))


def idle_cores(window_s: float = 0.05) -> float | None:
    """How many CPU cores stood idle over the last ``window_s`` seconds (Linux ``/proc/stat``; None
    elsewhere)."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, all

    try:
        idle0, total0 = sample()
        time.sleep(window_s)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return (os.cpu_count() or 1) * (idle1 - idle0) / (total1 - total0)


def threads_for_now(most: int) -> int:
    """Threads for the next answer: at most ``most``, but no more than the cores standing idle.
    llama.cpp's worker threads wait for each other at every step, so on a busy machine (a render, a
    test run) two threads that keep losing their core are about ten times slower than one
    (measured here on 2 cores under a load of 12: 1 thread 5-6, 2 threads 0.5-0.7 tokens/s)."""
    idle = idle_cores()
    if idle is None or most <= 1:
        return most
    return max(1, min(most, int(idle + 0.2)))


def available() -> bool:
    """True when llama-cpp-python can be imported."""
    try:
        import llama_cpp  # noqa: F401
    except Exception:  # noqa: BLE001 - a broken native build raises OSError etc., not only ImportError
        return False
    return True


@register("llm", "llama-cpp")
class LlamaCppLLM:
    """A GGUF model file run by llama.cpp on the CPU (``gpu_layers`` > 0 offloads to a GPU build).

    ``context`` is the context window in tokens; ``seed`` -1 (default) seeds each answer's sampling
    from its messages and settings (same conversation, same answer); ``threads`` 0 uses one per
    physical core that is idle when an answer starts (see :func:`threads_for_now`). ``repack`` lets
    llama.cpp re-pack weights into its CPU-specific "extra buffer" layouts; None (auto) turns that
    off on CPUs with Intel AMX, where llama.cpp 0.3.36's AMX matrix kernel crashes (segfault) on the
    bundled Qwen2.5 GGUF.
    """

    name = "llama-cpp"
    continues_answers = True  # chat() takes ``prefill`` and ``seed``

    def __init__(
        self,
        model_path: str | os.PathLike,
        context: int = 2048,
        threads: int = 0,
        gpu_layers: int = 0,
        seed: int = -1,
        repack: bool | None = None,
    ):
        path = Path(model_path)
        if path.is_dir():
            ggufs = sorted(path.glob("*.gguf"))
            if not ggufs:
                raise FileNotFoundError(f"no .gguf file in {path}")
            path = ggufs[0]
        if not path.exists():
            raise FileNotFoundError(f"no GGUF model at {path}")
        self.model_path = path
        self.adaptive = not threads
        self.seed = seed
        threads = threads or physical_cores()
        self.threads = threads
        if repack is None:
            repack = not cpu_has_amx()
        _keep_output_streams()
        with _model_params(use_extra_bufts=bool(repack)):
            self._llama = _llama_class()(
                model_path=str(path),
                n_ctx=context,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=gpu_layers,
                seed=seed,
                verbose=False,
            )
        self.description = f"{path.name} via llama.cpp"
        self._formatter, self._add_bos = _chat_formatter(self._llama)
        self._pieces: dict[int, bytes] = {}  # token -> its text (see _tokens)
        _OPEN.add(self)
        self._lock = threading.Lock()  # a llama.cpp context serves one chat at a time

    def warm(self, system: str, user: str = "") -> None:
        """Evaluate the fixed start of a prompt ahead of time: llama.cpp keeps it in its cache, so the
        first answer whose prompt starts the same way only evaluates the rest (faster first token).
        ``user`` is the fixed start of the next user message, if any."""
        prompt = self.prompt([{"role": "system", "content": system}, {"role": "user", "content": user + "\x00"}])
        prefix = prompt[: prompt.index("\x00")]
        with self._lock:
            self._adapt_threads()
            tokens = self._llama.tokenize(prefix.encode("utf-8"), add_bos=self._add_bos, special=True)
            # the last token may merge with what follows: keep it out
            tokens = tokens[:-1]
            common = 0
            for a, b in zip(self._llama._input_ids, tokens):
                if a != b:
                    break
                common += 1
            if common < len(tokens):
                self._llama.n_tokens = common
                self._llama.eval(tokens[common:])

    def _tokens(self, prompt: str) -> list[int]:
        """``prompt`` as tokens, reusing the very tokens in llama.cpp's cache where the prompt starts
        with their text. An answer's own tokens often differ from how its text tokenizes afresh
        (``[happy]`` written as ``[``, ``happy``, ``]``): tokenized afresh, a chat that goes on after
        the answer (the next step of a draft, a sentence written again) would evaluate the whole
        answer again instead of only what is new."""
        llama = self._llama
        data = prompt.encode("utf-8")
        cached = list(llama._input_ids[: llama.n_tokens])
        used, k = 0, 0
        for token in cached:
            piece = self._pieces.get(token)
            if piece is None:
                piece = self._pieces[token] = llama.detokenize([token], special=True)
            if not piece or not data.startswith(piece, used):
                break
            used += len(piece)
            k += 1
        if k == 0:
            return llama.tokenize(data, add_bos=self._add_bos, special=True)
        rest = data[used:]
        return cached[:k] + (llama.tokenize(rest, add_bos=False, special=True) if rest else [])

    def _adapt_threads(self) -> None:
        if self.adaptive:
            import llama_cpp

            n = threads_for_now(self.threads)
            llama_cpp.llama_set_n_threads(self._llama._ctx.ctx, n, n)

    def prompt(self, messages: Sequence[Message], prefill: str = "") -> str:
        """The prompt text the model continues: ``messages`` in the model's chat template, then the
        start of the assistant's answer ``prefill``."""
        if self._formatter is None:
            return simple_prompt(messages) + prefill
        return self._formatter(messages=list(messages)).prompt + prefill

    def chat(
        self,
        messages: Sequence[Message],
        *,
        temperature: float = DEFAULT_TEMPERATURE,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        repeat_penalty: float = DEFAULT_REPEAT_PENALTY,
        grammar: str | None = None,
        prefill: str = "",
        seed: int | None = None,
    ) -> Iterator[str]:
        """Stream the answer as text pieces (about one token each); ``grammar`` (GBNF) constrains
        every token the model may write. ``prefill`` is the start of the answer, already written:
        the model goes on from there (only what follows is streamed, and ``grammar`` applies to it
        alone); llama.cpp's cache makes a prefill the previous answer ended with cost nothing.
        ``seed`` replaces the sampling seed drawn from the request (e.g. to write a rejected sentence
        again differently)."""
        messages = check_messages(messages)
        prompt = self.prompt(messages, prefill)
        if seed is None:
            seed = self.seed if self.seed >= 0 else content_seed(messages, temperature, grammar, prefill)
        with self._lock:
            self._adapt_threads()
            try:
                tokens = self._tokens(prompt)
                stream = self._llama.create_completion(
                    prompt=tokens,
                    stream=True,
                    temperature=float(temperature),
                    max_tokens=int(max_tokens),
                    repeat_penalty=float(repeat_penalty),
                    grammar=_grammar(grammar) if grammar else None,
                    seed=seed,
                )
                for chunk in stream:
                    piece = chunk["choices"][0].get("text")
                    if piece:
                        yield piece
            except ValueError as exc:  # llama.cpp reports a too-long prompt as ValueError
                raise LLMError(f"the conversation is too long for the model ({exc}): start a new chat") from exc


def content_seed(messages: Sequence[Message], temperature: float, grammar: str | None, prefill: str = "") -> int:
    """A sampling seed drawn from what is asked: the same conversation and settings give the same answer."""
    asked = [list(messages), round(float(temperature), 4), grammar or ""] + ([prefill] if prefill else [])
    key = json.dumps(asked, sort_keys=True, default=str)
    return zlib.crc32(key.encode("utf-8"))


@functools.lru_cache(maxsize=8)
def _grammar(text: str):
    """A parsed GBNF grammar (parsed once per text); a broken grammar is a plain LLMError."""
    import llama_cpp

    try:
        return llama_cpp.LlamaGrammar.from_string(text, verbose=False)
    except ValueError as exc:
        raise LLMError(f"the answer grammar is not valid GBNF ({exc})") from exc


def _chat_formatter(llama):
    """The model's own chat template (GGUF metadata ``tokenizer.chat_template``) as a formatter, and
    whether the prompt needs a BOS token added; (None, True) for models without a template (ChatML)."""
    from llama_cpp import llama_chat_format

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return None, True
    vocab = llama._model

    def text(token: int) -> str:
        return vocab.token_get_text(token) if token >= 0 else ""

    formatter = llama_chat_format.Jinja2ChatFormatter(
        template=template, eos_token=text(llama.token_eos()), bos_token=text(llama.token_bos())
    )
    return formatter, False  # the template writes the BOS token itself where the model needs one


# ---------------------------------------------------------------------------------------------
# Grammar-constrained sampling that checks the grammar only where it matters
#
# llama-cpp-python puts llama.cpp's grammar sampler first in its chain, so the grammar is checked
# against all 151 936 tokens of Qwen's vocabulary for every token written: a third of the time of
# an answer. llama.cpp's own samplers (common/sampling.cpp) avoid that; so does this one, its own
# way: the repetition penalty and top-k pick the 40 likeliest tokens from the whole vocabulary, the
# grammar strikes out those it forbids, and the rest of the chain (temperature, top-p, min-p, the
# seeded draw) samples from what is left. Only when the grammar forbids all 40 (rare: the model
# wants to write what the grammar excludes, e.g. a colon) is the grammar checked against the whole
# vocabulary before top-k, exactly as llama-cpp-python does it. The grammar only ever accepts a
# token it allowed (llama.cpp aborts the whole process otherwise); when it allows none at all, the
# answer ends.


_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])  # llama_token_data


class GrammarAfterTopK:
    """A sampler with llama-cpp-python's ``sample(ctx, idx) -> token`` interface (see above)."""

    def __init__(
        self,
        llama,
        grammar: str,
        *,
        top_k=40,
        top_p=0.95,
        min_p=0.05,
        typical_p=1.0,
        temp=0.8,
        repeat_penalty=1.0,
        frequency_penalty=0.0,
        presence_penalty=0.0,
        seed=0,
    ):
        import llama_cpp as api

        self._api = api
        self._vocab = llama._model.vocab
        self.n_vocab = llama._n_vocab
        self._made: list = []
        self.grammar = self._make(api.llama_sampler_init_grammar(self._vocab, grammar.encode("utf-8"), b"root"))
        if self.grammar is None:
            raise LLMError("the answer grammar is not valid GBNF")
        self._penalties = self._make(
            api.llama_sampler_init_penalties(
                self.n_vocab, llama.last_n_tokens_size, repeat_penalty, frequency_penalty, presence_penalty
            )
        )
        self._top_k = self._make(api.llama_sampler_init_top_k(max(1, int(top_k))))
        if temp <= 0:
            tail = [api.llama_sampler_init_greedy()]
        else:
            # the temperature first: then a higher one widens what top-p and min-p let through (after
            # them, as in llama-cpp-python's chain, a confident model writes the same at any temperature)
            tail = [
                api.llama_sampler_init_temp(temp),
                api.llama_sampler_init_typical(typical_p, 1),
                api.llama_sampler_init_top_p(top_p, 1),
                api.llama_sampler_init_min_p(min_p, 1),
                api.llama_sampler_init_dist(seed & 0xFFFFFFFF),
            ]
        self._tail = [self._make(t) for t in tail]
        # the whole vocabulary as a llama_token_data array, refilled from the logits for every token
        self._all = (api.llama_token_data * self.n_vocab)()
        self._all_np = np.frombuffer(self._all, dtype=_TOKEN_DATA)
        self._ids = np.arange(self.n_vocab, dtype=np.int32)
        self._few = (api.llama_token_data * max(1, int(top_k)))()
        self.slow_steps = 0  # tokens for which the grammar had to be checked over the whole vocabulary
        self.steps = 0

    def _make(self, sampler):
        if not sampler:
            return None
        self._made.append(sampler)
        return sampler

    def close(self) -> None:
        for sampler in self._made:
            self._api.llama_sampler_free(sampler)
        self._made = []

    def __del__(self, _finalizing=sys.is_finalizing):
        if _finalizing():  # at interpreter exit llama.cpp may be gone already: leave it to the OS
            return
        try:
            self.close()
        except Exception:  # noqa: BLE001 - a finaliser must never raise
            pass

    def _array(self, data, size: int):
        return self._api.llama_token_data_array(
            data=ctypes.cast(data, self._api.llama_token_data_p), size=size, selected=-1, sorted=False
        )

    def _apply(self, sampler, array) -> None:
        self._api.llama_sampler_apply(sampler, ctypes.byref(array))

    def allows(self, token: int) -> bool:
        """True when the grammar allows ``token`` next."""
        one = (self._api.llama_token_data * 1)(self._api.llama_token_data(token, 0.0, 0.0))
        array = self._array(one, 1)
        self._apply(self.grammar, array)
        return bool(np.isfinite(one[0].logit))

    def choose(self, logits: np.ndarray) -> int | None:
        """The next token for the logits of the last position; None when the grammar allows no token."""
        self.steps += 1
        table = self._all_np
        table["id"] = self._ids
        table["logit"] = logits
        table["p"] = 0.0
        everything = self._array(self._all, self.n_vocab)
        self._apply(self._penalties, everything)
        self._apply(self._top_k, everything)
        size = everything.size
        top = self._view(everything)
        few = np.frombuffer(self._few, dtype=_TOKEN_DATA)
        few[:size] = top
        candidates = self._array(self._few, size)
        self._apply(self.grammar, candidates)
        kept = few[:size][np.isfinite(few[:size]["logit"])]
        if len(kept):
            few[: len(kept)] = kept
            candidates = self._array(self._few, len(kept))
        else:  # the grammar forbids all top-k tokens: check it over the whole vocabulary first
            self.slow_steps += 1
            table["id"] = self._ids
            table["logit"] = logits
            table["p"] = 0.0
            candidates = self._array(self._all, self.n_vocab)
            self._apply(self._penalties, candidates)
            self._apply(self.grammar, candidates)
            self._apply(self._top_k, candidates)
            if not np.isfinite(self._view(candidates)["logit"]).any():
                return None
        for sampler in self._tail:
            self._apply(sampler, candidates)
        if not 0 <= candidates.selected < candidates.size:
            return None
        picked = self._view(candidates)[candidates.selected]
        token = int(picked["id"])
        if not np.isfinite(picked["logit"]) or not self.allows(token):
            return None
        return token

    def _view(self, array) -> np.ndarray:
        """The entries of a llama_token_data array as a numpy record array (no copy)."""
        if array.size == 0:
            return np.zeros(0, dtype=_TOKEN_DATA)
        address = ctypes.cast(array.data, ctypes.c_void_p).value
        return np.frombuffer((self._api.llama_token_data * array.size).from_address(address), dtype=_TOKEN_DATA)

    def accept(self, token: int) -> None:
        """Record ``token`` as written (penalties remember it, the grammar moves on)."""
        for sampler in self._made:
            self._api.llama_sampler_accept(sampler, token)

    def sample(self, ctx, idx: int = -1) -> int:
        """llama-cpp-python's sampler interface: the next token at position ``idx`` of ``ctx``; the
        end-of-answer token when the grammar allows nothing (the answer ends instead of crashing)."""
        logits = np.ctypeslib.as_array(self._api.llama_get_logits_ith(ctx.ctx, idx), shape=(self.n_vocab,))
        token = self.choose(logits)
        if token is None:
            return self._eog
        self.accept(token)
        return token


@functools.cache
def _llama_class():
    """llama-cpp-python's ``Llama`` with :class:`GrammarAfterTopK` for answers that have a grammar."""
    import llama_cpp

    class Llama(llama_cpp.Llama):
        def _init_sampler(self, *args, grammar=None, **kwargs):
            if grammar is None or kwargs.get("mirostat_mode", 0) or kwargs.get("logits_processor") is not None:
                return super()._init_sampler(*args, grammar=grammar, **kwargs)
            sampler = GrammarAfterTopK(
                self,
                grammar._grammar,
                top_k=kwargs.get("top_k", 40),
                top_p=kwargs.get("top_p", 0.95),
                min_p=kwargs.get("min_p", 0.05),
                typical_p=kwargs.get("typical_p", 1.0),
                temp=kwargs.get("temp", 0.8),
                repeat_penalty=kwargs.get("repeat_penalty", 1.0),
                frequency_penalty=kwargs.get("frequency_penalty", 0.0),
                presence_penalty=kwargs.get("presence_penalty", 0.0),
                seed=self._seed,
            )
            sampler._eog = self.token_eos()
            return sampler

    return Llama
