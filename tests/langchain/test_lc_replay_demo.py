"""The replay chat model (recorded GSM8K answers), call pricing, and the quickstart demo."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import pytest

from langchain_routellm import ChatRouteLLM, Price, ReplayChatModel, call_cost, load_gsm8k
from routellm_core import InvalidInputError

DEMO = Path(__file__).resolve().parents[2] / "examples" / "langchain_quickstart.py"


@pytest.fixture(scope="module")
def gsm8k_rows(data_dir):
    """The first rows of the GSM8K table, read independently with the csv module."""
    csv.field_size_limit(sys.maxsize)
    with open(data_dir / "routellm_evals" / "gsm8k" / "gsm8k_responses.csv", newline="", encoding="utf-8") as f:
        return [row for _, row in zip(range(5), csv.DictReader(f))]


def test_replay_answers_with_the_recorded_answer(gsm8k_rows, data_dir):
    strong = ReplayChatModel.from_gsm8k("gpt-4-1106-preview", data_dir)
    weak = ReplayChatModel.from_gsm8k("mistralai/Mixtral-8x7B-Instruct-v0.1", data_dir)
    row = gsm8k_rows[1]
    reply = strong.invoke(row["prompt"])
    assert reply.content == row["gpt-4-1106-preview_response"].strip()
    assert weak.invoke(row["prompt"]).content == row["mistralai/Mixtral-8x7B-Instruct-v0.1_response"].strip()
    assert reply.response_metadata["model_name"] == "gpt-4-1106-preview"
    assert reply.response_metadata["token_counts"] == "approximate"
    assert reply.usage_metadata["output_tokens"] == -(-len(reply.content) // 4)
    chunks = list(strong.stream(row["prompt"]))
    assert len(chunks) > 3 and "".join(c.content for c in chunks) == reply.content
    assert sum(c.usage_metadata is not None and c.usage_metadata["output_tokens"] > 0 for c in chunks) == 1


def test_replay_errors(data_dir):
    with pytest.raises(InvalidInputError, match="no recorded GSM8K answers for 'gpt-5'"):
        ReplayChatModel.from_gsm8k("gpt-5", data_dir)
    with pytest.raises(InvalidInputError, match="no recorded answer for this prompt"):
        ReplayChatModel.from_gsm8k("gpt-4-1106-preview", data_dir).invoke("What is the capital of France?")


def test_gsm8k_loader_and_routed_replay(data_dir, gsm8k_rows, small_router_path):
    items = load_gsm8k(data_dir)
    assert len(items) == 1319 and items[0].prompt == gsm8k_rows[0]["prompt"]
    assert items[0].correct["gpt-4-1106-preview"] == (gsm8k_rows[0]["gpt-4-1106-preview"] == "True")
    llm = ChatRouteLLM(strong=ReplayChatModel.from_gsm8k("gpt-4-1106-preview", data_dir),
                       weak=ReplayChatModel.from_gsm8k("mixtral-8x7b-instruct-v0.1", data_dir),
                       router=str(small_router_path), strong_fraction=0.5,
                       calibration_prompts=[i.prompt for i in items[:4]])
    replies = llm.batch([i.prompt for i in items[:4]])
    roles = [r.response_metadata["routellm"]["role"] for r in replies]
    assert roles.count("strong") == 2
    for item, reply, role in zip(items, replies, roles):
        model = "gpt-4-1106-preview" if role == "strong" else "mixtral-8x7b-instruct-v0.1"
        assert reply.content == item.answers[model]


def test_prices():
    price = Price(10.0, 30.0)
    assert call_cost({"input_tokens": 1000, "output_tokens": 100}, price) == pytest.approx(0.013)
    assert call_cost(None, price) is None
    assert Price.parse("0.24,0.24") == Price(0.24, 0.24)
    with pytest.raises(InvalidInputError, match="a price must be"):
        Price.parse("cheap")


def _demo():
    spec = importlib.util.spec_from_file_location("langchain_quickstart", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_replays_recorded_answers(small_router_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = _demo().main(["--router", str(small_router_path), "--questions", "3", "--calibration-size", "20"])
    out = capsys.readouterr().out
    assert code == 0
    assert "OPENAI_API_KEY is not set: replaying" in out
    assert out.count("routed to ") == 3 and out.count("recorded as correct:") == 3
    assert "cost $" in out and "(approx.)" in out and "all on the strong model" in out
    assert "routellm_threshold=0.0: Q1 -> strong" in out and "routellm_threshold=1.0: Q1 -> weak" in out


def test_demo_with_an_openai_compatible_endpoint(small_router_path, servers, capsys, monkeypatch):
    strong, _ = servers
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("OPENAI_BASE_URL", strong.base_url)
    monkeypatch.setenv("ROUTELLM_STRONG_MODEL", "big")
    monkeypatch.setenv("ROUTELLM_WEAK_MODEL", "small")
    monkeypatch.setenv("ROUTELLM_WEAK_PRICE", "1,2")
    code = _demo().main(["--router", str(small_router_path), "--questions", "2", "--calibration-size", "10"])
    out = capsys.readouterr().out
    assert code == 0 and "routing between big (strong) and small (weak)" in out
    assert "weak $1.0/$2.0" in out and out.count("routed to ") == 2
    assert {body["model"] for body in strong.requests} == {"big", "small"}  # both roles were called
    assert "(approx.)" not in out


def test_demo_bad_arguments(capsys):
    assert _demo().main(["--questions", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err
