"""How the executor reads an OpenAI chat completion (JSON, or the SSE events of a stream) for the cascade's check."""

from __future__ import annotations

import json
from typing import Any

from ..executor import AnswerReader


def _message(answer: dict[str, Any]) -> dict[str, Any]:
    choices = answer.get("choices") or [{}]
    return choices[0].get("message") or {}


def answer_text(answer: dict[str, Any]) -> str:
    content = _message(answer).get("content")
    return content if isinstance(content, str) else ""


def answer_has_tool_calls(answer: dict[str, Any]) -> bool:
    return bool(_message(answer).get("tool_calls"))


def merge_events(events: list[bytes]) -> dict[str, Any]:
    """A streamed answer (the SSE events ``sse_events`` re-encoded) as a chat completion: text and tool calls."""
    text, tools = [], False
    for event in events:
        for line in event.decode("utf-8", "replace").splitlines():
            payload = line.removeprefix("data:").strip()
            if not line.startswith("data:") or payload == "[DONE]":
                continue
            try:
                delta = (json.loads(payload).get("choices") or [{}])[0].get("delta") or {}
            except (ValueError, AttributeError, IndexError):
                continue
            text.append(delta.get("content") or "")
            tools = tools or bool(delta.get("tool_calls"))
    message: dict[str, Any] = {"content": "".join(text)}
    if tools:
        message["tool_calls"] = [{}]
    return {"choices": [{"message": message}]}


READER = AnswerReader(answer_text, answer_has_tool_calls)
STREAM_READER = AnswerReader(answer_text, answer_has_tool_calls, merge_events)
