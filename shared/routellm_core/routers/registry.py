"""Router names -> classes, and ``load_router`` for a name, checkpoint path or router object.

Trained routers referred to by bare name (``"mf"``, ``"sw_ranking"``) resolve to their default
checkpoint (see :mod:`.defaults`): shipped with the package, or trained explicitly into the cache.
Loading never trains; a missing checkpoint raises :class:`CheckpointError` saying how to build it.
"""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path

from ..errors import CheckpointError, UnknownRouterError
from .base import Router
from .checkpoint import read_config

# name -> "module:Class" (imported lazily: bert/causal_llm pull in torch + transformers)
_ROUTER_CLASSES: dict[str, str] = {
    "random": "routellm_core.routers.random_router:RandomRouter",
    "sw_ranking": "routellm_core.routers.sw_ranking:SWRankingRouter",
    "mf": "routellm_core.routers.mf:MFRouter",
    "bert": "routellm_core.routers.bert:BertRouter",
    "causal_llm": "routellm_core.routers.causal_llm:CausalLLMRouter",
}
_loaded: dict[tuple, Router] = {}
_lock = threading.Lock()


def register_router(name: str, target: str | type[Router]) -> None:
    """Make a router class loadable by name (``"pkg.module:Class"`` or the class itself)."""
    _ROUTER_CLASSES[name] = target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"


def router_names() -> list[str]:
    return sorted(_ROUTER_CLASSES)


def router_class(name: str) -> type[Router]:
    """The class registered under ``name``."""
    if name not in _ROUTER_CLASSES:
        raise UnknownRouterError(f"unknown router {name!r}; choose one of {', '.join(router_names())} or a checkpoint path")
    module, _, attr = _ROUTER_CLASSES[name].partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        raise UnknownRouterError(f"router {name!r} needs an optional dependency that is missing: {exc.name} "
                                 f"(pip install 'routellm-plugin[train]')") from None


def load_checkpoint(path: str | os.PathLike[str], **kwargs) -> Router:
    """Load any router from its checkpoint directory (the class is named in config.json)."""
    config = read_config(path)
    name = config.get("router")
    if name is None and {"dim", "num_models"} <= set(config):
        name = "mf"  # RouteLLM's published MF format
    if name is None and ("architectures" in config or "model_type" in config):
        name = "bert"  # a Hugging Face sequence-classification folder (RouteLLM's BERT format)
    if name is None:
        raise CheckpointError(f"checkpoint {path}: config.json does not say which router it is ('router' key)")
    return router_class(name).load(Path(path), **kwargs)


def load_router(router: str | os.PathLike[str] | Router, cache: bool = True, **kwargs) -> Router:
    """A router from a Router object, a checkpoint directory, or a registered name.

    Instances are cached per (name/path, kwargs) so integrations that rebuild a model per call
    (LangChain's configurable fields) never reload weights.
    """
    if isinstance(router, Router):
        return router
    key = (str(router), tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
    with _lock:
        if cache and key in _loaded:
            return _loaded[key]
        result = _resolve(router, **kwargs)
        if cache:
            _loaded[key] = result
        return result


def _resolve(router: str | os.PathLike[str], **kwargs) -> Router:
    text = str(router).strip()
    if not text:
        raise UnknownRouterError("router name is empty")
    path = Path(text).expanduser()
    from .defaults import STATIC_NAMES, find_default_checkpoint

    if text in _ROUTER_CLASSES:
        cls = router_class(text)
        if not cls.trainable:
            return cls(**kwargs)
        return cls.load(find_default_checkpoint(text), **kwargs)
    if text in STATIC_NAMES:  # "mf-static": the opt-in fast router shipped with the package
        return load_checkpoint(find_default_checkpoint(text), **kwargs)
    if path.exists() or os.sep in text or text.startswith("."):
        return load_checkpoint(path, **kwargs)
    raise UnknownRouterError(f"unknown router {text!r}; choose one of {', '.join(router_names())} or a checkpoint path")
