"""Evaluation harness: the RouteLLM paper's benchmarks, metrics (APGR, CPT), cost and plots.

Typical use::

    from routellm_core.evaluation import load_benchmark, evaluate_benchmark
    result = evaluate_benchmark(load_benchmark("mt-bench"), ["random", "mf"])
    print(result.routers[1].metrics.apgr)

Nothing here runs at import time; matplotlib and torch are imported only when needed.
"""

from __future__ import annotations

from .benchmarks import (BENCHMARK_NAMES, Benchmark, load_benchmark, load_correctness_benchmark,
                         load_judged_benchmark)
from .metrics import Curve, CurveMetrics, curve_metrics, exact_curve, optimal_curve, quantile_curve
from .oracle import OracleRouter
from .runner import BenchmarkResult, Evaluator, RouterResult, evaluate_benchmark

__all__ = [
    "BENCHMARK_NAMES", "Benchmark", "load_benchmark", "load_correctness_benchmark", "load_judged_benchmark",
    "Curve", "CurveMetrics", "curve_metrics", "exact_curve", "optimal_curve", "quantile_curve", "OracleRouter",
    "BenchmarkResult", "Evaluator", "RouterResult", "evaluate_benchmark",
]
