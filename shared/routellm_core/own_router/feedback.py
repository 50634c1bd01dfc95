"""Feedback from production: a store for scored routed answers, and the estimator that turns it into labels.

The store keeps, per feedback event, the decision id, the prompt, the model that answered, its role
(strong/weak), the decision's metadata (probability, threshold, propensity, ...) and the user's score in
[0, 1]. SQLite is the default (stdlib ``sqlite3``, WAL journal, one file; safe for several processes on
one machine); any SQLAlchemy URL (``postgresql://...``) serves replicas on several machines.

The estimator (docs/own-router.md): one scored answer shows one side of the comparison. For an answer
of the weak model with score s, the strong model's answer would have scored about mu_s (the mean score
of strong answers), so P(strong better) ~= 0.5 + (mu_s - s) / 2; for a strong answer, 0.5 + (s - mu_w) / 2.
A weak answer is the question routing asks ("was the weak one good enough?"), a strong answer only
bounds it, so weak feedback weighs 1 and strong feedback ``strong_weight`` (0.5). Feedback exists only
where the router sent a prompt, so it is biased toward the router's own choices; with an opt-in
exploration rate (:func:`explore`) a small random share goes to the other model, each decision stores
the probability of the role it got (``propensity``), and records are weighted by 1 / propensity
(inverse-propensity weighting, self-normalised, clipped), which removes that bias.
"""

from __future__ import annotations

import json
import math
import os
import random
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ..records import PreferenceRecord

COLUMNS = ("decision_id", "created", "prompt", "model", "role", "score", "metadata")


@dataclass(frozen=True)
class Feedback:
    """One stored feedback event."""

    decision_id: str
    prompt: str
    model: str
    score: float
    role: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created: float = 0.0


def check_score(score: Any) -> float:
    """A score in [0, 1] (True/False count as 1/0)."""
    try:
        value = float(score)
    except (TypeError, ValueError):
        value = float("nan")
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InvalidInputError(f"feedback score must be a number in [0, 1], got {score!r}")
    return value


def default_store_path() -> Path:
    from ..datadir import default_cache_dir

    return default_cache_dir() / "feedback.sqlite"


class FeedbackStore:
    """Feedback events in SQLite (a path, default ``<cache>/feedback.sqlite``) or any SQLAlchemy URL."""

    def __init__(self, url: str | os.PathLike[str] | None = None) -> None:
        target = str(url) if url is not None else str(default_store_path())
        self.url = target
        self._lock = threading.Lock()
        if "://" in target and not target.startswith("sqlite:///"):
            self._backend: _Backend = _SqlAlchemyBackend(target)
        else:
            self._backend = _SqliteBackend(Path(target.removeprefix("sqlite:///")))

    def record(self, decision_id: str, score: Any, prompt: str, model: str, role: str | None = None,
               metadata: Mapping[str, Any] | None = None) -> Feedback:
        """Store one feedback event (several per decision are kept; the estimator averages them)."""
        if not decision_id:
            raise InvalidInputError("feedback needs the decision id")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidInputError("feedback needs the prompt")
        meta = dict(metadata or {})
        role = role or meta.get("role")
        if role is not None and role not in ("strong", "weak"):
            raise InvalidInputError(f"role must be 'strong' or 'weak', got {role!r}")
        item = Feedback(str(decision_id), prompt, str(model), check_score(score), role, meta, time.time())
        with self._lock:
            self._backend.insert(item)
        return item

    def rows(self) -> list[Feedback]:
        with self._lock:
            return self._backend.select()

    def __len__(self) -> int:
        return len(self.rows())

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Backend:
    def insert(self, item: Feedback) -> None:
        raise NotImplementedError

    def select(self) -> list[Feedback]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def _values(item: Feedback) -> tuple:
    return (item.decision_id, item.created, item.prompt, item.model, item.role, item.score,
            json.dumps(item.metadata, default=str))


def _row(values: Iterable[Any]) -> Feedback:
    d = dict(zip(COLUMNS, values, strict=True))
    return Feedback(d["decision_id"], d["prompt"], d["model"], float(d["score"]), d["role"],
                    json.loads(d["metadata"] or "{}"), float(d["created"]))


