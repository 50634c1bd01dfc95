"""Training rows of the answer scorer: (prompt, answer, P(inadequate)) from real graded answers.

- Arena-Hard: the recorded answers of the models that also have judge verdicts against the
  baseline gpt-4-0314 (a strong model's answer); the label is the share of verdict rows the answer
  lost (ties half, averaged over the judges that judged it), i.e. P(worse than a strong answer).
- GSM8K: both models' recorded answers with their correctness; the label is 1 for a wrong answer.

Groups are Arena-Hard's topic clusters and GSM8K's items, so cross-fitting holds out whole
clusters, and every answer to one prompt lands in the same fold.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..data.arena import arena_hard_answers, arena_hard_questions, arena_hard_verdicts
from ..data.files import ARENA_HARD_ANSWERS_DIR, data_path
from ..data.paper import PAPER_STRONG_COLUMN, PAPER_WEAK_COLUMN, contaminated_prompts, gsm8k_table
from ..data.tables import correctness, normalize_prompt
from ..errors import DataError
from ..models import canonical_model_name

PathLike = str | os.PathLike[str]
ANSWER_SOURCES = ("arena_hard", "gsm8k")


@dataclass(frozen=True)
class AnswerRecord:
    """One graded answer: ``label`` = P(the answer is worse than a strong model's), in [0, 1]."""

    prompt: str
    answer: str
    label: float
    model: str
    source: str
    group: str

    def __post_init__(self) -> None:
        if not 0.0 <= self.label <= 1.0:
            raise DataError(f"answer label must be in [0, 1], got {self.label!r} ({self.source}, {self.model})")

    @property
    def prompt_key(self) -> str:
        return normalize_prompt(self.prompt)


def arena_answer_records(data_dir: PathLike | None = None) -> list[AnswerRecord]:
    """Every recorded Arena-Hard answer that has a verdict against gpt-4-0314 (all judges averaged)."""
    questions = {q.question_id: q for q in arena_hard_questions(data_dir)}
    lost: dict[tuple[str, str], list[float]] = defaultdict(list)
    for v in arena_hard_verdicts(data_dir):
        lost[(v.question_id, v.model)].append(1.0 - v.score)
    folder = data_path(ARENA_HARD_ANSWERS_DIR, data_dir)
    out = []
    for path in sorted(folder.glob("*.jsonl")):
        model = canonical_model_name(path.stem)
        if not any(m == model for _, m in lost):
            continue  # the baseline and the paper's pair have no verdicts
        for qid, answer in (arena_hard_answers(model, data_dir) or {}).items():
            q, labels = questions.get(qid), lost.get((qid, model))
            if q is None or not labels or not answer.strip():
                continue
            out.append(AnswerRecord(q.prompt, answer, sum(labels) / len(labels), model, "arena_hard", f"arena:{q.cluster}"))
    return out


def gsm8k_answer_records(data_dir: PathLike | None = None) -> list[AnswerRecord]:
    """Both models' GSM8K answers (contaminated prompts dropped) labelled 1 when wrong."""
    path, columns, rows = gsm8k_table(data_dir)
    bad = contaminated_prompts("gsm8k", data_dir)
    out = []
    for i, row in enumerate(rows):
        if row["prompt"] in bad:
            continue
        for col in (PAPER_STRONG_COLUMN, PAPER_WEAK_COLUMN):
            answer = row.get(f"{col}_response") or ""
            ok = correctness(row[col], f"{path.name} row {i + 2}")
            if ok is None or not answer.strip():
                continue
            out.append(AnswerRecord(row["prompt"], answer, 1.0 - ok, canonical_model_name(col), "gsm8k", f"gsm8k:{i}"))
    return out


def answer_records(data_dir: PathLike | None = None, sources: Iterable[str] = ANSWER_SOURCES) -> list[AnswerRecord]:
    """The scorer's training rows from the named sources (default: Arena-Hard answers and GSM8K)."""
    loaders = {"arena_hard": arena_answer_records, "gsm8k": gsm8k_answer_records}
    out: list[AnswerRecord] = []
    for name in sources:
        if name not in loaders:
            raise DataError(f"unknown answer source {name!r} (choose {', '.join(ANSWER_SOURCES)})")
        out += loaders[name](data_dir)
    return out


def without_prompts(records: Sequence[AnswerRecord], prompts: Iterable[str]) -> list[AnswerRecord]:
    """``records`` minus every row whose prompt (case/space-normalised) is one of ``prompts``."""
    held = {normalize_prompt(p) for p in prompts}
    return [r for r in records if r.prompt_key not in held]
