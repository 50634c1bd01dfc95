"""The Arena benchmark: harness sanity (random ~0.5, oracle > 0.9), intervals, no leak across folds or sources."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from routellm_core.data.tables import normalize_prompt
from routellm_core.evaluation import Evaluator, load_benchmark
from routellm_core.evaluation.human_votes import cross_fit_pairwise, pairwise_auc, vote_folds
from routellm_core.evaluation.metrics import bootstrap_apgr
from routellm_core.loaders import load_arena_hard, load_chatbot_arena
from routellm_core.records import PreferenceRecord
from routellm_core.routers.base import Router, StrongWeakPair


@pytest.fixture(scope="module")
def arena():
    return load_benchmark("arena")


@pytest.fixture(scope="module")
def arena_records():
    return load_arena_hard() + load_chatbot_arena()


def test_arena_benchmark_is_real_arena_hard(arena):
    assert arena.n == 498 and len(set(arena.groups)) == 250
    assert (arena.strong_model, arena.weak_model) == ("gpt-4o", "llama-3.1-70b-instruct")
    assert 80 < arena.strong_performance < 90 and 60 < arena.weak_performance < 75  # win rates vs gpt-4-0314, %
    assert arena.labels_in_training_data
    other = load_benchmark("arena", strong_model="qwen2.5-72b-instruct", weak_model="gpt-3.5-turbo-0125")
    assert "judge gpt-4-1106-preview" in other.unit and other.n == 498


def test_random_is_half_and_oracle_is_above_0_9_with_intervals(arena):
    ev = Evaluator(cache=None, log=None, with_cost=False, bootstrap=300)
    random, oracle = (ev.evaluate_router(spec, arena) for spec in ("random", "oracle"))
    assert 0.45 <= random.metrics.apgr <= 0.55
    assert oracle.metrics.apgr > 0.9
    lo, hi = random.apgr_ci
    assert lo < random.metrics.apgr < hi and lo < 0.5 < hi and hi - lo < 0.3
    assert oracle.apgr_ci[0] > 0.9


def test_bootstrap_interval_narrows_with_more_items():
    rng = np.random.default_rng(0)
    strong, weak = (rng.random(4000) < 0.8) * 100.0, (rng.random(4000) < 0.4) * 100.0
    scores = strong - weak + rng.normal(0, 60, 4000)
    wide = bootstrap_apgr(scores[:200], strong[:200], weak[:200], n_boot=200)
    narrow = bootstrap_apgr(scores, strong, weak, n_boot=200)
    assert wide[1] - wide[0] > 2 * (narrow[1] - narrow[0]) > 0


class Memorizer(StrongWeakPair, Router):
    """Recalls the outcome of any prompt it trained on (0.5 otherwise): a leak shows up as a non-0.5 score."""

    name = "arena-memorizer"
    trained: list = []

    def __init__(self, strong_model: str = "gpt-4o", weak_model: str = "llama-3.1-70b-instruct") -> None:
        self.strong_model, self.weak_model = strong_model, weak_model

    def get_params(self):
        return {"strong_model": self.strong_model, "weak_model": self.weak_model}

    def fit(self, records):
        self.seen = {normalize_prompt(r.prompt) for r in records}
        self.models_ = sorted({m for r in records for m in (r.model_a, r.model_b)})
        self.scored: list[str] = []
        Memorizer.trained.append(self)
        return self

    def _predict(self, prompts):
        self.scored += [normalize_prompt(p) for p in prompts]
        return np.array([1.0 if normalize_prompt(p) in self.seen else 0.5 for p in prompts])


def test_arena_cross_fit_never_leaks_a_prompt_across_folds_or_sources(arena, arena_records, monkeypatch):
    from routellm_core.routers import registry

    monkeypatch.setitem(registry._ROUTER_CLASSES, "arena-memorizer", f"{Memorizer.__module__}:Memorizer")
    # The same prompt in a second source (human votes hold 3 Arena-Hard prompts; add one more, re-spaced).
    extra = PreferenceRecord("  " + arena.prompts[7].upper() + " ", "koala-13b", "vicuna-13b", 1.0, "chatbot_arena")
    shared = {normalize_prompt(r.prompt) for r in arena_records if r.source.startswith("chatbot_arena")}
    assert len(shared & {normalize_prompt(p) for p in arena.prompts}) == 3
    Memorizer.trained.clear()
    ev = Evaluator(cache=None, base_records=[*arena_records, extra], log=None, with_cost=False, bootstrap=0)
    result = ev.evaluate_router("arena-memorizer", arena)
    assert result.source == "cross-fit 5" and len(Memorizer.trained) == 5
    assert np.all(result.scores == 0.5)  # no item scored by a router that saw its prompt, in any source
    cluster_fold = {}
    arena_norm = {normalize_prompt(p): g for p, g in zip(arena.prompts, arena.groups)}
    for f, router in enumerate(Memorizer.trained):
        assert router.scored and not set(router.scored) & router.seen
        # Other folds' Arena-Hard prompts (every model's verdicts) are training data.
        assert len(router.seen & set(arena_norm)) == arena.n - len(router.scored)
        for p in router.scored:
            assert cluster_fold.setdefault(arena_norm[p], f) == f  # a topic cluster lies in one fold
    assert Counter(p for r in Memorizer.trained for p in r.scored) == Counter(map(normalize_prompt, arena.prompts))


def test_human_vote_folds_hold_whole_prompts_and_never_leak(arena_records):
    votes = [r for r in arena_records if r.source.startswith("chatbot_arena")]
    dup = PreferenceRecord(" " + votes[0].prompt.lower(), "claude-1", "vicuna-13b", 0.0, "chatbot_arena")
    base = [*arena_records, dup]
    folds = vote_folds([r for r in base if r.source.startswith("chatbot_arena")], 5)
    assert folds[0] == folds[-1]  # the same prompt, twice, lies in one fold
    Memorizer.trained.clear()
    probs, outcome = cross_fit_pairwise(Memorizer, base, k=5)
    assert len(Memorizer.trained) == 5 and len(probs) == len(votes) + 1
    for router in Memorizer.trained:
        assert router.scored and not set(router.scored) & router.seen
    assert np.all(probs == 0.5) and sorted(set(outcome)) == [0.0, 0.5, 1.0]


def test_pairwise_auc():
    outcome = np.array([1.0, 0.0, 1.0, 0.5, 0.0])
    assert pairwise_auc(np.array([0.9, 0.2, 0.6, 0.5, 0.4]), outcome) == 1.0
    assert pairwise_auc(np.array([0.1, 0.8, 0.4, 0.5, 0.6]), outcome) == 0.0
    assert pairwise_auc(np.full(5, 0.5), outcome) == 0.5
    assert pairwise_auc(np.array([0.7, 0.3, 0.4, 0.5, 0.6]), outcome) == pytest.approx(12 / 16)  # winners 0.7, 0.7, 0.4, 0.4 vs losers 0.3, 0.3, 0.6, 0.6
