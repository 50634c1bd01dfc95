"""Benchmarks: prompts plus what the strong and the weak model score on each of them.

The paper's three (MT-Bench, MMLU, GSM8K from RouteLLM's ``routellm/evals``) are loaded and
decontaminated exactly as RouteLLM's ``benchmarks.py`` does (80 -> 72, 14,042 -> 14,037 and
1,319 -> 1,307 items), and users can plug in their own data as one of two generic kinds:

- a *correctness table*: a prompt column and one 0/1 (True/False) column per model;
- a *judged-score table*: rows of (prompt id, model, score), e.g. LLM-judge ratings.

Every benchmark becomes one :class:`Benchmark`: per item the score the strong and the weak model
get, so routing quality is ``mean(where(strong, strong_scores, weak_scores))`` for any routing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..data.arena import ARENA_JUDGES, arena_hard_answers, arena_hard_questions, arena_hard_verdicts
from ..data.files import ARENA_HARD_BASELINE
from ..data.golden import golden_outcome
from ..data.paper import (PAPER_STRONG_COLUMN, PAPER_WEAK_COLUMN, contaminated_prompts, gsm8k_table, mmlu_tables,
                          mt_bench_questions)
from ..data.tables import correctness as _correct
from ..data.tables import csv_columns, is_binary_column, prompt_text, read_csv as _read_csv, read_jsonl
from ..errors import DataError, InvalidInputError
from ..models import STRONG_MODEL, WEAK_MODEL, canonical_model_name
from ..records import PreferenceRecord

PathLike = str | os.PathLike[str]
BENCHMARK_NAMES: tuple[str, ...] = ("mt-bench", "mmlu", "gsm8k", "arena")
_ALIASES = {"mt-bench": "mt-bench", "mt_bench": "mt-bench", "mtbench": "mt-bench", "mmlu": "mmlu", "gsm8k": "gsm8k",
            "arena": "arena", "arena-hard": "arena", "arena_hard": "arena", "arena-answers": "arena-answers",
            "arena_answers": "arena-answers"}
# The Arena benchmark's default pair: both judged by gpt-4o against gpt-4-0314 on every prompt. With
# gpt-3.5-turbo-0125 as the weak model gpt-4o wins 83% of the prompts and even a perfect router
# reaches APGR 0.67; Llama-3.1-70B ties or beats gpt-4o on 62%, so routing has something to find
# (optimal APGR 1.11). Other pairs: --strong-model / --weak-model.
ARENA_STRONG_MODEL = "gpt-4o"
ARENA_WEAK_MODEL = "llama-3.1-70b-instruct"
# ``arena-answers``: the same benchmark on a pair whose answers are recorded too (cascades score the
# weak answer). Claude-3.5-Sonnet vs Gemma-2-27B, both judged by gpt-4o: Gemma ties or wins on many
# prompts (optimal APGR 1.05), as Llama-3.1-70B does for the default pair.
ARENA_ANSWERS_STRONG_MODEL = "claude-3-5-sonnet-20240620"
ARENA_ANSWERS_WEAK_MODEL = "gemma-2-27b-it"


@dataclass(frozen=True, eq=False)
class Benchmark:
    """Items with the strong and weak model's score on each; routing picks one score per item.

    ``optimal_whole_calls``: the optimal curve gives the strong model only whole calls (RouteLLM's
    MT-Bench); otherwise a fractional number of calls, as RouteLLM's MMLU/GSM8K optimum does.
    ``input_texts``/``output_texts`` (keys ``"strong"``/``"weak"``) are what each model reads and
    writes per item, for token costs; missing outputs count ``default_output_tokens`` each.
    """

    name: str
    kind: str  # "correctness" or "judged"
    prompts: list[str]
    strong_scores: np.ndarray
    weak_scores: np.ndarray
    strong_model: str = STRONG_MODEL
    weak_model: str = WEAK_MODEL
    ids: list[str] = field(default_factory=list)
    groups: list[str] | None = None
    unit: str = "accuracy (%)"
    optimal_whole_calls: bool = False
    input_texts: dict[str, list[str]] | None = None
    output_texts: dict[str, list[str]] | None = None
    default_output_tokens: int = 1
    dropped_contaminated: int = 0
    dropped_incomplete: int = 0
    # True when the default training data holds this benchmark's own labels for every model (Arena-Hard):
    # cross-fitting then trains on those records of the other folds instead of adding golden labels.
    labels_in_training_data: bool = False

    def __post_init__(self) -> None:
        n = len(self.prompts)
        object.__setattr__(self, "strong_scores", np.asarray(self.strong_scores, dtype=np.float64).reshape(-1))
        object.__setattr__(self, "weak_scores", np.asarray(self.weak_scores, dtype=np.float64).reshape(-1))
        if n < 2:
            raise DataError(f"benchmark {self.name!r} has {n} usable item(s); need at least 2")
        if len(self.strong_scores) != n or len(self.weak_scores) != n:
            raise DataError(f"benchmark {self.name!r}: {n} prompts but {len(self.strong_scores)} strong and "
                            f"{len(self.weak_scores)} weak scores")
        if not (np.isfinite(self.strong_scores).all() and np.isfinite(self.weak_scores).all()):
            raise DataError(f"benchmark {self.name!r} has non-numeric or missing scores")
        if not self.ids:
            object.__setattr__(self, "ids", [str(i) for i in range(n)])
        if len(self.ids) != n or (self.groups is not None and len(self.groups) != n):
            raise DataError(f"benchmark {self.name!r}: ids/groups do not match the {n} prompts")
        for texts in (self.input_texts or {}, self.output_texts or {}):
            if any(len(v) != n for v in texts.values()):
                raise DataError(f"benchmark {self.name!r}: token texts do not match the {n} prompts")

    # --- quality -----------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.prompts)

    @property
    def strong_performance(self) -> float:
        return float(self.strong_scores.mean())

    @property
    def weak_performance(self) -> float:
        return float(self.weak_scores.mean())

    def performance(self, strong_mask: np.ndarray) -> float:
        """Benchmark quality when items in ``strong_mask`` go to the strong model, the rest to the weak."""
        mask = np.asarray(strong_mask, dtype=bool)
        return float(np.where(mask, self.strong_scores, self.weak_scores).mean())

    # --- derived benchmarks and labels -------------------------------------------------------
    def subset(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> Benchmark:
        """The same benchmark restricted to ``indices`` (e.g. a test subset or one cross-fitting fold)."""
        idx = np.asarray(indices, dtype=np.int64)

        def pick(values):
            return [values[i] for i in idx]

        return replace(
            self, name=name or self.name, prompts=pick(self.prompts), strong_scores=self.strong_scores[idx],
            weak_scores=self.weak_scores[idx], ids=pick(self.ids), groups=pick(self.groups) if self.groups else None,
            input_texts={k: pick(v) for k, v in self.input_texts.items()} if self.input_texts else None,
            output_texts={k: pick(v) for k, v in self.output_texts.items()} if self.output_texts else None,
        )

    def golden_records(self, indices: Sequence[int] | np.ndarray | None = None) -> list[PreferenceRecord]:
        """The paper's golden-label augmentation: strong better = 1, weak better = 0, equal = tie (0.5).

        The rule is :func:`routellm_core.data.golden.golden_outcome`, as for every correctness table.
        """
        idx = range(self.n) if indices is None else np.asarray(indices, dtype=np.int64)
        strong, weak = canonical_model_name(self.strong_model), canonical_model_name(self.weak_model)
        out = []
        for i in idx:
            outcome = golden_outcome(self.strong_scores[i], self.weak_scores[i])
            out.append(PreferenceRecord(self.prompts[i], strong, weak, outcome, f"{self.name}:golden"))
        return out

    def fingerprint(self) -> str:
        """Content hash (prompts, scores, models): the score cache key for this benchmark."""
        h = hashlib.sha256()
        for part in (self.name, self.kind, self.strong_model, self.weak_model):
            h.update(part.encode() + b"\x00")
        for p in self.prompts:
            h.update(p.encode() + b"\x00")
        h.update(self.strong_scores.tobytes())
        h.update(self.weak_scores.tobytes())
        return h.hexdigest()

    def describe(self) -> str:
        extra = f", {self.dropped_contaminated} contaminated dropped" if self.dropped_contaminated else ""
        return (f"{self.name}: {self.n} items{extra}; {self.weak_model} {self.weak_performance:.3f}, "
                f"{self.strong_model} {self.strong_performance:.3f} ({self.unit})")


# --- the paper's benchmarks ---------------------------------------------------------------------
def load_benchmark(name: str, data_dir: PathLike | None = None, **kwargs) -> Benchmark:
    """``mt-bench``, ``mmlu``, ``gsm8k`` or ``arena``, or a path to a correctness (.csv) or judged-score (.jsonl/.csv) table."""
    key = _ALIASES.get(str(name).strip().lower())
    if key == "mt-bench":
        return load_mt_bench(data_dir, **kwargs)
    if key == "mmlu":
        return load_mmlu(data_dir, **kwargs)
    if key == "gsm8k":
        return load_gsm8k(data_dir, **kwargs)
    if key == "arena":
        return load_arena(data_dir, **kwargs)
    if key == "arena-answers":
        return load_arena_answers(data_dir, **kwargs)
    path = Path(str(name)).expanduser()
    if path.suffix in {".csv", ".jsonl", ".json"} and path.exists():
        columns = _columns(path)
        if {"model", "score"} <= set(columns):
            return load_judged_benchmark(path, **kwargs)
        if kwargs.pop("prompts", None):
            raise InvalidInputError(f"{path.name} is a correctness table (no model/score columns): "
                                    f"a prompts file applies only to judged-score tables")
        return load_correctness_benchmark(path, **kwargs)
    if path.suffix in {".csv", ".jsonl", ".json"}:
        raise DataError(f"benchmark file not found: {path}")
    raise InvalidInputError(f"unknown benchmark {name!r}: choose {', '.join(BENCHMARK_NAMES)}, all, "
                            f"or a path to a correctness table (.csv) or judged-score table (.jsonl/.csv)")


def load_mmlu(data_dir: PathLike | None = None, domains: Sequence[str] | None = None) -> Benchmark:
    """MMLU (57 domains, 14,037 prompts after decontamination); groups are the domains."""
    available = mmlu_tables(data_dir)
    if domains is not None:
        unknown = [d for d in domains if d not in available]
        if unknown:
            raise InvalidInputError(f"unknown MMLU domain(s) {', '.join(unknown)}")
        available = {d: available[d] for d in domains}
    bad = contaminated_prompts("mmlu", data_dir)
    prompts, strong, weak, groups, ids = [], [], [], [], []
    dropped = 0
    for domain, path in available.items():
        _, rows = _read_csv(path, ["prompt", PAPER_STRONG_COLUMN, PAPER_WEAK_COLUMN])
        for i, row in enumerate(rows):
            if row["prompt"] in bad:
                dropped += 1
                continue
            s = _correct(row[PAPER_STRONG_COLUMN], f"{path.name} row {i + 2}")
            w = _correct(row[PAPER_WEAK_COLUMN], f"{path.name} row {i + 2}")
            if s is None or w is None:
                raise DataError(f"{path.name} row {i + 2}: missing correctness value")
            prompts.append(row["prompt"])
            strong.append(100.0 * s)
            weak.append(100.0 * w)
            groups.append(domain)
            ids.append(f"{domain}:{i}")
    return Benchmark("mmlu", "correctness", prompts, np.array(strong), np.array(weak), ids=ids, groups=groups,
                     dropped_contaminated=dropped, default_output_tokens=1)


def load_gsm8k(data_dir: PathLike | None = None) -> Benchmark:
    """GSM8K (1,307 prompts after decontamination), with both models' answers for token counts."""
    path, columns, rows = gsm8k_table(data_dir)
    bad = contaminated_prompts("gsm8k", data_dir)
    kept = [(i, r) for i, r in enumerate(rows) if r["prompt"] not in bad]
    responses = {role: f"{col}_response" for role, col in (("strong", PAPER_STRONG_COLUMN), ("weak", PAPER_WEAK_COLUMN))}
    outputs = ({role: [r[col] or "" for _, r in kept] for role, col in responses.items()}
               if all(c in columns for c in responses.values()) else None)
    prompts = [r["prompt"] for _, r in kept]
    strong = [100.0 * (_correct(r[PAPER_STRONG_COLUMN], f"{path.name} row {i + 2}") or 0.0) for i, r in kept]
    weak = [100.0 * (_correct(r[PAPER_WEAK_COLUMN], f"{path.name} row {i + 2}") or 0.0) for i, r in kept]
    return Benchmark("gsm8k", "correctness", prompts, np.array(strong), np.array(weak), ids=[str(i) for i, _ in kept],
                     output_texts=outputs, dropped_contaminated=len(rows) - len(kept))


