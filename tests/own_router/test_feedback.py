"""The feedback store (SQLite, WAL, one file; SQLAlchemy URLs) and the estimator into training records."""

from __future__ import annotations

import random
import sqlite3

import pytest

from routellm_core.errors import InvalidInputError
from routellm_core.own_router.feedback import FeedbackStore, explore, feedback_records

PAIR = {"strong_model": "strong-model", "weak_model": "weak-model"}


def test_sqlite_store_is_one_wal_file_and_survives_reopening(tmp_path):
    path = tmp_path / "feedback.sqlite"
    with FeedbackStore(path) as store:
        store.record("d1", 0.0, "Prove Fermat's last theorem.", "weak-model", metadata={**PAIR, "role": "weak",
                                                                                       "probability": 0.4})
        store.record("d2", 1.0, "Hi!", "weak-model", role="weak", metadata=PAIR)
        store.record("d2", 0.5, "Hi!", "weak-model", role="weak", metadata=PAIR)  # a second score, same decision
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with FeedbackStore(f"sqlite:///{path}") as again:
        rows = again.rows()
    assert [(r.decision_id, r.score, r.role) for r in rows] == [("d1", 0.0, "weak"), ("d2", 1.0, "weak"),
                                                               ("d2", 0.5, "weak")]
    assert rows[0].metadata["probability"] == 0.4 and rows[0].prompt == "Prove Fermat's last theorem."


@pytest.mark.parametrize("bad", [{"score": 1.5}, {"score": "good"}, {"decision_id": ""}, {"prompt": " "},
                                 {"role": "medium"}])
def test_bad_feedback_is_refused(tmp_path, bad):
    args = {"decision_id": "d", "score": 1.0, "prompt": "p", "model": "m", "role": "weak", **bad}
    with FeedbackStore(tmp_path / "f.sqlite") as store, pytest.raises(InvalidInputError):
        store.record(**args)


def test_sqlalchemy_url_backend(tmp_path):
    pytest.importorskip("sqlalchemy")
    url = f"sqlite+pysqlite:///{tmp_path / 'sa.sqlite'}"  # any SQLAlchemy URL takes this path
    with FeedbackStore(url) as store:
        store.record("d1", 0.25, "p", "weak-model", role="weak", metadata=PAIR)
    with FeedbackStore(url) as store:
        assert [(r.decision_id, r.score) for r in store.rows()] == [("d1", 0.25)]


def test_estimator_weak_feedback_tells_more_and_points_the_right_way(tmp_path):
    with FeedbackStore(tmp_path / "f.sqlite") as store:
        store.record("w-bad", 0.0, "hard prompt", "weak-model", role="weak", metadata=PAIR)
        store.record("w-good", 1.0, "easy prompt", "weak-model", role="weak", metadata=PAIR)
        store.record("s-good", 1.0, "another hard prompt", "strong-model", role="strong", metadata=PAIR)
        store.record("s-bad", 0.2, "impossible prompt", "strong-model", role="strong", metadata=PAIR)
        records = {r.prompt: r for r in feedback_records(store.rows())}
    assert {(r.model_a, r.model_b) for r in records.values()} == {("strong-model", "weak-model")}
    assert records["hard prompt"].outcome > 0.5 > records["easy prompt"].outcome  # bad weak answer: strong needed
    assert records["another hard prompt"].outcome > 0.5 > records["impossible prompt"].outcome
    assert records["hard prompt"].weight == pytest.approx(2 * records["another hard prompt"].weight)
    assert records["hard prompt"].source == "feedback:weak"


def test_inverse_propensity_weighting_of_explored_decisions(tmp_path):
    rng = random.Random(0)
    flips = [explore("weak", 0.1, rng) for _ in range(2000)]
    share = sum(f[2] for f in flips) / len(flips)
    assert 0.07 < share < 0.13 and all(f[1] == (0.1 if f[2] else 0.9) for f in flips)
    with FeedbackStore(tmp_path / "f.sqlite") as store:
        store.record("routed", 0.8, "routed prompt", "weak-model", role="weak", metadata={**PAIR, "propensity": 0.9})
        store.record("explored", 0.8, "explored prompt", "weak-model", role="weak", metadata={**PAIR, "propensity": 0.1,
                                                                                         "explored": True})
        records = {r.prompt: r for r in feedback_records(store.rows())}
    assert records["explored prompt"].weight == pytest.approx(9 * records["routed prompt"].weight)
    assert sum(r.weight for r in records.values()) == pytest.approx(2.0)  # self-normalised


def test_feedback_records_train_a_router(tmp_path):
    """Feedback -> records -> the labels file format `train` reads -> an MF pair router that learned them.

    The feedback says the opposite of the default's prior on these prompts (the default ranks the greetings
    above the integrals; the weak model fails the integrals here), so only a router that learned from it
    ranks the integrals first."""
    import json

    from routellm_core.loaders import load_records_jsonl
    from routellm_core.own_router.warm_start import warm_start

    rng = random.Random(1)
    with FeedbackStore(tmp_path / "f.sqlite") as store:
        for i in range(120):
            math_prompt = i % 2 == 0
            text = f"Solve the integral of x^{i} sin(x) dx step by step" if math_prompt else f"Say hello to friend {i}"
            role = "weak" if rng.random() < 0.7 else "strong"
            score = (0.1 if math_prompt else 0.9) if role == "weak" else 0.9
            store.record(f"d{i}", score, text, f"{role}-model", role=role, metadata=PAIR)
        records = feedback_records(store.rows())
    path = tmp_path / "feedback_labels.jsonl"
    path.write_text("".join(json.dumps({"prompt": r.prompt, "model_a": r.model_a, "model_b": r.model_b,
                                        "outcome": r.outcome, "weight": r.weight, "source": r.source}) + "\n"
                            for r in records))
    loaded = load_records_jsonl(path)
    assert len(loaded) == 120
    prompts = ["Solve the integral of x^7 cos(x) dx", "Say hello to my friend Bob"]
    from routellm_core import load_router

    default = load_router("mf").predict_proba(prompts)
    assert default[0] < default[1]
    result = warm_start(loaded, folds=3, grid=(float("inf"), 0.01))
    p = result.router.predict_proba(prompts)
    assert result.strength != float("inf") and p[0] > p[1]
