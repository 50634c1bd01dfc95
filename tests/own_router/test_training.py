"""train on the user's data: the pair from the data, --init (warm start), --add-model (others frozen)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from routellm_core import load_router
from routellm_core.cli import main
from routellm_core.data.paper import gsm8k_table


@pytest.fixture(scope="module")
def table(tmp_path_factory, data_dir):
    """A correctness table of a new pair (gpt-4o and Mixtral), from GSM8K's real correctness columns."""
    rows = gsm8k_table(data_dir)[2][:120]
    out = tmp_path_factory.mktemp("own") / "table.csv"
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["prompt", "gpt-4o", "Mixtral-8x7B-Instruct-v0.1"])
        for r in rows:
            writer.writerow([r["prompt"], r["gpt-4-1106-preview"], r["mistralai/Mixtral-8x7B-Instruct-v0.1"]])
    return out


def test_two_models_in_the_data_are_the_pair(table, tmp_path, capsys):
    out = tmp_path / "ckpt"
    code = main(["train", "--dataset", str(table), "--no-decontaminate", "--output", str(out),
                 "--params", '{"epochs": 2, "show_progress": false}'])
    assert code == 0, capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    assert (config["strong_model"], config["weak_model"]) == ("gpt-4o", "mixtral-8x7b-instruct-v0.1")
    router = load_router(str(out))
    assert router.predict_proba(["What is 2 + 2?"]).shape == (1,)


def test_init_warm_starts_a_pair_router(table, tmp_path, capsys):
    out = tmp_path / "own"
    assert main(["train", "--dataset", str(table), "--no-decontaminate", "--init", "mf", "--output", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["strong"] == "gpt-4o" and summary["labelled_prompts"] == 120
    assert set(summary["cv_apgr"]) >= {"inf", "0.01"}
    assert summary["neighbour_blend"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert not list(out.glob("*.pkl")) and (out / "model.safetensors").exists()
    router = load_router(str(out))
    assert (router.strong_model, router.weak_model) == ("gpt-4o", "mixtral-8x7b-instruct-v0.1")
    p = router.predict_proba(["Natalia sold clips to 48 of her friends in April. How many clips did she sell?"])
    assert 0.0 <= p[0] <= 1.0


def test_add_model_fits_only_the_new_model(tmp_path, capsys):
    base = load_router("mf")
    code_prompts = [f"Write a Python function that parses {w} files and handles errors" for w in
                    ("CSV", "JSON", "XML", "YAML", "TOML", "INI", "log", "binary", "Parquet", "Avro", "zip", "tar")]
    chat_prompts = [f"Tell me something nice about {w}" for w in
                    ("cats", "dogs", "rain", "summer", "music", "tea", "books", "mountains", "friends", "rivers",
                     "autumn", "bread")]
    rows = []
    for p in code_prompts:  # the new model beats both known models on code, loses elsewhere
        rows += [{"prompt": p, "model_a": "new-coder", "model_b": "gpt-4-1106-preview", "outcome": 1.0},
                 {"prompt": p, "model_a": "mixtral-8x7b-instruct-v0.1", "model_b": "new-coder", "outcome": 0.0}]
    for p in chat_prompts:
        rows += [{"prompt": p, "model_a": "new-coder", "model_b": "gpt-4-1106-preview", "outcome": 0.0},
                 {"prompt": p, "model_a": "mixtral-8x7b-instruct-v0.1", "model_b": "new-coder", "outcome": 1.0}]
    labels = tmp_path / "new.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "many"
    assert main(["train", "--dataset", str(labels), "--no-decontaminate", "--add-model", "new-coder",
                 "--output", str(out)]) == 0
    added = load_router(str(out))
    assert added.models_ == [*base.models_, "new-coder"]
    probe = ["Implement a JSON parser in Python with error handling", "Tell me something nice about the sea",
             "Explain the French revolution"]
    before, after = base.scores(probe), added.scores(probe)
    # frozen: the projection, the classifier and every other model's vector are bit-identical ...
    np.testing.assert_array_equal(added.projection_, base.projection_)
    np.testing.assert_array_equal(added.classifier_, base.classifier_)
    np.testing.assert_array_equal(added.model_vectors_[: len(base.models_)], base.model_vectors_)
    # ... so every other model's scores are unchanged (up to float32 summation order in a wider matmul)
    np.testing.assert_allclose(after[:, : len(base.models_)], before, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(added.predict_proba(probe), base.predict_proba(probe), rtol=1e-6, atol=1e-7)
    wins = added.pairwise_probabilities(probe[:2], ["new-coder", "gpt-4-1106-preview"])[:, 0, 1]
    assert wins[0] > 0.5 > wins[1]  # learned: strong on code, weak on chat


def test_labeller_output_keeps_its_roles_even_when_the_weak_model_wins_more():
    from routellm_core.own_router.warm_start import infer_pair
    from routellm_core.records import PreferenceRecord

    labels = [PreferenceRecord(f"p{i}", "big", "small", 0.0 if i % 3 else 1.0, "labels:judge") for i in range(9)]
    assert infer_pair(labels) == ("big", "small")  # the labeller was told which is strong
    table = [PreferenceRecord(f"p{i}", "big", "small", 0.0 if i % 3 else 1.0, "table") for i in range(9)]
    assert infer_pair(table) == ("small", "big")  # no roles given: the model winning more is strong
