"""The answer scorers ship with the package: loading never trains, and the files match their recipe."""

from __future__ import annotations

import json

import numpy as np
import pytest

from routellm_core import CheckpointError
from routellm_core.cascade.default import (
    MANIFEST,
    SCORER_RECIPE_VERSION,
    SHIPPED_SCORERS,
    answer_records_sha256,
    scorer_sources,
    shipped_scorer_path,
)
from routellm_core.cascade.scorer import AnswerScorer
from routellm_core.cli import main
from routellm_core.recipe import file_sha256


@pytest.fixture(scope="module")
def sources(data_dir):
    return scorer_sources(data_dir)


@pytest.mark.parametrize("name", list(SHIPPED_SCORERS))
def test_shipped_manifest_matches_what_the_recipe_reads(name, sources, graded_answers):
    path = shipped_scorer_path(name)
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["recipe"] == "cascade" and manifest["recipe_version"] == SCORER_RECIPE_VERSION
    assert manifest["sources"] == sources  # same sources, counts and content hashes as the data on disk
    assert manifest["training_rows"] == len(graded_answers) == sum(s["rows"] for s in sources)
    assert manifest["training_sha256"] == answer_records_sha256(graded_answers)
    expected = AnswerScorer(**SHIPPED_SCORERS[name][1]).get_params()
    assert manifest["params"] == expected
    files = {p.name for p in path.iterdir() if p.name != MANIFEST}
    assert files == set(manifest["files"]) == {"config.json", "model.safetensors"}  # never a pickle
    for fname, meta in manifest["files"].items():
        assert file_sha256(path / fname) == meta["sha256"], f"{name}/{fname} differs from its manifest"
    assert sum(m["bytes"] for m in manifest["files"].values()) < 1_000_000


def test_shipped_features_scorer_scores_real_answers(graded_answers):
    from routellm_core.cascade_policy import load_scorer

    scorer = load_scorer("features")
    rows = [r for r in graded_answers if r.source == "gsm8k"][:400]
    p = scorer.predict_proba([r.prompt for r in rows], [r.answer for r in rows])
    wrong = np.array([r.label for r in rows]) > 0.5
    assert p[wrong].mean() > p[~wrong].mean()  # wrong GSM8K answers look worse to it


def test_missing_scorer_checkpoint_says_how_to_build_it(tmp_path, monkeypatch, capsys):
    from routellm_core import cascade_policy
    from routellm_core.cascade import default

    monkeypatch.setattr(default, "SHIPPED_DIR", tmp_path / "nothing-shipped")
    monkeypatch.setattr(cascade_policy, "_scorers", {})
    with pytest.raises(CheckpointError, match=r"routellm-core train --recipe cascade"):
        cascade_policy.load_scorer("default")
    assert main(["check-answer", "--prompt", "What is 2 + 2?", "--answer", "4"]) == 2
    err = capsys.readouterr().err
    assert "routellm-core train --recipe cascade" in err and "Traceback" not in err
    assert not any(tmp_path.rglob("*"))  # nothing was trained on the way


def test_recipe_rejects_an_unknown_scorer(capsys):
    assert main(["train", "--recipe", "cascade", "--router", "fancy"]) == 2
    assert "unknown answer scorer 'fancy'" in capsys.readouterr().err


def test_check_answer_cli_reports_the_answer_stage(capsys):
    assert main(["check-answer", "--prompt", "What is 12 * 3?", "--answer", "I'm sorry, I cannot help with that.",
                 "--scorer", "features", "--escalate-threshold", "0.0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["escalate"] is True and 0.0 < out["p_inadequate"] < 1.0 and out["skipped"] is None


def _retrain(name, tmp_path, capsys):
    assert main(["train", "--recipe", "cascade", "--router", name, "--output", str(tmp_path)]) == 0
    folder = shipped_scorer_path(name).name
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["checkpoints"] == {name: str(tmp_path / folder)}
    return tmp_path / folder


def test_retraining_the_features_scorer_reproduces_the_shipped_bytes(tmp_path, capsys):
    """Same recipe, same data, same weights: to float rounding (BLAS kernels differ between CPUs, so the
    weights' last bits may too; byte equality held on one machine and failed on another)."""
    from safetensors.numpy import load_file

    fresh = _retrain("features", tmp_path, capsys)  # seconds: text features only
    shipped = shipped_scorer_path("features")
    assert (fresh / "config.json").read_bytes() == (shipped / "config.json").read_bytes()
    manifest = json.loads((fresh / MANIFEST).read_text(encoding="utf-8"))
    expected = json.loads((shipped / MANIFEST).read_text(encoding="utf-8"))
    assert {k: v for k, v in manifest.items() if k != "files"} == {k: v for k, v in expected.items() if k != "files"}
    new, old = load_file(str(fresh / "model.safetensors")), load_file(str(shipped / "model.safetensors"))
    assert set(new) == set(old)
    for name in old:
        assert new[name].shape == old[name].shape and np.allclose(new[name], old[name], rtol=1e-4, atol=1e-6), name


@pytest.mark.slow
def test_retraining_the_default_scorer_reproduces_its_decisions(tmp_path, capsys, graded_answers):
    fresh = _retrain("default", tmp_path, capsys)  # about 2 minutes: a MiniLM pass over every answer
    manifest = json.loads((fresh / MANIFEST).read_text(encoding="utf-8"))
    shipped = json.loads((shipped_scorer_path("default") / MANIFEST).read_text(encoding="utf-8"))
    assert {k: v for k, v in manifest.items() if k != "files"} == {k: v for k, v in shipped.items() if k != "files"}
    rows = graded_answers[::40]
    p_fresh = AnswerScorer.load(fresh).predict_proba([r.prompt for r in rows], [r.answer for r in rows])
    p_shipped = AnswerScorer.load(shipped_scorer_path("default")).predict_proba([r.prompt for r in rows],
                                                                                 [r.answer for r in rows])
    assert np.abs(p_fresh - p_shipped).max() < 0.02
