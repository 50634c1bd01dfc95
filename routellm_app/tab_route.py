"""Route tab: one prompt in, the router's P(strong wins), the threshold, the chosen model and why.

The decision is the engine's: ``RoutingPolicy.decide`` (the one place routing is decided), with the
sidebar's router and threshold.
"""

from __future__ import annotations

import streamlit as st

from routellm_core import InvalidInputError

from . import services
from .explain import pair, reason, router_note, shown
from .feedback import shown_errors
from .settings import Settings

RESULT_KEY = "route_result"


def render(settings: Settings) -> None:
    st.subheader("Which model should answer this prompt?")
    prompt = st.text_area("Prompt", key="route_prompt", height=120,
                          placeholder="e.g. Prove that there are infinitely many primes.")
    if st.button("Route", type="primary", key="route_button"):
        st.session_state.pop(RESULT_KEY, None)
        with shown_errors():
            if not prompt.strip():
                raise InvalidInputError("the prompt is empty: type a prompt to route")
            decision = services.decide(settings.router, [prompt], settings.threshold)[0]
            learned = services.router_description(settings.router) if settings.router else None
            st.session_state[RESULT_KEY] = (decision, pair(services.router(settings.router)), learned)
    if RESULT_KEY in st.session_state:
        decision, models, learned = st.session_state[RESULT_KEY]
        show(decision, models, learned)


def show(decision, models: dict[str, str], learned: str | None = None) -> None:
    p_text, t_text, _ = shown(decision.probability, decision.threshold)  # the digits rule: see explain.shown
    left, middle, right = st.columns(3)
    left.metric("P(strong wins)", p_text)
    middle.metric("Threshold", t_text)
    right.metric("Chosen model", decision.role)
    st.success(f"**Decision: {decision.role}** — {models[decision.role]}", icon=":material/alt_route:")
    st.write(reason(decision, models))
    st.caption(router_note(decision, learned))
