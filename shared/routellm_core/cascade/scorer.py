"""The answer scorer: P(this answer is worse than what the strong model would give).

Input is the prompt and the weak model's answer. The model is a logistic head over

- cheap answer features (:mod:`.features`: length, refusals, hedging, code, lists, arithmetic slips),
- MiniLM embeddings of the prompt and of the answer, and their element-wise product (what the
  answer does with what was asked),

fitted by Newton's method with an L2 penalty (numpy only; no pickle: ``config.json`` + safetensors).
The penalty is chosen by cluster-grouped cross-validation on the training rows only. Scoring one
300-token answer costs one MiniLM pass (the prompt's vector is usually cached from routing).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError, InvalidInputError
from ..routers.checkpoint import read_config, read_tensors, require_keys, write_checkpoint
from .features import FEATURE_NAMES, feature_matrix
from .records import AnswerRecord

SCORER_KIND = "answer_scorer"
DEFAULT_L2_GRID = (4.0, 16.0, 64.0, 256.0, 1024.0)
_answer_embedders: dict[str, Any] = {}
_answer_lock = threading.Lock()


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35.0, 35.0)))


def fit_logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float, iters: int = 25) -> tuple[np.ndarray, float]:
    """Weighted L2 logistic regression with soft labels in [0, 1] (Newton; the intercept is not penalised)."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    penalty = np.full(d + 1, float(l2))
    penalty[-1] = 0.0
    for _ in range(iters):
        p = _sigmoid(xb @ w)
        grad = xb.T @ (weight * (p - y)) + penalty * w
        hess = (xb * (weight * p * (1 - p))[:, None]).T @ xb + np.diag(penalty + 1e-8)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w[:-1], float(w[-1])


def group_folds(groups: Sequence[str], k: int, seed: int = 0) -> np.ndarray:
    """Fold per row with every group in one fold (groups dealt in a seeded random order)."""
    names = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of = {names[j]: i % k for i, j in enumerate(order)}
    return np.array([fold_of[g] for g in groups], dtype=np.int64)


