"""Records and loaders on the real shared data, plus malformed-input errors."""

from __future__ import annotations

import json

import pytest

from routellm_core import DataError, InvalidInputError, PreferenceRecord
from routellm_core.loaders import (load_alpaca_eval, load_arena_battles, load_correctness_table, load_training_records,
                                   load_routellm_golden, prompt_text)
from routellm_core.models import STRONG_MODEL, WEAK_MODEL, canonical_model_name
from routellm_core.records import Outcome


def test_record_validation():
    with pytest.raises(InvalidInputError, match="empty prompt"):
        PreferenceRecord("  ", "a", "b", 1.0)
    with pytest.raises(InvalidInputError, match=r"outcome must be in \[0, 1\]"):
        PreferenceRecord("q", "a", "b", 1.5)
    with pytest.raises(InvalidInputError, match="with itself"):
        PreferenceRecord("q", "a", "a", 1.0)
    rec = PreferenceRecord("q", "a", "b", Outcome.TIE)
    assert rec.outcome == 0.5 and rec.label is Outcome.TIE
    assert PreferenceRecord("q", "a", "b", 0.9).oriented("b", "a") == pytest.approx(0.1)
    assert PreferenceRecord("q", "a", "b", 0.9).oriented("x", "a") is None


def test_canonical_names_unify_sources():
    assert canonical_model_name("gpt4_1106_preview") == STRONG_MODEL
    assert canonical_model_name("mistralai/Mixtral-8x7B-Instruct-v0.1") == WEAK_MODEL
    assert canonical_model_name("mistralai/mixtral-8x7b-chat") == WEAK_MODEL
    assert canonical_model_name("Mixtral-8x7B-Instruct-v0.1_concise") == WEAK_MODEL


def test_prompt_text_parses_turn_lists():
    assert prompt_text('["first turn", "second"]') == "first turn"
    assert prompt_text("['python literal']") == "python literal"
    assert prompt_text("[not a list") == "[not a list"


def test_alpaca_eval_soft_outcomes(data_dir):
    records = load_alpaca_eval(data_dir, annotators=["weighted_alpaca_eval_gpt4_turbo"])
    assert len(records) == 45070 - 805  # gpt4_1106_preview judged against itself is dropped
    pair = [r for r in records if r.model_b == WEAK_MODEL]
    assert len(pair) == 805 and all(r.model_a == STRONG_MODEL for r in pair)
    assert any(0.0 < r.outcome < 1.0 and r.outcome not in (0.5,) for r in records)


def test_golden_labels_from_correctness_tables(data_dir):
    gsm = load_routellm_golden("gsm8k", data_dir)
    assert len(gsm) == 1319
    assert {r.model_a for r in gsm} == {STRONG_MODEL} and {r.model_b for r in gsm} == {WEAK_MODEL}
    counts = {label: sum(r.label is label for r in gsm) for label in Outcome}
    assert counts[Outcome.A_WINS] > counts[Outcome.B_WINS] > 0 and counts[Outcome.TIE] > 0
    mmlu = load_routellm_golden("mmlu", data_dir)
    assert len({r.source for r in mmlu}) == 57
    bench = load_training_records("routerbench", data_dir)
    assert len({r.model_a for r in bench} | {r.model_b for r in bench}) == 11


def test_arena_csv_format(tmp_path):
    path = tmp_path / "arena.csv"
    path.write_text(
        "id,model_a,model_b,prompt,response_a,response_b,winner_model_a,winner_model_b,winner_tie\n"
        '1,gpt-4-1106-preview,mixtral-8x7b-instruct-v0.1,"[""What is 2+2?"", ""and 3+3?""]",x,y,1,0,0\n'
        '2,gpt-4-1106-preview,claude-2.1,"[""Hi""]",x,y,0,0,1\n'
        '3,llama-2-13b-chat,claude-2.1,"[""Hello""]",x,y,0,1,0\n',
        encoding="utf-8",
    )
    records = load_arena_battles(path)
    assert [r.outcome for r in records] == [1.0, 0.5, 0.0]
    assert records[0].prompt == "What is 2+2?"
    assert load_training_records(str(path))[2].model_b == "claude-2.1"


def test_missing_column_and_file_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt,model_a\nx,y\n", encoding="utf-8")
    with pytest.raises(DataError, match="missing column"):
        load_arena_battles(bad)
    with pytest.raises(DataError, match="data file missing"):
        load_correctness_table(tmp_path / "nope.csv")
    one_model = tmp_path / "one.csv"
    one_model.write_text("prompt,m1\nq,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="at least two model"):
        load_correctness_table(one_model)
    broken = tmp_path / "r.jsonl"
    broken.write_text(json.dumps({"prompt": "q", "model_a": "a"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1"):
        load_training_records(str(broken))
    with pytest.raises(DataError, match="unknown dataset"):
        load_training_records("no-such-dataset")


def test_mt_bench_judge_labels(data_dir):
    mt = load_training_records("mt-bench", data_dir)
    assert len(mt) == 72 and {r.source for r in mt} == {"mt-bench:golden"}
    counts = {label: sum(r.label is label for r in mt) for label in Outcome}
    # GPT-4-Turbo out-scores Mixtral on most MT-Bench questions, but not on all.
    assert counts[Outcome.A_WINS] > counts[Outcome.B_WINS] > 0


def test_default_training_data_keeps_benchmark_labels_and_decontaminates_the_rest(data_dir):
    from routellm_core.evaluation import load_benchmark
    from routellm_core.training import DEFAULT_DATASETS, default_training_records

    assert "alpaca_eval" not in DEFAULT_DATASETS  # non-commercial license; see README
    records = default_training_records(data_dir, datasets=("routerbench", "gsm8k"), embedder=None, verbose=False)
    gsm_prompts = set(load_benchmark("gsm8k", data_dir).prompts)
    golden = [r for r in records if r.source == "gsm8k"]
    assert len(golden) == 1319 and gsm_prompts <= {r.prompt for r in golden}  # golden labels are kept whole
    external = [r for r in records if r.source.startswith("routerbench")]
    assert external and not {r.prompt for r in external} & gsm_prompts


def test_source_weights_scale_and_drop_records():
    from routellm_core.training import ARENA_DATASETS, source_weight, weight_by_source

    assert set(ARENA_DATASETS) == {"arena_hard", "chatbot_arena"}
    weights = {"chatbot_arena": 3.0, "chatbot_arena:bothbad": 0.0, "arena_hard": 2.0}
    assert source_weight("chatbot_arena:bothbad", weights) == 0.0  # the longest prefix wins
    assert source_weight("arena_hard:gpt-4o", weights) == 2.0 and source_weight("mmlu:anatomy", weights) == 1.0
    assert source_weight("arena_hardly", weights) == 1.0  # a prefix must end at ':'
    records = [PreferenceRecord("q", "a", "b", 1.0, s, 0.5) for s in ("chatbot_arena", "chatbot_arena:bothbad", "x")]
    out = weight_by_source(records, weights)
    assert [(r.source, r.weight) for r in out] == [("chatbot_arena", 1.5), ("x", 0.5)]
