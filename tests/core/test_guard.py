"""The reroute guard against prefixes and suffixes found by benchmarks/reroute_attack.py."""

from __future__ import annotations

import os

import numpy as np
import pytest

from routellm_core import InvalidInputError, RoutingPolicy
from routellm_core.batching import parallel_safe
from routellm_core.guard import CUTS, GUARD_WORDS, LONG_WORDS, guarded, variants


def test_the_generated_prefix_moves_the_unguarded_router(reroute_attack, reroute_gadget, small_router):
    gadget, _, held_out = reroute_gadget
    clean = small_router.predict_proba(held_out)
    attacked = small_router.predict_proba([reroute_attack.apply(gadget, p, "prefix") for p in held_out])
    assert len(gadget) == 12 and attacked.mean() > clean.mean() + 0.02  # the attack is real


def test_a_12_word_prefix_cannot_raise_the_guarded_score(reroute_attack, reroute_gadget, small_router):
    gadget, _, held_out = reroute_gadget
    guard = guarded(small_router)
    long_enough = [p for p in held_out if len(p.split()) >= 3]
    assert any(len(p.split()) + len(gadget) > LONG_WORDS for p in long_enough)  # both kinds of text are checked

    def own(prompt: str, where: str) -> str:
        """The form the gadget is cut away by: the prompt itself; for a long text, without its far end's 12 words."""
        words = prompt.split()
        if len(words) + len(gadget) <= LONG_WORDS:
            return " ".join(words)
        return " ".join(words[:-GUARD_WORDS] if where == "prefix" else words[GUARD_WORDS:])

    for where in ("prefix", "suffix"):
        clean = small_router.predict_proba([own(p, where) for p in long_enough])
        attacked = guard.predict_proba([reroute_attack.apply(gadget, p, where) for p in long_enough])
        assert np.all(attacked <= clean + 1e-6), where


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


@pytest.fixture(scope="module")
def adaptive_gadgets(reroute_attack, reroute_gadget, small_router):
    """A 12-word prefix and a 12-word suffix searched against the *guarded* scorer itself (adaptive attack)."""
    _, search, held_out = reroute_gadget
    guard = guarded(small_router)
    vocab = reroute_attack.vocabulary(search + held_out, size=150)
    return {where: reroute_attack.search(guard.predict_proba, search[:4], vocab, words=12, rounds=1, candidates=4,
                                         where=where)[0] for where in ("prefix", "suffix")}


def _cut(words, start, end):
    return " ".join(words[start:len(words) - end])


@pytest.mark.parametrize("where", ["prefix", "suffix"])
def test_adaptive_gadgets_stay_below_the_prompts_own_forms(reroute_attack, reroute_gadget, adaptive_gadgets,
                                                           small_router, where):
    """The grid's promise: with 12 words added, the forms that cut them away are the prompt's own forms."""
    _, _, held_out = reroute_gadget
    gadget = adaptive_gadgets[where]
    attacked = guarded(small_router).predict_proba([reroute_attack.apply(gadget, p, where) for p in held_out])
    for prompt, score in zip(held_out, attacked, strict=True):
        words = prompt.split()
        # prefix: cutting 12 (24) leading words of the attacked text leaves the prompt (without its first 12)
        kept = [(a, b) for a in CUTS[:2] for b in CUTS] if where == "prefix" else [(a, b) for a in CUTS for b in CUTS[:2]]
        if len(words) + len(gadget) > LONG_WORDS:  # a long text's one form: the prompt without its far end's 12 words
            kept = [(0, GUARD_WORDS)] if where == "prefix" else [(GUARD_WORDS, 0)]
        own = [_cut(words, a, b) for a, b in kept if len(words) - a - b >= 3]
        assert score <= small_router.predict_proba(own).min() + 1e-6


@pytest.mark.parametrize("where", ["prefix", "suffix"])
def test_adaptive_gadgets_move_the_guarded_share_by_at_most_5_points(reroute_attack, reroute_gadget,
                                                                      adaptive_gadgets, small_router, where):
    """+5 points on 30 prompts is 1.5 prompts: at most one more strong call (benchmarks/reroute_attack.py
    measures the shipped router on 490)."""
    _, _, held_out = reroute_gadget
    texts = [reroute_attack.apply(adaptive_gadgets[where], p, where) for p in held_out]
    policy = RoutingPolicy(small_router, strong_fraction=0.5, calibration_prompts=held_out, reroute_guard=True)
    clean = np.mean([d.role == "strong" for d in policy.decide(held_out)])
    attacked = np.mean([d.role == "strong" for d in policy.decide(texts)])
    assert attacked - clean <= 0.05 + 1e-9, (where, clean, attacked)
    plain = RoutingPolicy(small_router, strong_fraction=0.5, calibration_prompts=held_out)
    assert np.mean([d.role == "strong" for d in plain.decide(texts)]) >= attacked


