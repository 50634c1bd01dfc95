"""Per-token prices: one :class:`Price` type and one table of the paper's prices.

The RouteLLM paper (section 5.4) prices GPT-4 at $24.7 and Mixtral-8x7B at $0.24 per million
tokens (a blend of input and output); every default price in this project is that table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InvalidInputError
from .models import STRONG_MODEL, WEAK_MODEL, canonical_model_name


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens."""

    input_per_million: float
    output_per_million: float

    def __post_init__(self) -> None:
        for v in (self.input_per_million, self.output_per_million):
            if isinstance(v, bool) or not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise InvalidInputError(f"prices must be finite numbers >= 0, got {v!r}")

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """USD for one call."""
        return (input_tokens * self.input_per_million + output_tokens * self.output_per_million) / 1e6

    @classmethod
    def parse(cls, text: str) -> Price:
        """``"IN[,OUT]"`` in USD per million tokens (OUT defaults to IN)."""
        try:
            parts = [float(v) for v in str(text).split(",")]
        except ValueError:
            parts = []
        if len(parts) not in (1, 2):
            raise InvalidInputError(f"a price must be 'INPUT_USD_PER_M[,OUTPUT_USD_PER_M]', got {text!r}")
        return cls(parts[0], parts[-1])


# The paper's estimates (section 5.4): GPT-4 $24.7 and Mixtral-8x7B $0.24 per million tokens.
PAPER_PRICES: dict[str, Price] = {STRONG_MODEL: Price(24.7, 24.7), WEAK_MODEL: Price(0.24, 0.24)}


def parse_price(text: str) -> tuple[str, Price]:
    """``MODEL=IN[,OUT]`` (USD per million tokens; OUT defaults to IN) -> (canonical model, Price)."""
    model, sep, values = str(text).rpartition("=")
    if not sep or not model.strip():
        raise InvalidInputError(f"bad price {text!r}: use MODEL=INPUT_USD_PER_M[,OUTPUT_USD_PER_M]")
    try:
        return canonical_model_name(model), Price.parse(values)
    except InvalidInputError:
        raise InvalidInputError(f"bad price {text!r}: use MODEL=INPUT_USD_PER_M[,OUTPUT_USD_PER_M]") from None


# List prices (USD per million input / output tokens, 2024: OpenAI's pricing page; Llama-3.1-70B as
# served by Together AI; Claude-3.5-Sonnet: Anthropic's pricing page; Gemma-2-27B as served by Together AI)
# for the Arena benchmarks' pairs; any other model needs --price.
LIST_PRICES: dict[str, Price] = {"gpt-4o": Price(2.5, 10.0), "gpt-3.5-turbo-0125": Price(0.5, 1.5),
                                 "llama-3.1-70b-instruct": Price(0.88, 0.88),
                                 "claude-3-5-sonnet-20240620": Price(3.0, 15.0), "gemma-2-27b-it": Price(0.8, 0.8)}
DEFAULT_PRICES: dict[str, Price] = {**LIST_PRICES, **PAPER_PRICES}
