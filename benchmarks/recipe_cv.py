"""Choose the default training recipe by cross-validation on the training data (never a test score).

    python benchmarks/recipe_cv.py [--only NAME ...] [--bootstrap 200]          # leave-one-source-out (default)
    python benchmarks/recipe_cv.py --random-folds [--folds 3] [--only NAME ...]  # the older random prompt folds

**Leave-one-source-out (the default, issue 23).** The training sources are the records' ``source``
before the first ``:``: routerbench, mmlu, gsm8k, mt-bench, arena_hard, chatbot_arena (the default
datasets plus the opt-in Arena ones). For each held-out source S and each candidate recipe (router
parameters + per-source weights), the router is trained on the candidate's records of every *other*
source, with every prompt that S holds (after case/space normalisation) removed, and then scores
routing within S's model pairs:

- each comparison of S is oriented to its pair (a, b) (names sorted), decisive ones only (outcome
  != 0.5; soft outcomes count for the side they favour);
- the router's score of a prompt for the pair is s(a, q) - s(b, q) when it knows both models. When
  it does not, it is the router's own strong-vs-weak direction, pointed at the model that wins more
  of the pair's comparisons: that is the prior ``train --init`` would warm-start such a pair from;
- the within-pair AUC ranks the pair's prompts by that score (the prompt signal only: a constant
  score gets 0.5, whatever it knows about which model is stronger overall); pairs whose comparisons
  all go one way are skipped;
- S's score is the mean of its pairs' AUCs weighted by their decisive comparisons.

90% intervals come from a bootstrap over the prompts of each held-out source (the same resamples for
every candidate, so the difference from the current default has its own interval); the interval of
the mean across sources resamples every source at once.

**The rule (fixed before the run):** the recipe with the highest mean of the per-source scores, each
held-out source weighing the same, is the default. Writes ``results/recipe_cv_loso.json``.

**Random prompt folds (``--random-folds``)**, the older criterion. Folds hold whole prompts (the same
normalised prompt in any source lies in one fold) and whole Arena-Hard topic clusters. Each candidate
is trained on K-1 folds and judged on the held-out fold by three pairwise AUCs:

- ``arena_other``: Arena-Hard verdicts turned into pairwise comparisons (same judge, same prompt)
  between models *other than* the Arena benchmark's pair (gpt-4o, llama-3.1-70b-instruct), so the
  benchmark's own labels never take part in choosing the recipe;
- ``human``: Chatbot Arena human votes (decisive ones);
- ``golden``: the paper's pair on held-out MMLU / GSM8K / MT-Bench golden labels.

Those AUCs pool comparisons of many model pairs, so they mostly reward knowing which model is
stronger overall, which needs no prompt. ``arena_within`` is the AUC computed separately within each
model pair of ``arena_other``, averaged with the pairs' decisive comparison counts as weights;
``golden`` is already one pair. ``routing`` = mean of the two. Writes ``results/recipe_cv.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from routellm_core.data.arena import arena_hard_questions
from routellm_core.data.golden import golden_outcome
from routellm_core.data.tables import normalize_prompt
from routellm_core.evaluation.benchmarks import ARENA_STRONG_MODEL, ARENA_WEAK_MODEL
from routellm_core.evaluation.human_votes import pair_probabilities, pairwise_auc
from routellm_core.recipe import TRAINING_EMBEDDER
from routellm_core.training import ARENA_DATASETS, DEFAULT_DATASETS, default_training_records, weight_by_source

HELD_OUT_MODELS = {ARENA_STRONG_MODEL, ARENA_WEAK_MODEL}
UNIT = {"routerbench": 1.0, "mmlu": 1.0, "gsm8k": 1.0, "mt-bench": 1.0, "arena_hard": 1.0, "chatbot_arena": 1.0}
ARENA_UP = {**UNIT, "arena_hard": 5.0, "chatbot_arena": 5.0}
BALANCED = {**UNIT, "arena_hard": 10.0, "chatbot_arena": 50.0}
CANDIDATES: dict[str, tuple[str, dict, dict]] = {
    "v2 (no Arena data)": ("mf", {}, {**UNIT, "arena_hard": 0.0, "chatbot_arena": 0.0}),
    "all sources, weight 1": ("mf", {}, UNIT),
    "Arena-Hard x1, no human votes": ("mf", {}, {**UNIT, "chatbot_arena": 0.0}),
    "Arena x5": ("mf", {}, ARENA_UP),
    "Arena balanced (x10 / x50)": ("mf", {}, BALANCED),
    "Arena x5, no bothbad ties": ("mf", {}, {**ARENA_UP, "chatbot_arena:bothbad": 0.0}),
    "Arena x5, ties full weight": ("mf", {"tie_weight": 1.0}, ARENA_UP),
    "Arena balanced, sw_ranking": ("sw_ranking", {}, BALANCED),
    "Arena balanced, sw_ranking gamma 100": ("sw_ranking", {"gamma": 100.0}, BALANCED),
}
CURRENT = "v2 (no Arena data)"  # the shipped recipe when the leave-one-source-out run was made
LOSO_SOURCES = ("routerbench", "mmlu", "gsm8k", "mt-bench", "arena_hard", "chatbot_arena")


def group_keys(records, data_dir=None):
    cluster = {normalize_prompt(q.prompt): f"cluster:{q.cluster}" for q in arena_hard_questions(data_dir)}
    return [cluster.get(normalize_prompt(r.prompt), normalize_prompt(r.prompt)) for r in records]


def arena_pairs(held):
    """Pairwise comparisons between models other than the benchmark pair from held-out Arena-Hard verdicts."""
    by = defaultdict(dict)
    for r in held:
        if r.source.startswith("arena_hard") and r.model_a not in HELD_OUT_MODELS:
            by[(r.prompt, r.source)][r.model_a] = r.outcome
    prompts, a, b, y = [], [], [], []
    for (prompt, _), scores in by.items():
        for m1, m2 in itertools.combinations(sorted(scores), 2):
            o = golden_outcome(scores[m1], scores[m2])
            if o != 0.5:
                prompts.append(prompt), a.append(m1), b.append(m2), y.append(o)
    return prompts, a, b, np.array(y)


def within_pair_auc(probs, y, a, b) -> float:
    """AUC of P within each (model a, model b) pair, averaged with weights = the pair's comparisons."""
    groups = defaultdict(list)
    for i, pair in enumerate(zip(a, b)):
        groups[pair].append(i)
    total, weight = 0.0, 0
    for idx in groups.values():
        outcome = y[idx]
        if len(set(outcome.tolist())) < 2:
            continue  # one pair, one winner everywhere: nothing to rank
        total += pairwise_auc(probs[idx], outcome) * len(idx)
        weight += len(idx)
    return total / weight if weight else 0.5


