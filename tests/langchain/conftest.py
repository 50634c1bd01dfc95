"""Fixtures for the LangChain tests: two real OpenAI-compatible servers on 127.0.0.1 and real
ChatOpenAI clients for them; the router is the small real MF router from tests/conftest.py."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langchain_openai")

_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"")


def _last_user_text(body: dict[str, Any]) -> str:
    from routellm_core.testing.openai_server import OpenAIStubServer

    return OpenAIStubServer._last_user_text(body)


def _quoted(text: str) -> list[str]:
    return [a or b for a, b in _QUOTED.findall(text)]


def follow_json_instructions(body: dict[str, Any]) -> dict[str, Any]:
    """JSON mode like an instruction-following model: the keys the prompt names in quotes."""
    keys = _quoted(_last_user_text(body))
    return {key: f"{key} from the stub" for key in keys} or {"answer": "stub"}


def copy_quoted_arguments(body: dict[str, Any], function: dict[str, Any]) -> dict[str, Any]:
    """Tool arguments from the schema; string arguments take the text the user quoted, if any."""
    from routellm_core.testing.openai_server import _sample_from_schema

    args = _sample_from_schema(function.get("parameters") or {"type": "object", "properties": {}})
    quoted = _quoted(_last_user_text(body))
    if quoted and isinstance(args, dict):
        args = {k: (quoted[0] if isinstance(v, str) else v) for k, v in args.items()}
    return args


@pytest.fixture(scope="session")
def stub_servers():
    """("strong-model", "weak-model") servers for the whole session (started once)."""
    from routellm_core.testing import OpenAIStubServer

    kwargs = {"json_responder": follow_json_instructions, "arguments_responder": copy_quoted_arguments}
    with OpenAIStubServer(model="strong-model", **kwargs) as strong, OpenAIStubServer(model="weak-model", **kwargs) as weak:
        yield strong, weak


@pytest.fixture
def servers(stub_servers):
    """The session servers, with fault injection and request logs reset around each test."""
    strong, weak = stub_servers
    for server in (strong, weak):
        server.fail_mode, server.delay = None, 0.0
        server.requests.clear()
    yield strong, weak
    for server in (strong, weak):
        server.fail_mode, server.delay = None, 0.0


@pytest.fixture
def make_routed(servers, small_router_path):
    """Build a ChatRouteLLM over the two servers with the small router (keyword overrides allowed)."""
    from lc_helpers import chat_openai

    from langchain_routellm import ChatRouteLLM

    strong, weak = servers

    def make(**kwargs: Any) -> ChatRouteLLM:
        params = {"strong": chat_openai(strong), "weak": chat_openai(weak), "router": str(small_router_path),
                  "threshold": 0.5}
        return ChatRouteLLM(**{**params, **kwargs})

    return make


def pytest_collection_modifyitems(config, items) -> None:
    """Skip the standard tests a test class names in ``SKIP_REASONS``, with the reason it gives.

    langchain-tests forbids overriding its tests (except as xfail), so skips are added as markers.
    """
    for item in items:
        reasons = getattr(getattr(item, "cls", None), "SKIP_REASONS", None) or {}
        name = getattr(item, "originalname", item.name)
        if name in reasons:
            item.add_marker(pytest.mark.skip(reason=reasons[name]))
