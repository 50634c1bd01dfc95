"""MF's prompt weight: 0 is prompt-blind, 'validation' picks it on held-out prompts, checkpoints keep it."""

from __future__ import annotations

import random

import numpy as np
import pytest

from routellm_core.data.arena import arena_hard_questions
from routellm_core.errors import CheckpointError, InvalidInputError
from routellm_core.loaders import load_routellm_golden
from routellm_core.records import PreferenceRecord
from routellm_core.routers.checkpoint import read_config, write_checkpoint
from routellm_core.routers.mf import PROMPT_WEIGHT_GRID, MFRouter


@pytest.fixture(scope="module")
def prompts(data_dir):
    """160 real GSM8K questions and 160 real Arena-Hard prompts (two clearly different kinds of prompt)."""
    math = sorted({r.prompt for r in load_routellm_golden("gsm8k", data_dir)})[:160]
    chat = [q.prompt for q in arena_hard_questions(data_dir)][:160]
    return math, chat


def _records(math, chat, signal: bool, seed: int = 0) -> list[PreferenceRecord]:
    """'solver' vs 'chatter' (and a weaker 'small'): with ``signal`` who wins depends on the kind of
    prompt; without it the outcome is a coin weighted by fixed strengths, whatever the prompt."""
    rng = random.Random(seed)
    out = []
    for kind, group in (("math", math), ("chat", chat)):
        for p in group:
            if signal:
                win = 1.0 if (kind == "math") == (rng.random() < 0.9) else 0.0
            else:
                win = float(rng.random() < 0.7)
            out.append(PreferenceRecord(p, "solver", "chatter", win, "test"))
            out.append(PreferenceRecord(p, "chatter", "small", float(rng.random() < 0.8), "test"))
    return out


def _mf(prompt_weight, **kw) -> MFRouter:
    return MFRouter(embedder="minilm", strong_model="solver", weak_model="chatter", dim=16, epochs=30, lr=1e-2,
                    val_fraction=0.25, show_progress=False, prompt_weight=prompt_weight, **kw)


def test_weight_zero_is_prompt_blind(prompts):
    math, chat = prompts
    router = _mf(0.0).fit(_records(math, chat, signal=True))
    probs = router.pairwise_probabilities(math[:5] + chat[:5], ["solver", "chatter", "small"])
    assert np.allclose(probs, probs[0]), "every prompt gets the same probabilities"
    i, j = router.models_.index("solver"), router.models_.index("chatter")
    blind = 1 / (1 + np.exp(-(router.score_means_[i] - router.score_means_[j])))
    assert probs[0, 0, 1] == pytest.approx(blind, abs=1e-6)


def test_validation_follows_the_signal(prompts):
    math, chat = prompts
    with_signal = _mf("validation").fit(_records(math, chat, signal=True))
    without = _mf("validation").fit(_records(math, chat, signal=False))
    for router in (with_signal, without):
        assert router.prompt_weight_ in PROMPT_WEIGHT_GRID
        losses = router.prompt_weight_losses_
        assert losses[router.prompt_weight_] == min(losses.values())
    # the kind of prompt decides the winner: keep (most of) the prompt term; a coin: shrink it away
    assert with_signal.prompt_weight_ >= 0.5
    assert without.prompt_weight_ <= 0.3
    assert without.prompt_weight_ < with_signal.prompt_weight_
    p = with_signal.predict_proba(math[:20] + chat[:20])
    assert p[:20].mean() > 0.5 > p[20:].mean()


def test_a_weight_above_zero_keeps_the_strong_weak_order(prompts):
    math, chat = prompts
    router = _mf(1.0).fit(_records(math, chat, signal=True))
    sample = math[:15] + chat[:15]
    full = router.predict_proba(sample)
    router.prompt_weight_ = 0.3
    shrunk = router.predict_proba(sample)
    assert not np.allclose(full, shrunk)
    assert (np.argsort(full, kind="stable") == np.argsort(shrunk, kind="stable")).all()
    assert np.abs(shrunk - 0.5).max() < np.abs(full - 0.5).max()


def test_checkpoint_keeps_the_fitted_weight(prompts, tmp_path):
    math, chat = prompts
    router = _mf(0.2).fit(_records(math, chat, signal=True))
    path = router.save(tmp_path / "mf")
    loaded = MFRouter.load(path)
    assert loaded.prompt_weight_ == 0.2 and read_config(path)["fitted_prompt_weight"] == 0.2
    sample = math[:4] + chat[:4]
    models = ["solver", "chatter", "small"]
    assert np.allclose(loaded.pairwise_probabilities(sample, models), router.pairwise_probabilities(sample, models))
    # a weight other than 1 needs the mean scores it shrinks toward
    config = read_config(path)
    from routellm_core.routers.checkpoint import read_tensors

    tensors = {k: v for k, v in read_tensors(path).items() if k != "score_means"}
    write_checkpoint(tmp_path / "broken", config, tensors)
    with pytest.raises(CheckpointError, match="score_means"):
        MFRouter.load(tmp_path / "broken")
    write_checkpoint(tmp_path / "bad", {**config, "fitted_prompt_weight": 3}, read_tensors(path))
    with pytest.raises(CheckpointError, match="prompt_weight"):
        MFRouter.load(tmp_path / "bad")


@pytest.mark.parametrize("bad", [1.5, -0.1, "auto", True, None])
def test_bad_prompt_weights_name_the_problem(bad):
    with pytest.raises(InvalidInputError, match="prompt_weight"):
        MFRouter(prompt_weight=bad)