class _SqliteBackend(_Backend):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, decision_id TEXT "
                        "NOT NULL, created REAL NOT NULL, prompt TEXT NOT NULL, model TEXT NOT NULL, role TEXT, "
                        "score REAL NOT NULL, metadata TEXT NOT NULL)")
        self.db.execute("CREATE INDEX IF NOT EXISTS feedback_decision ON feedback (decision_id)")

    def insert(self, item: Feedback) -> None:
        self.db.execute(f"INSERT INTO feedback ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)", _values(item))

    def select(self) -> list[Feedback]:
        return [_row(r) for r in self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM feedback ORDER BY id")]

    def close(self) -> None:
        self.db.close()


class _SqlAlchemyBackend(_Backend):
    def __init__(self, url: str) -> None:
        try:
            import sqlalchemy as sa
        except ModuleNotFoundError:
            raise InvalidInputError("a feedback store URL needs SQLAlchemy: pip install sqlalchemy") from None
        self.sa = sa
        self.engine = sa.create_engine(url, pool_pre_ping=True)
        meta = sa.MetaData()
        self.table = sa.Table(
            "feedback", meta, sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("decision_id", sa.String(128), nullable=False, index=True), sa.Column("created", sa.Float, nullable=False),
            sa.Column("prompt", sa.Text, nullable=False), sa.Column("model", sa.String(256), nullable=False),
            sa.Column("role", sa.String(16)), sa.Column("score", sa.Float, nullable=False),
            sa.Column("metadata", sa.Text, nullable=False))
        meta.create_all(self.engine)

    def insert(self, item: Feedback) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.table.insert().values(dict(zip(COLUMNS, _values(item), strict=True))))

    def select(self) -> list[Feedback]:
        cols = [self.table.c[c] for c in COLUMNS]
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(self.sa.select(*cols).order_by(self.table.c.id))]

    def close(self) -> None:
        self.engine.dispose()


def explore(role: str, rate: float, rng: random.Random | None = None) -> tuple[str, float, bool]:
    """Opt-in exploration: with probability ``rate`` flip the routed role. Returns (role, propensity, explored).

    Store the propensity in the decision's metadata (``propensity``) so the estimator can reweight; the
    flipped calls cost what the other model costs, which the caller bills like any call.
    """
    if role not in ("strong", "weak"):
        raise InvalidInputError(f"role must be 'strong' or 'weak', got {role!r}")
    if not 0.0 <= rate < 0.5:
        raise InvalidInputError(f"exploration rate must be in [0, 0.5), got {rate!r}")
    if rate and (rng or random).random() < rate:
        return ("weak" if role == "strong" else "strong"), rate, True
    return role, 1.0 - rate, False


def feedback_records(rows: Iterable[Feedback], strong: str | None = None, weak: str | None = None,
                     strong_weight: float = 0.5, max_weight: float = 20.0) -> list[PreferenceRecord]:
    """Training records (strong vs weak, P(strong better)) from feedback, as the module docstring explains.

    ``strong`` / ``weak`` name the pair when the metadata does not (``strong_model`` / ``weak_model``);
    a row's role comes from its ``role`` (or metadata ``role``), else from its model matching the pair.
    """
    per_decision: dict[str, list[Feedback]] = defaultdict(list)
    for row in rows:
        per_decision[row.decision_id].append(row)
    events = []
    for items in per_decision.values():
        first = items[0]
        meta = first.metadata
        s_name = strong or meta.get("strong_model")
        w_name = weak or meta.get("weak_model")
        role = first.role or meta.get("role") or ("strong" if first.model == s_name else "weak" if first.model == w_name
                                                  else None)
        if role is None or not s_name or not w_name:
            raise InvalidInputError(f"feedback for decision {first.decision_id!r}: cannot tell the role or the pair "
                                    "(pass strong= and weak=, or store role/strong_model/weak_model in the metadata)")
        propensity = float(meta.get("propensity", 1.0) or 1.0)
        events.append((first.prompt, s_name, w_name, role, sum(i.score for i in items) / len(items), propensity))
    if not events:
        return []
    overall = sum(e[4] for e in events) / len(events)
    mean = {r: (sum(e[4] for e in events if e[3] == r) / n if (n := sum(e[3] == r for e in events)) else overall)
            for r in ("strong", "weak")}
    ipw = [min(max_weight, 1.0 / max(e[5], 1e-6)) for e in events]
    norm = len(ipw) / sum(ipw)
    records = []
    for (prompt, s_name, w_name, role, score, _), w in zip(events, ipw, strict=True):
        if role == "weak":
            outcome, weight = 0.5 + 0.5 * (mean["strong"] - score), 1.0
        else:
            outcome, weight = 0.5 + 0.5 * (score - mean["weak"]), strong_weight
        records.append(PreferenceRecord(prompt, s_name, w_name, min(1.0, max(0.0, outcome)), f"feedback:{role}",
                                        weight * w * norm))
    return records
