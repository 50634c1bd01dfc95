"""What a call costs: LangChain ``usage_metadata`` priced with the engine's one price table."""

from __future__ import annotations

import os
from typing import Any

from routellm_core.pricing import DEFAULT_PRICES, Price

__all__ = ["DEFAULT_PRICES", "Price", "call_cost", "price_from_env"]


def price_from_env(var: str, default: Price) -> Price:
    """A price from an environment variable like ``ROUTELLM_STRONG_PRICE="10,30"``, else ``default``."""
    text = os.environ.get(var)
    return Price.parse(text) if text else default


def call_cost(usage: dict[str, Any] | None, price: Price) -> float | None:
    """Cost of one call from LangChain ``usage_metadata`` (None when the model reported no usage)."""
    if not usage:
        return None
    return price.cost(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)))
