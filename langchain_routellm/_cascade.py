"""Cascade mode of ChatRouteLLM and RouteLLMRunnable: LangChain plumbing around the engine's CascadePolicy.

The engine decides everything (who answers first, whether the weak answer is inadequate, what is
billed); this module only turns LangChain calls into ``call(role)`` / ``start(role)`` functions,
reads an answer's text and tool calls, and labels the kept answer with the metadata.
"""

from __future__ import annotations

import json
import operator
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from functools import reduce
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import adispatch_custom_event, dispatch_custom_event
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableConfig, patch_config
from pydantic import BaseModel, PrivateAttr, model_validator

from routellm_core import InvalidInputError, RoutingPolicy
from routellm_core.cascade_policy import CascadePolicy, build_cascade
from routellm_core.policy import Attempt, flat_metadata
from routellm_core.routers.base import Role

from ._policy import model_name

if TYPE_CHECKING:
    from ._call_plan import CallPlan
    from .chat_models import ChatRouteLLM
    from .runnables import RouteLLMRunnable

_TEXT_KEYS = ("answer", "output", "result", "text", "content")


class CascadeFields(BaseModel):
    """The ``cascade`` setting shared by ChatRouteLLM and RouteLLMRunnable."""

    cascade: Any = None
    """None: route on the prompt only. Else answer-aware routing: a ``CascadePolicy`` or a dict of its
    settings (``escalate_threshold``, ``scorer``, ``escalate_fraction`` + ``calibration_pairs``;
    RouteLLMRunnable also ``answer_text``: output -> text). With ``threshold``/``strong_fraction`` the
    router decides on the prompt first and only weak calls are cascaded; without, every call
    goes to the weak model first and the router is not used."""

    _cascade: CascadePolicy | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _cascade_mode(cls, values: Any) -> Any:
        if not isinstance(values, dict) or values.get("cascade") in (None, False):
            return values
        spec = {} if values["cascade"] is True else values["cascade"]
        routed = values.get("threshold") is not None or values.get("strong_fraction") is not None
        if isinstance(spec, Mapping):
            spec = {"prompt_routing": routed, **spec}
        values = {**values, "cascade": spec}
        if not routed:  # the prompt stage is not used; RoutingFields still wants a mode
            values["threshold"] = 1.0
        return values

    @model_validator(mode="after")
    def _check_cascade(self) -> CascadeFields:
        """Bad cascade settings fail at construction (the scorer itself still loads on first use)."""
        if self.cascade is not None and self.cascade is not False:
            self.cascade_policy(getattr(self, "policy", None))  # type: ignore[arg-type]
        return self

    def cascade_policy(self, routing: RoutingPolicy) -> CascadePolicy:
        """The engine's cascade for a call (``routing``: this call's prompt policy, overrides applied).

        A ``CascadePolicy`` given as it is keeps its own prompt stage.
        """
        if isinstance(self.cascade, CascadePolicy):
            return self.cascade
        if self._cascade is None:
            spec = self.cascade
            if isinstance(spec, Mapping):
                spec = {k: v for k, v in spec.items() if k != "answer_text"}
            built = build_cascade(spec, routing)
            assert built is not None
            self._cascade = built
        cascade = self._cascade
        return cascade.with_routing(routing) if cascade.routing is not None else cascade

    def answer_text_fn(self) -> Callable[[Any], str]:
        custom = self.cascade.get("answer_text") if isinstance(self.cascade, Mapping) else None
        return custom or output_text


def output_text(output: Any) -> str:
    """The text of an answer the scorer judges: a message, a string, or a dict holding one."""
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


def merge_chunks(chunks: list[Any]) -> Any:
    """A streamed answer from its chunks (message and string chunks add up; else the last one)."""
    try:
        return reduce(operator.add, chunks)
    except TypeError:
        return chunks[-1]


def annotate(message: Any, meta: dict[str, Any]) -> Any:
    if isinstance(message, BaseMessage):
        return message.model_copy(update={"response_metadata": {**message.response_metadata, "routellm": meta}})
    if isinstance(message, dict) and isinstance(message.get("raw"), BaseMessage):
        return {**message, "raw": annotate(message["raw"], meta)}
    return message


def _labels(role: str) -> dict[str, Any]:
    return {"metadata": flat_metadata({"role": role, "cascade": True}), "tags": [f"routellm:{role}", "routellm:cascade"]}


