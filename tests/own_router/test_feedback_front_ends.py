"""Feedback from production through every front-end (issue 23): decision id -> score -> store -> training records.

Each front-end answers real prompts through real loopback OpenAI stub servers; the user's score is recorded
by the answer itself (LangChain message, LlamaIndex response) or by ``decision_id`` (server
``POST /v1/feedback``), lands in one SQLite file with the prompt, the model and the decision, and the
estimator turns it into training records for the pair.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from routellm_core import InvalidInputError, RoutingPolicy
from routellm_core.own_router.feedback import FeedbackStore, feedback_records

pytest.importorskip("langchain_openai")
pytest.importorskip("llama_index.llms.openai_like")

EASY, HARD = "Name a color.", ("Explain, step by step and with a worked example, how a hash map resolves collisions "
                               "and what that costs in the worst case.")


def _stored(path):
    with FeedbackStore(path) as store:
        return store.rows()


def _check_rows(rows, prompts_and_scores):
    assert [(r.prompt, r.score) for r in rows] == prompts_and_scores
    assert {r.role for r in rows} == {"weak", "strong"} and all(r.decision_id for r in rows)
    assert {r.model for r in rows} == {"strong-model", "weak-model"}
    records = feedback_records(rows)
    assert [(r.model_a, r.model_b) for r in records] == [("strong-model", "weak-model")] * len(rows)
    weak = next(r for r in records if r.source == "feedback:weak")
    assert weak.outcome > 0.5  # a badly scored weak answer says the strong model would have been better


def test_langchain_answers_carry_their_decision_and_take_feedback(openai_pair, word_count_router, tmp_path):
    from langchain_openai import ChatOpenAI

    from langchain_routellm import ChatRouteLLM

    strong, weak = openai_pair
    path = tmp_path / "feedback.sqlite"

    def client(server):
        return ChatOpenAI(model=server.model, base_url=server.base_url, api_key="test", max_retries=0)

    llm = ChatRouteLLM(strong=client(strong), weak=client(weak), router=word_count_router, threshold=0.5,
                       feedback=str(path))
    easy, hard = llm.invoke(EASY), asyncio.run(llm.ainvoke(HARD))
    assert easy.response_metadata["routellm"]["decision_id"] != hard.response_metadata["routellm"]["decision_id"]
    llm.record_feedback(easy, 0.0)  # the message itself
    llm.record_feedback(hard.response_metadata["routellm"]["decision_id"], 1.0)  # or its id
    _check_rows(_stored(path), [(EASY, 0.0), (HARD, 1.0)])
    with pytest.raises(InvalidInputError, match="in \\[0, 1\\]"):
        llm.record_feedback(easy, 7)
    with pytest.raises(InvalidInputError, match="not among the last"):
        llm.record_feedback("no-such-decision", 1.0)


def test_llamaindex_responses_take_feedback(openai_pair, word_count_router, tmp_path):
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    from llamaindex_routellm import RouteLLM

    strong, weak = openai_pair
    path = tmp_path / "feedback.sqlite"

    def client(server):
        return OpenAILike(model=server.model, api_base=server.base_url, api_key="test", is_chat_model=True,
                          max_retries=0)

    llm = RouteLLM(strong=client(strong), weak=client(weak), router=word_count_router, threshold=0.5, feedback=path)
    easy = llm.chat([ChatMessage(role="user", content=EASY)])
    hard = list(llm.stream_complete(HARD))[-1]
    llm.record_feedback(easy, 0.25)
    llm.record_feedback(hard, 0.75)
    _check_rows(_stored(path), [(EASY, 0.25), (HARD, 0.75)])


def test_server_feedback_endpoint(openai_pair, tmp_path):
    from routellm_core.server import ServerThread, create_app
    from routellm_core.server.config import build_config

    strong, weak = openai_pair
    path = tmp_path / "feedback.sqlite"
    base = {"strong": {"base_url": strong.base_url, "model": strong.model},
            "weak": {"base_url": weak.base_url, "model": weak.model}, "routers": {"random": "random"},
            "warmup": False}
    with ServerThread(create_app(build_config({**base, "feedback": {"store": str(path)}}))) as server:
        ids = {}
        for prompt, model in ((EASY, "router-random-1"), (HARD, "router-random-0")):
            body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
            answer = httpx.post(f"{server.base_url}/chat/completions", json=body).json()
            ids[prompt] = answer["routellm"]["decision_id"]
        for prompt, score in ((EASY, 0.0), (HARD, 1.0)):
            stored = httpx.post(f"{server.base_url}/feedback", json={"decision_id": ids[prompt], "score": score})
            assert stored.status_code == 200 and stored.json()["stored"] is True
        unknown = httpx.post(f"{server.base_url}/feedback", json={"decision_id": "nope", "score": 1.0})
        bad = httpx.post(f"{server.base_url}/feedback", json={"decision_id": ids[EASY], "score": "good"})
        metrics = httpx.get(f"{server.base_url.removesuffix('/v1')}/metrics").text
    assert unknown.status_code == 400 and "not among the last" in unknown.json()["error"]["message"]
    assert bad.status_code == 400
    assert 'routellm_feedback_total{role="weak"} 1.0' in metrics
    _check_rows(_stored(path), [(EASY, 0.0), (HARD, 1.0)])
    with ServerThread(create_app(build_config(base))) as server:  # no feedback section: the endpoint says so
        off = httpx.post(f"{server.base_url}/feedback", json={"decision_id": "x", "score": 1.0})
    assert off.status_code == 404 and "keeps no feedback" in off.json()["error"]["message"]


def test_exploration_flips_a_share_of_decisions_and_records_the_propensity(word_count_router):
    plain = RoutingPolicy(word_count_router, threshold=0.5)
    explored = RoutingPolicy(word_count_router, threshold=0.5, explore=0.25)
    prompts = [EASY, HARD] * 200
    base = [d.role for d in plain.decide(prompts)]
    decisions = explored.decide(prompts)
    flipped = [d.explored for d in decisions]
    assert all((d.role != b) == d.explored for d, b in zip(decisions, base, strict=True))
    assert all(d.propensity == (0.25 if d.explored else 0.75) for d in decisions)
    assert 50 <= sum(flipped) <= 150  # 400 draws at 0.25: 100 expected, these bounds are 5.7 standard deviations
    meta = decisions[0].metadata()
    assert meta["explored"] is flipped[0] and meta["propensity"] in (0.25, 0.75)
    assert plain.decide([EASY])[0].metadata()["propensity"] is None
    with pytest.raises(InvalidInputError, match="explore must be a rate"):
        RoutingPolicy(word_count_router, threshold=0.5, explore=0.7)
