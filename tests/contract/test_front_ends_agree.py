"""The contract: LangChain, LlamaIndex, the HTTP server (real uvicorn) and the CLI decide alike.

The same prompts, router and threshold go through each front-end against real OpenAI-compatible
stub servers on 127.0.0.1; every front-end must route each prompt the same way, report the same
probability, and label answers with the same metadata fields (``METADATA_FIELDS``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import numpy as np
import pytest

from routellm_core import METADATA_FIELDS

pytest.importorskip("langchain_openai")
pytest.importorskip("llama_index.llms.openai_like")

PROMPTS = ["What is 2 + 2?", "Prove that there are infinitely many primes.", "Write a haiku about autumn.",
           "Explain how a hash map handles collisions.", "Name three primary colors."]


@pytest.fixture(scope="module")
def threshold(small_router) -> float:
    """The middle of the widest gap between the prompts' scores: both roles occur, far from any score."""
    probs = np.sort(small_router.predict_proba(PROMPTS))
    i = int(np.argmax(np.diff(probs)))
    return float((probs[i] + probs[i + 1]) / 2)


def _langchain(strong, weak, router_path, threshold) -> list[dict]:
    from langchain_openai import ChatOpenAI

    from langchain_routellm import ChatRouteLLM

    def client(server):
        return ChatOpenAI(model=server.model, base_url=server.base_url, api_key="test", max_retries=0, timeout=30)

    llm = ChatRouteLLM(strong=client(strong), weak=client(weak), router=str(router_path), threshold=threshold)
    return [llm.invoke(p).response_metadata["routellm"] for p in PROMPTS]


def _llamaindex(strong, weak, router_path, threshold) -> list[dict]:
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    from llamaindex_routellm import RouteLLM

    def client(server):
        return OpenAILike(model=server.model, api_base=server.base_url, api_key="test", is_chat_model=True,
                          max_retries=0, timeout=30)

    llm = RouteLLM(strong=client(strong), weak=client(weak), router=str(router_path), threshold=threshold)
    return [llm.chat([ChatMessage(role="user", content=p)]).additional_kwargs["routellm"] for p in PROMPTS]


def _server(strong, weak, router_path, threshold) -> list[dict]:
    from routellm_core.server import ServerThread, create_app
    from routellm_core.server.config import build_config

    config = build_config({"strong": {"base_url": strong.base_url, "model": strong.model},
                           "weak": {"base_url": weak.base_url, "model": weak.model},
                           "routers": {"mf": str(router_path)}})
    with ServerThread(create_app(config)) as server:
        return [httpx.post(f"{server.base_url}/chat/completions", timeout=60,
                           json={"model": f"router-mf-{threshold!r}",
                                 "messages": [{"role": "user", "content": p}]}).json()["routellm"]
                for p in PROMPTS]


def _cli(router_path, threshold) -> list[dict]:
    args = [sys.executable, "-m", "routellm_core.cli", "route", "--router", str(router_path),
            "--threshold", repr(threshold)]
    for p in PROMPTS:
        args += ["--prompt", p]
    out = subprocess.run(args, capture_output=True, text=True, timeout=300, check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_every_front_end_makes_the_same_decisions_with_the_same_fields(openai_pair, small_router_path, small_router,
                                                                        threshold):
    strong, weak = openai_pair
    results = {
        "langchain": _langchain(strong, weak, small_router_path, threshold),
        "llamaindex": _llamaindex(strong, weak, small_router_path, threshold),
        "server": _server(strong, weak, small_router_path, threshold),
        "cli": _cli(small_router_path, threshold),
    }
    probs = small_router.predict_proba(PROMPTS)
    expected_roles = ["strong" if p >= threshold else "weak" for p in probs]
    assert set(expected_roles) == {"strong", "weak"}
    for name, metas in results.items():
        assert len(metas) == len(PROMPTS), name
        for meta, role, p in zip(metas, expected_roles, probs, strict=True):
            assert tuple(meta) == METADATA_FIELDS, (name, meta)
            assert meta["routed_role"] == role and meta["role"] == role, (name, meta)
            # MiniLM may run in bfloat16: a prompt embedded alone or in a batch differs in the 4th digit
            assert meta["probability"] == pytest.approx(float(p), abs=5e-3), name
            assert meta["threshold"] == pytest.approx(threshold) and meta["router"] == "mf", name
            assert meta["fallback"] is False and meta["fallback_error"] is None, name
    # the front-ends that call a model name the upstream model that answered
    for name in ("langchain", "llamaindex", "server"):
        assert [m["model"] for m in results[name]] == [f"{r}-model" for r in expected_roles], name
