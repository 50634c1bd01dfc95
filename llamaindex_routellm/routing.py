"""Routing shared by the LLM, the query engine and the selector.

One place resolves the router (name, checkpoint path or object, optionally with a LlamaIndex
embedding model), fixes the threshold (given, or calibrated once for a target strong share), and
turns a text into a :class:`~routellm_core.RoutingDecision` without blocking an event loop.
"""

from __future__ import annotations

import asyncio
import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from routellm_core import Router, RoutingDecision, calibrate_threshold, load_router, threshold_for_fraction
from routellm_core.errors import InvalidInputError
from routellm_core.routers.base import check_threshold, scoring_lock

Role = Literal["strong", "weak"]
RouterSpec = str | os.PathLike[str] | Router

def embedder_from_llamaindex(embed_model: Any):
    """Wrap a LlamaIndex ``BaseEmbedding`` as a routellm_core embedder (batch calls, cached)."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from routellm_core.embeddings import CallableEmbedder

    if not isinstance(embed_model, BaseEmbedding):
        raise InvalidInputError(
            f"embed_model must be a LlamaIndex BaseEmbedding, got {type(embed_model).__name__}")
    model_id = f"llamaindex:{embed_model.class_name()}:{embed_model.model_name}"
    return CallableEmbedder(fn=embed_model.get_text_embedding_batch, model_id=model_id)


def resolve_router(router: RouterSpec, embed_model: Any = None) -> Router:
    """A Router from a name, checkpoint path or object; ``embed_model`` replaces its embedder.

    Names and paths go through ``load_router`` (cached per process: weights load once). A Router
    object given with ``embed_model`` is copied, so the caller's object is left unchanged.
    """
    if embed_model is None:
        return load_router(router)
    embedder = embedder_from_llamaindex(embed_model)
    if isinstance(router, Router):
        if not hasattr(router, "embedder"):
            raise InvalidInputError(
                f"router {router.name!r} does not use an embedder, so embed_model cannot apply to it")
        routed = copy.copy(router)
        routed.embedder = embedder
        return routed
    # One wrapper per embedding model object: the load_router cache key is the embedder's repr.
    cached = _embedders.get(id(embed_model))
    if cached is not None and cached[0] is embed_model:
        embedder = cached[1]
    else:
        _embedders[id(embed_model)] = (embed_model, embedder)
    return load_router(router, embedder=embedder)


_embedders: dict[int, tuple[Any, Any]] = {}


def check_threshold_options(threshold: float | None, strong_fraction: float | None,
                            calibration_prompts: Sequence[str] | None) -> None:
    """Validate the threshold options before any (possibly slow) router loading or scoring."""
    if threshold is not None and strong_fraction is not None:
        raise InvalidInputError("give either threshold or strong_fraction, not both")
    if threshold is not None:
        check_threshold(threshold)
        return
    if strong_fraction is None:
        raise InvalidInputError("give a threshold in [0, 1] or a strong_fraction with calibration_prompts")
    threshold_for_fraction([0.5], strong_fraction)  # raises on a fraction outside [0, 1]
    if isinstance(calibration_prompts, str) or not calibration_prompts:
        raise InvalidInputError("strong_fraction needs calibration_prompts: a list of prompts like the real traffic")


def resolve_threshold(router: Router, threshold: float | None, strong_fraction: float | None,
                      calibration_prompts: Sequence[str] | None) -> float:
    """The threshold given, or the one that sends ``strong_fraction`` of the calibration prompts to strong."""
    check_threshold_options(threshold, strong_fraction, calibration_prompts)
    if threshold is not None:
        return check_threshold(threshold)
    with scoring_lock(router):
        return calibrate_threshold(router, list(calibration_prompts), strong_fraction)


@dataclass
class Routing:
    """A router with a fixed threshold: text in, decision out (thread-safe, async-friendly)."""

    router: Router
    threshold: float

    @classmethod
    def build(cls, router: RouterSpec = "mf", threshold: float | None = None, strong_fraction: float | None = None,
              calibration_prompts: Sequence[str] | None = None, embed_model: Any = None) -> Routing:
        check_threshold_options(threshold, strong_fraction, calibration_prompts)
        resolved = resolve_router(router, embed_model)
        return cls(resolved, resolve_threshold(resolved, threshold, strong_fraction, calibration_prompts))

    @property
    def router_name(self) -> str:
        return self.router.name

    def decide(self, text: str) -> RoutingDecision:
        """Route one text; an empty text goes to the strong model (nothing to judge it by)."""
        if not text or not text.strip():
            return RoutingDecision("strong", float("nan"), self.threshold, self.router_name)
        with scoring_lock(self.router):
            return self.router.route(text, self.threshold)

    async def adecide(self, text: str) -> RoutingDecision:
        """``decide`` in a worker thread: the router's embedding work never blocks the event loop."""
        return await asyncio.to_thread(self.decide, text)


def decision_payload(decision: RoutingDecision, answered: Role, model: str, fallback: bool = False,
                     error: BaseException | None = None) -> dict[str, Any]:
    """The routing metadata attached to responses and events (JSON-friendly)."""
    prob = decision.probability
    return {
        "role": answered,
        "model": model,
        "routed_role": decision.role,
        "probability": None if prob != prob else round(float(prob), 6),  # NaN -> None (nothing to route on)
        "threshold": decision.threshold,
        "router": decision.router,
        "fallback": fallback,
        "error": None if error is None else f"{type(error).__name__}: {str(error)[:300]}",
    }


def other(role: Role) -> Role:
    return "weak" if role == "strong" else "strong"
