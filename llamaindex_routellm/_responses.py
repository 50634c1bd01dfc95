"""Labelling routed responses, and dumps of the wrapped LLMs without their credentials."""

from __future__ import annotations

from typing import Any, TypeVar

from llama_index.core.base.llms.types import ChatResponse, CompletionResponse
from llama_index.core.bridge.pydantic import BaseModel

R = TypeVar("R", ChatResponse, CompletionResponse)

_SECRET_KEYS = {"api_key", "api_secret", "secret", "password", "token", "access_token", "aws_secret_access_key",
                "aws_session_token", "default_headers", "additional_headers"}


def _routed_raw(raw: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """The underlying raw response as a dict (its fields kept at the top level) plus ``routellm``."""
    if raw is None:
        base: dict[str, Any] = {}
    elif isinstance(raw, dict):
        base = dict(raw)
    elif isinstance(raw, BaseModel):
        base = raw.model_dump()
    else:
        base = {"raw": raw}
    base["routellm"] = payload
    return base


def annotate(response: R, payload: dict[str, Any]) -> R:
    """``routellm`` metadata in ``additional_kwargs`` and ``raw`` of a response (or stream chunk)."""
    response.additional_kwargs = {**(response.additional_kwargs or {}), "routellm": payload}
    response.raw = _routed_raw(response.raw, payload)
    return response


def response_text(response: Any) -> str:
    """A chat or completion response's text (stream chunks carry the text so far)."""
    message = getattr(response, "message", None)
    if message is not None:
        return message.content or ""
    return getattr(response, "text", None) or ""


def has_tool_calls(response: Any) -> bool:
    """A tool request is not a final answer: the engine never cascades it."""
    message = getattr(response, "message", None)
    if message is None:
        return False
    if (message.additional_kwargs or {}).get("tool_calls"):
        return True
    return any(getattr(block, "block_type", None) == "tool_call" for block in getattr(message, "blocks", []) or [])


def redact(data: Any) -> Any:
    """A dump without credentials: wrapped LLMs' own dumps may carry their API keys or auth headers."""
    if isinstance(data, dict):
        return {k: redact(v) for k, v in data.items()
                if not (isinstance(k, str) and (k.lower() in _SECRET_KEYS or k.lower().endswith("_api_key")))}
    if isinstance(data, list):
        return [redact(v) for v in data]
    return data
