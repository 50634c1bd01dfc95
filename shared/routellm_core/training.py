"""Training recipes: the default routers that ``load_router("mf")`` etc. resolve to."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from .records import PreferenceRecord

log = logging.getLogger(__name__)

# What the default routers are trained on (docs/quality.md says the same, with licenses and counts):
# RouterBench's multi-model correctness (MIT), the paper's augmentation (golden labels of the
# strong/weak pair on MMLU, GSM8K (MIT) and MT-Bench (GPT-4 judge, Apache-2.0)), Arena-Hard-Auto
# verdicts of 24 models by two LLM judges and 762 Chatbot Arena human votes (Apache-2.0), every source
# weighted 1. Chosen by leave-one-source-out cross-validation on the training data
# (benchmarks/recipe_cv.py, issue 23): mean within-pair AUC over held-out sources 0.551 against 0.523
# for recipe v2 (no Arena data), difference +0.028 [+0.010, +0.048]. AlpacaEval (CC BY-NC) is left
# out: its GPT-4-Turbo judge prefers GPT-4-Turbo's style on open-ended prompts, which taught the
# routers the opposite of what MT-Bench rewards, and its license is non-commercial.
DEFAULT_DATASETS: tuple[str, ...] = ("routerbench", "mmlu", "gsm8k", "mt-bench", "arena_hard", "chatbot_arena")
# The real-Arena sources (part of the default since recipe v4).
ARENA_DATASETS: tuple[str, ...] = ("arena_hard", "chatbot_arena")
# Datasets that are evaluation benchmarks themselves: never decontaminated against them; the
# evaluation harness scores them out-of-fold instead (see evaluation.crossfit).
BENCHMARK_DATASETS: frozenset[str] = frozenset({"mmlu", "gsm8k", "mt-bench", "arena_hard"})
# Folder of each named dataset inside the data directory (cache keys follow the files' sizes).
DATASET_FOLDERS: dict[str, str] = {"mmlu": "routellm_evals", "gsm8k": "routellm_evals", "mt-bench": "routellm_evals"}
# Per-source weight of a record (longest matching ``source`` prefix), chosen by leave-one-source-out
# cross-validation on the training data (benchmarks/recipe_cv.py, docs/quality.md): every source 1
# (the Arena x5 candidate scored 0.549, within the interval). Sources without an entry weigh 1.
DEFAULT_SOURCE_WEIGHTS: dict[str, float] = {
    "routerbench": 1.0, "mmlu": 1.0, "gsm8k": 1.0, "mt-bench": 1.0,
    "arena_hard": 1.0, "chatbot_arena": 1.0, "chatbot_arena:bothbad": 1.0,
}
# Bumped whenever DEFAULT_DATASETS, the weights or the recipe change, so stale cached defaults are retrained.
DEFAULT_RECIPE_VERSION = 4  # 3 was the Arena x5 study recipe (docs/quality.md), never shipped
# Fine-tuned routers train on a seeded subsample so a 2-core CPU finishes in minutes, not hours
# (bert ~4 min, causal_llm ~10 min, measured); with a GPU pass {"max_samples": null} for all of the data.
DEFAULT_ROUTER_PARAMS: dict[str, dict] = {"bert": {"max_samples": 2000}, "causal_llm": {"max_samples": 300, "epochs": 1},
                                          "sw_ranking": {"embedding_dtype": "float16"}}  # halves the shipped file


def source_weight(source: str, weights: Mapping[str, float]) -> float:
    """The weight of the longest key of ``weights`` that is ``source`` or a prefix of it up to a ':'."""
    best, best_len = 1.0, -1
    for key, value in weights.items():
        if (source == key or source.startswith(key + ":")) and len(key) > best_len:
            best, best_len = float(value), len(key)
    return best


def weight_by_source(records: Sequence[PreferenceRecord], weights: Mapping[str, float]) -> list[PreferenceRecord]:
    """Records with ``weight`` multiplied by their source's weight; weight-0 sources are dropped."""
    out = []
    for r in records:
        w = source_weight(r.source, weights)
        if w > 0:
            out.append(r if w == 1.0 else replace(r, weight=r.weight * w))
    return out


def recipe_signature() -> str:
    """The default recipe in one string (datasets, weights, router parameters, version), for cache keys."""
    return json.dumps({"datasets": DEFAULT_DATASETS, "weights": DEFAULT_SOURCE_WEIGHTS, "params": DEFAULT_ROUTER_PARAMS,
                       "version": DEFAULT_RECIPE_VERSION}, sort_keys=True)


def default_router_path(name: str) -> Path:
    """Cache folder where an explicitly trained default checkpoint goes (``$ROUTELLM_CACHE_DIR/routers/<name>-default``)."""
    from .routers.defaults import cached_checkpoint_path

    return cached_checkpoint_path(name)


def default_training_records(data_dir: str | os.PathLike[str] | None = None,
                             datasets: Sequence[str] = DEFAULT_DATASETS, decontaminate_against_benchmarks: bool = True,
                             embedder: str | None = "minilm", verbose: bool = True, limit: int | None = None,
                             log: Callable[[str], None] = print,
                             source_weights: Mapping[str, float] | None = None) -> list[PreferenceRecord]:
    """The training set of ``datasets``; external sets are decontaminated against every benchmark's prompts
    (MT-Bench, MMLU, GSM8K, Arena-Hard), exactly and by near-duplicate embedding.

    Benchmark labels are kept whole (the evaluation harness cross-fits them). ``limit`` keeps
    the first N records (external first) before decontamination; ``log`` gets progress lines when
    ``verbose``. Records are weighted by ``source_weights`` (default: the recipe's).
    """
    from .decontaminate import benchmark_prompts, decontaminate
    from .errors import DataError
    from .loaders import load_training_records

    say = log if verbose else (lambda _msg: None)
    external: list[PreferenceRecord] = []
    golden: list[PreferenceRecord] = []
    for name in datasets:
        part = load_training_records(name, data_dir)
        say(f"loaded {len(part)} records from {name}")
        (golden if name in BENCHMARK_DATASETS else external).extend(part)
    if limit:
        external, golden = external[:limit], golden[: max(0, limit - len(external))]
    if decontaminate_against_benchmarks and external:
        try:
            eval_prompts = benchmark_prompts(data_dir)
        except (DataError, OSError):
            eval_prompts = []
            say("benchmark prompts not found: training data was not decontaminated")
        external, report = decontaminate(external, eval_prompts, embedder=embedder)
        say(str(report))
    return weight_by_source(external + golden, DEFAULT_SOURCE_WEIGHTS if source_weights is None else source_weights)


def default_router(name: str, **params):
    """An untrained router ``name`` with the default recipe's parameters (``params`` override them)."""
    from .routers.registry import router_class

    return router_class(name)(**{**DEFAULT_ROUTER_PARAMS.get(name, {}), **params})
