"""The decision layer: the one place that turns a text into "strong" or "weak".

Every front-end (LangChain, LlamaIndex, the HTTP server, the CLI) holds a :class:`RoutingPolicy`
and asks it for decisions; none of them compares a probability with a threshold itself. The
policy owns the router (name, checkpoint or object, with an optional embedder), the threshold or
the strong share it is calibrated from, which text of a chat is routed on, the rule for an empty
text, whether a failed call falls back to the other model, and the metadata every answer carries.

Rules chosen where the front-ends used to disagree (see docs/configuration.md):

- an empty routed text is an :class:`InvalidInputError` (server: 400) unless ``on_empty`` says
  which role answers such calls;
- ``threshold`` and ``strong_fraction`` together are an error; a per-call value replaces the
  instance's mode;
- the routed chat text is the last *user* message with text (``route_on="last_user"``;
  ``"last_human"`` is accepted as an alias);
- metadata always has the same keys (:data:`METADATA_FIELDS`), the fallback's cause is
  ``fallback_error``.
"""

from __future__ import annotations

import asyncio
import copy
import math
import os
import threading
import weakref
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from .batching import score_async
from .calibration import calibrate_threshold, threshold_for_fraction
from .errors import InvalidInputError, RouteLLMError
from .routers.base import Role, Router, RoutingDecision, check_threshold, role_for, scoring_lock
from .routers.registry import load_router

RouterSpec = str | os.PathLike[str] | Router
RouteOn = Literal["last_user", "conversation"] | Callable[..., str]
OnEmpty = Literal["error", "strong", "weak"]

ROUTE_MODES = ("last_user", "conversation")
ROUTE_MODE_ALIASES = {"last_human": "last_user"}
ON_EMPTY = ("error", "strong", "weak")
# The keys of every answer's routing metadata, in every front-end.
METADATA_FIELDS = ("role", "model", "routed_role", "probability", "threshold", "router", "fallback", "fallback_error")
# Per-call override names (LangChain ``configurable`` keys, call kwargs).
OVERRIDE_KEYS = ("routellm_threshold", "routellm_strong_fraction", "routellm_router")
EMPTY_TEXT = "nothing to route on: the routed text is empty"
MODEL_PREFIX = "router-"

_ROLE_NAMES = {"human": "user", "ai": "assistant", "function": "tool", "developer": "system", "chatbot": "assistant",
               "model": "assistant"}


class Turn(NamedTuple):
    """One chat message as the policy sees it: a normalised role and its text (non-text parts dropped)."""

    role: str
    text: str


class Attempt(NamedTuple):
    """One model to try for a decision, in order; ``fallback`` is true for the second try."""

    role: Role
    fallback: bool


def other_role(role: Role) -> Role:
    return "weak" if role == "strong" else "strong"


def normalize_role(role: Any) -> str:
    """``human``/``ai``/``MessageRole.USER``... -> ``user``/``assistant``/``system``/``tool``."""
    name = str(getattr(role, "value", role)).lower()
    return _ROLE_NAMES.get(name, name)


def check_route_on(route_on: Any) -> RouteOn:
    """A route mode name (aliases resolved) or a callable; anything else is an error naming the choices."""
    if callable(route_on):
        return route_on
    if isinstance(route_on, str):
        mode = ROUTE_MODE_ALIASES.get(route_on, route_on)
        if mode in ROUTE_MODES:
            return mode  # type: ignore[return-value]
    raise InvalidInputError(f"route_on must be 'last_user', 'conversation' or a callable, got {route_on!r}")


def conversation_text(turns: Sequence[Turn]) -> str:
    """Every message with text as ``role: text`` lines (system and tool messages included)."""
    return "\n".join(f"{t.role}: {t.text.strip()}" for t in turns if t.text and t.text.strip())


