"""Multi-model routing by price: the rule on hand-checkable cases, its two-model special case, calibration, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from routellm_core import InvalidInputError, Router, RoutingPolicy
from routellm_core.multi_model import Candidate, MultiModelPolicy, make_candidates, spend_per_1k, threats
from routellm_core.pricing import Price


class SkillRouter(Router):
    """A real Router over fixed per-model skills: P(a beats b) = sigmoid(skill_a - skill_b), on every prompt."""

    name = "skills"
    trainable = False

    def __init__(self, skills: dict[str, float]) -> None:
        self.skills = skills
        self.models_ = list(skills)

    def _predict(self, prompts):
        return np.full(len(prompts), 0.5)

    def pairwise_probabilities(self, prompts, models):
        s = np.array([self.skills[m] for m in models])
        p = 1.0 / (1.0 + np.exp(-(s[:, None] - s[None, :])))
        return np.broadcast_to(p, (len(prompts), len(models), len(models))).copy()


PRICES = {"big": Price(10.0, 30.0), "mid": Price(1.0, 2.0), "small": Price(0.1, 0.1)}


def policy(skills, threshold, **kwargs):
    return MultiModelPolicy(SkillRouter(skills), PRICES, threshold=threshold, **kwargs)


def sig(x):
    return 1.0 / (1.0 + math.exp(-x))


@pytest.mark.parametrize(("threshold", "expected"), [
    (0.0, "big"),            # never trust a cheaper model: the most expensive
    (0.5, "big"),            # the predicted best (big beats mid and small)
    (0.7, "mid"),            # big beats mid with 0.62 < 0.7, mid is not beaten by big enough
    (0.9, "small"),          # P(big beats small) = 0.88 < 0.9: the cheapest
    (1.0, "small"),
])
def test_rule_on_hand_checked_skills(threshold, expected):
    # skills: big 2.0, mid 1.5, small 0 -> P(big>mid)=0.622, P(big>small)=0.881, P(mid>small)=0.818
    decision = policy({"big": 2.0, "mid": 1.5, "small": 0.0}, threshold).decide(["any prompt"])[0]
    assert decision.model == expected
    est = {c.model: c for c in decision.candidates}
    assert est["small"].beaten_by_pricier == pytest.approx(sig(2.0))
    assert est["mid"].beaten_by_pricier == pytest.approx(sig(0.5))
    assert est["big"].beaten_by_pricier == 0.0
    assert est["big"].cost_usd > est["mid"].cost_usd > est["small"].cost_usd > 0


def test_threshold_half_picks_the_predicted_best_even_when_it_is_not_the_priciest():
    p = policy({"big": 1.0, "mid": 2.0, "small": 0.0}, 0.5)
    assert p.decide(["x"])[0].model == "mid"
    assert policy({"big": 1.0, "mid": 2.0, "small": 3.0}, 0.5).decide(["x"])[0].model == "small"


def test_fallback_order_is_next_best_by_predicted_score():
    d = policy({"big": 2.0, "mid": 1.5, "small": 0.0}, 0.9).decide(["x"])[0]
    assert d.order == ("small", "big", "mid")
    attempts = policy({"big": 2.0, "mid": 1.5, "small": 0.0}, 0.9).attempts(d)
    assert [a.role for a in attempts] == ["small", "big", "mid"] and [a.fallback for a in attempts] == [False, True, True]
    meta = MultiModelPolicy.metadata(d, "big", RuntimeError("down"))
    assert meta["fallback"] is True and meta["routed_model"] == "small" and "down" in meta["fallback_error"]
    assert [c["model"] for c in meta["candidates"]] == ["big", "mid", "small"]


def test_two_models_decide_as_the_threshold_rule(small_router, alpaca_subset):
    prompts = sorted({r.prompt for r in alpaca_subset})[:40]
    probs = RoutingPolicy(small_router, threshold=0.5).decide(prompts)
    # thresholds at the router's own probabilities (the calibrated case: ties must agree exactly)
    for t in [0.0, 0.3, 0.5, 0.7, 1.0, probs[3].probability, probs[17].probability]:
        pair = RoutingPolicy(small_router, threshold=t).decide(prompts)
        multi = MultiModelPolicy(small_router, {"gpt-4-1106-preview": Price(10, 30),
                                                "mixtral-8x7b-instruct-v0.1": Price(0.6, 0.6)},
                                 threshold=t).decide(prompts)
        assert [d.role == "strong" for d in pair] == [d.model == "gpt-4-1106-preview" for d in multi], t
    calibrated = RoutingPolicy(small_router, strong_fraction=0.3, calibration_prompts=prompts)
    multi = MultiModelPolicy(small_router, {"gpt-4-1106-preview": Price(10, 30),
                                            "mixtral-8x7b-instruct-v0.1": Price(0.6, 0.6)},
                             top_fraction=0.3, calibration_prompts=prompts)
    assert multi.resolved_threshold() == calibrated.resolved_threshold()
    assert [d.role == "strong" for d in calibrated.decide(prompts)] == [
        d.model == "gpt-4-1106-preview" for d in multi.decide(prompts)]


def test_three_real_models_and_budget_calibration(small_router, alpaca_subset):
    prompts = sorted({r.prompt for r in alpaca_subset})[:60]
    prices = {"gpt-4-1106-preview": Price(10, 30), "gpt-3.5-turbo-1106": Price(1, 2),
              "mixtral-8x7b-instruct-v0.1": Price(0.6, 0.6)}
    p = MultiModelPolicy(small_router, prices, threshold=0.5)
    pairwise, costs = p.estimates(prompts)
    threat = threats(pairwise, costs)
    all_cheap, all_top = spend_per_1k(threat, costs, 1.01), spend_per_1k(threat, costs, 0.0)
    budget = (all_cheap + all_top) / 2
    b = MultiModelPolicy(small_router, prices, budget_per_1k=budget, calibration_prompts=prompts)
    t = b.resolved_threshold()
    assert spend_per_1k(threat, costs, t) <= budget
    lower = [v for v in np.unique(threat[np.isfinite(threat)]) if v < t]
    assert not lower or spend_per_1k(threat, costs, float(max(lower))) > budget  # the most quality within budget
    with pytest.raises(InvalidInputError, match="below what routing can spend"):
        MultiModelPolicy(small_router, prices, budget_per_1k=all_cheap / 10, calibration_prompts=prompts).resolve()


def test_unknown_models_name_the_known_ones(small_router):
    p = MultiModelPolicy(small_router, {"gpt-4o": Price(2.5, 10), "mixtral-8x7b-instruct-v0.1": Price(0.6, 0.6)},
                         threshold=0.5)
    with pytest.raises(InvalidInputError, match=r"not trained on gpt-4o; it knows: .*gpt-4-1106-preview"):
        p.decide(["hi"])
    mapped = MultiModelPolicy(small_router, [Candidate("gpt-4o", Price(2.5, 10), router_model="gpt-4-1106-preview"),
                                             Candidate("local", Price(0, 0), router_model="mixtral-8x7b-instruct-v0.1")],
                              threshold=0.5)
    assert mapped.decide(["hi"])[0].model in {"gpt-4o", "local"}


def test_router_without_per_model_scores_is_refused(word_count_router):
    with pytest.raises(InvalidInputError, match="only a strong/weak pair"):
        MultiModelPolicy(word_count_router, PRICES, threshold=0.5).decide(["hi"])


@pytest.mark.parametrize("prices", [
    {"big": Price(10, 30), "mid": (1, -2), "small": (0.1, 0.1)},
    {"big": Price(10, 30), "mid": (float("nan"), 1), "small": (0.1, 0.1)},
    {"big": Price(10, 30), "mid": "cheap", "small": (0.1, 0.1)},
    {"big": Price(10, 30), "mid": (True, 1), "small": (0.1, 0.1)},
    {"big": Price(10, 30), "mid": {"output": 1}, "small": (0.1, 0.1)},
])
def test_bad_prices_raise(prices):
    with pytest.raises(InvalidInputError, match="price"):
        MultiModelPolicy(SkillRouter({"big": 1, "mid": 0, "small": 0}), prices, threshold=0.5)


def test_bad_settings_raise():
    skills = SkillRouter({"big": 1, "mid": 0, "small": 0})
    with pytest.raises(InvalidInputError, match="no price for 'small'"):
        make_candidates(["big", "small"], {"big": (1, 1)})
    with pytest.raises(InvalidInputError, match="not candidates"):
        make_candidates(["big"], {"big": (1, 1), "other": (1, 1)})
    with pytest.raises(InvalidInputError, match="at least two"):
        MultiModelPolicy(skills, {"big": (1, 1)}, threshold=0.5)
    with pytest.raises(InvalidInputError, match="exactly one"):
        MultiModelPolicy(skills, PRICES, threshold=0.5, top_fraction=0.2, calibration_prompts=["a"])
    with pytest.raises(InvalidInputError, match="calibration_prompts"):
        MultiModelPolicy(skills, PRICES, budget_per_1k=1.0)
    with pytest.raises(InvalidInputError, match="threshold"):
        MultiModelPolicy(skills, PRICES, threshold=1.5)
    with pytest.raises(InvalidInputError, match="output tokens"):
        Candidate("big", Price(1, 1), output_tokens=-3)
    with pytest.raises(InvalidInputError, match="empty"):
        MultiModelPolicy(skills, PRICES, threshold=0.5).decide(["  "])
    assert MultiModelPolicy(skills, PRICES, threshold=0.5, on_empty="small").decide([""])[0].model == "small"
