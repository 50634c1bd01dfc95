"""Heavy objects, loaded once per server process and shared by every tab and browser session.

Routers, benchmarks, benchmark evaluations, scores and the recorded answers take seconds to
minutes to build. ``st.cache_resource`` keeps them in memory as they are (never pickled, unlike
``st.cache_data``); callers treat them as read-only. Failures are not cached, so a corrected
input (e.g. a fixed checkpoint path) is tried again.
"""

from __future__ import annotations

import os

import numpy as np
import streamlit as st

from routellm_core import InvalidInputError, Router, RoutingDecision, load_router
from routellm_core.routers.base import scoring_lock

SCORING_BENCHMARK = ("Scoring the benchmark (a default router is cross-fitted: minutes the first time, "
                     "then cached on disk)...")

__all__ = ["scoring_lock", "router", "predict_proba", "calibration_scores", "benchmark", "benchmark_result",
           "recorded_prompts", "replay_models", "route_batch", "data_dir"]


def data_dir() -> str | None:
    """``$ROUTELLM_DATA_DIR`` if set, else None (routellm_core then looks for ``../shared/data``)."""
    return os.environ.get("ROUTELLM_DATA_DIR") or None


@st.cache_resource(show_spinner="Loading the router (a default router is trained once on first use: minutes)...")
def _load(spec: str) -> Router:
    return load_router(spec)


def router(spec: str | None) -> Router:
    """The router named by ``spec`` (a registered name or a checkpoint directory)."""
    if spec is None or not spec.strip():
        raise InvalidInputError("no router: type a checkpoint directory in the sidebar, or pick a default router")
    return _load(spec.strip())


def predict_proba(spec: str, prompts: tuple[str, ...]) -> np.ndarray:
    """P(strong wins) for ``prompts`` (one scoring call at a time per router: sessions share it)."""
    model = router(spec)
    with scoring_lock(model):
        return model.predict_proba(list(prompts))


@st.cache_resource(show_spinner="Scoring the calibration prompts...", max_entries=16)
def calibration_scores(spec: str, source: str, prompts: tuple[str, ...]) -> np.ndarray:
    """Scores of a calibration set, kept so the share slider moves without re-scoring (``source`` names the set).

    Benchmark prompts are embedded through the evaluation's disk cache, shared with ``benchmark_result``.
    """
    from routellm_core.evaluation.cache import ScoreCache
    from routellm_core.evaluation.runner import embedding_disk_cache

    with embedding_disk_cache(ScoreCache().embedding_dir):
        return predict_proba(spec, prompts)


@st.cache_resource(show_spinner="Routing the prompts...", max_entries=16)
def route_batch(spec: str, prompts: tuple[str, ...], threshold: float) -> list[RoutingDecision]:
    """The engine's decisions for a batch of prompts (one scoring call)."""
    model = router(spec)
    with scoring_lock(model):
        return model.route_batch(list(prompts), threshold)


@st.cache_resource(show_spinner="Loading the benchmark...")
def benchmark(name: str, data: str | None):
    """A benchmark (``mt-bench``, ``mmlu``, ``gsm8k``) with the strong/weak pair's scores per item."""
    from routellm_core.evaluation import load_benchmark

    return load_benchmark(name, data)


@st.cache_resource(show_spinner=SCORING_BENCHMARK)
def benchmark_result(spec: str, name: str, data: str | None, prices: tuple[tuple[str, float, float], ...]):
    """The router's curve, metrics and per-item costs on a benchmark, as ``routellm-core evaluate`` computes them.

    Default routers trained on the benchmark's labels are scored out-of-fold (cross-fitting); scores
    land in the evaluation cache on disk, so a restart does not recompute them. The random router
    gets one seed, so its operating point lies on the curve shown.
    """
    from routellm_core.evaluation import Evaluator
    from routellm_core.evaluation.cache import ScoreCache
    from routellm_core.evaluation.cost import Price

    bench = benchmark(name, data)
    evaluator = Evaluator(cache=ScoreCache(), data_dir=data, random_seeds=1,
                          prices={model: Price(i, o) for model, i, o in prices}, log=None)
    return evaluator.evaluate(bench, [spec.strip()])


@st.cache_resource(show_spinner="Loading the recorded answers...")
def recorded_prompts(data: str | None):
    from .recorded import recorded_prompts as load

    return load(data)


@st.cache_resource(show_spinner="Loading the recorded answers...")
def replay_models(data: str | None):
    """(strong, weak) chat models replaying the pair's recorded Arena-Hard and GSM8K answers."""
    from .recorded import replay_models as load

    return load(data)
