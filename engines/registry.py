"""A tiny registry: one decorator per back-end, looked up by role and name.

@register("tts", "piper")
class PiperTTS: ...

tts = create("tts", "piper", **kwargs)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {}

# Back-end modules imported lazily on first lookup, so heavy stacks load only when used.
_MODULES: dict[str, dict[str, str]] = {
    "tts": {"piper": "engines.tts.piper", "xtts": "engines.tts.xtts"},
    "face": {"dlib68": "engines.face.dlib68", "fan": "engines.face.fan"},
    "animate": {"procedural": "engines.animate.procedural", "musetalk": "engines.animate.neural.engine"},
    "asr": {"faster-whisper": "engines.asr.faster_whisper"},
    "llm": {
        "llama-cpp": "engines.llm.llama_cpp",
        "transformers": "engines.llm.transformers_llm",
        "openai-compatible": "engines.llm.openai_compat",
    },
    "vad": {"silero": "engines.voice.vad"},
    "speaker": {"resemblyzer": "engines.voice.embedding"},
    "enhance": {"deepfilternet": "engines.voice.enhance"},
    "voice_match": {"world": "engines.voice.match"},
    "voice_convert": {"openvoice": "engines.voice.openvoice.converter"},
}


def register(role: str, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        _REGISTRY.setdefault(role, {})[name] = factory
        return factory

    return deco


def names(role: str) -> list[str]:
    return sorted(set(_MODULES.get(role, {})) | set(_REGISTRY.get(role, {})))


def create(role: str, name: str, **kwargs: Any) -> Any:
    if name not in _REGISTRY.get(role, {}) and name in _MODULES.get(role, {}):
        importlib.import_module(_MODULES[role][name])
    try:
        factory = _REGISTRY[role][name]
    except KeyError:
        raise KeyError(f"no {role} back-end named '{name}' (known: {', '.join(names(role)) or 'none'})") from None
    return factory(**kwargs)
