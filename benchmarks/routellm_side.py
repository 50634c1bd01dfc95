"""RouteLLM 0.2.0's own MF and SW ranking code, timed on precomputed embeddings (run in RouteLLM's virtualenv).

Called by ``benchmarks/speed.py`` with one ``.npz`` holding everything both sides need: the MF
weights (our shipped checkpoint in RouteLLM's tensor layout), the query prompts and their
embeddings, and 50,000 battles with their prompts' embeddings. OpenAI's embedding client, which
RouteLLM calls for every query, is replaced by a dictionary lookup, so only routing math is timed.
Prints one JSON object: per-query latencies (ms) and MF probabilities (for an equality check).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


class _Embedding:
    def __init__(self, vector):
        self.embedding = vector


class _Response:
    def __init__(self, vector):
        self.data = [_Embedding(vector)]


class PrecomputedEmbeddings:
    """Stands in for ``OPENAI_CLIENT.embeddings``: ``create(input=[prompt])`` returns the stored vector."""

    def __init__(self, prompts, vectors):
        self.lookup = {p: v.tolist() for p, v in zip(prompts, vectors)}

    def create(self, input, model=None):  # noqa: A002 - OpenAI's parameter name
        return _Response(self.lookup[input[0]])


def main() -> int:
    data = np.load(sys.argv[1], allow_pickle=False)
    n_single = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    n_sw = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    import pandas as pd
    import torch

    torch.set_num_threads(int(data["threads"]))
    from routellm.routers import routers as rl_routers
    from routellm.routers.matrix_factorization.model import MFModel
    from routellm.routers.similarity_weighted import utils as sw_utils

    prompts = [str(p) for p in data["query_prompts"]]
    fake = PrecomputedEmbeddings(prompts, data["query_embeddings"])
    sw_utils.OPENAI_CLIENT.embeddings = fake  # the one client both routers use

    # --- MF: RouteLLM's MatrixFactorizationRouter around an MFModel holding our weights ----------
    vectors, projection, classifier = data["mf_model_vectors"], data["mf_projection"], data["mf_classifier"]
    model = MFModel(dim=vectors.shape[1], num_models=vectors.shape[0], text_dim=projection.shape[1], num_classes=1,
                    use_proj=True)
    model.load_state_dict({"P.weight": torch.from_numpy(vectors), "text_proj.0.weight": torch.from_numpy(projection),
                           "classifier.0.weight": torch.from_numpy(classifier.reshape(1, -1))})
    mf = rl_routers.MatrixFactorizationRouter.__new__(rl_routers.MatrixFactorizationRouter)
    mf.model = model.eval()
    mf.strong_model_id, mf.weak_model_id = int(data["mf_strong"]), int(data["mf_weak"])
    for p in prompts[:5]:
        mf.calculate_strong_win_rate(p)
    mf_ms, mf_probs = [], []
    with torch.inference_mode():
        for p in prompts[:n_single]:
            start = time.perf_counter()
            mf_probs.append(mf.calculate_strong_win_rate(p))
            mf_ms.append((time.perf_counter() - start) * 1e3)
        start = time.perf_counter()
        for p in prompts[:n_single]:
            mf.calculate_strong_win_rate(p)
        mf_batch_per_s = n_single / (time.perf_counter() - start)  # RouteLLM routes a batch one prompt at a time

    # --- SW ranking over the battles: RouteLLM's SWRankingRouter with its data set directly -------
    sw = rl_routers.SWRankingRouter.__new__(rl_routers.SWRankingRouter)
    battles = pd.DataFrame({"model_a": data["battle_model_a"].astype(str), "model_b": data["battle_model_b"].astype(str),
                            "winner": data["battle_winner"].astype(str)})
    ratings = sw_utils.compute_elo_mle_with_tie(battles)
    sw.model2tier = sw_utils.compute_tiers(ratings, num_tiers=10)
    sw.strong_model, sw.weak_model = str(data["sw_strong"]), str(data["sw_weak"])
    battles["model_a"] = battles["model_a"].map(sw.model2tier)
    battles["model_b"] = battles["model_b"].map(sw.model2tier)
    sw.arena_df = battles
    sw.arena_conv_embedding = data["battle_embeddings"]
    sw.embedding_model = "text-embedding-3-small"
    sw.calculate_strong_win_rate(prompts[0])
    sw_ms = []
    for p in prompts[:n_sw]:
        start = time.perf_counter()
        sw.calculate_strong_win_rate(p)
        sw_ms.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({"mf_ms": mf_ms, "mf_probs": mf_probs, "mf_batch_per_s": mf_batch_per_s, "sw_ms": sw_ms,
                      "battles": len(battles)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
