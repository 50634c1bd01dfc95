"""Arena data loaders on the real rows: verdict strength, ties, human votes, names, malformed rows."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from routellm_core import DataError
from routellm_core.data.arena import arena_hard_questions, arena_hard_verdicts, chatbot_arena_votes
from routellm_core.loaders import load_arena_hard, load_chatbot_arena, load_training_records
from routellm_core.models import canonical_model_name, dated_model_name


def _rows(path):
    with path.open(encoding="utf-8") as fh:  # prompts hold U+2028: split on newlines only
        return [json.loads(line) for line in fh if line.strip()]


def test_arena_hard_verdicts_count_the_three_row_encoding(data_dir):
    rows = _rows(data_dir / "arena_hard" / "battles_judge_gpt-4o.jsonl")
    verdicts = {(v.question_id, v.model): v for v in arena_hard_verdicts(data_dir, ["gpt-4o"])}
    per = Counter((r["question_id"], canonical_model_name(r["model_b"])) for r in rows)
    assert sum(v.rows for v in verdicts.values()) == len(rows) == 26145
    for key, n in list(per.items())[:500]:
        assert verdicts[key].rows == n
    # Two games per prompt, a decisive verdict written 3 times: 2, 4 or 6 rows in nearly every case.
    assert Counter(v.rows for v in verdicts.values()).most_common(3)[-1][0] in {2, 4, 6}
    # The first real rows: llama-3.1-70b (awq4) won both rows of its first prompt -> score 1.
    first = rows[0]
    v = verdicts[(first["question_id"], canonical_model_name(first["model_b"]))]
    won = sum(r["winner"] == "model_b" for r in rows if (r["question_id"], r["model_b"]) == (first["question_id"], first["model_b"]))
    tied = sum(r["winner"] == "tie" for r in rows if (r["question_id"], r["model_b"]) == (first["question_id"], first["model_b"]))
    assert v.score == pytest.approx((won + 0.5 * tied) / v.rows)
    strong_decisive = [v for v in verdicts.values() if v.rows == 6 and v.wins == 6]
    weak_win = [v for v in verdicts.values() if v.rows == 2 and v.wins == 2]
    assert strong_decisive and weak_win and all(v.score == 1.0 for v in strong_decisive + weak_win)
    split = [v for v in verdicts.values() if v.rows == 4 and v.wins == 3 and v.ties == 0]
    assert split and all(v.score == 0.75 for v in split)  # decisive win (3 rows) + a slight loss (1 row)


def test_arena_hard_records_have_soft_outcomes_against_the_baseline(data_dir):
    records = load_arena_hard(data_dir)
    assert {r.model_b for r in records} == {"gpt-4-0314"}
    assert Counter(r.source for r in records) == {"arena_hard:gpt-4o": 7964, "arena_hard:gpt-4-1106-preview": 4972}
    assert {r.prompt for r in records} <= {q.prompt for q in arena_hard_questions(data_dir)}
    assert len({q.cluster for q in arena_hard_questions(data_dir)}) == 250
    outcomes = Counter(r.outcome for r in records)
    assert outcomes[0.5] > 0 and any(0 < o < 1 and o != 0.5 for o in outcomes)
    models = {r.model_a for r in records}
    # One name per model across the two judges' files and the answers folder.
    assert "mistral-large-2407" in models and "mistral-large-instruct-2407" not in models
    assert {"qwen2.5-72b-instruct", "gpt-4o", "gpt-3.5-turbo-0125", "llama-3.1-70b-instruct"} <= models
    assert load_training_records("arena_hard", data_dir) == records


def test_chatbot_arena_human_votes_and_both_kinds_of_tie(data_dir):
    rows = _rows(data_dir / "chatbot_arena" / "battles.jsonl")
    records = load_chatbot_arena(data_dir)
    assert len(records) == len(rows) == 762
    winners = Counter(r["winner"] for r in rows)
    assert Counter(r.outcome for r in records) == {1.0: winners["model_a"], 0.0: winners["model_b"],
                                                   0.5: winners["tie"] + winners["tie (bothbad)"]}
    assert Counter(r.source for r in records)["chatbot_arena:bothbad"] == winners["tie (bothbad)"] == 159
    assert records[0].prompt == rows[0]["turns"][0]  # the first user turn
    names = {m for r in records for m in (r.model_a, r.model_b)}
    assert "gpt-4" not in names and {"gpt-4-0314", "gpt-4-0613", "claude-1", "vicuna-13b"} <= names


def test_model_names_unify_across_sources():
    assert canonical_model_name("Qwen__Qwen2.5-72B-Instruct") == "qwen2.5-72b-instruct"
    assert canonical_model_name("mistralai__Mistral-Large-Instruct-2407") == canonical_model_name("mistral-large-2407")
    assert canonical_model_name("llama3_1_70b") == "llama-3.1-70b-instruct"
    assert canonical_model_name("claude-v2") == canonical_model_name("claude-2")  # RouterBench vs Arena
    assert canonical_model_name("gpt4_0314") == "gpt-4-0314"  # AlpacaEval vs Arena-Hard's baseline
    assert dated_model_name("gpt-4", 1682361434.7) == "gpt-4-0314"  # April 2023
    assert dated_model_name("gpt-4", 1694300000.0) == "gpt-4-0613"  # September 2023
    assert dated_model_name("claude-1", 1694300000.0) == "claude-1"


@pytest.mark.parametrize("row, message", [
    ('{"question_id": "q", "model_a": "gpt-4-0314", "model_b": "x", "winner": "model_c"}', "line 2: winner 'model_c'"),
    ('{"question_id": "q", "model_a": "y", "model_b": "x", "winner": "tie"}', "line 2: a verdict must compare"),
    ('{"question_id": "q", "model_a": "gpt-4-0314", "winner": "tie"}', "line 2: missing field"),
    ('{"question_id": "q", "model_a": "gpt-4-0314", ', "line 2: invalid JSON"),
])
def test_malformed_verdict_rows_name_file_and_line(tmp_path, row, message):
    (tmp_path / "arena_hard").mkdir()
    good = '{"question_id": "q", "model_a": "gpt-4-0314", "model_b": "x", "winner": "model_a"}'
    (tmp_path / "arena_hard" / "battles_judge_gpt-4o.jsonl").write_text(f"{good}\n{row}\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"battles_judge_gpt-4o.jsonl {message}"):
        arena_hard_verdicts(tmp_path, ["gpt-4o"])


@pytest.mark.parametrize("row, message", [
    ({"winner": "draw"}, "line 1: winner 'draw'"),
    ({"turns": []}, "line 1: 'turns' must be"),
    ({"model_b": "koala-13b"}, "line 1: a battle compares 'koala-13b' with itself"),
])
def test_malformed_human_votes_name_file_and_line(tmp_path, row, message):
    (tmp_path / "chatbot_arena").mkdir()
    base = {"question_id": "q", "model_a": "koala-13b", "model_b": "vicuna-13b", "winner": "tie", "turns": ["hi"]}
    (tmp_path / "chatbot_arena" / "battles.jsonl").write_text(json.dumps({**base, **row}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"battles.jsonl {message}"):
        chatbot_arena_votes(tmp_path)
    with pytest.raises(DataError, match="data file missing"):
        arena_hard_questions(tmp_path)
