"""Real Chatbot Arena prompts: Arena-Hard-Auto judge verdicts and Chatbot Arena human votes.

Arena-Hard writes each judge verdict against the baseline (gpt-4-0314) as rows: two games per
prompt with the answers' positions swapped, and a decisive verdict ("A>>B") as 3 identical rows.
So the rows of one (prompt, model) encode the strength of the verdict, and the model's soft
score on the prompt is the share of its rows it won, ties counting half (Arena-Hard's weighting).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import DataError
from ..models import canonical_model_name, dated_model_name
from .files import (
    ARENA_HARD_ANSWERS_DIR,
    ARENA_HARD_BASELINE,
    ARENA_HARD_QUESTIONS,
    ARENA_HARD_VERDICTS,
    CHATBOT_ARENA_BATTLES,
    PathLike,
    data_path,
)
from .tables import iter_jsonl

ARENA_JUDGES: tuple[str, ...] = tuple(ARENA_HARD_VERDICTS)
HUMAN_WINNERS = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}


@dataclass(frozen=True)
class ArenaHardQuestion:
    question_id: str
    cluster: str
    prompt: str


@dataclass(frozen=True)
class ArenaHardVerdict:
    """A judge's verdict of ``model`` against the baseline on one prompt, over all its rows."""

    question_id: str
    model: str
    judge: str
    wins: int
    ties: int
    rows: int

    @property
    def score(self) -> float:
        """P(model beats the baseline): rows won plus half the tied rows, over all rows."""
        return (self.wins + 0.5 * self.ties) / self.rows


def arena_hard_questions(data_dir: PathLike | None = None) -> list[ArenaHardQuestion]:
    """The 498 Arena-Hard prompts with their topic cluster."""
    path = data_path(ARENA_HARD_QUESTIONS, data_dir)
    out = []
    for line_no, row in iter_jsonl(path, ["question_id", "cluster", "prompt"]):
        if not isinstance(row["prompt"], str) or not row["prompt"].strip():
            raise DataError(f"{path.name} line {line_no}: empty prompt")
        out.append(ArenaHardQuestion(str(row["question_id"]), str(row["cluster"]), row["prompt"]))
    return out


def arena_hard_verdicts(data_dir: PathLike | None = None, judges: Iterable[str] = ARENA_JUDGES) -> list[ArenaHardVerdict]:
    """Every (prompt, model, judge) verdict against gpt-4-0314, aggregated from the rows of each judge file."""
    out: list[ArenaHardVerdict] = []
    baseline = canonical_model_name(ARENA_HARD_BASELINE)
    for judge in judges:
        if judge not in ARENA_HARD_VERDICTS:
            raise DataError(f"unknown Arena-Hard judge {judge!r} (choose {', '.join(ARENA_JUDGES)})")
        path = data_path(ARENA_HARD_VERDICTS[judge], data_dir)
        counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        for line_no, row in iter_jsonl(path, ["question_id", "model_a", "model_b", "winner"]):
            a, b, winner = canonical_model_name(str(row["model_a"])), canonical_model_name(str(row["model_b"])), row["winner"]
            if winner not in ("model_a", "model_b", "tie"):
                raise DataError(f"{path.name} line {line_no}: winner {winner!r} is not model_a, model_b or tie")
            if (a == baseline) == (b == baseline):
                raise DataError(f"{path.name} line {line_no}: a verdict must compare one model with {baseline}")
            model, model_won = (b, winner == "model_b") if a == baseline else (a, winner == "model_a")
            c = counts[(str(row["question_id"]), model)]
            c[0] += model_won
            c[1] += winner == "tie"
            c[2] += 1
        out += [ArenaHardVerdict(q, m, judge, w, t, n) for (q, m), (w, t, n) in counts.items()]
    return out


@dataclass(frozen=True)
class HumanVote:
    """One Chatbot Arena battle with one human vote (first user turn as the prompt)."""

    question_id: str
    prompt: str
    model_a: str
    model_b: str
    winner: str  # model_a | model_b | tie | tie (bothbad)

    @property
    def outcome(self) -> float:
        """P(model_a is better): 1, 0, or 0.5 for both kinds of tie."""
        return HUMAN_WINNERS[self.winner]


def chatbot_arena_votes(data_dir: PathLike | None = None) -> list[HumanVote]:
    """The 762 human-voted battles; undated ``gpt-4``/``gpt-3.5-turbo`` get their snapshot by the vote's date."""
    path = data_path(CHATBOT_ARENA_BATTLES, data_dir)
    out = []
    for line_no, row in iter_jsonl(path, ["question_id", "model_a", "model_b", "winner", "turns"]):
        turns, winner = row["turns"], row["winner"]
        if winner not in HUMAN_WINNERS:
            raise DataError(f"{path.name} line {line_no}: winner {winner!r} is not one of {', '.join(HUMAN_WINNERS)}")
        if not (isinstance(turns, list) and turns and isinstance(turns[0], str) and turns[0].strip()):
            raise DataError(f"{path.name} line {line_no}: 'turns' must be a non-empty list of strings")
        stamp = row.get("tstamp")
        a, b = dated_model_name(str(row["model_a"]), stamp), dated_model_name(str(row["model_b"]), stamp)
        if a == b:
            raise DataError(f"{path.name} line {line_no}: a battle compares {a!r} with itself")
        out.append(HumanVote(str(row["question_id"]), turns[0], a, b, winner))
    return out


def arena_hard_answers(model: str, data_dir: PathLike | None = None) -> dict[str, str] | None:
    """question_id -> ``model``'s recorded answer, or None when ``answers/`` has no file for it."""
    folder = data_path(ARENA_HARD_ANSWERS_DIR, data_dir, must_exist=False)
    wanted = canonical_model_name(model)
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        if canonical_model_name(path.stem) == wanted:
            return {str(row["question_id"]): str(row["answer"])
                    for _, row in iter_jsonl(path, ["question_id", "answer"])}
    return None
