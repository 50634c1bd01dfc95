"""Can a detector on the whole text's MiniLM vector spot short gadgets? (A probe; not part of the guard.)

The guard's whole-text score already needs that vector, so a detector on it would cost nothing. This
trains one (logistic regression, or ``--mlp`` a one-hidden-layer network) to tell clean prompts from
the same prompts with 2 to 12 random vocabulary words put before or after them: AlpacaEval's 805
instructions and 1,200 Chatbot Arena prompts, none of them Arena-Hard's. It then scores the first
200 held-out Arena-Hard prompts of ``reroute_attack.py``'s split, clean and with the searched 4-word
gadgets of docs/guard.md and random 4-word prefixes: the AUC, and the share of attacked texts flagged
at thresholds that flag 1%, 5% and 10% of the clean ones.

    nice -n 10 .venv/bin/python benchmarks/guard_detector.py [--mlp]

Writes ``benchmarks/results/guard_detector[_mlp].json`` (about 40 s).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
from reroute_attack import apply, vocabulary

HERE = Path(__file__).resolve().parent
GADGETS = {  # searched against the shipped mf (docs/guard.md, the 4-word rows)
    "searched 4-word prefix (adaptive)": ("girls variable more are", "prefix"),
    "searched 4-word prefix (unguarded)": ("logic variable questions final", "prefix"),
    "searched 4-word suffix (adaptive)": ("logic variable more are", "suffix"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlp", action="store_true", help="a one-hidden-layer network instead of logistic regression")
    parser.add_argument("--output", default=None)
    args = parser.parse_args()

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.neural_network import MLPClassifier

    from routellm_core import load_router
    from routellm_core.data.arena import arena_hard_questions
    from routellm_core.loaders import load_alpaca_eval, load_chatbot_arena
    from routellm_core.server.routing import use_memory_embedder

    router = load_router("mf", cache=False)
    use_memory_embedder(router)
    embed = router.embedder.embed  # type: ignore[attr-defined]
    arena = [q.prompt for q in arena_hard_questions()]
    random.Random(0).shuffle(arena)  # the split of reroute_attack.py
    held = arena[8:208]
    chatbot = sorted({r.prompt for r in load_chatbot_arena()})
    random.Random(1).shuffle(chatbot)
    train = sorted({r.prompt for r in load_alpaca_eval(annotators=["weighted_alpaca_eval_gpt4_turbo"])}) + chatbot[:1200]
    vocab = vocabulary(arena[:8] + train[:400], size=400)
    rng = random.Random(2)
    texts, labels = [], []
    for prompt in train:
        words = [rng.choice(vocab) for _ in range(rng.choice([2, 3, 4, 4, 5, 6, 8, 12]))]
        texts += [prompt, apply(words, prompt, rng.choice(["prefix", "suffix"]))]
        labels += [0, 1]
    model = (MLPClassifier(hidden_layer_sizes=(256,), max_iter=300, early_stopping=True, random_state=0) if args.mlp
             else LogisticRegression(C=1.0, max_iter=2000))
    model.fit(embed(texts), np.array(labels))

    clean = model.predict_proba(embed(held))[:, 1]
    cuts = {f"flag_{int(100 * f)}pct_clean": float(np.quantile(clean, 1 - f)) for f in (0.01, 0.05, 0.10)}
    attacks = {name: [apply(g.split(), p, where) for p in held] for name, (g, where) in GADGETS.items()}
    attacks["random 4-word prefix"] = [apply([rng.choice(vocab) for _ in range(4)], p, "prefix") for p in held]
    out: dict[str, object] = {"detector": "mlp" if args.mlp else "logistic", "train_texts": len(texts),
                              "eval_prompts": len(held), "attacks": {}}
    for name, attacked in attacks.items():
        scores = model.predict_proba(embed(attacked))[:, 1]
        row = {"auc": round(float(roc_auc_score([0] * len(held) + [1] * len(held), np.r_[clean, scores])), 3)}
        row.update({k: round(float(np.mean(scores >= t)), 3) for k, t in cuts.items()})
        out["attacks"][name] = row  # type: ignore[index]
        print(name, json.dumps(row), flush=True)
    path = Path(args.output or HERE / "results" / f"guard_detector{'_mlp' if args.mlp else ''}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
