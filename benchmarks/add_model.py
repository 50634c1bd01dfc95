"""A new model from a few labels: ``--add-model`` against training with all of that model's data.

    nice -n 10 python benchmarks/add_model.py [--benchmark routerbench] [--model claude-2] [--labels 200] [--folds 5]
    nice -n 10 python benchmarks/add_model.py --benchmark arena --model claude-3-5-sonnet-20240620

RouterBench (11 models, real per-call cost) or Arena-Hard (16 models judged by gpt-4o against
gpt-4-0314, list-price cost; a label is the model's verdict against gpt-4-0314), 5-fold cross-fit as
``evaluate --multi-model`` does it.
For each fold two many-model MF routers train on the other folds only: "full" on every model's labels,
"added" on every model's labels except ``--model``'s, after which :func:`add_model` fits only that
model's vector from its labels on ``--labels`` training prompts (RouterBench: against the 10 others;
Arena-Hard: against the baseline). Both score the
held-out fold; the engine's price rule routes; AIQ and the gain over the single models' hull (the
random mix) come from ``evaluation.multi_model``. The goal (issue 23): the added router gets at least
90% of the full router's AIQ gain over the hull. Writes ``results/add_model[_arena]-<model>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from routellm_core.data.tables import normalize_prompt
from routellm_core.evaluation.crossfit import assign_folds
from routellm_core.evaluation.multi_data import MULTI_BENCHMARKS
from routellm_core.evaluation.multi_model import evaluate_multi
from routellm_core.own_router.warm_start import add_model
from routellm_core.routers.mf import MFRouter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="routerbench", choices=["routerbench", "arena"])
    parser.add_argument("--model", default=None, help="default claude-2 (RouterBench), claude-3-5-sonnet-20240620 (Arena)")
    parser.add_argument("--labels", type=int, default=200, help="training prompts labelled for the new model")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    t0 = time.monotonic()
    bench = MULTI_BENCHMARKS[args.benchmark]()
    args.model = args.model or {"routerbench": "claude-2", "arena": "claude-3-5-sonnet-20240620"}[args.benchmark]
    if args.model not in bench.models:
        raise SystemExit(f"--model must be one of {', '.join(bench.models)}")
    others = [m for m in bench.models if m != args.model]
    folds = assign_folds(bench.n, args.folds, None, args.seed)
    m = len(bench.models)
    pairwise = {"full": np.full((bench.n, m, m), 0.5), "added": np.full((bench.n, m, m), 0.5)}
    expected = np.zeros(bench.cost.shape)
    rng = np.random.default_rng(args.seed)
    for f in range(args.folds):
        held = np.flatnonzero(folds == f)
        held_norm = {normalize_prompt(bench.prompts[i]) for i in held}
        train = np.array([i for i in np.flatnonzero(folds != f) if normalize_prompt(bench.prompts[i]) not in held_norm])
        mean_cost = bench.cost[train].mean(axis=0)
        records = bench.training_records(train)
        without = [r for r in records if args.model not in (r.model_a, r.model_b)]
        labelled = {bench.prompts[i] for i in rng.choice(train, min(args.labels, len(train)), replace=False)}
        new_labels = [r for r in records if args.model in (r.model_a, r.model_b) and r.prompt in labelled]

        def make() -> MFRouter:
            return MFRouter(strong_model=others[0], weak_model=others[1], epochs=args.epochs, show_progress=False,
                            seed=args.seed, prompt_weight="validation")

        routers = {"full": make().fit(records),
                   "added": add_model(new_labels, args.model, init=make().fit(without), seed=args.seed)}
        ranked = np.argsort(-mean_cost, kind="stable")
        back = np.argsort(ranked)
        prompts = [bench.prompts[i] for i in held]
        for name, router in routers.items():
            probs = router.pairwise_probabilities(prompts, [bench.models[j] for j in ranked])
            pairwise[name][held] = probs[:, back][:, :, back]
        expected[held] = mean_cost
        print(f"fold {f + 1}/{args.folds}: {len(records)} records, {len(new_labels)} labels of {args.model} on "
              f"{len(labelled)} prompts ({time.monotonic() - t0:.0f}s)", file=sys.stderr, flush=True)
    out = {"benchmark": bench.name, "model": args.model, "labels": args.labels, "folds": args.folds,
           "prompts": bench.n, "models": len(bench.models)}
    for name in ("full", "added"):
        res = evaluate_multi(bench, pairwise[name], expected, n_boot=args.bootstrap, seed=args.seed)
        out[name] = {"aiq": res.aiq_router * 100, "aiq_interval": [v * 100 for v in res.aiq_interval],
                     "mix_aiq": res.aiq_mix * 100, "gain": (res.aiq_router - res.aiq_mix) * 100,
                     "gain_interval": [v * 100 for v in res.gain_interval]}
    out["gain_share"] = out["added"]["gain"] / out["full"]["gain"] if out["full"]["gain"] else float("nan")
    out["seconds"] = round(time.monotonic() - t0, 1)
    print(json.dumps(out, indent=2))
    Path("results").mkdir(exist_ok=True)
    stem = "add_model" if args.benchmark == "routerbench" else f"add_model_{args.benchmark}"
    Path(f"results/{stem}-{args.model}.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
