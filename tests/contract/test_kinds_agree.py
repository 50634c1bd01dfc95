"""The contract for every kind of routing: LangChain, LlamaIndex and the server decide alike (issue 22).

For a strong/weak pair (threshold rule), three priced models (price rule) and a cascade (weak first,
its answer judged), each front-end runs the same prompts against real OpenAI stub servers on
127.0.0.1, synchronously, asynchronously and streaming. Every call must route each prompt to the
same target, be answered by the same one, and label the answer with the same metadata keys.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pytest

from routellm_core import METADATA_FIELDS, RoutingPolicy
from routellm_core.testing import OpenAIStubServer

pytest.importorskip("langchain_openai")
pytest.importorskip("llama_index.llms.openai_like")

from contract_helpers import PRICES, PROMPTS, STAND_IN  # noqa: E402
REFUSAL = "I'm sorry, but I cannot help with that."
GOOD = ("Here is a careful answer. First, consider the definitions involved; then work through the steps one by "
        "one, checking each result, and finally summarise the conclusion with an example.")


def _gap(values) -> float:
    """The middle of the widest gap between sorted values: both sides occur, far from any value."""
    values = np.unique(np.asarray(values, dtype=float))
    i = int(np.argmax(np.diff(values)))
    return float((values[i] + values[i + 1]) / 2)


def _weak_answer(text: str) -> str:
    """The weak model refuses two of the prompts (a cascade should escalate what its scorer finds inadequate)."""
    return REFUSAL if any(w in text for w in ("primes", "hash")) else GOOD


@pytest.fixture(scope="module")
def stubs():
    names = ["strong", "weak", *PRICES]
    servers = {name: OpenAIStubServer(model=f"{name}-model").start() for name in names}
    servers["weak"].responder = lambda body: _weak_answer(json.dumps(body))
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="module")
def kinds(small_router, small_router_path, feature_scorer, stubs, tmp_path_factory):
    """Per kind: the front-ends' settings, their targets (key -> stub server), the server's config and model name."""
    router = str(small_router_path)
    pair_t = _gap(small_router.predict_proba(PROMPTS))
    price_engine = RoutingPolicy(router, candidates={k: {"input": p[0], "output": p[1], "router_model": STAND_IN[k]}
                                                     for k, p in PRICES.items()}, threshold=0.5)
    price_t = _gap([c.beaten_by_pricier for d in price_engine.decide(PROMPTS) for c in d.candidates
                    if c.beaten_by_pricier > 0])
    escalate_t = _gap(feature_scorer.predict_proba(PROMPTS, [_weak_answer(p) for p in PROMPTS]))
    scorer_dir = feature_scorer.save(tmp_path_factory.mktemp("scorer") / "scorer")
    pair = {"strong": stubs["strong"], "weak": stubs["weak"]}
    upstream = {role: {"base_url": s.base_url, "model": s.model} for role, s in pair.items()}
    return {
        "threshold": ({"router": router, "threshold": pair_t}, pair,
                      {**upstream, "routers": {"mf": router}}, f"router-mf-{pair_t!r}"),
        "price": ({"router": router, "threshold": price_t, "prices": PRICES, "router_models": STAND_IN},
                  {k: stubs[k] for k in PRICES},
                  {"routers": {"mf": router}, "multi_model": {
                      "router": "mf", "threshold": price_t,
                      "models": {k: {"base_url": stubs[k].base_url, "model": stubs[k].model, "price": list(PRICES[k]),
                                     "router_model": STAND_IN[k]} for k in PRICES}}}, "router-multi"),
        "cascade": ({"router": router, "cascade": {"scorer": feature_scorer, "escalate_threshold": escalate_t}}, pair,
                    {**upstream, "routers": {"mf": router},
                     "cascade": {"scorer": str(scorer_dir), "escalate_threshold": escalate_t}}, "cascade"),
    }


def _langchain(settings, targets):
    from langchain_openai import ChatOpenAI

    from langchain_routellm import ChatRouteLLM

    def client(server):
        return ChatOpenAI(model=server.model, base_url=server.base_url, api_key="test", max_retries=0, timeout=30,
                          http_async_client=httpx.AsyncClient(timeout=30))

    def make():  # a model (and async HTTP clients) per mode: an async client is bound to its event loop
        models = {k: client(s) for k, s in targets.items()}
        return ChatRouteLLM(**({"models": models} if "prices" in settings else models), **settings)

    llm = make()

    async def ainvoke(prompts):
        routed = make()
        return [(await routed.ainvoke(p)).response_metadata["routellm"] for p in prompts]

    async def astream(prompts):
        routed = make()
        return [[c async for c in routed.astream(p)][0].response_metadata["routellm"] for p in prompts]

    return {"invoke": lambda ps: [llm.invoke(p).response_metadata["routellm"] for p in ps],
            "ainvoke": lambda ps: asyncio.run(ainvoke(ps)),
            "stream": lambda ps: [next(iter(llm.stream(p))).response_metadata["routellm"] for p in ps],
            "astream": lambda ps: asyncio.run(astream(ps))}


def _llamaindex(settings, targets):
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    from llamaindex_routellm import RouteLLM

    def client(server):
        return OpenAILike(model=server.model, api_base=server.base_url, api_key="test", is_chat_model=True,
                          max_retries=0, timeout=30)

    def make():  # an LLM (and async HTTP clients) per mode: an async client is bound to its event loop
        models = {k: client(s) for k, s in targets.items()}
        return RouteLLM(**({"models": models} if "prices" in settings else models), **settings)

    llm = make()

    def user(p):
        return [ChatMessage(role="user", content=p)]

    async def achat(prompts):
        routed = make()
        return [(await routed.achat(user(p))).additional_kwargs["routellm"] for p in prompts]

    async def astream_chat(prompts):
        routed = make()
        return [[c async for c in await routed.astream_chat(user(p))][-1].additional_kwargs["routellm"]
                for p in prompts]

    return {"chat": lambda ps: [llm.chat(user(p)).additional_kwargs["routellm"] for p in ps],
            "achat": lambda ps: asyncio.run(achat(ps)),
            "stream_chat": lambda ps: [list(llm.stream_chat(user(p)))[-1].additional_kwargs["routellm"] for p in ps],
            "astream_chat": lambda ps: asyncio.run(astream_chat(ps))}


def _outcome(meta):
    return meta["routed_role"] or meta["routed_model"], meta["role"] or meta["model"]


@pytest.mark.parametrize("kind", ["threshold", "price", "cascade"])
def test_every_front_end_decides_alike_for_every_kind(kinds, kind):
    from routellm_core.server import ServerThread, create_app
    from routellm_core.server.config import build_config

    settings, targets, server_config, model = kinds[kind]
    calls = {**{f"langchain.{m}": f for m, f in _langchain(settings, targets).items()},
             **{f"llamaindex.{m}": f for m, f in _llamaindex(settings, targets).items()}}
    outcomes = {name: call(PROMPTS) for name, call in calls.items()}
    with ServerThread(create_app(build_config({**server_config, "warmup": False}))) as server:
        for stream in (False, True):
            rows = []
            for p in PROMPTS:
                body = {"model": model, "messages": [{"role": "user", "content": p}], "stream": stream}
                response = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=60)
                assert response.status_code == 200, response.text
                head = response.headers
                rows.append(response.json()["routellm"] if not stream else
                            {"routed_role": head["x-routellm-decision"], "routed_model": None,
                             "role": head["x-routellm-role"], "model": None})
            outcomes[f"server.{'sse' if stream else 'json'}"] = rows
    expected = [_outcome(m) for m in outcomes["langchain.invoke"]]
    for name, metas in outcomes.items():
        assert [_outcome(m) for m in metas] == expected, name
        if name != "server.sse":
            assert all(tuple(m) == METADATA_FIELDS and m["kind"] == kind for m in metas), name
    routed = [r for r, _ in expected]
    if kind == "cascade":  # escalated iff the scorer finds the weak answer inadequate; both occur
        from routellm_core.cascade_policy import load_scorer

        scorer, t = load_scorer(settings["cascade"]["scorer"]), settings["cascade"]["escalate_threshold"]
        p = scorer.predict_proba(PROMPTS, [_weak_answer(q) for q in PROMPTS])
        assert routed == ["strong" if v >= t else "weak" for v in p] and len(set(routed)) == 2
    else:  # the engine's own decisions, and both sides of the rule occur
        engine = RoutingPolicy(**{k: v for k, v in settings.items() if k not in ("prices", "router_models")},
                               **({"candidates": {k: {"input": p[0], "output": p[1], "router_model": STAND_IN[k]}
                                                  for k, p in PRICES.items()}} if kind == "price" else {}))
        assert routed == [d.role for d in engine.decide(PROMPTS)] and len(set(routed)) >= 2
