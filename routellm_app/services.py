"""Heavy objects, loaded once per server process and shared by every tab and browser session.

Routers, benchmarks, benchmark evaluations, scores and the recorded answers take seconds to
minutes to build. ``st.cache_resource`` keeps them in memory as they are (never pickled, unlike
``st.cache_data``); callers treat them as read-only. Failures are not cached, so a corrected
input (e.g. a fixed checkpoint path) is tried again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import streamlit as st

from routellm_core import Decision, InvalidInputError, Router, RoutingPolicy, load_router, threshold_for_fraction
from routellm_core.routers.base import scoring_lock

SCORING_BENCHMARK = ("Scoring the benchmark (the default routers' out-of-fold scores ship with the package; "
                     "any other router is scored once, then cached on disk)...")
START_FRACTION = 0.5  # the page starts at the threshold that sends this share of real user prompts to the strong model
START_BENCHMARK = "arena"  # Arena-Hard: 498 real Chatbot Arena prompts, in no default training source

__all__ = ["scoring_lock", "router", "predict_proba", "calibration_scores", "benchmark", "benchmark_result",
           "recorded_prompts", "replay_models", "route_batch", "data_dir", "policy", "decide", "start_threshold",
           "StartPoint", "shipped_curve", "router_description"]


def data_dir() -> str | None:
    """``$ROUTELLM_DATA_DIR`` if set, else None (routellm_core then looks for ``../shared/data``)."""
    return os.environ.get("ROUTELLM_DATA_DIR") or None


@st.cache_resource(show_spinner="Loading the router...")
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


def policy(spec: str | None, threshold: float) -> RoutingPolicy:
    """The engine's decision layer for the sidebar's router and threshold (the router object is shared)."""
    return RoutingPolicy(router(spec), threshold=threshold)


def decide(spec: str | None, prompts: list[str], threshold: float) -> list[Decision]:
    """``RoutingPolicy.decide``: strong iff P(strong wins) >= threshold, one scoring call for all prompts."""
    return policy(spec, threshold).decide(prompts)


@st.cache_resource(show_spinner="Routing the prompts...", max_entries=16)
def route_batch(spec: str, prompts: tuple[str, ...], threshold: float) -> list[Decision]:
    """The engine's decisions for a batch of prompts (one scoring call)."""
    return decide(spec, list(prompts), threshold)


@dataclass(frozen=True)
class StartPoint:
    """The threshold the page starts at: the one sending ``fraction`` of ``prompts`` calibration prompts to strong."""

    threshold: float
    fraction: float
    prompts: int
    shipped: bool  # from the scores shipped with the default checkpoint (else the router scored them now)

    def describe(self) -> str:
        where = "scores shipped with this checkpoint" if self.shipped else "scored by this router"
        return (f"calibrated to send {self.fraction:.0%} of {self.prompts:,} real Chatbot Arena prompts (Arena-Hard) "
                f"to the strong model ({where})")


@st.cache_resource(show_spinner="Calibrating the starting threshold...", max_entries=16)
def start_threshold(spec: str) -> StartPoint:
    """The 50% point on the Arena-Hard prompts, rounded to the sidebar's 4 decimals.

    A shipped default router whose checkpoint matches its shipped scores needs no scoring (the first page
    stays fast); any other router is calibrated by the engine's ``RoutingPolicy`` on the same prompts.
    """
    from routellm_core.evaluation.shipped import calibration_scores as shipped_calibration

    found = shipped_calibration(spec.strip())
    if found is not None:
        scores, _ = found
        return StartPoint(round(threshold_for_fraction(scores, START_FRACTION), 4), START_FRACTION, len(scores), True)
    prompts = benchmark(START_BENCHMARK, data_dir()).prompts
    calibrated = RoutingPolicy(router(spec), strong_fraction=START_FRACTION, calibration_prompts=prompts)
    return StartPoint(round(calibrated.resolved_threshold(), 4), START_FRACTION, len(prompts), False)


def shipped_curve(spec: str | None, name: str) -> bool:
    """Whether the package ships this default router's out-of-fold scores on this benchmark (checkpoint matching)."""
    from routellm_core.evaluation.shipped import matching_record

    entry = ((matching_record((spec or "").strip()) or {}).get("benchmarks") or {}).get(name)
    return bool(entry) and entry.get("benchmark_hash") == _fingerprint(name, data_dir())


@st.cache_resource(show_spinner=False)
def _fingerprint(name: str, data: str | None) -> str:
    return benchmark(name, data).fingerprint()


@st.cache_resource(show_spinner=False, max_entries=32)
def router_description(spec: str) -> str | None:
    """What the checkpoint behind ``spec`` learned from, read from its manifest (None: no manifest)."""
    from pathlib import Path

    from routellm_core import router_names
    from routellm_core.recipe import MANIFEST, describe_manifest, read_manifest
    from routellm_core.routers.defaults import find_default_checkpoint
    from routellm_core.routers.registry import router_class

    text = spec.strip()
    try:
        if text in router_names():
            if not router_class(text).trainable:
                return None
            path = find_default_checkpoint(text)
        else:
            path = Path(text).expanduser()
        if not (path / MANIFEST).is_file():
            return None
        return describe_manifest(read_manifest(path))
    except (InvalidInputError, OSError, ValueError):
        return None


@st.cache_resource(show_spinner="Loading the benchmark...")
def benchmark(name: str, data: str | None):
    """A benchmark (``mt-bench``, ``mmlu``, ``gsm8k``) with the strong/weak pair's scores per item."""
    from routellm_core.evaluation import load_benchmark

    return load_benchmark(name, data)


@st.cache_resource(show_spinner=SCORING_BENCHMARK)
def benchmark_result(spec: str, name: str, data: str | None, prices: tuple[tuple[str, float, float], ...]):
    """The router's curve, metrics and per-item costs on a benchmark, as ``routellm-core evaluate`` computes them.

    Default routers trained on the benchmark's labels are scored out-of-fold (cross-fitting): their
    shipped scores when the checkpoint matches them, else computed once into the evaluation cache on disk.
    The random router gets one seed, so its operating point lies on the curve shown. No bootstrap
    interval (the page does not show it), so the curve appears at once.
    """
    from routellm_core.evaluation import Evaluator
    from routellm_core.evaluation.cache import ScoreCache
    from routellm_core.evaluation.cost import Price

    bench = benchmark(name, data)
    evaluator = Evaluator(cache=ScoreCache(), data_dir=data, random_seeds=1, bootstrap=0,
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
