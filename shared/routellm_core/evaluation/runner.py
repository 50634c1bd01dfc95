"""Evaluate routers on one benchmark: scores (cached), the paper's curve and metrics, cost, optimum.

Routers are given as a registered name (``random``, ``mf``, ``sw_ranking``, ``bert``, ...), a
checkpoint directory, a :class:`Router` object, or ``oracle``. ``random`` is evaluated over
several seeds and its metrics averaged, as a single random draw on 72 MT-Bench items is noisy.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError, RouteLLMError
from ..models import canonical_model_name
from ..records import PreferenceRecord
from ..routers.base import Router, StrongWeakPair
from ..routers.random_router import RandomRouter
from .benchmarks import Benchmark
from .cache import ScoreCache, router_fingerprint
from .cost import CostSaving, ItemCosts, Price, cost_saving, item_costs, token_counts
from ..data.tables import normalize_prompt
from .cascade import cascade_result, compare_at_equal_cost, is_cascade
from .crossfit import FoldReport, cross_fit_scores
from .human_votes import PairwiseResult, bootstrap_auc, cross_fit_pairwise, is_human_vote, pairwise_auc
from .metrics import Curve, CurveMetrics, bootstrap_apgr, curve_metrics, exact_curve, mean_curve, optimal_curve, quantile_curve
from .oracle import OracleRouter

RouterSpec = str | os.PathLike[str] | Router
Log = Callable[[str], None]


def stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(eq=False)
class RouterResult:
    """One router on one benchmark. For ``random`` everything is the mean over seeds."""

    name: str
    curve: Curve
    metrics: CurveMetrics
    exact_metrics: CurveMetrics
    cost: CostSaving | None
    source: str = "computed"  # computed | cache | cross-fit
    seconds: float = 0.0
    seeds: int = 1
    apgr_std: float | None = None
    scores: np.ndarray | None = None
    folds: list[FoldReport] | None = None
    apgr_ci: tuple[float, float] | None = None  # 90% bootstrap interval of APGR
    template: Router | None = None  # the untrained router that cross-fitting copied
    cascade: bool = False  # an answer-aware cascade: every item paid a weak call (evaluation.cascade)
    at_equal_cost: Any = None  # evaluation.cascade.CostComparison, when a cascade is in the comparison

    def to_dict(self) -> dict[str, Any]:
        out = {"router": self.name, "source": self.source, "seconds": round(self.seconds, 3), "seeds": self.seeds,
               "metrics": self.metrics.to_dict(), "exact_metrics": self.exact_metrics.to_dict(),
               "cost_saving": self.cost.to_dict() if self.cost else None, "curve": self.curve.to_dict()}
        if self.apgr_std is not None:
            out["apgr_std"] = self.apgr_std
        if self.apgr_ci is not None:
            out["apgr_ci90"] = list(self.apgr_ci)
        if self.folds:
            out["cross_fit"] = [f.to_dict() for f in self.folds]
        if self.cascade:
            out["cascade"] = True
        if self.at_equal_cost is not None:
            out["at_equal_cost"] = self.at_equal_cost.to_dict()
        return out


@dataclass(eq=False)
class BenchmarkResult:
    """Every router on one benchmark, with the weak/strong/optimal references."""

    benchmark: Benchmark
    routers: list[RouterResult]
    optimal: Curve
    optimal_metrics: CurveMetrics
    optimal_cost: CostSaving | None
    costs: ItemCosts | None
    num_results: int
    quality_fraction: float
    prices: dict[str, Price] = field(default_factory=dict)
    plot_path: Path | None = None
    pairwise: list[PairwiseResult] = field(default_factory=list)  # held-out AUC on the human votes

    @property
    def weak(self) -> float:
        return self.benchmark.weak_performance

    @property
    def strong(self) -> float:
        return self.benchmark.strong_performance

    def router(self, name: str) -> RouterResult:
        for r in self.routers:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        b = self.benchmark
        return {
            "benchmark": b.name, "items": b.n, "unit": b.unit, "dropped_contaminated": b.dropped_contaminated,
            "strong_model": b.strong_model, "weak_model": b.weak_model, "strong_performance": self.strong,
            "weak_performance": self.weak, "num_results": self.num_results, "quality_fraction": self.quality_fraction,
            "optimal": {"metrics": self.optimal_metrics.to_dict(), "curve": self.optimal.to_dict(),
                        "cost_saving": self.optimal_cost.to_dict() if self.optimal_cost else None},
            "cost": None if self.costs is None else {
                "all_strong_usd": self.costs.all_strong, "all_weak_usd": self.costs.all_weak,
                "prices_usd_per_million": {m: [p.input_per_million, p.output_per_million] for m, p in self.prices.items()},
                "tokens": {role: {k: int(v.sum()) for k, v in d.items()} for role, d in self.costs.tokens.items()}},
            "routers": [r.to_dict() for r in self.routers],
            "human_votes_pairwise_auc": [p.to_dict() for p in self.pairwise],
            "plot": str(self.plot_path) if self.plot_path else None,
        }


@contextmanager
def embedding_disk_cache(directory: str | os.PathLike[str] | None, embedders: Sequence[Any] = ("minilm",)) -> Iterator[None]:
    """Let the shared embedders keep vectors on disk for the duration (then restore them).

    Benchmark prompts (14k for MMLU) are embedded once per machine instead of once per router and
    run; the embedder's own disk format (``.npy``, no pickle) is used.
    """
    if directory is None:
        yield
        return
    from ..embeddings import get_embedder

    changed = []
    for spec in embedders:
        try:
            emb = get_embedder(spec)
        except RouteLLMError:
            continue  # embedder not installed: routers needing it will say so themselves
        if getattr(emb, "disk_cache_dir", None) is None and hasattr(emb, "disk_cache_dir"):
            emb.disk_cache_dir = Path(directory)
            changed.append(emb)
    try:
        yield
    finally:
        for emb in changed:
            emb.disk_cache_dir = None


def _checkpoint_of(spec: RouterSpec) -> Path | None:
    if isinstance(spec, Router):
        return None
    text = str(spec).strip()
    from ..routers.registry import router_names

    if text in router_names():
        from ..routers.defaults import find_default_checkpoint

        try:
            return find_default_checkpoint(text)
        except RouteLLMError:
            return None  # not trainable (random) or not built: nothing on disk identifies it
    path = Path(text).expanduser()
    return path if path.exists() else None


def _label(spec: RouterSpec, router: Router) -> str:
    if isinstance(spec, Router):
        return getattr(spec, "name", type(spec).__name__)
    text = str(spec).strip()
    path = Path(text)
    return path.name if (os.sep in text or path.exists()) else text


def _align_pair(router: Router, benchmark: Benchmark, log: Log) -> Router:
    """Point a multi-model router at the benchmark's strong/weak pair when it knows both models."""
    if not isinstance(router, StrongWeakPair):
        return router
    s, w = canonical_model_name(benchmark.strong_model), canonical_model_name(benchmark.weak_model)
    if (router.strong_model, router.weak_model) == (s, w):
        return router
    models = list(getattr(router, "models_", []))
    if not hasattr(router, "models_") and router.trainable:  # untrained (cross-fitting): train for the benchmark's pair
        aligned = copy.copy(router)
        aligned.strong_model, aligned.weak_model = s, w
        return aligned
    if s in models and w in models:
        aligned = copy.copy(router)
        aligned.strong_model, aligned.weak_model = s, w
        return aligned
    log(f"note: router {router.name!r} was not trained on {s} / {w}; it scores its own pair "
        f"({router.strong_model} / {router.weak_model})")
    return router


