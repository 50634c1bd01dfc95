"""Cascade routers in the evaluation harness: answer-aware scores, cascade costs, equal-cost comparison.

A cascade router (``cascade``: MiniLM + text features; ``cascade-features``: text features only;
``prompt-scorer`` is the prompt-only ablation, same data and head without the answer)
calls the weak model on every prompt, scores its recorded answer with the answer scorer and
escalates the items whose P(inadequate) is highest. Its scores are those probabilities, so the
paper's curve and APGR over the share of strong calls apply unchanged ("equal strong-call share").

Cost is where a cascade differs: every escalated item paid for a weak answer that was thrown
away. :func:`cascade_cost_saving` and the cost-axis curve count it; :func:`cost_apgr` is APGR
with the x-axis in cost instead of strong calls, (cost - all-weak) / (all-strong - all-weak) in
[0, 1], so routers are also compared "at equal cost".

The scorer is cross-fitted: folds by the benchmark's groups (Arena-Hard topic clusters), and each
fold's scorer trains on every graded answer (Arena-Hard, GSM8K) whose prompt is not in the fold.
"""

from __future__ import annotations

from typing import Any

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..cascade.records import AnswerRecord, answer_records, without_prompts
from ..cascade.scorer import AnswerScorer
from ..data.tables import normalize_prompt
from ..errors import InvalidInputError
from .benchmarks import Benchmark
from .cost import ItemCosts
from .crossfit import FoldReport, assign_folds
from .metrics import bootstrap_interval

CASCADE_ROUTERS: dict[str, dict[str, bool]] = {"cascade": {"use_embeddings": True},
                                              "cascade-features": {"use_embeddings": False},
                                              # the prompt-only ablation: same data and head, answer unseen
                                              "prompt-scorer": {"use_embeddings": True, "use_answer": False}}


def is_cascade(spec: object) -> bool:
    return isinstance(spec, str) and spec.strip() in CASCADE_ROUTERS


def weak_answers(bench: Benchmark) -> list[str]:
    """The weak model's recorded answer per item; a benchmark without them cannot evaluate a cascade."""
    answers = (bench.output_texts or {}).get("weak")
    if not answers or sum(bool(a.strip()) for a in answers) < 0.9 * bench.n:
        raise InvalidInputError(f"benchmark {bench.name!r} has no recorded answers of the weak model "
                                f"{bench.weak_model!r}: a cascade router needs them (arena-answers, gsm8k)")
    return list(answers)