def load_mt_bench(data_dir: PathLike | None = None) -> Benchmark:
    """MT-Bench: 72 two-turn questions after decontamination, routed on the first turn.

    A routed question scores the chosen model's GPT-4 judge scores for both turns (their mean, as
    RouteLLM averages over question-turn rows); groups are the question categories.
    """
    questions, dropped = mt_bench_questions(data_dir)
    strong_name, weak_name = canonical_model_name(PAPER_STRONG_COLUMN), canonical_model_name(PAPER_WEAK_COLUMN)
    prompts, strong, weak, ids, groups = [], [], [], [], []
    inputs: dict[str, list[str]] = {"strong": [], "weak": []}
    outputs: dict[str, list[str]] = {"strong": [], "weak": []}
    incomplete = 0
    for q in questions:
        s, w = q.scores.get(strong_name), q.scores.get(weak_name)
        if not s or not w:
            incomplete += 1
            continue
        prompts.append(q.turns[0])
        strong.append(float(np.mean(s)))
        weak.append(float(np.mean(w)))
        ids.append(str(q.question_id))
        groups.append(q.category)
        for role, model in (("strong", strong_name), ("weak", weak_name)):
            ans = q.answers.get(model, [])
            first = ans[0] if ans else ""
            # Turn 2 re-sends turn 1 and its answer as context.
            inputs[role].append("\n".join([q.turns[0], q.turns[0], first, q.turns[1]]))
            outputs[role].append("\n".join(ans))
    return Benchmark("mt-bench", "judged", prompts, np.array(strong), np.array(weak), ids=ids, groups=groups,
                     unit="MT-Bench score (1-10)", optimal_whole_calls=True, input_texts=inputs, output_texts=outputs,
                     dropped_contaminated=dropped, dropped_incomplete=incomplete)


