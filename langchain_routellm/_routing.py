"""Routing shared by ChatRouteLLM and RouteLLMRunnable.

One place decides which text a call is routed on, which router and threshold it uses (with the
per-call ``configurable`` overrides LangChain users pass through chain kwargs), and what metadata
the answer carries. Routers come from ``routellm_core.load_router``, which caches them, so models
that LangChain rebuilds on every call (configurable fields) never reload weights.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from langchain_core.messages import BaseMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field, field_validator

from routellm_core import InvalidInputError, Router, RoutingDecision, calibrate_threshold, load_router
from routellm_core.routers.base import check_threshold, scoring_lock

# Keys of ``config["configurable"]`` that change routing for one call.
CONFIG_THRESHOLD = "routellm_threshold"
CONFIG_ROUTER = "routellm_router"
CONFIG_STRONG_FRACTION = "routellm_strong_fraction"
OVERRIDE_KEYS = (CONFIG_THRESHOLD, CONFIG_ROUTER, CONFIG_STRONG_FRACTION)
# A decision computed ahead of time by ``batch`` (one router call for all inputs); internal.
CONFIG_DECISION = "__routellm_decision"

ROUTE_MODES = ("last_human", "conversation")
RouteOn = Literal["last_human", "conversation"] | str | Callable[[Any], str]

_ROLE_NAMES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}


# --- what text is routed ------------------------------------------------------------------------
def _checked(text: Any, where: str) -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"route_on returned {type(text).__name__}, expected str ({where})")
    if not text.strip():
        raise InvalidInputError(f"nothing to route on: the routed text is empty ({where})")
    return text


def conversation_text(messages: Sequence[BaseMessage]) -> str:
    """Every message's text as ``role: text`` lines (non-text blocks such as images are skipped)."""
    lines = [f"{_ROLE_NAMES.get(m.type, m.type)}: {m.text.strip()}" for m in messages if m.text.strip()]
    return "\n".join(lines)


def messages_text(messages: Sequence[BaseMessage], route_on: RouteOn = "last_human") -> str:
    """The text a router sees for a chat input.

    ``"last_human"``: the text of the last human message (the whole conversation if that message
    has no text, e.g. an image only); ``"conversation"``: all messages; a callable gets the messages.
    """
    if callable(route_on):
        return _checked(route_on(list(messages)), "route_on callable")
    if route_on == "last_human":
        for message in reversed(messages):
            if message.type == "human":
                if message.text.strip():
                    return message.text
                break
        return _checked(conversation_text(messages), "route_on='last_human' found no human text")
    if route_on == "conversation":
        return _checked(conversation_text(messages), "route_on='conversation'")
    raise InvalidInputError(f"route_on must be 'last_human', 'conversation' or a callable, got {route_on!r}")


def input_text(value: Any, route_on: RouteOn = "last_human") -> str:
    """The text a router sees for any Runnable input: str, messages, a PromptValue or a dict.

    For a dict, ``route_on`` names the key to route on (a dict with a single key needs none).
    """
    if callable(route_on):
        return _checked(route_on(value), "route_on callable")
    if isinstance(value, Mapping):
        if route_on not in ROUTE_MODES:
            if route_on not in value:
                raise InvalidInputError(f"route_on={route_on!r} is not a key of the input (keys: {', '.join(map(str, value))})")
            return input_text(value[route_on], "last_human")
        if len(value) == 1:
            return input_text(next(iter(value.values())), route_on)
        raise InvalidInputError(f"the input is a dict with keys {', '.join(map(str, value))}: set route_on to the key "
                                "that holds the text to route on, or to a callable")
    if route_on not in ROUTE_MODES:
        raise InvalidInputError(f"route_on={route_on!r} names a dict key, but the input is a {type(value).__name__}")
    if isinstance(value, str):
        return _checked(value, "input string")
    if isinstance(value, PromptValue):
        return messages_text(value.to_messages(), route_on)
    if isinstance(value, BaseMessage):
        return messages_text([value], route_on)
    if isinstance(value, Sequence):
        try:
            messages = convert_to_messages(value)
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise InvalidInputError(f"cannot read messages to route on: {exc}") from None
        return messages_text(messages, route_on)
    raise InvalidInputError(f"cannot route an input of type {type(value).__name__}: pass str, messages, a dict "
                            "or set route_on to a callable")


