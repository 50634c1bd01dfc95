"""The online budget: the price rule's spend per 1,000 calls over every window of a drifting stream."""

from __future__ import annotations

import pytest

from routellm_core import InvalidInputError, RoutingPolicy


def test_online_budget_keeps_every_window_under_the_cap_and_near_the_budget(small_router, budget_stream):
    budget, window, spends = budget_stream["budget"], budget_stream["window"], budget_stream["spends"]
    settings = dict(candidates=budget_stream["prices"], budget_per_1k=budget,
                    calibration_prompts=budget_stream["calibration"])
    online = RoutingPolicy(small_router, online_window=window, **settings)
    metas = [online.decide([p])[0].metadata() for p in budget_stream["prompts"]]
    windows = spends(metas)
    assert max(windows) <= 1.1 * budget + 1e-9  # the cap: (1 + tolerance) x budget over every window
    assert min(windows[window:]) >= 0.85 * budget, (min(windows[window:]), budget)  # tracked, not just capped
    assert all(m["online_forced"] in (None, "cheaper") for m in metas) and metas[-1]["online_spend_per_1k"] > 0
    # the same budget calibrated once drifts off it on the GSM8K parts
    fixed = spends([d.metadata() for d in RoutingPolicy(small_router, **settings).decide(budget_stream["prompts"])])
    assert max(abs(s - budget) for s in fixed[window:]) > 0.2 * budget
    assert online.strategy.stats()["decisions"] == len(metas)


def test_online_budget_settings_are_checked(small_router, budget_stream):
    prices, prompts = budget_stream["prices"], ("a b c", "d e f g")
    with pytest.raises(InvalidInputError, match="give budget_per_1k"):
        RoutingPolicy(small_router, candidates=prices, threshold=0.5, online_window=40)
    with pytest.raises(InvalidInputError, match="online_window must be"):
        RoutingPolicy(small_router, candidates=prices, budget_per_1k=5.0, calibration_prompts=prompts, online_window=3)
    with pytest.raises(InvalidInputError, match="online_state must be"):  # Redis URLs: test_online_budget_shared.py
        RoutingPolicy(small_router, candidates=prices, budget_per_1k=5.0, calibration_prompts=prompts, online_window=40,
                      online_state=42)