def load_arena(data_dir: PathLike | None = None, strong_model: str | None = None, weak_model: str | None = None,
               judge: str | None = None) -> Benchmark:
    """Arena-Hard: real Chatbot Arena prompts, each model scored by its judge verdict against gpt-4-0314.

    An item's score for a model is its win rate against the baseline on that prompt, in % (ties
    half, a decisive verdict counting 3 rows as Arena-Hard writes it). Both models must be judged
    by the same judge; ``judge=None`` picks the one that covers both (gpt-4o for the default pair
    gpt-4o / llama-3.1-70b-instruct; gpt-4-1106-preview for qwen2.5-72b-instruct / gpt-3.5-turbo-0125).
    Groups are Arena-Hard's topic clusters, so cross-fitting never scores a prompt with a router
    trained on its cluster.
    """
    strong = canonical_model_name(strong_model or ARENA_STRONG_MODEL)
    weak = canonical_model_name(weak_model or ARENA_WEAK_MODEL)
    if strong == weak:
        raise InvalidInputError(f"strong and weak model are the same ({strong!r})")
    verdicts = arena_hard_verdicts(data_dir, [judge] if judge else ARENA_JUDGES)
    by_judge: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    for v in verdicts:
        by_judge[v.judge][(v.question_id, v.model)] = v.score
    covering = [j for j, table in by_judge.items() if {m for _, m in table} >= {strong, weak}]
    if not covering:
        judged = {j: sorted({m for _, m in t}) for j, t in by_judge.items()}
        raise InvalidInputError(f"no Arena-Hard judge scored both {strong!r} and {weak!r}; models per judge: {judged}")
    judge = covering[-1]  # gpt-4o when both judges cover the pair (it judged more models)
    table = by_judge[judge]
    questions = arena_hard_questions(data_dir)
    kept = [q for q in questions if (q.question_id, strong) in table and (q.question_id, weak) in table]
    answers = {role: arena_hard_answers(model, data_dir) for role, model in (("strong", strong), ("weak", weak))}
    baseline = arena_hard_answers(ARENA_HARD_BASELINE, data_dir) or {}
    # A model without recorded answers is costed with the baseline's answer length (gpt-4-0314).
    outputs = {role: [(a or baseline).get(q.question_id, "") for q in kept] for role, a in answers.items()}
    return Benchmark(
        "arena", "judged", [q.prompt for q in kept], np.array([100.0 * table[(q.question_id, strong)] for q in kept]),
        np.array([100.0 * table[(q.question_id, weak)] for q in kept]), strong_model=strong, weak_model=weak,
        ids=[q.question_id for q in kept], groups=[q.cluster for q in kept],
        unit=f"win rate vs {ARENA_HARD_BASELINE} (%, judge {judge})", output_texts=outputs,
        dropped_incomplete=len(questions) - len(kept), labels_in_training_data=True)


