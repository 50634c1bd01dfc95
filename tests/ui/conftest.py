"""The web demo driven through Streamlit's AppTest: the real app script, the real engine and data."""

from __future__ import annotations

import pytest
from ui_helpers import APP, choose_router, open_tab


@pytest.fixture
def make_app(monkeypatch):
    """``make_app(router="random", tab="Route")``: the app after its first run, offline, with that router."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ROUTELLM_UI_ROUTER", raising=False)

    def make(router: str = "random", tab: str = "Route", timeout: float = 120) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=timeout)
        at.run()
        choose_router(at, router)
        return open_tab(at, tab)

    return make
