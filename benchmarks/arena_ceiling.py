"""How well can any prompt-only router do on Arena-Hard? Routers trained in-distribution, cross-fitted by cluster.

    python benchmarks/arena_ceiling.py [--strong-model M --weak-model M] [--folds 5]

Every learner here trains on the Arena benchmark's own labels of the other folds (whole topic
clusters held out) and scores only its fold: the best of them is the in-distribution ceiling the
default router (trained on all sources) can be compared with. Prints APGR with a 90% bootstrap
interval per learner and writes ``results/arena_ceiling.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from routellm_core.embeddings import get_embedder
from routellm_core.evaluation import load_benchmark
from routellm_core.evaluation.crossfit import assign_folds
from routellm_core.evaluation.metrics import bootstrap_apgr, curve_metrics, quantile_curve
from routellm_core.loaders import load_arena_hard

_CODE = re.compile(r"```|\bdef |\bclass |;\s*$|\{|\}|import ", re.M)


def cheap_features(prompts: list[str]) -> np.ndarray:
    """Length (log chars, log lines), code-likeness, question marks, digits share, non-ASCII share."""
    rows = []
    for p in prompts:
        n = max(len(p), 1)
        rows.append([np.log1p(len(p)), np.log1p(p.count("\n")), float(bool(_CODE.search(p))), p.count("?") / n * 100,
                     sum(c.isdigit() for c in p) / n, sum(ord(c) > 127 for c in p) / n])
    x = np.array(rows)
    return (x - x.mean(0)) / np.maximum(x.std(0), 1e-9)


def ridge_fit_predict(x_tr, y_tr, x_te, alphas=(0.1, 1.0, 10.0, 100.0, 1000.0)):
    from sklearn.linear_model import RidgeCV

    return RidgeCV(alphas=alphas).fit(x_tr, y_tr).predict(x_te)


def knn_predict(x_tr, y_tr, x_te, k=25):
    sims = x_te @ x_tr.T
    top = np.argsort(-sims, axis=1)[:, :k]
    return y_tr[top].mean(axis=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strong-model")
    parser.add_argument("--weak-model")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--output", default="results/arena_ceiling.json")
    args = parser.parse_args(argv)
    bench = load_benchmark("arena", strong_model=args.strong_model, weak_model=args.weak_model)
    emb = get_embedder("minilm").embed(bench.prompts)
    feats = cheap_features(bench.prompts)
    y = (bench.strong_scores - bench.weak_scores) / 100.0
    folds = assign_folds(bench.n, args.folds, bench.groups)
    learners = {
        "ridge on MiniLM": lambda tr, te: ridge_fit_predict(emb[tr], y[tr], emb[te]),
        "kNN (25) on MiniLM": lambda tr, te: knn_predict(emb[tr], y[tr], emb[te]),
        "ridge on cheap features": lambda tr, te: ridge_fit_predict(feats[tr], y[tr], feats[te]),
        "ridge on MiniLM + cheap features": lambda tr, te: ridge_fit_predict(np.c_[emb, feats][tr], y[tr], np.c_[emb, feats][te]),
        "prompt length only": lambda tr, te: feats[te, 0] * np.sign(np.corrcoef(feats[tr, 0], y[tr])[0, 1]),
    }
    records = load_arena_hard()
    prompt_fold = {p: f for p, f in zip(bench.prompts, folds)}

    def mf_arena(tr, te):
        from routellm_core.routers.mf import MFRouter

        f = int(folds[te[0]])
        train = [r for r in records if prompt_fold.get(r.prompt, -1) != f]
        router = MFRouter(strong_model=bench.strong_model, weak_model=bench.weak_model, show_progress=False).fit(train)
        return router.predict_proba([bench.prompts[i] for i in te])

    learners["mf on Arena-Hard verdicts only (all models)"] = mf_arena
    results = []
    for name, learner in learners.items():
        scores = np.zeros(bench.n)
        for f in range(args.folds):
            tr, te = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
            scores[te] = learner(tr, te)
        curve = quantile_curve(scores, bench.strong_scores, bench.weak_scores)
        m = curve_metrics(curve, bench.weak_performance, bench.strong_performance)
        lo, hi = bootstrap_apgr(scores, bench.strong_scores, bench.weak_scores)
        spearman = float(np.corrcoef(np.argsort(np.argsort(scores)), np.argsort(np.argsort(y)))[0, 1])
        res = {"learner": name, "apgr": round(m.apgr, 4), "ci90": [round(lo, 4), round(hi, 4)],
               "cpt50": round(m.cpt50, 2), "spearman_with_gain": round(spearman, 4)}
        print(json.dumps(res), flush=True)
        results.append(res)
    out = {"benchmark": bench.describe(), "folds": args.folds, "results": results}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
