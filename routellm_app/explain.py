"""Words for a routing decision: which model answers and why (read from the engine's decision)."""

from __future__ import annotations

from routellm_core import STRONG_MODEL, WEAK_MODEL, Router, RoutingDecision

from .settings import ROUTER_NOTES


def pair(router: Router) -> dict[str, str]:
    """Role -> model name: the router's own pair if it has one, else the paper's pair."""
    return {"strong": getattr(router, "strong_model", STRONG_MODEL), "weak": getattr(router, "weak_model", WEAK_MODEL)}


def reason(decision: RoutingDecision, models: dict[str, str]) -> str:
    """One sentence: the score, how it relates to the threshold, and who answers."""
    relation = "at or above" if decision.use_strong else "below"
    return (f"P(strong wins) = {decision.probability:.3f} is {relation} the threshold {decision.threshold:.3f}, "
            f"so the {decision.role} model ({models[decision.role]}) answers.")


def router_note(decision: RoutingDecision) -> str:
    note = ROUTER_NOTES.get(decision.router)
    return f"Router {decision.router}: {note}." if note else f"Router {decision.router}."
