"""Tune tab: share of strong calls -> threshold (engine's calibration), the curve's operating point, bad files."""

from __future__ import annotations

import numpy as np
import pytest
from ui_helpers import errors, metrics, no_traceback

from routellm_core import load_router, threshold_for_fraction
from routellm_core.evaluation import load_benchmark
from routellm_core.evaluation.cost import PAPER_PRICES, item_costs
from routellm_core.evaluation.operating_point import operating_point
from routellm_core.routers.random_router import RandomRouter


def calibrated(make_app, benchmark: str = "mt-bench"):
    at = make_app("random", tab="Tune")
    at.selectbox(key="tune_benchmark").set_value(benchmark).run()
    return at.button(key="tune_button").click().run()


def test_slider_moves_the_threshold_and_the_operating_point(make_app, data_dir):
    at = calibrated(make_app)
    no_traceback(at)
    bench = load_benchmark("mt-bench", data_dir)
    scores = load_router("random").predict_proba(bench.prompts)
    seen = {}
    for share in (20, 70):
        at.slider(key="tune_share").set_value(share).run()
        no_traceback(at)
        shown = metrics(at)
        assert shown["Threshold"] == f"{threshold_for_fraction(scores, share / 100):.4f}"
        # the curve's point: the evaluation harness's first random seed, at the sidebar's (paper) prices
        point = operating_point(RandomRouter(seed=0).predict_proba(bench.prompts), bench, share / 100,
                                item_costs(bench, PAPER_PRICES))
        assert shown["Quality here"] == f"{point.performance:.3f}"
        assert shown["Saving"] == f"{point.saving:.0%}"
        seen[share] = shown
    assert seen[20]["Threshold"] != seen[70]["Threshold"]
    assert float(seen[20]["Saving"].rstrip("%")) > float(seen[70]["Saving"].rstrip("%"))
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")


def test_use_this_threshold_sets_the_sidebar(make_app):
    at = calibrated(make_app)
    at.slider(key="tune_share").set_value(35).run()
    shown = metrics(at)["Threshold"]
    at.button(key="tune_use").click().run()
    no_traceback(at)
    assert f"{at.sidebar.number_input(key='threshold').value:.4f}" == shown


def test_calibrate_on_an_uploaded_file(make_app):
    prompts = [f"question number {i}: how do I sort a list of {i} items?" for i in range(40)]
    at = calibrated(make_app)
    at.file_uploader(key="tune_file").upload("mine.txt", "\n".join(prompts).encode(), "text/plain").run()
    at.slider(key="tune_share").set_value(25).run()
    no_traceback(at)
    expected = threshold_for_fraction(load_router("random").predict_proba(prompts), 0.25)
    assert metrics(at)["Threshold"] == f"{expected:.4f}"
    assert any("40 prompts of mine.txt" in m.value for m in at.markdown)
    assert np.isclose(sum(load_router("random").predict_proba(prompts) >= expected), 10)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("nocol.csv", b"question,answer\nwhat?,that\n", "has no 'prompt' column (columns: question, answer)"),
    ("binary.csv", b"\xff\xfe\x00\x81garbage", "is not readable as UTF-8 text"),
])
def test_a_bad_calibration_file_is_a_clear_message(make_app, name, content, message):
    at = calibrated(make_app)
    at.file_uploader(key="tune_file").upload(name, content, "text/csv").run()
    no_traceback(at)
    assert any(message in e for e in errors(at)), errors(at)
    assert "Quality here" in metrics(at)  # the benchmark curve still shows


def test_prices_in_the_sidebar_change_the_cost(make_app):
    at = calibrated(make_app)
    at.slider(key="tune_share").set_value(30).run()
    before = metrics(at)
    for key in ("price_weak_in", "price_weak_out"):  # a free weak model: the cost is the strong calls' alone
        at.sidebar.number_input(key=key).set_value(0.0)
    at.run()
    no_traceback(at)
    after = metrics(at)
    assert float(after["Saving"].rstrip("%")) > float(before["Saving"].rstrip("%"))
    assert after["Quality here"] == before["Quality here"]


def test_a_default_trained_router_asks_before_cross_fitting(make_app, data_dir, monkeypatch, tmp_path):
    """Without matching shipped scores (here: none at all), the mf curve waits for a click to cross-fit."""
    from routellm_core import calibrate_threshold
    from routellm_core.evaluation import shipped

    monkeypatch.setattr(shipped, "scores_dir", lambda: tmp_path / "no-shipped-scores")
    at = make_app("mf", tab="Tune", timeout=900)
    at.button(key="tune_button").click().run()
    no_traceback(at)
    expected = calibrate_threshold(load_router("mf"), load_benchmark("mt-bench", data_dir).prompts, 0.5)
    assert metrics(at)["Threshold"] == f"{expected:.4f}"
    assert "Quality here" not in metrics(at)
    assert "out-of-fold" in at.info[0].value
    assert at.button(key="tune_cross_fit_button")


def test_the_default_routers_curve_appears_at_once_from_shipped_scores(make_app, data_dir, monkeypatch):
    """mf on MT-Bench: the package's out-of-fold scores draw the curve; nothing is cross-fitted or asked."""
    from routellm_core.evaluation import runner
    from safetensors.numpy import load_file

    from routellm_core.evaluation.shipped import score_paths

    def no_cross_fitting(*args, **kwargs):
        raise AssertionError("the Tune tab cross-fitted although the package ships these scores")

    monkeypatch.setattr(runner, "cross_fit_scores", no_cross_fitting)
    at = make_app("mf", tab="Tune", timeout=300)
    at.button(key="tune_button").click().run()
    at.slider(key="tune_share").set_value(40).run()
    no_traceback(at)
    assert "tune_cross_fit_button" not in [b.key for b in at.button] and not at.info
    bench = load_benchmark("mt-bench", data_dir)
    oof = load_file(str(score_paths("mf")[0]))["mt-bench"].astype(np.float64)  # the shipped scores
    point = operating_point(oof, bench, 0.4, item_costs(bench, PAPER_PRICES))
    shown = metrics(at)
    assert shown["Quality here"] == f"{point.performance:.3f}" and shown["Saving"] == f"{point.saving:.0%}"
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    caption = " ".join(c.value for c in at.caption)
    assert "out-of-fold scores shipped with the package (cross-fit 5)" in caption
