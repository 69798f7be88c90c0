"""The chat-model interface: messages in, a stream of text pieces out.

Every back-end (llama.cpp GGUF, transformers, an OpenAI-compatible server) implements
``chat(messages, temperature, max_tokens, repeat_penalty, grammar) -> Iterator[str]``. Closing the
iterator early (the user pressed Stop) stops generation. ``grammar`` is a GBNF grammar the answer must
follow; back-ends that cannot constrain decoding ignore it (their answers are cleaned afterwards).

A back-end that can go on from a given start of its answer (llama.cpp) says so with
``continues_answers = True``; its ``chat`` then also takes ``prefill`` (the start of the answer,
already written: only what follows is streamed, and ``grammar`` applies to that alone) and ``seed``
(instead of the seed drawn from the request, to write a rejected sentence again differently).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, TypedDict

DEFAULT_TEMPERATURE = 0.7
DEFAULT_MAX_TOKENS = 400  # about 300 words: a 2-minute script
DEFAULT_REPEAT_PENALTY = 1.0  # 1 = off; 1.1 makes recently used words a little less likely


class Message(TypedDict):
    """One chat turn: ``role`` is "system", "user" or "assistant"."""

    role: str
    content: str


class LLMError(RuntimeError):
    """The model or server could not answer; the message says why in plain words."""


class LLM(Protocol):
    """A chat model."""

    name: str
    description: str  # what is loaded, for the UI ("Qwen2.5 0.5B GGUF via llama.cpp")

    def chat(
        self,
        messages: Sequence[Message],
        *,
        temperature: float = DEFAULT_TEMPERATURE,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        repeat_penalty: float = DEFAULT_REPEAT_PENALTY,
        grammar: str | None = None,
    ) -> Iterator[str]:
        """Stream the assistant's answer as text pieces (tokens or small groups of them)."""
        ...


def check_messages(messages: Sequence[Message]) -> list[Message]:
    """Validate roles and contents; returns plain dicts (raises ValueError when malformed)."""
    out: list[Message] = []
    for m in messages:
        role, content = m.get("role"), m.get("content")
        if role not in ("system", "user", "assistant") or not isinstance(content, str):
            raise ValueError(f"bad chat message: {m!r}")
        out.append({"role": role, "content": content})
    if not out or out[-1]["role"] != "user":
        raise ValueError("the last chat message must come from the user")
    return out


def simple_prompt(messages: Sequence[Message]) -> str:
    """A ChatML prompt, for models whose tokenizer has no chat template of its own."""
    parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
    return "".join(parts) + "<|im_start|>assistant\n"
