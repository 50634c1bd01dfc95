"""Multi-model evaluation: hull and AIQ by hand, the curve's baselines, and cross-fitting without leakage."""

from __future__ import annotations

import numpy as np
import pytest

from routellm_core.evaluation.multi_data import MultiBenchmark, routerbench_multi
from routellm_core.evaluation.multi_model import (aiq, cross_fit_probabilities, evaluate_multi, hull_function,
                                                  markdown_table, save_multi_plot)


def test_hull_drops_points_below_chords_and_after_the_best():
    costs = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    quality = np.array([0.2, 0.3, 0.8, 0.5, 0.7])  # (2, .3) lies below the chord (1,.2)-(3,.8); 4 and 5 after the best
    hc, hq = hull_function(costs, quality)
    assert hc.tolist() == [1.0, 3.0] and hq.tolist() == [0.2, 0.8]
    # AIQ over [1, 5]: triangle-ish ramp from .2 to .8 over [1, 3], then flat .8 over [3, 5]
    assert aiq(costs, quality, 1.0, 5.0) == pytest.approx(((0.2 + 0.8) / 2 * 2 + 0.8 * 2) / 4, abs=1e-4)


def _synthetic(n=300, seed=0):
    rng = np.random.default_rng(seed)
    difficulty = rng.random(n)
    skill = np.array([0.2, 0.5, 0.9])  # cheap, mid, expensive
    quality = (skill[None, :] > difficulty[:, None]).astype(float)
    cost = np.tile([0.1, 1.0, 10.0], (n, 1))
    return MultiBenchmark("synthetic", [f"prompt {i}" for i in range(n)], ["cheap", "mid", "big"], quality, cost,
                          "correctness")


def test_a_router_that_knows_the_difficulty_beats_the_random_mix():
    bench = _synthetic()
    q = bench.quality
    pairwise = np.full((bench.n, 3, 3), 0.5)
    for a in range(3):
        for b in range(3):
            if a != b:  # P(a beats b) from the true outcome, softened
                pairwise[:, a, b] = 0.5 + 0.45 * (q[:, a] - q[:, b])
    expected = bench.cost.copy()
    res = evaluate_multi(bench, pairwise, expected, n_boot=20)
    assert res.aiq_router > res.aiq_mix and res.gain_interval[0] > 0
    # oracle: the cheapest model that gets the item's best score (here: the cheapest that is right, else cheap)
    cheapest_right = np.where(q.any(axis=1), np.argmax(q > 0, axis=1), 0)
    assert res.oracle == (pytest.approx(bench.cost[np.arange(bench.n), cheapest_right].mean()),
                          pytest.approx(q.max(axis=1).mean()))
    # uninformative probabilities cannot beat the hull of single models
    flat = evaluate_multi(bench, np.full((bench.n, 3, 3), 0.5), expected, n_boot=0)
    assert flat.aiq_router <= flat.aiq_mix + 1e-9
    table = markdown_table(res)
    assert "| big |" in table and "router - random mix" in table


def test_plot_is_written(tmp_path):
    bench = _synthetic(60)
    res = evaluate_multi(bench, np.full((bench.n, 3, 3), 0.5), bench.cost, n_boot=0)
    path = save_multi_plot(res, tmp_path / "p.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cross_fit_never_scores_a_prompt_its_router_trained_on(data_dir):
    from routellm_core.routers.mf import MFRouter

    full = routerbench_multi(data_dir)
    keep = np.arange(40)
    bench = MultiBenchmark("rb-small", [full.prompts[i] for i in keep], full.models, full.quality[keep],
                           full.cost[keep], "correctness")
    seen: list[tuple[set[str], set[str]]] = []

    class Recording(MFRouter):
        def fit(self, records):
            self._trained = {r.prompt for r in records}
            return super().fit(records)

        def pairwise_probabilities(self, prompts, models):
            seen.append((self._trained, set(prompts)))
            return super().pairwise_probabilities(prompts, models)

    pairwise, expected = cross_fit_probabilities(
        bench, lambda: Recording(strong_model=full.models[0], weak_model=full.models[1], epochs=2, dim=16,
                                 show_progress=False), k=2)
    assert len(seen) == 2 and all(not (trained & scored) for trained, scored in seen)
    assert pairwise.shape == (40, 11, 11) and np.allclose(pairwise + pairwise.transpose(0, 2, 1), 1.0)
    assert expected.shape == (40, 11) and (expected > 0).all()


@pytest.mark.parametrize("bad", ["nope", "2"])
def test_a_bad_prompt_weight_is_a_one_line_error(bad, data_dir, tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "routellm_core.cli", "evaluate", "-b", "arena", "--multi-model",
                          "--prompt-weight", bad, "--no-plot", "--data-dir", str(data_dir), "-o", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "prompt" in out.stderr and bad in out.stderr
