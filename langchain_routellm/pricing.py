"""What a call costs, from its ``usage_metadata`` and per-token prices."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from routellm_core import STRONG_MODEL, WEAK_MODEL, InvalidInputError


@dataclass(frozen=True)
class Price:
    """US dollars per 1M input and per 1M output tokens."""

    input_per_m: float
    output_per_m: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_m + output_tokens * self.output_per_m) / 1e6

    @classmethod
    def parse(cls, text: str) -> Price:
        """``"10,30"`` -> Price(10, 30) (dollars per 1M input, output tokens)."""
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            values = []
        if len(values) != 2 or not all(math.isfinite(v) and v >= 0 for v in values):
            raise InvalidInputError(f"a price must be '<input $/1M tokens>,<output $/1M tokens>', got {text!r}")
        return cls(*values)


# The RouteLLM paper's pair (its cost analysis uses these list prices).
DEFAULT_PRICES: dict[str, Price] = {STRONG_MODEL: Price(10.0, 30.0), WEAK_MODEL: Price(0.24, 0.24)}


def price_from_env(var: str, default: Price) -> Price:
    """A price from an environment variable like ``ROUTELLM_STRONG_PRICE="10,30"``, else ``default``."""
    text = os.environ.get(var)
    return Price.parse(text) if text else default


def call_cost(usage: dict[str, Any] | None, price: Price) -> float | None:
    """Cost of one call from LangChain ``usage_metadata`` (None when the model reported no usage)."""
    if not usage:
        return None
    return price.cost(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)))
