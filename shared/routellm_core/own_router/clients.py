"""Strong, weak and judge models behind one async call: an OpenAI-compatible endpoint, a LangChain chat
model or a LlamaIndex LLM.

The labeller needs only "messages in, text and token counts out" and to know whether a failure is
worth a retry (timeouts, connection errors, 429, 5xx) or not (any other 4xx). API keys are pydantic
``SecretStr``: never in a repr, a log line or an error message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pydantic import SecretStr

from ..errors import InvalidInputError
from ..pricing import DEFAULT_PRICES, Price


@dataclass(frozen=True)
class ChatResult:
    text: str
    input_tokens: int
    output_tokens: int


class TransientError(RuntimeError):
    """A failure worth retrying (timeout, connection error, 429, 5xx, an unparseable verdict)."""


class PermanentError(RuntimeError):
    """A failure a retry will not fix (401, 400, ...): the prompt gets an error row at once."""


@runtime_checkable
class ChatClient(Protocol):
    name: str
    price: Price | None

    async def chat(self, messages: list[dict[str, str]]) -> ChatResult: ...


def estimate_tokens(text: str) -> int:
    """About 4 characters per token: used when a provider reports no usage."""
    return max(1, len(text) // 4)


def _price_for(name: str, price: Price | str | None) -> Price | None:
    if isinstance(price, str):
        return Price.parse(price)
    if price is not None:
        return price
    from ..models import canonical_model_name

    return DEFAULT_PRICES.get(canonical_model_name(name))


def _classify(exc: BaseException) -> BaseException:
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int) and 400 <= status < 500 and status not in (408, 409, 429):
        return PermanentError(f"{type(exc).__name__} (HTTP {status})")
    return TransientError(f"{type(exc).__name__}: {str(exc)[:200]}")


class OpenAICompatibleClient:
    """Chat Completions on ``base_url`` (``http://host/v1``) for ``model``; key from ``api_key`` or ``api_key_env``."""

    def __init__(self, model: str, base_url: str | None = None, api_key: SecretStr | str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", timeout: float = 120.0, price: Price | str | None = None,
                 max_tokens: int | None = None, temperature: float | None = 0.0) -> None:
        if not model:
            raise InvalidInputError("an OpenAI-compatible model needs a model name")
        self.name = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        key = api_key if api_key is not None else os.environ.get(api_key_env)
        self.api_key: SecretStr | None = key if isinstance(key, SecretStr) or key is None else SecretStr(key)
        self.timeout, self.max_tokens, self.temperature = float(timeout), max_tokens, temperature
        self.price = _price_for(model, price)
        self._http: Any = None

    def __repr__(self) -> str:
        return f"OpenAICompatibleClient(model={self.name!r}, base_url={self.base_url!r})"

    async def chat(self, messages: list[dict[str, str]]) -> ChatResult:
        import httpx

        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.timeout)
        body: dict[str, Any] = {"model": self.name, "messages": messages}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens:
            body["max_tokens"] = self.max_tokens
        headers = {"Authorization": f"Bearer {self.api_key.get_secret_value()}"} if self.api_key else {}
        try:
            response = await self._http.post(f"{self.base_url}/chat/completions", json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientError(f"{type(exc).__name__} calling {self.name}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"HTTP {response.status_code} from {self.name}")
        if response.status_code >= 400:
            raise PermanentError(f"HTTP {response.status_code} from {self.name}: {response.text[:200]}")
        try:
            data = response.json()
            text = data["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise TransientError(f"malformed response from {self.name}") from None
        usage = data.get("usage") or {}
        return ChatResult(text, int(usage.get("prompt_tokens") or estimate_tokens(" ".join(m["content"] for m in messages))),
                          int(usage.get("completion_tokens") or estimate_tokens(text)))

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


class LangChainClient:
    """Any LangChain chat model (``ainvoke``); token counts from ``usage_metadata`` when it has them."""

    def __init__(self, model: Any, name: str | None = None, price: Price | str | None = None) -> None:
        self.model = model
        self.name = name or getattr(model, "model_name", None) or getattr(model, "model", None) or type(model).__name__
        self.price = _price_for(self.name, price)

    async def chat(self, messages: list[dict[str, str]]) -> ChatResult:
        try:
            message = await self.model.ainvoke([(m["role"], m["content"]) for m in messages])
        except Exception as exc:  # noqa: BLE001 - any provider error is classified, never raised raw
            raise _classify(exc) from None
        text = message.content if isinstance(message.content, str) else str(message.content)
        usage = getattr(message, "usage_metadata", None) or {}
        return ChatResult(text, int(usage.get("input_tokens") or estimate_tokens(" ".join(m["content"] for m in messages))),
                          int(usage.get("output_tokens") or estimate_tokens(text)))


class LlamaIndexClient:
    """Any LlamaIndex LLM (``achat``); token counts from the raw response's usage when present."""

    def __init__(self, llm: Any, name: str | None = None, price: Price | str | None = None) -> None:
        self.llm = llm
        meta = getattr(llm, "metadata", None)
        self.name = name or getattr(meta, "model_name", None) or getattr(llm, "model", None) or type(llm).__name__
        self.price = _price_for(self.name, price)

    async def chat(self, messages: list[dict[str, str]]) -> ChatResult:
        from llama_index.core.llms import ChatMessage

        try:
            response = await self.llm.achat([ChatMessage(role=m["role"], content=m["content"]) for m in messages])
        except Exception as exc:  # noqa: BLE001
            raise _classify(exc) from None
        text = response.message.content or ""
        raw = getattr(response, "raw", None)
        usage = (raw.get("usage") if isinstance(raw, dict) else getattr(raw, "usage", None)) or {}
        if not isinstance(usage, dict):
            usage = {"prompt_tokens": getattr(usage, "prompt_tokens", 0), "completion_tokens": getattr(usage, "completion_tokens", 0)}
        return ChatResult(text, int(usage.get("prompt_tokens") or estimate_tokens(" ".join(m["content"] for m in messages))),
                          int(usage.get("completion_tokens") or estimate_tokens(text)))


def as_client(model: Any, name: str | None = None, price: Price | str | None = None) -> ChatClient:
    """A :class:`ChatClient` for a client, a LangChain chat model, a LlamaIndex LLM, or ``"model@base_url"``."""
    if isinstance(model, str):
        model_name, _, base_url = model.partition("@")
        return OpenAICompatibleClient(model_name, base_url or None, price=price)
    if hasattr(model, "ainvoke") and hasattr(model, "invoke"):
        return LangChainClient(model, name, price)
    if hasattr(model, "achat") and hasattr(model, "metadata"):
        return LlamaIndexClient(model, name, price)
    if isinstance(model, ChatClient):
        return model
    raise InvalidInputError(f"cannot use {type(model).__name__} as a model: pass a LangChain chat model, a LlamaIndex "
                            "LLM, an OpenAI-compatible 'model@base_url' or a ChatClient")
