"""Batch tab: route an uploaded prompt file; the strong share, an estimated cost and the decisions as CSV."""

from __future__ import annotations

import csv
import io

import streamlit as st

from . import services
from .costs import batch_cost
from .explain import pair
from .feedback import shown_errors
from .prompt_files import read_prompt_file
from .settings import Settings

COLUMNS = ("prompt", "role", "model", "probability", "threshold", "router")


def render(settings: Settings) -> None:
    st.subheader("Route a file of prompts")
    upload = st.file_uploader("Prompts: CSV with a 'prompt' column, JSONL ({\"prompt\": ...} per line) or TXT "
                              "(one per line)", type=["csv", "jsonl", "txt"], key="batch_file")
    output_tokens = st.number_input("Assumed answer length (tokens), for the cost estimate", min_value=0, value=300,
                                    step=50, key="batch_output_tokens")
    if upload is None:
        return
    with shown_errors():
        prompts = read_prompt_file(upload.name, upload.getvalue())
        router = services.router(settings.router)
        decisions = services.route_batch(settings.router, tuple(prompts), settings.threshold)
        models = pair(router)
        rows = [{"prompt": p, "role": d.role, "model": models[d.role], "probability": round(d.probability, 6),
                 "threshold": d.threshold, "router": d.router} for p, d in zip(prompts, decisions)]
        show(rows, prompts, int(output_tokens), settings, upload.name)


def show(rows: list[dict], prompts: list[str], output_tokens: int, settings: Settings, name: str) -> None:
    from routellm_core.evaluation.cost import count_tokens

    roles = [r["role"] for r in rows]
    strong = roles.count("strong")
    routed, all_strong = batch_cost(roles, count_tokens(prompts).tolist(), output_tokens, settings.prices)
    a, b, c, d = st.columns(4)
    a.metric("Prompts", f"{len(rows):,}")
    b.metric("Strong share", f"{strong / len(rows):.1%}", f"{strong:,} strong, {len(rows) - strong:,} weak",
             delta_color="off")
    c.metric("Estimated cost", f"${routed:,.4f}")
    d.metric("All-strong cost", f"${all_strong:,.4f}",
             f"{1 - routed / all_strong:.0%} saved" if all_strong else None, delta_color="off")
    st.caption(f"Cost: prompt tokens (MiniLM WordPiece count) plus {output_tokens} answer tokens per prompt at the "
               "sidebar's prices; a real bill depends on each model's tokenizer and answer lengths.")
    st.dataframe(rows, hide_index=True, key="batch_table")
    st.download_button("Download the decisions (CSV)", to_csv(rows), file_name=f"{name.rsplit('.', 1)[0]}-decisions.csv",
                       mime="text/csv", key="batch_download")


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
