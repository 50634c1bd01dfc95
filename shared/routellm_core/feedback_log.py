"""Feedback on routed answers: remember recent decisions, then store a user's score with their prompt and model.

A front-end's answer carries its decision id (metadata ``decision_id``). The executor remembers each
answered decision here (prompt, the model that answered, its role, the pair's model names, the
metadata) in a bounded in-memory table; ``RoutingPolicy.record_feedback(answer_or_id, score)`` looks the
decision up and writes one row to the :class:`~routellm_core.own_router.feedback.FeedbackStore`
(SQLite by default, any SQLAlchemy URL for replicas), from which
:func:`~routellm_core.own_router.feedback.feedback_records` makes training records.

The table lives in the process that answered: feedback for an answer served by another process (a
server replica) must carry the prompt itself (``prompt=``).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from .errors import InvalidInputError

DEFAULT_CAPACITY = 10_000


def decision_id_of(answer: Any) -> str:
    """The decision id of an answer: an id, a metadata mapping, a JSON answer with ``routellm``, or a
    framework response carrying it (LangChain ``response_metadata``, LlamaIndex ``additional_kwargs``)."""
    if isinstance(answer, str) and answer.strip():
        return answer.strip()
    for meta in _metadata_candidates(answer):
        if isinstance(meta, Mapping) and isinstance(meta.get("decision_id"), str):
            return meta["decision_id"]
    raise InvalidInputError(f"cannot find a decision id in a {type(answer).__name__}: pass the routed answer, its "
                            "routellm metadata or the decision_id string")


def _metadata_candidates(answer: Any) -> list[Any]:
    out = [answer]
    if isinstance(answer, Mapping):
        out.append(answer.get("routellm"))
        raw = answer.get("raw")
        out.append(getattr(raw, "response_metadata", {}).get("routellm") if raw is not None else None)
    for attr in ("response_metadata", "additional_kwargs", "metadata", "raw"):
        value = getattr(answer, attr, None)
        if isinstance(value, Mapping):
            out.append(value.get("routellm"))
    message = getattr(answer, "message", None)
    if message is not None:
        out.append((getattr(message, "additional_kwargs", None) or {}).get("routellm"))
    return out


class FeedbackRecorder:
    """Recent decisions (a bounded table, oldest dropped first) and the store their feedback goes to."""

    def __init__(self, store: Any = None, capacity: int = DEFAULT_CAPACITY) -> None:
        if isinstance(store, FeedbackRecorder):
            raise InvalidInputError("give a FeedbackStore, a path or a URL, not a FeedbackRecorder")
        if store is None or isinstance(store, str | os.PathLike):
            from .own_router.feedback import FeedbackStore

            store = FeedbackStore(store)
        if not callable(getattr(store, "record", None)):
            raise InvalidInputError(f"feedback must be a FeedbackStore, a SQLite path or a SQLAlchemy URL, "
                                    f"got {type(store).__name__}")
        self.store, self.capacity = store, int(capacity)
        self._recent: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, prompt: str, meta: Mapping[str, Any], names: Mapping[str, str]) -> None:
        """Keep an answered decision so feedback can refer to it by id."""
        entry = {"prompt": prompt, "meta": {**meta, **{f"{k}_model": v for k, v in names.items() if k in PAIR}}}
        with self._lock:
            self._recent[str(meta["decision_id"])] = entry
            while len(self._recent) > self.capacity:
                self._recent.popitem(last=False)

    def record(self, answer: Any, score: Any, prompt: str | None = None) -> Any:
        """Store a score in [0, 1] for the decision behind ``answer`` (see :func:`decision_id_of`)."""
        decision_id = decision_id_of(answer)
        with self._lock:
            entry = self._recent.get(decision_id)
        if entry is None and prompt is None:
            raise InvalidInputError(f"decision {decision_id!r} is not among the last {self.capacity} decisions this "
                                    "process answered: pass prompt= (and the answer's metadata) to record it")
        meta = dict(entry["meta"] if entry else _answer_metadata(answer))
        model = str(meta.get("model") or meta.get("routed_model") or "")
        text = prompt if prompt is not None else (entry or {}).get("prompt", "")
        return self.store.record(decision_id, score, text, model, meta.get("role"), meta)


PAIR = ("strong", "weak")


def _answer_metadata(answer: Any) -> dict[str, Any]:
    for meta in _metadata_candidates(answer):
        if isinstance(meta, Mapping) and "decision_id" in meta:
            return dict(meta)
    return {}
