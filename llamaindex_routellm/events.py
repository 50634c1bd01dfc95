"""The instrumentation event that reports each routing decision to LlamaIndex's event handlers.

Handlers attached to the root dispatcher (``llama_index.core.instrumentation.get_dispatcher()``),
as observability integrations do, receive it inside the span of the routed call.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.base import BaseEvent

dispatcher = get_dispatcher(__name__)


class RouteLLMRoutingEvent(BaseEvent):
    """Which model answered a routed call, and why.

    ``role``/``model`` answered; ``routed_role`` is what the router chose (they differ only when
    ``fallback`` is true, i.e. the routed model raised ``fallback_error``). ``probability`` is P(strong
    wins) (None when there was no text to judge), ``threshold`` the cut-off, ``router`` its name,
    ``source`` the component that routed: ``"llm"``, ``"query_engine"`` or ``"selector"``.
    """

    role: Literal["strong", "weak"]
    model: str
    routed_role: Literal["strong", "weak"]
    probability: Optional[float] = None
    threshold: Optional[float] = None
    router: str
    fallback: bool = False
    fallback_error: Optional[str] = None
    source: Literal["llm", "query_engine", "selector"] = "llm"

    @classmethod
    def class_name(cls) -> str:
        return "RouteLLMRoutingEvent"


def emit_routing_event(payload: dict[str, Any], source: Literal["llm", "query_engine", "selector"]) -> None:
    """Send one decision (``RoutingPolicy.metadata``) to every event handler."""
    dispatcher.event(RouteLLMRoutingEvent(**payload, source=source))
