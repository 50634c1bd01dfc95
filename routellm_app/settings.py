"""The sidebar: which router, which threshold, which prices. Every tab reads these settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st

from routellm_core import STRONG_MODEL, WEAK_MODEL, router_names
from routellm_core.evaluation.cost import PAPER_PRICES, Price

from . import services
from .feedback import USER_ERRORS

CHECKPOINT = "checkpoint path..."
DEFAULT_ROUTER = "mf"
ROUTER_ENV = "ROUTELLM_UI_ROUTER"  # set by ``routellm-core ui --router``: a name or a checkpoint directory
THRESHOLD_KEY = "threshold"
START_KEY = "threshold_start"  # (router, calibrated start) last applied to the threshold

# How each kind of router decides, shown as the "why" next to a decision. What a checkpoint learned
# from is never written here: it is read from the checkpoint's manifest (services.router_description).
ROUTER_NOTES = {
    "mf": "matrix factorisation: the prompt's MiniLM embedding is scored against learned vectors of the two models",
    "sw_ranking": "similarity-weighted Elo: labels of training prompts similar to this one, weighted by "
                  "embedding similarity",
    "bert": "a BERT classifier fine-tuned on preference labels reads the prompt",
    "causal_llm": "a small causal LLM fine-tuned to predict which model wins reads the prompt",
    "random": "a random score: the baseline every learned router must beat",
}


@dataclass(frozen=True)
class Settings:
    """What the sidebar chose. ``router`` is None while a checkpoint path is still to be typed."""

    router: str | None
    threshold: float
    prices: dict[str, Price]  # "strong" / "weak" -> USD per million tokens

    def price_key(self) -> tuple[tuple[str, float, float], ...]:
        """Hashable prices of the benchmark pair, for cached evaluations."""
        return tuple((model, self.prices[role].input_per_million, self.prices[role].output_per_million)
                     for role, model in (("strong", STRONG_MODEL), ("weak", WEAK_MODEL)))


def set_threshold(value: float) -> None:
    """Callback for "use this threshold" buttons (a widget's value can only change before it is drawn)."""
    st.session_state[THRESHOLD_KEY] = round(float(value), 4)


def _price(label: str, default: Price, key: str) -> Price:
    left, right = st.columns(2)
    cost_in = left.number_input(f"{label} input $/1M", min_value=0.0, value=default.input_per_million, step=0.1,
                                key=f"{key}_in", format="%.2f")
    cost_out = right.number_input(f"{label} output $/1M", min_value=0.0, value=default.output_per_million, step=0.1,
                                  key=f"{key}_out", format="%.2f")
    return Price(cost_in, cost_out)


def starting_point(router: str | None) -> services.StartPoint | None:
    """Put the threshold at the router's calibrated 50% point on the first run and when the router changes,
    unless the user moved it. None when no start can be computed (the tabs then show why)."""
    start = None
    if router:
        try:
            start = services.start_threshold(router)
        except USER_ERRORS:
            start = None  # a bad checkpoint path: the tabs say what is wrong with it
    previous = st.session_state.get(START_KEY)
    untouched = previous is not None and st.session_state.get(THRESHOLD_KEY) == previous[1]
    if THRESHOLD_KEY not in st.session_state or (untouched and previous[0] != router):
        st.session_state[THRESHOLD_KEY] = start.threshold if start is not None else 0.5
    if start is not None:
        st.session_state[START_KEY] = (router, start.threshold)
    return start


def sidebar() -> Settings:
    """Draw the sidebar and return its settings."""
    with st.sidebar:
        st.header("Router")
        names = router_names()
        start = os.environ.get(ROUTER_ENV, "").strip() or DEFAULT_ROUTER
        if "router_choice" not in st.session_state:
            st.session_state["router_choice"] = start if start in names else CHECKPOINT
            st.session_state["checkpoint_path"] = "" if start in names else start
        choice = st.selectbox("Router", [*names, CHECKPOINT], key="router_choice",
                              help="A default router (mf and sw_ranking ship with the package) or a checkpoint directory")
        router: str | None = choice
        if choice == CHECKPOINT:
            path = st.text_input("Checkpoint directory", key="checkpoint_path",
                                 placeholder="/path/to/router (config.json + model.safetensors)")
            router = path.strip() or None
        elif choice in ROUTER_NOTES:
            st.caption(ROUTER_NOTES[choice])
        learned = services.router_description(router) if router else None
        if learned:
            st.caption(f"This checkpoint {learned}.")
        start = starting_point(router)
        threshold = st.number_input("Threshold: strong iff P(strong wins) >= threshold", min_value=0.0, max_value=1.0,
                                    step=0.01, format="%.4f", key=THRESHOLD_KEY,
                                    help="The Tune tab turns a share of strong calls into a threshold")
        if start is not None:
            if float(threshold) == start.threshold:
                st.caption(f"Starts at {start.threshold:.4f}: {start.describe()}.")
            else:
                st.caption(f"The calibrated start ({start.fraction:.0%} strong) is {start.threshold:.4f}.")
                st.button("Back to the calibrated start", key="threshold_reset", on_click=set_threshold,
                          args=(start.threshold,))
        with st.expander("Prices (USD per million tokens)"):
            prices = {"strong": _price(f"Strong ({STRONG_MODEL})", PAPER_PRICES[STRONG_MODEL], "price_strong"),
                      "weak": _price(f"Weak ({WEAK_MODEL})", PAPER_PRICES[WEAK_MODEL], "price_weak")}
            st.caption("Defaults: the RouteLLM paper's estimates (section 5.4).")
    return Settings(router, float(threshold), prices)
