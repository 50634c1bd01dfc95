"""Bad input to label / train / report: one clear line naming the file (and line), exit 2, no traceback."""

from __future__ import annotations

import json

import pytest

from routellm_core.cli import main

GOOD = {"prompt": "What is 2 + 2?", "model_a": "gpt-4o", "model_b": "mixtral-8x7b-instruct-v0.1", "outcome": 1.0}


def run(argv, capsys) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("routellm-core: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def labels(tmp_path):
    def write(name: str, text: str):
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


def test_report_empty_file(labels, capsys):
    code, err = run(["report", "--labels", labels("empty.jsonl", ""), "--no-plot"], capsys)
    assert code == 2 and "empty.jsonl: no labels (empty file)" in error_line(err)


def test_report_malformed_row_names_the_line(labels, capsys):
    text = json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n{not json\n"
    code, err = run(["report", "--labels", labels("bad.jsonl", text), "--no-plot"], capsys)
    assert code == 2 and "bad.jsonl line 3: invalid JSON" in error_line(err)
    text = json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "outcome": None}) + "\n"
    code, err = run(["report", "--labels", labels("bad2.jsonl", text), "--no-plot"], capsys)
    assert code == 2 and "bad2.jsonl line 2: bad record" in error_line(err)


def test_report_unknown_model(labels, capsys):
    path = labels("ok.jsonl", json.dumps(GOOD) + "\n")
    code, err = run(["report", "--labels", path, "--strong", "gpt-5", "--no-plot"], capsys)
    line = error_line(err)
    assert code == 2 and "model 'gpt-5' is not in ok.jsonl" in line and "gpt-4o" in line


def test_train_add_model_unknown_and_empty(labels, capsys):
    path = labels("ok.jsonl", json.dumps(GOOD) + "\n")
    code, err = run(["train", "--dataset", path, "--no-decontaminate", "--add-model", "new-model"], capsys)
    assert code == 2 and "ok.jsonl hold no labels of 'new-model'" in error_line(err)
    code, err = run(["train", "--dataset", labels("none.jsonl", "\n"), "--no-decontaminate", "--init", "mf"], capsys)
    assert code == 2 and "none.jsonl" in error_line(err)


def test_label_bad_prompts(labels, capsys):
    common = ["--output", "out.jsonl", "--strong", "s@http://127.0.0.1:9/v1", "--weak", "w@http://127.0.0.1:9/v1",
              "--judge", "j@http://127.0.0.1:9/v1"]
    code, err = run(["label", "--prompts", labels("p.jsonl", ""), *common], capsys)
    assert code == 2 and "p.jsonl: no prompts (empty file)" in error_line(err)
    code, err = run(["label", "--prompts", labels("q.jsonl", '{"prompt": "hi"}\n{"messages": 3}\n'), *common], capsys)
    assert code == 2 and "q.jsonl line 2: messages must be a list" in error_line(err)
    code, err = run(["label", "--prompts", labels("r.csv", "question,other\n,x\n"), *common], capsys)
    assert code == 2 and "r.csv line 2: empty prompt" in error_line(err)
    code, err = run(["label", "--prompts", labels("s.jsonl", '{"id": 1}\n'), *common], capsys)
    assert code == 2 and "s.jsonl line 1: no prompt field" in error_line(err)
