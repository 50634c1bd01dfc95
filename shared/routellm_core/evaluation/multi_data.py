"""Benchmarks with many models and a cost per call: RouterBench (11 models) and Arena-Hard (gpt-4o judge).

Each item has, for every model, a quality (RouterBench: 0/1 correct; Arena-Hard: the judge's soft
score against gpt-4-0314) and the USD that model's call cost (RouterBench: its ``|total_cost``
column; Arena-Hard: list prices times the prompt's tokens and the model's recorded answer length).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..data.arena import arena_hard_answers, arena_hard_questions, arena_hard_verdicts
from ..data.files import ARENA_HARD_BASELINE, ROUTERBENCH_DIR, data_path
from ..data.golden import golden_outcome
from ..data.tables import correctness, is_binary_column, prompt_text, read_csv
from ..errors import DataError
from ..models import canonical_model_name
from ..pricing import Price
from ..records import PreferenceRecord

PathLike = str | os.PathLike[str]

# List prices, USD per million input / output tokens, mid-2024 (when these answers were made), for the
# models the gpt-4o judge rated on Arena-Hard. Sources: OpenAI pricing page (gpt-4o $2.50/$10,
# gpt-4o-mini $0.15/$0.60, gpt-3.5-turbo-0125 $0.50/$1.50); Anthropic pricing page (Claude 3.5 Sonnet
# $3/$15, Claude 3 Opus $15/$75); Google AI Studio (Gemini 1.5 Pro, prompts <= 128k, May 2024:
# $3.50/$10.50); Mistral La Plateforme (Mistral Large 2407 $3/$9, Mixtral 8x22B $2/$6, July 2024);
# Together AI serverless (Llama 3.1 405B Turbo $3.50, 70B Turbo (FP8) $0.88, 70B Lite (INT4) $0.54,
# Gemma 2 27B $0.80). The quantised Llama-3.1-70B variants take Together's price for their precision.
ARENA_LIST_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.5, 10.0), "gpt-4o-mini": Price(0.15, 0.6), "gpt-3.5-turbo-0125": Price(0.5, 1.5),
    "claude-3-5-sonnet-20240620": Price(3.0, 15.0), "claude-3-opus-20240229": Price(15.0, 75.0),
    "gemini-1.5-pro-api-0514": Price(3.5, 10.5), "mistral-large-2407": Price(3.0, 9.0),
    "mixtral-8x22b-instruct-v0.1": Price(2.0, 6.0), "llama-3.1-405b-instruct": Price(3.5, 3.5),
    "llama-3.1-70b-instruct": Price(0.88, 0.88), "llama-3.1-70b-instruct-fp8": Price(0.88, 0.88),
    "llama-3.1-70b-instruct-fp8-1": Price(0.88, 0.88), "llama-3.1-70b-instruct-fp8-2": Price(0.88, 0.88),
    "llama-3.1-70b-instruct-awq4": Price(0.54, 0.54), "llama-3.1-70b-instruct-awq-int4": Price(0.54, 0.54),
    "gemma-2-27b-it": Price(0.8, 0.8),
}


@dataclass(frozen=True, eq=False)
class MultiBenchmark:
    """Items x models: quality and cost of every model's answer to every prompt."""

    name: str
    prompts: list[str]
    models: list[str]
    quality: np.ndarray  # (items, models)
    cost: np.ndarray  # (items, models), USD per call
    kind: str  # "correctness" (pairwise golden labels) or "baseline" (each model vs one baseline)
    baseline: str | None = None
    unit: str = "quality"

    @property
    def n(self) -> int:
        return len(self.prompts)

    def training_records(self, items: Sequence[int] | np.ndarray) -> list[PreferenceRecord]:
        """Preference records from these items only: every model pair (correctness) or model vs baseline."""
        out = []
        for i in items:
            prompt, q = self.prompts[int(i)], self.quality[int(i)]
            if self.kind == "baseline":
                out += [PreferenceRecord(prompt, m, str(self.baseline), float(q[j]), self.name)
                        for j, m in enumerate(self.models)]
                continue
            for a, b in itertools.combinations(range(len(self.models)), 2):
                out.append(PreferenceRecord(prompt, self.models[a], self.models[b], golden_outcome(q[a], q[b]), self.name))
        return out


