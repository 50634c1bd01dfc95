"""The paper's figure as a Vega-Lite spec: quality vs % strong calls, with the operating point marked."""

from __future__ import annotations

from typing import Any

COLORS = ["#1f77b4", "#555555", "#9e9e9e", "#d62728"]  # router, oracle, all weak, all strong


def _points(series: str, xs, ys) -> list[dict[str, Any]]:
    return [{"series": series, "strong_pct": float(x), "quality": float(y)} for x, y in zip(xs, ys)]


def curve_spec(result, router_result, point) -> dict[str, Any]:
    """Router curve, oracle curve, all-weak/all-strong lines and the chosen operating point."""
    bench = result.benchmark
    names = [f"router: {router_result.name}", "optimal (oracle)", f"all weak: {bench.weak_model}",
             f"all strong: {bench.strong_model}"]
    lines = (_points(names[0], router_result.curve.strong_pct, router_result.curve.performance)
             + _points(names[1], result.optimal.strong_pct, result.optimal.performance)
             + _points(names[2], [0, 100], [result.weak, result.weak])
             + _points(names[3], [0, 100], [result.strong, result.strong]))
    marker = [{"series": "operating point", "strong_pct": point.strong_pct, "quality": point.performance}]
    x = {"field": "strong_pct", "type": "quantitative", "title": "Strong model calls (%)",
         "scale": {"domain": [0, 100]}}
    y = {"field": "quality", "type": "quantitative", "title": bench.unit, "scale": {"zero": False}}
    return {
        "height": 360,
        "layer": [
            {"data": {"values": lines}, "mark": {"type": "line", "point": True},
             "encoding": {"x": x, "y": y, "color": {"field": "series", "type": "nominal", "title": None,
                                                    "scale": {"domain": names, "range": COLORS},
                                                    "legend": {"orient": "bottom", "columns": 2}},
                          "strokeDash": {"condition": {"test": "indexof(datum.series, 'all ') == 0", "value": [4, 4]},
                                         "value": [1, 0]}}},
            {"data": {"values": marker}, "mark": {"type": "point", "shape": "diamond", "size": 220, "filled": True,
                                                   "color": "black"},
             "encoding": {"x": x, "y": y, "tooltip": [{"field": "strong_pct", "title": "% strong", "format": ".1f"},
                                                      {"field": "quality", "title": bench.unit, "format": ".3f"}]}},
        ],
    }
