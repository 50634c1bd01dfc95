"""LlamaIndex integration: a routed LLM, a routed query engine and a routing selector.

- :class:`RouteLLM` — a ``FunctionCallingLLM`` to use wherever LlamaIndex takes an LLM.
- :class:`RouteLLMQueryEngine` — routes the raw query between two whole query engines.
- :class:`RouteLLMSelector` — a selector for ``RouterQueryEngine`` with a strong and a weak tool.
- :class:`RouteLLMRoutingEvent` — the instrumentation event each decision emits.
- :func:`agent_routing` — the decision behind a ``FunctionAgent`` / ``AgentWorkflow`` answer.
"""

from __future__ import annotations

from .agents import agent_routing
from .events import RouteLLMRoutingEvent
from .llm import RouteLLM
from .query_engine import RouteLLMQueryEngine
from .routing import embedder_from_llamaindex
from .selector import RouteLLMSelector

__all__ = ["RouteLLM", "RouteLLMQueryEngine", "RouteLLMSelector", "RouteLLMRoutingEvent", "embedder_from_llamaindex",
           "agent_routing"]