def routerbench_multi(data_dir: PathLike | None = None) -> MultiBenchmark:
    """Every RouterBench CSV: 0/1 correctness and the real cost of each of the 11 models' calls."""
    folder = data_path(ROUTERBENCH_DIR, data_dir)
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise DataError(f"no RouterBench CSV files in {folder}")
    prompts: list[str] = []
    quality: list[list[float]] = []
    cost: list[list[float]] = []
    models: list[str] | None = None
    for path in files:
        columns, rows = read_csv(path, ["prompt"])
        cols = [c for c in columns if c and c not in {"prompt", "sample_id", "eval_name"} and "|" not in c
                and f"{c}|total_cost" in columns and is_binary_column(rows, c)]
        names = [canonical_model_name(c) for c in cols]
        if models is None:
            models = names
        elif sorted(names) != sorted(models):
            raise DataError(f"{path.name}: models {names} differ from the other RouterBench files' {models}")
        col_of = dict(zip(names, cols, strict=True))
        for i, row in enumerate(rows):
            text = prompt_text(row["prompt"])
            if not text.strip():
                continue
            q = [correctness(row[col_of[m]], f"{path.name} row {i + 2}") for m in models]
            try:
                c = [float(row[f"{col_of[m]}|total_cost"]) for m in models]
            except ValueError:
                raise DataError(f"{path.name} row {i + 2}: a |total_cost value is not a number") from None
            if any(v is None for v in q):
                continue
            prompts.append(text)
            quality.append([float(v) for v in q if v is not None])
            cost.append(c)
    assert models is not None
    return MultiBenchmark("routerbench", prompts, models, np.array(quality), np.array(cost), "correctness",
                          unit="accuracy (%)")


def arena_multi(data_dir: PathLike | None = None, judge: str = "gpt-4o",
                prices: dict[str, Price] | None = None) -> MultiBenchmark:
    """Arena-Hard prompts judged by ``judge``: every priced model's score against gpt-4-0314 and its call cost.

    Cost = list price x (prompt tokens, the model's recorded answer tokens; models without recorded
    answers count the median answer length of those with). Prompts missing a model's verdict are dropped.
    """
    from .cost import count_tokens

    prices = dict(ARENA_LIST_PRICES if prices is None else prices)
    questions = arena_hard_questions(data_dir)
    verdicts = {(v.question_id, v.model): v.score for v in arena_hard_verdicts(data_dir, [judge])}
    models = sorted({m for _, m in verdicts if m in prices})
    if len(models) < 2:
        raise DataError(f"fewer than two priced models have {judge} verdicts")
    kept = [q for q in questions if all((q.question_id, m) in verdicts for m in models)]
    prompts = [q.prompt for q in kept]
    ids = [q.question_id for q in kept]
    in_tokens = count_tokens(prompts).astype(np.float64)
    out_tokens: dict[str, np.ndarray] = {}
    for m in models:
        answers = arena_hard_answers(m, data_dir)
        if answers and all(i in answers for i in ids):
            out_tokens[m] = count_tokens([answers[i] for i in ids]).astype(np.float64)
    if not out_tokens:
        raise DataError("no recorded Arena-Hard answers to estimate output lengths from")
    median = float(np.median(np.concatenate(list(out_tokens.values()))))
    quality = np.array([[verdicts[(i, m)] for m in models] for i in ids])
    cost = np.stack([(in_tokens * prices[m].input_per_million
                      + out_tokens.get(m, np.full(len(ids), median)) * prices[m].output_per_million) / 1e6
                     for m in models], axis=1)
    return MultiBenchmark(f"arena-{judge}", prompts, models, quality, cost, "baseline",
                          baseline=canonical_model_name(ARENA_HARD_BASELINE), unit="win rate vs gpt-4-0314 (%)")


MULTI_BENCHMARKS = {"routerbench": routerbench_multi, "arena": arena_multi, "arena-hard": arena_multi,
                    "arena_hard": arena_multi}