def turns_text(turns: Sequence[Turn], mode: str = "last_user") -> str:
    """The routed text of a chat: the last user message that has text, or the whole conversation.

    Returns ``""`` when there is nothing to route on; :meth:`RoutingPolicy.decide` applies the
    empty-text rule to it.
    """
    mode = ROUTE_MODE_ALIASES.get(mode, mode)
    if mode == "conversation":
        return conversation_text(turns)
    if mode != "last_user":
        raise InvalidInputError(f"route_on must be 'last_user', 'conversation' or a callable, got {mode!r}")
    for turn in reversed(turns):
        if normalize_role(turn.role) == "user" and turn.text and turn.text.strip():
            return turn.text
    return ""


def content_text(content: Any) -> str:
    """The text of an OpenAI-style ``content`` (a string, or a list of parts of which text parts count)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content
                        if isinstance(part, dict) and part.get("type", "text") == "text")
    return ""


def openai_turns(messages: Sequence[Mapping[str, Any]]) -> list[Turn]:
    """OpenAI chat ``messages`` (dicts) as turns."""
    return [Turn(normalize_role(m.get("role", "")), content_text(m.get("content"))) for m in messages]


# --- embedders: one wrapper per framework object, so embedding caches and router caches hold ----------
_wrappers: dict[int, tuple[Any, Any]] = {}
_wrappers_lock = threading.Lock()


def callable_embedder(owner: Any, fn: Callable[[list[str]], Any], model_id: str) -> Any:
    """A routellm_core embedder calling ``fn`` (a framework's batch embed), one per ``owner`` object."""
    from .embeddings import CallableEmbedder

    with _wrappers_lock:
        hit = _wrappers.get(id(owner))
        if hit is None or hit[0] is not owner:
            hit = (owner, CallableEmbedder(fn=fn, model_id=model_id))
            _wrappers[id(owner)] = hit
        return hit[1]


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


# --- the policy ----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RoutingPolicy:
    """Router + threshold (or calibrated strong share) + routing rules: texts in, decisions out.

    Thread-safe and cheap to copy: the router loads on first use (cached per process by
    ``load_router``), the calibrated threshold is computed once per router and prompt sample.

    >>> policy = RoutingPolicy("random", threshold=0.5)
    >>> policy.decide(["What is 2 + 2?"])[0].role in ("strong", "weak")
    True
    """

    router: RouterSpec = "mf"
    threshold: float | None = None
    strong_fraction: float | None = None
    calibration_prompts: tuple[str, ...] = ()
    embedder: Any = None
    router_kwargs: Mapping[str, Any] | None = None
    route_on: RouteOn = "last_user"
    on_empty: OnEmpty = "error"
    fallback: bool = True
    max_batch: int = 256
    label: str | None = None
    _state: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        prompts = self.calibration_prompts
        object.__setattr__(self, "calibration_prompts", tuple(prompts or ()) if not isinstance(prompts, str) else prompts)
        check_mode(self.threshold, self.strong_fraction, self.calibration_prompts)
        if self.threshold is not None:
            object.__setattr__(self, "threshold", check_threshold(self.threshold))
        object.__setattr__(self, "route_on", check_route_on(self.route_on))
        if self.on_empty not in ON_EMPTY:
            raise InvalidInputError(f"on_empty must be one of {', '.join(ON_EMPTY)}, got {self.on_empty!r}")
        if self.router is None or (isinstance(self.router, str) and not self.router.strip()):
            raise InvalidInputError("router is empty: give a router name (e.g. 'mf'), a checkpoint path or a Router")

    # --- settings --------------------------------------------------------------------------------
    @property
    def router_label(self) -> str:
        """The name decisions report: ``label``, else the router's name (``mf``) or the spec it was given as."""
        if self.label:
            return self.label
        return self.router.name if isinstance(self.router, Router) else str(self.router)

    def _name(self, router: Router) -> str:
        return self.label or router.name

    def with_overrides(self, threshold: float | None = None, strong_fraction: float | None = None,
                       router: RouterSpec | None = None) -> RoutingPolicy:
        """This policy for one call: a given threshold or strong fraction replaces the instance's mode."""
        if threshold is None and strong_fraction is None and router is None:
            return self
        changes: dict[str, Any] = {}
        if threshold is not None and strong_fraction is not None:
            raise InvalidInputError("give either routellm_threshold or routellm_strong_fraction for a call, not both")
        if threshold is not None:
            changes.update(threshold=check_threshold(threshold), strong_fraction=None)
        if strong_fraction is not None:
            changes.update(threshold=None, strong_fraction=strong_fraction)
        if router is not None:
            changes["router"] = router
        out = RoutingPolicy(**{**self.settings(), **changes})
        if router is None:  # same router: share its resolved object and calibration
            out._state.update({k: v for k, v in self._state.items() if k == "router"})
        return out

    def overrides_from(self, values: Mapping[str, Any]) -> RoutingPolicy:
        """:meth:`with_overrides` from a mapping with ``routellm_threshold``-style keys (None ignored)."""
        return self.with_overrides(threshold=values.get("routellm_threshold"),
                                   strong_fraction=values.get("routellm_strong_fraction"),
                                   router=values.get("routellm_router"))

    def settings(self) -> dict[str, Any]:
        """The constructor arguments of this policy."""
        return {"router": self.router, "threshold": self.threshold, "strong_fraction": self.strong_fraction,
                "calibration_prompts": self.calibration_prompts, "embedder": self.embedder,
                "router_kwargs": self.router_kwargs, "route_on": self.route_on, "on_empty": self.on_empty,
                "fallback": self.fallback, "max_batch": self.max_batch, "label": self.label}

    # --- resolution (lazy, cached) ---------------------------------------------------------------
    def resolved_router(self) -> Router:
        """The Router object (loaded on first use)."""
        router = self._state.get("router")
        if router is None:
            router = self._state["router"] = resolve_router(self.router, self.embedder, self.router_kwargs)
        return router

    def resolved_threshold(self) -> float:
        """The threshold given, or the one calibrated on ``calibration_prompts`` for ``strong_fraction``."""
        if self.threshold is not None:
            return self.threshold
        threshold = self._state.get("threshold")
        if threshold is None:
            assert self.strong_fraction is not None
            threshold = calibrated_threshold(self.resolved_router(), self.strong_fraction, self.calibration_prompts)
            self._state["threshold"] = threshold
        return threshold

    def resolve(self) -> RoutingPolicy:
        """Load the router and fix the threshold now (so a bad setting fails at construction)."""
        self.resolved_router()
        self.resolved_threshold()
        return self

    # --- what text is routed ---------------------------------------------------------------------
    def routed_text(self, turns: Sequence[Turn], raw: Any = None) -> str:
        """The text routed for a chat: by ``route_on`` (a callable gets ``raw``, the framework's messages)."""
        if callable(self.route_on):
            text = self.route_on(turns if raw is None else raw)
            if not isinstance(text, str):
                raise InvalidInputError(f"route_on returned {type(text).__name__}, expected str")
            return text
        return turns_text(turns, self.route_on)

    # --- decisions -------------------------------------------------------------------------------
    def _empty(self, threshold: float | None, name: str | None = None) -> RoutingDecision:
        if self.on_empty == "error":
            raise InvalidInputError(EMPTY_TEXT)
        return RoutingDecision(self.on_empty, float("nan"), float("nan") if threshold is None else threshold,
                               name or self.router_label)

    def _decisions(self, texts: list[str], probs: Sequence[float], threshold: float, name: str) -> list[RoutingDecision]:
        scored = iter(probs)
        out = []
        for text in texts:
            if not text.strip():
                out.append(self._empty(threshold, name))
                continue
            p = float(next(scored))
            out.append(RoutingDecision(role_for(p, threshold), p, threshold, name))
        return out

    def decide(self, texts: Sequence[str]) -> list[RoutingDecision]:
        """One decision per text, from one router call (strong iff P(strong wins) >= threshold)."""
        texts = checked_texts(texts, self.on_empty)
        router = self.resolved_router()
        threshold = self.resolved_threshold()
        scored = [t for t in texts if t.strip()]
        with scoring_lock(router):
            probs: Sequence[float] = list(router.predict_proba(scored)) if scored else []
        return self._decisions(texts, probs, threshold, self._name(router))

    async def adecide(self, texts: Sequence[str]) -> list[RoutingDecision]:
        """:meth:`decide` without blocking the event loop.

        Scoring runs in one worker thread; texts from concurrent calls on the same router that
        arrive while it is busy are scored together in the next router call (micro-batching).
        """
        texts = checked_texts(texts, self.on_empty)
        if "router" not in self._state or (self.threshold is None and "threshold" not in self._state):
            await asyncio.to_thread(self.resolve)  # loading and calibrating are slow: off the loop
        router, threshold = self.resolved_router(), self.resolved_threshold()
        scored = [t for t in texts if t.strip()]
        probs = await score_async(router, scored, self.max_batch) if scored else []
        return self._decisions(texts, probs, threshold, self._name(router))

    def attempts(self, decision: RoutingDecision) -> list[Attempt]:
        """The roles to try, in order: the routed one, then (with ``fallback``) the other."""
        first = Attempt(decision.role, False)
        return [first, Attempt(other_role(decision.role), True)] if self.fallback else [first]

    @staticmethod
    def strong_probability(decision: RoutingDecision) -> float:
        """P(the strong model is needed) on a scale where the threshold sits at 0.5.

        P(strong wins) is stretched piecewise-linearly so that 0 -> 0, the threshold -> 0.5 and
        1 -> 1: the value is >= 0.5 exactly when the decision is strong, so frameworks that pick the
        likelier of two labels (decision models, ``Choice`` questions) agree with the router.
        A decision without a probability (``on_empty``) gives 1.0 or 0.0 for its role.
        """
        strong = decision.role == "strong"
        p, t = decision.probability, decision.threshold
        if p is None or math.isnan(p) or t is None or math.isnan(t):
            return 1.0 if strong else 0.0
        if strong:
            return 1.0 if t >= 1.0 else min(1.0, 0.5 + 0.5 * (p - t) / (1.0 - t))
        return max(0.0, min(0.4999, 0.5 * p / t)) if t > 0 else 0.0

    # --- metadata --------------------------------------------------------------------------------
    @staticmethod
    def metadata(decision: RoutingDecision, role: Role | None = None, model: str | None = None,
                 error: BaseException | None = None) -> dict[str, Any]:
        """The routing metadata of an answer (same keys everywhere: :data:`METADATA_FIELDS`).

        ``role``/``model`` answered (default: the routed role); ``fallback`` is true when they differ
        from ``routed_role`` because the routed model raised ``fallback_error``. ``probability`` is
        None when there was no text to judge (``on_empty``).
        """
        answered = decision.role if role is None else role
        prob = decision.probability
        threshold = decision.threshold
        return {
            "role": answered,
            "model": model,
            "routed_role": decision.role,
            "probability": None if prob is None or math.isnan(prob) else float(prob),
            "threshold": None if threshold is None or math.isnan(threshold) else float(threshold),
            "router": decision.router,
            "fallback": answered != decision.role,
            "fallback_error": None if error is None or answered == decision.role else error_text(error),
        }


def error_text(error: BaseException) -> str:
    """``Type: message`` of an error, short enough for metadata and headers."""
    return f"{type(error).__name__}: {error}"[:300]


def flat_metadata(meta: Mapping[str, Any], prefix: str = "routellm_") -> dict[str, Any]:
    """Metadata as flat prefixed keys (tracing tools search these), without empty values."""
    return {f"{prefix}{k}": v for k, v in meta.items() if v is not None}


def checked_texts(texts: Sequence[str], on_empty: str) -> list[str]:
    """The texts of one decide() call as a list: a clear error for a bare string, a non-string or
    (when ``on_empty`` is "error") an empty text."""
    if isinstance(texts, str):
        raise InvalidInputError("decide() takes a list of texts, not a single string")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise InvalidInputError(f"text {i} is {type(text).__name__}, expected str")
    if on_empty == "error" and not all(t.strip() for t in out):
        raise InvalidInputError(EMPTY_TEXT)
    return out


def decide_many(pairs: Sequence[tuple[RoutingPolicy, str]]) -> list[RoutingDecision | Exception]:
    """Decisions for (policy, text) pairs that may differ per item (batch calls with per-item overrides).

    One router call per distinct router; an item whose text or settings are invalid gets its
    exception in its place, so the others are still routed.
    """
    results: list[RoutingDecision | Exception | None] = [None] * len(pairs)
    groups: dict[int, list[tuple[int, RoutingPolicy, str, float]]] = {}
    routers: dict[int, Router] = {}
    for i, (policy, text) in enumerate(pairs):
        try:
            if not isinstance(text, str):
                raise InvalidInputError(f"text {i} is {type(text).__name__}, expected str")
            router = policy.resolved_router()
            threshold = policy.resolved_threshold()
            if not text.strip():
                results[i] = policy._empty(threshold, policy._name(router))
                continue
        except RouteLLMError as exc:
            results[i] = exc
            continue
        routers[id(router)] = router
        groups.setdefault(id(router), []).append((i, policy, text, threshold))
    for key, items in groups.items():
        router = routers[key]
        with scoring_lock(router):
            probs = router.predict_proba([text for _, _, text, _ in items])
        for (i, policy, _, threshold), p in zip(items, probs, strict=True):
            results[i] = RoutingDecision(role_for(p, threshold), float(p), threshold, policy._name(router))
    return results  # type: ignore[return-value]


# --- OpenAI-style model names: router-<name>-<threshold> --------------------------------------------------
class ModelNameError(InvalidInputError):
    """A ``model`` field that names no configured router; ``code`` is OpenAI's error code for it."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


def parse_model_name(model: Any, routers: Collection[str], aliases: Mapping[str, tuple[str, float]] | None = None,
                     defaults: Mapping[str, float] | None = None) -> tuple[str, float]:
    """``router-<key>-<threshold>`` or an alias -> (router key, threshold); anything else names the problem.

    Router keys may contain ``-``: the longest configured key that prefixes the name wins.
    """
    aliases = aliases or {}
    example = f"{MODEL_PREFIX}{next(iter(routers), 'mf')}-0.5"
    if not isinstance(model, str) or not model.strip():
        raise ModelNameError(f"'model' must be a non-empty string such as '{example}'")
    if model in aliases:
        return aliases[model]
    if not model.startswith(MODEL_PREFIX):
        names = list(aliases) + [f"{MODEL_PREFIX}{k}-{t:g}" for k, t in (defaults or {}).items()]
        raise ModelNameError(f"unknown model {model!r}: use '{MODEL_PREFIX}<router>-<threshold>' "
                             f"(routers: {', '.join(routers)}) or an alias ({', '.join(names) or 'none configured'})",
                             code="model_not_found")
    rest = model[len(MODEL_PREFIX):]
    if rest in routers:
        raise ModelNameError(f"model {model!r} lacks a threshold: use '{model}-<threshold>', a number in [0, 1]")
    keys = [k for k in routers if rest.startswith(k + "-")]
    if not keys:
        name = rest.rpartition("-")[0] or rest
        raise ModelNameError(f"unknown router {name!r} in model {model!r}; configured routers: {', '.join(routers)}",
                             code="model_not_found")
    key = max(keys, key=len)
    threshold = rest[len(key) + 1:]
    try:
        return key, check_threshold(threshold)
    except RouteLLMError:
        raise ModelNameError(f"threshold {threshold!r} in model {model!r} is not a number in [0, 1]") from None
