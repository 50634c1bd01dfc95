"""Words for a routing decision: which model answers and why (read from the engine's decision).

The digits rule: a probability and its threshold are shown with the fewest decimals (at least 3) at which
they differ, so the comparison a reader makes on screen is the one the engine made; the words say "just
above" or "just below" when more than 3 decimals were needed (or even :data:`MAX_DIGITS` cannot separate them).
"""

from __future__ import annotations

from routellm_core import STRONG_MODEL, WEAK_MODEL, Decision, Router
from routellm_core.calibration import comparison_text

from .settings import ROUTER_NOTES

MIN_DIGITS = 3
MAX_DIGITS = 6


def pair(router: Router) -> dict[str, str]:
    """Role -> model name: the router's own pair if it has one, else the paper's pair."""
    return {"strong": getattr(router, "strong_model", STRONG_MODEL), "weak": getattr(router, "weak_model", WEAK_MODEL)}


def shown(probability: float, threshold: float) -> tuple[str, str, str]:
    """(probability text, threshold text, relation): the engine's digits rule, ``routellm_core.comparison_text``."""
    return comparison_text(probability, threshold, MIN_DIGITS, MAX_DIGITS)


def reason(decision: Decision, models: dict[str, str]) -> str:
    """One sentence: the score, how it relates to the threshold, and who answers."""
    p_text, t_text, relation = shown(decision.probability, decision.threshold)
    return (f"P(strong wins) = {p_text} is {relation} the threshold {t_text}, "
            f"so the {decision.role} model ({models[decision.role]}) answers.")


def router_note(decision: Decision, learned: str | None = None) -> str:
    """How the router decides, and (from its manifest) what it learned from."""
    note = ROUTER_NOTES.get(decision.router)
    text = f"Router {decision.router}: {note}." if note else f"Router {decision.router}."
    return f"{text} It {learned}." if learned else text
