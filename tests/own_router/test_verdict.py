"""The verdict parser on real judge texts (MT-Bench's GPT-4 judgements) and on the pairwise formats."""

from __future__ import annotations

import json

import pytest

from routellm_core.data.files import MT_BENCH_JUDGEMENTS, data_path
from routellm_core.own_router.verdict import (VerdictError, both_orders_outcome, graded_outcome, parse_rating,
                                              parse_verdict)


def test_rating_parser_reads_every_real_mt_bench_judgement(data_dir):
    rows = [json.loads(line) for line in data_path(MT_BENCH_JUDGEMENTS, data_dir).read_text().splitlines() if line]
    assert len(rows) == 320
    kinds = {r["judge"][1] for r in rows}
    assert {"single-math-v1", "single-v1"} <= kinds  # reference-graded (math) and plain
    wrong = [(r["question_id"], r["score"], parse_rating(r["judgment"])) for r in rows
             if parse_rating(r["judgment"]) != float(r["score"])]
    assert wrong == []


def test_rating_parser_is_not_fooled_by_code_in_the_judgement(data_dir):
    rows = [json.loads(line) for line in data_path(MT_BENCH_JUDGEMENTS, data_dir).read_text().splitlines() if line]
    tricky = [r for r in rows if "[[0]" in r["judgment"]]  # a Python snippet "[[0] * (n + 1) ..." before the rating
    assert tricky and all(parse_rating(r["judgment"]) == r["score"] for r in tricky)


@pytest.mark.parametrize("text, expected", [
    ("...so my final verdict is: [[A>>B]]", 1.0), ("[[A>B]]", 0.75), ("It is a tie [[A=B]].", 0.5),
    ("[[B>A]]", 0.25), ("final: [[B>>A]]", 0.0), ("[[A]]", 1.0), ("[[B]]", 0.0), ("[[C]]", 0.5),
    ("First I thought [[A>B]] but on reflection [[B>>A]]", 0.0), ("[[ a > b ]]", 0.75),
])
def test_pairwise_labels(text, expected):
    assert parse_verdict(text) == expected


@pytest.mark.parametrize("text", ["", "Assistant A is better.", "Rating: [[7]]", "[[D]]"])
def test_no_pairwise_verdict_is_an_error(text):
    with pytest.raises(VerdictError):
        parse_verdict(text)


def test_rating_errors_and_outcomes():
    with pytest.raises(VerdictError):
        parse_rating("no number here")
    with pytest.raises(VerdictError):
        parse_rating("Rating: [[42]]")
    assert both_orders_outcome(0.75, 0.75) == 0.5  # a judge that always favours the first position: a tie
    assert both_orders_outcome(1.0, 0.0) == 1.0
    assert graded_outcome(10, 1) == 1.0 and graded_outcome(4, 4) == 0.5 and graded_outcome(3, 9) < 0.5
