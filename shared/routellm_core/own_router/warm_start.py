"""Training on the user's labels: the pair from the data, ``--init`` (warm start) and ``--add-model``.

**The pair.** With two models in the labels, they are the strong/weak pair: the strong one is the model
that wins more of the comparisons.

**Warm start (``--init mf``).** For one pair an MF router's P(strong beats weak | q) is
``sigmoid(u . e(q))`` with ``u = W^T (c * (n(v_strong) - n(v_weak)))`` (the paper's formula, read as a
function of the prompt embedding e). Fine-tuning MF on a pair is therefore learning ``u``; the shipped
default gives the prior mean ``u0`` (its own strong/weak direction when the user's models are not in
it: "your strong model is like GPT-4, your weak one like Mixtral"). We fit
``min_u  BCE(sigmoid(u . e), y)_weighted + lambda / 2 |u - u0|^2`` and pick the prior strength lambda by
K-fold cross-validation on the user's labels (the APGR of the out-of-fold scores), taking the
strongest prior within one bootstrap standard error of the best, so small data keeps the default.
lambda = inf is the default itself.

**Neighbours.** The fitted direction is then blended with a 25-nearest-neighbour average of the labelled
outcomes, ``(1 - beta) sigmoid(u . e) + beta knn(e)``, beta chosen from ``BLEND_GRID`` on the same
inner folds (out-of-fold scores at the chosen lambda): the smallest beta within half a bootstrap SE of
the best; beta = 0 is the direction alone. Half, not one: on inner folds of 60-100 prompts the 1-SE
rule kept beta = 0 where neighbours gained +0.04 APGR (MMLU STEM, 300 labels), and taking the best
beta outright lost 0.05 on traffic without signal (Arena-Hard, 100 labels); docs/own-router.md has
all three rules' curves. Local structure that one direction misses (MMLU STEM as
new traffic: 0.548 -> 0.618 APGR at 300 labels) is where it pays. The result is saved as an ordinary
two-model MF checkpoint, with the labelled prompts' vectors as its neighbour memory when beta > 0.

**A new model (``--add-model``).** In the many-model MF router only the new model's vector is fitted on
its labels against models the router knows; the projection, the classifier and every other vector stay
frozen, so every other model's scores are unchanged.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.tables import normalize_prompt
from ..errors import InvalidInputError
from ..models import canonical_model_name
from ..records import PreferenceRecord
from ..routers.neighbours import DEFAULT_K, NeighbourMemory, knn_mean, unit_rows

# Candidate prior strengths (inf = the default unchanged); CV picks one.
# Extended down to 3e-5 after AlpacaEval traffic picked the smallest value, 0.001, in every fold (docs/own-router.md).
PRIOR_GRID: tuple[float, ...] = (math.inf, 3.0, 1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 3e-4, 1e-4, 3e-5)
# Fewer labelled prompts than this keep the default (see choose_strength).
MIN_LABELS = 100
# Candidate weights of the nearest-neighbour average in the blend (0 = the fitted direction alone).
BLEND_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
# The blend takes the smallest beta within this many bootstrap SEs of the best (see the module docstring).
BLEND_SE_MARGIN = 0.5


def small_blas():
    """One BLAS thread for the small dense algebra here: on a busy machine extra threads only contend (10x slower
    measured on 2 shared cores); a no-op without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ModuleNotFoundError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


