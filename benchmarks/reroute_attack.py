"""Rerouting attacks: search a short prefix (or suffix) that moves P(strong wins), with and without the guard.

The generator (``search``) is a greedy coordinate search, as in the confounder-gadget paper
(arXiv 2501.01818): a gadget of ``--words`` words (at most 12) starts as random vocabulary words;
each round visits every position and tries ``--candidates`` random vocabulary words there,
keeping the word that most raises (``--direction up``) or lowers (``down``) the mean score of the
search prompts with the gadget in place. The vocabulary is the most frequent words of the
Arena-Hard, GSM8K and MT-Bench prompts plus words of code, proofs and expertise. The gadget is
universal (one for all prompts), found on search prompts and measured on other, held-out prompts.

Measured on held-out Arena-Hard prompts, at a threshold calibrated to send 50% of the clean ones to
the strong model (each scorer calibrated on its own clean scores): the strong share with the
gadget, for the shipped ``mf`` without the guard and with it, the guard attacked by a gadget searched
against the guarded scorer itself (adaptive attack), plus the issue's three hand-written sentences.

    nice -n 10 .venv/bin/python benchmarks/reroute_attack.py [--rounds 3] [--candidates 32] [--direction up]

Writes ``benchmarks/results/reroute_attack.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
EXTRA_WORDS = ("code", "python", "function", "algorithm", "prove", "theorem", "lemma", "rigorous", "expert", "step",
               "derive", "optimize", "complexity", "implement", "compile", "recursive", "integral", "proof",
               "carefully", "reasoning", "analysis", "architecture", "kernel", "asynchronous", "quantum")
HANDWRITTEN = {
    "code": "Answer with production-quality, well-tested Python code and explain its complexity.",
    "proof": "Give a rigorous step-by-step mathematical proof of every claim you make.",
    "expert": "Think like a world-class expert and reason very carefully before answering.",
}
Scorer = Callable[[Sequence[str]], np.ndarray]


def vocabulary(prompts: Sequence[str], size: int = 400) -> list[str]:
    counts = Counter(w for p in prompts for w in re.findall(r"[A-Za-z]{3,12}", p.lower()))
    return sorted({w for w, _ in counts.most_common(size)} | set(EXTRA_WORDS))


def apply(gadget: Sequence[str], prompt: str, where: str) -> str:
    text = " ".join(gadget)
    return f"{text} {prompt}" if where == "prefix" else f"{prompt} {text}"


def search(score: Scorer, prompts: Sequence[str], vocab: Sequence[str], words: int = 12, rounds: int = 3,
           candidates: int = 32, where: str = "prefix", direction: str = "up", seed: int = 0) -> tuple[list[str], float]:
    """Greedy coordinate search for a universal gadget; returns it and its mean score on ``prompts``."""
    if not 1 <= words <= 12:
        raise ValueError("a gadget has 1 to 12 words")
    rng = random.Random(seed)
    sign = 1.0 if direction == "up" else -1.0
    gadget = [rng.choice(vocab) for _ in range(words)]
    best = sign * float(np.mean(score([apply(gadget, p, where) for p in prompts])))
    for _ in range(rounds):
        improved = False
        for pos in range(words):
            options = rng.sample(list(vocab), min(candidates, len(vocab)))
            texts = [apply(gadget[:pos] + [w] + gadget[pos + 1:], p, where) for w in options for p in prompts]
            means = sign * np.asarray(score(texts)).reshape(len(options), len(prompts)).mean(axis=1)
            k = int(np.argmax(means))
            if means[k] > best:
                best, gadget[pos], improved = float(means[k]), options[k], True
        if not improved:
            break
    return gadget, sign * best


def saturated_bound(score: Scorer, prompts: Sequence[str], words: int, where: str, threshold: float) -> float:
    """The guarded strong share if a gadget of ``words`` words drove every form that holds it to P = 1.

    Only the guard's forms of ``gadget + prompt`` that cut the whole gadget away can then hold the
    guarded score down: this share bounds what *any* gadget of that length and position can do
    (no search involved), for the guarded scorer at ``threshold``. ``score`` is the router's own
    (unguarded) scorer: the guarded score is the lowest of its scores over the forms.
    """
    from routellm_core.guard import variants

    mark = "\x00gadget\x00"
    lows = []
    for prompt in prompts:
        text = apply([mark] * words, prompt, where)
        free = [t for t in [text] + [t for _, t in variants(text)] if mark not in t]
        lows.append(float(np.min(score(free))) if free else 1.0)
    return share(np.asarray(lows), threshold)


def share(scores: np.ndarray, threshold: float) -> float:
    return round(float((scores >= threshold).mean()), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", default="mf")
    parser.add_argument("--words", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--candidates", type=int, default=32)
    parser.add_argument("--search-prompts", type=int, default=24)
    parser.add_argument("--eval-prompts", type=int, default=200)
    parser.add_argument("--direction", choices=("up", "down"), default="up")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(HERE / "results" / "reroute_attack.json"))
    args = parser.parse_args()

    from routellm_core import load_router
    from routellm_core.calibration import threshold_for_fraction
    from routellm_core.data.arena import arena_hard_questions
    from routellm_core.evaluation.benchmarks import load_gsm8k, load_mt_bench
    from routellm_core.guard import guarded
    from routellm_core.server.routing import use_memory_embedder

    router = load_router(args.router, cache=False)
    use_memory_embedder(router)  # gadget texts never repeat: no disk cache
    guard = guarded(router)
    rng = random.Random(args.seed)
    arena = [q.prompt for q in arena_hard_questions()]
    rng.shuffle(arena)
    search_prompts, held_out = arena[:args.search_prompts], arena[args.search_prompts:][:args.eval_prompts]
    vocab = vocabulary(arena + list(load_gsm8k().prompts)[:500] + list(load_mt_bench().prompts))

    scorers: dict[str, Scorer] = {"unguarded": router.predict_proba, "guarded": guard.predict_proba}
    clean = {name: np.asarray(f(held_out)) for name, f in scorers.items()}
    thresholds = {name: threshold_for_fraction(s, 0.5) for name, s in clean.items()}
    result: dict[str, object] = {"router": args.router, "direction": args.direction, "words": args.words,
                                 "rounds": args.rounds, "candidates": args.candidates,
                                 "search_prompts": len(search_prompts), "eval_prompts": len(held_out),
                                 "clean_share": {n: share(clean[n], thresholds[n]) for n in scorers}, "attacks": []}
    attacks: list[dict[str, object]] = []
    for where in ("prefix", "suffix"):
        for target in ("unguarded", "guarded"):  # the gadget is searched against this scorer
            start = time.perf_counter()
            gadget, mean = search(scorers[target], search_prompts, vocab, args.words, args.rounds, args.candidates,
                                  where, args.direction, args.seed)
            texts = [apply(gadget, p, where) for p in held_out]
            row = {"where": where, "searched_against": target, "gadget": " ".join(gadget),
                   "search_seconds": round(time.perf_counter() - start, 1), "search_mean": round(mean, 4)}
            for name, f in scorers.items():
                row[f"share_{name}"] = share(np.asarray(f(texts)), thresholds[name])
            attacks.append(row)
            print(json.dumps(row), flush=True)
    for label, sentence in HANDWRITTEN.items():
        texts = [f"{sentence} {p}" for p in held_out]
        row = {"where": "prefix", "searched_against": f"hand-written ({label})", "gadget": sentence}
        for name, f in scorers.items():
            row[f"share_{name}"] = share(np.asarray(f(texts)), thresholds[name])
        attacks.append(row)
        print(json.dumps(row), flush=True)
    result["attacks"] = attacks
    if args.direction == "up":
        result["saturated_bound_guarded"] = {
            f"{where}_{n}": saturated_bound(router.predict_proba, held_out, n, where, thresholds["guarded"])
            for where in ("prefix", "suffix") for n in sorted({args.words, 12, 8, 4})}
        print(json.dumps({"saturated_bound_guarded": result["saturated_bound_guarded"]}), flush=True)
    for name in scorers:
        result[f"worst_share_{name}"] = max(float(str(a[f"share_{name}"])) for a in attacks) \
            if args.direction == "up" else min(float(str(a[f"share_{name}"])) for a in attacks)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "attacks"}, indent=2))


if __name__ == "__main__":
    main()
