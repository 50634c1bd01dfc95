"""ChatRouteLLM(models=..., prices=...): three real ChatOpenAI clients on loopback servers, routed by price."""

from __future__ import annotations

import pytest

from routellm_core import InvalidInputError
from routellm_core.testing import OpenAIStubServer

from lc_helpers import chat_openai

PRICES = {"gpt-4o": (2.5, 10.0), "gpt-4o-mini": (0.15, 0.6), "local": (0.0, 0.0)}
ROUTER_MODELS = {"gpt-4o": "gpt-4-1106-preview", "gpt-4o-mini": "gpt-3.5-turbo-1106", "local": "mixtral-8x7b-instruct-v0.1"}
PROMPT = "Write a haiku about routers."


@pytest.fixture
def three():
    with (OpenAIStubServer(model="big-model") as big, OpenAIStubServer(model="mini-model") as mini,
          OpenAIStubServer(model="local-model") as local):
        yield {"gpt-4o": big, "gpt-4o-mini": mini, "local": local}


def routed(small_router, servers, **kwargs):
    from langchain_routellm import ChatRouteLLM

    settings = {"prices": PRICES, "router_models": ROUTER_MODELS, "router": small_router, **kwargs}
    return ChatRouteLLM(models={k: chat_openai(s) for k, s in servers.items()}, **settings)


def test_routes_among_three_models(small_router, three):
    from langchain_routellm import ChatRouteLLM as MultiModelChatRouteLLM  # one class since issue 22

    cheapest = routed(small_router, three, threshold=1.0)
    assert isinstance(cheapest, MultiModelChatRouteLLM)
    reply = cheapest.invoke(PROMPT)
    meta = reply.response_metadata["routellm"]
    assert meta["model"] == "local" and reply.content == f"Answer from local-model: {PROMPT}"
    assert {c["model"] for c in meta["candidates"]} == set(PRICES)
    assert all(c["cost_usd"] >= 0 and 0 <= c["score"] <= 1 for c in meta["candidates"])
    top = routed(small_router, three, threshold=0.0).invoke(PROMPT)
    assert top.response_metadata["routellm"]["model"] == "gpt-4o" and "big-model" in top.content
    assert len(three["gpt-4o"].requests) == 1 and len(three["gpt-4o-mini"].requests) == 0


async def test_falls_back_to_the_next_best_candidate(small_router, three):
    three["local"].fail_mode = "error"
    llm = routed(small_router, three, threshold=1.0)
    for reply in (llm.invoke(PROMPT), await llm.ainvoke(PROMPT)):
        meta = reply.response_metadata["routellm"]
        nxt = [c["model"] for c in sorted(meta["candidates"], key=lambda c: -c["score"]) if c["model"] != "local"][0]
        assert meta["routed_model"] == "local" and meta["model"] == nxt and meta["fallback"] is True
        assert "local-model" not in reply.content and meta["fallback_error"]
    chunks = list(llm.stream(PROMPT))
    assert chunks[0].response_metadata["routellm"]["fallback"] is True
    assert "".join(c.content for c in chunks) and "local-model" not in "".join(c.content for c in chunks)
    achunks = [c async for c in llm.astream(PROMPT)]
    assert achunks[0].response_metadata["routellm"]["routed_model"] == "local"


def test_bad_prices_and_unknown_models_raise(small_router, three):
    from pydantic import ValidationError

    with pytest.raises((InvalidInputError, ValidationError), match="price"):
        routed(small_router, three, threshold=0.5, prices={**PRICES, "local": (-1, 0)})
    from langchain_routellm import ChatRouteLLM

    llm = ChatRouteLLM(models={k: chat_openai(s) for k, s in three.items()}, prices=PRICES, router=small_router,
                       threshold=0.5)
    with pytest.raises(InvalidInputError, match="it knows"):
        llm.invoke(PROMPT)


# --- RouteLLMDecisionModel with prices: a Choice over three models, in a real agent -------------------
def test_decision_model_chooses_among_three_models_in_an_agent(small_router, three):
    pytest.importorskip("langchain.agents")
    from langchain.agents import create_agent
    from langchain.agents.middleware import ModelChoice, ModelRouterMiddleware
    from langchain_core.decisions import Choice
    from langchain_core.messages import HumanMessage

    from langchain_routellm import RouteLLMDecisionModel
    from langchain_routellm import RouteLLMDecisionModel as MultiModelDecisionModel  # one class since issue 22

    def classifier(threshold):
        return RouteLLMDecisionModel(prices=PRICES, router_models=ROUTER_MODELS, router=small_router,
                                     threshold=threshold)

    assert isinstance(classifier(0.5), MultiModelDecisionModel)
    question = {"route": Choice(instructions="Which model?", criteria={k: k for k in PRICES})}
    answer = classifier(1.0).invoke({"state": PROMPT, "questions": question}).choices["route"]
    assert answer.choice == "local" and max(answer.probabilities, key=answer.probabilities.get) == "local"
    assert sum(answer.probabilities.values()) == pytest.approx(1.0)
    with pytest.raises(InvalidInputError, match="labels must be the priced models"):
        classifier(0.5).invoke({"state": PROMPT, "questions": {"q": Choice(instructions="?",
                                                                           criteria={"gpt-4o": 1, "fast": 2})}})
    choices = {k: ModelChoice(model=chat_openai(s), criteria=k) for k, s in three.items()}
    mw = ModelRouterMiddleware(choices=choices, instructions="Pick the cheapest model that will do.",
                               classifier=classifier(0.0))
    state = create_agent(chat_openai(three["local"]), middleware=[mw]).invoke({"messages": [HumanMessage(PROMPT)]})
    assert state["model_route"].choice == "gpt-4o" and three["gpt-4o"].requests and not three["local"].requests


# --- tools: the multi-model chat model inside a real agent's tool loop -----------------------------
def test_bind_tools_in_an_agent_routes_each_step_among_three_models(small_router, three):
    from langchain.agents import create_agent
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool

    from routellm_core.testing import tool_steps

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    for server in three.values():
        server.tool_responder = tool_steps("get_weather", arguments={"city": "Paris"})
    agent = create_agent(routed(small_router, three, threshold=1.0), tools=[get_weather])
    state = agent.invoke({"messages": [HumanMessage("What is the weather in Paris?")]})
    tool_messages = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert [m.content for m in tool_messages] == ["sunny in Paris"]
    body = three["local"].requests[0]
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather"]
    assert len(three["local"].requests) == 2 and not three["gpt-4o"].requests and not three["gpt-4o-mini"].requests
    final = state["messages"][-1]
    assert final.response_metadata["routellm"]["model"] == "local" and not final.tool_calls


def test_online_budget_on_a_drifting_stream(small_router, budget_stream):
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from langchain_routellm import ChatRouteLLM

    budget, window = budget_stream["budget"], budget_stream["window"]
    llm = ChatRouteLLM(models={m: FakeListChatModel(responses=[m]) for m in budget_stream["prices"]},
                       prices=budget_stream["prices"], router=small_router, budget_per_1k=budget,
                       calibration_prompts=budget_stream["calibration"], online_window=window)
    metas = [llm.invoke(p).response_metadata["routellm"] for p in budget_stream["prompts"]]
    windows = budget_stream["spends"](metas)
    assert max(windows) <= 1.1 * budget + 1e-9 and min(windows[window:]) >= 0.85 * budget
    assert any(m["online_spend_per_1k"] for m in metas)