def model_counts(records: Sequence[PreferenceRecord]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for r in records:
        counts[r.model_a] += 1
        counts[r.model_b] += 1
    return dict(counts)


# Sources whose records put the strong model first by construction (the labeller's and the feedback estimator's).
ROLE_SOURCES = ("labels:", "feedback:")


def infer_pair(records: Sequence[PreferenceRecord]) -> tuple[str, str] | None:
    """(strong, weak) when the records compare exactly two models, else None.

    Labels written by the labeller or the feedback estimator name the strong model first (``model_a``),
    whatever the verdicts say; otherwise the model that wins more comparisons is the strong one.
    """
    models = sorted(model_counts(records))
    if len(models) != 2:
        return None
    orders = {(r.model_a, r.model_b) for r in records}
    if len(orders) == 1 and all(r.source.startswith(ROLE_SOURCES) for r in records):
        (pair,) = orders
        return pair
    a, b = models
    wins = [r.oriented(a, b) for r in records]
    mean = float(np.mean([w for w in wins if w is not None]))
    return (a, b) if mean >= 0.5 else (b, a)


def pair_of(records: Sequence[PreferenceRecord], strong: str | None = None, weak: str | None = None,
            where: str = "the labels") -> tuple[str, str]:
    """The pair to train or report on: given names (checked against the data) or the two models in it."""
    known = model_counts(records)
    if strong or weak:
        names = [canonical_model_name(n) for n in (strong, weak) if n]
        for name in names:
            if name not in known:
                raise InvalidInputError(f"model {name!r} is not in {where} (models: {', '.join(sorted(known))})")
        pair = infer_pair(records) if len(known) == 2 else None
        s = canonical_model_name(strong) if strong else None
        w = canonical_model_name(weak) if weak else None
        if pair and not s:
            s = pair[0] if pair[1] == w else pair[1]
        if pair and not w:
            w = pair[1] if pair[0] == s else pair[0]
        if not s or not w:
            raise InvalidInputError(f"{where} compare {len(known)} models: name both --strong and --weak")
        return s, w
    pair = infer_pair(records)
    if pair is None:
        raise InvalidInputError(f"{where} compare {len(known)} models ({', '.join(sorted(known)[:8])}): "
                                "name the pair with --strong and --weak")
    return pair


@dataclass
class PairData:
    """Per distinct prompt: the text, P(strong better) averaged over its records, and the summed weight."""

    prompts: list[str]
    target: np.ndarray
    weight: np.ndarray
    keys: list[str] = field(default_factory=list)


def pair_data(records: Sequence[PreferenceRecord], strong: str, weak: str) -> PairData:
    """The records on (strong, weak), one item per case/space-normalised prompt."""
    groups: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    for r in records:
        y = r.oriented(strong, weak)
        if y is not None and r.weight > 0:
            groups[normalize_prompt(r.prompt)].append((r.prompt, y, r.weight))
    keys = list(groups)
    prompts = [groups[k][0][0] for k in keys]
    target = np.array([sum(y * w for _, y, w in groups[k]) / sum(w for _, _, w in groups[k]) for k in keys])
    weight = np.array([sum(w for _, _, w in groups[k]) for k in keys])
    return PairData(prompts, target, weight, keys)


def prior_direction(base, strong: str, weak: str) -> np.ndarray:
    """u0 = W^T (c * (n(v_s) - n(v_w))): the default's pair direction in embedding space (its own pair
    for models it does not know)."""
    s = strong if strong in base.models_ else base.strong_model
    w = weak if weak in base.models_ else base.weak_model
    if s == w:  # only one of the user's models is known: keep the default's own pair
        s, w = base.strong_model, base.weak_model
    mv = base.model_vectors_[[base.models_.index(s), base.models_.index(w)]].astype(np.float64)
    mv /= np.maximum(np.linalg.norm(mv, axis=1, keepdims=True), 1e-12)
    direction = base.projection_.astype(np.float64).T @ (base.classifier_.astype(np.float64) * (mv[0] - mv[1]))
    alpha = float(getattr(base, "prompt_weight_", 1.0))
    return alpha * direction  # a prompt weight alpha scales the prompt term (the constant part is dropped)


def fit_direction(x: np.ndarray, y: np.ndarray, w: np.ndarray, u0: np.ndarray, strength: float,
                  iterations: int = 50, tol: float = 1e-8) -> np.ndarray:
    """argmin_u weighted-mean BCE(sigmoid(x u), y) + strength / 2 |u - u0|^2; inf returns u0.

    Convex, so Newton's method from u0 (with step halving) converges in a few steps; each step solves
    one d x d system (d = 384 for MiniLM), faster here than a quasi-Newton loop.
    """
    if math.isinf(strength):
        return u0.copy()
    wn = w / w.sum()

    def objective(u: np.ndarray) -> float:
        z = x @ u
        return float(np.sum(wn * (np.logaddexp(0.0, z) - y * z)) + 0.5 * strength * np.sum((u - u0) ** 2))

    u, value = u0.copy(), objective(u0)
    eye = np.eye(len(u0))
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ u)))
        grad = x.T @ (wn * (p - y)) + strength * (u - u0)
        hess = (x.T * (wn * p * (1.0 - p))) @ x + strength * eye
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-4:
            candidate = u - t * step
            new_value = objective(candidate)
            if new_value <= value:
                break
            t /= 2
        else:
            break
        u, done = candidate, value - new_value < tol
        value = new_value
        if done:
            break
    return u


def pair_apgr(scores: np.ndarray, target: np.ndarray) -> float:
    """APGR of routing by ``scores`` where the strong answer scores P(strong better) and the weak 1 - that."""
    from ..evaluation.metrics import apgr, quantile_curve

    a, b = target, 1.0 - target
    return apgr(quantile_curve(scores, a, b), float(b.mean()), float(a.mean()))


