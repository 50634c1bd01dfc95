"""The reroute guard: text added before or after a prompt cannot raise its P(strong wins).

``RoutingPolicy(..., reroute_guard=True)`` (server config: ``reroute_guard: true``) scores each
routed text in up to eleven forms (see Cost below): the whole text and the text with ``a`` words
cut from its start and ``b`` from its end, for every ``a, b`` in ``CUTS`` = (0, 12, 24) but
``a = b = 0`` (a form is skipped when it would leave fewer than ``MIN_WORDS`` words), and the text
without its first or last sentence where that sentence has at most 12 words. A text of more than
``LONG_WORDS`` = 100 words is scored in two forms: whole, and without its first and its last 12 words.
It routes on the **lowest** of these scores.

Why this grid. A gadget of ``GUARD_WORDS`` = 12 words put before (or after) a prompt is cut away
exactly by the forms that cut 12 (or 24) words on its side, and those forms of the attacked text
*are* forms of the prompt itself: without its first 12 words the attacked text is the prompt;
with 12 cut from its start and 12 or 24 from its end, it is the prompt without its last 0 or 12
words; and so on. So the guarded score of ``prefix + prompt`` is at most P(prompt), and it can
exceed the prompt's own guarded score only when the prompt's lowest form is one the attacked text
lacks (a 24-word cut on the gadget's side). ``docs/guard.md`` measures how often that is (the
"every gadget-bearing form at 1" bound) and what real searched gadgets achieve. A shorter gadget
takes some task words with it in these forms: it is bounded less tightly (also measured there).
Written phrases are mostly sentences ("Please use advanced reasoning.", "Write code:"), and the
sentence forms cut exactly them, whatever their length: on 290 Arena-Hard prompts not used to
choose this, no phrase of 16 tried moved the guarded share by more than +3.4 points (+10.3 with
the word grid alone).

The conservative side is the cheap one: the guard protects the budget (an attacker cannot make
calls expensive); text that pushes a prompt towards the weak model only lowers the answer's
quality for its own sender.

A text whose whole-text score exceeds the guarded one by ``FLAG_MARGIN`` or more is *flagged*: its
metadata says which part moved P (``guard_flag``, e.g. ``"leading words raise P by 0.31"``) and
keeps the unguarded score (``unguarded_probability``); the server counts flagged requests in
``/metrics`` (``routellm_reroute_flagged_total``). A threshold calibrated with the guard on
(``strong_fraction``) is calibrated on guarded scores, so the clean strong share is kept.
Cost. A decision needs the forms only when the whole text reaches the threshold: the guarded score
is never above it, so a text below the threshold is weak whatever its forms score.
:meth:`GuardedRouter.predict_gated` (what ``RoutingPolicy.decide`` uses) scores the forms of those
texts alone, spread over the cores (two encoder runs at once on two cores), and gives every other
text its whole-text score: the decisions are those of the full guard, and ``probability`` is the
guarded score for a strong decision, the whole text's (below the threshold) for a weak one. Scores
for a threshold not known yet (calibration, the online threshold, evaluation) use the full guard,
:meth:`GuardedRouter.predict_proba`. Long texts get one form only, because there every form is a
nearly full-length encoder run: eight to ten of them made a long prompt routed strong cost about five
runs' time on two cores. A 12-word gadget before a long text is cut away with the text's last 12 words,
so its guarded score is at most P(the prompt without its last 12 words), which for a text of over 100
words is close to P(prompt); after it, the same with the first 12 words. Fewer forms also keep a clean
text's lowest score nearer its own, which leaves a gadget less to gain: on the shipped ``mf`` (490
Arena-Hard prompts) the 12-word saturated bounds stay within +1.8 points. And on an idle machine the one
form runs on the second core while the whole text is scored (:func:`_speculate`), so a long text routed
strong costs about one run's time. docs/guard.md has the timings and the choice of ``LONG_WORDS``.
"""

from __future__ import annotations

import os
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from .batching import parallel_safe
from .routers.base import Router, role_for

