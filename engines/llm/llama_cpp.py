"""GGUF chat models through llama-cpp-python (the embedded default: Qwen2.5 0.5B Instruct Q4_K_M).

llama-cpp-python compiles from source at install time, so it may be missing: importing this module
then raises ImportError and the studio falls back to transformers (and says so).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import logging
import os
import threading
import time
import weakref
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from engines.llm.base import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_REPEAT_PENALTY,
    DEFAULT_TEMPERATURE,
    LLMError,
    Message,
    check_messages,
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

    def __init__(
        self,
        model_path: str | os.PathLike,
        context: int = 2048,
        threads: int = 0,
        gpu_layers: int = 0,
        seed: int = -1,
        repack: bool | None = None,
    ):
        import llama_cpp

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
            self._llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=context,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=gpu_layers,
                seed=seed,
                verbose=False,
            )
        self.description = f"{path.name} via llama.cpp"
        _OPEN.add(self)
        self._lock = threading.Lock()  # a llama.cpp context serves one chat at a time

    def warm(self, system: str) -> None:
        """Evaluate a system prompt ahead of time: llama.cpp keeps it in its cache, so the first
        answer that starts with the same system text only evaluates the rest (faster first token)."""
        for _ in self.chat(
            [{"role": "system", "content": system}, {"role": "user", "content": "Hi"}], temperature=0.0, max_tokens=1
        ):
            pass

    def chat(
        self,
        messages: Sequence[Message],
        *,
        temperature: float = DEFAULT_TEMPERATURE,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        repeat_penalty: float = DEFAULT_REPEAT_PENALTY,
        grammar: str | None = None,
    ) -> Iterator[str]:
        """Stream the answer as text pieces (about one token each); ``grammar`` (GBNF) constrains
        every token the model may write."""
        messages = check_messages(messages)
        with self._lock:
            if self.adaptive:
                import llama_cpp

                n = threads_for_now(self.threads)
                llama_cpp.llama_set_n_threads(self._llama._ctx.ctx, n, n)
            try:
                stream = self._llama.create_chat_completion(
                    messages=messages,
                    stream=True,
                    temperature=float(temperature),
                    max_tokens=int(max_tokens),
                    repeat_penalty=float(repeat_penalty),
                    grammar=_grammar(grammar) if grammar else None,
                    seed=self.seed if self.seed >= 0 else content_seed(messages, temperature, grammar),
                )
                for chunk in stream:
                    piece = chunk["choices"][0].get("delta", {}).get("content")
                    if piece:
                        yield piece
            except ValueError as exc:  # llama.cpp reports a too-long prompt as ValueError
                raise LLMError(f"the conversation is too long for the model ({exc}): start a new chat") from exc


def content_seed(messages: Sequence[Message], temperature: float, grammar: str | None) -> int:
    """A sampling seed drawn from what is asked: the same conversation and settings give the same answer."""
    key = json.dumps([list(messages), round(float(temperature), 4), grammar or ""], sort_keys=True, default=str)
    return zlib.crc32(key.encode("utf-8"))


@functools.lru_cache(maxsize=8)
def _grammar(text: str):
    """A parsed GBNF grammar (parsed once per text); a broken grammar is a plain LLMError."""
    import llama_cpp

    try:
        return llama_cpp.LlamaGrammar.from_string(text, verbose=False)
    except ValueError as exc:
        raise LLMError(f"the answer grammar is not valid GBNF ({exc})") from exc
