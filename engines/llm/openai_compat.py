"""Any OpenAI-compatible chat server on this computer or network: Ollama
(``http://127.0.0.1:11434/v1``), LM Studio (``http://127.0.0.1:1234/v1``), llama.cpp's server
(``http://127.0.0.1:8080/v1``). Answers stream as server-sent events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from engines.llm.base import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_REPEAT_PENALTY,
    DEFAULT_TEMPERATURE,
    LLMError,
    Message,
    check_messages,
)
from engines.registry import register


def _base(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    for suffix in ("/chat/completions", "/completions"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url


@register("llm", "openai-compatible")
class OpenAICompatibleLLM:
    """Chat through ``POST {base_url}/chat/completions`` with ``stream: true``.

    ``base_url`` usually ends in ``/v1``; ``model`` is the server's model name (empty = ask the
    server and take its first model); ``timeout`` is in seconds, per read.
    """

    name = "openai-compatible"

    def __init__(self, base_url: str, model: str = "", api_key: str = "", timeout: float = 120.0):
        import requests

        self.base_url = _base(base_url)
        self.timeout = timeout
        self._http = requests.Session()
        self._http.headers["Content-Type"] = "application/json"
        if api_key:
            self._http.headers["Authorization"] = f"Bearer {api_key}"
        self.model = model or self._first_model()
        self.description = f"{self.model or 'server model'} at {self.base_url}"

    def _get(self, path: str):
        import requests

        try:
            resp = self._http.get(f"{self.base_url}{path}", timeout=min(self.timeout, 10.0))
        except requests.RequestException as exc:
            raise LLMError(
                f"no chat server answers at {self.base_url}: start it (e.g. `ollama serve`) or check the address"
            ) from exc
        return resp

    def models(self) -> list[str]:
        """Model names the server offers (``GET /models``); empty if it does not say."""
        resp = self._get("/models")
        if resp.status_code != 200:
            return []
        try:
            return [m["id"] for m in resp.json().get("data", []) if "id" in m]
        except (ValueError, AttributeError, TypeError):
            return []

    def _first_model(self) -> str:
        names = self.models()
        return names[0] if names else ""

    def chat(
        self,
        messages: Sequence[Message],
        *,
        temperature: float = DEFAULT_TEMPERATURE,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        repeat_penalty: float = DEFAULT_REPEAT_PENALTY,
        grammar: str | None = None,
    ) -> Iterator[str]:
        """Stream the answer's text pieces as the server sends them. ``grammar`` is not sent (servers
        differ in whether and how they take one); ``repeat_penalty`` goes as llama.cpp's and Ollama's
        ``repeat_penalty`` and as OpenAI's ``frequency_penalty``."""
        import requests

        body = {
            "model": self.model,
            "messages": check_messages(messages),
            "stream": True,
            "temperature": float(temperature),
            "max_tokens": int(max_tokens),
        }
        if repeat_penalty != 1.0:
            body["repeat_penalty"] = float(repeat_penalty)
            body["frequency_penalty"] = round(max(0.0, min(2.0, repeat_penalty - 1.0)), 3)
        try:
            resp = self._http.post(
                f"{self.base_url}/chat/completions", data=json.dumps(body), stream=True, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise LLMError(
                f"no chat server answers at {self.base_url}: start it (e.g. `ollama serve`) or check the address"
            ) from exc
        with resp:
            if resp.status_code != 200:
                raise LLMError(
                    f"the chat server at {self.base_url} refused the request "
                    f"(HTTP {resp.status_code}: {resp.text[:200].strip()})"
                )
            if "text/event-stream" not in resp.headers.get("Content-Type", ""):
                # a server that ignores "stream": one JSON answer
                try:
                    text = resp.json()["choices"][0]["message"]["content"]
                except (ValueError, KeyError, IndexError, TypeError) as exc:
                    raise LLMError(
                        f"the chat server at {self.base_url} sent an answer this studio does not understand"
                    ) from exc
                if text:
                    yield text
                return
            try:
                yield from self._events(resp)
            except requests.RequestException as exc:
                raise LLMError(f"the chat server at {self.base_url} stopped answering ({exc})") from exc

    @staticmethod
    def _lines(resp) -> Iterator[bytes]:
        """The body's lines as soon as each one arrives (``iter_lines`` would wait for 512 bytes,
        holding back the first tokens)."""
        read1 = getattr(resp.raw, "read1", None)
        if read1 is None:  # not urllib3 2.x: fall back to small reads
            yield from resp.iter_lines(chunk_size=64)
            return
        pending = b""
        while True:
            data = read1(8192, decode_content=True)
            if not data:
                break
            pending += data
            *lines, pending = pending.split(b"\n")
            yield from lines
        if pending:
            yield pending

    @classmethod
    def _events(cls, resp) -> Iterator[str]:
        for raw in cls._lines(resp):
            line = raw.decode("utf-8", "replace").strip() if raw else ""
            if not line.startswith("data:"):
                continue  # blank keep-alives, comments (": ping"), "event:" lines
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                event = json.loads(data)
            except ValueError:
                continue
            if "error" in event:
                message = event["error"].get("message") if isinstance(event["error"], dict) else event["error"]
                raise LLMError(f"the chat server reported an error: {message}")
            for choice in event.get("choices", []):
                piece = (choice.get("delta") or {}).get("content") or choice.get("text")
                if piece:
                    yield piece