# --- routers, thresholds, locks -----------------------------------------------------------------
_calibrated: weakref.WeakKeyDictionary[Router, dict[tuple, float]] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()
_embedders: dict[int, tuple[Any, Any]] = {}


def router_embedder(embeddings: Any):
    """Wrap a LangChain ``Embeddings`` as a routellm_core embedder (one wrapper per object, so caches hold)."""
    from routellm_core.embeddings import CallableEmbedder, Embedder

    if isinstance(embeddings, Embedder):
        return embeddings
    if not callable(getattr(embeddings, "embed_documents", None)):
        raise InvalidInputError(f"embeddings must be a LangChain Embeddings (with embed_documents), got {type(embeddings).__name__}")
    with _registry_lock:
        hit = _embedders.get(id(embeddings))
        if hit is None or hit[0] is not embeddings:
            model_id = (getattr(embeddings, "model_id", None) or getattr(embeddings, "model", None)
                        or getattr(embeddings, "model_name", None) or type(embeddings).__name__)
            hit = (embeddings, CallableEmbedder(fn=embeddings.embed_documents, model_id=f"langchain:{model_id}"))
            _embedders[id(embeddings)] = hit
        return hit[1]


def _uses_embedder(spec: Any) -> bool:
    """Whether the router named by ``spec`` embeds prompts (so an ``embedder=`` override applies)."""
    from routellm_core.routers.checkpoint import read_config
    from routellm_core.routers.embedding_router import EmbeddingRouter
    from routellm_core.routers.registry import router_class, router_names

    text = str(spec).strip()
    try:
        name = text if text in router_names() else read_config(text).get("router", "mf")
        return issubclass(router_class(name), EmbeddingRouter)
    except Exception:  # noqa: BLE001 -- let load_router report the real problem
        return True


def resolve_router(spec: Any, embeddings: Any = None, router_kwargs: Mapping[str, Any] | None = None) -> Router:
    """A Router object from a name, checkpoint path or Router (cached by ``load_router``)."""
    if isinstance(spec, Router):
        return spec
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        raise InvalidInputError("router is empty: give a router name (e.g. 'mf'), a checkpoint path or a Router")
    kwargs = dict(router_kwargs or {})
    if embeddings is not None and _uses_embedder(spec):
        kwargs["embedder"] = router_embedder(embeddings)
    return load_router(spec, **kwargs)


def calibrated_threshold(router: Router, strong_fraction: float, prompts: Sequence[str]) -> float:
    """The threshold sending ``strong_fraction`` of ``prompts`` to the strong model, computed once per router."""
    if not prompts:
        raise InvalidInputError("strong_fraction needs calibration_prompts: a sample of prompts like the ones you will route")
    key = (float(strong_fraction), len(prompts), hash(tuple(prompts)))
    with _registry_lock:
        cached = _calibrated.get(router, {}).get(key)
    if cached is not None:
        return cached
    with scoring_lock(router):
        value = calibrate_threshold(router, list(prompts), strong_fraction)
    with _registry_lock:
        _calibrated.setdefault(router, {})[key] = value
    return value


@dataclass(frozen=True)
class RoutingSpec:
    """Everything that decides a route, after per-call overrides are applied."""

    router: Any = "mf"
    threshold: float | None = None
    strong_fraction: float | None = None
    calibration_prompts: tuple[str, ...] = ()
    embeddings: Any = None
    router_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def with_overrides(self, overrides: Mapping[str, Any]) -> RoutingSpec:
        """Apply ``routellm_threshold`` / ``routellm_strong_fraction`` / ``routellm_router`` for one call."""
        spec = self
        if overrides.get(CONFIG_ROUTER) is not None:
            spec = replace(spec, router=overrides[CONFIG_ROUTER])
        if overrides.get(CONFIG_STRONG_FRACTION) is not None:
            spec = replace(spec, threshold=None, strong_fraction=overrides[CONFIG_STRONG_FRACTION])
        if overrides.get(CONFIG_THRESHOLD) is not None:
            spec = replace(spec, threshold=check_threshold(overrides[CONFIG_THRESHOLD]))
        return spec

    def resolve(self) -> tuple[Router, float]:
        """The router object and the threshold this spec routes with."""
        router = resolve_router(self.router, self.embeddings, self.router_kwargs)
        if self.threshold is not None:
            return router, check_threshold(self.threshold)
        if self.strong_fraction is None:
            raise InvalidInputError("set threshold=... or strong_fraction=... (with calibration_prompts) to route")
        return router, calibrated_threshold(router, self.strong_fraction, self.calibration_prompts)


