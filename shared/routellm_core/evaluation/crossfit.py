"""Cross-fitting: evaluate a router trained on the benchmark's own golden labels without leakage.

The items are split into K folds -- whole groups (MMLU domains, MT-Bench categories) per fold
when the benchmark has groups, random items otherwise; K = 1 holds the whole benchmark out (one
router that saw none of its labels: cheapest, for the slow fine-tuned routers). For each fold a fresh router is trained on
the base records plus the golden labels of the other folds, and scores only its own fold. Any
training record whose prompt (case/space-normalised) equals a held-out prompt is removed, so no
prompt is ever scored by a router that saw it, even if the same text appears in two folds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..data.tables import normalize_prompt
from ..errors import InvalidInputError
from ..records import PreferenceRecord
from ..routers.base import Router
from .benchmarks import Benchmark


def assign_folds(n: int, k: int, groups: Sequence[str] | None = None, seed: int = 0) -> np.ndarray:
    """Fold index (0..k-1) per item; with ``groups``, every group lies in exactly one fold.

    Groups are dealt largest first to the currently smallest fold (ties: lowest fold index), so the
    folds are balanced and the split is deterministic.
    """
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInputError(f"--cross-fit needs K >= 1 folds, got {k!r}")
    if n < k:
        raise InvalidInputError(f"cannot split {n} items into {k} folds")
    folds = np.empty(n, dtype=np.int64)
    if k == 1:  # hold the whole benchmark out: one router, trained on none of its items
        folds[:] = 0
        return folds
    if groups is None:
        order = np.random.default_rng(seed).permutation(n)
        for f, part in enumerate(np.array_split(order, k)):
            folds[part] = f
        return folds
    if len(groups) != n:
        raise InvalidInputError(f"{len(groups)} group labels for {n} items")
    sizes = Counter(groups)
    if len(sizes) < k:
        raise InvalidInputError(f"cannot split {len(sizes)} groups into {k} folds: use --cross-fit {len(sizes)} or fewer")
    load = [0] * k
    fold_of: dict[str, int] = {}
    for group, size in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])):
        f = min(range(k), key=lambda i: (load[i], i))
        fold_of[group] = f
        load[f] += size
    for i, g in enumerate(groups):
        folds[i] = fold_of[g]
    return folds


@dataclass(frozen=True)
class FoldReport:
    """What one fold's router was trained on and what it scored."""

    fold: int
    scored: int
    train_records: int
    golden_records: int
    removed_overlap: int
    groups: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"fold": self.fold, "scored": self.scored, "train_records": self.train_records,
                "golden_records": self.golden_records, "removed_overlap": self.removed_overlap,
                "groups": list(self.groups)}


def cross_fit_scores(make_router: Callable[[], Router], benchmark: Benchmark, k: int,
                     base_records: Sequence[PreferenceRecord] = (), seed: int = 0, group: bool = True,
                     log: Callable[[str], None] | None = None,
                     add_golden: bool = True) -> tuple[np.ndarray, np.ndarray, list[FoldReport]]:
    """Scores for every item, each from the router of the one fold that did not train on it.

    ``make_router()`` must return a fresh untrained router; returns (scores, fold per item, reports).
    ``add_golden=False``: the base records already hold the benchmark's labels (Arena-Hard verdicts of
    every model); each fold's router then trains on the base without the held-out prompts.
    """
    folds = assign_folds(benchmark.n, k, benchmark.groups if group else None, seed)
    scores = np.full(benchmark.n, np.nan)
    reports = []
    for f in range(k):
        held = np.flatnonzero(folds == f)
        held_norm = {normalize_prompt(benchmark.prompts[i]) for i in held}
        golden = benchmark.golden_records(np.flatnonzero(folds != f)) if add_golden else []
        candidates = [*base_records, *golden]
        train = [r for r in candidates if normalize_prompt(r.prompt) not in held_norm]
        if not train:
            raise InvalidInputError(f"fold {f} has no training records left")
        if log:
            log(f"cross-fit fold {f + 1}/{k}: training on {len(train)} records, scoring {len(held)} held-out items")
        router = make_router().fit(train)
        scores[held] = router.predict_proba([benchmark.prompts[i] for i in held])
        groups = tuple(sorted({benchmark.groups[i] for i in held})) if benchmark.groups and group else ()
        reports.append(FoldReport(f, len(held), len(train), sum(normalize_prompt(r.prompt) not in held_norm for r in golden),
                                  len(candidates) - len(train), groups))
    return scores, folds, reports