def load_arena_answers(data_dir: PathLike | None = None, strong_model: str | None = None,
                       weak_model: str | None = None, judge: str | None = None) -> Benchmark:
    """:func:`load_arena` on a pair with recorded answers (default Claude-3.5-Sonnet vs Gemma-2-27B), for cascades."""
    bench = load_arena(data_dir, strong_model or ARENA_ANSWERS_STRONG_MODEL, weak_model or ARENA_ANSWERS_WEAK_MODEL, judge)
    return replace(bench, name="arena-answers")


# --- generic kinds ------------------------------------------------------------------------------
def _columns(path: Path) -> list[str]:
    if path.suffix == ".csv":
        return csv_columns(path)
    rows = read_jsonl(path) if path.suffix == ".jsonl" else json.loads(path.read_text(encoding="utf-8"))
    return list(rows[0]) if rows and isinstance(rows[0], dict) else []


def _find_column(columns: Sequence[str], model: str, path: Path) -> str:
    if model in columns:
        return model
    matches = [c for c in columns if "|" not in c and canonical_model_name(c) == canonical_model_name(model)]
    if len(matches) == 1:
        return matches[0]
    raise DataError(f"{path.name} has no correctness column for model {model!r} (columns: {', '.join(columns[:20])})")


def load_correctness_benchmark(path: PathLike, strong_model: str | None = None, weak_model: str | None = None,
                               prompt_column: str = "prompt", group_column: str | None = None,
                               name: str | None = None, contaminated: Sequence[str] = ()) -> Benchmark:
    """A correctness table: a prompt column and one 0/1 column per model (RouteLLM's or RouterBench's CSVs).

    ``strong_model``/``weak_model`` name the two columns (canonical names match too). If omitted, the
    paper's pair is used when present, else the two score columns when there are exactly two (the one
    with the higher mean is the strong model). Rows where either model has no value are skipped;
    ``<column>_response`` or ``<column>|model_response`` columns, if present, give output texts.
    """
    path = Path(path)
    columns, rows = _read_csv(path, [prompt_column] + ([group_column] if group_column else []))
    if strong_model is None or weak_model is None:
        strong_model, weak_model = _guess_pair(path, columns, rows, prompt_column, strong_model, weak_model)
    s_col, w_col = _find_column(columns, strong_model, path), _find_column(columns, weak_model, path)
    if s_col == w_col:
        raise InvalidInputError(f"strong and weak model are the same column {s_col!r}")
    bad = set(contaminated)
    prompts, strong, weak, ids, groups = [], [], [], [], []
    outs: dict[str, list[str]] = {"strong": [], "weak": []}
    resp = {role: next((c for c in (f"{col}_response", f"{col}|model_response") if c in columns), None)
            for role, col in (("strong", s_col), ("weak", w_col))}
    skipped = dropped = 0
    for i, row in enumerate(rows):
        raw = row[prompt_column] or ""
        if raw in bad:
            dropped += 1
            continue
        where = f"{path.name} row {i + 2}"
        s, w = _correct(row[s_col], where), _correct(row[w_col], where)
        prompt = prompt_text(raw)
        if s is None or w is None or not prompt.strip():
            skipped += 1
            continue
        prompts.append(prompt)
        strong.append(100.0 * s)
        weak.append(100.0 * w)
        ids.append(str(i))
        if group_column:
            groups.append(str(row[group_column]))
        for role in ("strong", "weak"):
            column = resp[role]
            if column:
                outs[role].append(row[column] or "")
    outputs = outs if all(resp.values()) else None
    return Benchmark(name or path.stem, "correctness", prompts, np.array(strong), np.array(weak), strong_model=s_col,
                     weak_model=w_col, ids=ids, groups=groups if group_column else None, output_texts=outputs,
                     dropped_contaminated=dropped, dropped_incomplete=skipped)


