"""RouteLLMRunnable: route between any two Runnables (two chat models, two whole RAG chains...).

The engine's RoutingPolicy decides on the text picked by ``route_on`` (a dict key of the input,
the last user message, or a callable); the chosen Runnable runs as a child run carrying the
decision in its metadata, a ``routellm_decision`` custom event reports the outcome to callbacks,
and a message output carries ``response_metadata["routellm"]`` like ChatRouteLLM's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import adispatch_custom_event, dispatch_custom_event
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable, get_config_list, patch_config
from pydantic import ConfigDict

from routellm_core import Attempt, FallbackExecutor, RouteLLMError, RoutingDecision, RoutingPolicy
from routellm_core.fallback import Outcome
from routellm_core.policy import flat_metadata

from . import _cascade
from ._call_config import decided_configs, decision_from, without_decision
from ._policy import RoutingFields, config_overrides, input_text, model_name

DECISION_EVENT = "routellm_decision"


def annotate_output(output: Any, meta: dict[str, Any]) -> Any:
    """Add ``response_metadata["routellm"]`` to a message output (or to ``raw`` of an include_raw dict)."""
    if isinstance(output, BaseMessage) and hasattr(output, "response_metadata"):
        return output.model_copy(update={"response_metadata": {**output.response_metadata, "routellm": meta}})
    if isinstance(output, dict) and isinstance(output.get("raw"), BaseMessage):
        return {**output, "raw": annotate_output(output["raw"], meta)}
    return output


def _merge_chunks(chunks: list[Any]) -> Any:
    """The whole input of a transform: chunks added up where they support it, else the last one."""
    value = chunks[0]
    for chunk in chunks[1:]:
        try:
            value = value + chunk
        except TypeError:
            value = chunk
    return value


class RouteLLMRunnable(_cascade.CascadeFields, RoutingFields, RunnableSerializable[Any, Any]):
    """Send each input to ``strong`` or ``weak`` (any Runnables) by a learned router.

    Example:
        ```python
        routed = RouteLLMRunnable(strong=rag_chain_gpt4, weak=rag_chain_small, route_on="question",
                                  router="mf", threshold=0.6)
        routed.invoke({"question": "..."})
        ```
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    strong: Runnable
    weak: Runnable

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        return super().get_name(suffix, name=name or self.name or "RouteLLMRunnable")

    # --- routing --------------------------------------------------------------------------------
    def _runnable(self, role: str) -> Runnable:
        return self.strong if role == "strong" else self.weak

    def _routing(self, value: Any, config: RunnableConfig) -> tuple[RoutingPolicy, str]:
        """The policy for this call (``configurable`` overrides applied) and the text it routes on."""
        return self.policy.overrides_from(config_overrides(config)), input_text(self.policy, value, self.route_on)

    def _decide(self, value: Any, config: RunnableConfig) -> RoutingDecision:
        policy, text = self._routing(value, config)
        return decision_from(config) or policy.decide([text])[0]

    async def _adecide(self, value: Any, config: RunnableConfig) -> RoutingDecision:
        policy, text = self._routing(value, config)
        return decision_from(config) or (await policy.adecide([text]))[0]

    def _plan(self, value: Any, config: RunnableConfig, run_manager: Any, decision: RoutingDecision, method: str,
              kwargs: dict[str, Any]) -> Any:
        """``lambda attempt: <chosen runnable>.<method>(value, child config, **kwargs)``."""
        def call(attempt: Attempt) -> Any:
            child = patch_config(without_decision(config), callbacks=run_manager.get_child(f"routellm:{attempt.role}"))
            meta = flat_metadata(self._meta(decision, Outcome(attempt, None)))
            child = {**child, "metadata": {**(child.get("metadata") or {}), **meta}}
            return getattr(self._runnable(attempt.role), method)(value, child, **kwargs)
        return call

    def _meta(self, decision: RoutingDecision, outcome: Outcome) -> dict[str, Any]:
        role = outcome.attempt.role
        return RoutingPolicy.metadata(decision, role, model_name(self._runnable(role)), outcome.error)

    @property
    def _executor(self) -> FallbackExecutor:
        return FallbackExecutor(describe=lambda role: f"{role} runnable ({model_name(self._runnable(role))})")

    def _finish(self, output: Any, decision: RoutingDecision, outcome: Outcome, run_manager: Any) -> Any:
        meta = self._meta(decision, outcome)
        dispatch_custom_event(DECISION_EVENT, meta, config={"callbacks": run_manager.get_child()})
        return annotate_output(output, meta)

    async def _afinish(self, output: Any, decision: RoutingDecision, outcome: Outcome, run_manager: Any) -> Any:
        meta = self._meta(decision, outcome)
        await adispatch_custom_event(DECISION_EVENT, meta, config={"callbacks": run_manager.get_child()})
        return annotate_output(output, meta)

    # --- invoke and batch (one router call for the batch, then one call per input) -------------------
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._invoke, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._ainvoke, input, config, **kwargs)

    def _invoke(self, value: Any, run_manager: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        if self.cascade is not None:
            return _cascade.invoke(_cascade.RunnableCall(self, value, run_manager, config, kwargs), DECISION_EVENT)
        decision = self._decide(value, config)
        call = self._plan(value, config, run_manager, decision, "invoke", kwargs)
        output, outcome = self._executor.run(self.policy.attempts(decision), call)
        return self._finish(output, decision, outcome, run_manager)

    async def _ainvoke(self, value: Any, run_manager: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        if self.cascade is not None:
            return await _cascade.ainvoke(_cascade.RunnableCall(self, value, run_manager, config, kwargs),
                                          DECISION_EVENT)
        decision = await self._adecide(value, config)
        call = self._plan(value, config, run_manager, decision, "ainvoke", kwargs)
        output, outcome = await self._executor.arun(self.policy.attempts(decision), call)
        return await self._afinish(output, decision, outcome, run_manager)

    def _batch_configs(self, inputs: list[Any], config: Any) -> list[RunnableConfig]:
        configs = get_config_list(config, len(inputs))
        if self.cascade is not None:  # a cascade decides per call, after the weak answer
            return configs
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
        if self.cascade is not None:
            yield from _cascade.transform(_cascade.RunnableCall(self, value, run_manager, config, kwargs), DECISION_EVENT)
            return
        decision = self._decide(value, config)
        call = self._plan(value, config, run_manager, decision, "stream", kwargs)
        for i, (chunk, outcome) in enumerate(self._executor.stream(self.policy.attempts(decision), call)):
            yield self._finish(chunk, decision, outcome, run_manager) if i == 0 else chunk

    async def _atransform(self, chunks: AsyncIterator[Any], run_manager: Any, config: RunnableConfig,
                          **kwargs: Any) -> AsyncIterator[Any]:
        value = _merge_chunks([chunk async for chunk in chunks])
        if self.cascade is not None:
            async for item in _cascade.atransform(_cascade.RunnableCall(self, value, run_manager, config, kwargs),
                                                  DECISION_EVENT):
                yield item
            return
        decision = await self._adecide(value, config)
        call = self._plan(value, config, run_manager, decision, "astream", kwargs)
        first = True
        async for chunk, outcome in self._executor.astream(self.policy.attempts(decision), call):
            yield await self._afinish(chunk, decision, outcome, run_manager) if first else chunk
            first = False
