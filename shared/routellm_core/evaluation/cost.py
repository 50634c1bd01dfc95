"""What routing saves: per-token prices, token counts per item, cost saving at 95 % of strong quality.

Each item costs ``in_tokens * input_price + out_tokens * output_price`` on the model it is routed
to; the saving of a router is ``1 - cost / cost(all strong)`` at the cheapest of its thresholds
whose quality reaches ``quality_fraction`` (default 95 %) of the all-strong quality. Token counts
use :func:`routellm_core.tokens.count_tokens` (the local MiniLM WordPiece tokenizer: no network).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import DataError, InvalidInputError
from ..models import canonical_model_name
from ..pricing import DEFAULT_PRICES, PAPER_PRICES, Price, parse_price
from ..tokens import count_tokens
from .benchmarks import Benchmark

__all__ = ["PAPER_PRICES", "Price", "parse_price", "resolve_prices", "count_tokens", "item_costs", "cost_saving",
           "CostSaving", "ItemCosts", "token_counts"]


def resolve_prices(benchmark: Benchmark, prices: Mapping[str, Price] | None = None) -> tuple[Price, Price]:
    """(strong price, weak price) for the benchmark's pair: overrides first, then the paper's defaults."""
    table = {**DEFAULT_PRICES, **{canonical_model_name(k): v for k, v in (prices or {}).items()}}
    out = []
    for model in (benchmark.strong_model, benchmark.weak_model):
        key = canonical_model_name(model)
        if key not in table:
            raise DataError(f"no price for model {model!r}: pass --price '{model}=INPUT,OUTPUT' (USD per million tokens)")
        out.append(table[key])
    return out[0], out[1]


@dataclass(frozen=True, eq=False)
class ItemCosts:
    """USD per item on the strong and on the weak model, and the token counts behind them."""

    strong: np.ndarray
    weak: np.ndarray
    tokens: dict[str, dict[str, np.ndarray]]

    @property
    def all_strong(self) -> float:
        return float(self.strong.sum())

    @property
    def all_weak(self) -> float:
        return float(self.weak.sum())

    def routed(self, strong_mask: np.ndarray) -> float:
        return float(np.where(np.asarray(strong_mask, dtype=bool), self.strong, self.weak).sum())


def token_counts(benchmark: Benchmark) -> dict[str, dict[str, np.ndarray]]:
    """Input/output tokens per item for each role (``{"strong": {"input": ..., "output": ...}, ...}``)."""
    shared_in = count_tokens(benchmark.prompts) if not benchmark.input_texts else None
    out: dict[str, dict[str, np.ndarray]] = {}
    for role in ("strong", "weak"):
        ins = count_tokens(benchmark.input_texts[role]) if benchmark.input_texts else shared_in
        assert ins is not None
        if benchmark.output_texts:
            outs = count_tokens(benchmark.output_texts[role])
        else:
            outs = np.full(benchmark.n, int(benchmark.default_output_tokens), dtype=np.int64)
        out[role] = {"input": ins, "output": outs}
    return out


def item_costs(benchmark: Benchmark, prices: Mapping[str, Price] | None = None,
               tokens: dict[str, dict[str, np.ndarray]] | None = None) -> ItemCosts:
    """Per-item USD cost on each model, from prices (paper's defaults unless overridden) and token counts."""
    strong_price, weak_price = resolve_prices(benchmark, prices)
    tokens = tokens or token_counts(benchmark)

    def usd(role: str, price: Price) -> np.ndarray:
        t = tokens[role]
        return (t["input"] * price.input_per_million + t["output"] * price.output_per_million) / 1e6

    return ItemCosts(usd("strong", strong_price), usd("weak", weak_price), tokens)


@dataclass(frozen=True)
class CostSaving:
    """The cheapest operating point reaching ``quality_fraction`` of all-strong quality."""

    quality_fraction: float
    target: float
    reached: bool
    strong_pct: float
    performance: float
    cost: float
    all_strong_cost: float

    @property
    def saving(self) -> float:
        """Fraction of the all-strong cost saved (0.85 = 85 % cheaper)."""
        if not self.reached or self.all_strong_cost <= 0:
            return float("nan")
        return 1.0 - self.cost / self.all_strong_cost

    def to_dict(self) -> dict:
        return {"quality_fraction": self.quality_fraction, "target": self.target, "reached": self.reached,
                "strong_pct": self.strong_pct, "performance": self.performance, "cost_usd": self.cost,
                "all_strong_cost_usd": self.all_strong_cost, "saving": self.saving}

    @staticmethod
    def mean(items: Sequence[CostSaving]) -> CostSaving:
        """Mean over seeds of the random router (reached only if every seed reached the target)."""
        first = items[0]
        return CostSaving(first.quality_fraction, first.target, all(c.reached for c in items),
                          float(np.mean([c.strong_pct for c in items])), float(np.mean([c.performance for c in items])),
                          float(np.mean([c.cost for c in items])), first.all_strong_cost)


def cost_saving(scores: np.ndarray, benchmark: Benchmark, costs: ItemCosts, quality_fraction: float = 0.95) -> CostSaving:
    """Cheapest threshold of the router whose quality is >= ``quality_fraction`` * all-strong quality."""
    if not 0 < quality_fraction <= 1:
        raise InvalidInputError(f"quality fraction must be in (0, 1], got {quality_fraction!r}")
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    n = benchmark.n
    order = np.argsort(-s, kind="stable")
    ss = s[order]
    ends = np.flatnonzero(np.r_[ss[1:] != ss[:-1], True])
    gain = np.cumsum((benchmark.strong_scores - benchmark.weak_scores)[order])
    extra = np.cumsum((costs.strong - costs.weak)[order])
    perf = benchmark.weak_performance + np.r_[0.0, gain[ends]] / n
    cost = costs.all_weak + np.r_[0.0, extra[ends]]
    pct = np.r_[0.0, (ends + 1) / n * 100.0]
    target = quality_fraction * benchmark.strong_performance
    ok = np.flatnonzero(perf >= target - 1e-9 * max(1.0, abs(target)))
    if ok.size == 0:
        return CostSaving(quality_fraction, target, False, float("nan"), float("nan"), float("nan"), costs.all_strong)
    best = int(ok[np.argmin(cost[ok])])
    return CostSaving(quality_fraction, target, True, float(pct[best]), float(perf[best]), float(cost[best]), costs.all_strong)
