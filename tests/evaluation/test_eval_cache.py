"""Router scores are cached on disk per (checkpoint hash, benchmark), as .npy + JSON, never pickled."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from routellm_core.errors import RouteLLMError
from routellm_core.evaluation import Evaluator
from routellm_core.evaluation.cache import ScoreCache, directory_hash, router_fingerprint
from routellm_core.routers.random_router import RandomRouter
from routellm_core.routers.registry import load_checkpoint


def test_round_trip_without_pickle(tmp_path):
    cache = ScoreCache(tmp_path)
    path = cache.put("bench", "b" * 64, "mf", "k" * 64, np.array([0.1, 0.9]), {"router": "mf"})
    assert path.suffix == ".npy" and path.with_suffix(".json").is_file()
    np.testing.assert_array_equal(np.load(path, allow_pickle=False), [0.1, 0.9])
    np.testing.assert_array_equal(cache.get("bench", "b" * 64, "mf", "k" * 64, n=2), [0.1, 0.9])
    assert cache.get("bench", "b" * 64, "mf", "k" * 64, n=3) is None  # wrong length
    assert cache.get("bench", "c" * 64, "mf", "k" * 64) is None  # other benchmark content
    assert json.loads(path.with_suffix(".json").read_text())["router"] == "mf"
    with pytest.raises(RouteLLMError, match="pickle"):
        cache.put("bench", "b" * 64, "x", "k" * 64, np.array([object()], dtype=object))
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.pickle"))


def test_fingerprint_follows_checkpoint_contents(small_sw_checkpoint, tmp_path):
    router = load_checkpoint(small_sw_checkpoint)
    key = router_fingerprint(router, small_sw_checkpoint)
    assert key == router_fingerprint(router, small_sw_checkpoint)
    assert key == router_fingerprint(router)  # saved to a temporary folder: same files, same hash
    copy = tmp_path / "copy"
    shutil.copytree(small_sw_checkpoint, copy)
    (copy / "config.json").write_text((copy / "config.json").read_text().replace('"gamma": 10.0', '"gamma": 5.0'))
    assert directory_hash(copy) != directory_hash(small_sw_checkpoint)
    assert router_fingerprint(load_checkpoint(copy), copy) != key
    assert router_fingerprint(RandomRouter(seed=1)) is None  # baselines are cheap: not cached


def test_second_evaluation_reads_scores_from_the_cache(mt_bench, small_sw_checkpoint, tmp_path):
    cache = ScoreCache(tmp_path / "cache")
    ev = Evaluator(cache=cache, log=None, with_cost=False)
    first = ev.evaluate_router(str(small_sw_checkpoint), mt_bench)
    second = ev.evaluate_router(str(small_sw_checkpoint), mt_bench)
    assert (first.source, second.source) == ("computed", "cache")
    np.testing.assert_array_equal(first.scores, second.scores)
    assert first.metrics == second.metrics
    files = sorted(p.name for p in (tmp_path / "cache" / "scores").rglob("*") if p.is_file())
    assert len(files) == 2 and files[0].endswith(".json") and files[1].endswith(".npy")
    # The cached scores are the router's real scores on the first turns.
    router = load_checkpoint(small_sw_checkpoint)
    np.testing.assert_allclose(second.scores[:5], router.predict_proba(mt_bench.prompts[:5]))
