"""Route tab: one prompt in, the router's P(strong wins), the threshold, the chosen model and why."""

from __future__ import annotations

import streamlit as st

from routellm_core import InvalidInputError

from . import services
from .explain import pair, reason, router_note
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
            router = services.router(settings.router)
            with services.scoring_lock(router):
                decision = router.route(prompt, settings.threshold)
            st.session_state[RESULT_KEY] = (decision, pair(router))
    if RESULT_KEY in st.session_state:
        decision, models = st.session_state[RESULT_KEY]
        show(decision, models)


def show(decision, models: dict[str, str]) -> None:
    left, middle, right = st.columns(3)
    left.metric("P(strong wins)", f"{decision.probability:.3f}")
    middle.metric("Threshold", f"{decision.threshold:.3f}")
    right.metric("Chosen model", decision.role)
    st.success(f"**Decision: {decision.role}** — {models[decision.role]}", icon=":material/alt_route:")
    st.write(reason(decision, models))
    st.caption(router_note(decision))
