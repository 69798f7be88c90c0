"""Any Hugging Face causal language model (a local folder, a cached repo id, or a GGUF file)
through ``transformers``.

This is also the fallback for the embedded GGUF when llama-cpp-python is missing: transformers
de-quantizes GGUF weights (needs the ``gguf`` package), which is much slower but needs no compiler.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

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


@register("llm", "transformers")
class TransformersLLM:
    """A causal LM and its tokenizer loaded with ``from_pretrained``.

    ``model`` is a folder (or a Hugging Face repo id already in the local cache, or downloadable);
    ``gguf_file`` names a GGUF file inside that folder. ``device`` is "cpu" or "cuda".
    """

    name = "transformers"

    def __init__(self, model: str | os.PathLike, gguf_file: str | None = None, device: str = "cpu", threads: int = 0):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        source = str(model)
        path = Path(source).expanduser()
        if path.is_file() and path.suffix == ".gguf":  # a GGUF file given directly
            source, gguf_file = str(path.parent), path.name
        elif path.exists():
            source = str(path)
        kwargs = {"gguf_file": gguf_file} if gguf_file else {}
        if threads:
            torch.set_num_threads(threads)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
            self.model = AutoModelForCausalLM.from_pretrained(
                source, dtype=torch.float16 if device.startswith("cuda") else torch.float32, **kwargs
            )
        except ImportError as exc:  # e.g. GGUF support needs the ``gguf`` package
            raise LLMError(f"transformers cannot load {path.name or source}: {exc}") from exc
        except OSError as exc:
            raise LLMError(
                f"no usable model at '{source}': give a folder with config.json and "
                f"tokenizer files, or a .gguf file ({exc})"
            ) from exc
        self.model.to(device).eval()
        self.device = device
        self.description = f"{Path(gguf_file).name if gguf_file else path.name or source} via transformers"
        self._lock = threading.Lock()

    def _prompt_ids(self, messages: list[Message]):
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            text = simple_prompt(messages)
        return tok(text, return_tensors="pt", add_special_tokens=False).to(self.device)

    def chat(
        self,
        messages: Sequence[Message],
        *,
        temperature: float = DEFAULT_TEMPERATURE,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        repeat_penalty: float = DEFAULT_REPEAT_PENALTY,
        grammar: str | None = None,
    ) -> Iterator[str]:
        """Stream the answer as decoded text pieces; closing the iterator stops generation.
        ``grammar`` is ignored (transformers has no GBNF decoding; the studio cleans the answer)."""
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        messages = check_messages(messages)
        stop = threading.Event()

        class _StopWhenAsked(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return stop.is_set()

        with self._lock:
            inputs = self._prompt_ids(messages)
            streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
            tok = self.tokenizer
            settings = dict(
                **inputs,
                max_new_tokens=int(max_tokens),
                streamer=streamer,
                stopping_criteria=StoppingCriteriaList([_StopWhenAsked()]),
                pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
            )
            if repeat_penalty != 1.0:
                settings["repetition_penalty"] = float(repeat_penalty)
            if temperature > 0:
                settings.update(do_sample=True, temperature=float(temperature), top_p=0.95)
            else:
                settings.update(do_sample=False)
            failure: list[BaseException] = []

            def generate() -> None:
                try:
                    self.model.generate(**settings)
                except BaseException as exc:  # noqa: BLE001 - reported in the caller's thread
                    failure.append(exc)
                    streamer.end()

            worker = threading.Thread(target=generate, name="llm-generate", daemon=True)
            worker.start()
            try:
                for piece in streamer:
                    if piece:
                        yield piece
            finally:
                stop.set()
                worker.join()
            if failure:
                raise LLMError(f"the model failed while writing: {failure[0]}") from failure[0]
