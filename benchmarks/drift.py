"""Drift: the strong share of every window under a sudden change of traffic, online vs fixed threshold.

The stream: 600 GSM8K questions, then the 498 Arena-Hard prompts, then 500 more GSM8K questions
(no question twice). Routed by the shipped ``mf`` at ``strong_fraction=0.3``:

* ``fixed``: the threshold calibrated once on 150 Arena-Hard prompts (what ``strong_fraction`` does today);
* ``rolling quantile``: the threshold is the 70% quantile of the last ``online_window`` scores (the
  plain method the issue says is too slow);
* ``online``: ``RoutingPolicy(strong_fraction=0.3, calibration_prompts=<same 150>, online_window=300)``,
  run decision by decision through ``policy.decide`` (the real code path of every front-end).

Printed and written to ``benchmarks/results/drift.json``: the strong share of each 300-decision
window after the first (non-overlapping: decisions 300-599, 600-899, ...), the worst share over
every sliding 300-decision window, and how many decisions the online window bound forced.

    nice -n 10 .venv/bin/python benchmarks/drift.py [--window 300] [--fraction 0.3] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def stream(seed: int) -> tuple[list[str], list[str], list[str]]:
    """(the stream's prompts, the source of each, 150 Arena-Hard calibration prompts)."""
    from routellm_core.data.arena import arena_hard_questions
    from routellm_core.evaluation.benchmarks import load_gsm8k

    rng = random.Random(seed)
    gsm = list(load_gsm8k().prompts)
    rng.shuffle(gsm)
    arena = [q.prompt for q in arena_hard_questions()]
    rng.shuffle(arena)
    prompts = gsm[:600] + arena + gsm[600:1100]
    sources = ["gsm8k"] * 600 + ["arena_hard"] * len(arena) + ["gsm8k"] * 500
    return prompts, sources, arena[:150]


def window_shares(strong: np.ndarray, window: int) -> dict[str, object]:
    blocks = [float(strong[i:i + window].mean()) for i in range(window, len(strong) - window + 1, window)]
    tail = len(strong) % window
    sliding = np.convolve(strong.astype(float), np.ones(window), "valid") / window
    return {"windows_after_first": [round(b, 4) for b in blocks],
            "last_partial_window": round(float(strong[-tail:].mean()), 4) if tail else None,
            "sliding_min": round(float(sliding[window:].min()), 4) if len(sliding) > window else None,
            "sliding_max": round(float(sliding[window:].max()), 4) if len(sliding) > window else None,
            "overall": round(float(strong.mean()), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", default="mf")
    parser.add_argument("--window", type=int, default=300)
    parser.add_argument("--fraction", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(HERE / "results" / "drift.json"))
    args = parser.parse_args()

    from routellm_core import RoutingPolicy, load_router
    from routellm_core.calibration import threshold_for_fraction

    prompts, sources, calibration = stream(args.seed)
    router = load_router(args.router)
    scores = np.asarray(router.predict_proba(prompts), dtype=float)
    fixed_t = threshold_for_fraction(router.predict_proba(calibration), args.fraction)
    fixed = scores >= fixed_t
    rolling = np.zeros(len(scores), dtype=bool)
    for i, p in enumerate(scores):
        past = scores[max(0, i - args.window):i]
        t = fixed_t if len(past) < args.window else threshold_for_fraction(past, args.fraction)
        rolling[i] = p >= t

    policy = RoutingPolicy(router, strong_fraction=args.fraction, calibration_prompts=tuple(calibration),
                           online_window=args.window)
    start = time.perf_counter()
    decisions = [policy.decide([p])[0] for p in prompts]
    seconds = time.perf_counter() - start
    online = np.array([d.role == "strong" for d in decisions])
    forced = [d.metadata()["online_forced"] for d in decisions]
    gsm = np.array([s == "gsm8k" for s in sources])
    result = {
        "router": args.router, "strong_fraction": args.fraction, "online_window": args.window, "seed": args.seed,
        "stream": "600 gsm8k, 498 arena_hard, 500 gsm8k", "fixed_threshold": round(fixed_t, 6),
        "fixed": {**window_shares(fixed, args.window), "gsm8k_share": round(float(fixed[gsm].mean()), 4)},
        "rolling_quantile": window_shares(rolling, args.window),
        "online": {**window_shares(online, args.window), "forced_strong": forced.count("strong"),
                   "forced_weak": forced.count("weak"), "ms_per_decision": round(1000 * seconds / len(prompts), 2),
                   "probability_agreement": bool(np.allclose([d.probability for d in decisions], scores, atol=1e-5))},
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
