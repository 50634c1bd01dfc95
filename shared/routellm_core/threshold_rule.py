"""The threshold rule for a strong/weak pair: strong iff P(strong wins) >= threshold.

The strategy behind ``RoutingPolicy(router, threshold=...)`` (or ``strong_fraction=...``, the
threshold calibrated on a sample of prompts), and the cascade's optional prompt stage.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .batching import score_async
from .decision import Decision
from .errors import InvalidInputError
from .router_spec import RouterSpec, calibrated_threshold, check_mode, resolve_router
from .routers.base import Router, check_threshold, role_for, scoring_lock
from .turns import EMPTY_TEXT, checked_texts

ON_EMPTY = ("error", "strong", "weak")


def other_role(role: str) -> str:
    return "weak" if role == "strong" else "strong"


@dataclass(frozen=True, eq=False)
class ThresholdRule:
    """Router + threshold (or calibrated strong share): texts in, strong/weak decisions out.

    The router loads on first use (cached per process by ``load_router``); the calibrated
    threshold is computed once per router and prompt sample.
    """

    router: RouterSpec = "mf"
    threshold: float | None = None
    strong_fraction: float | None = None
    calibration_prompts: tuple[str, ...] = ()
    embedder: Any = None
    router_kwargs: Mapping[str, Any] | None = None
    on_empty: str = "error"
    fallback: bool = True
    max_batch: int = 256
    label: str | None = None
    reroute_guard: bool = False
    _state: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        prompts = self.calibration_prompts
        object.__setattr__(self, "calibration_prompts", tuple(prompts or ()) if not isinstance(prompts, str) else prompts)
        check_mode(self.threshold, self.strong_fraction, self.calibration_prompts)
        if self.threshold is not None:
            object.__setattr__(self, "threshold", check_threshold(self.threshold))
        if not isinstance(self.reroute_guard, bool):
            raise InvalidInputError(f"reroute_guard must be true or false, got {self.reroute_guard!r}")
        if self.on_empty not in ON_EMPTY:
            raise InvalidInputError(f"on_empty must be one of {', '.join(ON_EMPTY)}, got {self.on_empty!r}")
        if self.router is None or (isinstance(self.router, str) and not self.router.strip()):
            raise InvalidInputError("router is empty: give a router name (e.g. 'mf'), a checkpoint path or a Router")

    @property
    def router_label(self) -> str:
        if self.label:
            return self.label
        return self.router.name if isinstance(self.router, Router) else str(self.router)

    def name(self, router: Router) -> str:
        return self.label or router.name

    def share_router(self, other: ThresholdRule) -> ThresholdRule:
        """Reuse ``other``'s loaded router (same spec, another threshold): no second load."""
        if "router" in other._state:
            self._state["router"] = other._state["router"]
        return self

    # --- resolution (lazy, cached) ---------------------------------------------------------------
    def resolved_router(self) -> Router:
        router = self._state.get("router")
        if router is None:
            router = resolve_router(self.router, self.embedder, self.router_kwargs)
            if self.reroute_guard:
                from .guard import guarded

                router = guarded(router)
            self._state["router"] = router
        return router

    def resolved_threshold(self) -> float:
        if self.threshold is not None:
            return self.threshold
        threshold = self._state.get("threshold")
        if threshold is None:
            assert self.strong_fraction is not None
            threshold = calibrated_threshold(self.resolved_router(), self.strong_fraction, self.calibration_prompts)
            self._state["threshold"] = threshold
        return threshold

    def resolve(self) -> ThresholdRule:
        self.resolved_router()
        self.resolved_threshold()
        return self

    @property
    def resolved(self) -> bool:
        return "router" in self._state and (self.threshold is not None or "threshold" in self._state)

    # --- decisions -------------------------------------------------------------------------------
    def decision(self, text: str, probability: float, threshold: float, name: str) -> Decision:
        """The decision for one scored text (NaN probability: an empty text, routed by ``on_empty``)."""
        if math.isnan(probability):
            if self.on_empty == "error":
                raise InvalidInputError(EMPTY_TEXT)
            role = self.on_empty
        else:
            role = role_for(probability, threshold)
        return Decision("threshold", (role, other_role(role)), probability, threshold, name, self.fallback, text=text)

    def _decisions(self, texts: list[str], probs: Sequence[float], threshold: float, name: str) -> list[Decision]:
        scored = iter(probs)
        return [self.decision(t, float(next(scored)) if t.strip() else math.nan, threshold, name) for t in texts]

    def score(self, texts: Sequence[str], gated: bool = False) -> tuple[list[str], list[float], Router]:
        """The checked texts, P(strong wins) of each non-empty one (one router call), and the router.

        ``gated``: with the reroute guard, score a text's forms only where its whole text reaches
        the threshold (below it the text is weak either way), so the scores decide as the full guard.
        """
        texts = checked_texts(texts, self.on_empty)
        router = self.resolved_router()
        gate = getattr(router, "predict_gated", None) if gated else None
        threshold = self.resolved_threshold() if gate else math.nan
        scored = [t for t in texts if t.strip()]
        with scoring_lock(router):
            scores = (gate(scored, threshold) if gate else router.predict_proba(scored)) if scored else []
        return texts, [float(p) for p in scores], router

    async def ascore(self, texts: Sequence[str], gated: bool = False) -> tuple[list[str], list[float], Router]:
        """:meth:`score` without blocking the event loop (micro-batched with concurrent calls).

        Gated, the whole texts are scored first and the forms of those that reach the threshold
        next, both through the same batcher (so the forms spread over its workers).
        """
        texts = checked_texts(texts, self.on_empty)
        if not self.resolved:
            await asyncio.to_thread(self.resolve)  # loading and calibrating are slow: off the loop
        router = self.resolved_router()
        scored = [t for t in texts if t.strip()]
        if not (gated and hasattr(router, "predict_gated")):
            probs = [float(p) for p in await score_async(router, scored, self.max_batch)] if scored else []
            return texts, probs, router
        threshold, inner = self.resolved_threshold(), router.inner  # type: ignore[attr-defined]
        raw = [float(p) for p in await score_async(inner, scored, self.max_batch)] if scored else []
        forms, form_texts = router.forms_to_score(scored, raw, threshold)  # type: ignore[attr-defined]
        form_scores = await score_async(inner, form_texts, self.max_batch) if form_texts else []
        return texts, [float(p) for p in router.combine(scored, raw, forms, form_scores)], router  # type: ignore[attr-defined]

    def decide(self, texts: Sequence[str]) -> list[Decision]:
        """One decision per text, from one router call (with the reroute guard: forms only where they matter)."""
        texts, probs, router = self.score(texts, gated=True)
        return self._decisions(texts, probs, self.resolved_threshold(), self.name(router))

    async def adecide(self, texts: Sequence[str]) -> list[Decision]:
        """:meth:`decide` without blocking the event loop.

        Scoring runs in one worker thread; texts from concurrent calls on the same router that
        arrive while it is busy are scored together in the next router call (micro-batching).
        """
        texts, probs, router = await self.ascore(texts, gated=True)
        return self._decisions(texts, probs, self.resolved_threshold(), self.name(router))