class _Designs:
    """Design rows of the answer scorer, computed once per distinct (prompt, answer)."""

    def __init__(self, scorer: AnswerScorer) -> None:
        self.scorer = scorer
        self.rows: dict[tuple[str, str], np.ndarray] = {}

    def __call__(self, prompts: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        todo = list(dict.fromkeys((p, a) for p, a in zip(prompts, answers) if (p, a) not in self.rows))
        if todo:
            x = self.scorer.design([p for p, _ in todo], [a for _, a in todo])
            self.rows.update(zip(todo, x))
        return np.stack([self.rows[(p, a)] for p, a in zip(prompts, answers)])


def cross_fit_answer_scores(bench: Benchmark, records: Sequence[AnswerRecord], k: int, *,
                            use_embeddings: bool = True, seed: int = 0, group: bool = True,
                            log: Callable[[str], None] | None = None,
                            use_answer: bool = True) -> tuple[np.ndarray, list[FoldReport]]:
    """P(weak answer inadequate) per item, each from a scorer trained without the item's fold's prompts."""
    answers = weak_answers(bench)
    folds = assign_folds(bench.n, k, bench.groups if group else None, seed)
    template = AnswerScorer(use_embeddings=use_embeddings, use_answer=use_answer, show_progress=log is not None)
    designs = _Designs(template)
    designs([r.prompt for r in records], [r.answer for r in records])
    bench_x = designs(bench.prompts, answers)
    scores = np.full(bench.n, np.nan)
    reports = []
    for f in range(k):
        held = np.flatnonzero(folds == f)
        train = without_prompts(records, [bench.prompts[i] for i in held])
        if log:
            log(f"cascade fold {f + 1}/{k}: answer scorer on {len(train)} graded answers, scoring {len(held)} held-out items")
        scorer = AnswerScorer(use_embeddings=use_embeddings, use_answer=use_answer, seed=seed)
        scorer.fit(train, designs([r.prompt for r in train], [r.answer for r in train]))
        scores[held] = scorer.predict_design(bench_x[held])
        groups = tuple(sorted({bench.groups[i] for i in held})) if bench.groups and group else ()
        reports.append(FoldReport(f, len(held), len(train), 0, len(records) - len(train), groups))
    return scores, reports


def scorer_cache_key(name: str, k: int, seed: int, group: bool, records: Sequence[AnswerRecord]) -> str:
    """Cache key of cross-fitted cascade scores: scorer recipe, fold plan and the graded answers' content."""
    h = hashlib.sha256()
    for r in records:
        h.update(f"{r.source}\x00{r.model}\x00{r.label:.6f}\x00{len(r.answer)}\x00{normalize_prompt(r.prompt)[:200]}\n".encode())
    return hashlib.sha256(json.dumps({"router": name, "params": CASCADE_ROUTERS[name], "k": k, "seed": seed,
                                      "group": group, "records": h.hexdigest(), "v": 1},
                                     sort_keys=True).encode()).hexdigest()


def cascade_scores(name: str, bench: Benchmark, bench_hash: str, k: int, *, seed: int = 0, group: bool = True,
                   cache=None, data_dir: str | os.PathLike[str] | None = None,
                   log: Callable[[str], None] | None = None) -> tuple[np.ndarray, list[FoldReport], str]:
    """Cross-fitted cascade scores of ``name`` on ``bench`` (from the score cache when there)."""
    weak_answers(bench)
    records = answer_records(data_dir)
    key = scorer_cache_key(name, k, seed, group, records)
    label = f"{name}-crossfit{k}"
    if cache is not None:
        hit = cache.get(bench.name, bench_hash, label, key, bench.n)
        meta = cache.get_meta(bench.name, bench_hash, label, key)
        if hit is not None and meta is not None:
            return hit.astype(np.float64), [FoldReport(**{**f, "groups": tuple(f["groups"])}) for f in meta["folds"]], "cache"
    if log:
        log(f"cascade {name}: {len(records)} graded answers ({bench.name} weak answers scored out-of-fold, {k} folds)")
    scores, reports = cross_fit_answer_scores(bench, records, k, seed=seed, group=group, log=log, **CASCADE_ROUTERS[name])
    if cache is not None:
        cache.put(bench.name, bench_hash, label, key, scores, {"router": name, "cross_fit": k,
                                                               "folds": [f.to_dict() for f in reports]})
    return scores, reports, f"cross-fit {k}"


# --- cost: the discarded weak answers count ------------------------------------------------------------
def cost_curve(scores: np.ndarray, bench: Benchmark, costs: ItemCosts, cascade: bool) -> tuple[np.ndarray, np.ndarray]:
    """(cost, performance) at every distinct threshold, cheapest first.

    A prompt router pays the strong price on strong items and the weak price on the others; a
    cascade pays the weak price on every item and the strong price on top for escalated ones.
    """
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    ss = s[order]
    ends = np.flatnonzero(np.r_[ss[1:] != ss[:-1], True])
    gain = np.cumsum((bench.strong_scores - bench.weak_scores)[order])
    extra = np.cumsum((costs.strong if cascade else costs.strong - costs.weak)[order])
    perf = bench.weak_performance + np.r_[0.0, gain[ends]] / bench.n
    return costs.all_weak + np.r_[0.0, extra[ends]], perf


def cost_apgr(scores: np.ndarray, bench: Benchmark, costs: ItemCosts, cascade: bool) -> float:
    """APGR over the cost axis: area of performance over (cost - all-weak) / (all-strong - all-weak) in [0, 1].

    A cascade's curve is cut at the all-strong cost (escalating everything costs more than that);
    a curve ending earlier is extended flat at its last performance.
    """
    cost, perf = cost_curve(scores, bench, costs, cascade)
    span = costs.all_strong - costs.all_weak
    weak, strong = bench.weak_performance, bench.strong_performance
    if span <= 0 or strong == weak:
        return float("nan")
    x = (cost - costs.all_weak) / span
    grid = np.linspace(0.0, 1.0, 201)
    y = np.interp(grid, x, perf)  # flat beyond the last point; x starts at 0 for every router
    return float((np.trapezoid(y, grid) - weak) / (strong - weak))


@dataclass(frozen=True)
class CostComparison:
    """A router at equal cost: cost-axis APGR and its 90% bootstrap interval."""

    cost_apgr: float
    ci: tuple[float, float] | None
    cascade: bool
    # For a cascade: (best prompt-only router, APGR difference, 90% paired-bootstrap interval low, high).
    vs_prompt_only: tuple[str, float, float, float] | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"cost_apgr": self.cost_apgr, "cost_apgr_ci90": list(self.ci) if self.ci else None, "cascade": self.cascade}
        if self.vs_prompt_only:
            name, diff, lo, hi = self.vs_prompt_only
            out["apgr_minus_best_prompt_only"] = {"router": name, "difference": diff, "ci90": [lo, hi]}
        return out


