"""GGUF chat models through llama-cpp-python (the embedded default: Qwen2.5 0.5B Instruct Q4_K_M).

llama-cpp-python compiles from source at install time, so it may be missing: importing this module
then raises ImportError and the studio falls back to transformers (and says so).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Iterator, Sequence

from engines.llm.base import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, LLMError, Message, check_messages
from engines.registry import register


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

    ``context`` is the context window in tokens; ``threads`` 0 uses every core.
    """

    name = "llama-cpp"

    def __init__(self, model_path: str | os.PathLike, context: int = 2048, threads: int = 0,
                 gpu_layers: int = 0, seed: int = -1):
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
        threads = threads or (os.cpu_count() or 1)
        self._llama = llama_cpp.Llama(model_path=str(path), n_ctx=context, n_threads=threads,
                                      n_threads_batch=threads, n_gpu_layers=gpu_layers, seed=seed,
                                      verbose=False)
        self.description = f"{path.name} via llama.cpp"
        self._lock = threading.Lock()  # a llama.cpp context serves one chat at a time

    def chat(self, messages: Sequence[Message], *, temperature: float = DEFAULT_TEMPERATURE,
             max_tokens: int = DEFAULT_MAX_TOKENS) -> Iterator[str]:
        """Stream the answer as text pieces (about one token each)."""
        messages = check_messages(messages)
        with self._lock:
            try:
                stream = self._llama.create_chat_completion(messages=messages, stream=True,
                                                            temperature=float(temperature),
                                                            max_tokens=int(max_tokens))
                for chunk in stream:
                    piece = chunk["choices"][0].get("delta", {}).get("content")
                    if piece:
                        yield piece
            except ValueError as exc:  # llama.cpp reports a too-long prompt as ValueError
                raise LLMError(f"the conversation is too long for the model ({exc}): start a new chat") from exc
