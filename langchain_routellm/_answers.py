"""How the engine reads LangChain answers (text, tool calls) and how answers carry the routing metadata."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.messages import BaseMessage
from pydantic import BaseModel

from routellm_core import AnswerReader, InvalidInputError

_TEXT_KEYS = ("answer", "output", "result", "text", "content")


def output_text(output: Any) -> str:
    """The text of an answer the cascade's scorer judges: a message, a string, or a dict holding one."""
    if isinstance(output, BaseMessage):
        return output.text
    if isinstance(output, str):
        return output
    if isinstance(output, Mapping):
        for key in ("raw", *_TEXT_KEYS):
            if isinstance(output.get(key), (str, BaseMessage)):
                return output_text(output[key])
    raise InvalidInputError(f"the cascade cannot read the text of a {type(output).__name__} answer: "
                            "give cascade={..., 'answer_text': <function output -> str>}")


def structured_text(output: Any) -> str:
    """The text of a structured answer: the raw message when kept, else the parsed object as JSON."""
    if isinstance(output, Mapping) and isinstance(output.get("raw"), BaseMessage):
        return output_text(output["raw"])
    if isinstance(output, BaseModel):
        return output.model_dump_json()
    try:
        return json.dumps(output, default=str)
    except (TypeError, ValueError):
        return str(output)


def has_tool_calls(output: Any) -> bool:
    """A tool request is not a final answer: the engine never cascades it."""
    message = output.get("raw") if isinstance(output, Mapping) else output
    return bool(getattr(message, "tool_calls", None))


def answer_reader(cascade: Any) -> AnswerReader:
    """The reader for a front-end's ``cascade`` setting (a dict may name its own ``answer_text``)."""
    custom: Callable[[Any], str] | None = cascade.get("answer_text") if isinstance(cascade, Mapping) else None
    return AnswerReader(custom or output_text, has_tool_calls)


def annotate(output: Any, meta: dict[str, Any]) -> Any:
    """Add ``response_metadata["routellm"]`` to a message output (or to ``raw`` of an include_raw dict)."""
    if isinstance(output, BaseMessage) and hasattr(output, "response_metadata"):
        return output.model_copy(update={"response_metadata": {**output.response_metadata, "routellm": meta}})
    if isinstance(output, dict) and isinstance(output.get("raw"), BaseMessage):
        return {**output, "raw": annotate(output["raw"], meta)}
    return output