def evaluate_candidate(name, kind, params, weights, records, keys, folds, k):
    from routellm_core.routers.registry import router_class

    fold_of = {key: f for key, f in zip(sorted(set(keys)), folds)}
    per = defaultdict(lambda: ([], []))
    within = ([], [], [], [])
    start = time.perf_counter()
    for f in range(k):
        train = [r for r, key in zip(records, keys) if fold_of[key] != f]
        held = [r for r, key in zip(records, keys) if fold_of[key] == f]
        router = router_class(kind)(**{"show_progress": False, **params}).fit(weight_by_source(train, weights))
        p, a, b, y = arena_pairs(held)
        probs = pair_probabilities(router, p, a, b)
        per["arena_other"][0].append(probs), per["arena_other"][1].append(y)
        within[0].append(probs), within[1].append(y), within[2].extend(a), within[3].extend(b)
        votes = [r for r in held if r.source.startswith("chatbot_arena")]
        per["human"][0].append(pair_probabilities(router, [v.prompt for v in votes], [v.model_a for v in votes],
                                            [v.model_b for v in votes]))
        per["human"][1].append(np.array([v.outcome for v in votes]))
        gold = [r for r in held if r.source.split(":")[0] in {"mmlu", "gsm8k", "mt-bench"}]
        per["golden"][0].append(pair_probabilities(router, [g.prompt for g in gold], [g.model_a for g in gold],
                                             [g.model_b for g in gold]))
        per["golden"][1].append(np.array([g.outcome for g in gold]))
    out = {"candidate": name, "router": kind, "params": params, "weights": weights}
    for metric, (ps, ys) in per.items():
        out[metric] = round(pairwise_auc(np.concatenate(ps), np.concatenate(ys)), 4)
    out["mean"] = round(float(np.mean([out["arena_other"], out["human"], out["golden"]])), 4)
    out["arena_within"] = round(within_pair_auc(np.concatenate(within[0]), np.concatenate(within[1]), within[2],
                                                within[3]), 4)
    out["routing"] = round(float(np.mean([out["arena_within"], out["golden"]])), 4)
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


def source_name(record) -> str:
    """The training source a record comes from: its ``source`` before the first ':'."""
    return record.source.split(":", 1)[0]