def fold_ids(n: int, k: int, seed: int) -> np.ndarray:
    if n < k:
        raise InvalidInputError(f"need at least {k} distinct labelled prompts for {k}-fold cross-validation, got {n}")
    folds = np.empty(n, dtype=np.int64)
    for f, part in enumerate(np.array_split(np.random.default_rng(seed).permutation(n), k)):
        folds[part] = f
    return folds


@dataclass
class PriorChoice:
    strength: float
    cv_apgr: dict[float, float]
    oof: dict[float, np.ndarray] = field(default_factory=dict)  # out-of-fold linear scores per strength
    folds: np.ndarray | None = None


def one_se_choice(oof: dict[float, np.ndarray], y: np.ndarray, preference: Sequence[float], seed: int,
                  n_boot: int, margin: float = 1.0) -> tuple[float | None, dict[float, float]]:
    """The most preferred candidate whose CV APGR is within ``margin`` bootstrap SEs of the best (None: none defined)."""
    n = len(y)
    cv = {g: pair_apgr(oof[g], y) for g in preference}
    finite = {g: v for g, v in cv.items() if np.isfinite(v)}
    if not finite:
        return None, cv
    best = max(finite, key=lambda g: finite[g])
    rng = np.random.default_rng(seed)
    idx = [rng.integers(0, n, n) for _ in range(n_boot)]
    for g in preference:
        if g == best:
            break
        if g not in finite:
            continue
        diffs = [pair_apgr(oof[best][i], y[i]) - pair_apgr(oof[g][i], y[i]) for i in idx]
        diffs = [d for d in diffs if np.isfinite(d)]
        if diffs and finite[best] - finite[g] <= margin * float(np.std(diffs)):
            return g, cv
    return best, cv


def choose_strength(x: np.ndarray, y: np.ndarray, w: np.ndarray, u0: np.ndarray, folds: int = 5,
                    grid: Sequence[float] = PRIOR_GRID, seed: int = 0, n_boot: int = 200,
                    min_labels: int = MIN_LABELS) -> PriorChoice:
    """The prior strength by K-fold CV APGR; the strongest prior within one bootstrap SE of the best.

    Where the strong model does not beat the weak one on average, the default is kept too (APGR is
    not defined; the report says to send everything to the weak model). Below ``min_labels`` labelled
    prompts the default is kept: a CV APGR on folds of a dozen prompts is
    noise, and picking the best of several candidates on noise loses to the prior (measured: -0.018 APGR
    at 50 labels on RouterBench ARC without this floor, docs/own-router.md).
    """
    n = len(y)
    k = min(folds, n)
    # APGR needs a strong model that beats the weak one on average (else its gap changes sign).
    if n < min_labels or k < 2 or np.ptp(y) == 0 or np.average(y, weights=w) <= 0.5:
        return PriorChoice(math.inf, {})
    ids = fold_ids(n, k, seed)
    oof = {}
    for strength in grid:
        s = np.empty(n)
        for f in range(k):
            train, held = ids != f, ids == f
            s[held] = x[held] @ fit_direction(x[train], y[train], w[train], u0, strength)
        oof[strength] = s
    chosen, cv = one_se_choice(oof, y, sorted(grid, reverse=True), seed, n_boot)  # strongest prior first
    if chosen is None:
        return PriorChoice(math.inf, cv)
    return PriorChoice(chosen, cv, oof, ids)


@dataclass
class BlendChoice:
    blend: float
    cv_apgr: dict[float, float]


def choose_blend(x: np.ndarray, y: np.ndarray, w: np.ndarray, prior: PriorChoice, grid: Sequence[float] = BLEND_GRID,
                 k: int = DEFAULT_K, seed: int = 0, n_boot: int = 200, margin: float = BLEND_SE_MARGIN) -> BlendChoice:
    """The neighbour weight beta by CV APGR of the blend on ``prior``'s folds: the smallest within ``margin`` SEs of the best.

    Where the prior strength was not chosen by CV (too few labels, no routing gain to measure), beta is 0.
    """
    if prior.folds is None or prior.strength not in prior.oof:
        return BlendChoice(0.0, {})
    ids = prior.folds
    unit = unit_rows(x)
    knn = np.empty(len(y))
    for f in np.unique(ids):
        train, held = ids != f, ids == f
        knn[held] = knn_mean(unit[held], unit[train], y[train], w[train], k)
    linear = 1.0 / (1.0 + np.exp(-prior.oof[prior.strength]))
    mixed = {b: (1.0 - b) * linear + b * knn for b in grid}
    chosen, cv = one_se_choice(mixed, y, sorted(grid), seed, n_boot, margin)
    return BlendChoice(0.0 if chosen is None else float(chosen), cv)


