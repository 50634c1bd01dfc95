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
from routellm_core import RoutingDecision
from routellm_core.errors import InvalidInputError

from .events import emit_routing_event
from .routing import Role, Routing, RouterSpec, decision_payload, other


def _engine_name(engine: BaseQueryEngine, role: Role) -> str:
    """A readable name for the engine: its LLM's model name when it has one."""
    llm = getattr(engine, "_llm", None) or getattr(getattr(engine, "_response_synthesizer", None), "_llm", None)
    model = getattr(getattr(llm, "metadata", None), "model_name", None)
    return model or f"{role}:{type(engine).__name__}"


class RouteLLMQueryEngine(BaseQueryEngine):
    """Answer each query with the ``strong`` or the ``weak`` query engine, as the router decides.

    The decision (same fields as :class:`RouteLLM`'s) is in ``response.metadata["routellm"]`` and
    sent as a ``RouteLLMRoutingEvent``. With ``fallback`` a failing engine is replaced by the other.
    """

    def __init__(self, strong: BaseQueryEngine, weak: BaseQueryEngine, router: RouterSpec = "mf",
                 threshold: Optional[float] = None, strong_fraction: Optional[float] = None,
                 calibration_prompts: Optional[list[str]] = None, fallback: bool = True, embed_model: Any = None,
                 callback_manager: Optional[CallbackManager] = None) -> None:
        for role, engine in (("strong", strong), ("weak", weak)):
            if not isinstance(engine, BaseQueryEngine):
                raise InvalidInputError(f"{role} must be a LlamaIndex query engine, got {type(engine).__name__}")
        self.strong, self.weak, self.fallback = strong, weak, fallback
        self.routing = Routing.build(router, threshold, strong_fraction, calibration_prompts, embed_model)
        super().__init__(callback_manager=callback_manager)

    @property
    def threshold(self) -> float:
        return self.routing.threshold

    def _get_prompt_modules(self) -> PromptMixinType:
        return {"strong": self.strong, "weak": self.weak}

    def _engine(self, role: Role) -> BaseQueryEngine:
        return self.strong if role == "strong" else self.weak

    def route(self, query: str) -> RoutingDecision:
        """The decision for a query, without running either engine."""
        return self.routing.decide(query)

    def _roles(self, decision: RoutingDecision) -> list[Role]:
        return [decision.role, other(decision.role)] if self.fallback else [decision.role]

    def _label(self, response: RESPONSE_TYPE, decision: RoutingDecision, role: Role,
               error: Optional[BaseException]) -> RESPONSE_TYPE:
        payload = decision_payload(decision, role, _engine_name(self._engine(role), role), error is not None, error)
        emit_routing_event(payload, "query_engine")
        response.metadata = {**(response.metadata or {}), "routellm": payload}
        return response

    @staticmethod
    def _raise_first(errors: list[tuple[Role, BaseException]]) -> BaseException:
        first = errors[0][1]
        for role, exc in errors[1:]:
            first.add_note(f"RouteLLM fallback to the {role} query engine also failed: {type(exc).__name__}: {exc}")
        return first

    def _query(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        decision = self.routing.decide(query_bundle.query_str)
        errors: list[tuple[Role, BaseException]] = []
        for role in self._roles(decision):
            try:
                response = self._engine(role).query(query_bundle)
            except Exception as exc:  # noqa: BLE001 - any engine error triggers the fallback
                errors.append((role, exc))
                continue
            return self._label(response, decision, role, errors[0][1] if errors else None)
        raise self._raise_first(errors)

    async def _aquery(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        decision = await self.routing.adecide(query_bundle.query_str)
        errors: list[tuple[Role, BaseException]] = []
        for role in self._roles(decision):
            try:
                response = await self._engine(role).aquery(query_bundle)
            except Exception as exc:  # noqa: BLE001
                errors.append((role, exc))
                continue
            return self._label(response, decision, role, errors[0][1] if errors else None)
        raise self._raise_first(errors)
