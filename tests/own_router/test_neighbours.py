"""The own router's neighbour memory: the kNN average, the blend chosen by CV, checkpoints that keep it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from routellm_core import load_router
from routellm_core.errors import CheckpointError, InvalidInputError
from routellm_core.own_router.warm_start import choose_blend, choose_strength, fit_pair, pair_router
from routellm_core.routers.mf import MFRouter
from routellm_core.routers.neighbours import NeighbourMemory, knn_mean, unit_rows

STRONG, WEAK = "gpt-4o", "mixtral-8x7b-instruct-v0.1"


def test_knn_mean_is_the_weighted_mean_of_the_k_most_similar():
    rng = np.random.default_rng(0)
    vectors, queries = unit_rows(rng.normal(size=(40, 8))), rng.normal(size=(7, 8))
    targets, weights = rng.random(40), rng.random(40) + 0.1
    got = knn_mean(queries, vectors, targets, weights, k=5)
    for row, q in zip(got, unit_rows(queries), strict=True):
        top = np.argsort(-(vectors @ q))[:5]
        assert row == pytest.approx(np.average(targets[top], weights=weights[top]))
    # a prompt's score never depends on its batch, and k larger than the memory uses all of it
    assert knn_mean(queries[3:4], vectors, targets, weights, k=5)[0] == pytest.approx(got[3])
    assert knn_mean(queries, vectors, targets, weights, k=1000) == pytest.approx(
        np.full(7, np.average(targets, weights=weights)))


def test_bad_memory_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="shapes do not match"):
        NeighbourMemory(np.ones((3, 4)), np.ones(2))
    with pytest.raises(InvalidInputError, match="probabilities"):
        NeighbourMemory(np.ones((2, 4)), np.array([0.5, 1.5]))
    with pytest.raises(InvalidInputError, match="blend"):
        NeighbourMemory(np.ones((2, 4)), np.array([0.5, 0.5]), blend=2.0)


def _clusters(n: int, seed: int = 0, dim: int = 4):
    """Prompt vectors in 24 tight clusters on a 4-d sphere, each with its own P(strong better): more clusters
    than dimensions, so no one direction ranks them, while a prompt's neighbours share its cluster."""
    rng = np.random.default_rng(seed)
    centres = unit_rows(rng.normal(size=(24, dim)))
    rate = np.where(np.arange(24) % 5 < 3, 0.9, 0.15)  # the strong model wins more often than not overall
    c = rng.integers(0, 24, n)
    x = centres[c] + 0.05 * rng.normal(size=(n, dim))
    y = (rng.random(n) < rate[c]).astype(float)
    return x, y, np.ones(n)


def test_cv_blends_in_neighbours_where_they_find_what_the_direction_cannot():
    x, y, w = _clusters(400)
    u0 = np.zeros(4)
    prior = choose_strength(x, y, w, u0, folds=5, n_boot=100)
    choice = choose_blend(x, y, w, prior)
    assert choice.blend > 0 and choice.cv_apgr[choice.blend] > choice.cv_apgr[0.0] + 0.05
    fit = fit_pair(x, y, w, u0, folds=5, n_boot=100, strong=STRONG, weak=WEAK)
    assert fit.blend == choice.blend and fit.memory is not None and len(fit.memory) == 400


def test_cv_keeps_the_direction_alone_where_it_is_enough_or_labels_are_few():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 16))
    truth = rng.normal(size=16)
    y = (rng.random(400) < 1 / (1 + np.exp(-(x @ truth + 0.5)))).astype(float)  # linear in x: nothing local
    fit = fit_pair(x, y, np.ones(400), np.zeros(16), folds=5, n_boot=100)
    assert fit.blend == 0.0 and fit.memory is None
    few = _clusters(60)  # below MIN_LABELS: the default is kept, with no neighbours either
    small = fit_pair(*few, np.zeros(4), folds=5, n_boot=100)
    assert (small.strength, small.blend, small.memory) == (float("inf"), 0.0, None)


@pytest.fixture(scope="module")
def own_router_with_memory():
    prompts = [f"Question {i}: how do I {verb} a {noun}?" for i, (verb, noun) in enumerate(
        (v, n) for v in ("fix", "paint", "build", "clean", "sell") for n in ("bike", "fence", "house", "boat"))]
    router = MFRouter(embedder="minilm")
    x = router._embed(prompts).astype(np.float64)
    targets = np.linspace(0.05, 0.95, len(prompts))
    memory = NeighbourMemory(x, targets, k=3, blend=0.6, strong=STRONG, weak=WEAK)
    u = np.random.default_rng(0).normal(size=x.shape[1]) * 0.1
    return pair_router(u, STRONG, WEAK, "minilm", x, memory), prompts, u, memory


def test_the_router_blends_for_its_pair_in_either_order(own_router_with_memory):
    router, prompts, u, memory = own_router_with_memory
    probe = [prompts[3], "How do I fix a boat quickly?", "Tell me a story about the sea"]
    x = router._embed(probe).astype(np.float64)
    expected = 0.4 / (1 + np.exp(-(x @ u))) + 0.6 * memory.mean(x)
    np.testing.assert_allclose(router.predict_proba(probe), expected, rtol=1e-5)
    pairwise = router.pairwise_probabilities(probe, [WEAK, STRONG])
    np.testing.assert_allclose(pairwise[:, 1, 0], expected, rtol=1e-5)
    np.testing.assert_allclose(pairwise[:, 0, 1], 1 - expected, rtol=1e-5)


def test_checkpoint_keeps_the_memory(own_router_with_memory, tmp_path):
    router, prompts, _, _ = own_router_with_memory
    path = router.save(tmp_path / "own")
    config = json.loads((path / "config.json").read_text())
    assert (config["neighbour_k"], config["neighbour_blend"], config["neighbour_pair"]) == (3, 0.6, [STRONG, WEAK])
    assert not list(path.glob("*.pkl"))
    loaded = load_router(str(path))
    np.testing.assert_allclose(loaded.predict_proba(prompts[:5] + ["something else"]),
                               router.predict_proba(prompts[:5] + ["something else"]), rtol=1e-6)


@pytest.mark.parametrize("damage, message", [
    ("vectors", "neighbour_vectors has shape"),
    ("targets", "probabilities"),
    ("pair", "neighbour_pair names"),
    ("missing", "lacks tensor"),
])
def test_a_damaged_memory_is_a_checkpoint_error(own_router_with_memory, tmp_path, damage, message):
    router = own_router_with_memory[0]
    path = router.save(tmp_path / "own")
    tensors = load_file(str(path / "model.safetensors"))
    config = json.loads((path / "config.json").read_text())
    if damage == "vectors":
        tensors["neighbour_vectors"] = tensors["neighbour_vectors"][:, :10].copy()
    elif damage == "targets":
        tensors["neighbour_targets"] = tensors["neighbour_targets"] + 2.0
    elif damage == "pair":
        config["neighbour_pair"] = [STRONG, "gpt-3.5-turbo"]
    else:
        del tensors["neighbour_weights"]
    save_file(tensors, str(path / "model.safetensors"))
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=message):
        MFRouter.load(path)
