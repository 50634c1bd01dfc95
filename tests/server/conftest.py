"""Routing servers on 127.0.0.1 (uvicorn in a thread, port 0) in front of two real OpenAI stub upstreams."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from routellm_core.server import ServerThread, create_app
from routellm_core.server.config import build_config
from routellm_core.testing import OpenAIStubServer


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@pytest.fixture
def three():
    """Three OpenAI stub upstreams for multi-model routing (see server_helpers.multi_config)."""
    with (OpenAIStubServer(model="big-model") as big, OpenAIStubServer(model="mini-model") as mini,
          OpenAIStubServer(model="local-model") as local):
        yield {"gpt-4o": big, "gpt-4o-mini": mini, "local": local}


@pytest.fixture
def server_config(openai_pair, small_router_path) -> dict[str, Any]:
    """A config mapping for the stub pair and the small MF router (tests tweak a copy)."""
    strong, weak = openai_pair
    return {
        "strong": {"base_url": strong.base_url, "model": strong.model, "timeout": 5, "connect_timeout": 1},
        "weak": {"base_url": weak.base_url, "model": weak.model, "timeout": 5, "connect_timeout": 1},
        "routers": {"mf": str(small_router_path)},
        "aliases": {"always-strong": {"router": "mf", "threshold": 0.0}, "always-weak": "router-mf-1.0"},
    }


@pytest.fixture
def make_server(server_config):
    """``make_server(**overrides) -> ServerThread`` serving ``create_app`` of the merged config."""
    started: list[ServerThread] = []

    def make(**overrides: Any) -> ServerThread:
        app = create_app(build_config(_merge(server_config, overrides)))
        server = ServerThread(app).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server) -> ServerThread:
    return make_server()
