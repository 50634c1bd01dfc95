"""Choose the default training recipe by cross-validation on the training data (never a test score).

    python benchmarks/recipe_cv.py [--folds 3] [--only NAME ...]

Folds hold whole prompts (the same normalised prompt in any source lies in one fold) and whole
Arena-Hard topic clusters. Each candidate recipe (router parameters + per-source weights) is
trained on K-1 folds and judged on the held-out fold by three pairwise AUCs:

- ``arena_other``: Arena-Hard verdicts turned into pairwise comparisons (same judge, same prompt)
  between models *other than* the Arena benchmark's pair (gpt-4o, llama-3.1-70b-instruct), so the
  benchmark's own labels never take part in choosing the recipe;
- ``human``: Chatbot Arena human votes (decisive ones);
- ``golden``: the paper's pair on held-out MMLU / GSM8K / MT-Bench golden labels.

Those AUCs pool comparisons of many model pairs, so they mostly reward knowing which model is
stronger overall, which needs no prompt. A router only needs the *prompt* signal: which prompts a
given pair's stronger model wins. ``arena_within`` is the AUC computed separately within each model
pair of ``arena_other`` (prompts ranked by P for that one pair), averaged with the pairs' decisive
comparison counts as weights; ``golden`` is already one pair. ``routing`` = mean of the two.

The recipe with the best ``routing`` score is the default (``training.py``); ``mean`` (the pooled
AUCs) is printed too. Prints one JSON line per candidate and writes ``results/recipe_cv.json``.
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
from routellm_core.training import ARENA_DATASETS, DEFAULT_DATASETS, default_training_records, weight_by_source

HELD_OUT_MODELS = {ARENA_STRONG_MODEL, ARENA_WEAK_MODEL}
UNIT = {"routerbench": 1.0, "mmlu": 1.0, "gsm8k": 1.0, "mt-bench": 1.0, "arena_hard": 1.0, "chatbot_arena": 1.0}
ARENA_UP = {**UNIT, "arena_hard": 5.0, "chatbot_arena": 5.0}
BALANCED = {**UNIT, "arena_hard": 10.0, "chatbot_arena": 50.0}
CANDIDATES: dict[str, tuple[str, dict, dict]] = {
    "v2 (no Arena data)": ("mf", {}, {**UNIT, "arena_hard": 0.0, "chatbot_arena": 0.0}),
    "all sources, weight 1": ("mf", {}, UNIT),
    "Arena x5": ("mf", {}, ARENA_UP),
    "Arena balanced (x10 / x50)": ("mf", {}, BALANCED),
    "Arena x5, no bothbad ties": ("mf", {}, {**ARENA_UP, "chatbot_arena:bothbad": 0.0}),
    "Arena x5, ties full weight": ("mf", {"tie_weight": 1.0}, ARENA_UP),
    "Arena balanced, sw_ranking": ("sw_ranking", {}, BALANCED),
    "Arena balanced, sw_ranking gamma 100": ("sw_ranking", {"gamma": 100.0}, BALANCED),
}


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--only", nargs="+", help="candidate names to run")
    parser.add_argument("--output", default="results/recipe_cv.json")
    args = parser.parse_args(argv)
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
