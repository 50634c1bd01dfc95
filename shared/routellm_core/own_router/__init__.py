"""Your own router: label your traffic, learn from feedback, warm-start from the default, an honest report.

One job per module: ``verdict`` (judge prompts and verdict parsing), ``prompts`` (reading traffic),
``clients`` (strong, weak and judge models behind one async call), ``labeller`` (the resumable
labelling loop), ``labels_file`` (the append-only output), ``feedback`` (the feedback store and its
estimator), ``warm_start`` (the pair, ``--init`` and ``--add-model``), ``report`` (cross-fitted
comparison with the default) and ``cli`` (the ``label`` and ``report`` subcommands).
"""

from __future__ import annotations

__all__ = ["FeedbackStore", "Labeller", "label_prompts", "feedback_records", "parse_verdict", "parse_rating",
           "read_prompts", "own_router_report"]


def __getattr__(name: str):  # lazy: importing the package must not pull httpx, torch or sqlite
    import importlib

    where = {"FeedbackStore": "feedback", "feedback_records": "feedback", "Labeller": "labeller",
             "label_prompts": "labeller", "parse_verdict": "verdict", "parse_rating": "verdict",
             "read_prompts": "prompts", "own_router_report": "report"}
    if name in where:
        return getattr(importlib.import_module(f"{__name__}.{where[name]}"), name)
    raise AttributeError(name)
