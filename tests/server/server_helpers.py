"""Helpers shared by the server tests (a uniquely named module: the test folders are not packages)."""

from __future__ import annotations

import httpx
import numpy as np

from routellm_core.routers.base import Router

PROMPT = "Prove that there are infinitely many primes, then explain the proof to a child."


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
