"""USD of a call from its token counts, and of a routed batch against sending it all to the strong model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from routellm_core.evaluation.cost import Price


def usd(price: Price, input_tokens: int, output_tokens: int) -> float:
    return (input_tokens * price.input_per_million + output_tokens * price.output_per_million) / 1e6


def batch_cost(roles: Sequence[str], input_tokens: Sequence[int], output_tokens: int,
               prices: Mapping[str, Price]) -> tuple[float, float]:
    """(routed cost, all-strong cost) of a batch, each prompt priced at its routed model's price.

    Answers are not generated here, so each counts ``output_tokens`` (an assumption the page states).
    """
    routed = sum(usd(prices[role], n, output_tokens) for role, n in zip(roles, input_tokens))
    strong = sum(usd(prices["strong"], n, output_tokens) for n in input_tokens)
    return routed, strong
