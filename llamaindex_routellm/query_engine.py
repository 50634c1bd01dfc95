"""``RouteLLMQueryEngine``: route a query between two whole query engines, before any retrieval.

Inside a query engine the LLM only sees a template stuffed with retrieved context; routing the
raw question once, up front, lets the two sides differ in more than the LLM (another index,
top-k, reranker, response mode) and costs one router call per query however many LLM calls the
synthesizer makes.
"""

from __future__ import annotations

from typing import Any, Optional

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import RESPONSE_TYPE
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.prompts.mixin import PromptMixinType
from llama_index.core.schema import QueryBundle

from routellm_core import Decision, FallbackExecutor
from routellm_core.errors import InvalidInputError
from routellm_core.fallback import Answered

from .routing import RouterSpec, announce, build_policy


def _engine_name(engine: BaseQueryEngine, role: str) -> str:
    """A readable name for the engine: its LLM's model name when it has one."""
    llm = getattr(engine, "_llm", None) or getattr(getattr(engine, "_response_synthesizer", None), "_llm", None)
    model = getattr(getattr(llm, "metadata", None), "model_name", None)
    return model or f"{role}:{type(engine).__name__}"


class RouteLLMQueryEngine(BaseQueryEngine):
    """Answer each query with the ``strong`` or the ``weak`` query engine, as the router decides.

    The decision (same fields as :class:`RouteLLM`'s) is in ``response.metadata["routellm"]`` and
    sent as a ``RouteLLMRoutingEvent``. With ``fallback`` an engine failing with a provider error is
    replaced by the other.
    """

    def __init__(self, strong: BaseQueryEngine, weak: BaseQueryEngine, router: RouterSpec = "mf",
                 threshold: Optional[float] = None, strong_fraction: Optional[float] = None,
                 calibration_prompts: Optional[list[str]] = None, fallback: bool = True, embed_model: Any = None,
                 on_empty: str = "error", callback_manager: Optional[CallbackManager] = None,
                 policy: Any = None) -> None:
        for role, engine in (("strong", strong), ("weak", weak)):
            if not isinstance(engine, BaseQueryEngine):
                raise InvalidInputError(f"{role} must be a LlamaIndex query engine, got {type(engine).__name__}")
        self.strong, self.weak, self.fallback = strong, weak, fallback
        self.policy = build_policy(router, threshold, strong_fraction, calibration_prompts, embed_model, policy,
                                   fallback=fallback, on_empty=on_empty)
        self._executor = FallbackExecutor(describe=lambda role: f"{role} query engine")
        super().__init__(callback_manager=callback_manager)

    @property
    def threshold(self) -> float:
        return self.policy.resolved_threshold()

    def _get_prompt_modules(self) -> PromptMixinType:
        return {"strong": self.strong, "weak": self.weak}

    def _engine(self, role: str) -> BaseQueryEngine:
        return self.strong if role == "strong" else self.weak

    def route(self, query: str) -> Decision:
        """The decision for a query, without running either engine."""
        return self.policy.decide([query])[0]

    def _label(self, response: RESPONSE_TYPE, decision: Decision, outcome: Answered) -> RESPONSE_TYPE:
        role = outcome.attempt.role
        payload = announce(decision, role, _engine_name(self._engine(role), role), outcome.error, "query_engine")
        response.metadata = {**(response.metadata or {}), "routellm": payload}
        return response

    def _query(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        decision = self.route(query_bundle.query_str)
        response, outcome = self._executor.run(self.policy.attempts(decision),
                                               lambda a: self._engine(a.role).query(query_bundle))
        return self._label(response, decision, outcome)

    async def _aquery(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        decision = (await self.policy.adecide([query_bundle.query_str]))[0]
        response, outcome = await self._executor.arun(self.policy.attempts(decision),
                                                      lambda a: self._engine(a.role).aquery(query_bundle))
        return self._label(response, decision, outcome)
