"""LlamaIndex's view of the engine's RoutingPolicy: settings -> policy, messages -> turns, labels.

Routing is decided by ``routellm_core.RoutingPolicy`` only. This module builds it from the
options the LLM, the query engine and the selector share (validated before any router loads),
wraps a LlamaIndex embedding model as the router's embedder, and sends each decision to
LlamaIndex's event handlers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from routellm_core import Decision, RoutingPolicy, Turn
from routellm_core.errors import InvalidInputError
from routellm_core.policy import RouterSpec, callable_embedder, normalize_role

from .events import emit_routing_event


def embedder_from_llamaindex(embed_model: Any) -> Any:
    """Wrap a LlamaIndex ``BaseEmbedding`` as a routellm_core embedder (batch calls, cached)."""
    from llama_index.core.base.embeddings.base import BaseEmbedding

    if not isinstance(embed_model, BaseEmbedding):
        raise InvalidInputError(f"embed_model must be a LlamaIndex BaseEmbedding, got {type(embed_model).__name__}")
    model_id = f"llamaindex:{embed_model.class_name()}:{embed_model.model_name}"
    return callable_embedder(embed_model, embed_model.get_text_embedding_batch, model_id)


def build_policy(router: RouterSpec = "mf", threshold: float | None = None, strong_fraction: float | None = None,
                 calibration_prompts: Sequence[str] | None = None, embed_model: Any = None,
                 policy: RoutingPolicy | None = None, **options: Any) -> RoutingPolicy:
    """A resolved policy (``policy`` as given, or one from the settings): the router loaded, thresholds fixed.

    The engine validates every setting before anything loads.
    """
    if policy is not None:
        if not isinstance(policy, RoutingPolicy):
            raise InvalidInputError(f"policy must be a routellm_core.RoutingPolicy, got {type(policy).__name__}")
        return policy.resolve()
    embedder = None if embed_model is None else embedder_from_llamaindex(embed_model)
    return RoutingPolicy(router, threshold=threshold, strong_fraction=strong_fraction,
                         calibration_prompts=calibration_prompts or (), embedder=embedder,  # type: ignore[arg-type]
                         **options).resolve()


def message_turns(messages: Sequence[Any]) -> list[Turn]:
    """LlamaIndex ``ChatMessage``s as the policy's turns (text content only)."""
    return [Turn(normalize_role(m.role), m.content or "") for m in messages]


def announce(decision: Decision, role: str, model: str, error: BaseException | None,
             source: Literal["llm", "query_engine", "selector"]) -> dict[str, Any]:
    """The decision's metadata for the component that answered, sent as a ``RouteLLMRoutingEvent``."""
    payload = decision.metadata(role, model, error)
    emit_routing_event(payload, source)
    return payload
