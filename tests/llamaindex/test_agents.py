"""LlamaIndex agents with RouteLLM as the LLM: one decision per user message across the tool loop.

Real ``FunctionAgent`` / ``AgentWorkflow`` runs, real OpenAI-like clients, two real loopback servers
whose tool calls are scripted (two tool steps, then an answer) and whose tool histories are checked
as OpenAI checks them. The router is ``word_count_router``: long prompts go strong at threshold 0.5.
"""

from __future__ import annotations

import pytest
from llama_index.core.agent.workflow import AgentStream, AgentWorkflow, FunctionAgent
from llama_index.core.tools import FunctionTool
from llama_index.core.memory import ChatMemoryBuffer

from llamaindex_routellm import RouteLLM, agent_routing
from routellm_core.testing import tool_steps

HARD = "Plan a three day trip to Paris: check the weather, the local time, and propose a detailed schedule."
EASY = "Thanks!"


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def get_time(city: str) -> str:
    """The local time in a city."""
    return f"12:00 in {city}"


TOOLS = [FunctionTool.from_defaults(get_weather), FunctionTool.from_defaults(get_time)]


@pytest.fixture
def scripted(openai_pair):
    """The servers: two tool steps per user message, then an answer; strict tool histories."""
    for server in openai_pair:
        server.tool_responder = tool_steps("get_weather", "get_time", arguments={"city": "Paris"})
        server.strict_tools = True
    return openai_pair


@pytest.fixture
def agent_llm(llm_pair, word_count_router):
    _, _, strong_llm, weak_llm = llm_pair
    return RouteLLM(strong=strong_llm, weak=weak_llm, router=word_count_router, threshold=0.5)


@pytest.mark.parametrize("streaming", [False, True])
async def test_function_agent_keeps_one_decision_per_user_message(scripted, agent_llm, routing_events, streaming):
    strong, weak = scripted
    agent = FunctionAgent(tools=TOOLS, llm=agent_llm, streaming=streaming, system_prompt="Use the tools.")
    memory = ChatMemoryBuffer.from_defaults()  # the conversation, kept across user messages
    handler = agent.run(user_msg=HARD, memory=memory)
    streamed = [agent_routing(ev) for ev in [e async for e in handler.stream_events()] if isinstance(ev, AgentStream)]
    result = await handler
    assert len(strong.requests) == 3 and weak.requests == []  # two tool steps and the answer, one model
    assert [m["role"] for m in strong.requests[-1]["messages"]][-4:] == ["assistant", "tool", "assistant", "tool"]
    assert [e.role for e in routing_events] == ["strong"] * 3  # an instrumentation event per step, one decision
    assert len({e.probability for e in routing_events}) == 1
    decision = agent_routing(result)
    assert decision["role"] == "strong" and decision["model"] == "strong-model" and decision["router"] == "words"
    assert str(result.response.content).startswith("Answer from strong-model")
    if streaming:
        assert streamed and {d["role"] for d in streamed} == {"strong"}

    routing_events.clear()
    second = await agent.run(user_msg=EASY, memory=memory)  # the next message of the same conversation
    assert agent_routing(second)["role"] == "weak" and len(weak.requests) == 3 and len(strong.requests) == 3
    assert [e.role for e in routing_events] == ["weak"] * 3
    sent = weak.requests[0]["messages"]  # the strong model's tool calls reach the weak one intact
    call_ids = [c["id"] for m in sent if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    assert len(call_ids) == 2 and call_ids == [m["tool_call_id"] for m in sent if m["role"] == "tool"]


async def test_agent_workflow_falls_back_on_an_upstream_500(scripted, agent_llm, routing_events):
    strong, weak = scripted
    strong.fail_mode = "error"
    workflow = AgentWorkflow(agents=[FunctionAgent(name="planner", description="Plans trips.", tools=TOOLS,
                                                   llm=agent_llm, system_prompt="Use the tools.")])
    result = await workflow.run(user_msg=HARD)
    decision = agent_routing(result)
    assert decision["routed_role"] == "strong" and decision["role"] == "weak" and decision["fallback"] is True
    assert len(weak.requests) == 3 and str(result.response.content).startswith("Answer from weak-model")
    assert all(e.fallback and e.routed_role == "strong" for e in routing_events)


def test_agent_routing_is_none_without_routellm():
    from llama_index.core.base.llms.types import ChatMessage, ChatResponse

    assert agent_routing(ChatResponse(message=ChatMessage(content="plain"))) is None
    assert agent_routing(object()) is None
