"""RouteLLMRunnable: route between any two Runnables (two chat models, two whole RAG chains...).

The router reads the text picked by ``route_on`` (a dict key of the input, the last human message,
or a callable), the chosen Runnable runs as a child run carrying the decision in its metadata, a
``routellm_decision`` custom event reports the outcome to callbacks, and a message output carries
``response_metadata["routellm"]`` like ChatRouteLLM's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import adispatch_custom_event, dispatch_custom_event
from langchain_core.callbacks.manager import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable, patch_config
from pydantic import ConfigDict

from routellm_core import RoutingDecision

from ._routing import (RoutingFields, attempts, both_failed, config_overrides, input_text, model_name,
                       route_texts, routing_metadata, run_metadata, without_decision)

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


class RouteLLMRunnable(RoutingFields, RunnableSerializable[Any, Any]):
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

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        self._check_routing_fields()

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        return super().get_name(suffix, name=name or self.name or "RouteLLMRunnable")

    # --- routing --------------------------------------------------------------------------------
    def _runnable(self, role: str) -> Runnable:
        return self.strong if role == "strong" else self.weak

    def _decide(self, value: Any, config: RunnableConfig) -> RoutingDecision:
        text = input_text(value, self.route_on)
        return route_texts([self.routing_spec().with_overrides(config_overrides(config))], [text])[0]

    def _child_config(self, config: RunnableConfig, run_manager: Any, role: str, decision: RoutingDecision,
                      fallback: bool) -> RunnableConfig:
        child = patch_config(without_decision(config), callbacks=run_manager.get_child(f"routellm:{role}"))
        meta = run_metadata(decision, role, model_name(self._runnable(role)), fallback)
        return {**child, "metadata": {**(child.get("metadata") or {}), **meta}}

    def _finish(self, output: Any, decision: RoutingDecision, role: str, fallback: bool,
                error: BaseException | None, run_manager: CallbackManagerForChainRun) -> Any:
        meta = routing_metadata(decision, role, model_name(self._runnable(role)), fallback, error)
        dispatch_custom_event(DECISION_EVENT, meta, config={"callbacks": run_manager.get_child()})
        return annotate_output(output, meta)

    async def _afinish(self, output: Any, decision: RoutingDecision, role: str, fallback: bool,
                       error: BaseException | None, run_manager: AsyncCallbackManagerForChainRun) -> Any:
        meta = routing_metadata(decision, role, model_name(self._runnable(role)), fallback, error)
        await adispatch_custom_event(DECISION_EVENT, meta, config={"callbacks": run_manager.get_child()})
        return annotate_output(output, meta)

    # --- invoke ---------------------------------------------------------------------------------
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._invoke, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._ainvoke, input, config, **kwargs)

    def _invoke(self, value: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig, **kwargs: Any) -> Any:
        decision = self._decide(value, config)
        first_error: BaseException | None = None
        for role, is_fallback in attempts(decision, self.fallback):
            try:
                output = self._runnable(role).invoke(value, self._child_config(config, run_manager, role, decision, is_fallback),
                                                     **kwargs)
            except Exception as exc:
                if first_error is None:
                    first_error = exc
                    continue
                raise both_failed(first_error, exc) from None
            return self._finish(output, decision, role, is_fallback, first_error, run_manager)
        assert first_error is not None
        raise first_error

    async def _ainvoke(self, value: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig,
                       **kwargs: Any) -> Any:
        decision = await asyncio.to_thread(self._decide, value, config)
        first_error: BaseException | None = None
        for role, is_fallback in attempts(decision, self.fallback):
            try:
                output = await self._runnable(role).ainvoke(
                    value, self._child_config(config, run_manager, role, decision, is_fallback), **kwargs)
            except Exception as exc:
                if first_error is None:
                    first_error = exc
                    continue
                raise both_failed(first_error, exc) from None
            return await self._afinish(output, decision, role, is_fallback, first_error, run_manager)
        assert first_error is not None
        raise first_error

    # --- batch: one router call, then one batch call per role ---------------------------------------
    def batch(self, inputs: list[Any], config: RunnableConfig | list[RunnableConfig] | None = None, *,
              return_exceptions: bool = False, **kwargs: Any) -> list[Any]:
        if not inputs:
            return []
        return self._batch_with_config(self._batch, inputs, config, return_exceptions=return_exceptions, **kwargs)

    async def abatch(self, inputs: list[Any], config: RunnableConfig | list[RunnableConfig] | None = None, *,
                     return_exceptions: bool = False, **kwargs: Any) -> list[Any]:
        if not inputs:
            return []
        return await self._abatch_with_config(self._abatch, inputs, config, return_exceptions=return_exceptions,
                                              **kwargs)

    def _decide_many(self, values: list[Any], configs: list[RunnableConfig]) -> tuple[dict[int, RoutingDecision], dict[int, Exception]]:
        """Decisions for every routable input, from one router call; errors for the others."""
        base = self.routing_spec()
        errors: dict[int, Exception] = {}
        ready, specs, texts = [], [], []
        for i, (value, cfg) in enumerate(zip(values, configs)):
            try:
                text = input_text(value, self.route_on)
                spec = base.with_overrides(config_overrides(cfg))
            except Exception as exc:  # noqa: BLE001 -- reported as this input's result
                errors[i] = exc
                continue
            ready.append(i)
            texts.append(text)
            specs.append(spec)
        decisions = dict(zip(ready, route_texts(specs, texts))) if ready else {}
        return decisions, errors

    def _batch(self, values: list[Any], run_manager: list[CallbackManagerForChainRun], config: list[RunnableConfig],
               **kwargs: Any) -> list[Any]:
        decisions, errors = self._decide_many(values, config)
        outputs: list[Any] = [errors.get(i) for i in range(len(values))]
        first_errors: dict[int, BaseException] = {}
        for round_ in (0, 1):
            for role in ("strong", "weak"):
                todo = [i for i, d in decisions.items() if len(plan := attempts(d, self.fallback)) > round_
                        and plan[round_][0] == role and (round_ == 0 or i in first_errors)]
                if not todo:
                    continue
                configs = [self._child_config(config[i], run_manager[i], role, decisions[i], round_ == 1) for i in todo]
                results = self._runnable(role).batch([values[i] for i in todo], configs, return_exceptions=True, **kwargs)
                for i, result in zip(todo, results):
                    if isinstance(result, Exception):
                        if round_ == 0:
                            first_errors[i] = outputs[i] = result
                        else:
                            outputs[i] = both_failed(first_errors.pop(i), result)
                    else:
                        outputs[i] = self._finish(result, decisions[i], role, round_ == 1, first_errors.pop(i, None),
                                                  run_manager[i])
        return outputs

    async def _abatch(self, values: list[Any], run_manager: list[AsyncCallbackManagerForChainRun],
                      config: list[RunnableConfig], **kwargs: Any) -> list[Any]:
        decisions, errors = await asyncio.to_thread(self._decide_many, values, config)
        outputs: list[Any] = [errors.get(i) for i in range(len(values))]
        first_errors: dict[int, BaseException] = {}
        for round_ in (0, 1):
            for role in ("strong", "weak"):
                todo = [i for i, d in decisions.items() if len(plan := attempts(d, self.fallback)) > round_
                        and plan[round_][0] == role and (round_ == 0 or i in first_errors)]
                if not todo:
                    continue
                configs = [self._child_config(config[i], run_manager[i], role, decisions[i], round_ == 1) for i in todo]
                results = await self._runnable(role).abatch([values[i] for i in todo], configs, return_exceptions=True,
                                                            **kwargs)
                for i, result in zip(todo, results):
                    if isinstance(result, Exception):
                        if round_ == 0:
                            first_errors[i] = outputs[i] = result
                        else:
                            outputs[i] = both_failed(first_errors.pop(i), result)
                    else:
                        outputs[i] = await self._afinish(result, decisions[i], role, round_ == 1,
                                                         first_errors.pop(i, None), run_manager[i])
        return outputs

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

    def _transform(self, chunks: Iterator[Any], run_manager: CallbackManagerForChainRun, config: RunnableConfig,
                   **kwargs: Any) -> Iterator[Any]:
        value = _merge_chunks(list(chunks))
        decision = self._decide(value, config)
        first_error: BaseException | None = None
        for role, is_fallback in attempts(decision, self.fallback):
            iterator = self._runnable(role).stream(value, self._child_config(config, run_manager, role, decision, is_fallback),
                                                   **kwargs)
            try:
                try:
                    first = next(iterator)
                except StopIteration:
                    return
                except Exception as exc:  # nothing streamed yet: the other Runnable may answer
                    if first_error is None:
                        first_error = exc
                        continue
                    raise both_failed(first_error, exc) from None
                yield self._finish(first, decision, role, is_fallback, first_error, run_manager)
                yield from iterator
                return
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
        assert first_error is not None
        raise first_error

    async def _atransform(self, chunks: AsyncIterator[Any], run_manager: AsyncCallbackManagerForChainRun,
                          config: RunnableConfig, **kwargs: Any) -> AsyncIterator[Any]:
        value = _merge_chunks([chunk async for chunk in chunks])
        decision = await asyncio.to_thread(self._decide, value, config)
        first_error: BaseException | None = None
        for role, is_fallback in attempts(decision, self.fallback):
            iterator = self._runnable(role).astream(
                value, self._child_config(config, run_manager, role, decision, is_fallback), **kwargs)
            try:
                try:
                    first = await iterator.__anext__()
                except StopAsyncIteration:
                    return
                except Exception as exc:  # nothing streamed yet: the other Runnable may answer
                    if first_error is None:
                        first_error = exc
                        continue
                    raise both_failed(first_error, exc) from None
                yield await self._afinish(first, decision, role, is_fallback, first_error, run_manager)
                async for chunk in iterator:
                    yield chunk
                return
            finally:
                aclose = getattr(iterator, "aclose", None)
                if aclose is not None:
                    await aclose()
        assert first_error is not None
        raise first_error
