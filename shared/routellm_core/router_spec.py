"""From a router setting to a Router, and from a strong share to a threshold (both cached).

A router is named (``"mf"``), a checkpoint path, or a Router object, with an optional embedder
(a framework's embeddings wrapped once per object, so embedding caches hold).
"""

from __future__ import annotations

import copy
import os
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .calibration import calibrate_threshold, threshold_for_fraction
from .errors import InvalidInputError, RouteLLMError
from .routers.base import Router, check_threshold, scoring_lock
from .routers.registry import load_router

RouterSpec = str | os.PathLike[str] | Router


# --- embedders: one wrapper per framework object, so embedding caches and router caches hold ----------
_wrappers: dict[int, tuple[Any, Any]] = {}
_wrappers_lock = threading.Lock()


def _forget(key: int) -> None:
    with _wrappers_lock:
        _wrappers.pop(key, None)


def callable_embedder(owner: Any, fn: Callable[[list[str]], Any], model_id: str) -> Any:
    """A routellm_core embedder calling ``fn`` (a framework's batch embed), one per ``owner`` object.

    The wrapper lives as long as ``owner`` does (it is dropped when ``owner`` is collected).
    """
    from .embeddings import CallableEmbedder

    with _wrappers_lock:
        hit = _wrappers.get(id(owner))
        if hit is not None and hit[0]() is owner:
            return hit[1]
        wrapper = CallableEmbedder(fn=fn, model_id=model_id)
        try:
            ref = weakref.ref(owner)
            weakref.finalize(owner, _forget, id(owner))
        except TypeError:  # not weak-referenceable: not cached
            return wrapper
        _wrappers[id(owner)] = (ref, wrapper)
        return wrapper


def _uses_embedder(spec: RouterSpec) -> bool:
    """Whether the router named by ``spec`` embeds prompts (so an embedder applies to it)."""
    from .routers.checkpoint import read_config
    from .routers.embedding_router import EmbeddingRouter
    from .routers.registry import router_class, router_names

    text = str(spec).strip()
    try:
        name = text if text in router_names() else read_config(text).get("router", "mf")
        return issubclass(router_class(name), EmbeddingRouter)
    except RouteLLMError:  # let load_router report the real problem
        return True


def resolve_router(spec: RouterSpec, embedder: Any = None, router_kwargs: Mapping[str, Any] | None = None) -> Router:
    """A Router from a name, checkpoint path or object (names and paths cached by ``load_router``).

    With ``embedder``: a named router that embeds is loaded with it; a Router object is copied with
    it (the caller's object stays unchanged); a named router that does not embed ignores it.
    """
    if isinstance(spec, Router):
        if embedder is None:
            return spec
        if not hasattr(spec, "embedder"):
            raise InvalidInputError(f"router {spec.name!r} does not use an embedder, so an embedder cannot apply to it")
        routed = copy.copy(spec)
        routed.embedder = embedder  # type: ignore[attr-defined]
        return routed
    if spec is None or not str(spec).strip():
        raise InvalidInputError("router is empty: give a router name (e.g. 'mf'), a checkpoint path or a Router")
    kwargs = dict(router_kwargs or {})
    if embedder is not None and _uses_embedder(spec):
        kwargs["embedder"] = embedder
    return load_router(spec, **kwargs)


# --- calibration: a strong share -> a threshold, once per (router, share, prompts) ----------------------
_calibrated: weakref.WeakKeyDictionary[Router, dict[tuple, float]] = weakref.WeakKeyDictionary()
_calibrated_lock = threading.Lock()


def calibrated_threshold(router: Router, strong_fraction: float, prompts: Sequence[str]) -> float:
    """The threshold sending ``strong_fraction`` of ``prompts`` to the strong model (cached)."""
    key = (float(strong_fraction), len(prompts), hash(tuple(prompts)))
    with _calibrated_lock:
        cached = _calibrated.get(router, {}).get(key)
    if cached is not None:
        return cached
    with scoring_lock(router):
        value = calibrate_threshold(router, list(prompts), strong_fraction)
    with _calibrated_lock:
        _calibrated.setdefault(router, {})[key] = value
    return value


def check_mode(threshold: float | None, strong_fraction: float | None,
               calibration_prompts: Sequence[str] | None) -> None:
    """Exactly one of threshold / strong_fraction (with calibration prompts), each in range."""
    if threshold is not None and strong_fraction is not None:
        raise InvalidInputError("give either threshold or strong_fraction, not both")
    if threshold is not None:
        check_threshold(threshold)
        return
    if strong_fraction is None:
        raise InvalidInputError("set threshold=... or strong_fraction=... (with calibration_prompts) to route")
    threshold_for_fraction([0.5], strong_fraction)  # raises on a fraction outside [0, 1]
    if isinstance(calibration_prompts, str) or not calibration_prompts:
        raise InvalidInputError("strong_fraction needs calibration_prompts: a sample of prompts like the ones you will route")