def _fresh_factory(router: Router, label: str) -> Callable[[], Router]:
    """A function building fresh untrained copies of ``router`` (same class and parameters)."""
    cls = type(router)
    try:
        build = {**router.get_params()}
    except AttributeError as exc:  # a constructor parameter the router does not keep under its name
        raise InvalidInputError(f"cannot cross-fit router {label!r}: its parameters cannot be read ({exc})") from None
    embedder = getattr(router, "embedder", None)
    if embedder is not None and not isinstance(embedder, str):
        build["embedder"] = embedder  # a custom Embedder object is passed on, not its id
    try:
        cls(**build)
    except TypeError as exc:
        raise InvalidInputError(f"cannot cross-fit router {label!r}: a fresh {cls.__name__} cannot be built "
                                f"from its parameters ({exc})") from None
    return lambda: cls(**build)


def _data_signature(data_dir: str | os.PathLike[str] | None, datasets: Sequence[str] | None = None) -> str:
    """Recipe version plus names and sizes of the training files, so cross-fit caches follow data changes."""
    from ..datadir import resolve_data_dir
    from ..training import DATASET_FOLDERS, DEFAULT_DATASETS, recipe_signature

    root = resolve_data_dir(data_dir)
    parts = [recipe_signature()] + ([f"datasets:{','.join(datasets)}"] if datasets else [])
    folders = dict.fromkeys(DATASET_FOLDERS.get(name, name) for name in (datasets or DEFAULT_DATASETS))
    for name in folders:
        folder = root / name
        if folder.is_dir():
            parts += [f"{p.relative_to(root)}:{p.stat().st_size}" for p in sorted(folder.rglob("*")) if p.is_file()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


DEFAULT_CROSS_FIT = 5


class Evaluator:
    """Evaluates routers on benchmarks, sharing caches (scores, tokens, base training data) across them."""

    def __init__(self, *, num_results: int = 10, random_seeds: int = 20, cross_fit: int | None = None,
                 cross_fit_seed: int = 0, cross_fit_grouped: bool = True, cache: ScoreCache | None = None,
                 prices: Mapping[str, Price] | None = None,
                 quality_fraction: float = 0.95, data_dir: str | os.PathLike[str] | None = None, bootstrap: int = 1000,
                 base_records: Sequence[PreferenceRecord] | None = None, with_cost: bool = True,
                 log: Log | None = stderr_log, train_datasets: Sequence[str] | None = None,
                 shipped: bool = True) -> None:
        if int(num_results) < 1:
            raise InvalidInputError(f"--num-results must be >= 1, got {num_results!r}")
        if int(random_seeds) < 1:
            raise InvalidInputError(f"--random-seeds must be >= 1, got {random_seeds!r}")
        if cross_fit is not None and int(cross_fit) < 1:
            raise InvalidInputError(f"--cross-fit needs K >= 1 folds, got {cross_fit!r}")
        if not 0 < float(quality_fraction) <= 1:
            raise InvalidInputError(f"quality fraction must be in (0, 1], got {quality_fraction!r}")
        self.num_results = int(num_results)
        self.random_seeds = int(random_seeds)
        self.cross_fit = int(cross_fit) if cross_fit else None
        self.cross_fit_seed = int(cross_fit_seed)
        self.cross_fit_grouped = bool(cross_fit_grouped)
        self.cache = cache
        self.prices = dict(prices or {})
        self.quality_fraction = float(quality_fraction)
        if int(bootstrap) < 0:
            raise InvalidInputError(f"--bootstrap must be >= 0 replicates, got {bootstrap!r}")
        self.bootstrap = int(bootstrap)
        self.data_dir = data_dir
        self._base_records = list(base_records) if base_records is not None else None
        self._custom_base = base_records is not None  # given by the caller, not loaded from the data dir
        if train_datasets is not None:
            from ..loaders import TRAINING_SETS

            unknown = [d for d in train_datasets if d not in TRAINING_SETS]
            if unknown or not train_datasets:
                raise InvalidInputError(f"--train-datasets: unknown dataset(s) {', '.join(unknown) or '(none given)'}; "
                                        f"choose from {', '.join(TRAINING_SETS)}")
        self.train_datasets = tuple(train_datasets) if train_datasets else None
        self.with_cost = with_cost
        self.shipped = bool(shipped)  # use the default routers' shipped scores where checkpoint, data and key match
        self.log = log or (lambda _msg: None)

    # --- shared inputs -----------------------------------------------------------------------
    def base_records(self) -> list[PreferenceRecord]:
        """The default training data (external sets decontaminated), loaded once for all cross-fitted routers."""
        if self._base_records is None:
            from ..training import default_training_records

            which = ", ".join(self.train_datasets) if self.train_datasets else "the default training data"
            self.log(f"loading {which} for cross-fitting (decontaminated against the benchmarks)")
            self._base_records = (default_training_records(self.data_dir, verbose=False,
                                                           datasets=self.train_datasets) if self.train_datasets
                                  else default_training_records(self.data_dir, verbose=False))
        return self._base_records

    def base_records_for(self, bench: Benchmark) -> list[PreferenceRecord]:
        """The base data for cross-fitting on ``bench``.

        Without any prompt of ``bench`` (cross-fitting adds back only other folds' golden labels),
        except for a benchmark whose labels for every model are part of the training data (Arena-Hard):
        then the whole base, and cross-fitting removes each held-out fold's prompts itself.
        """
        base = self.base_records()
        if bench.labels_in_training_data:
            return base
        prompts = {normalize_prompt(p) for p in bench.prompts}
        return [r for r, norm in zip(base, self._base_norms()) if norm not in prompts]

    def _base_norms(self) -> list[str]:
        base = self.base_records()
        if len(getattr(self, "_base_norm", ())) != len(base):
            self._base_norm = [normalize_prompt(r.prompt) for r in base]
        return self._base_norm

    def _default_data_overlaps(self, bench: Benchmark) -> bool:
        """Whether the default routers were trained on prompts of ``bench`` (then they are scored out-of-fold)."""
        prompts = {normalize_prompt(p) for p in bench.prompts}
        return any(norm in prompts for norm in self._base_norms())

    def _costs(self, bench: Benchmark, bench_hash: str) -> ItemCosts | None:
        if not self.with_cost:
            return None
        tokens = None
        key = "tokens-minilm-wordpiece-v1"
        if self.cache is not None:
            hit = self.cache.get(bench.name, bench_hash, "tokens", key, bench.n)
            if hit is not None and hit.shape == (bench.n, 4):
                tokens = {"strong": {"input": hit[:, 0], "output": hit[:, 1]}, "weak": {"input": hit[:, 2], "output": hit[:, 3]}}
        if tokens is None:
            tokens = token_counts(bench)
            if self.cache is not None:
                arr = np.stack([tokens["strong"]["input"], tokens["strong"]["output"], tokens["weak"]["input"],
                                tokens["weak"]["output"]], axis=1).astype(np.int64)
                self.cache.put(bench.name, bench_hash, "tokens", key, arr, {"what": "token counts (strong in/out, weak in/out)"})
        return item_costs(bench, self.prices, tokens)

    # --- scoring -------------------------------------------------------------------------------
    def _score(self, router: Router, label: str, checkpoint: Path | None, bench: Benchmark,
               bench_hash: str) -> tuple[np.ndarray, str]:
        key = router_fingerprint(router, checkpoint) if self.cache is not None else None
        if key is not None and self.cache is not None:
            hit = self.cache.get(bench.name, bench_hash, label, key, bench.n)
            if hit is not None:
                return hit.astype(np.float64), "cache"
        self.log(f"scoring {bench.n} {bench.name} prompts with {label} ...")
        embedder = getattr(router, "embedder", None)
        extra = [embedder] if embedder is not None and not isinstance(embedder, str) else []
        with embedding_disk_cache(self.cache.embedding_dir if self.cache else None, ["minilm", *extra]):
            scores = np.asarray(router.predict_proba(bench.prompts), dtype=np.float64)
        if key is not None and self.cache is not None:
            self.cache.put(bench.name, bench_hash, label, key, scores,
                           {"router": label, "class": type(router).__qualname__, "params": router.get_params(),
                            "checkpoint": str(checkpoint) if checkpoint else None})
        return scores, "computed"

    def _fit_key(self, router: Router, **extra: Any) -> str:
        """Cache key of scores from routers trained on the base data: class, parameters, data, fold plan."""
        return hashlib.sha256(json.dumps({"class": f"{type(router).__module__}.{type(router).__qualname__}",
                                          "params": router.get_params(), "seed": self.cross_fit_seed, **extra,
                                          "data": f"custom:{len(self._base_records or ())}" if self._custom_base
                                          else _data_signature(self.data_dir, self.train_datasets), "v": 2},
                                         sort_keys=True, default=str).encode()).hexdigest()

    def _cross_fit(self, router: Router, label: str, bench: Benchmark, bench_hash: str,
                   k: int) -> tuple[np.ndarray, list[FoldReport]]:
        make = _fresh_factory(router, label)  # first: a router that cannot be rebuilt is a clear error
        key = self._fit_key(router, k=k, **({} if self.cross_fit_grouped else {"grouped": False}))
        cache_label = f"{label}-crossfit{k}{'' if self.cross_fit_grouped else '-items'}"
        if self.cache is not None:
            hit = self.cache.get(bench.name, bench_hash, cache_label, key, bench.n)
            meta = self.cache.get_meta(bench.name, bench_hash, cache_label, key)
            if hit is not None and meta is not None:
                return hit.astype(np.float64), [FoldReport(**{**f, "groups": tuple(f["groups"])}) for f in meta.get("folds", [])]
        with embedding_disk_cache(self.cache.embedding_dir if self.cache else None):
            scores, _, reports = cross_fit_scores(make, bench, k, self.base_records_for(bench),
                                                  seed=self.cross_fit_seed, group=self.cross_fit_grouped, log=self.log,
                                                  add_golden=not bench.labels_in_training_data)
        if self.cache is not None:
            self.cache.put(bench.name, bench_hash, cache_label, key, scores,
                           {"router": label, "class": type(router).__qualname__, "cross_fit": k,
                            "folds": [f.to_dict() for f in reports]})
        return scores, reports

    def _cross_fit_result(self, router: Router, label: str, bench: Benchmark, bench_hash: str,
                          costs: ItemCosts | None, k: int) -> RouterResult:
        scores, folds = self._cross_fit(router, label, bench, bench_hash, k)
        result = self._result(label, scores, bench, costs)
        result.template = router
        by = "" if self.cross_fit_grouped or not bench.groups else " by item"
        result.source, result.folds = f"cross-fit {k}{by}", folds
        return result

    def _result(self, name: str, scores: np.ndarray, bench: Benchmark, costs: ItemCosts | None,
                interval: bool = True) -> RouterResult:
        curve = quantile_curve(scores, bench.strong_scores, bench.weak_scores, self.num_results)
        weak, strong = bench.weak_performance, bench.strong_performance
        exact = exact_curve(scores, bench.strong_scores, bench.weak_scores)
        return RouterResult(name, curve, curve_metrics(curve, weak, strong), curve_metrics(exact, weak, strong, "first"),
                            cost_saving(scores, bench, costs, self.quality_fraction) if costs is not None else None,
                            scores=scores, apgr_ci=self._interval(scores, bench) if interval else None)

    def _interval(self, scores: np.ndarray, bench: Benchmark,
                  seed_scores: Sequence[np.ndarray] | None = None) -> tuple[float, float] | None:
        if not self.bootstrap:
            return None
        return bootstrap_apgr(scores, bench.strong_scores, bench.weak_scores, self.num_results, self.bootstrap,
                              seed_scores=seed_scores)

    def _random(self, bench: Benchmark, costs: ItemCosts | None) -> RouterResult:
        runs = [self._result("random", RandomRouter(seed=s).predict_proba(bench.prompts), bench, costs, interval=False)
                for s in range(self.random_seeds)]
        apgrs = [r.metrics.apgr for r in runs]
        return RouterResult(
            "random", mean_curve([r.curve for r in runs]), CurveMetrics.mean([r.metrics for r in runs]),
            CurveMetrics.mean([r.exact_metrics for r in runs]),
            CostSaving.mean([r.cost for r in runs if r.cost is not None]) if costs is not None else None,
            seeds=self.random_seeds, apgr_std=float(np.std(apgrs)), scores=runs[0].scores,
            apgr_ci=self._interval(np.asarray(runs[0].scores), bench, [np.asarray(r.scores) for r in runs]))

    def _default_k(self, bench: Benchmark) -> int:
        """Folds for a default router trained on ``bench``'s labels: ``cross_fit`` if given, else 5 (or fewer units)."""
        units = len(set(bench.groups)) if bench.groups and self.cross_fit_grouped else bench.n
        return self.cross_fit or max(2, min(DEFAULT_CROSS_FIT, units))

    def shipped_key(self, name: str, bench: Benchmark, cross_fit: int | None) -> tuple[str, Router]:
        """The cache key the scores of default router ``name`` on ``bench`` are stored under, and its router.

        ``cross_fit``: folds of cross-fitted scores (the key of :meth:`_cross_fit`); None: the default
        checkpoint's own scores (the key of :meth:`_score`: class, parameters, every checkpoint file).
        """
        from ..routers.defaults import find_default_checkpoint
        from ..routers.registry import load_router
        from ..training import default_router

        if cross_fit:
            template = _align_pair(default_router(name), bench, lambda _msg: None)
            return self._fit_key(template, k=cross_fit, **({} if self.cross_fit_grouped else {"grouped": False})), template
        router = _align_pair(load_router(name), bench, lambda _msg: None)
        return router_fingerprint(router, find_default_checkpoint(name)) or "", router

    def _shipped_result(self, name: str, bench: Benchmark, bench_hash: str, costs: ItemCosts | None) -> RouterResult | None:
        """The router's result from the scores shipped with the package, when they are exactly what would be computed."""
        if not self.shipped or self._custom_base or self.train_datasets:
            return None
        from .shipped import lookup, matching_record

        entry = ((matching_record(name) or {}).get("benchmarks") or {}).get(bench.name)
        if not entry or entry.get("benchmark_hash") != bench_hash:
            return None
        k = entry.get("cross_fit")
        if (k and k != self._default_k(bench)) or (not k and self.cross_fit):
            return None  # another fold plan was asked for: compute it
        key, router = self.shipped_key(name, bench, k)
        found = lookup(name, bench.name, bench_hash, key, bench.n)
        if found is None:
            return None
        scores, entry = found
        result = self._result(name, scores, bench, costs)
        if k:
            by = "" if self.cross_fit_grouped or not bench.groups else " by item"
            result.source = f"cross-fit {k}{by} (shipped)"
            result.folds = [FoldReport(**{**f, "groups": tuple(f["groups"])}) for f in entry.get("folds", [])]
            result.template = router
        else:
            result.source = "shipped"
        return result

    def evaluate_router(self, spec: RouterSpec, bench: Benchmark, bench_hash: str | None = None,
                        costs: ItemCosts | None = None) -> RouterResult:
        """Scores, curve, metrics and cost saving of one router on one benchmark."""
        bench_hash = bench_hash or bench.fingerprint()
        start = time.perf_counter()
        if isinstance(spec, str) and spec.strip() == "random":
            result = self._random(bench, costs)
        elif isinstance(spec, str) and spec.strip() == "oracle":
            result = self._result("oracle", OracleRouter(bench).predict_proba(bench.prompts), bench, costs)
        elif is_cascade(spec):
            result = cascade_result(self, str(spec).strip(), bench, bench_hash, costs)
        else:
            from ..routers.registry import load_router, router_class, router_names

            default_name = spec.strip() if isinstance(spec, str) and spec.strip() in router_names() else None
            shipped = self._shipped_result(default_name, bench, bench_hash, costs) if default_name else None
            if shipped is not None:
                result = shipped  # the same scores as below, computed when the package was built
            elif default_name and router_class(default_name).trainable and self._default_data_overlaps(bench):
                # The shipped default was trained on this benchmark's labels: score it out-of-fold instead.
                from ..training import default_router

                k = self._default_k(bench)
                self.log(f"note: the default {default_name} router trains on {bench.name} labels; "
                         f"scoring with {k}-fold cross-fitting so no item is scored by a router that saw it")
                router = _align_pair(default_router(default_name), bench, self.log)
                result = self._cross_fit_result(router, default_name, bench, bench_hash, costs, k)
            elif default_name and self.cross_fit and router_class(default_name).trainable:
                # Cross-fitting trains every fold afresh: the recipe's parameters are the template, so no
                # default checkpoint has to be trained (or shipped) first, e.g. for bert on a CPU.
                from ..training import default_router

                router = _align_pair(default_router(default_name), bench, self.log)
                result = self._cross_fit_result(router, default_name, bench, bench_hash, costs, self.cross_fit)
            else:
                with embedding_disk_cache(self.cache.embedding_dir if self.cache else None):
                    router = load_router(spec)  # may train a default router once (embeddings land in the disk cache)
                router = _align_pair(router, bench, self.log)
                label = _label(spec, router)
                if self.cross_fit and router.trainable:
                    result = self._cross_fit_result(router, label, bench, bench_hash, costs, self.cross_fit)
                else:
                    if self.cross_fit:
                        self.log(f"note: {label} is not trainable; scored without cross-fitting")
                    scores, source = self._score(router, label, _checkpoint_of(spec), bench, bench_hash)
                    result = self._result(label, scores, bench, costs)
                    result.source = source
        result.seconds = time.perf_counter() - start
        return result

    def evaluate(self, bench: Benchmark, routers: Sequence[RouterSpec]) -> BenchmarkResult:
        """Every router on ``bench`` plus the weak/strong/optimal references."""
        if not routers:
            raise InvalidInputError("name at least one router to evaluate")
        bench_hash = bench.fingerprint()
        self.log(bench.describe())
        costs = self._costs(bench, bench_hash)
        results: list[RouterResult] = []
        for spec in routers:
            result = self.evaluate_router(spec, bench, bench_hash, costs)
            if any(r.name == result.name for r in results):
                result.name = f"{result.name}#{len(results)}"
            results.append(result)
            self.log(f"  {result.name}: APGR {result.metrics.apgr:.3f} ({result.source}, {result.seconds:.1f}s)")
        if costs is not None and any(r.cascade for r in results):
            compare_at_equal_cost(results, bench, costs, self.bootstrap)
        optimal = optimal_curve(bench.strong_scores, bench.weak_scores, whole_calls=bench.optimal_whole_calls)
        oracle_cost = (cost_saving(OracleRouter(bench).predict_proba(bench.prompts), bench, costs, self.quality_fraction)
                       if costs is not None else None)
        from .cost import resolve_prices

        prices = {}
        if costs is not None:
            sp, wp = resolve_prices(bench, self.prices)
            prices = {bench.strong_model: sp, bench.weak_model: wp}
        return BenchmarkResult(bench, results, optimal, curve_metrics(optimal, bench.weak_performance, bench.strong_performance),
                               oracle_cost, costs, self.num_results, self.quality_fraction, prices,
                               pairwise=self.human_votes(bench, results))

    def human_votes(self, bench: Benchmark, results: Sequence[RouterResult]) -> list[PairwiseResult]:
        """Held-out pairwise AUC on the human votes for each cross-fitted multi-model router, plus the
        prompt-blind Bradley-Terry baseline (only for a benchmark whose labels are in the training data)."""
        if not bench.labels_in_training_data:
            return []
        if not self._custom_base:  # the named training sets say whether votes are in them: no need to load them
            from ..training import DEFAULT_DATASETS
            from .human_votes import HUMAN_VOTE_SOURCES

            if not set(self.train_datasets or DEFAULT_DATASETS) & set(HUMAN_VOTE_SOURCES):
                return []
        if not any(map(is_human_vote, self.base_records())):
            return []
        from ..routers.sw_ranking import SWRankingRouter

        k = self.cross_fit or DEFAULT_CROSS_FIT
        templates: list[tuple[str, Router]] = [(r.name, r.template) for r in results
                                               if r.template is not None and isinstance(r.template, StrongWeakPair)]
        out = []
        # the benchmark's pair (any two models the data holds would do; fit() only checks the pair exists)
        blind = SWRankingRouter(gamma=1.0, show_progress=False, strong_model=canonical_model_name(bench.strong_model),
                                weak_model=canonical_model_name(bench.weak_model))
        for name, router in [*templates, ("bradley-terry (prompt-blind)", blind)]:
            key = self._fit_key(router, k=k, what="human-votes")
            probs = self.cache.get("chatbot_arena", "votes", name, key) if self.cache is not None else None
            votes = [r for r in self.base_records() if is_human_vote(r)]
            if probs is None or len(probs) != len(votes):
                with embedding_disk_cache(self.cache.embedding_dir if self.cache else None):
                    probs, _ = cross_fit_pairwise(_fresh_factory(router, name), self.base_records(), k,
                                                  self.cross_fit_seed, self.log)
                if self.cache is not None:
                    self.cache.put("chatbot_arena", "votes", name, key, probs, {"router": name, "folds": k})
            outcome = np.array([v.outcome for v in votes])
            auc = pairwise_auc(probs, outcome)
            out.append(PairwiseResult(name, auc, bootstrap_auc(probs, outcome, max(self.bootstrap, 200)),
                                      int((outcome != 0.5).sum()), k, probs))
            self.log(f"  human votes: {name} pairwise AUC {auc:.3f}")
        return out


def evaluate_benchmark(benchmark: Benchmark, routers: Sequence[RouterSpec], **kwargs) -> BenchmarkResult:
    """Convenience wrapper: ``Evaluator(**kwargs).evaluate(benchmark, routers)``."""
    return Evaluator(**kwargs).evaluate(benchmark, routers)


__all__ = ["Evaluator", "evaluate_benchmark", "BenchmarkResult", "RouterResult", "embedding_disk_cache"]
