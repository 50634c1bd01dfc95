"""The RouteLLM paper's headline numbers (arXiv 2406.18665 v4), for side-by-side reporting.

Copied from ``shared/data/README.md``: CPT(50%), CPT(80%) (% GPT-4 calls) and APGR, strong =
gpt-4-1106-preview, weak = Mixtral-8x7B, routers trained on Chatbot Arena battles plus augmentation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperNumber:
    router: str
    cpt50: float | None
    cpt80: float | None
    apgr: float


PAPER_RESULTS: dict[str, dict[str, PaperNumber]] = {
    "mt-bench": {"random": PaperNumber("random", 49.03, 78.08, 0.500), "mf": PaperNumber("mf", 13.40, 31.31, 0.802)},
    "mmlu": {"random": PaperNumber("random", 50.07, 79.93, 0.500),
             "sw_ranking": PaperNumber("sw_ranking", 35.40, 71.55, 0.603), "mf": PaperNumber("mf", None, None, 0.597)},
    "gsm8k": {"random": PaperNumber("random", 50.00, 80.08, 0.497),
              "causal_llm": PaperNumber("causal_llm", 33.64, 63.26, 0.622), "mf": PaperNumber("mf", None, None, 0.565)},
}
# The paper's best router per benchmark (the reference point drawn on each plot).
PAPER_BEST: dict[str, str] = {"mt-bench": "mf", "mmlu": "sw_ranking", "gsm8k": "causal_llm"}


def paper_best(benchmark: str) -> PaperNumber | None:
    name = PAPER_BEST.get(benchmark)
    return PAPER_RESULTS[benchmark][name] if name else None
