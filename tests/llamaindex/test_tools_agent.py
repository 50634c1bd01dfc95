"""Tool calling through RouteLLM: chat_with_tools, predict_and_call, structured output, a FunctionAgent."""

from __future__ import annotations

import pytest
from llama_index.core.llms import ChatMessage
from llama_index.core.tools import FunctionTool

calls: list[tuple[int, int]] = []


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    calls.append((a, b))
    return a * b


@pytest.fixture(autouse=True)
def _reset_calls():
    calls.clear()


TOOL = FunctionTool.from_defaults(multiply)


def test_chat_with_tools_delegates_to_the_routed_llm(make_routed, llm_pair):
    strong, weak, *_ = llm_pair
    llm = make_routed(threshold=1.0)  # P < 1: everything goes weak
    history = [ChatMessage(role="user", content="What is 3 times 4?")]
    response = llm.chat_with_tools([TOOL], chat_history=history)
    assert len(history) == 1  # the caller's history is not modified
    assert response.additional_kwargs["routellm"]["role"] == "weak"
    body = weak.requests[-1]
    assert body["tools"][0]["function"]["name"] == "multiply"  # formatted by the weak LLM itself
    assert strong.requests == []
    selections = llm.get_tool_calls_from_response(response)
    assert [(s.tool_name, s.tool_kwargs) for s in selections] == [("multiply", {"a": 3, "b": 3})]


def test_tool_call_fallback_keeps_a_clean_history(make_routed, llm_pair):
    strong, weak, *_ = llm_pair
    weak.fail_mode = "error"
    response = make_routed(threshold=1.0).chat_with_tools([TOOL], user_msg="What is 3 times 4?")
    assert response.additional_kwargs["routellm"]["fallback"] is True
    assert [m["role"] for m in strong.requests[-1]["messages"]] == ["user"]  # no duplicated user message


def test_stream_chat_with_tools(make_routed, llm_pair):
    llm = make_routed(threshold=0.0)  # everything goes strong
    chunks = list(llm.stream_chat_with_tools([TOOL], user_msg="multiply 2 and 5"))
    last = chunks[-1]
    assert last.additional_kwargs["routellm"]["role"] == "strong"
    assert [s.tool_name for s in llm.get_tool_calls_from_response(last)] == ["multiply"]


def test_predict_and_call_runs_the_tool(make_routed, llm_pair):
    output = make_routed(threshold=0.0).predict_and_call([TOOL], user_msg="What is 3 times 3?")
    assert calls == [(3, 3)]
    assert output.response == "9"
    assert llm_pair[0].requests and not llm_pair[1].requests


async def test_apredict_and_call(make_routed, llm_pair):
    output = await make_routed(threshold=1.0).apredict_and_call([TOOL], user_msg="What is 3 times 3?")
    assert output.response == "9" and calls == [(3, 3)]
    assert llm_pair[1].requests and not llm_pair[0].requests


def test_structured_predict(make_routed, llm_pair):
    from llama_index.core.prompts import PromptTemplate
    from pydantic import BaseModel

    class City(BaseModel):
        name: str
        population: int

    city = make_routed(threshold=1.0).structured_predict(City, PromptTemplate("Describe {city}."), city="Paris")
    assert city == City(name="name-text", population=3)  # the stub fills the tool schema
    assert llm_pair[1].requests[-1]["tools"][0]["function"]["name"] == "City"


@pytest.mark.parametrize("streaming", [False, True])
async def test_function_agent_calls_a_tool(make_routed, llm_pair, routing_events, streaming):
    from llama_index.core.agent.workflow import FunctionAgent

    strong, weak, *_ = llm_pair
    agent = FunctionAgent(tools=[TOOL], llm=make_routed(threshold=1.0), streaming=streaming,
                          system_prompt="Use the tools.")
    result = await agent.run(user_msg="What is 3 times 3?")
    assert calls == [(3, 3)]  # the agent executed the tool the routed model asked for
    assert len(weak.requests) == 2 and strong.requests == []  # tool call, then the answer after the tool result
    assert weak.requests[1]["messages"][-1]["role"] == "tool" and weak.requests[1]["messages"][-1]["content"] == "9"
    assert str(result.response.content).startswith("Answer from weak-model")
    assert [e.role for e in routing_events] == ["weak", "weak"]
