"""The routing server's cascade model names, against real uvicorn and real OpenAI stub upstreams on 127.0.0.1."""

from __future__ import annotations

import json

import httpx
import pytest
from cascade_helpers import PROMPT, STRONG_ANSWER, WEAK_ANSWER

from routellm_core.cascade_policy import CASCADE_FIELDS
from routellm_core.policy import METADATA_FIELDS

pytest.importorskip("fastapi")


@pytest.fixture
def server(servers, tmp_path, feature_scorer):
    from routellm_core.server import ServerThread, create_app
    from routellm_core.server.config import build_config

    strong, weak = servers
    feature_scorer.save(tmp_path / "scorer")
    config = build_config({"strong": {"base_url": strong.base_url, "model": strong.model},
                           "weak": {"base_url": weak.base_url, "model": weak.model},
                           "routers": {"random": "random"}, "warmup": False,
                           "cascade": {"scorer": str(tmp_path / "scorer"), "escalate_threshold": 0.0}})
    with ServerThread(create_app(config)) as running:
        yield running, strong, weak


def _chat(server, model, stream=False, **extra):
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "stream": stream, **extra}
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=30)


def _sse_text(response) -> str:
    text = []
    for line in response.text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            text.append(json.loads(line[6:])["choices"][0]["delta"].get("content") or "")
    return "".join(text)


def test_bad_answer_escalates_good_answer_is_kept(server):
    running, strong, weak = server
    r = _chat(running, "cascade")  # configured escalate threshold 0.0: every answer is "bad"
    meta = r.json()["routellm"]
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == STRONG_ANSWER
    assert set(meta) == set(METADATA_FIELDS) | set(CASCADE_FIELDS) and meta["calls"] == ["weak", "strong"]
    assert meta["wasted_calls"] == 1 and meta["model"] == "strong-model" and meta["escalated"] is True
    assert r.headers["x-routellm-calls"] == "weak,strong" and r.headers["x-routellm-escalated"] == "true"
    kept = _chat(running, "cascade-1.0")
    assert kept.json()["choices"][0]["message"]["content"] == WEAK_ANSWER
    assert kept.json()["routellm"]["calls"] == ["weak"] and len(strong.requests) == 1 and len(weak.requests) == 2
    models = httpx.get(f"{running.base_url}/models").json()["data"]
    assert "cascade" in {m["id"] for m in models}


def test_stream_is_buffered_and_scored_before_the_first_byte(server):
    running, strong, weak = server
    r = _chat(running, "cascade", stream=True)
    assert r.headers["x-routellm-calls"] == "weak,strong" and _sse_text(r) == STRONG_ANSWER  # no weak event sent
    kept = _chat(running, "cascade-1.0", stream=True)
    assert kept.headers["x-routellm-escalated"] == "false" and _sse_text(kept) == WEAK_ANSWER
    assert kept.text.rstrip().endswith("data: [DONE]")


def test_tool_call_is_not_cascaded_and_bad_names_are_400(server):
    running, strong, weak = server
    tools = [{"type": "function", "function": {"name": "calculator", "parameters": {
        "type": "object", "properties": {"expression": {"type": "string"}}}}}]
    r = _chat(running, "cascade", tools=tools)
    assert r.json()["choices"][0]["message"]["tool_calls"] and not strong.requests
    assert r.json()["routellm"]["cascade_skipped"] == "tool_calls"
    bad = _chat(running, "cascade-2")
    assert bad.status_code == 400 and "not a number in [0, 1]" in bad.json()["error"]["message"]


def test_failed_weak_upstream_falls_back_to_strong(server):
    running, strong, weak = server
    weak.fail_mode = "error"
    meta = _chat(running, "cascade-1.0").json()["routellm"]
    assert meta["role"] == "strong" and meta["fallback"] is True and meta["calls"] == ["strong"]


def test_bad_cascade_config_names_the_problem(servers, tmp_path):
    from routellm_core.server import create_app
    from routellm_core.server.config import build_config
    from routellm_core.server.errors import ConfigError

    strong, weak = servers
    base = {"strong": {"base_url": strong.base_url, "model": "s"}, "weak": {"base_url": weak.base_url, "model": "w"},
            "routers": {"random": "random"}, "warmup": False}
    with pytest.raises(ConfigError, match="cascade.router 'mf' is not in routers"):
        build_config({**base, "cascade": {"escalate_threshold": 0.5, "router": "mf", "threshold": 0.2}})
    with pytest.raises(ConfigError, match="both router and threshold"):
        build_config({**base, "cascade": {"escalate_threshold": 0.5, "router": "random"}})
    with pytest.raises(ConfigError, match="cascade: checkpoint not found"):
        create_app(build_config({**base, "cascade": {"escalate_threshold": 0.5, "scorer": str(tmp_path / "none")}}))
