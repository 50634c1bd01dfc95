"""Why a 4-word gadget still gets past the guard: which prompts it flips, and by how much.

Puts the 4-word gadget that ``reroute_attack.py --words 4`` searched against the guarded scorer before
(or after) the attack benchmark's held-out Arena-Hard prompts (same seed-0 split) and, at the guarded
scorer's 50% calibration on the clean prompts, lists the prompts it flips to the strong model: how far
their guarded score moved, whether the attacked text had any form without the gadget (a form must keep
3 words, so a prompt of 10 words or fewer plus 4 gadget words has none), and how close together the
clean guarded scores lie around the threshold.

    nice -n 10 .venv/bin/python benchmarks/guard_flips.py [--eval-prompts 200]

Writes ``benchmarks/results/guard_flips.json``.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
from reroute_attack import apply

from routellm_core.guard import FLAG_MARGIN

HERE = Path(__file__).resolve().parent
GADGET = "logic variable more are"  # results of reroute_attack.py --words 4, searched against the guard (guard.md)


def flag_triggered(router, guard, texts: list[str]) -> tuple[np.ndarray, float]:
    """Guarded scores with 22 more forms (1-11 words cut from either end) for flagged texts only; the flag rate.

    A text is flagged when its whole text scores at least ``FLAG_MARGIN`` above its guarded score (the
    guard's own flag). Tried as a detector that costs nothing on clean traffic; not shipped (guard.md).
    """
    whole = np.asarray(router.predict_proba(texts), dtype=np.float64)
    low = np.asarray(guard.predict_proba(texts), dtype=np.float64)
    flagged = np.flatnonzero(whole - low >= FLAG_MARGIN)
    extra, owner = [], []
    for i in flagged:
        w = texts[i].split()
        for s in range(1, 12):
            if len(w) - s >= 3:
                extra += [" ".join(w[s:]), " ".join(w[:-s])]
                owner += [i, i]
    if extra:
        np.minimum.at(low, np.asarray(owner), np.asarray(router.predict_proba(extra), dtype=np.float64))
    return low, len(flagged) / len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", default="mf")
    parser.add_argument("--eval-prompts", type=int, default=200)
    parser.add_argument("--search-prompts", type=int, default=8, help="prompts the gadget was searched on (skipped)")
    parser.add_argument("--output", default=str(HERE / "results" / "guard_flips.json"))
    args = parser.parse_args()

    from routellm_core import load_router
    from routellm_core.calibration import threshold_for_fraction
    from routellm_core.data.arena import arena_hard_questions
    from routellm_core.guard import guarded, variants
    from routellm_core.server.routing import use_memory_embedder

    router = load_router(args.router, cache=False)
    use_memory_embedder(router)
    guard = guarded(router)
    arena = [q.prompt for q in arena_hard_questions()]
    random.Random(0).shuffle(arena)  # the split of reroute_attack.py
    held = arena[args.search_prompts:][:args.eval_prompts]
    clean = np.asarray(guard.predict_proba(held), dtype=np.float64)
    threshold = threshold_for_fraction(clean, 0.5)
    clean_flagged, clean_flag_rate = flag_triggered(router, guard, held)
    flagged_threshold = threshold_for_fraction(clean_flagged, 0.5)
    words = np.array([len(p.split()) for p in held])
    out: dict[str, object] = {
        "router": args.router, "gadget": GADGET, "prompts": len(held), "threshold": round(float(threshold), 4),
        "clean_guarded_quantiles_5_25_50_75_95": [round(float(q), 3) for q in np.quantile(clean, [.05, .25, .5, .75, .95])],
        "clean_within_0.03_of_threshold": round(float(np.mean(np.abs(clean - threshold) <= 0.03)), 3),
        "clean_within_0.05_of_threshold": round(float(np.mean(np.abs(clean - threshold) <= 0.05)), 3),
        "flag_triggered_forms_clean_flag_rate": round(clean_flag_rate, 3),
    }
    for where in ("prefix", "suffix"):
        texts = [apply(GADGET.split(), p, where) for p in held]
        attacked = np.asarray(guard.predict_proba(texts), dtype=np.float64)
        up = np.flatnonzero((clean < threshold) & (attacked >= threshold))
        down = np.flatnonzero((clean >= threshold) & (attacked < threshold))
        no_free = [int(i) for i in up if not any(t in " ".join(held[i].split()) for _, t in variants(texts[i]))]
        short = words <= 10
        with_flag, flag_rate = flag_triggered(router, guard, texts)
        out[where] = {
            "strong_share_clean": round(float(np.mean(clean >= threshold)), 3),
            "strong_share_attacked": round(float(np.mean(attacked >= threshold)), 3),
            "flipped_up": len(up), "flipped_down": len(down),
            "median_lift_of_flipped": round(float(np.median(attacked[up] - clean[up])), 3) if len(up) else None,
            "flipped_with_no_gadget_free_form": len(no_free),
            "flipped_prompt_words_median": float(np.median(words[up])) if len(up) else None,
            "prompts_of_10_words_or_fewer": int(short.sum()),
            "their_strong_share_clean_attacked": [round(float(np.mean(clean[short] >= threshold)), 3),
                                                  round(float(np.mean(attacked[short] >= threshold)), 3)],
            "flag_triggered_forms": {"flag_rate": round(flag_rate, 3),
                                     "strong_share_attacked": round(float(np.mean(with_flag >= flagged_threshold)), 3)},
        }
        print(where, json.dumps(out[where]), flush=True)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k not in ("prefix", "suffix")}, indent=2))


if __name__ == "__main__":
    main()
