"""ChatRouteLLM over many priced models: ``ChatRouteLLM(models={...}, prices={...}, threshold=...)``.

The engine's :class:`routellm_core.multi_model.MultiModelPolicy` decides which candidate answers;
this chat model only turns messages into the routed text, runs the chosen model (then the
next-best ones on a provider failure) and attaches ``response_metadata["routellm"]`` with every
candidate's predicted score and estimated cost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from routellm_core import Attempt, FallbackExecutor, InvalidInputError
from routellm_core.fallback import Outcome
from routellm_core.multi_model import DEFAULT_OUTPUT_TOKENS, MultiModelDecision, MultiModelPolicy, make_candidates
from routellm_core.policy import flat_metadata

from ._call_config import child_manager
from ._models import build_chat_model
from ._policy import message_turns, model_name, router_embedder
from ._tools import pop_tool_request, tool_binding


class MultiModelChatRouteLLM(BaseChatModel):
    """Route each chat call to the cheapest of several priced chat models that no pricier one is needed over.

    ``threshold`` t: a pricier model is needed over a cheaper one when P(it wins) >= t (0.5: the
    predicted best; higher: cheaper). Or ``top_fraction`` / ``budget_per_1k`` with ``calibration_prompts``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True)

    models: dict[str, BaseChatModel]
    """Candidate chat models by name (the name is the router's model id unless ``router_models`` maps it)."""
    prices: dict[str, Any]
    """USD per million tokens per model: ``(input, output)``, ``{"input":.., "output":..}``, a Price or ``"IN,OUT"``."""
    router_models: dict[str, str] = Field(default_factory=dict)
    """Which model the router was trained on each name stands for (``{"local": "mistral-7b-instruct"}``)."""
    output_tokens: int | dict[str, int] = DEFAULT_OUTPUT_TOKENS
    """Expected answer length in tokens (one number or per model), for the cost estimate."""
    router: Any = "mf"
    threshold: float | None = None
    top_fraction: float | None = None
    budget_per_1k: float | None = None
    calibration_prompts: list[str] | None = None
    embeddings: Any = None
    router_kwargs: dict[str, Any] | None = None
    route_on: str = "last_user"
    on_empty: str = "error"
    fallback: bool = True
    model_name: str = Field(default="routellm-multi", alias="model")
    _policy: MultiModelPolicy = PrivateAttr()

    @model_validator(mode="before")
    @classmethod
    def _models_from_names(cls, values: Any) -> Any:
        if isinstance(values, dict) and isinstance(values.get("models"), Mapping):
            values = dict(values)
            values["models"] = {k: build_chat_model(v, values, k) for k, v in values["models"].items()}
        return values

    @model_validator(mode="after")
    def _build_policy(self) -> MultiModelChatRouteLLM:
        self._policy = MultiModelPolicy(
            self.router, make_candidates(list(self.models), self.prices, self.router_models, self.output_tokens),
            threshold=self.threshold, top_fraction=self.top_fraction, budget_per_1k=self.budget_per_1k,
            calibration_prompts=tuple(self.calibration_prompts or ()),
            embedder=router_embedder(self.embeddings) if self.embeddings is not None else None,
            router_kwargs=self.router_kwargs, route_on=self.route_on, on_empty=self.on_empty, fallback=self.fallback)
        return self

    @property
    def policy(self) -> MultiModelPolicy:
        return self._policy

    @property
    def _llm_type(self) -> str:
        return "routellm-multi"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "models": {k: model_name(v) for k, v in self.models.items()},
                "threshold": self.threshold, "top_fraction": self.top_fraction, "budget_per_1k": self.budget_per_1k}

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools on every candidate: the chosen one (and any fallback) gets ``bind_tools(tools, ...)``.

        Routing still reads the conversation's text, so an agent's tool loop is routed call by call.
        """
        return self.bind(**tool_binding(tools, tool_choice, kwargs))

    # --- one call ---------------------------------------------------------------------------------
    def _text(self, messages: list[BaseMessage]) -> str:
        return self._policy.routed_text(message_turns(messages))

    def _call(self, decision: MultiModelDecision, method: str, messages: list[BaseMessage], stop: list[str] | None,
              run_manager: Any, kwargs: dict[str, Any]) -> Any:
        kwargs = dict(kwargs)
        tools, tool_kwargs = pop_tool_request(kwargs)

        def call(attempt: Attempt) -> Any:
            name = str(attempt.role)
            meta = MultiModelPolicy.metadata(decision, name)
            config: dict[str, Any] = {"metadata": flat_metadata({k: v for k, v in meta.items() if k != "candidates"}),
                                      "tags": [f"routellm:{name}"]}
            parent = child_manager(run_manager)
            if parent is not None:
                config["callbacks"] = parent
            model: Runnable = self.models[name]
            if tools is not None:
                model = self.models[name].bind_tools(tools, **tool_kwargs)
            return getattr(model, method)(messages, config, stop=stop, **kwargs)

        return call

    def _annotate(self, decision: MultiModelDecision, message: BaseMessage, outcome: Outcome) -> BaseMessage:
        meta = MultiModelPolicy.metadata(decision, str(outcome.attempt.role), outcome.error)
        meta["model_name"] = model_name(self.models[meta["model"]])
        return message.model_copy(update={"response_metadata": {**message.response_metadata, "routellm": meta}})

    def _result(self, decision: MultiModelDecision, message: BaseMessage, outcome: Outcome) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._annotate(decision, message, outcome))])

    @property
    def _executor(self) -> FallbackExecutor:
        return FallbackExecutor(describe=lambda name: f"model {name!r}")

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        decision = self._policy.decide([self._text(messages)])[0]
        message, outcome = self._executor.run(self._policy.attempts(decision),
                                              self._call(decision, "invoke", messages, stop, run_manager, kwargs))
        return self._result(decision, message, outcome)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        decision = (await self._policy.adecide([self._text(messages)]))[0]
        message, outcome = await self._executor.arun(self._policy.attempts(decision),
                                                     self._call(decision, "ainvoke", messages, stop, run_manager, kwargs))
        return self._result(decision, message, outcome)

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        """Chunks of the chosen model; a failure before the first chunk moves on to the next-best candidate."""
        decision = self._policy.decide([self._text(messages)])[0]
        chunks = self._executor.stream(self._policy.attempts(decision),
                                       self._call(decision, "stream", messages, stop, run_manager, kwargs))
        for i, (chunk, outcome) in enumerate(chunks):
            yield ChatGenerationChunk(message=self._annotate(decision, chunk, outcome) if i == 0 else chunk)  # type: ignore[arg-type]

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        decision = (await self._policy.adecide([self._text(messages)]))[0]
        first = True
        async for chunk, outcome in self._executor.astream(
                self._policy.attempts(decision), self._call(decision, "astream", messages, stop, run_manager, kwargs)):
            yield ChatGenerationChunk(message=self._annotate(decision, chunk, outcome) if first else chunk)  # type: ignore[arg-type]
            first = False


def multi_model_chat(kwargs: dict[str, Any]) -> MultiModelChatRouteLLM:
    """``ChatRouteLLM(models=...)``: the multi-model chat model (strong/weak are not used then)."""
    for key in ("strong", "weak", "strong_fraction"):
        if kwargs.get(key) is not None:
            raise InvalidInputError(f"ChatRouteLLM(models=...) routes among the models by price: drop {key}= "
                                    "(use threshold, top_fraction or budget_per_1k)")
    return MultiModelChatRouteLLM(**kwargs)
