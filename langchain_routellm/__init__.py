"""LangChain integration: a routed chat model and a routing Runnable.

``ChatRouteLLM`` replaces ``ChatOpenAI(...)`` in any chain, agent or RAG pipeline and sends each
call to a strong or a weak model by a learned router; ``RouteLLMRunnable`` routes between any two
Runnables. Per call: ``config={"configurable": {"routellm_threshold": 0.2, "routellm_router": "mf"}}``.
"""

from __future__ import annotations

from ._routing import CONFIG_ROUTER, CONFIG_STRONG_FRACTION, CONFIG_THRESHOLD, router_embedder
from .chat_models import ChatRouteLLM
from .decision_model import RouteLLMDecisionModel
from .embeddings import RouteLLMEmbeddings
from .pricing import DEFAULT_PRICES, Price, call_cost
from .replay import ReplayChatModel, load_gsm8k
from .runnables import DECISION_EVENT, RouteLLMRunnable

__all__ = [
    "ChatRouteLLM", "RouteLLMDecisionModel", "RouteLLMMiddleware", "RouteLLMRunnable", "RouteLLMEmbeddings", "ReplayChatModel", "load_gsm8k", "Price",
    "DEFAULT_PRICES", "call_cost", "router_embedder", "CONFIG_THRESHOLD", "CONFIG_ROUTER", "CONFIG_STRONG_FRACTION",
    "DECISION_EVENT",
]


def __getattr__(name: str):
    """``RouteLLMMiddleware`` needs the ``langchain`` package (agents), so it is imported on first use."""
    if name == "RouteLLMMiddleware":
        from .middleware import RouteLLMMiddleware

        return RouteLLMMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