def bootstrap_cost_apgr(scores: np.ndarray, bench: Benchmark, costs: ItemCosts, cascade: bool, n_boot: int = 1000,
                        level: float = 0.9, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`cost_apgr`, resampling items."""
    s = np.asarray(scores)

    def value(idx: np.ndarray, _i: int) -> float:
        return cost_apgr(s[idx], bench.subset(idx), ItemCosts(costs.strong[idx], costs.weak[idx], {}), cascade)

    return bootstrap_interval(value, bench.n, n_boot, level, seed)


def cost_comparison(scores: np.ndarray, bench: Benchmark, costs: ItemCosts, cascade: bool, n_boot: int) -> CostComparison:
    ci = bootstrap_cost_apgr(scores, bench, costs, cascade, n_boot) if n_boot else None
    return CostComparison(cost_apgr(scores, bench, costs, cascade), ci, cascade)


def cascade_cost_saving(scores: np.ndarray, bench: Benchmark, costs: ItemCosts, quality_fraction: float = 0.95):
    """:func:`~.cost.cost_saving` for a cascade: the cheapest escalation share reaching the quality, weak calls counted."""
    from .cost import CostSaving

    cost, perf = cost_curve(scores, bench, costs, cascade=True)
    n_ends = len(cost) - 1
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    pct = np.r_[0.0, (ends + 1) / bench.n * 100.0][: n_ends + 1]
    target = quality_fraction * bench.strong_performance
    ok = np.flatnonzero(perf >= target - 1e-9 * max(1.0, abs(target)))
    if ok.size == 0:
        return CostSaving(quality_fraction, target, False, float("nan"), float("nan"), float("nan"), costs.all_strong)
    best = int(ok[np.argmin(cost[ok])])
    return CostSaving(quality_fraction, target, True, float(pct[best]), float(perf[best]), float(cost[best]), costs.all_strong)


# --- the harness's hooks ---------------------------------------------------------------------------------
def cascade_result(evaluator, name: str, bench: Benchmark, bench_hash: str, costs: ItemCosts | None):
    """The :class:`~.runner.RouterResult` of cascade router ``name``: cross-fitted scores, cascade cost."""
    units = len(set(bench.groups)) if bench.groups and evaluator.cross_fit_grouped else bench.n
    k = evaluator.cross_fit or max(2, min(5, units))
    if k < 2:
        raise InvalidInputError("a cascade router is always cross-fitted: --cross-fit must be >= 2 for it")
    scores, reports, source = cascade_scores(name, bench, bench_hash, k, seed=evaluator.cross_fit_seed,
                                             group=evaluator.cross_fit_grouped, cache=evaluator.cache,
                                             data_dir=evaluator.data_dir, log=evaluator.log)
    result = evaluator._result(name, scores, bench, costs)
    result.source, result.folds = source if source == "cache" else f"cross-fit {k}", reports
    result.cascade = CASCADE_ROUTERS[name].get("use_answer", True)
    if costs is not None and result.cascade:
        result.cost = cascade_cost_saving(scores, bench, costs, evaluator.quality_fraction)
    return result


def compare_at_equal_cost(results: Sequence, bench: Benchmark, costs: ItemCosts, n_boot: int) -> None:
    """Set ``at_equal_cost`` (cost-axis APGR with interval) on every router result with scores."""
    prompt_only = [r for r in results if not r.cascade and r.name not in ("oracle", "random") and r.scores is not None]
    best = max(prompt_only, key=lambda r: r.metrics.apgr, default=None)
    for r in results:
        if r.scores is not None and np.isfinite(r.scores).all():
            r.at_equal_cost = cost_comparison(r.scores, bench, costs, bool(r.cascade), min(n_boot, 1000))
            if r.cascade and best is not None and n_boot:
                diff = paired_apgr_difference(r.scores, best.scores, bench, n_boot=min(n_boot, 1000))
                r.at_equal_cost = replace(r.at_equal_cost, vs_prompt_only=(best.name, *diff))


def equal_cost_lines(result) -> list[str]:
    """Table lines comparing every router at equal cost (only when a cascade is in the comparison)."""
    rows = [r for r in result.routers if r.at_equal_cost is not None]
    if not rows:
        return []
    lines = ["   at equal cost (weak calls of a cascade counted): APGR over the cost axis [90% CI]"]
    for r in rows:
        c = r.at_equal_cost
        ci = f"[{c.ci[0]:.3f}, {c.ci[1]:.3f}]" if c.ci else "-"
        lines.append(f"   {r.name:<30}{c.cost_apgr:>7.3f} {ci}")
        if c.vs_prompt_only:
            name, diff, lo, hi = c.vs_prompt_only
            lines.append(f"   {'':<4}APGR minus best prompt-only ({name}): {diff:+.3f} [{lo:+.3f}, {hi:+.3f}] (paired bootstrap)")
    return lines


def paired_apgr_difference(a: np.ndarray, b: np.ndarray, bench: Benchmark, num_results: int = 10, n_boot: int = 1000,
                           level: float = 0.9, seed: int = 0) -> tuple[float, float, float]:
    """APGR(a) - APGR(b) on the same items, with a paired percentile-bootstrap interval."""
    from .metrics import apgr, quantile_curve

    def value(idx: np.ndarray, _i: int = 0) -> float:
        s, w = bench.strong_scores[idx], bench.weak_scores[idx]
        return (apgr(quantile_curve(a[idx], s, w, num_results), float(w.mean()), float(s.mean()))
                - apgr(quantile_curve(b[idx], s, w, num_results), float(w.mean()), float(s.mean())))

    lo, hi = bootstrap_interval(value, bench.n, n_boot, level, seed)
    return float(value(np.arange(bench.n))), lo, hi
