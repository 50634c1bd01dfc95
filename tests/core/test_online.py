"""The online threshold: every window of N consecutive decisions keeps its strong share under drift."""

from __future__ import annotations

import asyncio
import math

import pytest

from routellm_core import InvalidInputError, RoutingPolicy
from routellm_core.calibration import threshold_for_fraction
from routellm_core.online import OnlineThreshold, window_strong_counts


def _online(router, stream, **kw):
    return RoutingPolicy(router, strong_fraction=stream["fraction"], calibration_prompts=stream["calibration"],
                         online_window=stream["window"], **kw)


def _bounds(stream):
    f, n = stream["fraction"], stream["window"]
    return math.ceil(round((f - 0.05) * n, 9)), math.floor(round((f + 0.05) * n, 9))


def test_every_window_keeps_the_share_where_a_fixed_threshold_drifts(word_count_router, drift_stream):
    policy = _online(word_count_router, drift_stream)
    decisions = [policy.decide([p])[0] for p in drift_stream["prompts"]]
    strong = [d.role == "strong" for d in decisions]
    low, high = _bounds(drift_stream)
    counts = window_strong_counts(strong, drift_stream["window"])
    assert counts and all(low <= c <= high for c in counts), (low, high, min(counts), max(counts))
    # The stream drifts: the threshold calibrated once sends every long prompt to the strong model.
    fixed = RoutingPolicy(word_count_router, strong_fraction=0.3, calibration_prompts=drift_stream["calibration"])
    fixed_counts = window_strong_counts([d.role == "strong" for d in fixed.decide(drift_stream["prompts"])],
                                        drift_stream["window"])
    assert max(fixed_counts) > high
    # Tracking, not the bound, makes most decisions; forced ones say so in their metadata.
    forced = [d.metadata()["online_forced"] for d in decisions]
    assert forced.count(None) >= 0.85 * len(forced)
    assert {f for f in forced} <= {None, "strong", "weak"}
    for d in decisions:
        if d.metadata()["online_forced"] is None:
            assert (d.role == "strong") == (d.probability >= d.threshold)


def test_it_reacts_faster_than_a_rolling_quantile(word_count_router, drift_stream):
    """After the switch to long prompts, the online share is back near F long before a plain quantile's."""
    prompts, n, f = drift_stream["prompts"], drift_stream["window"], drift_stream["fraction"]
    policy = _online(word_count_router, drift_stream)
    online = [policy.decide([p])[0].role == "strong" for p in prompts]
    scores = [min(1.0, len(p.split()) / 20) for p in prompts]
    rolling = [s >= threshold_for_fraction(scores[max(0, i - n):i] or [0.5], f) for i, s in enumerate(scores)]
    switch = 60
    # Strong share of the 20 decisions just after the switch: the plain quantile keeps the short prompts'
    # threshold, so (nearly) every long prompt goes strong.
    after = slice(switch, switch + 20)
    assert abs(sum(online[after]) / 20 - f) < abs(sum(rolling[after]) / 20 - f)
    assert sum(rolling[after]) / 20 > 0.6


def test_the_bound_holds_for_adversarial_scores(word_count_router, drift_stream):
    """Scores chosen to defeat the tracking (all long, then all short) still keep every window in bounds."""
    long_, short = "w " * 19, "w"
    prompts = [f"{long_}{i}" for i in range(80)] + [f"{short} {i}" for i in range(80)] + [f"{long_}{i}" for i in range(40)]
    policy = _online(word_count_router, drift_stream)
    strong = [d.role == "strong" for d in policy.decide(prompts)]  # one batch: decided in order
    low, high = _bounds(drift_stream)
    counts = window_strong_counts(strong, drift_stream["window"])
    assert all(low <= c <= high for c in counts), (min(counts), max(counts))
    stats = policy.strategy.stats()
    assert stats["decisions"] == len(prompts) and stats["forced_strong"] + stats["forced_weak"] > 0


def test_async_and_sync_share_one_state(word_count_router, drift_stream):
    policy = _online(word_count_router, drift_stream)

    async def run():
        return [(await policy.adecide([p]))[0].role == "strong" for p in drift_stream["prompts"]]

    strong = asyncio.run(run())
    low, high = _bounds(drift_stream)
    assert all(low <= c <= high for c in window_strong_counts(strong, drift_stream["window"]))
    assert policy.strategy.stats()["decisions"] == len(drift_stream["prompts"])


@pytest.mark.parametrize("settings, words", [
    ({"threshold": 0.5, "online_window": 100}, "strong_fraction"),
    ({"strong_fraction": 0.3, "online_window": 5}, "online_window"),
    ({"strong_fraction": 0.3, "online_window": "300"}, "online_window"),
    ({"strong_fraction": 0.3, "online_window": math.nan}, "online_window"),
    ({"strong_fraction": 0.3, "online_window": 100, "cascade": {"escalate_threshold": 0.5}}, "online_window"),
])
def test_bad_settings_are_one_clear_error(word_count_router, settings, words):
    with pytest.raises(InvalidInputError, match=words):
        RoutingPolicy(word_count_router, calibration_prompts=("a b", "c d e"), **settings)


def test_overrides_keep_or_drop_the_online_rule(word_count_router, drift_stream):
    policy = _online(word_count_router, drift_stream)
    assert isinstance(policy.strategy, OnlineThreshold)
    assert not isinstance(policy.with_overrides(threshold=0.5).strategy, OnlineThreshold)
    assert isinstance(policy.with_overrides(strong_fraction=0.5).strategy, OnlineThreshold)
    meta = policy.decide(["a b c"])[0].metadata()
    assert set(meta) >= {"online_share", "online_forced"} and meta["kind"] == "threshold"
