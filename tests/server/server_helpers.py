"""Helpers shared by the server tests (a uniquely named module: the test folders are not packages)."""

from __future__ import annotations

import httpx
import numpy as np

from routellm_core.routers.base import Router

PROMPT = "Prove that there are infinitely many primes, then explain the proof to a child."


def multi_config(three, threshold):
    """A ``multi_model`` section over the ``three`` stub upstreams (priced like gpt-4o, gpt-4o-mini, a local model)."""
    stand_in = {"gpt-4o": "gpt-4-1106-preview", "gpt-4o-mini": "gpt-3.5-turbo-1106", "local": "mixtral-8x7b-instruct-v0.1"}
    price = {"gpt-4o": [2.5, 10], "gpt-4o-mini": [0.15, 0.6], "local": 0}
    return {"router": "mf", "threshold": threshold,
            "models": {k: {"base_url": s.base_url, "model": s.model, "timeout": 5, "connect_timeout": 1,
                           "price": price[k], "router_model": stand_in[k]} for k, s in three.items()}}


def budget_config(three, budget_stream, **extra):
    """The online budget of ``budget_stream`` (its candidates: the router's own models) over the stub upstreams."""
    config = {**multi_config(three, None), "budget_per_1k": budget_stream["budget"],
              "online_window": budget_stream["window"], "calibration_prompts": budget_stream["calibration"], **extra}
    config["models"] = {m: {**spec, "price": list(budget_stream["prices"][m]), "router_model": None}
                        for m, spec in zip(budget_stream["prices"], config["models"].values(), strict=True)}
    return config


def scrape(server) -> dict[tuple[str, tuple], float]:
    """/metrics parsed with prometheus_client's own parser: (sample name, sorted labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{server.url}/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


class WordCountRouter(Router):
    """P(strong wins) = words / 20 (capped at 1): tests know each prompt's side of a threshold."""

    name = "words"
    trainable = False

    def _predict(self, prompts):
        return np.array([min(1.0, len(p.split()) / 20) for p in prompts])