class HeldOut:
    """The decisive comparisons of one held-out source, grouped by model pair, with bootstrap counts."""

    def __init__(self, source: str, records, n_boot: int, seed: int) -> None:
        self.source = source
        self.prompts: list[str] = []
        row: dict[str, int] = {}
        pairs: dict[tuple[str, str], int] = {}
        p_idx, pair_idx, won = [], [], []
        for r in records:
            if r.outcome == 0.5:
                continue
            a, b, y = (r.model_a, r.model_b, r.outcome) if r.model_a < r.model_b else (r.model_b, r.model_a,
                                                                                          1.0 - r.outcome)
            p_idx.append(row.setdefault(r.prompt, len(row)))
            pair_idx.append(pairs.setdefault((a, b), len(pairs)))
            won.append(y > 0.5)
        self.prompts = list(row)
        self.pairs = list(pairs)
        self.prompt_idx, self.pair_idx, self.won = np.array(p_idx), np.array(pair_idx), np.array(won, dtype=bool)
        self.members = [np.flatnonzero(self.pair_idx == k) for k in range(len(self.pairs))]
        n = len(self.prompts)
        rng = np.random.default_rng(seed)
        # row 0: the data itself; rows 1..n_boot: prompt-level bootstrap resamples (counts per prompt)
        counts = [np.ones(n)] + [np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_boot)]
        self.counts = np.array(counts, dtype=np.float64)

    def normalized_prompts(self) -> set[str]:
        return {normalize_prompt(p) for p in self.prompts}


