"""Cross-fitting never scores a prompt with a router that was trained on it."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from routellm_core.errors import InvalidInputError
from routellm_core.evaluation import Evaluator, load_correctness_benchmark
from routellm_core.evaluation.cache import ScoreCache
from routellm_core.evaluation.crossfit import assign_folds, cross_fit_scores
from routellm_core.evaluation.metrics import curve_metrics, exact_curve
from routellm_core.routers.base import Router

DOMAINS = ["abstract_algebra", "anatomy", "astronomy", "business_ethics", "college_biology", "computer_security"]


class Memorizer(Router):
    """A real (if silly) learner: recalls the label of any prompt it was trained on, 0.5 otherwise.

    If a fold's router were trained on a prompt it scores, that prompt's score would be its golden
    label instead of 0.5 -- the leak these tests look for.
    """

    name = "memorizer"
    trainable = True
    trained: list[Memorizer] = []

    def fit(self, records):
        self.seen = {r.prompt: r.outcome for r in records}
        self.scored: list[str] = []
        Memorizer.trained.append(self)
        return self

    def _predict(self, prompts):
        self.scored += prompts
        return np.array([self.seen.get(p, 0.5) for p in prompts])


@pytest.fixture
def mmlu_small(mmlu):
    return mmlu.subset(np.flatnonzero(np.isin(mmlu.groups, DOMAINS)))


def test_folds_keep_whole_groups_and_are_balanced(mmlu):
    folds = assign_folds(mmlu.n, 5, mmlu.groups)
    fold_of_group = {}
    for g, f in zip(mmlu.groups, folds):
        assert fold_of_group.setdefault(g, f) == f  # a domain never spans two folds
    sizes = np.bincount(folds)
    assert len(sizes) == 5 and sizes.max() - sizes.min() < 0.1 * mmlu.n / 5
    ungrouped = assign_folds(100, 4, seed=1)
    assert sorted(Counter(ungrouped).values()) == [25, 25, 25, 25]
    with pytest.raises(InvalidInputError, match="K >= 1"):
        assign_folds(10, 0)
    assert not assign_folds(10, 1).any()  # K = 1: the whole benchmark is held out
    with pytest.raises(InvalidInputError, match="groups into 9 folds"):
        assign_folds(mmlu.n, 9, ["a", "b"] * (mmlu.n // 2) + ["a"] * (mmlu.n % 2))


def test_cross_fit_never_scores_a_prompt_it_trained_on(mmlu_small):
    Memorizer.trained.clear()
    scores, folds, reports = cross_fit_scores(Memorizer, mmlu_small, 3)
    assert len(Memorizer.trained) == 3
    for router in Memorizer.trained:
        assert router.scored and not set(router.scored) & set(router.seen)
    scored = Counter(p for r in Memorizer.trained for p in r.scored)
    assert scored == Counter(mmlu_small.prompts)  # every item scored exactly once
    assert np.all(scores == 0.5)
    assert [r.scored for r in reports] == np.bincount(folds).tolist()
    assert sum(len(r.groups) for r in reports) == len(DOMAINS)


def test_leaky_training_would_be_detected(mmlu_small):
    """The same learner trained on all golden labels scores like the oracle; cross-fitted, like chance."""
    leaky = Memorizer().fit(mmlu_small.golden_records()).predict_proba(mmlu_small.prompts)
    honest, _, _ = cross_fit_scores(Memorizer, mmlu_small, 3)
    weak, strong = mmlu_small.weak_performance, mmlu_small.strong_performance

    def apgr(s):
        return curve_metrics(exact_curve(s, mmlu_small.strong_scores, mmlu_small.weak_scores), weak, strong, "first").apgr

    assert apgr(leaky) > 0.9
    assert apgr(honest) == pytest.approx(0.5)


def test_duplicate_prompts_across_folds_are_removed_from_training(tmp_path):
    path = tmp_path / "dup.csv"
    rows = ["prompt,strong,weak,topic"] + [f"question {i},{i % 2},0,t{i % 4}" for i in range(40)]
    rows += ["the same question,1,0,t0", "the same question,1,0,t1", "THE SAME  question,1,0,t2"]
    path.write_text("\n".join(rows) + "\n")
    bench = load_correctness_benchmark(path, "strong", "weak", group_column="topic")
    Memorizer.trained.clear()
    _, _, reports = cross_fit_scores(Memorizer, bench, 4)
    for router in Memorizer.trained:
        seen = {" ".join(p.lower().split()) for p in router.seen}
        assert not seen & {" ".join(p.lower().split()) for p in router.scored}
    assert sum(r.removed_overlap for r in reports) > 0


def test_evaluator_cross_fits_a_real_router_and_caches_it(mmlu, small_sw_checkpoint, eval_alpaca_subset, tmp_path):
    bench = mmlu.subset(np.flatnonzero(np.isin(mmlu.groups, DOMAINS[:3])), name="mmlu-small")
    ev = Evaluator(cross_fit=3, cache=ScoreCache(tmp_path / "cache"), base_records=eval_alpaca_subset, log=None,
                   with_cost=False)
    first = ev.evaluate_router(str(small_sw_checkpoint), bench)
    assert first.source == "cross-fit 3" and len(first.folds) == 3
    assert {g for f in first.folds for g in f.groups} == set(DOMAINS[:3])
    assert all(f.train_records >= len(eval_alpaca_subset) for f in first.folds)
    assert np.isfinite(first.scores).all() and first.scores.std() > 0
    again = ev.evaluate_router(str(small_sw_checkpoint), bench)
    np.testing.assert_array_equal(again.scores, first.scores)
    assert [f.to_dict() for f in again.folds] == [f.to_dict() for f in first.folds]
    assert again.seconds < first.seconds


class _NeedsArgs(Memorizer):
    name = "needs_args"

    def __init__(self, table):  # keeps its parameter under another name: get_params cannot report it
        self.lookup = table


def test_cross_fit_of_a_router_that_cannot_be_rebuilt_is_a_clear_error(mmlu_small):
    with pytest.raises(InvalidInputError, match="cannot cross-fit router 'needs_args'"):
        Evaluator(cross_fit=2, cache=None, log=None, with_cost=False, base_records=[]).evaluate_router(
            _NeedsArgs({}), mmlu_small)


def test_default_router_trained_on_the_benchmark_is_scored_out_of_fold(mmlu_small, monkeypatch):
    """A default router whose training data holds the benchmark's labels is cross-fitted automatically."""
    from routellm_core.records import PreferenceRecord
    from routellm_core.routers import registry

    monkeypatch.setitem(registry._ROUTER_CLASSES, "memorizer", f"{Memorizer.__module__}:Memorizer")
    external = [PreferenceRecord("an unrelated prompt", "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1", 1.0)]
    leaky_default = external + mmlu_small.golden_records()  # like the shipped defaults: they include MMLU labels
    ev = Evaluator(cache=None, base_records=leaky_default, log=None, with_cost=False)
    assert len(ev.base_records_for(mmlu_small)) == 1  # only the external record survives
    Memorizer.trained.clear()
    result = ev.evaluate_router("memorizer", mmlu_small)
    assert result.source == "cross-fit 5" and len(Memorizer.trained) == 5
    for router in Memorizer.trained:
        assert "an unrelated prompt" in router.seen
        assert router.scored and not set(router.scored) & set(router.seen)
    assert np.all(result.scores == 0.5)  # a leak would have put golden labels here


def test_cross_fit_one_holds_the_whole_benchmark_out(mmlu_small):
    from routellm_core.evaluation.cli import sample_benchmark

    sample = sample_benchmark(mmlu_small, 40, seed=3)
    assert sample.n == 40 and set(sample.prompts) <= set(mmlu_small.prompts)
    assert sample.prompts == sample_benchmark(mmlu_small, 40, seed=3).prompts
    with pytest.raises(InvalidInputError, match="at least 2"):
        sample_benchmark(mmlu_small, 1)
    Memorizer.trained.clear()
    scores, folds, reports = cross_fit_scores(Memorizer, sample, 1, mmlu_small.golden_records())
    assert len(Memorizer.trained) == 1 and not folds.any()
    assert reports[0].golden_records == 0 and reports[0].removed_overlap == 40
    assert np.all(scores == 0.5)  # trained on the other MMLU items only
