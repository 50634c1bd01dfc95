"""Default routers ship with the package: loading never trains, and the files match their recipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from routellm_core import CheckpointError, load_router
from routellm_core.recipe import file_sha256, read_manifest, recipe_sources
from routellm_core.routers.defaults import MANIFEST, SHIPPED_ROUTERS, shipped_checkpoint_path


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "routellm_core.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def _python_in_empty_cache(code: str, cache) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "ROUTELLM_CACHE_DIR": str(cache)})
    assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def sources(data_dir):
    return recipe_sources(data_dir)


@pytest.mark.parametrize("name", SHIPPED_ROUTERS)
def test_shipped_manifest_matches_what_the_recipe_reads(name, sources):
    from routellm_core import training

    path = shipped_checkpoint_path(name)
    manifest = read_manifest(path)
    assert manifest["router"] == name and manifest["recipe"] == "default"
    assert manifest["recipe_version"] == training.DEFAULT_RECIPE_VERSION
    assert [s["dataset"] for s in manifest["sources"]] == list(training.DEFAULT_DATASETS)
    assert manifest["sources"] == sources  # same datasets, counts and content hashes as the data on disk
    expected = training.default_router(name).get_params()
    assert manifest["params"] == expected
    files = {p.name for p in path.iterdir() if p.name != MANIFEST}
    assert files == set(manifest["files"]) == {"config.json", "model.safetensors"}
    for fname, meta in manifest["files"].items():
        assert file_sha256(path / fname) == meta["sha256"], f"{name}/{fname} differs from its manifest"
    assert sum(m["bytes"] for m in manifest["files"].values()) < 20_000_000  # keep the wheel small


def test_load_router_uses_the_shipped_checkpoint_without_training(tmp_path):
    # An empty cache: only the package's files can answer and nothing is trained; the one thing written
    # is the embedder's ONNX export (built from the packaged MiniLM weights).
    code = ("import sys, routellm_core as rc; r = rc.load_router('mf'); d = r.route('Prove that 17 is prime.', 0.5); "
            "print(d.role, 'routellm_core.training' in sys.modules, 'torch' in sys.modules, "
            "'transformers' in sys.modules)")
    out = _python_in_empty_cache(code, tmp_path)
    role, training_imported, torch_imported, transformers_imported = out.stdout.split()
    assert role in {"strong", "weak"}
    assert (training_imported, torch_imported, transformers_imported) == ("False", "False", "False")
    assert not any(tmp_path.rglob("*.safetensors"))
    written = {p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*") if p.is_file()}
    assert written <= {"onnx"}, written


def test_missing_default_checkpoint_says_how_to_build_it(tmp_path, monkeypatch):
    from routellm_core.routers import defaults

    monkeypatch.setenv("ROUTELLM_CACHE_DIR", str(tmp_path))
    with pytest.raises(CheckpointError, match=r"routellm-core train --router bert"):
        load_router("bert", cache=False)
    monkeypatch.setattr(defaults, "SHIPPED_DIR", tmp_path / "nothing-shipped")
    with pytest.raises(CheckpointError, match=r"routellm-core train --recipe default"):
        load_router("mf", cache=False)
    out = _cli("route", "--router", "bert", "--prompt", "hi", env={"ROUTELLM_CACHE_DIR": str(tmp_path)})
    assert out.returncode == 2 and "routellm-core train --router bert" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_a_checkpoint_trained_into_the_cache_takes_precedence(tmp_path, monkeypatch, small_router_path):
    import shutil

    from routellm_core.routers.defaults import find_default_checkpoint

    monkeypatch.setenv("ROUTELLM_CACHE_DIR", str(tmp_path))
    assert find_default_checkpoint("mf") == shipped_checkpoint_path("mf")
    shutil.copytree(small_router_path, tmp_path / "routers" / "mf-default")
    assert find_default_checkpoint("mf") == tmp_path / "routers" / "mf-default"


def test_registry_does_not_import_training():
    import ast
    from pathlib import Path

    import routellm_core.routers as routers_pkg

    for module in Path(routers_pkg.__file__).parent.glob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not any(m.endswith("training") and not m.endswith("torch_training") for m in imported), module.name


def test_recipe_rejects_an_unknown_name():
    out = _cli("train", "--recipe", "fancy")
    assert out.returncode == 2 and "unknown recipe 'fancy'" in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED_ROUTERS)
def test_retraining_the_recipe_reproduces_the_shipped_decisions(name, tmp_path, data_dir):
    from routellm_core.decontaminate import benchmark_prompts

    out = _cli("train", "--recipe", "default", "--router", name, "--output", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["checkpoints"] == {name: str(tmp_path / name)}
    fresh, shipped = read_manifest(tmp_path / name), read_manifest(shipped_checkpoint_path(name))
    assert {k: v for k, v in fresh.items() if k != "files"} == {k: v for k, v in shipped.items() if k != "files"}
    prompts = benchmark_prompts(data_dir)[::25]
    p_fresh = load_router(str(tmp_path / name), cache=False).predict_proba(prompts)
    p_shipped = load_router(str(shipped_checkpoint_path(name)), cache=False).predict_proba(prompts)
    threshold = float(np.median(p_shipped))
    agreement = np.mean((p_fresh >= threshold) == (p_shipped >= threshold))
    assert agreement >= 0.99, f"{name}: retrained router agrees on {agreement:.1%} of decisions"


def test_static_router_ships_with_its_embedder_and_routes_without_torch(tmp_path, sources):
    from routellm_core.embeddings.static import shipped_static_dir
    from routellm_core.routers.defaults import STATIC_NAMES

    for name in STATIC_NAMES:
        manifest = read_manifest(shipped_checkpoint_path(name))
        assert manifest["sources"] == sources and manifest["training_embedder"] == "minilm-static"
        for fname, meta in manifest["files"].items():
            assert file_sha256(shipped_checkpoint_path(name) / fname) == meta["sha256"]
    assert {p.name for p in shipped_static_dir().iterdir()} == {"config.json", "model.safetensors", "tokenizer.json"}
    code = ("import sys, routellm_core as rc; r = rc.load_router('mf-static'); "
            "a = r.predict_proba(['Prove that 17 is prime.', 'hi']); b = r.predict_proba(['hi']); "
            "print(r.embedder, abs(a[1] - b[0]) < 1e-7, 'torch' in sys.modules)")
    assert _python_in_empty_cache(code, tmp_path).stdout.split() == ["minilm-static", "True", "False"]