@dataclass
class PairFit:
    """A fitted own router on embeddings: the direction u, its prior strength, the neighbour blend and memory."""

    u: np.ndarray
    strength: float
    blend: float
    memory: NeighbourMemory | None
    cv_apgr: dict[float, float]
    blend_cv_apgr: dict[float, float]

    def predict(self, x: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-(x @ self.u)))
        return p if self.memory is None else self.memory.mix(p, x)


def fit_pair(x: np.ndarray, y: np.ndarray, w: np.ndarray, u0: np.ndarray, folds: int = 5,
             grid: Sequence[float] = PRIOR_GRID, seed: int = 0, n_boot: int = 200,
             blend_grid: Sequence[float] = BLEND_GRID, strong: str = "", weak: str = "") -> PairFit:
    """Choose the prior strength, fit the direction, choose the neighbour blend: all on these labels only."""
    prior = choose_strength(x, y, w, u0, folds, grid, seed, n_boot)
    u = fit_direction(x, y, w, u0, prior.strength)
    blend = choose_blend(x, y, w, prior, blend_grid, seed=seed, n_boot=n_boot)
    memory = NeighbourMemory(x, y, w, blend=blend.blend, strong=strong, weak=weak) if blend.blend > 0 else None
    return PairFit(u, prior.strength, blend.blend, memory, prior.cv_apgr, blend.cv_apgr)


