"""The multi-model contract: the engine, LangChain, LlamaIndex, the decision model and the server pick alike.

Three priced candidates on real loopback OpenAI stub servers, the small MF router, one threshold per
run: every front-end must send each prompt to the candidate ``MultiModelPolicy`` picks, and label it
with the same metadata fields.
"""

from __future__ import annotations

import httpx
import pytest

from routellm_core.multi_model import MULTI_METADATA_FIELDS, MultiModelPolicy, make_candidates
from routellm_core.testing import OpenAIStubServer

pytest.importorskip("langchain_openai")
pytest.importorskip("llama_index.llms.openai_like")

from contract_helpers import PRICES, PROMPTS, STAND_IN  # noqa: E402


@pytest.fixture(scope="module")
def threshold(small_router_path) -> float:
    """The middle of the widest gap between the prompts' beaten-by-pricier values: several models get calls."""
    import numpy as np

    engine = MultiModelPolicy(str(small_router_path), make_candidates(list(PRICES), PRICES, STAND_IN), threshold=0.5)
    values = np.unique([c.beaten_by_pricier for d in engine.decide(PROMPTS) for c in d.candidates
                        if c.beaten_by_pricier > 0])
    i = int(np.argmax(np.diff(values)))
    return float((values[i] + values[i + 1]) / 2)


def test_every_front_end_picks_the_engine_s_candidate(small_router_path, threshold):
    from langchain_core.decisions import Choice
    from langchain_openai import ChatOpenAI
    from llama_index.llms.openai_like import OpenAILike

    from langchain_routellm import ChatRouteLLM, RouteLLMDecisionModel
    from llamaindex_routellm import RouteLLM
    from routellm_core.server import ServerThread, create_app
    from routellm_core.server.config import build_config

    router = str(small_router_path)
    engine = MultiModelPolicy(router, make_candidates(list(PRICES), PRICES, STAND_IN), threshold=threshold)
    expected = [d.model for d in engine.decide(PROMPTS)]
    assert len(set(expected)) >= 2, expected  # the comparison means something
    settings = {"prices": PRICES, "router_models": STAND_IN, "router": router, "threshold": threshold}
    with (OpenAIStubServer(model="big") as big, OpenAIStubServer(model="mini") as mini,
          OpenAIStubServer(model="local") as local):
        servers = {"gpt-4o": big, "gpt-4o-mini": mini, "local": local}
        lc = ChatRouteLLM(models={k: ChatOpenAI(model=s.model, base_url=s.base_url, api_key="test", max_retries=0)
                                  for k, s in servers.items()}, **settings)
        li = RouteLLM(models={k: OpenAILike(model=s.model, api_base=s.base_url, api_key="test", is_chat_model=True,
                                            max_retries=0) for k, s in servers.items()}, **settings)
        dm = RouteLLMDecisionModel(**settings)
        question = {"route": Choice(instructions="Which model?", criteria={k: k for k in PRICES})}
        config = {"strong": {"base_url": big.base_url, "model": "big"}, "weak": {"base_url": local.base_url,
                                                                              "model": "local"},
                  "routers": {"mf": router}, "warmup": False,
                  "multi_model": {"router": "mf", "threshold": threshold,
                                  "models": {k: {"base_url": s.base_url, "model": s.model, "price": list(PRICES[k]),
                                                 "router_model": STAND_IN[k]} for k, s in servers.items()}}}
        with ServerThread(create_app(build_config(config))) as server:
            served = [httpx.post(f"{server.base_url}/chat/completions", timeout=30,
                                 json={"model": "router-multi", "messages": [{"role": "user", "content": p}]}).json()
                      for p in PROMPTS]
        lc_meta = [lc.invoke(p).response_metadata["routellm"] for p in PROMPTS]
        li_meta = [li.complete(p).additional_kwargs["routellm"] for p in PROMPTS]
        dm_pick = [dm.invoke({"state": p, "questions": question}).choices["route"].choice for p in PROMPTS]
    assert [m["model"] for m in lc_meta] == expected
    assert [m["model"] for m in li_meta] == expected
    assert dm_pick == expected
    assert [s["routellm"]["model"] for s in served] == expected
    assert [s["model"] for s in served] == [servers[m].model for m in expected]
    for meta in (lc_meta[0], li_meta[0], served[0]["routellm"]):
        assert set(MULTI_METADATA_FIELDS) <= set(meta)
