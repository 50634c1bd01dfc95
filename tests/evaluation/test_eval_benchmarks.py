"""Benchmark loading: RouteLLM's decontamination counts, MT-Bench scoring, generic table kinds."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import numpy as np
import pytest

from routellm_core.datadir import resolve_data_dir
from routellm_core.errors import DataError, InvalidInputError
from routellm_core.evaluation import load_benchmark, load_correctness_benchmark, load_judged_benchmark
from routellm_core.loaders import load_routellm_golden
from routellm_core.models import STRONG_MODEL, WEAK_MODEL


def test_paper_benchmarks_are_decontaminated_like_routellm(mt_bench, mmlu, gsm8k):
    assert (mt_bench.n, mmlu.n, gsm8k.n) == (72, 14037, 1307)
    assert (mt_bench.dropped_contaminated, mmlu.dropped_contaminated, gsm8k.dropped_contaminated) == (8, 5, 12)
    assert len(set(mmlu.groups)) == 57
    assert mt_bench.strong_model == STRONG_MODEL and mt_bench.weak_model == WEAK_MODEL


def test_mt_bench_routes_on_turn_one_and_scores_both_turns(mt_bench):
    root = resolve_data_dir() / "routellm_evals" / "mt_bench"
    questions = {q["question_id"]: q for q in map(json.loads, (root / "question.jsonl").read_text().splitlines())}
    rows = [json.loads(line) for line in (root / "judgements.jsonl").read_text().splitlines()]
    assert {r["model"] for r in rows} == {"gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"}
    kept = {int(i) for i in mt_bench.ids}
    for prompt, qid in zip(mt_bench.prompts, mt_bench.ids):
        assert prompt == questions[int(qid)]["turns"][0]
    # RouteLLM's score: the mean over (question, turn) rows of the routed model.
    by_model = defaultdict(list)
    for r in rows:
        if r["question_id"] in kept:
            by_model[r["model"]].append(r["score"])
    assert all(len(v) == 2 * 72 for v in by_model.values())
    assert mt_bench.strong_performance == pytest.approx(np.mean(by_model["gpt-4-1106-preview"]))
    assert mt_bench.weak_performance == pytest.approx(np.mean(by_model["mistralai/Mixtral-8x7B-Instruct-v0.1"]))
    # Routing one question to the strong model swaps in its two-turn mean.
    mask = np.zeros(mt_bench.n, dtype=bool)
    mask[0] = True
    expected = (mt_bench.weak_scores.sum() - mt_bench.weak_scores[0] + mt_bench.strong_scores[0]) / mt_bench.n
    assert mt_bench.performance(mask) == pytest.approx(expected)
    # Both models' answers were recovered from the judge prompts (for token costs).
    assert all(t for t in mt_bench.output_texts["strong"]) and all(t for t in mt_bench.output_texts["weak"])


def test_golden_records_match_the_core_loader(gsm8k):
    ours = Counter((r.prompt, r.model_a, r.model_b, r.outcome) for r in gsm8k.golden_records())
    kept = set(gsm8k.prompts)
    core = Counter((r.prompt, r.model_a, r.model_b, r.outcome) for r in load_routellm_golden("gsm8k") if r.prompt in kept)
    assert ours == core


def test_subset_keeps_items_aligned(mmlu):
    sub = mmlu.subset(np.flatnonzero(np.array(mmlu.groups) == "anatomy"))
    assert set(sub.groups) == {"anatomy"} and 0 < sub.n < 200
    assert sub.prompts[0] == mmlu.prompts[mmlu.groups.index("anatomy")]
    assert load_benchmark("mmlu", domains=["anatomy"]).fingerprint() == sub.fingerprint()
    with pytest.raises(InvalidInputError, match="unknown MMLU domain"):
        load_benchmark("mmlu", domains=["astrology"])


def test_correctness_table_kind_reads_routerbench_csv():
    path = resolve_data_dir() / "routerbench" / "mbpp_train.csv"
    bench = load_correctness_benchmark(path, "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1", group_column="eval_name")
    assert bench.weak_model == "mistralai/mixtral-8x7b-chat"  # matched by canonical name
    assert bench.n > 200 and not bench.prompts[0].startswith("[")  # first turn of the list literal
    assert set(np.unique(bench.strong_scores)) <= {0.0, 100.0}
    assert bench.strong_performance > bench.weak_performance
    assert bench.output_texts is not None  # "<model>|model_response" columns
    with pytest.raises(InvalidInputError, match="name the pair"):
        load_correctness_benchmark(path)


def test_correctness_table_kind_with_two_columns(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("prompt,small,big,topic\nq1,1,1,a\nq2,0,1,a\nq3,False,True,b\nq4,1,,b\nq5,0,0,b\n")
    bench = load_benchmark(str(path), group_column="topic")
    assert (bench.strong_model, bench.weak_model) == ("big", "small")  # higher accuracy = strong
    assert bench.n == 4 and bench.dropped_incomplete == 1
    assert bench.groups == ["a", "a", "b", "b"]
    with pytest.raises(DataError, match="no correctness column"):
        load_correctness_benchmark(path, "huge", "small")
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt,small,big\nq1,maybe,1\nq2,0,1\n")
    with pytest.raises(DataError, match="not 0/1"):
        load_correctness_benchmark(bad, "big", "small")


def test_judged_table_kind(tmp_path):
    table = tmp_path / "judged.jsonl"
    rows = [{"question_id": q, "model": m, "score": s, "turn": t}
            for q, m, s, t in [(1, "big", 9, 1), (1, "big", 7, 2), (1, "small", 5, 1), (1, "small", 5, 2),
                               (2, "big", 8, 1), (2, "small", 8, 1), (3, "big", 6, 1)]]
    table.write_text("\n".join(json.dumps(r) for r in rows))
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(json.dumps({"question_id": q, "turns": [f"question {q}", "follow-up"], "category": c})
                                 for q, c in [(1, "x"), (2, "y"), (3, "y")]))
    bench = load_judged_benchmark(table, "big", "small", prompts=prompts)
    assert bench.prompts == ["question 1", "question 2"]
    assert bench.strong_scores.tolist() == [8.0, 8.0] and bench.weak_scores.tolist() == [5.0, 8.0]
    assert bench.groups == ["x", "y"] and bench.dropped_incomplete == 1
    assert [r.outcome for r in bench.golden_records()] == [1.0, 0.5]
    with pytest.raises(DataError, match="prompts file"):
        load_judged_benchmark(table, "big", "small")


def test_unknown_benchmark_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInputError, match="unknown benchmark 'hellaswag'"):
        load_benchmark("hellaswag")
    with pytest.raises(DataError, match="not found"):
        load_benchmark(str(tmp_path / "missing.csv"))