def pair_router(u: np.ndarray, strong: str, weak: str, embedder: str, score_prompts: np.ndarray | None = None,
                memory: NeighbourMemory | None = None):
    """A two-model MFRouter whose P(strong beats weak | q) is sigmoid(u . e(q)) exactly (blended with ``memory``)."""
    from ..routers.mf import MFRouter

    router = MFRouter(embedder=embedder, strong_model=strong, weak_model=weak, dim=2)
    router.models_ = [strong, weak]
    router.model_vectors_ = np.array([[1.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
    router.classifier_ = np.array([1.0, 0.0], dtype=np.float32)
    router.projection_ = np.stack([u / 2.0, np.zeros_like(u)]).astype(np.float32)
    raw = (score_prompts @ u / 2.0) if score_prompts is not None and len(score_prompts) else np.zeros(1)
    router.score_means_ = np.array([raw.mean(), -raw.mean()], dtype=np.float32)
    router.prompt_weight_ = 1.0
    if memory is not None:
        router.neighbours_ = memory
    return router


@dataclass
class WarmStart:
    router: object
    strong: str
    weak: str
    strength: float
    cv_apgr: dict[float, float]
    prompts: int
    blend: float = 0.0
    blend_cv_apgr: dict[float, float] = field(default_factory=dict)

    def summary(self) -> dict:
        return {"strong": self.strong, "weak": self.weak, "prior_strength": _num(self.strength), "labelled_prompts": self.prompts,
                "cv_apgr": {str(_num(k)): v for k, v in self.cv_apgr.items()}, "neighbour_blend": self.blend,
                "blend_cv_apgr": {str(k): v for k, v in self.blend_cv_apgr.items()}}


def _num(x: float) -> float | str:
    return "inf" if math.isinf(x) else x


def load_base(init="mf"):
    """The router to warm-start from: ``mf`` (the shipped default), an MF checkpoint directory or an MFRouter."""
    from .. import load_router
    from ..routers.mf import MFRouter

    base = init if isinstance(init, MFRouter) else load_router(init)
    if not isinstance(base, MFRouter):
        raise InvalidInputError(f"--init needs an MF router ('mf' or an MF checkpoint), got {type(base).__name__}")
    return base


def warm_start(records: Sequence[PreferenceRecord], init: str = "mf", strong: str | None = None, weak: str | None = None,
               folds: int = 5, grid: Sequence[float] = PRIOR_GRID, seed: int = 0, where: str = "the labels",
               log: Callable[[str], None] = lambda _m: None) -> WarmStart:
    """Warm-start an MF pair router from ``init`` on ``records`` (see the module docstring)."""
    base = load_base(init)
    s, w = pair_of(records, strong, weak, where)
    data = pair_data(records, s, w)
    if not data.prompts:
        raise InvalidInputError(f"{where}: no labels compare {s} with {w}")
    x = base._embed(data.prompts).astype(np.float64)
    u0 = prior_direction(base, s, w)
    with small_blas():
        fit = fit_pair(x, data.target, data.weight, u0, folds, grid, seed, strong=s, weak=w)
    log(f"warm start from {init}: {len(data.prompts)} labelled prompts, strong {s}, weak {w}, prior strength "
        f"{_num(fit.strength)} (CV APGR {', '.join(f'{_num(k)}: {v:.3f}' for k, v in fit.cv_apgr.items())}), "
        f"neighbour blend {fit.blend:g}"
        + (f" (CV APGR {', '.join(f'{k:g}: {v:.3f}' for k, v in fit.blend_cv_apgr.items())})" if fit.blend_cv_apgr else ""))
    return WarmStart(pair_router(fit.u, s, w, base.embedder_spec, x, fit.memory), s, w, fit.strength, fit.cv_apgr,
                     len(data.prompts), fit.blend, fit.blend_cv_apgr)


def add_model(records: Sequence[PreferenceRecord], name: str, init="mf", epochs: int = 300, lr: float = 0.05,
              l2: float = 1e-3, seed: int = 0, where: str = "the labels", log: Callable[[str], None] = lambda _m: None):
    """The ``init`` MF router with one more model, fitted on its labels against known models (all else frozen)."""
    import copy

    import torch

    base = copy.copy(load_base(init))  # load_router caches the shipped router: never change that object
    new = canonical_model_name(name)
    if new in base.models_:
        raise InvalidInputError(f"model {new!r} is already in the router ({init}); --add-model adds a new one")
    known = set(base.models_)
    usable, unknown = [], set()
    for r in records:
        if new in (r.model_a, r.model_b):
            other = r.model_b if r.model_a == new else r.model_a
            if other in known:
                usable.append((r.prompt, other, r.outcome if r.model_a == new else 1.0 - r.outcome, r.weight))
            else:
                unknown.add(other)
    if not usable:
        have = ", ".join(sorted(model_counts(records))[:8])
        raise InvalidInputError(f"{where} hold no labels of {new!r} against a model the router knows (models in the "
                                f"data: {have})")
    prompts = sorted({p for p, *_ in usable})
    index = {p: i for i, p in enumerate(prompts)}
    text = base._embed(prompts).astype(np.float64)
    z = (text @ base.projection_.astype(np.float64).T) * base.classifier_.astype(np.float64)  # c * (W e), per prompt
    mv = base.model_vectors_.astype(np.float64)
    mv /= np.maximum(np.linalg.norm(mv, axis=1, keepdims=True), 1e-12)
    p_idx = torch.as_tensor([index[p] for p, *_ in usable])
    other_idx = torch.as_tensor([base.models_.index(o) for _, o, *_ in usable])
    target = torch.as_tensor([y for *_, y, _ in usable], dtype=torch.float64)
    weight = torch.as_tensor([wt for *_, wt in usable], dtype=torch.float64)
    z_t, mv_t = torch.as_tensor(z), torch.as_tensor(mv)
    init_vec = torch.as_tensor(mv.mean(axis=0))
    torch.manual_seed(seed)
    vec = torch.nn.Parameter(init_vec.clone() + 0.01 * torch.randn_like(init_vec))
    opt = torch.optim.Adam([vec], lr=lr)
    other_scores = (z_t[p_idx] * mv_t[other_idx]).sum(dim=1)
    for _ in range(int(epochs)):
        opt.zero_grad()
        logit = (z_t[p_idx] @ torch.nn.functional.normalize(vec, dim=0)) - other_scores
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(logit, target, reduction="none") * weight).sum() \
            / weight.sum() + l2 * ((vec - init_vec) ** 2).sum()
        loss.backward()
        opt.step()
    fitted = vec.detach().numpy()
    fitted = fitted / max(np.linalg.norm(fitted), 1e-12) * float(np.linalg.norm(base.model_vectors_, axis=1).mean())
    base.models_ = [*base.models_, new]
    base.model_vectors_ = np.vstack([base.model_vectors_, fitted[None, :].astype(np.float32)])
    if hasattr(base, "score_means_"):
        raw_new = float((z @ (fitted / np.linalg.norm(fitted))).mean())
        base.score_means_ = np.append(base.score_means_, np.float32(raw_new))
    log(f"added {new!r} to {init}: {len(usable)} labels on {len(prompts)} prompts"
        + (f"; skipped labels against unknown models {', '.join(sorted(unknown))}" if unknown else ""))
    return base


def save_with_summary(router, output: str | Path, summary: dict) -> Path:
    """Save the checkpoint (config.json + model.safetensors) and a readable ``own_router.json`` beside it."""
    import json

    path = Path(router.save(output))
    (path / "own_router.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return path
