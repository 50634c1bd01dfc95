"""RouteLLM(models=..., prices=...): three real OpenAI-like LlamaIndex clients on loopback servers."""

from __future__ import annotations

import pytest

from routellm_core import InvalidInputError
from routellm_core.testing import OpenAIStubServer

PRICES = {"gpt-4o": (2.5, 10.0), "gpt-4o-mini": (0.15, 0.6), "local": (0.0, 0.0)}
ROUTER_MODELS = {"gpt-4o": "gpt-4-1106-preview", "gpt-4o-mini": "gpt-3.5-turbo-1106", "local": "mixtral-8x7b-instruct-v0.1"}
PROMPT = "Write a haiku about routers."


@pytest.fixture
def three(make_llm):
    with (OpenAIStubServer(model="big-model") as big, OpenAIStubServer(model="mini-model") as mini,
          OpenAIStubServer(model="local-model") as local):
        servers = {"gpt-4o": big, "gpt-4o-mini": mini, "local": local}
        yield servers, {k: make_llm(s) for k, s in servers.items()}


def routed(small_router, three, **kwargs):
    from llamaindex_routellm import RouteLLM

    settings = {"prices": PRICES, "router_models": ROUTER_MODELS, "router": small_router, **kwargs}
    return RouteLLM(models=three[1], **settings)


def test_routes_among_three_llms(small_router, three):
    from llamaindex_routellm import RouteLLM as MultiModelRouteLLM  # one class since issue 22

    cheapest = routed(small_router, three, threshold=1.0)
    assert isinstance(cheapest, MultiModelRouteLLM)
    response = cheapest.complete(PROMPT)
    meta = response.additional_kwargs["routellm"]
    assert meta["model"] == "local" and "local-model" in response.text
    assert {c["model"] for c in meta["candidates"]} == set(PRICES)
    top = routed(small_router, three, threshold=0.0).chat([_user(PROMPT)])
    assert top.additional_kwargs["routellm"]["model"] == "gpt-4o" and "big-model" in top.message.content
    assert len(three[0]["gpt-4o-mini"].requests) == 0


def _user(text):
    from llama_index.core.base.llms.types import ChatMessage, MessageRole

    return ChatMessage(role=MessageRole.USER, content=text)


async def test_falls_back_to_the_next_best_candidate(small_router, three):
    three[0]["local"].fail_mode = "error"
    llm = routed(small_router, three, threshold=1.0)
    for response in (llm.chat([_user(PROMPT)]), await llm.achat([_user(PROMPT)])):
        meta = response.additional_kwargs["routellm"]
        nxt = [c["model"] for c in sorted(meta["candidates"], key=lambda c: -c["score"]) if c["model"] != "local"][0]
        assert meta["routed_model"] == "local" and meta["model"] == nxt and meta["fallback"] is True
    text = "".join(c.delta or "" for c in llm.stream_complete(PROMPT))
    assert "local-model" not in text and text


def test_unknown_models_and_bad_prices_raise(small_router, three):
    from llamaindex_routellm import RouteLLM

    with pytest.raises(InvalidInputError, match="price"):
        routed(small_router, three, threshold=0.5, prices={**PRICES, "local": (0, float("inf"))})
    # One RouteLLM class (issue 22): like every LlamaIndex RouteLLM it loads its router at construction,
    # so models the router does not know fail there, not on the first call.
    with pytest.raises(InvalidInputError, match="it knows"):
        RouteLLM(models=three[1], prices=PRICES, router=small_router, threshold=0.5).complete(PROMPT)


async def test_function_agent_routes_its_tool_loop_among_three_llms(small_router, three):
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.tools import FunctionTool

    from routellm_core.testing import tool_steps

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    servers, _ = three
    for server in servers.values():
        server.tool_responder = tool_steps("get_weather", arguments={"city": "Paris"})
        server.strict_tools = True
    llm = routed(small_router, three, threshold=1.0)
    assert llm.metadata.is_function_calling_model
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(get_weather)], llm=llm, system_prompt="Use the tools.")
    result = await agent.run(user_msg="What is the weather in Paris?")
    local = servers["local"].requests
    assert len(local) == 2 and not servers["gpt-4o"].requests and not servers["gpt-4o-mini"].requests
    assert [t["function"]["name"] for t in local[0]["tools"]] == ["get_weather"]
    assert [m["role"] for m in local[-1]["messages"]][-2:] == ["assistant", "tool"]
    assert local[-1]["messages"][-1]["content"] == "sunny in Paris"
    assert str(result.response.content).startswith("Answer from local-model")


def test_online_budget_on_a_drifting_stream(small_router, budget_stream):
    from llama_index.core.llms import MockLLM

    from llamaindex_routellm import RouteLLM

    budget, window = budget_stream["budget"], budget_stream["window"]
    llm = RouteLLM(models={m: MockLLM() for m in budget_stream["prices"]}, prices=budget_stream["prices"],
                   router=small_router, budget_per_1k=budget, calibration_prompts=budget_stream["calibration"],
                   online_window=window)
    metas = [llm.complete(p).additional_kwargs["routellm"] for p in budget_stream["prompts"]]
    windows = budget_stream["spends"](metas)
    assert max(windows) <= 1.1 * budget + 1e-9 and min(windows[window:]) >= 0.85 * budget
    assert any(m["online_spend_per_1k"] for m in metas)