GUARD_WORDS = 12
CUTS = (0, GUARD_WORDS, 2 * GUARD_WORDS)  # words cut from the start and from the end, in every combination
MIN_WORDS = 3
LONG_WORDS = 100  # longer texts: one form, 12 words cut from each end (why: module docstring, Cost)
FLAG_MARGIN = 0.1
_CACHE_SIZE = 4096
_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+")


def _part(start: int, end: int) -> str:
    if start and end:
        return "leading and trailing words"
    return "leading words" if start else "trailing words"


def _sentence_forms(text: str) -> list[tuple[str, str]]:
    """The text without its first sentence, and without its last, where that sentence is short.

    A sentence ends at ``.``, ``!``, ``?``, ``:`` or ``;`` before whitespace; it is cut when it has at
    most :data:`GUARD_WORDS` words and at least :data:`MIN_WORDS` words remain.
    """
    parts = [p for p in _SENTENCE_END.split(text.strip()) if p]
    out: list[tuple[str, str]] = []
    if len(parts) < 2:
        return out
    for name, cut, rest in (("leading sentence words", parts[0], parts[1:]), ("trailing sentence words", parts[-1], parts[:-1])):
        kept = " ".join(" ".join(rest).split())
        if len(cut.split()) <= GUARD_WORDS and len(kept.split()) >= MIN_WORDS:
            out.append((name, kept))
    return out


def variants(text: str) -> list[tuple[str, str]]:
    """(what was removed, the text without it) for every form of ``text`` the guard also scores.

    The forms cut ``a`` words from the start and ``b`` from the end for ``a, b`` in :data:`CUTS`
    (not both 0), keeping at least :data:`MIN_WORDS` words; words are split on whitespace and
    joined by one space. Then the text without a short first or last sentence (:func:`_sentence_forms`).
    A text of more than :data:`LONG_WORDS` words gets one form only: without its first and its last
    :data:`GUARD_WORDS` words.
    """
    words = text.split()
    if len(words) > LONG_WORDS:
        return [(_part(GUARD_WORDS, GUARD_WORDS), " ".join(words[GUARD_WORDS:-GUARD_WORDS]))]
    out: list[tuple[str, str]] = []
    for start in CUTS:
        for end in CUTS:
            if (start or end) and len(words) - start - end >= MIN_WORDS:
                out.append((_part(start, end), " ".join(words[start:len(words) - end])))
    seen = {t for _, t in out}  # a 12-word first sentence is also the 12-word cut: score it once
    return out + [(name, t) for name, t in _sentence_forms(text) if t not in seen]


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
        return self.combine(prompts, scores[:len(prompts)], forms, scores[len(prompts):])

    def forms_to_score(self, prompts: Sequence[str], raw: Sequence[float] | np.ndarray,
                       threshold: float) -> tuple[list[list[tuple[str, str]]], list[str]]:
        """The forms of each prompt whose whole-text score reaches ``threshold`` (others: none), and all their texts."""
        forms = [variants(p) if role_for(float(r), threshold) == "strong" else [] for p, r in zip(prompts, raw, strict=True)]
        return forms, [text for fs in forms for _, text in fs]

    def combine(self, prompts: Sequence[str], raw: Sequence[float] | np.ndarray,
                forms: Sequence[Sequence[tuple[str, str]]],
                form_scores: Sequence[float] | np.ndarray) -> np.ndarray:
        """Each prompt's lowest score over its whole text and the forms given; remembered for :meth:`explain`."""
        out = np.asarray(raw, dtype=np.float64).copy()
        at = 0
        with self._lock:
            for i, (prompt, fs) in enumerate(zip(prompts, forms, strict=True)):
                if not fs:  # no forms scored (too short, or below the threshold): nothing to explain
                    continue
                whole = float(out[i])
                low, reason = whole, None
                for name, _ in fs:
                    if form_scores[at] < low:
                        low, reason = float(form_scores[at]), name
                    at += 1
                out[i] = low
                flag = f"{reason} raise P by {whole - low:.2f}" if reason and whole - low >= FLAG_MARGIN else None
                self._explained[prompt] = (whole, low, flag)
                self._explained.move_to_end(prompt)
                while len(self._explained) > _CACHE_SIZE:
                    self._explained.popitem(last=False)
        return out

    def predict_gated(self, prompts: list[str], threshold: float) -> np.ndarray:
        """Scores that decide as the full guard at ``threshold``, scoring forms only where they can matter.

        A prompt whose whole text scores below ``threshold`` keeps that score (it is weak either way);
        the others get their guarded score. The forms are spread over the cores when the encoder
        allows it (one run per form, so the scores do not depend on how they are split); a lone long
        text's form is started beside its whole text (:func:`_speculate`).
        """
        ahead = _speculate(self.inner, prompts)
        try:
            raw = np.asarray(self.inner.predict_proba(prompts), dtype=np.float64)
        finally:
            _end_call()
        forms, texts = self.forms_to_score(prompts, raw, threshold)
        if ahead is not None and texts == ahead[0]:  # the text reached the threshold: its form is (being) scored
            return self.combine(prompts, raw, forms, [float(p) for p in ahead[1].result()])
        return self.combine(prompts, raw, forms, _score_spread(self.inner, texts))  # weak: ``ahead`` is left to finish

    def explain(self, text: str) -> tuple[float, float, str | None] | None:
        """(unguarded P, guarded P, why it was flagged or None) for a text scored recently."""
        with self._lock:
            return self._explained.get(text)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_POOL_PREFIX = "routellm-guard"


