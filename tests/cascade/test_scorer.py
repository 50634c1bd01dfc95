"""The answer scorer on real graded answers: labels, features, quality on held-out prompts, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from routellm_core.cascade.features import FEATURE_NAMES, answer_features, arithmetic_errors
from routellm_core.cascade.records import without_prompts
from routellm_core.cascade.scorer import AnswerScorer
from routellm_core.errors import CheckpointError, InvalidInputError


def _auc(scores: np.ndarray, bad: np.ndarray) -> float:
    pos, neg = scores[bad], scores[~bad]
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def test_graded_answers_are_real_rows(graded_answers):
    arena = [r for r in graded_answers if r.source == "arena_hard"]
    gsm = [r for r in graded_answers if r.source == "gsm8k"]
    assert len({r.model for r in arena}) == 8  # the 8 answer files that also have verdicts
    assert "gpt-4-0314" not in {r.model for r in arena}  # the baseline has no verdict against itself
    assert len({r.prompt_key for r in arena}) >= 490 and all(r.group.startswith("arena:") for r in arena)
    assert all(0.0 <= r.label <= 1.0 for r in graded_answers)
    assert {r.label for r in gsm} == {0.0, 1.0}
    # gpt-3.5-turbo loses to gpt-4-0314 far more often than claude-3.5-sonnet does.
    mean = {m: np.mean([r.label for r in arena if r.model == m]) for m in ("gpt-3.5-turbo-0125", "claude-3-5-sonnet-20240620")}
    assert mean["gpt-3.5-turbo-0125"] > mean["claude-3-5-sonnet-20240620"] + 0.3


def test_features_see_refusals_and_arithmetic_slips():
    refusal = answer_features("How do I pick a lock?", "I'm sorry, but I can't help with that.")
    helpful = answer_features("How do I sort a list in Python?", "Use `sorted(xs)`:\n\n```python\nsorted([3, 1, 2])\n```\n")
    names = list(FEATURE_NAMES)
    assert refusal[names.index("refusal")] == 1.0 and helpful[names.index("refusal")] == 0.0
    assert helpful[names.index("code_blocks")] > 0 and helpful[names.index("code_missing")] == 0.0
    assert arithmetic_errors("She pays 3 * 4 = 12 dollars and 12 + 5 = 18 in total.") == (2, 1)
    assert arithmetic_errors("$4.50 + $2 = $6.50") == (1, 0)


def test_scorer_ranks_wrong_gsm8k_answers_higher_on_unseen_prompts(graded_answers):
    """Mixtral's GSM8K answers on 500 prompts the scorer never saw: wrong ones score higher (AUC)."""
    held = [r for r in graded_answers if r.source == "gsm8k" and "mixtral" in r.model][:500]
    train = without_prompts(graded_answers, [r.prompt for r in held])
    assert not {r.prompt_key for r in train} & {r.prompt_key for r in held}
    scorer = AnswerScorer(use_embeddings=False, l2=16.0).fit(train)
    p = scorer.predict_proba([r.prompt for r in held], [r.answer for r in held])
    bad = np.array([r.label == 1.0 for r in held])
    assert ((p > 0) & (p < 1)).all()
    assert _auc(p, bad) > 0.65


def test_scorer_checkpoint_round_trip(feature_scorer, graded_answers, tmp_path):
    rows = graded_answers[1:40:3]
    path = feature_scorer.save(tmp_path / "scorer")
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = AnswerScorer.load(path)
    args = ([r.prompt for r in rows], [r.answer for r in rows])
    np.testing.assert_allclose(loaded.predict_proba(*args), feature_scorer.predict_proba(*args))
    (path / "config.json").write_text('{"kind": "mf", "params": {}, "features": []}')
    with pytest.raises(CheckpointError, match="not an answer scorer"):
        AnswerScorer.load(path)


def test_scorer_rejects_bad_input(feature_scorer):
    with pytest.raises(InvalidInputError, match="2 prompts but 1 answers"):
        feature_scorer.predict_proba(["a", "b"], ["x"])
    with pytest.raises(InvalidInputError, match="not trained"):
        AnswerScorer(use_embeddings=False).predict_proba(["a"], ["b"])


def test_embedding_scorer_on_real_rows(graded_answers, tmp_path):
    """The full scorer (MiniLM prompt and answer vectors + features) trains, predicts and round-trips."""
    rows = [r for r in graded_answers if r.source == "arena_hard"][:160:2] + [r for r in graded_answers if r.source == "gsm8k"][:80]
    scorer = AnswerScorer(l2=16.0).fit(rows)
    p = scorer.predict_proba([r.prompt for r in rows[:10]], [r.answer for r in rows[:10]])
    assert p.shape == (10,) and np.isfinite(p).all()
    assert len(scorer.coef_) == len(FEATURE_NAMES) + 3 * 384
    loaded = AnswerScorer.load(scorer.save(tmp_path / "s"))
    np.testing.assert_allclose(loaded.predict_proba([r.prompt for r in rows[:10]], [r.answer for r in rows[:10]]), p, rtol=1e-6)
