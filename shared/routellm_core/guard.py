"""The reroute guard: text added before or after a prompt cannot raise its P(strong wins).

``RoutingPolicy(..., reroute_guard=True)`` (server config: ``reroute_guard: true``) scores each
routed text in up to five forms, in one router call: the whole text, the text without its first
``GUARD_WORDS`` words, without its last ``GUARD_WORDS`` words, without its first sentence and
without its last sentence (a form is skipped when it would leave fewer than ``MIN_WORDS`` words).
It routes on the **lowest** of these scores, so that text added in front of a task or after it
(a "confounder gadget", arXiv 2501.01818, of at most ``GUARD_WORDS`` words, or one added sentence)
scores no higher than the task itself: the guarded score of ``prefix + prompt`` is at most
P(prompt). The conservative side is the cheap one: the guard protects the budget (an attacker
cannot make calls expensive); text that pushes a prompt towards the weak model only lowers the
answer's quality for its own sender.

A text whose whole-text score exceeds the guarded one by ``FLAG_MARGIN`` or more is *flagged*: its
metadata says which part moved P (``guard_flag``, e.g. ``"leading words raise P by 0.31"``) and
keeps the unguarded score (``unguarded_probability``); the server counts flagged requests in
``/metrics`` (``routellm_reroute_flagged_total``). A threshold calibrated with the guard on
(``strong_fraction``) is calibrated on guarded scores, so the clean strong share is kept.
Cost: one router call with up to five texts instead of one (docs/guard.md has the timings).
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from typing import Any

import numpy as np

from .routers.base import Router

GUARD_WORDS = 12
MIN_WORDS = 3
FLAG_MARGIN = 0.1
_CACHE_SIZE = 4096
_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+|\n+")

_VARIANTS = ("leading words", "trailing words", "first sentence", "last sentence")


def variants(text: str) -> list[tuple[str, str]]:
    """(what was removed, the text without it) for every form of ``text`` the guard also scores."""
    words = text.split()
    out: list[tuple[str, str]] = []
    if len(words) - GUARD_WORDS >= MIN_WORDS:
        out.append(("leading words", " ".join(words[GUARD_WORDS:])))
        out.append(("trailing words", " ".join(words[:-GUARD_WORDS])))
    parts = [p for p in _SENTENCE_END.split(text.strip()) if p.strip()]
    if len(parts) >= 2:
        for name, rest in (("first sentence", parts[1:]), ("last sentence", parts[:-1])):
            if len(" ".join(rest).split()) >= MIN_WORDS:
                out.append((name, " ".join(rest)))
    return out


class GuardedRouter(Router):
    """A router whose score is the lowest over a text and its forms without leading/trailing text."""

    name = "guarded"
    trainable = False

    def __init__(self, inner: Router) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]  # decisions name the router they come from
        self._explained: OrderedDict[str, tuple[float, float, str | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get_params(self) -> dict[str, Any]:
        return {"inner": self.inner}

    def _predict(self, prompts: list[str]) -> np.ndarray:
        forms = [variants(p) for p in prompts]
        batch = list(prompts) + [text for fs in forms for _, text in fs]
        scores = np.asarray(self.inner.predict_proba(batch), dtype=np.float64)
        out = scores[:len(prompts)].copy()
        at = len(prompts)
        with self._lock:
            for i, (prompt, fs) in enumerate(zip(prompts, forms, strict=True)):
                raw = float(scores[i])
                guarded, reason = raw, None
                for name, _ in fs:
                    if scores[at] < guarded:
                        guarded, reason = float(scores[at]), name
                    at += 1
                out[i] = guarded
                flag = f"{reason} raise P by {raw - guarded:.2f}" if reason and raw - guarded >= FLAG_MARGIN else None
                self._explained[prompt] = (raw, guarded, flag)
                self._explained.move_to_end(prompt)
                while len(self._explained) > _CACHE_SIZE:
                    self._explained.popitem(last=False)
        return out

    def explain(self, text: str) -> tuple[float, float, str | None] | None:
        """(unguarded P, guarded P, why it was flagged or None) for a text scored recently."""
        with self._lock:
            return self._explained.get(text)


_guarded: weakref.WeakKeyDictionary[Router, GuardedRouter] = weakref.WeakKeyDictionary()
_guarded_lock = threading.Lock()


def guarded(router: Router) -> GuardedRouter:
    """The one guarded wrapper of ``router`` (one per router object, so calibration caches hold)."""
    if isinstance(router, GuardedRouter):
        return router
    with _guarded_lock:
        out = _guarded.get(router)
        if out is None:
            out = _guarded[router] = GuardedRouter(router)
        return out