def route_texts(specs: Sequence[RoutingSpec], texts: Sequence[str]) -> list[RoutingDecision]:
    """Route many texts: one ``predict_proba`` call per distinct router, each text with its own threshold."""
    resolved = [spec.resolve() for spec in specs]
    groups: dict[int, list[int]] = {}
    for i, (router, _) in enumerate(resolved):
        groups.setdefault(id(router), []).append(i)
    decisions: list[RoutingDecision | None] = [None] * len(texts)
    for indices in groups.values():
        router = resolved[indices[0]][0]
        with scoring_lock(router):
            probs = router.predict_proba([texts[i] for i in indices])
        for i, p in zip(indices, probs):
            threshold = resolved[i][1]
            decisions[i] = RoutingDecision("strong" if p >= threshold else "weak", float(p), threshold, router.name)
    return decisions  # type: ignore[return-value]


# --- per-call overrides from config ----------------------------------------------------------------
def config_overrides(config: RunnableConfig | None) -> dict[str, Any]:
    """The routing overrides in ``config["configurable"]`` (threshold, router, strong_fraction, decision)."""
    configurable = (config or {}).get("configurable") or {}
    out = {k: configurable[k] for k in OVERRIDE_KEYS if configurable.get(k) is not None}
    if isinstance(configurable.get(CONFIG_DECISION), Mapping):
        out["routellm_decision"] = dict(configurable[CONFIG_DECISION])
    return out


def without_decision(config: RunnableConfig) -> RunnableConfig:
    """``config`` minus a precomputed decision, so nested routed models route for themselves."""
    configurable = config.get("configurable") or {}
    if CONFIG_DECISION not in configurable:
        return config
    return {**config, "configurable": {k: v for k, v in configurable.items() if k != CONFIG_DECISION}}


def with_decision(config: RunnableConfig, decision: RoutingDecision) -> RunnableConfig:
    return {**config, "configurable": {**(config.get("configurable") or {}), CONFIG_DECISION: decision.to_dict()}}


def pop_routing_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], RoutingDecision | None]:
    """Take routing overrides and a precomputed decision out of call kwargs."""
    overrides = {k: kwargs.pop(k) for k in OVERRIDE_KEYS if k in kwargs}
    raw = kwargs.pop("routellm_decision", None)
    decision = RoutingDecision(**raw) if isinstance(raw, Mapping) else raw
    return {k: v for k, v in overrides.items() if v is not None}, decision


# --- metadata --------------------------------------------------------------------------------------
def model_name(runnable: Any) -> str:
    """A readable name for the model behind a role: its configured model name, else its class name."""
    bound = getattr(runnable, "bound", None)
    if bound is not None and not hasattr(runnable, "_get_ls_params"):
        return model_name(bound)
    for step in getattr(runnable, "steps", None) or ():  # a chain: name it after its (first) model
        inner = getattr(step, "bound", step)
        if hasattr(inner, "_get_ls_params"):
            return model_name(inner)
    for attr in ("model_name", "model", "model_id"):
        value = getattr(runnable, attr, None)
        if isinstance(value, str) and value:
            return value
    get_ls = getattr(runnable, "_get_ls_params", None)
    if callable(get_ls):
        try:
            name = get_ls().get("ls_model_name")
        except Exception:  # noqa: BLE001 -- a name is best effort
            name = None
        if name:
            return str(name)
    return runnable.get_name() if hasattr(runnable, "get_name") else type(runnable).__name__


