"""Cascade routers in the evaluation harness: no leakage across folds, cascade costs, the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from routellm_core.cascade.scorer import AnswerScorer
from routellm_core.data.tables import normalize_prompt
from routellm_core.evaluation.benchmarks import load_benchmark
from routellm_core.evaluation.cascade import (cascade_cost_saving, cost_apgr, cost_curve, cross_fit_answer_scores)
from routellm_core.evaluation.cli import main, sample_benchmark
from routellm_core.evaluation.cost import ItemCosts, item_costs
from routellm_core.evaluation.runner import Evaluator


@pytest.fixture(scope="module")
def arena_answers(data_dir):
    return load_benchmark("arena-answers", data_dir)


@pytest.fixture(scope="module")
def gsm8k_small(data_dir):
    return sample_benchmark(load_benchmark("gsm8k", data_dir), 200, seed=1)


def test_arena_answers_benchmark_has_both_answers(arena_answers):
    assert arena_answers.name == "arena-answers" and arena_answers.n >= 490
    assert (arena_answers.strong_model, arena_answers.weak_model) == ("claude-3-5-sonnet-20240620", "gemma-2-27b-it")
    assert all(a.strip() for a in arena_answers.output_texts["weak"])
    assert arena_answers.output_texts["weak"] != arena_answers.output_texts["strong"]


def test_cross_fitting_never_scores_a_prompt_it_trained_on(arena_answers, graded_answers, monkeypatch):
    seen: list[set[str]] = []
    real_fit = AnswerScorer.fit

    def recording_fit(self, records, x=None):
        seen.append({r.prompt_key for r in records})
        return real_fit(self, records, x)

    monkeypatch.setattr(AnswerScorer, "fit", recording_fit)
    scores, reports = cross_fit_answer_scores(arena_answers, graded_answers, 4, use_embeddings=False)
    assert len(seen) == 4 and np.isfinite(scores).all() and ((scores > 0) & (scores < 1)).all()
    cluster_fold = {}
    for report, trained in zip(reports, seen):
        held = [i for i, g in enumerate(arena_answers.groups) if g in report.groups]
        assert len(held) == report.scored
        assert not trained & {normalize_prompt(arena_answers.prompts[i]) for i in held}
        assert report.removed_overlap > 0  # the held-out prompts' graded answers (every model's) were removed
        for g in report.groups:
            assert cluster_fold.setdefault(g, report.fold) == report.fold  # a cluster lies in one fold
    assert sum(r.scored for r in reports) == arena_answers.n


def test_cascade_costs_count_the_discarded_weak_calls(gsm8k_small):
    costs = item_costs(gsm8k_small)
    scores = np.random.default_rng(0).random(gsm8k_small.n)
    cost, perf = cost_curve(scores, gsm8k_small, costs, cascade=True)
    assert cost[0] == pytest.approx(costs.all_weak) and cost[-1] == pytest.approx(costs.all_weak + costs.all_strong)
    routed, _ = cost_curve(scores, gsm8k_small, costs, cascade=False)
    assert routed[-1] == pytest.approx(costs.all_strong)
    assert cost_apgr(scores, gsm8k_small, costs, True) < cost_apgr(scores, gsm8k_small, costs, False)
    free = ItemCosts(costs.strong, np.zeros_like(costs.weak), {})
    assert cost_apgr(scores, gsm8k_small, free, True) == pytest.approx(cost_apgr(scores, gsm8k_small, free, False))
    saving = cascade_cost_saving(scores, gsm8k_small, costs, 0.95)
    assert saving.reached and saving.cost >= costs.all_weak


def test_evaluator_reports_cascades_beside_prompt_routers(gsm8k_small):
    result = Evaluator(bootstrap=50, random_seeds=3, log=None).evaluate(gsm8k_small, ["random", "cascade-features"])
    cascade = result.router("cascade-features")
    assert cascade.cascade and cascade.source.startswith("cross-fit") and cascade.apgr_ci is not None
    assert cascade.at_equal_cost is not None and result.router("random").at_equal_cost is not None
    assert cascade.at_equal_cost.ci[0] <= cascade.at_equal_cost.cost_apgr <= cascade.at_equal_cost.ci[1]
    data = result.to_dict()["routers"][1]
    assert data["cascade"] is True and "cost_apgr" in data["at_equal_cost"]


def test_cli_prints_cascades_and_rejects_a_benchmark_without_answers(tmp_path, capsys):
    args = ["evaluate", "-b", "gsm8k", "--routers", "random", "cascade-features", "--sample", "120", "--no-plot",
            "--no-cache", "--bootstrap", "20", "--random-seeds", "2", "-o", str(tmp_path / "out")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "cascade-features" in out and "at equal cost" in out
    table = tmp_path / "t.csv"
    table.write_text("prompt,a,b\n" + "".join(f"q{i},{i % 2},1\n" for i in range(20)))
    assert main(["evaluate", "-b", str(table), "--routers", "cascade-features", "--no-plot", "--no-cache",
                 "--no-cost", "-o", str(tmp_path / "o2")]) == 2
    assert "no recorded answers of the weak model" in capsys.readouterr().err
