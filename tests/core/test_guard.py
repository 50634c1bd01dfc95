"""The reroute guard against prefixes and suffixes found by benchmarks/reroute_attack.py."""

from __future__ import annotations

import numpy as np
import pytest

from routellm_core import InvalidInputError, RoutingPolicy
from routellm_core.guard import GUARD_WORDS, guarded, variants


def test_the_generated_prefix_moves_the_unguarded_router(reroute_attack, reroute_gadget, small_router):
    gadget, _, held_out = reroute_gadget
    clean = small_router.predict_proba(held_out)
    attacked = small_router.predict_proba([reroute_attack.apply(gadget, p, "prefix") for p in held_out])
    assert len(gadget) == 12 and attacked.mean() > clean.mean() + 0.02  # the attack is real


def test_a_12_word_prefix_cannot_raise_the_guarded_score(reroute_attack, reroute_gadget, small_router):
    gadget, _, held_out = reroute_gadget
    guard = guarded(small_router)
    long_enough = [p for p in held_out if len(p.split()) >= 3]
    clean = small_router.predict_proba([" ".join(p.split()) for p in long_enough])
    attacked = guard.predict_proba([reroute_attack.apply(gadget, p, "prefix") for p in long_enough])
    assert np.all(attacked <= clean + 1e-6)  # the form without the first 12 words is the prompt itself
    suffixed = guard.predict_proba([reroute_attack.apply(gadget, p, "suffix") for p in long_enough])
    assert np.all(suffixed <= clean + 1e-6)


def test_share_at_a_50_percent_calibration(reroute_attack, reroute_gadget, small_router):
    gadget, _, held_out = reroute_gadget
    texts = [reroute_attack.apply(gadget, p, "prefix") for p in held_out]
    shares = {}
    for guard in (False, True):
        policy = RoutingPolicy(small_router, strong_fraction=0.5, calibration_prompts=held_out, reroute_guard=guard)
        shares[guard] = np.mean([d.role == "strong" for d in policy.decide(texts)])
    assert shares[True] <= 0.5 + 0.1 and shares[True] < shares[False]


def test_flagged_decisions_say_why(reroute_attack, reroute_gadget, small_router):
    gadget, _, held_out = reroute_gadget
    policy = RoutingPolicy(small_router, threshold=0.5, reroute_guard=True)
    attacked = [reroute_attack.apply(gadget, p, "prefix") for p in held_out]
    metas = [d.metadata() for d in policy.decide(attacked)]
    flagged = [m for m in metas if m["guard_flag"]]
    assert flagged, "a prefix that moves P was never flagged"
    for m in flagged:
        assert "raise P by" in m["guard_flag"] and m["unguarded_probability"] - m["probability"] >= 0.1
    plain = RoutingPolicy(small_router, threshold=0.5).decide(attacked)
    assert all(m["probability"] <= d.probability + 1e-9 for m, d in zip(metas, plain, strict=True))


def test_variants_and_settings():
    words = " ".join(f"w{i}" for i in range(20))
    forms = dict(variants(words))
    assert forms["leading words"].split()[0] == f"w{GUARD_WORDS}" and len(forms["trailing words"].split()) == 8
    assert dict(variants("One sentence here. Another one follows now."))["first sentence"] == "Another one follows now."
    assert variants("hi") == []
    with pytest.raises(InvalidInputError, match="reroute_guard"):
        RoutingPolicy("random", threshold=0.5, reroute_guard="yes")
    with pytest.raises(InvalidInputError, match="reroute_guard"):
        RoutingPolicy("mf", candidates={"a": (1, 1), "b": (2, 2)}, threshold=0.5, reroute_guard=True)
