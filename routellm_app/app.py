"""The Streamlit page: sidebar settings and four tabs (run with ``routellm-core ui`` or ``make ui``).

Streamlit runs this file as a script on every interaction; heavy objects live in ``services``
(cached), so a rerun only redraws. Only the open tab runs, and LangChain and torch are imported on
first use, so the first page shows quickly.
"""

from __future__ import annotations

import streamlit as st

from routellm_app import tab_batch, tab_chat, tab_own, tab_route, tab_tune
from routellm_app.settings import sidebar

st.set_page_config(page_title="RouteLLM router demo", page_icon=":material/alt_route:", layout="wide")
st.title("RouteLLM: strong or weak model?")
st.caption("A learned router estimates P(strong model wins) on each prompt and sends it to the strong model "
           "(gpt-4-1106-preview) only when that is at or above the threshold; the rest go to the weak, cheap one "
           "(Mixtral-8x7B).")
TAB_KEY = "tab"
TABS = {"Route": tab_route.render, "Tune": tab_tune.render, "Chat": tab_chat.render, "Batch": tab_batch.render,
        "Your router": tab_own.render}
settings = sidebar()
# Only the open tab runs (on_change="rerun"), so the first page never waits for another tab's work.
tabs = st.tabs(list(TABS), key=TAB_KEY, on_change="rerun")
for tab, render in zip(tabs, TABS.values()):
    if tab.open:
        with tab:
            render(settings)