# --- ChatRouteLLM ---------------------------------------------------------------------------------------
class _ChatCall:
    """One ChatRouteLLM call in cascade mode: its plan, its cascade and the routed text."""

    def __init__(self, owner: ChatRouteLLM, plan: CallPlan, policy: RoutingPolicy, text: str,
                 messages: list[BaseMessage]) -> None:
        self.owner, self.plan, self.messages, self.text = owner, plan, messages, text
        self.cascade = owner.cascade_policy(policy)
        self.models: dict[Role, str] = {"strong": model_name(owner.strong), "weak": model_name(owner.weak)}

    def call(self, method: str) -> Callable[[Role], Any]:
        def run(role: Role) -> Any:
            config: RunnableConfig = {**_labels(role)}  # type: ignore[typeddict-item]
            if self.plan.parent is not None:
                config["callbacks"] = self.plan.parent
            model = self.plan.model(Attempt(role, False))
            return getattr(model, method)(self.messages, config, stop=self.plan.stop, **self.plan.kwargs)
        return run

    def result(self, message: BaseMessage, meta: dict[str, Any]) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=annotate(message, meta))])


def chat_call(owner: ChatRouteLLM, messages: list[BaseMessage], stop: list[str] | None, parent: Any,
              kwargs: dict[str, Any]) -> _ChatCall:
    plan, policy, text = owner._plan(messages, stop, parent, kwargs)
    return _ChatCall(owner, plan, policy, text, messages)


def generate(call: _ChatCall) -> ChatResult:
    r = call.cascade.run(call.text, call.call("invoke"), output_text, has_tool_calls, call.models)
    return call.result(r.answer, r.metadata)


async def agenerate(call: _ChatCall) -> ChatResult:
    r = await call.cascade.arun(call.text, call.call("ainvoke"), output_text, has_tool_calls, call.models)
    return call.result(r.answer, r.metadata)


def stream(call: _ChatCall) -> Iterator[ChatGenerationChunk]:
    """The weak answer is buffered until scored, then it or the strong answer streams."""
    first = True
    for chunk, meta in call.cascade.stream(call.text, call.call("stream"), merge_chunks, output_text, has_tool_calls,
                                           call.models):
        yield ChatGenerationChunk(message=annotate(chunk, meta) if first else chunk)
        first = False


async def astream(call: _ChatCall) -> AsyncIterator[ChatGenerationChunk]:
    first = True
    async for chunk, meta in call.cascade.astream(call.text, call.call("astream"), merge_chunks, output_text,
                                                  has_tool_calls, call.models):
        yield ChatGenerationChunk(message=annotate(chunk, meta) if first else chunk)
        first = False


# --- RouteLLMRunnable -------------------------------------------------------------------------------------
class RunnableCall:
    """One RouteLLMRunnable call in cascade mode."""

    def __init__(self, owner: RouteLLMRunnable, value: Any, run_manager: Any, config: RunnableConfig,
                 kwargs: dict[str, Any]) -> None:
        policy, self.text = owner._routing(value, config)
        self.owner, self.value, self.run_manager, self.config, self.kwargs = owner, value, run_manager, config, kwargs
        self.cascade = owner.cascade_policy(policy)
        self.answer_text = owner.answer_text_fn()
        self.models: dict[Role, str] = {"strong": model_name(owner.strong), "weak": model_name(owner.weak)}

    def call(self, method: str) -> Callable[[Role], Any]:
        def run(role: Role) -> Any:
            child = patch_config(self.config, callbacks=self.run_manager.get_child(f"routellm:{role}"))
            labels = _labels(role)
            child = {**child, "metadata": {**(child.get("metadata") or {}), **labels["metadata"]}}
            return getattr(self.owner._runnable(role), method)(self.value, child, **self.kwargs)
        return run


def invoke(call: RunnableCall, event: str) -> Any:
    r = call.cascade.run(call.text, call.call("invoke"), call.answer_text, has_tool_calls, call.models)
    dispatch_custom_event(event, r.metadata, config={"callbacks": call.run_manager.get_child()})
    return annotate(r.answer, r.metadata)


async def ainvoke(call: RunnableCall, event: str) -> Any:
    r = await call.cascade.arun(call.text, call.call("ainvoke"), call.answer_text, has_tool_calls, call.models)
    await adispatch_custom_event(event, r.metadata, config={"callbacks": call.run_manager.get_child()})
    return annotate(r.answer, r.metadata)


def transform(call: RunnableCall, event: str) -> Iterator[Any]:
    first = True
    for chunk, meta in call.cascade.stream(call.text, call.call("stream"), merge_chunks, call.answer_text,
                                           has_tool_calls, call.models):
        if first:
            dispatch_custom_event(event, meta, config={"callbacks": call.run_manager.get_child()})
        yield annotate(chunk, meta) if first else chunk
        first = False


async def atransform(call: RunnableCall, event: str) -> AsyncIterator[Any]:
    first = True
    async for chunk, meta in call.cascade.astream(call.text, call.call("astream"), merge_chunks, call.answer_text,
                                                  has_tool_calls, call.models):
        if first:
            await adispatch_custom_event(event, meta, config={"callbacks": call.run_manager.get_child()})
        yield annotate(chunk, meta) if first else chunk
        first = False
