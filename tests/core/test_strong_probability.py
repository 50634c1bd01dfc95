"""RoutingPolicy.strong_probability: P(strong needed) with the threshold at 0.5, always agreeing with the decision."""

from __future__ import annotations

import math

import pytest

from routellm_core import RoutingDecision, RoutingPolicy


@pytest.mark.parametrize("threshold", [0.0, 0.05, 0.3, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("p", [0.0, 0.04, 0.3, 0.5, 0.77, 0.99, 1.0])
def test_agrees_with_the_decision_and_is_monotone(p, threshold):
    role = "strong" if p >= threshold else "weak"  # the rule under test, written out to check against
    q = RoutingPolicy.strong_probability(RoutingDecision(role, p, threshold, "r"))
    assert 0.0 <= q <= 1.0 and (q >= 0.5) == (role == "strong")
    higher = min(1.0, p + 0.01)
    q_higher = RoutingPolicy.strong_probability(RoutingDecision("strong" if higher >= threshold else "weak", higher,
                                                                threshold, "r"))
    assert q_higher >= q


def test_fixed_points_and_empty_decisions():
    assert RoutingPolicy.strong_probability(RoutingDecision("strong", 0.4, 0.4, "r")) == 0.5
    assert RoutingPolicy.strong_probability(RoutingDecision("strong", 1.0, 0.4, "r")) == 1.0
    assert RoutingPolicy.strong_probability(RoutingDecision("weak", 0.0, 0.4, "r")) == 0.0
    assert RoutingPolicy.strong_probability(RoutingDecision("weak", 0.2, 0.4, "r")) == pytest.approx(0.25)
    empty = RoutingPolicy("random", threshold=0.5, on_empty="weak").decide(["  "])[0]
    assert math.isnan(empty.probability) and RoutingPolicy.strong_probability(empty) == 0.0


def test_real_router_decisions(small_router):
    prompts = ["What is 2 + 2?", "Prove that there are infinitely many primes.", "Write a haiku about rain."]
    for threshold in (0.0, 0.3, 0.6, 1.0):
        for d in RoutingPolicy(small_router, threshold=threshold).decide(prompts):
            assert (RoutingPolicy.strong_probability(d) >= 0.5) == (d.role == "strong")
