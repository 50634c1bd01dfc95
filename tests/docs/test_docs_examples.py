"""Every ```python block of docs/*.md and README.md runs, offline.

Blocks of one page run in order in one namespace (a later block may use an earlier one's names).
``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` point at an OpenAI-compatible stub server on 127.0.0.1,
so examples that build clients from model names talk to it. A block that cannot run offline is
preceded by the line ``<!-- docs-test: skip (reason) -->``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b")
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)


def python_blocks(text: str) -> list[tuple[int, str, bool]]:
    """(line number, code, skipped) for each ```python block of a Markdown text."""
    blocks = []
    for match in FENCE.finditer(text):
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        blocks.append((text.count("\n", 0, match.start()) + 1, match.group(1), bool(SKIP.search(before))))
    return blocks


# Pages whose blocks run in a test of their own (with substitutions that page's test documents).
OWN_TEST = {"docs/agents.md": "tests/test_docs_agents.py"}
PAGES = sorted(p for p in [*ROOT.glob("docs/*.md"), ROOT / "README.md"] if p.is_file() and python_blocks(p.read_text()))


def test_block_parser_finds_code_and_skip_markers():
    text = "x\n```python\na = 1\n```\n<!-- docs-test: skip (needs a key) -->\n```python\nb = 2\n```\n```bash\nls\n```\n"
    assert python_blocks(text) == [(2, "a = 1\n", False), (6, "b = 2\n", True)]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_page_examples_run(page, monkeypatch, tmp_path):
    from routellm_core.testing import OpenAIStubServer

    if str(page.relative_to(ROOT)) in OWN_TEST:
        pytest.skip(f"run by {OWN_TEST[str(page.relative_to(ROOT))]}")
    blocks = [b for b in python_blocks(page.read_text(encoding="utf-8")) if not b[2]]
    if not blocks:
        pytest.skip("every block of this page is marked docs-test: skip")
    monkeypatch.chdir(tmp_path)
    with OpenAIStubServer(model="stub-model") as server:
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        namespace: dict = {"__name__": "__docs__"}
        for line, code, _ in blocks:
            try:
                exec(compile(code, f"{page.name}:{line}", "exec"), namespace)  # noqa: S102 -- our own docs
            except Exception as exc:
                raise AssertionError(f"{page.name}, block at line {line} failed: {type(exc).__name__}: {exc}") from exc
