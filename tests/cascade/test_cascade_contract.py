"""The cascade contract: LangChain, LlamaIndex, the server and the CLI make the same answer-stage decisions.

One real scorer and one escalate threshold (between the scores of a refusal and of a worked answer);
each front-end runs against the same loopback servers and must keep / escalate the same answers
with the same P(inadequate) and the same metadata keys.
"""

from __future__ import annotations

import json

import httpx
import pytest
from cascade_helpers import WEAK_ANSWER

from routellm_core.cascade_policy import CASCADE_FIELDS
from routellm_core.cli import main
from routellm_core.policy import METADATA_FIELDS

pytest.importorskip("langchain_openai")
pytest.importorskip("llama_index.llms.openai_like")

REFUSAL = "I'm sorry, but I cannot help with that."
PROMPTS = ["How many clips did Natalia sell in April and May together? Refuse.",
           "How many clips did Natalia sell in April and May together?"]


def test_every_front_end_decides_the_answer_stage_alike(servers, feature_scorer, tmp_path, capsys):
    from langchain_openai import ChatOpenAI
    from llama_index.llms.openai_like import OpenAILike

    from langchain_routellm import ChatRouteLLM
    from llamaindex_routellm import RouteLLM
    from routellm_core.server import ServerThread, create_app
    from routellm_core.server.config import build_config

    strong, weak = servers
    weak.responder = lambda body: REFUSAL if "Refuse" in body["messages"][-1]["content"] else WEAK_ANSWER
    p_bad, p_good = feature_scorer.predict_proba(PROMPTS, [REFUSAL, WEAK_ANSWER])
    assert p_bad > p_good
    threshold = float((p_bad + p_good) / 2)
    cascade = {"scorer": feature_scorer, "escalate_threshold": threshold}
    path = feature_scorer.save(tmp_path / "scorer")

    lc = ChatRouteLLM(strong=ChatOpenAI(model="strong-model", base_url=strong.base_url, api_key="t", max_retries=0),
                      weak=ChatOpenAI(model="weak-model", base_url=weak.base_url, api_key="t", max_retries=0),
                      cascade=cascade)

    def li_client(server):
        return OpenAILike(model=server.model, api_base=server.base_url, api_key="t", is_chat_model=True, max_retries=0)

    li = RouteLLM(strong=li_client(strong), weak=li_client(weak), cascade=cascade)
    config = build_config({"strong": {"base_url": strong.base_url, "model": "strong-model"},
                           "weak": {"base_url": weak.base_url, "model": "weak-model"}, "routers": {"random": "random"},
                           "warmup": False, "cascade": {"scorer": str(path), "escalate_threshold": threshold}})
    results = {"langchain": [lc.invoke(p).response_metadata["routellm"] for p in PROMPTS],
               "llamaindex": [li.complete(p).additional_kwargs["routellm"] for p in PROMPTS]}
    with ServerThread(create_app(config)) as server:
        results["server"] = [httpx.post(f"{server.base_url}/chat/completions", timeout=30, json={
            "model": "cascade", "messages": [{"role": "user", "content": p}]}).json()["routellm"] for p in PROMPTS]
    for name, metas in results.items():
        assert [m["escalated"] for m in metas] == [True, False], name
        assert [m["calls"] for m in metas] == [["weak", "strong"], ["weak"]], name
        assert [m["model"] for m in metas] == ["strong-model", "weak-model"], name
        assert [m["answer_p_inadequate"] for m in metas] == pytest.approx([p_bad, p_good]), name
        assert all(set(m) == set(METADATA_FIELDS) | set(CASCADE_FIELDS) for m in metas), name
    for prompt, answer, expected in zip(PROMPTS, [REFUSAL, WEAK_ANSWER], [True, False]):
        assert main(["check-answer", "--prompt", prompt, "--answer", answer, "--scorer", str(path),
                     "--escalate-threshold", repr(threshold)]) == 0
        assert json.loads(capsys.readouterr().out)["escalate"] is expected