def routing_metadata(decision: RoutingDecision, role: str, model: str, fallback: bool,
                     error: BaseException | None = None) -> dict[str, Any]:
    """``response_metadata["routellm"]``: who answered, why, and whether it was a fallback."""
    meta: dict[str, Any] = {"role": role, "model": model, "probability": decision.probability,
                            "threshold": decision.threshold, "router": decision.router, "fallback": fallback,
                            "routed_role": decision.role}
    if fallback and error is not None:
        meta["fallback_error"] = f"{type(error).__name__}: {error}"[:300]
    return meta


def run_metadata(decision: RoutingDecision, role: str, model: str, fallback: bool) -> dict[str, Any]:
    """Flat metadata for the chosen model's child run (searchable in tracing tools)."""
    return {"routellm_role": role, "routellm_model": model, "routellm_probability": decision.probability,
            "routellm_threshold": decision.threshold, "routellm_router": decision.router, "routellm_fallback": fallback}


def attempts(decision: RoutingDecision, fallback: bool) -> list[tuple[str, bool]]:
    """Roles to try in order, each with whether it is a fallback."""
    other = "weak" if decision.role == "strong" else "strong"
    return [(decision.role, False), (other, True)] if fallback else [(decision.role, False)]


def both_failed(first: BaseException, second: BaseException | None) -> BaseException:
    """The original error, noting that the fallback failed too."""
    if second is not None and hasattr(first, "add_note"):
        first.add_note(f"RouteLLM fallback also failed: {type(second).__name__}: {second}")
    return first


# --- the fields both integrations share ---------------------------------------------------------------
class RoutingFields(BaseModel):
    """Router settings: a router (name, checkpoint path or Router) and a threshold or strong-call share."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    router: Any = "mf"
    """A router name (``"mf"``, ``"sw_ranking"``, ``"random"``...), a checkpoint directory, or a Router."""
    threshold: float | None = None
    """Route to the strong model iff P(strong wins) >= threshold."""
    strong_fraction: float | None = None
    """Instead of a threshold: the share of ``calibration_prompts`` that should go to the strong model."""
    calibration_prompts: list[str] | None = None
    route_on: Any = "last_human"
    """``"last_human"``, ``"conversation"``, a dict key (RouteLLMRunnable) or a callable returning the text."""
    fallback: bool = True
    """If the chosen model fails, let the other one answer."""
    embeddings: Any = None
    """A LangChain ``Embeddings`` the router embeds prompts with (for routers trained with the same vectors)."""
    router_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra arguments for loading the router (e.g. ``strong_model``/``weak_model`` of an MF router)."""

    @field_validator("threshold")
    @classmethod
    def _threshold_in_range(cls, value: float | None) -> float | None:
        return None if value is None else check_threshold(value)

    @field_validator("strong_fraction")
    @classmethod
    def _fraction_in_range(cls, value: float | None) -> float | None:
        if value is not None and not 0.0 <= float(value) <= 1.0:
            raise InvalidInputError(f"strong_fraction must be in [0, 1], got {value!r}")
        return value

    def _check_routing_fields(self) -> None:
        if self.threshold is None and self.strong_fraction is None:
            raise InvalidInputError("set threshold=... or strong_fraction=... (with calibration_prompts) to route")
        if self.threshold is None and not self.calibration_prompts:
            raise InvalidInputError("strong_fraction needs calibration_prompts: a sample of prompts like the ones you will route")
        if not (callable(self.route_on) or isinstance(self.route_on, str)):
            raise InvalidInputError(f"route_on must be 'last_human', 'conversation', a dict key or a callable, got {self.route_on!r}")

    def routing_spec(self) -> RoutingSpec:
        return RoutingSpec(router=self.router, threshold=self.threshold, strong_fraction=self.strong_fraction,
                           calibration_prompts=tuple(self.calibration_prompts or ()), embeddings=self.embeddings,
                           router_kwargs=dict(self.router_kwargs))

    def router_label(self) -> str:
        return self.router.name if isinstance(self.router, Router) else str(self.router)