def weighted_auc(score: np.ndarray, won: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of ``score`` for ``won`` (ties half), one value per row of ``weights`` (nan: one class)."""
    order = np.argsort(score, kind="stable")
    s, y, w = score[order], won[order], weights[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    wp = np.add.reduceat(w * y, starts, axis=1)
    wn = np.add.reduceat(w * ~y, starts, axis=1)
    below = np.cumsum(wn, axis=1) - wn
    den = wp.sum(axis=1) * wn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (wp * (below + 0.5 * wn)).sum(axis=1) / den, np.nan)


def loso_scores(router, held: HeldOut) -> tuple[np.ndarray, dict]:
    """Within-pair AUC of ``router`` on ``held`` for the data (element 0) and every bootstrap resample."""
    models = list(router.models_)
    col = {m: j for j, m in enumerate(models)}
    s = router.scores(held.prompts)
    prior = s[:, col[router.strong_model]] - s[:, col[router.weak_model]]  # the router's own pair direction
    total = np.zeros(held.counts.shape[0])
    weight = np.zeros(held.counts.shape[0])
    used = fallback = 0
    for (a, b), idx in zip(held.pairs, held.members):
        won, prompts = held.won[idx], held.prompt_idx[idx]
        if won.all() or not won.any():
            continue  # every comparison goes one way: nothing to rank
        if a in col and b in col:
            score = s[prompts, col[a]] - s[prompts, col[b]]
        else:  # the prior a warm start would use: strong = the model that wins more of this pair
            score = prior[prompts] if won.mean() >= 0.5 else -prior[prompts]
            fallback += len(idx)
        w = held.counts[:, prompts]
        auc = weighted_auc(score, won, w)
        n = w.sum(axis=1)
        ok = ~np.isnan(auc)
        total[ok] += auc[ok] * n[ok]
        weight[ok] += n[ok]
        used += len(idx)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(weight > 0, total / weight, np.nan)
    return values, {"comparisons": used, "fallback_comparisons": fallback,
                    "pairs": sum(1 for idx in held.members if 0 < held.won[idx].sum() < len(idx))}


def interval(values: np.ndarray) -> list[float]:
    boot = values[1:][~np.isnan(values[1:])]
    return [round(float(np.quantile(boot, 0.05)), 4), round(float(np.quantile(boot, 0.95)), 4)] if boot.size else []


def loso_candidate(name, kind, params, weights, records, norm_keys, held_outs, baseline=None,
                   embedder=TRAINING_EMBEDDER):
    """Leave-one-source-out within-pair AUC of one candidate recipe (see the module docstring)."""
    from routellm_core.routers.registry import router_class

    start = time.perf_counter()
    out = {"candidate": name, "router": kind, "params": params, "weights": weights, "sources": {}}
    per_source = {}
    for source, held in held_outs.items():
        banned = held.normalized_prompts()
        train = [r for r, key in zip(records, norm_keys) if source_name(r) != source and key not in banned]
        train = weight_by_source(train, weights)
        router = router_class(kind)(**{"show_progress": False, "embedder": embedder, **params}).fit(train)
        values, info = loso_scores(router, held)
        per_source[source] = values
        row = {"auc": round(float(values[0]), 4), "interval": interval(values), **info, "training_records": len(train)}
        if baseline is not None:
            diff = values - baseline[source]
            row["minus_current"], row["minus_current_interval"] = round(float(diff[0]), 4), interval(diff)
        out["sources"][source] = row
        print(f"  {name} / held out {source}: AUC {row['auc']:.4f} {row['interval']} ({info['pairs']} pairs, "
              f"{info['comparisons']} comparisons, {info['fallback_comparisons']} by the prior direction; "
              f"{time.perf_counter() - start:.0f}s)", file=sys.stderr, flush=True)
    mean = np.nanmean(np.vstack(list(per_source.values())), axis=0)
    out["mean"], out["mean_interval"] = round(float(mean[0]), 4), interval(mean)
    out["min"] = round(float(min(v[0] for v in per_source.values())), 4)
    if baseline is not None:
        diff = mean - np.nanmean(np.vstack([baseline[s] for s in per_source]), axis=0)
        out["mean_minus_current"], out["mean_minus_current_interval"] = round(float(diff[0]), 4), interval(diff)
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out, per_source


def run_loso(args) -> int:
    records = default_training_records(datasets=(*DEFAULT_DATASETS, *ARENA_DATASETS), verbose=False,
                                       source_weights={}, embedder=args.embedder)
    sources = [s for s in LOSO_SOURCES if any(source_name(r) == s for r in records)]
    held_outs = {s: HeldOut(s, [r for r in records if source_name(r) == s], args.bootstrap, args.seed)
                 for s in sources}
    norm_keys = [normalize_prompt(r.prompt) for r in records]
    names = [n for n in CANDIDATES if (n in args.only if args.only else CANDIDATES[n][0] == "mf" or args.sw)]
    names = [CURRENT, *[n for n in names if n != CURRENT]]  # the current default first: the paired baseline
    results, baseline = [], None
    for name in names:
        kind, params, weights = CANDIDATES[name]
        res, per_source = loso_candidate(name, kind, params, weights, records, norm_keys, held_outs, baseline,
                                         args.embedder)
        baseline = baseline or per_source
        print(json.dumps(res), flush=True)
        results.append(res)
    best = max(results, key=lambda r: r["mean"])
    summary = {"rule": "highest mean over held-out sources of the within-pair AUC (each source weighs the same)",
               "current": CURRENT, "pick": best["candidate"], "sources": sources, "bootstrap": args.bootstrap,
               "embedder": args.embedder,
               "held_out": {s: {"prompts": len(h.prompts), "pairs": len(h.pairs), "decisive": int(len(h.won))}
                            for s, h in held_outs.items()},
               "candidates": results}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"pick (best mean within-pair AUC over held-out sources): {best['candidate']} ({best['mean']})",
          file=sys.stderr)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-folds", action="store_true",
                        help="the older criterion: random prompt folds instead of leave-one-source-out")
    parser.add_argument("--folds", type=int, default=3, help="with --random-folds")
    parser.add_argument("--only", nargs="+", help="candidate names to run")
    parser.add_argument("--sw", action="store_true", help="leave-one-source-out: also the sw_ranking candidates")
    parser.add_argument("--bootstrap", type=int, default=200, help="leave-one-source-out: prompt resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embedder", default=TRAINING_EMBEDDER,
                        help="leave-one-source-out: the prompt embedder of decontamination and the routers "
                             "(default: the recipe's minilm-bf16; minilm-static is the fast proxy)")
    parser.add_argument("--output", default=None,
                        help="default results/recipe_cv_loso.json (results/recipe_cv.json with --random-folds)")
    args = parser.parse_args(argv)
    if not args.random_folds:
        args.output = args.output or "results/recipe_cv_loso.json"
        return run_loso(args)
    args.output = args.output or "results/recipe_cv.json"
    records = default_training_records(datasets=(*DEFAULT_DATASETS, *ARENA_DATASETS), verbose=False,
                                       source_weights={})
    keys = group_keys(records)
    folds = np.random.default_rng(0).permutation(len(set(keys))) % args.folds
    results = []
    for name, (kind, params, weights) in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        res = evaluate_candidate(name, kind, params, weights, records, keys, folds, args.folds)
        print(json.dumps(res), flush=True)
        results.append(res)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    best = max(results, key=lambda r: r["routing"])
    print(f"best by routing AUC (within pairs): {best['candidate']} ({best['routing']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
