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
    A cascade (docs/cascade.md) also reports ``first_role`` (the prompt stage's), the weak answer's
    ``answer_p_inadequate`` against ``escalate_threshold``, whether it ``escalated``, why it was
    ``cascade_skipped`` if so, and the ``calls`` made (``wasted_calls`` were thrown away).
    Routing among many models (``kind="price"``) has no roles: ``model`` answered, ``routed_model``
    was chosen, ``candidates`` holds every candidate's estimate. ``decision_id`` names the decision.
    """

    role: Optional[Literal["strong", "weak"]] = None
    model: str
    routed_role: Optional[Literal["strong", "weak"]] = None
    probability: Optional[float] = None
    threshold: Optional[float] = None
    router: str
    fallback: bool = False
    fallback_error: Optional[str] = None
    source: Literal["llm", "query_engine", "selector"] = "llm"
    cascade: bool = False
    first_role: Optional[Literal["strong", "weak"]] = None
    answer_p_inadequate: Optional[float] = None
    escalate_threshold: Optional[float] = None
    escalated: bool = False
    cascade_skipped: Optional[str] = None
    calls: list[str] = []
    wasted_calls: int = 0
    decision_id: Optional[str] = None
    kind: Optional[str] = None
    routed_model: Optional[str] = None
    top_model: Optional[str] = None
    candidates: Optional[list[dict[str, Any]]] = None

    @classmethod
    def class_name(cls) -> str:
        return "RouteLLMRoutingEvent"


def emit_routing_event(payload: dict[str, Any], source: Literal["llm", "query_engine", "selector"]) -> None:
    """Send one decision (``Decision.metadata``: keys that do not apply are None) to every event handler."""
    dispatcher.event(RouteLLMRoutingEvent(**{k: v for k, v in payload.items() if v is not None}, source=source))
