"""LangChain integration: a routed chat model and a routing Runnable.

``ChatRouteLLM`` replaces ``ChatOpenAI(...)`` in any chain, agent or RAG pipeline and sends each
call to a strong or a weak model by a learned router; ``RouteLLMRunnable`` routes between any two
Runnables. Per call: ``config={"configurable": {"routellm_threshold": 0.2, "routellm_router": "mf"}}``.
For ``langchain.agents.create_agent``: ``RouteLLMMiddleware`` (one decision per user turn) and
``RouteLLMDecisionModel`` (the classifier of ``ModelRouterMiddleware``).
"""

from __future__ import annotations

from ._policy import CONFIG_ROUTER, CONFIG_STRONG_FRACTION, CONFIG_THRESHOLD, router_embedder
from .chat_models import ChatRouteLLM
from .embeddings import RouteLLMEmbeddings
from .pricing import DEFAULT_PRICES, Price, call_cost
from .replay import ReplayChatModel, load_gsm8k
from .runnables import DECISION_EVENT, RouteLLMRunnable

__all__ = [
    "ChatRouteLLM", "RouteLLMRunnable", "RouteLLMEmbeddings", "ReplayChatModel", "load_gsm8k", "Price",
    "DEFAULT_PRICES", "call_cost", "router_embedder", "CONFIG_THRESHOLD", "CONFIG_ROUTER", "CONFIG_STRONG_FRACTION",
    "DECISION_EVENT",
    "RouteLLMDecisionModel", "RouteLLMMiddleware",
]


# Agent pieces need langchain>=1.5 (create_agent, middleware, decision models): imported on first use.
_AGENT_EXPORTS = {"RouteLLMDecisionModel": "decision_model", "RouteLLMMiddleware": "middleware"}


def __getattr__(name: str):
    if name in _AGENT_EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_AGENT_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
