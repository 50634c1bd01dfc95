"""Helpers for driving the demo with AppTest (imported by the tests of this folder)."""

from __future__ import annotations

from pathlib import Path

APP = str(Path(__file__).resolve().parents[2] / "routellm_app" / "app.py")


def choose_router(at, router: str):
    """Pick a registered router by name, or type a checkpoint path."""
    from routellm_app.settings import CHECKPOINT

    from routellm_core import router_names

    if router in router_names():
        at.sidebar.selectbox(key="router_choice").set_value(router).run()
    else:
        at.sidebar.selectbox(key="router_choice").set_value(CHECKPOINT).run()
        at.sidebar.text_input(key="checkpoint_path").set_value(router).run()
    return at


def open_tab(at, name: str):
    """Switch tabs as a click does (the tabs keep their state under the key "tab")."""
    at.session_state["tab"] = name
    return at.run()


def set_threshold(at, value: float):
    at.sidebar.number_input(key="threshold").set_value(value)
    return at.run()


def errors(at) -> list[str]:
    return [e.value for e in at.error]


def no_traceback(at) -> None:
    """Nothing escaped to Streamlit's exception display."""
    assert not at.exception, [e.value for e in at.exception]


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}
