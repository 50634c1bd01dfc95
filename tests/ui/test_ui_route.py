"""Route tab: one prompt's decision, from the engine, with a real MF router and with bad input."""

from __future__ import annotations

import pytest

from routellm_core import load_router
from routellm_core.routers.random_router import RandomRouter

from ui_helpers import choose_router, errors, metrics, no_traceback, set_threshold

PROMPT = "Prove that there are infinitely many primes, then generalise to primes of the form 4k+3."


def route(at, prompt: str):
    at.text_area(key="route_prompt").set_value(prompt)
    return at.button(key="route_button").click().run()


@pytest.mark.parametrize("threshold", [0.2, 0.9])
def test_route_shows_the_engines_decision(make_app, threshold):
    at = set_threshold(make_app("random"), threshold)
    route(at, PROMPT)
    no_traceback(at)
    expected = load_router("random").route(PROMPT, threshold)
    shown = metrics(at)
    assert shown["P(strong wins)"] == f"{expected.probability:.3f}"
    assert shown["Threshold"] == f"{threshold:.3f}"
    assert shown["Chosen model"] == expected.role
    assert at.success[0].value.startswith(f"**Decision: {expected.role}**")
    relation = "at or above" if expected.role == "strong" else "below"
    assert any(relation in m.value for m in at.markdown)


def test_route_with_the_default_mf_router(make_app):
    """The real default router (MiniLM + matrix factorisation), as a user gets it."""
    at = make_app("mf", timeout=900)
    start = at.sidebar.number_input(key="threshold").value  # the calibrated start (test_ui_start.py)
    route(at, PROMPT)
    no_traceback(at)
    expected = load_router("mf").route(PROMPT, start)
    assert float(metrics(at)["P(strong wins)"]) == pytest.approx(expected.probability, abs=5e-4)
    assert metrics(at)["Chosen model"] == expected.role
    assert "matrix factorisation" in " ".join(c.value for c in at.caption)


def test_route_with_a_checkpoint_path(make_app, tmp_path):
    path = RandomRouter(seed=7).save(tmp_path / "random-7")
    at = make_app(str(path))
    route(at, PROMPT)
    no_traceback(at)
    assert metrics(at)["P(strong wins)"] == f"{RandomRouter(seed=7).win_rate(PROMPT):.3f}"


@pytest.mark.parametrize("prompt", ["", "   \n  "])
def test_empty_prompt_is_a_clear_message(make_app, prompt):
    at = route(make_app("random"), prompt)
    no_traceback(at)
    assert errors(at) == ["the prompt is empty: type a prompt to route"]
    assert not at.metric


@pytest.mark.parametrize("kind", ["empty dir", "file", "missing", "blank"])
def test_a_router_path_that_is_not_a_checkpoint(make_app, tmp_path, kind):
    target = {"empty dir": tmp_path, "file": tmp_path / "notes.txt", "missing": tmp_path / "nope" / "router",
              "blank": "  "}[kind]
    if kind == "file":
        target.write_text("not a checkpoint")
    at = make_app("random")
    choose_router(at, str(target))
    route(at, PROMPT)
    no_traceback(at)
    expected = {"empty dir": "has no config.json", "file": "must be a directory", "missing": "checkpoint not found",
                "blank": "no router"}[kind]
    assert len(errors(at)) == 1 and expected in errors(at)[0], errors(at)
