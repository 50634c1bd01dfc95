"""Helpers shared by the server tests (a uniquely named module: the test folders are not packages)."""

from __future__ import annotations

import httpx

PROMPT = "Prove that there are infinitely many primes, then explain the proof to a child."


def scrape(server) -> dict[tuple[str, tuple], float]:
    """/metrics parsed with prometheus_client's own parser: (sample name, sorted labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{server.url}/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}
