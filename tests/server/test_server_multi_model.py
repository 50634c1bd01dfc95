"""Multi-model routing through the server: config lists three priced upstreams; real OpenAI clients."""

from __future__ import annotations

import httpx
import openai
import pytest
from server_helpers import PROMPT, budget_config, multi_config

from routellm_core.server import ServerThread, create_app
from routellm_core.server.config import build_config
from routellm_core.server.errors import ConfigError

pytestmark = pytest.mark.timeout(120)
MESSAGES = [{"role": "user", "content": PROMPT}]


def test_routes_among_three_upstreams_and_falls_back(make_server, three):
    cheap = make_server(multi_model=multi_config(three, 1.0))
    client = openai.OpenAI(base_url=cheap.base_url, api_key="test", max_retries=0, timeout=30)
    assert "router-multi" in [m.id for m in client.models.list().data]
    raw = client.chat.completions.with_raw_response.create(model="router-multi", messages=MESSAGES)
    reply = raw.parse()
    assert reply.model == "local-model" and raw.headers["x-routellm-role"] == "local"
    meta = raw.http_response.json()["routellm"]
    assert meta["model"] == "local" and {c["model"] for c in meta["candidates"]} == set(three)
    three["local"].fail_mode = "error"
    meta = httpx.post(f"{cheap.base_url}/chat/completions", json={"model": "router-multi", "messages": MESSAGES},
                      timeout=30).json()["routellm"]
    nxt = [c["model"] for c in sorted(meta["candidates"], key=lambda c: -c["score"]) if c["model"] != "local"][0]
    assert meta["routed_model"] == "local" and meta["model"] == nxt and meta["fallback"] is True
    text = "".join(c.choices[0].delta.content or "" for c in
                   client.chat.completions.create(model="router-multi", messages=MESSAGES, stream=True) if c.choices)
    assert text and "local-model" not in text
    top = make_server(multi_model=multi_config(three, 0.0))
    decision = httpx.post(f"{top.base_url}/route", json={"model": "router-multi", "prompt": PROMPT}).json()
    assert decision["model"] == "gpt-4o"
    # two-model requests are unchanged
    assert httpx.post(f"{top.base_url}/route", json={"model": "always-weak", "prompt": PROMPT}).json()["role"] == "weak"


def test_bad_multi_model_configs_are_clear_errors(server_config, three):
    bad_price = multi_config(three, 0.5)
    bad_price["models"]["local"]["price"] = [-1, 0]
    with pytest.raises(ConfigError, match="price"):
        create_app(build_config({**server_config, "multi_model": bad_price}))
    unknown = multi_config(three, 0.5)
    unknown["models"]["local"]["router_model"] = None
    with pytest.raises(ConfigError, match="it knows"):
        create_app(build_config({**server_config, "multi_model": unknown}))
    with pytest.raises(ConfigError, match="not in routers"):
        build_config({**server_config, "multi_model": {**multi_config(three, 0.5), "router": "nope"}})


def test_a_multi_model_only_server_needs_no_strong_weak_pair(server_config, three):
    only_multi = {"routers": server_config["routers"], "multi_model": multi_config(three, 1.0)}
    server = ServerThread(create_app(build_config(only_multi))).start()
    try:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=30)
        assert [m.id for m in client.models.list().data] == ["router-multi"]
        reply = client.chat.completions.create(model="router-multi", messages=MESSAGES)
        assert reply.model == "local-model"
        health = httpx.get(server.base_url.removesuffix("/v1") + "/health").json()
        assert health["upstreams"] == {} and set(health["multi_model"]) == set(three)
        # a strong/weak model name is a 400 that says what this server serves, not a 500
        for path, body in (("chat/completions", {"model": "router-mf-0.5", "messages": MESSAGES}),
                           ("route", {"model": "router-mf-0.5", "prompt": PROMPT})):
            response = httpx.post(f"{server.base_url}/{path}", json=body, timeout=30)
            assert response.status_code == 400 and "router-multi" in response.json()["error"]["message"]
    finally:
        server.stop()
    # one of the pair alone, no upstreams at all, or aliases/cascade without the pair: clear errors
    with pytest.raises(ConfigError, match="missing: weak"):
        build_config({**only_multi, "strong": server_config["strong"]})
    with pytest.raises(ConfigError, match="strong and weak upstreams are required"):
        build_config({"routers": server_config["routers"]})
    with pytest.raises(ConfigError, match="aliases route between strong and weak"):
        build_config({**only_multi, "aliases": server_config["aliases"]})


def test_online_budget_on_a_drifting_stream(make_server, three, budget_stream):
    budget, window = budget_stream["budget"], budget_stream["window"]
    server = make_server(multi_model=budget_config(three, budget_stream))
    metas = []
    for i, prompt in enumerate(budget_stream["prompts"]):
        body = {"model": "router-multi", "messages": [{"role": "user", "content": prompt}]}
        endpoint = "chat/completions" if i % 20 == 0 else "route"  # decisions alone, and some real calls
        response = httpx.post(f"{server.base_url}/{endpoint}", json=body, timeout=30)
        assert response.status_code == 200, response.text
        metas.append(response.json()["routellm"] if endpoint == "chat/completions" else response.json())
    windows = budget_stream["spends"](metas)
    assert max(windows) <= 1.1 * budget + 1e-9 and min(windows[window:]) >= 0.85 * budget
