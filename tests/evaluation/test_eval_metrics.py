"""The paper's metrics: quantile-bin curve, CPT, AUC, APGR, exact and optimal curves, baselines."""

from __future__ import annotations

import numpy as np
import pytest

from routellm_core.errors import InvalidInputError
from routellm_core.evaluation import Evaluator, OracleRouter
from routellm_core.evaluation.metrics import (auc, cpt, curve_metrics, exact_curve, optimal_curve, quantile_curve,
                                              quantile_thresholds)
from routellm_core.routers.base import Router

# Five items ordered by router score; correctness in percent as RouteLLM reports it.
SCORES = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
STRONG = np.array([100, 100, 100, 0, 100.0])
WEAK = np.array([0, 100, 0, 100, 0.0])


def test_quantile_curve_matches_hand_computation():
    curve = quantile_curve(SCORES, STRONG, WEAK, num_results=4)
    # Edges 0, .25, .5, .75 (>=) and 1 (>, so the last point has no strong calls).
    assert curve.strong_pct.tolist() == [0, 40, 60, 80, 100]
    assert curve.performance.tolist() == [40, 40, 60, 60, 80]
    m = curve_metrics(curve, weak=WEAK.mean(), strong=STRONG.mean())
    assert m.auc == pytest.approx(52.0)
    assert m.apgr == pytest.approx((52 - 40) / (80 - 40))
    assert m.cpt20 == pytest.approx(48.0)
    assert m.cpt80 == pytest.approx(92.0)
    assert cpt(curve, 40, 80, 0.2, "first") == pytest.approx(48.0)


def test_quantile_thresholds_are_pandas_qcut_edges_without_duplicates():
    s = np.arange(1, 101, dtype=float)
    assert quantile_thresholds(s, 10).tolist() == pytest.approx(np.quantile(s, np.linspace(0, 1, 11)).tolist())
    assert quantile_thresholds(np.array([0.2] * 100 + [0.9]), 10).tolist() == [0.2, 0.9]
    with pytest.raises(InvalidInputError):
        quantile_thresholds(s, 0)


def test_exact_curve_has_a_point_per_distinct_score():
    curve = exact_curve(SCORES, STRONG, WEAK)
    assert curve.strong_pct.tolist() == [0, 20, 40, 60, 80, 100]
    assert curve.performance.tolist() == [40, 60, 40, 60, 60, 80]
    tied = exact_curve(np.array([0.5, 0.5, 0.1]), np.array([1.0, 1, 1]), np.array([0.0, 0, 0]))
    assert tied.strong_pct.tolist() == pytest.approx([0, 200 / 3, 100])


def test_optimal_curve_spends_strong_calls_on_items_that_gain():
    curve = optimal_curve(STRONG, WEAK, strong_pct=[0, 10, 20, 40, 60, 100])
    assert curve.performance.tolist() == pytest.approx([40, 50, 60, 80, 100, 100])
    whole = optimal_curve(STRONG, WEAK, strong_pct=[10, 30], whole_calls=True)
    assert whole.performance.tolist() == pytest.approx([40, 60])


def test_optimal_curve_equals_routellm_formula_on_mmlu(mmlu):
    curve = optimal_curve(mmlu.strong_scores, mmlu.weak_scores)
    s, w = mmlu.strong_scores > 0, mmlu.weak_scores > 0
    for pct, perf in zip(curve.strong_pct, curve.performance):
        # RouteLLM get_optimal_accuracy: weak_correct + min(strong_calls, #(weak wrong and strong right)).
        expected = (w.sum() + min(mmlu.n * pct / 100, (~w & s).sum())) / mmlu.n * 100
        assert perf == pytest.approx(expected)


@pytest.mark.parametrize("name", ["mt-bench", "mmlu", "gsm8k"])
def test_random_router_apgr_is_one_half_and_oracle_above_0_9(name, request):
    bench = request.getfixturevalue(name.replace("-", "_"))
    result = Evaluator(cache=None, with_cost=False, log=None, random_seeds=20).evaluate(bench, ["random", "oracle"])
    random, oracle = result.router("random"), result.router("oracle")
    assert random.seeds == 20
    assert 0.45 <= random.metrics.apgr <= 0.55
    assert 0.45 <= random.exact_metrics.apgr <= 0.55
    assert oracle.metrics.apgr > 0.9
    assert result.optimal_metrics.apgr > 0.9
    # The curves span all-weak to all-strong.
    assert random.curve.strong_pct[0] == 0 and random.curve.strong_pct[-1] == 100
    assert random.curve.performance[0] == pytest.approx(bench.weak_performance)
    assert random.curve.performance[-1] == pytest.approx(bench.strong_performance)


class _Inverted(Router):
    """Routes exactly the wrong way: a router the metrics must score far below random."""

    name = "inverted"
    trainable = False

    def __init__(self, oracle: OracleRouter) -> None:
        self.oracle = oracle

    def _predict(self, prompts):
        return 1.0 - self.oracle.predict_proba(prompts)


def test_an_inverted_oracle_scores_below_random(gsm8k):
    result = Evaluator(cache=None, with_cost=False, log=None).evaluate(gsm8k, [_Inverted(OracleRouter(gsm8k))])
    assert result.routers[0].metrics.apgr < 0.1


def test_bad_scores_are_rejected():
    with pytest.raises(InvalidInputError):
        quantile_curve([0.1, np.nan], [1, 0], [0, 1])
    with pytest.raises(InvalidInputError):
        quantile_curve([0.1], [1, 0], [0, 1])
    assert auc(quantile_curve(SCORES, STRONG, WEAK, 4)) == pytest.approx(52.0)


def test_a_constant_router_gives_the_straight_line():
    curve = quantile_curve(np.full(5, 0.3), STRONG, WEAK)
    assert curve.strong_pct.tolist() == [0, 100]
    assert curve_metrics(curve, WEAK.mean(), STRONG.mean()).apgr == pytest.approx(0.5)
