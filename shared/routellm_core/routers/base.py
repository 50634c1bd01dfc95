"""The router interface: a batch of prompts in, P(strong model wins) out.

Estimator style (scikit-learn): parameters in ``__init__``, ``fit(records)`` learns,
``predict_proba(prompts)`` scores. ``route`` turns a score into a decision: strong iff P >= threshold.
"""

from __future__ import annotations

import math
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from ..decision import Decision
from ..errors import InvalidInputError, RouteLLMError
from ..records import PreferenceRecord

Role = Literal["strong", "weak"]

_scoring_locks: weakref.WeakKeyDictionary[Router, threading.Lock] = weakref.WeakKeyDictionary()
_scoring_locks_guard = threading.Lock()


def scoring_lock(router: Router) -> threading.Lock:
    """One lock per router object, for integrations that score from many threads.

    Scoring already uses every core (torch / BLAS threads), so concurrent calls on one router
    only oversubscribe the CPU; serialising them per router keeps latency steady without a
    global lock across routers.
    """
    with _scoring_locks_guard:
        lock = _scoring_locks.get(router)
        if lock is None:
            lock = _scoring_locks[router] = threading.Lock()
        return lock


# The decision type (one for every strategy); ``RoutingDecision(role, probability, threshold, router)``
# builds a strong/weak one, as the class of that name did.
RoutingDecision = Decision.pair


def role_for(probability: float, threshold: float) -> Role:
    """The routing rule, written once: strong iff P(strong wins) >= threshold."""
    return "strong" if probability >= threshold else "weak"


def check_threshold(threshold: float | str) -> float:
    """A threshold must be a finite number in [0, 1]."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise InvalidInputError(f"threshold must be a number in [0, 1], got {threshold!r}") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"threshold must be in [0, 1], got {threshold!r}")
    return value


def check_prompts(prompts: Sequence[str]) -> list[str]:
    """Prompts must be a list of non-empty strings."""
    if isinstance(prompts, str):
        raise InvalidInputError("expected a list of prompts, got a single string")
    out = list(prompts)
    for i, p in enumerate(out):
        if not isinstance(p, str):
            raise InvalidInputError(f"prompt {i} is {type(p).__name__}, expected str")
        if not p.strip():
            raise InvalidInputError("prompt is empty" if len(out) == 1 else f"prompt {i} is empty")
    return out


class Router(ABC):
    """Base class for every router."""

    name: ClassVar[str] = "router"
    trainable: ClassVar[bool] = True

    @abstractmethod
    def _predict(self, prompts: list[str]) -> np.ndarray:
        """P(strong wins) for validated prompts, shape (n,)."""

    def predict_proba(self, prompts: Sequence[str]) -> np.ndarray:
        """P(strong model wins) for each prompt, a float array in [0, 1]."""
        prompts = check_prompts(prompts)
        if not prompts:
            return np.zeros(0, dtype=np.float64)
        probs = np.asarray(self._predict(prompts), dtype=np.float64).reshape(-1)
        return np.clip(probs, 0.0, 1.0)

    def win_rate(self, prompt: str) -> float:
        return float(self.predict_proba([prompt])[0])

    def route(self, prompt: str, threshold: float) -> Decision:
        """Strong iff P(strong wins) >= threshold."""
        return self.route_batch([prompt], threshold)[0]

    def route_batch(self, prompts: Sequence[str], threshold: float) -> list[Decision]:
        """Route many prompts with one router call."""
        threshold = check_threshold(threshold)
        probs = self.predict_proba(prompts)
        return [
            RoutingDecision(role_for(p, threshold), float(p), threshold, self.name) for p in probs
        ]

    def fit(self, records: Sequence[PreferenceRecord]) -> Router:
        raise RouteLLMError(f"router {self.name!r} cannot be trained")

    # Constructor parameters that are run-time options, not part of what config.json stores.
    unsaved_params: ClassVar[tuple[str, ...]] = ()
    # Parameters kept under another attribute name (e.g. ``embedder`` -> ``embedder_spec``).
    param_attributes: ClassVar[dict[str, str]] = {}

    @classmethod
    def param_names(cls) -> list[str]:
        """The constructor's parameter names, base classes' first (scikit-learn style: read from the signatures)."""
        import inspect

        names: list[str] = []
        for klass in reversed(cls.__mro__):
            init = vars(klass).get("__init__")
            if init is None or klass is object:
                continue
            names += [p.name for p in inspect.signature(init).parameters.values()
                      if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in names]
        return names

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (from the signature, as scikit-learn does), stored in config.json."""
        return {name: getattr(self, self.param_attributes.get(name, name)) for name in self.param_names()
                if name not in self.unsaved_params}

    def save(self, path: str | Path) -> Path:
        raise RouteLLMError(f"router {self.name!r} has nothing to save")

    @classmethod
    def load(cls, path: str | Path) -> Router:
        raise RouteLLMError(f"router {cls.name!r} cannot be loaded from a checkpoint")

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


class StrongWeakPair:
    """Mixin for routers trained on many models: which ids stand for strong and weak is set at inference."""

    strong_model: str
    weak_model: str

    def _model_index(self, model: str, models: Sequence[str]) -> int:
        from ..models import canonical_model_name

        name = canonical_model_name(model)
        if name not in models:
            raise InvalidInputError(
                f"model {model!r} was not in this router's training data; known models: {', '.join(sorted(models)[:20])}"
                + (" ..." if len(models) > 20 else "")
            )
        return list(models).index(name)
