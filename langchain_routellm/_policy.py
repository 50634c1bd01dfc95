"""LangChain's view of the engine's RoutingPolicy: fields, routed text, model names, metadata.

Routing is decided by ``routellm_core.RoutingPolicy`` only; this module turns LangChain inputs
(strings, messages, prompt values, dicts) into the text it routes on, and LangChain settings
(fields, ``configurable`` keys, call kwargs) into the policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from langchain_core.messages import BaseMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from routellm_core import Decision, InvalidInputError, RoutingPolicy, Turn
from routellm_core.multi_model import DEFAULT_OUTPUT_TOKENS, make_candidates
from routellm_core.policy import OVERRIDE_KEYS, ROUTE_MODE_ALIASES, ROUTE_MODES, callable_embedder, normalize_role

# Keys of ``config["configurable"]`` (or call kwargs) that change routing for one call.
CONFIG_THRESHOLD, CONFIG_STRONG_FRACTION, CONFIG_ROUTER = OVERRIDE_KEYS
# A decision made ahead of time by ``batch`` (one router call for all inputs); internal.
DECISION_KWARG = "routellm_decision"


def router_embedder(embeddings: Any) -> Any:
    """Wrap a LangChain ``Embeddings`` as a routellm_core embedder (one wrapper per object, so caches hold)."""
    from routellm_core.embeddings import Embedder

    if isinstance(embeddings, Embedder):
        return embeddings
    if not callable(getattr(embeddings, "embed_documents", None)):
        raise InvalidInputError(f"embeddings must be a LangChain Embeddings (with embed_documents), "
                                f"got {type(embeddings).__name__}")
    model_id = (getattr(embeddings, "model_id", None) or getattr(embeddings, "model", None)
                or getattr(embeddings, "model_name", None) or type(embeddings).__name__)
    return callable_embedder(embeddings, embeddings.embed_documents, f"langchain:{model_id}")


# --- the text routed --------------------------------------------------------------------------------
def message_turns(messages: Sequence[BaseMessage]) -> list[Turn]:
    """LangChain messages as the policy's turns (text blocks only: images and the like are skipped)."""
    return [Turn(normalize_role(m.type), m.text) for m in messages]


def _as_messages(value: Any) -> list[BaseMessage]:
    if isinstance(value, PromptValue):
        return value.to_messages()
    if isinstance(value, BaseMessage):
        return [value]
    try:
        return convert_to_messages(value)
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise InvalidInputError(f"cannot read messages to route on: {exc}") from None


def input_text(policy: RoutingPolicy, value: Any, route_on: Any) -> str:
    """The text routed for any Runnable input: str, messages, a PromptValue, or a dict.

    For a dict, ``route_on`` names the key that holds the text (a dict with one key needs none).
    """
    if callable(route_on):
        return policy.routed_text([], raw=value)
    if isinstance(value, Mapping):
        if route_on not in ROUTE_MODES:
            if route_on not in value:
                raise InvalidInputError(f"route_on={route_on!r} is not a key of the input "
                                        f"(keys: {', '.join(map(str, value))})")
            return input_text(policy, value[route_on], "last_user")
        if len(value) == 1:
            return input_text(policy, next(iter(value.values())), route_on)
        raise InvalidInputError(f"the input is a dict with keys {', '.join(map(str, value))}: set route_on to the key "
                                "that holds the text to route on, or to a callable")
    if route_on not in ROUTE_MODES:
        raise InvalidInputError(f"route_on={route_on!r} names a dict key, but the input is a {type(value).__name__}")
    if isinstance(value, str):
        return value
    if isinstance(value, (PromptValue, BaseMessage, Sequence)):
        return policy.routed_text(message_turns(_as_messages(value)))
    raise InvalidInputError(f"cannot route an input of type {type(value).__name__}: pass str, messages, a dict "
                            "or set route_on to a callable")


# --- per-call settings ---------------------------------------------------------------------------------
def config_overrides(config: RunnableConfig | None) -> dict[str, Any]:
    """The routing overrides in ``config["configurable"]`` (threshold, strong fraction, router)."""
    configurable = (config or {}).get("configurable") or {}
    return {k: configurable[k] for k in OVERRIDE_KEYS if configurable.get(k) is not None}