def _guess_pair(path: Path, columns: list[str], rows: list[dict[str, str]], prompt_column: str,
                strong: str | None, weak: str | None) -> tuple[str, str]:
    if strong is None and weak is None and PAPER_STRONG_COLUMN in columns and PAPER_WEAK_COLUMN in columns:
        return PAPER_STRONG_COLUMN, PAPER_WEAK_COLUMN
    binary = [c for c in columns if c != prompt_column and "|" not in c and is_binary_column(rows, c)]
    if strong is not None or weak is not None:
        named = strong if strong is not None else weak
        assert named is not None
        others = [c for c in binary if canonical_model_name(c) != canonical_model_name(named)]
        if len(others) != 1:
            raise InvalidInputError(f"{path.name}: name both --strong-model and --weak-model (score columns: {', '.join(binary)})")
        return (named, others[0]) if strong is not None else (others[0], named)
    if len(binary) != 2:
        raise InvalidInputError(f"{path.name} has {len(binary)} score columns ({', '.join(binary)}): "
                                f"name the pair with --strong-model and --weak-model")
    means = [np.mean([_correct(r.get(c), path.name) or 0.0 for r in rows]) for c in binary]
    return (binary[0], binary[1]) if means[0] >= means[1] else (binary[1], binary[0])


def load_judged_benchmark(path: PathLike, strong_model: str | None = None, weak_model: str | None = None,
                          prompts: PathLike | None = None, id_column: str | None = None, model_column: str = "model",
                          score_column: str = "score", prompt_column: str = "prompt", group_column: str | None = None,
                          name: str | None = None) -> Benchmark:
    """A judged-score table: rows of (prompt id, model, score), as JSONL or CSV.

    An item's score for a model is the mean of its rows (e.g. the turns of a conversation). Prompt
    texts come from a ``prompt`` column of the table or from ``prompts`` (JSONL with the id and
    ``prompt`` or MT-Bench-style ``turns``; the first turn is routed). Items lacking a score for
    either model are dropped and counted in ``dropped_incomplete``.
    """
    path = Path(path)
    rows = _table_rows(path)
    if not rows:
        raise DataError(f"{path.name} has no rows")
    columns = list(rows[0])
    id_column = id_column or next((c for c in ("question_id", "prompt_id", "id") if c in columns), None)
    if id_column is None or model_column not in columns or score_column not in columns:
        raise DataError(f"{path.name} needs an id column (question_id/prompt_id/id), {model_column!r} and "
                        f"{score_column!r} (has {', '.join(columns[:12])})")
    models = sorted({canonical_model_name(str(r[model_column])) for r in rows})
    if strong_model is None or weak_model is None:
        if len(models) != 2:
            raise InvalidInputError(f"{path.name} scores {len(models)} models ({', '.join(models[:10])}): "
                                    f"name the pair with --strong-model and --weak-model")
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    texts: dict[str, str] = {}
    group_of: dict[str, str] = {}
    for i, r in enumerate(rows):
        try:
            scores[(str(r[id_column]), canonical_model_name(str(r[model_column])))].append(float(r[score_column]))
        except (TypeError, ValueError):
            raise DataError(f"{path.name} row {i + 1}: score {r.get(score_column)!r} is not a number") from None
        if r.get(prompt_column):
            texts.setdefault(str(r[id_column]), prompt_text(str(r[prompt_column])))
        if group_column and r.get(group_column) is not None:
            group_of.setdefault(str(r[id_column]), str(r[group_column]))
    if prompts is not None:
        for r in _table_rows(Path(prompts)):
            key = str(r.get(id_column, r.get("id", "")))
            text = r.get("prompt") or (r.get("turns") or [None])[0]
            if key and text:
                texts.setdefault(key, prompt_text(str(text)))
            if r.get("category") is not None:
                group_of.setdefault(key, str(r["category"]))
    if strong_model is None or weak_model is None:
        means = {m: np.mean([np.mean(v) for (k, mm), v in scores.items() if mm == m]) for m in models}
        strong_model, weak_model = sorted(models, key=lambda m: -means[m])
    s_name, w_name = canonical_model_name(strong_model), canonical_model_name(weak_model)
    for m in (s_name, w_name):
        if m not in models:
            raise DataError(f"{path.name} has no scores for model {m!r} (models: {', '.join(models[:20])})")
    item_ids = list(dict.fromkeys(k for k, _ in scores))
    kept = [k for k in item_ids if scores.get((k, s_name)) and scores.get((k, w_name)) and texts.get(k, "").strip()]
    if not texts:
        raise DataError(f"{path.name} has no {prompt_column!r} column: pass the prompts file (JSONL with id and prompt/turns)")
    return Benchmark(
        name or path.stem, "judged", [texts[k] for k in kept], np.array([np.mean(scores[(k, s_name)]) for k in kept]),
        np.array([np.mean(scores[(k, w_name)]) for k in kept]), strong_model=strong_model, weak_model=weak_model,
        ids=kept, groups=[group_of.get(k, "") for k in kept] if group_of else None, unit="judged score",
        optimal_whole_calls=True, dropped_incomplete=len(item_ids) - len(kept),
    )


def _table_rows(path: Path) -> list[dict]:
    if not path.is_file():
        raise DataError(f"data file missing: {path}")
    if path.suffix == ".csv":
        return _read_csv(path)[1]
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path.name}: invalid JSON ({exc.msg})") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(f"{path.name}: expected a JSON list of objects")
    return data
