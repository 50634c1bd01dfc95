"""RouteLLMRunnable: route between any two Runnables (two chat models, two whole RAG chains...).

The engine's RoutingPolicy decides on the text picked by ``route_on`` (a dict key of the input,
the last user message, or a callable); the chosen Runnable runs as a child run carrying the
decision in its metadata, a ``routellm_decision`` custom event reports the outcome to callbacks,
and a message output carries ``response_metadata["routellm"]`` like ChatRouteLLM's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, ClassVar

from langchain_core.callbacks import adispatch_custom_event, dispatch_custom_event
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable, get_config_list, patch_config
from pydantic import ConfigDict, Field, model_validator

from routellm_core import AnswerReader, Attempt, Decision, Executor, RouteLLMError, RoutingPolicy
from routellm_core.policy import flat_metadata

from ._answers import annotate, answer_reader, has_tool_calls
from ._call_config import decided_configs, decision_from, without_decision
from ._policy import RoutingFields, check_targets, config_overrides, input_text, model_name

DECISION_EVENT = "routellm_decision"
annotate_output = annotate  # the name this helper had


def _merge_chunks(chunks: list[Any]) -> Any:
    """The whole input of a transform: chunks added up where they support it, else the last one."""
    value = chunks[0]
    for chunk in chunks[1:]:
        try:
            value = value + chunk
        except TypeError:
            value = chunk
    return value


class RouteLLMRunnable(RoutingFields, RunnableSerializable[Any, Any]):
    """Send each input to ``strong`` or ``weak`` (any Runnables), or one of several priced ``models``, by a router.

    Example:
        ```python
        routed = RouteLLMRunnable(strong=rag_chain_gpt4, weak=rag_chain_small, route_on="question",
                                  router="mf", threshold=0.6)
        routed.invoke({"question": "..."})
        ```
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    routes_dict_keys: ClassVar[bool] = True

    strong: Runnable | None = None
    weak: Runnable | None = None
    models: dict[str, Runnable] | None = None
    """Instead of strong/weak: Runnables by name, routed by price (with ``prices``) or by ``policy``."""
    answer_text: Callable[[Any], str] | None = Field(default=None, exclude=True)
    """How a cascade reads an output's text (default: messages, strings, dicts holding one)."""

    @model_validator(mode="before")
    @classmethod
    def _targets_given(cls, values: Any) -> Any:
        return check_targets(values, "RouteLLMRunnable")

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        return super().get_name(suffix, name=name or self.name or "RouteLLMRunnable")

    # --- routing --------------------------------------------------------------------------------
    def _routing(self, value: Any, config: RunnableConfig) -> tuple[RoutingPolicy, str]:
        """The policy for this call (``configurable`` overrides applied) and the text it routes on."""
        return self.policy.overrides_from(config_overrides(config)), input_text(self.policy, value, self.route_on)

    def _decide(self, value: Any, config: RunnableConfig) -> Decision:
        policy, text = self._routing(value, config)
        made = decision_from(config)
        return policy.revive(made) if made else policy.decide([text])[0]

    async def _adecide(self, value: Any, config: RunnableConfig) -> Decision:
        policy, text = self._routing(value, config)
        made = decision_from(config)
        return policy.revive(made) if made else (await policy.adecide([text]))[0]

    def _plan(self, value: Any, config: RunnableConfig, run_manager: Any, decision: Decision, method: str,
              kwargs: dict[str, Any]) -> Any:
        """``lambda attempt: <chosen runnable>.<method>(value, child config, **kwargs)``."""
        targets = self.targets()

        def call(attempt: Attempt) -> Any:
            child = patch_config(without_decision(config), callbacks=run_manager.get_child(f"routellm:{attempt.key}"))
            meta = flat_metadata(decision.metadata(attempt.key, model_name(targets[attempt.key])))
            child = {**child, "metadata": {**(child.get("metadata") or {}), **meta}}
            return getattr(targets[attempt.key], method)(value, child, **kwargs)
        return call

    def _executor(self) -> Executor:
        reader = AnswerReader(self.answer_text, has_tool_calls) if self.answer_text else answer_reader(self.cascade)
        return self.policy.executor({k: model_name(r) for k, r in self.targets().items()}, reader)

    def _finish(self, output: Any, meta: dict[str, Any], run_manager: Any) -> Any:
        dispatch_custom_event(DECISION_EVENT, meta, config={"callbacks": run_manager.get_child()})
        return annotate(output, meta)

    async def _afinish(self, output: Any, meta: dict[str, Any], run_manager: Any) -> Any:
        await adispatch_custom_event(DECISION_EVENT, meta, config={"callbacks": run_manager.get_child()})
        return annotate(output, meta)

    # --- invoke and batch (one router call for the batch, then one call per input) -------------------
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._invoke, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._ainvoke, input, config, **kwargs)

    def _invoke(self, value: Any, run_manager: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        decision = self._decide(value, config)
        output, meta = self._executor().run(decision, self._plan(value, config, run_manager, decision, "invoke", kwargs))
        return self._finish(output, meta, run_manager)

    async def _ainvoke(self, value: Any, run_manager: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        decision = await self._adecide(value, config)
        call = self._plan(value, config, run_manager, decision, "ainvoke", kwargs)
        output, meta = await self._executor().arun(decision, call)
        return await self._afinish(output, meta, run_manager)

    def _batch_configs(self, inputs: list[Any], config: Any) -> list[RunnableConfig]:
        configs = get_config_list(config, len(inputs))
        pairs: list[Any] = []
        for value, cfg in zip(inputs, configs, strict=True):
            try:
                pairs.append(self._routing(value, cfg))
            except RouteLLMError:  # reported by that input's own call
                pairs.append(None)
        return decided_configs(configs, pairs)

    def batch(self, inputs: list[Any], config: RunnableConfig | list[RunnableConfig] | None = None, *,
              return_exceptions: bool = False, **kwargs: Any) -> list[Any]:
        configs = self._batch_configs(inputs, config) if inputs else []
        return super().batch(inputs, configs, return_exceptions=return_exceptions, **kwargs)

    async def abatch(self, inputs: list[Any], config: RunnableConfig | list[RunnableConfig] | None = None, *,
                     return_exceptions: bool = False, **kwargs: Any) -> list[Any]:
        import asyncio

        configs = await asyncio.to_thread(self._batch_configs, inputs, config) if inputs else []
        return await super().abatch(inputs, configs, return_exceptions=return_exceptions, **kwargs)

    # --- streaming: route on the whole input, then stream the chosen Runnable ---------------------
    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        yield from self.transform(iter([input]), config, **kwargs)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        async def one() -> AsyncIterator[Any]:
            yield input

        async for chunk in self.atransform(one(), config, **kwargs):
            yield chunk

    def transform(self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        yield from self._transform_stream_with_config(input, self._transform, config, **kwargs)

    async def atransform(self, input: AsyncIterator[Any], config: RunnableConfig | None = None,
                         **kwargs: Any) -> AsyncIterator[Any]:
        async for chunk in self._atransform_stream_with_config(input, self._atransform, config, **kwargs):
            yield chunk

    def _transform(self, chunks: Iterator[Any], run_manager: Any, config: RunnableConfig, **kwargs: Any) -> Iterator[Any]:
        value = _merge_chunks(list(chunks))
        decision = self._decide(value, config)
        call = self._plan(value, config, run_manager, decision, "stream", kwargs)
        for i, (chunk, meta) in enumerate(self._executor().stream(decision, call)):
            yield self._finish(chunk, meta, run_manager) if i == 0 else chunk

    async def _atransform(self, chunks: AsyncIterator[Any], run_manager: Any, config: RunnableConfig,
                          **kwargs: Any) -> AsyncIterator[Any]:
        value = _merge_chunks([chunk async for chunk in chunks])
        decision = await self._adecide(value, config)
        call = self._plan(value, config, run_manager, decision, "astream", kwargs)
        first = True
        async for chunk, meta in self._executor().astream(decision, call):
            yield await self._afinish(chunk, meta, run_manager) if first else chunk
            first = False
