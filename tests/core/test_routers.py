"""SW ranking and MF routers trained on real data subsets: they separate outcomes, save and load."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from routellm_core import (CheckpointError, InvalidInputError, UnknownRouterError, calibrate_threshold, load_router)
from routellm_core.loaders import load_routellm_golden
from routellm_core.models import STRONG_MODEL, WEAK_MODEL
from routellm_core.routers.mf import MFRouter
from routellm_core.routers.random_router import RandomRouter
from routellm_core.routers.sw_ranking import SWRankingRouter


def roc_auc(labels, scores) -> float:
    labels, scores = np.asarray(labels), np.asarray(scores)
    pos, neg = scores[labels == 1], scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


@pytest.fixture(scope="module")
def golden_split(data_dir):
    """MMLU golden labels (the paper's augmentation data): train on 1,500 prompts, test on 700 others."""
    records = load_routellm_golden("mmlu", data_dir)
    prompts = sorted({r.prompt for r in records})
    random.Random(0).shuffle(prompts)
    train_p, test_p = set(prompts[:1500]), set(prompts[1500:2200])
    train = [r for r in records if r.prompt in train_p]
    test = [r for r in records if r.prompt in test_p and r.label.value != "tie"]
    return train, test


def _auc_on(router, test):
    scores = router.predict_proba([r.prompt for r in test])
    labels = [int(r.oriented(STRONG_MODEL, WEAK_MODEL) > 0.5) for r in test]
    return roc_auc(labels, scores)


@pytest.fixture(scope="module")
def trained(golden_split):
    train, _ = golden_split
    # 2,200 prompts to embed: torch bfloat16 batches do bulk work ~3x faster than the numpy default
    return {
        "mf": MFRouter(embedder="minilm-bf16", epochs=30, show_progress=False).fit(train),
        "sw_ranking": SWRankingRouter(embedder="minilm-bf16", show_progress=False).fit(train),
    }


@pytest.mark.parametrize("name", ["mf", "sw_ranking"])
def test_router_beats_chance_on_held_out_golden_labels(trained, golden_split, name):
    _, test = golden_split
    auc = _auc_on(trained[name], test)
    assert auc > 0.55, f"{name} held-out AUC {auc:.3f}"


def test_random_router_is_at_chance(golden_split):
    _, test = golden_split
    mean_auc = np.mean([_auc_on(RandomRouter(seed=seed), test) for seed in range(20)])
    assert 0.45 < mean_auc < 0.55


@pytest.mark.parametrize("name", ["mf", "sw_ranking"])
def test_save_load_round_trip(trained, golden_split, tmp_path, name):
    router = trained[name]
    prompts = [r.prompt for r in golden_split[1][:50]]
    router.save(tmp_path / name)
    files = sorted(p.name for p in (tmp_path / name).iterdir())
    assert files == ["config.json", "model.safetensors"]
    loaded = load_router(str(tmp_path / name), cache=False)
    assert type(loaded) is type(router)
    np.testing.assert_array_equal(loaded.predict_proba(prompts), router.predict_proba(prompts))


def test_sw_ranking_stores_only_filled_cells_and_still_reads_the_dense_layout(trained, golden_split, tmp_path):
    from safetensors.numpy import load_file, save_file

    router = trained["sw_ranking"]
    prompts = [r.prompt for r in golden_split[1][:50]]
    router.save(tmp_path / "sparse")
    tensors = load_file(str(tmp_path / "sparse" / "model.safetensors"))
    assert "wins" not in tensors and len(tensors["wins_index"]) == int(router.wins_.reshape(-1, 2).any(axis=1).sum())
    (tmp_path / "dense").mkdir()
    (tmp_path / "dense" / "config.json").write_bytes((tmp_path / "sparse" / "config.json").read_bytes())
    save_file({"prompt_embeddings": tensors["prompt_embeddings"], "pairs": tensors["pairs"],
               "wins": router.wins_.astype(np.float16)}, str(tmp_path / "dense" / "model.safetensors"))
    dense = load_router(str(tmp_path / "dense"), cache=False)
    np.testing.assert_array_equal(dense.predict_proba(prompts), router.predict_proba(prompts))
    save_file({**tensors, "wins_index": tensors["wins_index"] + router.wins_[:, :, 0].size},
              str(tmp_path / "sparse" / "model.safetensors"))
    with pytest.raises(CheckpointError, match="wins_index lies outside"):
        load_router(str(tmp_path / "sparse"), cache=False)


def test_route_and_calibrate(trained, golden_split):
    router = trained["mf"]
    prompts = [r.prompt for r in golden_split[1][:200]]
    threshold = calibrate_threshold(router, prompts, 0.3)
    decisions = router.route_batch(prompts, threshold)
    share = np.mean([d.role == "strong" for d in decisions])
    assert 0.28 <= share <= 0.32
    assert all((d.role == "strong") == (d.probability >= threshold) for d in decisions)
    one = router.route(prompts[0], 0.0)
    assert one.role == "strong" and one.router == "mf" and one.threshold == 0.0
    assert router.route(prompts[0], 1.0).role == "weak" or one.probability == 1.0


def test_mf_pair_is_chosen_at_inference(trained, golden_split):
    router = trained["mf"]
    prompts = [r.prompt for r in golden_split[1][:20]]
    forward = router.predict_proba(prompts)
    router_sw = MFRouter(embedder=router.embedder, strong_model=WEAK_MODEL, weak_model=STRONG_MODEL)
    router_sw.models_, router_sw.model_vectors_ = router.models_, router.model_vectors_
    router_sw.projection_, router_sw.classifier_ = router.projection_, router.classifier_
    np.testing.assert_allclose(router_sw.predict_proba(prompts), 1 - forward, atol=1e-6)
    unknown = MFRouter(strong_model="gpt-9")
    unknown.models_, unknown.model_vectors_ = router.models_, router.model_vectors_
    unknown.projection_, unknown.classifier_ = router.projection_, router.classifier_
    with pytest.raises(InvalidInputError, match="not in this router's training data"):
        unknown.predict_proba(prompts)


def test_bad_inputs(trained, tmp_path):
    router = trained["sw_ranking"]
    with pytest.raises(InvalidInputError, match="prompt is empty"):
        router.route("   ", 0.5)
    with pytest.raises(InvalidInputError, match=r"threshold must be in \[0, 1\]"):
        router.route("hello", 1.5)
    with pytest.raises(InvalidInputError, match="threshold must be a number"):
        router.route("hello", "abc")
    with pytest.raises(UnknownRouterError, match="unknown router 'nope'"):
        load_router("nope")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_router(str(tmp_path / "missing"))
    corrupt = tmp_path / "corrupt"
    router.save(corrupt)
    (corrupt / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_router(str(corrupt), cache=False)
    (corrupt / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CheckpointError, match="config.json is corrupt"):
        load_router(str(corrupt), cache=False)


def test_routellm_published_mf_format(tmp_path, trained):
    """A checkpoint written in RouteLLM's mf_gpt4_augmented format (P / text_proj / classifier tensors)."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    dim, text_dim = 16, 384
    tensors = {"P.weight": rng.normal(size=(64, dim)).astype(np.float32),
               "text_proj.0.weight": rng.normal(size=(dim, text_dim)).astype(np.float32),
               "classifier.0.weight": rng.normal(size=(1, dim)).astype(np.float32)}
    save_file(tensors, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(
        {"dim": dim, "num_models": 64, "text_dim": text_dim, "num_classes": 1, "use_proj": True}))
    router = load_router(str(tmp_path), embedder="minilm", cache=False)
    assert isinstance(router, MFRouter)
    assert router.models_[24] == STRONG_MODEL and router.models_[36] == WEAK_MODEL
    prompt = "Explain quantum entanglement."
    # The original computes sigmoid(c.(normalize(P[24]) * W e) - c.(normalize(P[36]) * W e)).
    e = router._embed([prompt])[0]
    proj = tensors["text_proj.0.weight"] @ e
    def s(i):
        v = tensors["P.weight"][i] / np.linalg.norm(tensors["P.weight"][i])
        return float(tensors["classifier.0.weight"][0] @ (v * proj))
    expected = 1 / (1 + np.exp(-(s(24) - s(36))))
    assert router.predict_proba([prompt])[0] == pytest.approx(expected, rel=1e-5)
