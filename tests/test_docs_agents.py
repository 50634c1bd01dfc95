"""Every code block of docs/agents.md runs, in order, offline.

The blocks are the user's code unchanged except for two documented substitutions: the OpenAI
clients reach a real OpenAI-compatible server on 127.0.0.1 (``OPENAI_BASE_URL`` / ``OPENAI_API_BASE``
and a test key in the environment), and ``router="mf"`` becomes the small router trained on real
data for the tests (training the default router would take minutes). The server answers for any
model name and records it, so the test checks that each routed answer came from the model the
decision named.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("langchain.agents")
pytest.importorskip("llama_index.llms.openai")

DOC = Path(__file__).resolve().parents[1] / "docs" / "agents.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def python_blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text(encoding="utf-8"))


def test_every_block_runs_and_answers_come_from_the_routed_model(small_router_path, monkeypatch, capsys):
    from llama_index.core.instrumentation import get_dispatcher

    from routellm_core.testing import OpenAIStubServer

    blocks = python_blocks()
    assert len(blocks) >= 6
    root = get_dispatcher()
    handlers = list(root.event_handlers)
    with OpenAIStubServer(model="stub") as server:
        for key, value in {"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": server.base_url,
                           "OPENAI_API_BASE": server.base_url}.items():
            monkeypatch.setenv(key, value)
        namespace: dict = {"__name__": "docs_agents"}
        try:
            for i, block in enumerate(blocks):
                code = block.replace('router="mf"', f"router={str(small_router_path)!r}")
                seen = len(server.requests)
                exec(compile(code, f"{DOC.name}[block {i}]", "exec"), namespace)  # noqa: S102 -- our own docs
                if i == 0:  # the first agent turn: every model call went to the model the decision named
                    state = namespace["state"]
                    models = {body["model"] for body in server.requests[seen:]}
                    assert models == {state["routellm"]["model"]}
                    assert state["routellm"]["model"] in ("gpt-4o", "gpt-4o-mini")
        finally:
            root.event_handlers = handlers
    out = capsys.readouterr().out
    assert "'routed_role':" in out and "routed:" in out  # the decisions were printed by the examples
    models = {body["model"] for body in server.requests}
    assert models <= {"gpt-4o", "gpt-4o-mini"} and server.requests
