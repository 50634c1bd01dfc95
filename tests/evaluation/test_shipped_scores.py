"""The default routers' out-of-fold scores ship beside their checkpoints and are used only when everything matches."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file

from routellm_core.evaluation import BENCHMARK_NAMES, Evaluator, load_benchmark, runner
from routellm_core.evaluation.cache import directory_hash
from routellm_core.evaluation.shipped import CALIBRATION_TENSOR, calibration_scores, matching_record, read_record, score_paths
from routellm_core.recipe import read_manifest
from routellm_core.routers.defaults import SHIPPED_ROUTERS, shipped_checkpoint_path
from routellm_core.training import DEFAULT_DATASETS


@pytest.fixture(scope="module")
def benchmarks(data_dir):
    return {name: load_benchmark(name, data_dir) for name in BENCHMARK_NAMES}


def _no_cross_fitting(*args, **kwargs):
    raise AssertionError("cross-fitted although matching scores ship with the package")


def _in_default_data(bench_name: str) -> bool:
    """Whether the default recipe trains on the benchmark's labels (then its scores are cross-fitted)."""
    return {"arena": "arena_hard"}.get(bench_name, bench_name) in DEFAULT_DATASETS


def _quick(**kwargs) -> Evaluator:
    return Evaluator(bootstrap=0, with_cost=False, log=None, **kwargs)


@pytest.mark.parametrize("name", SHIPPED_ROUTERS)
def test_shipped_scores_belong_to_the_shipped_checkpoint(name, benchmarks):
    scores_file, meta_file = score_paths(name)
    record = json.loads(meta_file.read_text(encoding="utf-8"))
    checkpoint = shipped_checkpoint_path(name)
    manifest = read_manifest(checkpoint)
    assert record["checkpoint_sha256"] == directory_hash(checkpoint)
    assert record["manifest"]["files"] == manifest["files"]
    assert record["manifest"]["training_sha256"] == manifest["training_sha256"]
    assert record["manifest"]["recipe_version"] == manifest["recipe_version"]
    tensors = load_file(str(scores_file))  # safetensors: no pickle
    calibration = {CALIBRATION_TENSOR} if record["benchmarks"]["arena"].get("cross_fit") else set()
    assert set(tensors) == set(record["benchmarks"]) | calibration and set(record["benchmarks"]) == set(BENCHMARK_NAMES)
    if calibration:  # the checkpoint's own Arena scores, for the first page's threshold (not for evaluation)
        assert record["calibration"]["n"] == len(tensors[CALIBRATION_TENSOR]) == record["benchmarks"]["arena"]["n"]
    evaluator = _quick()
    for bench_name, values in ((b, v) for b, v in tensors.items() if b != CALIBRATION_TENSOR):
        bench, entry = benchmarks[bench_name], record["benchmarks"][bench_name]
        assert values.dtype == np.float32 and values.shape == (bench.n,)
        assert np.isfinite(values).all() and ((values >= 0) & (values <= 1)).all()
        assert entry["benchmark_hash"] == bench.fingerprint() and entry["n"] == bench.n
        # the key is the one `evaluate` computes now: same recipe parameters, data files and fold plan
        assert entry["key"] == evaluator.shipped_key(name, bench, entry["cross_fit"])[0]
        # cross-fitted exactly where the default data holds the benchmark's labels (Arena-Hard too since v4)
        assert bool(entry["cross_fit"]) == _in_default_data(bench_name), entry["source"]
    assert sum(v.size for b, v in tensors.items() if b != CALIBRATION_TENSOR) == sum(b.n for b in benchmarks.values())
    assert scores_file.stat().st_size + meta_file.stat().st_size < 200_000  # well under 1 MB


