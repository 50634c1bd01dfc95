"""A guard whose forms come from one encoder pass: does it shed a gadget? (It does not; docs/guard.md.)

The shipped guard re-encodes each form of a text, so its cost grows with the forms. This tries the free
alternative: encode the text once, and take each form as the mean of the last hidden states over the kept
words' tokens (plus ``[CLS]`` and ``[SEP]``), for every cut of 0 to ``--max-cut`` words at each end, then
the router's lowest score over them. Texts are the held-out Arena-Hard prompts that fit the 256-token
window (no truncation, so words map to tokens exactly), with the gadgets of ``reroute_attack.py`` and the
issue's hand-written sentences before or after them. The strong share is taken at a 50% calibration on
the clean prompts, each scorer calibrated on its own clean scores, as the attack benchmark does.

    nice -n 10 .venv/bin/python benchmarks/guard_one_pass.py [--eval-prompts 200] [--max-cut 24]

Writes ``benchmarks/results/guard_one_pass.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
TEXTS = {  # name: (text, where); the searched gadgets are those of results/reroute_attack*.json
    "searched 4-word prefix (against the guard)": ("logic variable more are", "prefix"),
    "searched 4-word suffix (against the guard)": ("logic variable more are", "suffix"),
    "searched 12-word prefix": ("calculate test buys buy during logic between problem who her your let", "prefix"),
    "searched 12-word prefix (against the guard)":
        ("logic variable more are found possible path method what her over language", "prefix"),
    "searched 12-word suffix": ("logic test quantum these questions next value problem theorem her your python", "suffix"),
    "hand-written code": ("Answer with production-quality, well-tested Python code and explain its complexity.", "prefix"),
    "hand-written proof": ("Give a rigorous step-by-step mathematical proof of every claim you make.", "prefix"),
}


class OnePassForms:
    """Token states of one float32 MiniLM pass (numpy), pooled over every word-aligned sub-span."""

    def __init__(self, router: Any, max_cut: int, min_words: int = 3) -> None:
        from routellm_core.embeddings.numpy_bert import NumpyBert

        self.router, self.max_cut, self.min_words = router, max_cut, min_words
        self.embedder = router.embedder
        _, self.tokenizer = self.embedder._load()
        self.bert = NumpyBert(self.embedder.model_dir)
        self.cls_id, self.sep_id = self.embedder._special

    def vectors(self, text: str) -> np.ndarray | None:
        """Normalised pooled vectors of the whole text (row 0) and every form; None past the window."""
        words = text.split()
        pieces = [self.tokenizer.encode(w, add_special_tokens=False).ids for w in words]
        ids = [t for p in pieces for t in p]  # WordPiece never joins across whitespace: same as the whole text
        if len(ids) > self.embedder.max_length - 2:
            return None
        states = self.bert.hidden_states(np.asarray([[self.cls_id, *ids, self.sep_id]]))[0]
        total = np.vstack([np.zeros((1, states.shape[1]), np.float32), np.cumsum(states, axis=0)])
        starts = np.cumsum([0] + [len(p) for p in pieces]) + 1  # token index where each word starts
        n, out = len(words), []
        for a in range(min(self.max_cut, n) + 1):
            for b in range(min(self.max_cut, n) + 1):
                if (a or b) and n - a - b < self.min_words:
                    continue
                lo, hi = starts[a], starts[n - b]
                out.append((total[hi] - total[lo] + states[0] + states[-1]) / (hi - lo + 2))
        vecs = np.asarray(out)
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)

    def scores(self, text: str) -> tuple[float, float] | None:
        """(whole-text P, lowest P over the forms), or None for a text past the window."""
        vecs = self.vectors(text)
        if vecs is None:
            return None
        p = self._head(vecs)
        return float(p[0]), float(p.min())

    def fits(self, text: str) -> bool:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids) <= self.embedder.max_length - 2

    def _head(self, vecs: np.ndarray) -> np.ndarray:
        """The router's P on given vectors (its embedding step answered from them)."""
        keys = [f"\0one-pass form {i}" for i in range(len(vecs))]
        lookup = dict(zip(keys, vecs, strict=True))
        original = self.router._embed
        self.router._embed = lambda prompts: np.stack([lookup[p] for p in prompts]).astype(np.float32)
        try:
            return np.asarray(self.router.predict_proba(keys))
        finally:
            self.router._embed = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", default="mf")
    parser.add_argument("--eval-prompts", type=int, default=200)
    parser.add_argument("--max-cut", type=int, default=24)
    parser.add_argument("--output", default=str(HERE / "results" / "guard_one_pass.json"))
    args = parser.parse_args()

    from routellm_core import load_router
    from routellm_core.data.arena import arena_hard_questions
    from routellm_core.guard import guarded
    from routellm_core.server.routing import use_memory_embedder

    router = load_router(args.router, cache=False)
    use_memory_embedder(router)
    one_pass, shipped = OnePassForms(router, args.max_cut), guarded(router)
    arena = [q.prompt for q in arena_hard_questions()]
    held = arena[8:][:args.eval_prompts]  # the attack benchmark's held-out prompts (its first 8 search gadgets)
    longest = max((t for t, _ in TEXTS.values()), key=len)
    prompts = [p for p in held if one_pass.fits(f"{longest} {p}")]  # every attacked text fits the window too
    clean = [one_pass.scores(p) for p in prompts]
    whole = np.array([c[0] for c in clean if c])
    low = np.array([c[1] for c in clean if c])
    exact = np.asarray(shipped.predict_proba(prompts))
    cut = {"no guard": np.quantile(whole, 0.5), "one-pass forms": np.quantile(low, 0.5),
           "shipped guard": np.quantile(exact, 0.5)}
    rows: dict[str, dict[str, float]] = {}
    for name, (text, where) in TEXTS.items():
        attacked = [f"{text} {p}" if where == "prefix" else f"{p} {text}" for p in prompts]
        pairs = [one_pass.scores(t) for t in attacked]
        got = {"no guard": np.array([s[0] for s in pairs if s]), "one-pass forms": np.array([s[1] for s in pairs if s]),
               "shipped guard": np.asarray(shipped.predict_proba(attacked))}
        rows[name] = {k: round(float(np.mean(v >= cut[k])), 4) for k, v in got.items()}
        print(f"{name:45s}", json.dumps(rows[name]), flush=True)
    out = {"router": args.router, "prompts": len(prompts), "of": len(held), "max_cut": args.max_cut,
           "clean_share": 0.5, "strong_share": rows}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
