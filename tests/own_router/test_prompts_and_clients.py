"""Traffic formats (JSONL, CSV, text, LangSmith run export, server request log) and the three kinds of model."""

from __future__ import annotations

import json

import pytest
from conftest import spec

from routellm_core.own_router.labeller import Labeller
from routellm_core.own_router.prompts import read_prompts


def test_formats(tmp_path):
    (tmp_path / "p.txt").write_text("first prompt\n\nsecond prompt\nfirst prompt\n")
    assert [i.prompt for i in read_prompts(tmp_path / "p.txt")] == ["first prompt", "second prompt"]  # de-duplicated
    (tmp_path / "p.csv").write_text('id,question,reference\n7,"What is 2+2?",4\n8,Say hi,\n')
    items = read_prompts(tmp_path / "p.csv")
    assert [(i.key, i.prompt, i.reference) for i in items] == [("7", "What is 2+2?", "4"), ("8", "Say hi", None)]
    langsmith = [
        {"id": "run-1", "run_type": "llm", "inputs": {"messages": [[
            {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "SystemMessage"],
             "kwargs": {"content": "Be brief."}},
            {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "HumanMessage"],
             "kwargs": {"content": "Explain TCP slow start."}}]]}, "outputs": {}},
        {"id": "run-2", "inputs": {"question": "Capital of France?"}, "reference_outputs": {"answer": "Paris"}},
        {"id": "run-3", "inputs": {"messages": [{"type": "human", "data": {"content": "hello there"}}]}},
    ]
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in langsmith))
    items = read_prompts(tmp_path / "runs.jsonl")
    assert [(i.key, i.prompt) for i in items] == [("run-1", "Explain TCP slow start."), ("run-2", "Capital of France?"),
                                                 ("run-3", "hello there")]
    assert items[0].chat() == [{"role": "system", "content": "Be brief."},
                               {"role": "user", "content": "Explain TCP slow start."}]
    assert items[1].reference == "Paris"
    log = [{"request_id": "r1", "request": {"model": "router", "messages": [
        {"role": "user", "content": "Write a haiku"}, {"role": "assistant", "content": "..."},
        {"role": "user", "content": "Now a limerick"}]}}]
    (tmp_path / "server.jsonl").write_text(json.dumps(log[0]) + "\n")
    (item,) = read_prompts(tmp_path / "server.jsonl")
    assert item.key == "r1" and item.prompt == "Now a limerick" and len(item.chat()) == 3


def test_langchain_and_llamaindex_models(stubs, tmp_path):
    """A LangChain chat model as strong, a LlamaIndex LLM as weak, an endpoint as judge, all on loopback."""
    langchain_openai = pytest.importorskip("langchain_openai")
    openai_like = pytest.importorskip("llama_index.llms.openai_like")
    strong, weak, judge = stubs
    lc = langchain_openai.ChatOpenAI(model="strong-model", base_url=strong.base_url, api_key="k", max_retries=0)
    li = openai_like.OpenAILike(model="weak-model", api_base=weak.base_url, api_key="k", is_chat_model=True,
                                max_retries=0)
    (tmp_path / "p.txt").write_text("a hard proof\na chat message\n")
    out = tmp_path / "labels.jsonl"
    stats = Labeller(lc, li, spec(judge), fsync=False, log=lambda _m: None).label(read_prompts(tmp_path / "p.txt"), out)
    assert (stats.labelled, stats.errors) == (2, 0)
    rows = {json.loads(line)["prompt"]: json.loads(line) for line in out.read_text().splitlines()}
    assert rows["a hard proof"]["outcome"] == 1.0 and rows["a chat message"]["outcome"] == 0.0
    assert rows["a hard proof"]["model_a"] == "strong-model" and rows["a hard proof"]["model_b"] == "weak-model"
    assert strong.requests and weak.requests


def test_api_key_is_never_shown(monkeypatch):
    from routellm_core.own_router.clients import OpenAICompatibleClient

    monkeypatch.setenv("MY_KEY", "sk-very-secret")
    client = OpenAICompatibleClient("m", "http://127.0.0.1:9/v1", api_key_env="MY_KEY")
    assert "sk-very-secret" not in repr(client) and "sk-very-secret" not in repr(vars(client))
    assert client.api_key is not None and client.api_key.get_secret_value() == "sk-very-secret"
