"""One operating point of a router on a benchmark: threshold, quality and cost at a share of strong calls."""

from __future__ import annotations

import numpy as np
import pytest

from routellm_core.errors import InvalidInputError
from routellm_core.evaluation import exact_curve
from routellm_core.evaluation.cost import item_costs
from routellm_core.evaluation.operating_point import operating_point
from routellm_core.routers.random_router import RandomRouter


@pytest.mark.parametrize("share", [0.1, 0.37, 0.5, 0.9])
def test_point_lies_on_the_exact_curve(mt_bench, share):
    scores = RandomRouter(seed=3).predict_proba(mt_bench.prompts)
    costs = item_costs(mt_bench)
    point = operating_point(scores, mt_bench, share, costs)
    curve = exact_curve(scores, mt_bench.strong_scores, mt_bench.weak_scores)
    at = np.flatnonzero(np.isclose(curve.thresholds, point.threshold))
    assert at.size == 1
    assert point.strong_pct == pytest.approx(curve.strong_pct[at[0]])
    assert point.performance == pytest.approx(curve.performance[at[0]])
    assert point.strong_pct == pytest.approx(round(share * mt_bench.n) / mt_bench.n * 100)
    assert costs.all_weak < point.cost < costs.all_strong
    assert point.saving == pytest.approx(1 - point.cost / costs.all_strong)


def test_the_ends_are_all_weak_and_all_strong(mt_bench):
    scores = RandomRouter(seed=0).predict_proba(mt_bench.prompts)
    costs = item_costs(mt_bench)
    none, every = (operating_point(scores, mt_bench, share, costs) for share in (0.0, 1.0))
    assert none.strong_pct == 0 and none.performance == pytest.approx(mt_bench.weak_performance)
    assert none.gap_recovered == pytest.approx(0) and none.cost == pytest.approx(costs.all_weak)
    assert every.strong_pct == 100 and every.gap_recovered == pytest.approx(1) and every.saving == pytest.approx(0)


def test_without_costs_and_bad_input(mt_bench):
    scores = RandomRouter().predict_proba(mt_bench.prompts)
    point = operating_point(scores, mt_bench, 0.5)
    assert point.cost is None and point.saving is None
    with pytest.raises(InvalidInputError, match="one score per benchmark item"):
        operating_point(scores[:-1], mt_bench, 0.5)
    with pytest.raises(InvalidInputError, match="strong_fraction must be in"):
        operating_point(scores, mt_bench, 1.5)