@pytest.mark.parametrize("bench_name", BENCHMARK_NAMES)
def test_evaluate_uses_the_shipped_scores(bench_name, benchmarks, monkeypatch):
    monkeypatch.setattr(runner, "cross_fit_scores", _no_cross_fitting)
    bench = benchmarks[bench_name]
    result = _quick().evaluate_router("mf", bench)
    shipped = load_file(str(score_paths("mf")[0]))[bench_name].astype(np.float64)
    np.testing.assert_array_equal(result.scores, shipped)
    expected = "cross-fit 5 (shipped)" if _in_default_data(bench_name) else "shipped"
    assert result.source == expected
    if _in_default_data(bench_name):
        assert len(result.folds) == 5 and sum(f.scored for f in result.folds) == bench.n


def test_the_evaluate_command_reports_shipped_scores(capsys, tmp_path, monkeypatch):
    from routellm_core.cli import main

    monkeypatch.setattr(runner, "cross_fit_scores", _no_cross_fitting)
    code = main(["evaluate", "--benchmark", "mt-bench", "--routers", "mf", "--bootstrap", "0", "--no-plot",
                 "--no-cost", "--json", "--output", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert '"source": "cross-fit 5 (shipped)"' in captured.out
    assert "cross-fit fold" not in captured.err  # nothing was trained


def _declines(evaluator: Evaluator, bench) -> bool:
    """The shipped path gives no result, so ``evaluate_router`` computes as before (cross-fitting; minutes)."""
    return evaluator._shipped_result("mf", bench, bench.fingerprint(), None) is None


def test_another_fold_plan_or_no_cache_computes_afresh(benchmarks):
    bench = benchmarks["mt-bench"]
    assert not _declines(_quick(), bench)
    assert _declines(_quick(cross_fit=3), bench)
    assert _declines(_quick(shipped=False), bench)
    assert _declines(_quick(train_datasets=["gsm8k"]), bench)
    assert _declines(_quick(cross_fit_grouped=False), bench)  # by-item folds: another key
    assert _declines(_quick(), load_benchmark("mmlu", domains=["anatomy"]))  # other benchmark content


def test_a_retrained_checkpoint_does_not_use_the_shipped_scores(benchmarks, monkeypatch, tmp_path):
    """A default checkpoint in the user's cache (as `routellm-core train` writes) differs: scores are computed."""
    monkeypatch.setenv("ROUTELLM_CACHE_DIR", str(tmp_path))
    retrained = tmp_path / "routers" / "mf-default"
    shutil.copytree(shipped_checkpoint_path("mf"), retrained)
    assert matching_record("mf") is not None and calibration_scores("mf") is not None  # same bytes: still matches
    config = retrained / "config.json"
    config.write_text(config.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert matching_record("mf") is None and calibration_scores("mf") is None
    assert read_record("mf") is not None  # the files are there, they just belong to another checkpoint
    for bench in benchmarks.values():
        assert _declines(_quick(), bench)


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED_ROUTERS)
def test_shipped_scores_match_a_fresh_cross_fit(name, benchmarks):
    """What benchmarks/ship_scores.py wrote is what a fresh `evaluate` computes (to float32 rounding and BLAS noise)."""
    evaluator = _quick(shipped=False, cache=None)
    tensors = load_file(str(score_paths(name)[0]))
    for bench_name, bench in benchmarks.items():
        fresh = evaluator.evaluate_router(name, bench)
        shipped = tensors[bench_name].astype(np.float64)
        np.testing.assert_allclose(shipped, fresh.scores, atol=1e-4, err_msg=f"{name} on {bench_name}")
        assert abs(evaluator._result(name, shipped, bench, None, interval=False).metrics.apgr - fresh.metrics.apgr) < 0.005


def test_calibration_scores_are_the_checkpoints_own_when_arena_is_cross_fitted():
    """The first page's threshold comes from what the shipped router itself gives Arena prompts."""
    from routellm_core.evaluation.shipped import own_calibration_scores

    shipped = calibration_scores("mf")
    assert shipped is not None
    values, _ = shipped
    own, _ = own_calibration_scores("mf")
    assert np.allclose(values, own, atol=1e-6)
