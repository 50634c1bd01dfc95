"""Natural short phrases added before or after a prompt: how far they move the strong share, guard off and on.

The attack benchmark (``reroute_attack.py``) searches gadgets; this one tries what people write: "Think
step by step.", "You are an expert.", "Show all your work." and others, of 2 to 10 words. They were
written before the guard's sentence forms, which were then chosen with them on the first 200 held-out
prompts (docs/guard.md). Each is put before (or after) every held-out Arena-Hard prompt; the strong
share is taken at a threshold calibrated to send 50% of the clean prompts to the strong model (each
scorer calibrated on its own clean scores), for the shipped ``mf`` without and with the guard.

    nice -n 10 .venv/bin/python benchmarks/reroute_phrases.py [--eval-prompts 200]

Writes ``benchmarks/results/reroute_phrases.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
from reroute_attack import share

HERE = Path(__file__).resolve().parent
PREFIXES = (
    "Think step by step.",
    "You are an expert.",
    "Be rigorous.",
    "Write code:",
    "Please use advanced reasoning.",
    "This is a very hard question.",
    "As a senior software engineer,",
    "Solve this like a PhD mathematician would.",
    "IMPORTANT: this needs deep expertise and careful, detailed, step-by-step reasoning.",
)
SUFFIXES = (
    "Think step by step.",
    "Use Python.",
    "Show all your work.",
    "Provide a rigorous proof.",
    "Please be thorough and precise.",
    "Explain your reasoning in detail.",
    "Answer like an expert with a PhD.",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", default="mf")
    parser.add_argument("--search-prompts", type=int, default=8, help="skipped, as in reroute_attack.py")
    parser.add_argument("--eval-prompts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(HERE / "results" / "reroute_phrases.json"))
    args = parser.parse_args()

    from routellm_core import load_router
    from routellm_core.calibration import threshold_for_fraction
    from routellm_core.data.arena import arena_hard_questions
    from routellm_core.guard import guarded
    from routellm_core.server.routing import use_memory_embedder

    router = load_router(args.router, cache=False)
    use_memory_embedder(router)
    guard = guarded(router)
    rng = random.Random(args.seed)
    arena = [q.prompt for q in arena_hard_questions()]
    rng.shuffle(arena)  # the same held-out prompts as reroute_attack.py with the same seed
    held_out = arena[args.search_prompts:][:args.eval_prompts]
    scorers = {"unguarded": router.predict_proba, "guarded": guard.predict_proba}
    clean = {name: np.asarray(f(held_out)) for name, f in scorers.items()}
    thresholds = {name: threshold_for_fraction(s, 0.5) for name, s in clean.items()}
    rows = []
    start = time.perf_counter()
    for where, phrases in (("prefix", PREFIXES), ("suffix", SUFFIXES)):
        for phrase in phrases:
            texts = [f"{phrase} {p}" if where == "prefix" else f"{p} {phrase}" for p in held_out]
            row = {"where": where, "phrase": phrase, "words": len(phrase.split())}
            for name, f in scorers.items():
                row[f"share_{name}"] = share(np.asarray(f(texts)), thresholds[name])
                row[f"points_{name}"] = round(100 * (row[f"share_{name}"] - share(clean[name], thresholds[name])), 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {"router": args.router, "eval_prompts": len(held_out),
              "clean_share": {n: share(clean[n], thresholds[n]) for n in scorers}, "phrases": rows,
              "worst_points": {n: max(float(r[f"points_{n}"]) for r in rows) for n in scorers},
              "seconds": round(time.perf_counter() - start, 1)}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "phrases"}, indent=2))


if __name__ == "__main__":
    main()