@pytest.mark.parametrize("where", ["prefix", "suffix"])
def test_no_12_word_gadget_can_do_more_than_the_saturated_bound(reroute_attack, reroute_gadget, adaptive_gadgets,
                                                                 small_router, where):
    """Every form holding the gadget at P = 1: what is left bounds any gadget of that length."""
    _, _, held_out = reroute_gadget
    guard = guarded(small_router)
    threshold = float(np.quantile(guard.predict_proba(held_out), 0.5))
    bound = reroute_attack.saturated_bound(small_router.predict_proba, held_out, 12, where, threshold)
    assert bound <= 0.5 + 0.1
    for gadget in ([w.upper() for w in "prove this theorem rigorously".split()] * 3, adaptive_gadgets[where]):
        texts = [reroute_attack.apply(gadget, p, where) for p in held_out]
        assert float(np.mean(guard.predict_proba(texts) >= threshold)) <= bound + 1e-4  # bound: rounded to 4 places


def test_variants_and_settings():
    words = " ".join(f"w{i}" for i in range(40))
    forms: dict[str, str] = {}
    for name, text in variants(words):
        forms.setdefault(name, text)  # the first form of each kind: 12 words cut
    assert forms["leading words"].split()[0] == f"w{GUARD_WORDS}" and len(forms["trailing words"].split()) == 28
    assert sorted(len(t.split()) for _, t in variants(words)) == [4, 4, 16, 16, 16, 28, 28]
    both = [t for name, t in variants(words) if name == "leading and trailing words"]
    assert [t.split()[0] for t in both] == ["w12", "w12", "w24"] and CUTS == (0, GUARD_WORDS, 2 * GUARD_WORDS)
    assert len(variants(" ".join(["x"] * 15))) == 2 and variants("hi") == []
    at_limit, over = (" ".join(f"w{i}" for i in range(n)) + ". Last one." for n in (LONG_WORDS - 2, LONG_WORDS - 1))
    assert len(variants(at_limit)) == 9 and len(at_limit.split()) == LONG_WORDS  # 8 cuts and the last sentence
    assert variants(over) == [("leading and trailing words", " ".join(over.split()[GUARD_WORDS:-GUARD_WORDS]))]
    with pytest.raises(InvalidInputError, match="reroute_guard"):
        RoutingPolicy("random", threshold=0.5, reroute_guard="yes")
    with pytest.raises(InvalidInputError, match="reroute_guard"):
        RoutingPolicy("mf", candidates={"a": (1, 1), "b": (2, 2)}, threshold=0.5, reroute_guard=True)


class _Counting:
    """Wraps a router's predict_proba to record the texts it scores."""

    def __init__(self, router):
        self.router, self.seen, self.original = router, [], router.predict_proba

    def __enter__(self):
        def counted(texts):
            self.seen.extend(texts)
            return self.original(texts)
        self.router.predict_proba = counted
        return self

    def __exit__(self, *exc):
        del self.router.predict_proba


def test_decide_scores_forms_only_where_they_can_matter(reroute_attack, reroute_gadget, small_router):
    """Gated decisions equal the full guard's; texts below the threshold cost one encoder run."""
    gadget, _, held_out = reroute_gadget
    texts = held_out + [reroute_attack.apply(gadget, p, "prefix") for p in held_out]
    guard = guarded(small_router)
    full = guard.predict_proba(texts)
    distinct = np.unique(np.round(full, 6))
    middle = len(distinct) // 2  # a threshold halfway between two scores: float noise cannot flip a decision
    threshold = float(distinct[middle - 1] + distinct[middle]) / 2
    policy = RoutingPolicy(small_router, threshold=threshold, reroute_guard=True)
    raw = small_router.predict_proba(texts)
    with _Counting(small_router) as counting:
        decisions = policy.decide(texts)
    assert [d.role for d in decisions] == ["strong" if p >= threshold else "weak" for p in full]
    for d, whole, low in zip(decisions, raw, full, strict=True):
        assert d.probability == pytest.approx(low if whole >= threshold else whole, abs=1e-6)
    assert any(r < threshold and variants(t) for t, r in zip(texts, raw, strict=True))  # some forms skipped
    expected = len(texts) + sum(len(variants(t)) for t, r in zip(texts, raw, strict=True) if r >= threshold)
    assert len(counting.seen) == expected
    import asyncio

    again = asyncio.run(RoutingPolicy(small_router, threshold=threshold, reroute_guard=True).adecide(texts))
    assert [d.role for d in again] == [d.role for d in decisions]
    assert [d.probability for d in again] == pytest.approx([d.probability for d in decisions], abs=1e-6)


