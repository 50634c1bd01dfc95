"""Token costs and the cost saving at 95 % of strong quality."""

from __future__ import annotations

import numpy as np
import pytest

from routellm_core.errors import DataError, InvalidInputError
from routellm_core.evaluation import OracleRouter, load_correctness_benchmark
from routellm_core.evaluation.cost import (PAPER_PRICES, Price, cost_saving, count_tokens, item_costs, parse_price)
from routellm_core.models import STRONG_MODEL
from routellm_core.routers.random_router import RandomRouter


def test_parse_price():
    assert parse_price("gpt-4-1106-preview=10,30") == (STRONG_MODEL, Price(10.0, 30.0))
    assert parse_price("mistralai/Mixtral-8x7B-Instruct-v0.1=0.6")[1] == Price(0.6, 0.6)
    for bad in ("gpt-4", "gpt-4=", "=1", "gpt-4=a,b", "gpt-4=1,2,3", "gpt-4=-1"):
        with pytest.raises(InvalidInputError):
            parse_price(bad)


def test_token_counts_grow_with_text():
    counts = count_tokens(["hello", "hello world, how are you today?", ""])
    assert counts[0] >= 1 and counts[1] > counts[0] and counts[2] == 0


def test_costs_use_prices_and_token_counts(gsm8k):
    costs = item_costs(gsm8k)
    t = costs.tokens["strong"]
    expected = (t["input"] * 24.7 + t["output"] * 24.7) / 1e6
    np.testing.assert_allclose(costs.strong, expected)
    assert costs.all_strong > 50 * costs.all_weak  # GPT-4 is ~100x the price of Mixtral
    cheaper = item_costs(gsm8k, {STRONG_MODEL: Price(1.0, 1.0)})
    assert cheaper.all_strong == pytest.approx(costs.all_strong / 24.7)
    assert costs.routed(np.ones(gsm8k.n, bool)) == pytest.approx(costs.all_strong)


def test_oracle_saves_more_than_random_at_95_percent_quality(mt_bench):
    costs = item_costs(mt_bench)
    oracle = cost_saving(OracleRouter(mt_bench).predict_proba(mt_bench.prompts), mt_bench, costs)
    random = cost_saving(RandomRouter(seed=0).predict_proba(mt_bench.prompts), mt_bench, costs)
    assert oracle.reached and random.reached
    assert oracle.performance >= 0.95 * mt_bench.strong_performance
    assert oracle.saving > random.saving > 0
    assert oracle.cost < random.cost < costs.all_strong
    # Asking for 100 % of strong quality leaves a random router (almost) all-strong.
    full = cost_saving(RandomRouter(seed=0).predict_proba(mt_bench.prompts), mt_bench, costs, 1.0)
    assert full.strong_pct > 90


def test_unknown_model_needs_a_price(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("prompt,a,b\nq1,1,0\nq2,0,0\nq3,1,1\n")
    bench = load_correctness_benchmark(path, "a", "b")
    with pytest.raises(DataError, match="--price"):
        item_costs(bench)
    costs = item_costs(bench, {"a": Price(2, 2), "b": Price(1, 1)})
    assert costs.all_strong > costs.all_weak
    assert set(PAPER_PRICES) == {STRONG_MODEL, "mixtral-8x7b-instruct-v0.1"}
