"""Held-out pairwise AUC on Chatbot Arena human votes: does the router know which answer people preferred?

The human votes are part of the default training data, so they are cross-fitted: folds hold whole
prompts (a prompt's votes, in any source, lie in one fold), each fold's router trains on the base
records without that fold's prompts, and predicts P(model_a beats model_b) for the fold's votes.
Decisive votes count (ties do not); each vote enters in both orientations, so the AUC does not
depend on which side a model sat. The prompt-blind baseline is a Bradley-Terry model fitted on
the same training records (``sw_ranking`` with gamma = 1: every training prompt weighs the same,
so only model strengths remain).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from ..data.tables import normalize_prompt
from ..errors import InvalidInputError
from ..records import PreferenceRecord
from ..routers.base import Router, StrongWeakPair
from .metrics import bootstrap_interval

HUMAN_VOTE_SOURCES = ("chatbot_arena",)


def is_human_vote(record: PreferenceRecord) -> bool:
    return record.source.split(":", 1)[0] in HUMAN_VOTE_SOURCES


def pairwise_auc(p_a: np.ndarray, outcome: np.ndarray) -> float:
    """AUC of P(a beats b) for decisive votes, each counted in both orientations (Mann-Whitney, ties half)."""
    p_a, outcome = np.asarray(p_a, dtype=np.float64), np.asarray(outcome, dtype=np.float64)
    decisive = outcome != 0.5
    won = np.where(outcome[decisive] == 1.0, p_a[decisive], 1.0 - p_a[decisive])  # P(winner beats loser)
    if won.size == 0:
        return float("nan")
    pos, neg = won, 1.0 - won
    ranks = rankdata(np.r_[pos, neg])  # average ranks for ties
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def pair_probabilities(router: Router, prompts: Sequence[str], models_a: Sequence[str],
                       models_b: Sequence[str]) -> np.ndarray:
    """P(model_a beats model_b | prompt) from a multi-model router; 0.5 where it does not know a model."""
    if not isinstance(router, StrongWeakPair):
        raise InvalidInputError(f"router {router.name!r} scores one fixed pair; a pairwise AUC needs a multi-model "
                                f"router (mf, sw_ranking)")
    models = list(getattr(router, "models_", []))
    known = set(models)
    out = np.full(len(prompts), 0.5)
    if hasattr(router, "scores"):  # MF and SW ranking score every model at once: P = sigmoid(s_a - s_b)
        keep = [i for i, (a, b) in enumerate(zip(models_a, models_b)) if a in known and b in known]
        if not keep:
            return out
        uniq = list(dict.fromkeys(prompts[i] for i in keep))
        row = {p: j for j, p in enumerate(uniq)}
        col = {m: j for j, m in enumerate(models)}
        s = router.scores(uniq)
        diff = np.array([s[row[prompts[i]], col[models_a[i]]] - s[row[prompts[i]], col[models_b[i]]] for i in keep])
        out[keep] = 1.0 / (1.0 + np.exp(-diff))
        return out
    pairs: dict[tuple[str, str], list[int]] = {}
    for i, (a, b) in enumerate(zip(models_a, models_b)):
        if a in known and b in known:
            pairs.setdefault((a, b), []).append(i)
    for (a, b), idx in pairs.items():
        aligned = copy.copy(router)
        aligned.strong_model, aligned.weak_model = a, b
        out[idx] = aligned.predict_proba([prompts[i] for i in idx])
    return out


@dataclass(frozen=True)
class PairwiseResult:
    """Held-out pairwise AUC of one router on the human votes, with a 90% bootstrap interval."""

    router: str
    auc: float
    ci: tuple[float, float]
    votes: int  # decisive votes scored
    folds: int
    probabilities: np.ndarray | None = None

    def to_dict(self) -> dict:
        return {"router": self.router, "auc": self.auc, "ci90": list(self.ci), "decisive_votes": self.votes,
                "folds": self.folds}


def bootstrap_auc(p_a: np.ndarray, outcome: np.ndarray, n_boot: int = 1000, level: float = 0.9,
                  seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`pairwise_auc`, resampling votes."""
    p_a, outcome = np.asarray(p_a), np.asarray(outcome)
    return bootstrap_interval(lambda idx, _i: pairwise_auc(p_a[idx], outcome[idx]), len(p_a), n_boot, level, seed)


def vote_folds(votes: Sequence[PreferenceRecord], k: int, seed: int = 0) -> np.ndarray:
    """Fold per vote: whole (normalised) prompts dealt at random to ``k`` folds."""
    keys = sorted({normalize_prompt(v.prompt) for v in votes})
    if len(keys) < k:
        raise InvalidInputError(f"cannot split {len(keys)} prompts into {k} folds")
    order = np.random.default_rng(seed).permutation(len(keys))
    fold_of = {keys[j]: f for f, part in enumerate(np.array_split(order, k)) for j in part}
    return np.array([fold_of[normalize_prompt(v.prompt)] for v in votes], dtype=np.int64)


def cross_fit_pairwise(make_router: Callable[[], Router], base_records: Sequence[PreferenceRecord], k: int = 5,
                       seed: int = 0, log: Callable[[str], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(P(a beats b) per human vote, outcome per vote), each vote scored by a router that never saw its prompt."""
    votes = [r for r in base_records if is_human_vote(r)]
    if not votes:
        raise InvalidInputError("the training data holds no human votes (chatbot_arena) to score")
    folds = vote_folds(votes, k, seed)
    norms = [normalize_prompt(r.prompt) for r in base_records]
    probs = np.full(len(votes), np.nan)
    for f in range(k):
        idx = np.flatnonzero(folds == f)
        held = {normalize_prompt(votes[i].prompt) for i in idx}
        train = [r for r, n in zip(base_records, norms) if n not in held]
        if log:
            log(f"human votes fold {f + 1}/{k}: training on {len(train)} records, scoring {len(idx)} votes")
        router = make_router().fit(train)
        probs[idx] = pair_probabilities(router, [votes[i].prompt for i in idx], [votes[i].model_a for i in idx],
                                        [votes[i].model_b for i in idx])
    return probs, np.array([v.outcome for v in votes])