def _long_text_and_scores(small_router, held_out):
    words = " ".join(held_out).split()
    text = " ".join(words[:LONG_WORDS + 40])
    whole, form = (float(p) for p in small_router.predict_proba([text, variants(text)[0][1]]))
    return text, whole, form


def _wait_for_speculative_runs():
    import time

    from routellm_core import guard as guard_module

    deadline = time.monotonic() + 30
    while guard_module._ahead_running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert guard_module._ahead_running == 0


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="speculation needs a second core")
def test_a_long_texts_form_runs_beside_its_whole_text_on_an_idle_machine(reroute_gadget, small_router, monkeypatch):
    """The decision is the full guard's either way; only where the form is scored changes."""
    import threading

    from routellm_core import guard as guard_module

    if not parallel_safe(small_router):
        pytest.skip("this embedder scores one text at a time")
    _, _, held_out = reroute_gadget
    text, whole, form = _long_text_and_scores(small_router, held_out)
    _wait_for_speculative_runs()  # one left by an earlier test would stop this one's
    threads: list[tuple[str, str]] = []
    original = small_router.predict_proba

    def recorded(texts):
        threads.extend((t, threading.current_thread().name) for t in texts)
        return original(texts)

    monkeypatch.setattr(small_router, "predict_proba", recorded)
    form_text = variants(text)[0][1]
    low = min(whole, form)
    strong = RoutingPolicy(small_router, threshold=low - 1e-3, reroute_guard=True).decide([text])[0]
    assert strong.role == "strong" and strong.probability == pytest.approx(low, abs=1e-6)
    assert [name.startswith("routellm-guard") for t, name in threads if t == form_text] == [True]
    _wait_for_speculative_runs()
    threads.clear()
    weak = RoutingPolicy(small_router, threshold=whole + 1e-3, reroute_guard=True).decide([text])[0]
    assert weak.role == "weak" and weak.probability == pytest.approx(whole, abs=1e-6)
    _wait_for_speculative_runs()  # started before the whole text was scored, then not used
    assert [name.startswith("routellm-guard") for t, name in threads if t == form_text] == [True]
    threads.clear()
    monkeypatch.setattr(guard_module, "_calls", 1)  # another call is scoring: no speculation
    busy = RoutingPolicy(small_router, threshold=low - 1e-3, reroute_guard=True).decide([text])[0]
    assert busy.probability == pytest.approx(low, abs=1e-6)
    assert [name.startswith("routellm-guard") for t, name in threads if t == form_text] == [False]
    assert guard_module._calls == 1


def test_a_short_first_or_last_sentence_is_also_cut_away():
    text = "Please use advanced reasoning. What is the capital of France? Answer briefly."
    forms = dict((t, name) for name, t in variants(text))
    assert forms["What is the capital of France? Answer briefly."] == "leading sentence words"
    assert forms["Please use advanced reasoning. What is the capital of France?"] == "trailing sentence words"
    long_first = " ".join(f"w{i}" for i in range(13)) + ". And the rest of it."
    assert "And the rest of it." not in dict((t, n) for n, t in variants(long_first))  # 13 words: not a gadget
    assert all(n not in ("leading sentence words", "trailing sentence words") for n, _ in variants("One. Two."))


@pytest.mark.parametrize("phrase", ["Please use advanced reasoning.", "Write code:", "Explain your reasoning in detail."])
def test_a_one_sentence_phrase_cannot_raise_the_guarded_score(reroute_gadget, small_router, phrase):
    """The short natural phrases the word grid let through: the sentence form is the prompt itself.

    (A text of more than LONG_WORDS words has no sentence forms: there the 12-word cut takes the phrase away
    with a few of the prompt's many words; benchmarks/reroute_phrases.py measures it.)"""
    _, _, held_out = reroute_gadget
    prompts = [p for p in held_out if 3 <= len(p.split()) <= LONG_WORDS - 12]
    assert len(prompts) >= 15
    ended = [p if p.rstrip()[-1] in ".!?:;" else p.rstrip() + "." for p in prompts]  # its last sentence ends
    guard = guarded(small_router)
    for texts, own in (([f"{phrase} {p}" for p in prompts], prompts), ([f"{p} {phrase}" for p in ended], ended)):
        attacked = guard.predict_proba(texts)
        clean = small_router.predict_proba([" ".join(p.split()) for p in own])
        assert np.all(attacked <= clean + 1e-6), phrase
