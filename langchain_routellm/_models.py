"""Chat models built from OpenAI model names, for ``ChatRouteLLM(strong="gpt-4o", weak="gpt-4o-mini")``."""

from __future__ import annotations

from typing import Any

from langchain_core.utils import secret_from_env

from routellm_core import InvalidInputError


def build_chat_model(value: Any, values: dict[str, Any], role: str) -> Any:
    """A model name (str) becomes a ChatOpenAI client built from the shared connection settings."""
    if not isinstance(value, str):
        return value
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:  # pragma: no cover - langchain-openai is in the extra
        raise InvalidInputError(f"{role}={value!r} is a model name, which needs langchain-openai "
                                "(pip install 'routellm-plugin[langchain]'); or pass a chat model object") from None
    kwargs: dict[str, Any] = {"model": value.removeprefix("openai:")}
    for ours, theirs in (("api_key", "api_key"), ("base_url", "base_url"), ("temperature", "temperature"),
                         ("max_tokens", "max_tokens"), ("timeout", "timeout"), ("max_retries", "max_retries")):
        if values.get(ours) is not None:
            kwargs[theirs] = values[ours]
    if "api_key" not in kwargs:
        kwargs["api_key"] = secret_from_env("OPENAI_API_KEY", default=None)()
    if kwargs.get("api_key") is None:
        raise InvalidInputError(f"{role}={value!r} is an OpenAI model name but no API key is set: pass api_key=... "
                                "or set OPENAI_API_KEY (or pass a chat model object)")
    return ChatOpenAI(**kwargs)
