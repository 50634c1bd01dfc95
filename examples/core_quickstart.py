"""Route prompts with the default router: the engine on its own, no LLM calls.

Loads the default MF router shipped with the package (built by ``routellm-core train --recipe default``
on RouterBench plus the golden labels of MMLU, GSM8K and MT-Bench), calibrates its threshold so 50%
of MT-Bench/GSM8K-like queries go to the strong model, and prints the decision for a few new prompts
that are in none of those datasets.
"""

from __future__ import annotations

from routellm_core import calibrate_threshold, load_router
from routellm_core.calibration import comparison_text
from routellm_core.decontaminate import benchmark_prompts

PROMPTS = [
    "Write a short, friendly birthday message for my colleague Anna.",
    "What is the capital of Australia?",
    "Suggest three names for a cozy coffee shop.",
    "A train leaves at 3:40 pm and travels 212 km at 80 km/h. At what time does it arrive?",
    "Implement an LRU cache in Python with O(1) get and put, and explain the design.",
    "Prove that the square root of 2 is irrational.",
    "Summarise the plot of Romeo and Juliet in two sentences.",
    "Find all real x such that x^4 - 5x^2 + 4 = 0, showing each step.",
]


def main() -> None:
    router = load_router("mf")
    # MT-Bench's questions and about 200 of GSM8K's: enough for a threshold, embedded in seconds
    calibration = benchmark_prompts(benchmarks=["mt-bench", "gsm8k"])[:280]
    threshold = calibrate_threshold(router, calibration, strong_fraction=0.5)
    print(f"\nrouter: {router.name}  threshold for 50% strong calls: {threshold:.4f}\n")
    for decision, prompt in zip(router.route_batch(PROMPTS, threshold), PROMPTS):
        p, t, relation = comparison_text(decision.probability, threshold)  # enough digits to see the comparison
        print(f"{decision.role:>6}  P(strong wins)={p} ({relation} {t})  {prompt[:70]}")


if __name__ == "__main__":
    main()
