"""Fixtures for the evaluation harness tests: a private cache dir and a small real trained router."""

from __future__ import annotations

from pathlib import Path

import pytest

from routellm_core.evaluation import load_benchmark


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Keep default routers, scores and embeddings of these tests out of the user's ~/.cache/routellm."""
    patch = pytest.MonkeyPatch()
    patch.setenv("ROUTELLM_CACHE_DIR", str(tmp_path_factory.mktemp("routellm-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def mt_bench():
    return load_benchmark("mt-bench")


@pytest.fixture(scope="session")
def gsm8k():
    return load_benchmark("gsm8k")


@pytest.fixture(scope="session")
def mmlu():
    return load_benchmark("mmlu")


@pytest.fixture(scope="session")
def eval_alpaca_subset():
    """All AlpacaEval comparisons of the first 60 instructions (real data, ~3k records)."""
    from routellm_core.loaders import load_alpaca_eval

    records = load_alpaca_eval()
    prompts = list(dict.fromkeys(r.prompt for r in records))[:60]
    keep = set(prompts)
    return [r for r in records if r.prompt in keep]


@pytest.fixture(scope="session")
def small_sw_checkpoint(tmp_path_factory, eval_alpaca_subset) -> Path:
    """A real SW-ranking router trained on the AlpacaEval subset, saved as a checkpoint directory."""
    from routellm_core.routers.sw_ranking import SWRankingRouter

    path = tmp_path_factory.mktemp("sw-small") / "ckpt"
    SWRankingRouter(show_progress=False).fit(eval_alpaca_subset).save(path)
    return path
