"""Batch tab: upload prompts, get the engine's decisions, the strong share, a cost estimate and a CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest
from ui_helpers import errors, metrics, no_traceback, set_threshold

from routellm_core import load_router

PROMPTS = ["Write a haiku about autumn.", "Prove Fermat's little theorem.", "What is 2+2?",
           "Explain, with code, how to implement a lock-free queue in C++.", "Translate 'good morning' to French.",
           "Summarise the causes of the First World War in three sentences."]


def upload(at, name: str, content: bytes):
    at.file_uploader(key="batch_file").upload(name, content, "application/octet-stream")
    return at.run()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "txt"])
def test_upload_routes_every_prompt(make_app, fmt):
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "Prompt"])
        writer.writerows([i, p] for i, p in enumerate(PROMPTS))
        content = out.getvalue()
    elif fmt == "jsonl":
        content = "\n".join(json.dumps({"prompt": p, "id": i}) for i, p in enumerate(PROMPTS))
    else:
        content = "\n".join(PROMPTS)
    at = upload(set_threshold(make_app("random", tab="Batch"), 0.5), f"prompts.{fmt}", content.encode())
    no_traceback(at)
    decisions = load_router("random").route_batch(PROMPTS, 0.5)
    table = at.dataframe[0].value
    assert list(table["prompt"]) == PROMPTS
    assert list(table["role"]) == [d.role for d in decisions]
    strong = sum(d.role == "strong" for d in decisions)
    shown = metrics(at)
    assert shown["Prompts"] == str(len(PROMPTS))
    assert shown["Strong share"] == f"{strong / len(PROMPTS):.1%}"
    routed, all_strong = (float(shown[k].lstrip("$")) for k in ("Estimated cost", "All-strong cost"))
    assert 0 < routed < all_strong  # random at 0.5 sends some prompts to the cheap model
    assert at.get("download_button")


def test_more_answer_tokens_cost_more(make_app):
    at = upload(make_app("random", tab="Batch"), "p.txt", "\n".join(PROMPTS).encode())
    before = float(metrics(at)["Estimated cost"].lstrip("$"))
    at.number_input(key="batch_output_tokens").set_value(1000).run()
    assert float(metrics(at)["Estimated cost"].lstrip("$")) > before


def test_decisions_csv_is_what_the_page_shows():
    from routellm_app.tab_batch import to_csv

    rows = [{"prompt": "a, \"quoted\"\nprompt", "role": "weak", "model": "m", "probability": 0.1, "threshold": 0.5,
             "router": "random"}]
    assert list(csv.DictReader(io.StringIO(to_csv(rows))))[0]["prompt"] == rows[0]["prompt"]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("nocol.csv", b"question,answer\nwhat?,that\n", "nocol.csv has no 'prompt' column (columns: question, answer)"),
    ("binary.csv", bytes(range(128, 256)), "binary.csv is not readable as UTF-8 text"),
    ("empty.jsonl", b"  \n", "empty.jsonl is empty"),
    ("bad.jsonl", b'{"prompt": "ok"}\n{not json}\n', "bad.jsonl line 2 is not valid JSON"),
    ("fields.jsonl", b'{"text": "hi"}\n', "fields.jsonl line 1 has no 'prompt' field"),
    ("blank.csv", b"prompt\nhello\n\"  \"\n", "blank.csv line 3: the 'prompt' cell is empty"),
])
def test_bad_files_are_clear_messages(make_app, name, content, message):
    at = upload(make_app("random", tab="Batch"), name, content)
    no_traceback(at)
    assert len(errors(at)) == 1 and message in errors(at)[0], errors(at)
    assert not at.dataframe