def pop_call_routing(kwargs: dict[str, Any]) -> tuple[dict[str, Any], Decision | Mapping[str, Any] | None]:
    """Take routing overrides and a decision made by ``batch`` (as data: ``policy.revive`` rebuilds it) out of kwargs."""
    overrides = {k: v for k in OVERRIDE_KEYS if (v := kwargs.pop(k, None)) is not None}
    return overrides, kwargs.pop(DECISION_KWARG, None)


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


# --- the fields both integrations share ------------------------------------------------------------
class RoutingFields(BaseModel):
    """Router settings as pydantic fields; :attr:`policy` is the engine's decision layer built from them.

    The engine validates every setting; these fields only carry them. ``policy=`` gives a ready
    :class:`~routellm_core.RoutingPolicy` instead (the settings below are then not used).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    router: Any = "mf"
    """A router name (``"mf"``, ``"sw_ranking"``, ``"random"``...), a checkpoint directory, or a Router."""
    threshold: float | None = Field(default=None, strict=True)
    """Route to the strong model iff P(strong wins) >= threshold (many models: a pricier model is needed
    over a cheaper one iff P(it wins) >= threshold)."""
    strong_fraction: float | None = Field(default=None, strict=True)
    """Instead of a threshold: the share of ``calibration_prompts`` that should go to the strong model."""
    calibration_prompts: list[str] | None = None
    route_on: Any = "last_user"
    """``"last_user"``, ``"conversation"``, a dict key (RouteLLMRunnable) or a callable returning the text."""
    on_empty: str = "error"
    """What a call with no text to route on does: raise InvalidInputError, or go to that model."""
    fallback: bool = True
    """If the chosen model fails with a provider error, let the other one answer."""
    embeddings: Any = None
    """A LangChain ``Embeddings`` the router embeds prompts with (for routers trained with the same vectors)."""
    router_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra arguments for loading the router (e.g. ``strong_model``/``weak_model`` of an MF router)."""
    cascade: Any = None
    """None: route on the prompt only. Else answer-aware routing: a ``CascadePolicy`` or a dict of its
    settings (``escalate_threshold``, ``scorer``, ``escalate_fraction`` + ``calibration_pairs``; also
    ``answer_text``: output -> text). With ``threshold``/``strong_fraction`` the router decides on the
    prompt first and only weak calls are cascaded; without, every call goes to the weak model first."""
    prices: dict[str, Any] | None = None
    """With ``models``: USD per million tokens per model, ``(input, output)``, a dict, a Price or ``"IN,OUT"``."""
    router_models: dict[str, str] = Field(default_factory=dict)
    """With ``models``: the model each name stands for in the router (``{"local": "mistral-7b-instruct"}``)."""
    output_tokens: int | dict[str, int] | None = None
    """With ``models``: expected answer length in tokens (one number or per model; default 300), for the cost."""
    top_fraction: float | None = Field(default=None, strict=True)
    """With ``models``: the share of ``calibration_prompts`` on the most expensive model (instead of a threshold)."""
    budget_per_1k: float | None = Field(default=None, strict=True)
    """With ``models``: USD per 1,000 calls on ``calibration_prompts`` (instead of a threshold)."""
    explore: float | None = None
    """Opt-in exploration: this share of calls (< 0.5) goes to the other model at random, so feedback also
    covers it (billed like any call; the metadata says ``explored`` and the ``propensity``)."""
    feedback: Any = Field(default=None, exclude=True)
    """Where ``record_feedback`` stores scores: a ``FeedbackStore``, a SQLite path or a SQLAlchemy URL."""
    online_window: int | None = None
    """With ``strong_fraction``: keep the strong share of every ``online_window`` consecutive decisions within
    ``strong_fraction`` +- 0.05 while traffic drifts (the online threshold, docs/guard.md)."""
    online_state: Any = Field(default=None, exclude=True)
    """With ``online_window``: where the window lives, None (this process) or a ``redis://`` URL (shared by
    every process using it; docs/guard.md)."""
    reroute_guard: bool = False
    """Route on the most conservative score of the prompt with and without its leading and trailing
    words, so added text cannot raise a decision (docs/guard.md)."""
    routes_dict_keys: ClassVar[bool] = False
    """Whether ``route_on`` may name a key of dict inputs (RouteLLMRunnable)."""
    policy: Any = Field(default=None, exclude=True)
    """A ready :class:`~routellm_core.RoutingPolicy` (replaces the routing settings above); after
    construction, the policy every call of this object is decided by."""

    @model_validator(mode="before")
    @classmethod
    def _embedder_alias(cls, values: Any) -> Any:
        if isinstance(values, dict) and "embedder" in values:  # the engine's name for it
            values = {k: v for k, v in values.items() if k != "embedder"} | {"embeddings": values["embedder"]}
        return values

    @field_validator("route_on")
    @classmethod
    def _route_mode_alias(cls, value: Any) -> Any:
        return ROUTE_MODE_ALIASES.get(value, value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _build_policy(self) -> RoutingFields:
        if self.policy is not None:
            if not isinstance(self.policy, RoutingPolicy):
                raise InvalidInputError(f"policy must be a routellm_core.RoutingPolicy, got {type(self.policy).__name__}")
            return self
        if not (callable(self.route_on) or isinstance(self.route_on, str)):
            raise InvalidInputError(f"route_on must be 'last_user', 'conversation', a dict key or a callable, "
                                    f"got {self.route_on!r}")
        models = getattr(self, "models", None)
        candidates = None
        if models is not None:
            tokens = DEFAULT_OUTPUT_TOKENS if self.output_tokens is None else self.output_tokens
            candidates = make_candidates(list(models), self.prices or {}, self.router_models, tokens)
        route_on: Any = self.route_on
        if self.routes_dict_keys and not (callable(route_on) or route_on in ROUTE_MODES):
            route_on = "last_user"  # a dict key: input_text picks the text, the policy reads it as it is
        self.policy = RoutingPolicy(
            router=self.router, threshold=self.threshold, strong_fraction=self.strong_fraction,
            calibration_prompts=tuple(self.calibration_prompts or ()), router_kwargs=self.router_kwargs,
            embedder=None if self.embeddings is None else router_embedder(self.embeddings),
            route_on=route_on, on_empty=self.on_empty, fallback=self.fallback, candidates=candidates,
            top_fraction=self.top_fraction, budget_per_1k=self.budget_per_1k, cascade=self.cascade,
            explore=self.explore or 0.0, feedback=self.feedback, online_window=self.online_window,
            reroute_guard=self.reroute_guard, online_state=self.online_state)
        return self

    def record_feedback(self, answer: Any, score: Any, prompt: str | None = None) -> Any:
        """Store a user's score in [0, 1] for a routed answer (the message, its metadata or its ``decision_id``)."""
        return self.policy.record_feedback(answer, score, prompt)

    def router_label(self) -> str:
        return self.policy.router_label

    def targets(self) -> dict[str, Any]:
        """The models decisions name: ``{"strong": ..., "weak": ...}`` or ``models``."""
        models = getattr(self, "models", None)
        if models is not None:
            return dict(models)
        return {role: getattr(self, role) for role in ("strong", "weak")}


def check_targets(values: Any, owner: str) -> Any:
    """``strong`` and ``weak``, or ``models`` (then not strong/weak/strong_fraction): the error names what is wrong."""
    if not isinstance(values, dict):
        return values
    if values.get("models") is not None:
        for key in ("strong", "weak", "strong_fraction"):
            if values.get(key) is not None:
                raise InvalidInputError(f"{owner}(models=...) routes among the models by price: drop {key}= "
                                        "(use threshold, top_fraction or budget_per_1k)")
        if not isinstance(values["models"], Mapping):
            raise InvalidInputError(f"models must map names to models, got {type(values['models']).__name__}")
        if values.get("policy") is None and values.get("prices") is None:
            raise InvalidInputError(f"{owner}(models=...) needs prices={{name: (input, output) USD per million tokens}}")
        return values
    for role in ("strong", "weak"):
        if values.get(role) is None:
            raise InvalidInputError(f"{owner} needs a {role} model: pass {role}=<model> (or models={{...}} and prices)")
    return values


class MessagesRouteOn:
    """Adapts a ``route_on(messages)`` callable to inputs of any shape (str, messages, PromptValue)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "route_on")

    def __call__(self, value: Any) -> str:
        from langchain_core.messages import HumanMessage

        return self.fn([HumanMessage(value)] if isinstance(value, str) else _as_messages(value))
