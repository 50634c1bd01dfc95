"""The OpenAI stub server's scripted tool loops and its OpenAI-like check of tool histories (real HTTP)."""

from __future__ import annotations

import json

import httpx
import pytest

from routellm_core.testing import OpenAIStubServer, tool_steps

TOOLS = [{"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {}}}}
         for n in ("first", "second")]


def chat(server, messages, **body):
    return httpx.post(f"{server.base_url}/chat/completions", json={"model": "m", "messages": messages, **body},
                      timeout=10)


@pytest.fixture(scope="module")
def server():
    with OpenAIStubServer(model="stub") as srv:
        yield srv


def test_tool_steps_script_a_multi_step_loop(server):
    server.tool_responder = tool_steps("first", "second", arguments={"x": 1})
    messages = [{"role": "user", "content": "go"}]
    names = []
    for _ in range(3):
        message = chat(server, messages, tools=TOOLS).json()["choices"][0]["message"]
        messages.append(message)
        for call in message.get("tool_calls") or []:
            names.append((call["function"]["name"], json.loads(call["function"]["arguments"])))
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": "ok"})
    assert names == [("first", {"x": 1}), ("second", {"x": 1})]
    assert messages[-1]["content"].startswith("Answer from stub: go")
    server.tool_responder = None


def test_strict_tools_rejects_orphan_tool_messages(server):
    server.strict_tools = True
    try:
        orphan = {"role": "tool", "tool_call_id": "call_x", "content": "1"}
        bad = chat(server, [{"role": "user", "content": "hi"}, orphan])
        assert bad.status_code == 400 and "call_x" in bad.json()["error"]["message"]
        call = {"id": "call_x", "type": "function", "function": {"name": "first", "arguments": "{}"}}
        good = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": [call]}, orphan]
        assert chat(server, good).status_code == 200
    finally:
        server.strict_tools = False
