"""The first page: the calibrated starting threshold, the digits rule, and what the sidebar says a router learned."""

from __future__ import annotations

import numpy as np
import pytest
from ui_helpers import choose_router, metrics, no_traceback, set_threshold

from routellm_core import load_router, threshold_for_fraction
from routellm_core.evaluation import load_benchmark
from routellm_core.recipe import read_manifest
from routellm_core.routers.defaults import find_default_checkpoint

PROMPT = "Prove that there are infinitely many primes, then generalise to primes of the form 4k+3."


def route(at, prompt: str = PROMPT):
    at.text_area(key="route_prompt").set_value(prompt)
    return at.button(key="route_button").click().run()


def sidebar_text(at) -> str:
    return " ".join(c.value for c in at.sidebar.caption)


def test_the_page_starts_at_the_calibrated_50_percent_point_of_mf(make_app, data_dir):
    """No 0.5 default: the mf threshold that sends half of the real Arena prompts to the strong model."""
    from routellm_core.evaluation.shipped import calibration_scores

    at = make_app("mf")
    no_traceback(at)
    start = at.sidebar.number_input(key="threshold").value
    shipped = calibration_scores("mf")
    assert shipped is not None, "the shipped mf checkpoint should match its shipped Arena scores"
    assert start == round(threshold_for_fraction(shipped[0], 0.5), 4)
    assert start != 0.5
    # the shipped scores are the router's own: it really sends half of those prompts to strong (ties apart)
    prompts = load_benchmark("arena", data_dir).prompts
    share = float(np.mean(load_router("mf").predict_proba(prompts) >= start))
    assert abs(share - 0.5) <= 0.01, share
    text = sidebar_text(at)
    assert f"Starts at {start:.4f}" in text and "50% of 498 real Chatbot Arena prompts" in text and "shipped" in text


def test_moving_the_threshold_keeps_it_and_offers_the_start_back(make_app):
    at = make_app("random")
    start = at.sidebar.number_input(key="threshold").value
    assert start == round(threshold_for_fraction(load_router("random").predict_proba(
        load_benchmark("arena").prompts), 0.5), 4)
    assert "Starts at" in sidebar_text(at) and "scored by this router" in sidebar_text(at)
    set_threshold(at, 0.8)
    no_traceback(at)
    assert at.sidebar.number_input(key="threshold").value == 0.8
    assert f"The calibrated start (50% strong) is {start:.4f}" in sidebar_text(at)
    choose_router(at, "mf")  # a threshold the user chose is kept when the router changes
    assert at.sidebar.number_input(key="threshold").value == 0.8
    at.sidebar.button(key="threshold_reset").click().run()
    no_traceback(at)
    mf_start = at.sidebar.number_input(key="threshold").value
    assert mf_start not in (0.8, start) and "Starts at" in sidebar_text(at)


def test_an_untouched_start_follows_the_router(make_app):
    at = make_app("random")
    random_start = at.sidebar.number_input(key="threshold").value
    choose_router(at, "mf")
    mf_start = at.sidebar.number_input(key="threshold").value
    assert mf_start != random_start
    choose_router(at, "random")
    assert at.sidebar.number_input(key="threshold").value == random_start


@pytest.mark.parametrize("offset", [0.0, 2e-5, -2e-5, 1e-4, -1e-4, 3e-4, 0.02, -0.02])
def test_the_digits_on_screen_agree_with_the_decision(make_app, offset):
    """A threshold a hair away from P(strong wins): the numbers shown still compare the way the engine decided."""
    p = load_router("random").predict_proba([PROMPT])[0]
    threshold = float(p) - offset  # offset > 0: P is above the threshold
    at = route(set_threshold(make_app("random"), threshold))
    no_traceback(at)
    shown = metrics(at)
    p_text, t_text = shown["P(strong wins)"], shown["Threshold"]
    role = shown["Chosen model"]
    assert role == ("strong" if p >= threshold else "weak")
    assert len(p_text) == len(t_text) and len(p_text.split(".")[1]) >= 3
    sentence = next(m.value for m in at.markdown if m.value.startswith("P(strong wins) ="))
    if offset == 0.0:
        assert p_text == t_text and "exactly at" in sentence and role == "strong"
    else:
        assert (float(p_text) > float(t_text)) == (role == "strong")  # what a reader compares is what was decided
        assert f"= {p_text} is" in sentence and f"the threshold {t_text}," in sentence
        near = f"{p:.3f}" == f"{threshold:.3f}"  # three decimals would read the same: more are shown, and "just"
        assert ("just" in sentence) == near, sentence
        assert near == (len(p_text.split(".")[1]) > 3)
        assert ("above" in sentence) == (role == "strong")


def test_the_sidebar_reads_what_a_router_learned_from_its_manifest(make_app):
    at = make_app("sw_ranking")
    no_traceback(at)
    manifest = read_manifest(find_default_checkpoint("sw_ranking"))
    text = sidebar_text(at)
    assert f"learned from {manifest['training_records']:,} records on {manifest['training_prompts']:,} prompts" in text
    assert f"recipe {manifest['recipe']} v{manifest['recipe_version']}" in text
    for source in manifest["sources"]:
        assert f"{source['records']:,} records" in text
    assert "preference data" not in text
    route(at)
    assert f"{manifest['training_records']:,} records" in " ".join(c.value for c in at.caption)
