"""LangChain's view of the engine's RoutingPolicy: fields, routed text, model names, metadata.

Routing is decided by ``routellm_core.RoutingPolicy`` only; this module turns LangChain inputs
(strings, messages, prompt values, dicts) into the text it routes on, and LangChain settings
(fields, ``configurable`` keys, call kwargs) into the policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import BaseMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from routellm_core import InvalidInputError, Router, RoutingDecision, RoutingPolicy, Turn
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


def pop_call_routing(kwargs: dict[str, Any]) -> tuple[dict[str, Any], RoutingDecision | None]:
    """Take routing overrides and a decision made by ``batch`` out of call kwargs."""
    overrides = {k: v for k in OVERRIDE_KEYS if (v := kwargs.pop(k, None)) is not None}
    raw = kwargs.pop(DECISION_KWARG, None)
    return overrides, RoutingDecision(**raw) if isinstance(raw, Mapping) else raw


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
    """Router settings as pydantic fields; :attr:`policy` is the engine's decision layer built from them."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    router: Any = "mf"
    """A router name (``"mf"``, ``"sw_ranking"``, ``"random"``...), a checkpoint directory, or a Router."""
    threshold: float | None = None
    """Route to the strong model iff P(strong wins) >= threshold."""
    strong_fraction: float | None = None
    """Instead of a threshold: the share of ``calibration_prompts`` that should go to the strong model."""
    calibration_prompts: list[str] | None = None
    route_on: Any = "last_user"
    """``"last_user"``, ``"conversation"``, a dict key (RouteLLMRunnable) or a callable returning the text."""
    on_empty: Literal["error", "strong", "weak"] = "error"
    """What a call with no text to route on does: raise InvalidInputError, or go to that model."""
    fallback: bool = True
    """If the chosen model fails with a provider error, let the other one answer."""
    embeddings: Any = None
    """A LangChain ``Embeddings`` the router embeds prompts with (for routers trained with the same vectors)."""
    router_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra arguments for loading the router (e.g. ``strong_model``/``weak_model`` of an MF router)."""

    _policy: RoutingPolicy | None = PrivateAttr(default=None)

    @field_validator("route_on")
    @classmethod
    def _route_mode_alias(cls, value: Any) -> Any:
        return ROUTE_MODE_ALIASES.get(value, value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _build_policy(self) -> RoutingFields:
        route_on: Any = self.route_on if callable(self.route_on) or self.route_on in ROUTE_MODES else "last_user"
        if not (callable(self.route_on) or isinstance(self.route_on, str)):
            raise InvalidInputError(f"route_on must be 'last_user', 'conversation', a dict key or a callable, "
                                    f"got {self.route_on!r}")
        self._policy = RoutingPolicy(
            router=self.router, threshold=self.threshold, strong_fraction=self.strong_fraction,
            calibration_prompts=tuple(self.calibration_prompts or ()), router_kwargs=self.router_kwargs,
            embedder=None if self.embeddings is None else router_embedder(self.embeddings),
            route_on=route_on, on_empty=self.on_empty, fallback=self.fallback)
        return self

    @property
    def policy(self) -> RoutingPolicy:
        """The decision layer for these settings (per-call overrides: ``policy.overrides_from``)."""
        assert self._policy is not None
        return self._policy

    def router_label(self) -> str:
        return self.router.name if isinstance(self.router, Router) else str(self.router)


class MessagesRouteOn:
    """Adapts a ``route_on(messages)`` callable to inputs of any shape (str, messages, PromptValue)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "route_on")

    def __call__(self, value: Any) -> str:
        from langchain_core.messages import HumanMessage

        return self.fn([HumanMessage(value)] if isinstance(value, str) else _as_messages(value))
