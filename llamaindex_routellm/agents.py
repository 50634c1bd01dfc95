"""Routing in LlamaIndex agents (``FunctionAgent``, ``AgentWorkflow``) with :class:`RouteLLM` as the LLM.

Nothing special is needed to route an agent: give it ``llm=RouteLLM(...)``. Each model call of the
agent's tool loop routes on the last user message, so all the steps of one user message get the
same decision (the message is the task, tool results are not re-judged), and each call emits a
:class:`~llamaindex_routellm.events.RouteLLMRoutingEvent` to LlamaIndex's event handlers.
:func:`agent_routing` reads the decision behind an agent's answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional


def agent_routing(output: Any) -> Optional[dict[str, Any]]:
    """The routing metadata of an agent's answer, or None if no RouteLLM produced it.

    Accepts what agents hand out: the ``AgentOutput`` that ``await agent.run(...)`` returns, the
    ``AgentStream`` events of ``handler.stream_events()``, or a ``ChatResponse``. Keys are those
    of :data:`routellm_core.METADATA_FIELDS` (``role``, ``model``, ``routed_role``, ``probability``...).
    """
    raw = getattr(output, "raw", None)
    if isinstance(raw, Mapping) and isinstance(raw.get("routellm"), Mapping):
        return dict(raw["routellm"])
    for holder in (output, getattr(output, "response", None), getattr(output, "message", None)):
        extra = getattr(holder, "additional_kwargs", None)
        if isinstance(extra, Mapping) and isinstance(extra.get("routellm"), Mapping):
            return dict(extra["routellm"])
    return None
