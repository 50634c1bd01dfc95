"""Cascade mode of ``RouteLLM``: LlamaIndex plumbing around the engine's CascadePolicy.

The engine decides (who answers first, whether the weak answer is inadequate, what is billed);
this module reads a LlamaIndex response's text and tool calls, calls the chosen LLM, and labels the
kept answer (``additional_kwargs["routellm"]``, ``raw["routellm"]``, a routing event).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

from routellm_core.cascade_policy import CascadePolicy, build_cascade
from routellm_core.policy import RoutingPolicy
from routellm_core.routers.base import Role

from ._responses import annotate
from .events import emit_routing_event

if TYPE_CHECKING:
    from llama_index.core.llms.llm import LLM

    from .llm import RouteLLM


def cascade_threshold(cascade: Any, threshold: float | None, strong_fraction: float | None) -> float | None:
    """The prompt router's threshold: a cascade without a routing mode never asks the router (1.0 fills the slot)."""
    if cascade in (None, False) or threshold is not None or strong_fraction is not None:
        return threshold
    return 1.0


def resolve_cascade(cascade: Any, policy: RoutingPolicy, routed: bool) -> CascadePolicy | None:
    """The engine's cascade for ``cascade=`` (loaded now, so a missing scorer fails at construction)."""
    if cascade in (None, False):
        return None
    spec = {} if cascade is True else cascade
    if isinstance(spec, Mapping):
        spec = {"prompt_routing": routed, **spec}
    built = build_cascade(spec, policy)
    assert built is not None
    return built.resolve()


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


def _last(chunks: list[Any]) -> Any:
    return chunks[-1]


def _models(owner: RouteLLM) -> dict[Role, str]:
    return {"strong": owner.strong.metadata.model_name, "weak": owner.weak.metadata.model_name}


def _labelled(response: Any, meta: dict[str, Any], first: bool) -> Any:
    if first:
        emit_routing_event(meta, "llm")
    return annotate(response, meta)


def run(owner: RouteLLM, cascade: CascadePolicy, text: str, call: Callable[[LLM], Any]) -> Any:
    r = cascade.run(text, lambda role: call(owner._llm(role)), response_text, has_tool_calls, _models(owner))
    return _labelled(r.answer, r.metadata, True)


async def arun(owner: RouteLLM, cascade: CascadePolicy, text: str, call: Callable[[LLM], Any]) -> Any:
    r = await cascade.arun(text, lambda role: call(owner._llm(role)), response_text, has_tool_calls, _models(owner))
    return _labelled(r.answer, r.metadata, True)


def stream(owner: RouteLLM, cascade: CascadePolicy, text: str, start: Callable[[LLM], Any]) -> Generator[Any, None, None]:
    """The weak answer is buffered until scored, then it or the strong answer streams."""
    first = True
    for chunk, meta in cascade.stream(text, lambda role: start(owner._llm(role)), _last, response_text, has_tool_calls,
                                      _models(owner)):
        yield _labelled(chunk, meta, first)
        first = False


async def astream(owner: RouteLLM, cascade: CascadePolicy, text: str,
                  start: Callable[[LLM], Any]) -> AsyncGenerator[Any, None]:
    first = True
    async for chunk, meta in cascade.astream(text, lambda role: start(owner._llm(role)), _last, response_text,
                                             has_tool_calls, _models(owner)):
        yield _labelled(chunk, meta, first)
        first = False