class AnswerScorer:
    """Estimates P(inadequate) for (prompt, answer) pairs; scikit-learn-like ``fit`` / ``predict_proba``.

    ``use_embeddings=False`` keeps only the text features (no torch needed; a faster, weaker scorer).
    ``l2=None`` chooses the penalty from :data:`DEFAULT_L2_GRID` by grouped cross-validation.
    ``balance_sources`` gives every training source (Arena-Hard, GSM8K) the same total weight.
    ``use_answer=False`` is the prompt-only ablation (the answer is ignored): a prompt router
    trained on the same graded answers, to measure what reading the answer adds.
    """

    name = "answer_scorer"

    def __init__(self, embedder: Any = "minilm", use_embeddings: bool = True, l2: float | None = None,
                 balance_sources: bool = True, cv_folds: int = 4, seed: int = 0, answer_tokens: int = 128,
                 use_answer: bool = True, components: int = 128, show_progress: bool = False) -> None:
        self.embedder = embedder
        self.components = int(components)
        self.use_answer = bool(use_answer)
        self.answer_tokens = int(answer_tokens)
        self.use_embeddings = bool(use_embeddings)
        self.l2 = l2
        self.balance_sources = bool(balance_sources)
        self.cv_folds = int(cv_folds)
        self.seed = int(seed)
        self.show_progress = show_progress
        self.coef_: np.ndarray | None = None
        self.intercept_: float = 0.0
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.l2_: float | None = None
        self.trained_on_: dict[str, Any] = {}

    def get_params(self) -> dict[str, Any]:
        return {"embedder": self.embedder if isinstance(self.embedder, str) else getattr(self.embedder, "model_id", "custom"),
                "use_embeddings": self.use_embeddings, "l2": self.l2, "balance_sources": self.balance_sources,
                "cv_folds": self.cv_folds, "seed": self.seed, "answer_tokens": self.answer_tokens,
                "use_answer": self.use_answer, "components": self.components}

    # --- inputs ----------------------------------------------------------------------------------
    def _embedder(self):
        from ..embeddings import get_embedder

        return get_embedder(self.embedder)

    def _answer_embedder(self):
        """MiniLM over the first 32 and last tokens of an answer, ``answer_tokens`` in all (latency: one short pass).

        A custom embedder object is used as given; the default MiniLM gets its own shared instance
        with the shorter window (and the same disk cache folder). It is the default router's float32
        MiniLM (ONNX Runtime, else numpy): no torch or transformers is loaded, so no loading bar or
        tokenizer warning appears, and a long answer is cut by our head+tail rule before MiniLM sees it.
        """
        if not (isinstance(self.embedder, str) and self.embedder in {"minilm", "all-MiniLM-L6-v2", "all-minilm-l6-v2"}):
            return self._embedder()
        key = f"minilm-answers-{self.answer_tokens}"
        with _answer_lock:
            if key not in _answer_embedders:
                from ..datadir import default_cache_dir
                from ..embeddings.registry import default_minilm_class

                _answer_embedders[key] = default_minilm_class()(max_length=self.answer_tokens,
                                                                disk_cache_dir=default_cache_dir() / "embeddings")
            return _answer_embedders[key]

    def design(self, prompts: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        """The raw (unstandardised) input matrix: text features, then prompt, answer and product vectors."""
        prompts, answers = list(prompts), list(answers)
        if len(prompts) != len(answers):
            raise InvalidInputError(f"{len(prompts)} prompts but {len(answers)} answers")
        for what, items in (("prompt", prompts), ("answer", answers)):
            for i, t in enumerate(items):
                if not isinstance(t, str):
                    raise InvalidInputError(f"{what} {i} is {type(t).__name__}, expected str")
        feats = feature_matrix(prompts, answers if self.use_answer else [""] * len(prompts))
        if not self.use_embeddings:
            return feats
        emb = self._embedder()
        p = emb.embed(prompts, show_progress=self.show_progress).astype(np.float64)
        if not self.use_answer:  # the prompt-only ablation: same data and head, no answer
            return np.hstack([feats, p])
        a = self._answer_embedder().embed([t if t.strip() else "(empty answer)" for t in answers],
                                          show_progress=self.show_progress).astype(np.float64)
        return np.hstack([feats, p, a, p * a * np.sqrt(p.shape[1])])

    # --- training --------------------------------------------------------------------------------
    def _weights(self, records: Sequence[AnswerRecord]) -> np.ndarray:
        if not self.balance_sources:
            return np.ones(len(records))
        counts: dict[str, int] = {}
        for r in records:
            counts[r.source] = counts.get(r.source, 0) + 1
        mean = len(records) / len(counts)
        return np.array([mean / counts[r.source] for r in records])

    def fit(self, records: Sequence[AnswerRecord], x: np.ndarray | None = None) -> AnswerScorer:
        """Train on graded answers (``x``: their :meth:`design` rows, when already computed)."""
        records = list(records)
        if len(records) < 10:
            raise InvalidInputError(f"the answer scorer needs at least 10 graded answers, got {len(records)}")
        if x is None:
            x = self.design([r.prompt for r in records], [r.answer for r in records])
        y = np.array([r.label for r in records])
        weight = self._weights(records)
        mean, scale = x.mean(0), x.std(0)
        scale[scale < 1e-9] = 1.0
        z = (x - mean) / scale
        basis = self._basis(z)
        zr = z @ basis
        l2 = self.l2 if self.l2 is not None else self._choose_l2(zr, y, weight, [r.group for r in records])
        coef, self.intercept_ = fit_logistic(zr, y, weight, l2)
        self.coef_ = basis @ coef  # back to one weight per input: scoring stays a single dot product
        self.mean_, self.scale_, self.l2_ = mean, scale, float(l2)
        sources: dict[str, int] = {}
        for r in records:
            sources[r.source] = sources.get(r.source, 0) + 1
        self.trained_on_ = {"rows": len(records), "sources": sources,
                            "prompts": len({r.prompt_key for r in records})}
        return self

    def _basis(self, z: np.ndarray) -> np.ndarray:
        """Columns spanning the fitted space: every text feature, plus the top principal directions of the vectors.

        Newton's method costs n * d^2 per step; 1,174 inputs would take minutes per fit on a
        shared CPU, ``components`` principal directions of the embedding block take seconds.
        """
        d, k = z.shape[1], len(FEATURE_NAMES)
        if d <= k + self.components:
            return np.eye(d)
        emb = z[:, k:]
        _, vecs = np.linalg.eigh(emb.T @ emb)
        top = vecs[:, ::-1][:, : self.components]
        basis = np.zeros((d, k + self.components))
        basis[:k, :k] = np.eye(k)
        basis[k:, k:] = top
        return basis

    def _choose_l2(self, z: np.ndarray, y: np.ndarray, weight: np.ndarray, groups: list[str]) -> float:
        """The grid penalty with the best grouped-CV log loss on the training rows."""
        folds = group_folds(groups, self.cv_folds, self.seed)
        losses = []
        for l2 in DEFAULT_L2_GRID:
            loss = 0.0
            for f in range(self.cv_folds):
                tr, te = folds != f, folds == f
                if not te.any() or not tr.any():
                    continue
                coef, b = fit_logistic(z[tr], y[tr], weight[tr], l2)
                p = np.clip(_sigmoid(z[te] @ coef + b), 1e-6, 1 - 1e-6)
                loss += float(-(weight[te] * (y[te] * np.log(p) + (1 - y[te]) * np.log(1 - p))).sum())
            losses.append(loss)
        return float(DEFAULT_L2_GRID[int(np.argmin(losses))])

    # --- scoring ---------------------------------------------------------------------------------
    def predict_proba(self, prompts: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        """P(inadequate) per (prompt, answer)."""
        if isinstance(prompts, str) or isinstance(answers, str):
            raise InvalidInputError("predict_proba() takes lists of prompts and answers, not single strings")
        return self.predict_design(self.design(prompts, answers))

    def predict_design(self, x: np.ndarray) -> np.ndarray:
        if self.coef_ is None or self.mean_ is None or self.scale_ is None:
            raise InvalidInputError("the answer scorer is not trained: call fit() or AnswerScorer.load()")
        if x.shape[1] != len(self.coef_):
            raise InvalidInputError(f"scorer expects {len(self.coef_)} inputs, got {x.shape[1]}")
        return _sigmoid(((x - self.mean_) / self.scale_) @ self.coef_ + self.intercept_)

    def score_one(self, prompt: str, answer: str) -> float:
        return float(self.predict_proba([prompt], [answer])[0])

    # --- checkpoints ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """``config.json`` + ``model.safetensors`` (weights and standardisation)."""
        if self.coef_ is None:
            raise InvalidInputError("cannot save an untrained answer scorer")
        assert self.mean_ is not None and self.scale_ is not None  # set together with coef_ by fit
        config = {"kind": SCORER_KIND, "params": self.get_params(), "l2_chosen": self.l2_, "features": list(FEATURE_NAMES),
                  "trained_on": self.trained_on_}
        return write_checkpoint(path, config, {"coef": self.coef_, "intercept": np.array([self.intercept_]),
                                               "mean": self.mean_, "scale": self.scale_})

    @classmethod
    def load(cls, path: str | os.PathLike[str], embedder: Any = None) -> AnswerScorer:
        config = read_config(path)
        require_keys(config, ["kind", "params", "features"], path)
        if config["kind"] != SCORER_KIND:
            raise CheckpointError(f"checkpoint {path} is a {config['kind']!r}, not an answer scorer")
        if list(config["features"]) != list(FEATURE_NAMES):
            raise CheckpointError(f"checkpoint {path} was trained on other answer features; retrain it")
        params = {k: v for k, v in config["params"].items() if k in {"use_embeddings", "l2", "balance_sources", "cv_folds", "seed", "answer_tokens",
                                                                      "use_answer", "components"}}
        scorer = cls(embedder=embedder or config["params"].get("embedder", "minilm"), **params)
        t = read_tensors(path, ["coef", "intercept", "mean", "scale"])
        scorer.coef_, scorer.intercept_ = t["coef"].astype(np.float64), float(t["intercept"][0])
        scorer.mean_, scorer.scale_ = t["mean"].astype(np.float64), t["scale"].astype(np.float64)
        scorer.l2_, scorer.trained_on_ = config.get("l2_chosen"), config.get("trained_on", {})
        return scorer


def describe(scorer: AnswerScorer) -> str:
    return json.dumps({"params": scorer.get_params(), "trained_on": scorer.trained_on_})
