"""The leave-one-source-out recipe criterion (benchmarks/recipe_cv.py): within-pair AUC and its fallback."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from routellm_core.records import PreferenceRecord

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "recipe_cv.py"


@pytest.fixture(scope="module")
def recipe_cv():
    spec = importlib.util.spec_from_file_location("recipe_cv_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["recipe_cv_script"] = module
    spec.loader.exec_module(module)
    return module


def _brute_auc(score, won, weight):
    pos = [(s, w) for s, y, w in zip(score, won, weight) if y]
    neg = [(s, w) for s, y, w in zip(score, won, weight) if not y]
    num = sum(wp * wn * ((sp > sn) + 0.5 * (sp == sn)) for sp, wp in pos for sn, wn in neg)
    return num / (sum(w for _, w in pos) * sum(w for _, w in neg))


def test_weighted_auc_matches_the_pairwise_definition_with_ties_and_weights(recipe_cv):
    rng = np.random.default_rng(3)
    score = rng.integers(0, 6, 120).astype(float)  # many ties
    won = rng.random(120) < 0.35
    weights = np.vstack([np.ones(120), rng.integers(0, 4, 120)]).astype(float)
    got = recipe_cv.weighted_auc(score, won, weights)
    assert got[0] == pytest.approx(_brute_auc(score, won, weights[0]))
    assert got[1] == pytest.approx(_brute_auc(score, won, weights[1]))
    assert np.isnan(recipe_cv.weighted_auc(score, np.ones(120, dtype=bool), weights[:1]))[0]


class _Router:
    """A two-model-per-prompt scorer with the interface the criterion reads (models_, scores, the pair)."""

    def __init__(self, models, table, strong="s", weak="w"):
        self.models_, self.table, self.strong_model, self.weak_model = models, table, strong, weak

    def scores(self, prompts):
        return np.array([[self.table.get((p, m), 0.0) for m in self.models_] for p in prompts])


def _records():
    # pair (x, y): x wins on the "hard" prompts, y on the easy ones; both orientations appear in the data
    out = []
    for i in range(20):
        hard = i % 2 == 0
        out.append(PreferenceRecord(f"hard {i}" if hard else f"easy {i}", "x", "y", 1.0 if hard else 0.0, "src"))
        out.append(PreferenceRecord(f"tie {i}", "y", "x", 0.5, "src"))
    return out


def test_within_pair_auc_scores_the_prompt_signal_not_the_stronger_model(recipe_cv):
    held = recipe_cv.HeldOut("src", _records(), n_boot=20, seed=0)
    assert held.pairs == [("x", "y")] and held.won.size == 20  # ties dropped, orientation by sorted names
    knows = {(p, "x"): (1.0 if p.startswith("hard") else 0.0) for p in held.prompts}
    values, info = recipe_cv.loso_scores(_Router(["x", "y", "s", "w"], knows), held)
    assert values[0] == pytest.approx(1.0) and info["fallback_comparisons"] == 0
    inverted = {k: -v for k, v in knows.items()}
    assert recipe_cv.loso_scores(_Router(["x", "y", "s", "w"], inverted), held)[0][0] == pytest.approx(0.0)
    # knowing only which model is stronger overall (a constant gap) is no routing signal
    constant = {(p, "x"): 3.0 for p in held.prompts}
    assert recipe_cv.loso_scores(_Router(["x", "y", "s", "w"], constant), held)[0][0] == pytest.approx(0.5)


def test_unknown_models_are_scored_by_the_routers_own_pair_direction(recipe_cv):
    held = recipe_cv.HeldOut("src", _records(), n_boot=20, seed=0)
    prior = {(p, "s"): (1.0 if p.startswith("hard") else 0.0) for p in held.prompts}
    values, info = recipe_cv.loso_scores(_Router(["s", "w"], prior), held)
    assert info["fallback_comparisons"] == 20
    assert values[0] == pytest.approx(1.0)  # x wins as often as y here: x counts as the strong one
    lo, hi = recipe_cv.interval(values)
    assert lo <= values[0] <= hi
