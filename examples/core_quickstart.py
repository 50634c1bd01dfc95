"""Route real benchmark prompts with the default router: the engine on its own, no LLM calls.

Trains (once, then cached) the default MF router on AlpacaEval + RouterBench preference data,
calibrates its threshold so 50% of queries go to the strong model, and prints each decision.
"""

from __future__ import annotations

import random

from routellm_core import calibrate_threshold, load_router
from routellm_core.decontaminate import benchmark_prompts


def main() -> None:
    router = load_router("mf")
    calibration = benchmark_prompts(benchmarks=["mt-bench", "gsm8k"])
    threshold = calibrate_threshold(router, calibration, strong_fraction=0.5)
    print(f"\nrouter: {router.name}  threshold for 50% strong calls: {threshold:.4f}\n")
    prompts = random.Random(7).sample(calibration, 8)
    for decision, prompt in zip(router.route_batch(prompts, threshold), prompts):
        text = " ".join(prompt.split())[:70]
        print(f"{decision.role:>6}  P(strong wins)={decision.probability:.3f}  {text}")


if __name__ == "__main__":
    main()