def _lanes(router: Router, texts: int) -> int:
    if texts < 2 or not parallel_safe(router):
        return 1
    if threading.current_thread().name.startswith(_POOL_PREFIX):
        return 1  # already on a guard thread: no nested waits on the same pool
    return min(texts, os.cpu_count() or 1, 4)


_calls = 0  # predict_gated calls scoring their whole texts now
_ahead_running = 0  # speculative form runs not finished yet
_ahead_lock = threading.Lock()


def _guard_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix=_POOL_PREFIX)
        return _pool


def _speculate(router: Router, prompts: Sequence[str]) -> tuple[list[str], Future[Any]] | None:
    """Start scoring a lone long text's one form on the idle core while its whole text is scored; else None.

    Why: a long text's whole-text run and its form each take about one full encoder run, on one core
    each. Side by side, a long text routed strong costs about one run's time instead of two. Only a
    lone call on an idle machine speculates (no other call scoring, no earlier speculative run still
    going): under load the extra run would take a core from other requests. When the whole text then
    scores below the threshold, the form's run is left to finish and its score is not used. (Shorter
    texts' forms were tried too: they gained nothing, docs/guard.md.)
    """
    global _calls, _ahead_running
    with _ahead_lock:
        _calls += 1
        alone = _calls == 1 and _ahead_running == 0
    if not (alone and len(prompts) == 1 and len(prompts[0].split()) > LONG_WORDS and _lanes(router, 2) > 1):
        return None
    with _ahead_lock:
        if _ahead_running:
            return None
        _ahead_running += 1
    first = [t for _, t in variants(prompts[0])]
    try:
        future = _guard_pool().submit(router.predict_proba, first)
    except RuntimeError:  # the pool is shut down (interpreter exit): score the form after the whole text
        _ahead_done(None)
        return None
    future.add_done_callback(_ahead_done)
    return first, future


def _ahead_done(_: Future[Any] | None) -> None:
    global _ahead_running
    with _ahead_lock:
        _ahead_running -= 1


def _end_call() -> None:
    global _calls
    with _ahead_lock:
        _calls -= 1


def _score_spread(router: Router, texts: list[str]) -> list[float]:
    """P for ``texts``, split over up to one thread per core (each text is its own encoder run)."""
    if not texts:
        return []
    lanes = _lanes(router, len(texts))
    if lanes == 1:
        return [float(p) for p in router.predict_proba(texts)]
    chunks = [texts[i::lanes] for i in range(lanes)]
    score: Callable[[list[str]], Any] = router.predict_proba
    parts = [list(p) for p in _guard_pool().map(score, chunks)]
    out = [0.0] * len(texts)
    for lane, part in enumerate(parts):
        out[lane::lanes] = [float(p) for p in part]
    return out


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
