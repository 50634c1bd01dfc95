"""The default answer scorer: trained once per machine on every graded answer, then loaded from the cache."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ..datadir import default_cache_dir
from .records import answer_records
from .scorer import AnswerScorer

SCORER_RECIPE_VERSION = 1
_lock = threading.Lock()


def default_scorer_path() -> Path:
    """``$ROUTELLM_CACHE_DIR/scorers/answer-default-v<recipe>`` (config.json + model.safetensors)."""
    return default_cache_dir() / "scorers" / f"answer-default-v{SCORER_RECIPE_VERSION}"


def train_default_answer_scorer(data_dir: str | os.PathLike[str] | None = None, output: str | os.PathLike[str] | None = None,
                                use_embeddings: bool = True) -> AnswerScorer:
    """Train on Arena-Hard's graded answers and GSM8K's (all of them) and save the checkpoint."""
    output = Path(output) if output else default_scorer_path()
    records = answer_records(data_dir)
    print(f"training the default answer scorer on {len(records)} graded answers (once; cached in {output})")
    scorer = AnswerScorer(use_embeddings=use_embeddings, show_progress=True).fit(records)
    scorer.save(output)
    return scorer


def default_answer_scorer(data_dir: str | os.PathLike[str] | None = None) -> AnswerScorer:
    """The cached default scorer, trained on first use."""
    with _lock:
        path = default_scorer_path()
        if (path / "config.json").is_file():
            return AnswerScorer.load(path)
        return train_default_answer_scorer(data_dir, path)
