"""A routing decision: the targets to try in order, the scores that chose them, and one metadata schema.

Every strategy of the decision layer (the threshold rule for a strong/weak pair, the price rule
for many models, the cascade) returns a :class:`Decision`; the one executor
(:mod:`routellm_core.executor`) runs it, and every front-end labels answers with
:meth:`Decision.metadata`, whose keys (:data:`METADATA_FIELDS`) are the same for every kind
(a key that does not apply to a kind is ``None``). ``id`` names the decision for later feedback.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

Kind = Literal["threshold", "price", "cascade"]

# The keys of every answer's routing metadata, in every front-end and for every kind of decision.
METADATA_FIELDS = (
    "role", "model", "routed_role", "probability", "threshold", "router", "fallback", "fallback_error",
    "decision_id", "kind", "routed_model", "top_model", "candidates",
    "cascade", "first_role", "answer_p_inadequate", "escalate_threshold", "escalated", "cascade_skipped",
    "calls", "wasted_calls", "explored", "propensity",
    "online_share", "online_forced", "online_spend_per_1k", "guard_flag", "unguarded_probability", "truncated",
)
# Keys the wrappers around a strategy fill (docs/guard.md): the online threshold (``online_share``:
# realised strong share of the last window before this decision; ``online_forced``: "strong"/"weak"
# when the window bound, not the score, chose the role; ``"cheaper"`` when the online budget's bound
# chose a cheaper model; ``online_spend_per_1k``: the online budget's realised USD per 1,000 calls over
# the last window before this decision), the reroute guard (``guard_flag``: why it
# flagged the text; ``unguarded_probability``: the whole text's score, when the guard routed on a lower
# one, then in ``probability``) and the input cap (``truncated``:
# the routed text's length in characters before head-and-tail truncation). None when not applicable.
NOTE_FIELDS = ("online_share", "online_forced", "online_spend_per_1k", "guard_flag", "unguarded_probability",
               "truncated")
# The cascade's own keys (None for other kinds).
CASCADE_FIELDS = ("cascade", "first_role", "answer_p_inadequate", "escalate_threshold", "escalated", "cascade_skipped",
                  "calls", "wasted_calls")
# The price rule's own keys (None for other kinds).
MULTI_METADATA_FIELDS = ("model", "routed_model", "top_model", "threshold", "router", "candidates", "fallback",
                         "fallback_error")
SKIP_TOOL_CALLS = "tool_calls"
SKIP_ROUTED_STRONG = "routed_strong"
EMPTY_ANSWER = "empty_answer"
PAIR = ("strong", "weak")


class Attempt(NamedTuple):
    """One target to try: its key in the front-end's model table (``strong``/``weak`` or a candidate name)."""

    key: str
    fallback: bool

    @property
    def role(self) -> str:
        """The key (kept under its old name: for a strong/weak pair it is the role)."""
        return self.key


@dataclass(frozen=True)
class CandidateEstimate:
    """What the price rule predicts for one candidate on one prompt."""

    model: str
    score: float  # predicted quality: mean P(this candidate beats each other candidate)
    beaten_by_pricier: float  # max P(a pricier candidate beats it); the rule compares this with t (top: 0)
    cost_usd: float

    def to_dict(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return None if math.isnan(v) else round(float(v), 6)

        return {"model": self.model, "score": num(self.score), "beaten_by_pricier": num(self.beaten_by_pricier),
                "cost_usd": float(self.cost_usd)}


@dataclass(frozen=True)
class AnswerCheck:
    """The cascade's verdict on one weak answer."""

    escalate: bool
    p_inadequate: float | None
    threshold: float
    skipped: str | None = None  # why no score was computed (tool_calls, empty_answer)


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def error_text(error: BaseException) -> str:
    """``Type: message`` of an error, short enough for metadata and headers."""
    return f"{type(error).__name__}: {error}"[:300]


def flat_metadata(meta: Mapping[str, Any], prefix: str = "routellm_") -> dict[str, Any]:
    """Metadata as flat prefixed keys (tracing tools search these), without empty or list values."""
    return {f"{prefix}{k}": v for k, v in meta.items() if v is not None and not isinstance(v, (list, tuple))}


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Decision:
    """Which targets answer one text, in order, and why.

    ``targets[0]`` is the routed target; the others are tried in turn when ``fallback`` is on and
    the routed one fails with a provider error. ``check`` (cascade only) judges the first target's
    answer and may escalate to ``escalate_to``.
    """

    kind: Kind
    targets: tuple[str, ...]
    probability: float = math.nan
    threshold: float = math.nan
    router: str = ""
    fallback: bool = True
    top_model: str | None = None
    candidates: tuple[CandidateEstimate, ...] = ()
    check: Any = field(default=None, repr=False, compare=False)  # an object with .check(prompts, answers, tool_flags)
    escalate_to: str | None = None
    explored: bool | None = None  # with an exploration rate: whether this decision was flipped at random
    propensity: float | None = None  # ... and the probability of the target it got
    text: str = field(default="", repr=False, compare=False)
    id: str = field(default_factory=new_id, compare=False)
    notes: Mapping[str, Any] = field(default_factory=dict, compare=False)  # NOTE_FIELDS set by wrappers

    def noted(self, **notes: Any) -> Decision:
        """This decision with more :data:`NOTE_FIELDS` set (an unknown key is a programming error)."""
        unknown = set(notes) - set(NOTE_FIELDS)
        if unknown:
            raise KeyError(f"not a decision note: {', '.join(sorted(unknown))}")
        return self.replace(notes={**self.notes, **notes})

    @classmethod
    def pair(cls, role: str, probability: float, threshold: float, router: str, fallback: bool = True) -> Decision:
        """A strong/weak decision (what ``RoutingDecision(role, probability, threshold, router)`` built)."""
        return cls("threshold", (role, "weak" if role == "strong" else "strong"), probability, threshold, router,
                   fallback)

    # --- what the old decision types called these ----------------------------------------------
    @property
    def role(self) -> str:
        """The routed target (``strong``/``weak`` for a pair; the chosen candidate for the price rule)."""
        return self.targets[0]

    @property
    def model(self) -> str:
        return self.targets[0]

    @property
    def order(self) -> tuple[str, ...]:
        return self.targets

    @property
    def use_strong(self) -> bool:
        return self.role == "strong"

    def to_dict(self) -> dict[str, Any]:
        """The decision as plain data (``Decision(**d)`` rebuilds it, without a cascade's check)."""
        return {"kind": self.kind, "targets": list(self.targets), "probability": self.probability,
                "threshold": self.threshold, "router": self.router, "fallback": self.fallback,
                "top_model": self.top_model, "candidates": [c.to_dict() for c in self.candidates],
                "escalate_to": self.escalate_to, "explored": self.explored, "propensity": self.propensity,
                "text": self.text, "id": self.id, "notes": dict(self.notes)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        values = dict(data)
        values["targets"] = tuple(values["targets"])
        values["candidates"] = tuple(CandidateEstimate(**c) for c in values.get("candidates") or ())
        return cls(**values)

    def estimate(self, model: str) -> CandidateEstimate:
        return next(c for c in self.candidates if c.model == model)

    def attempts(self) -> list[Attempt]:
        """The targets to try, in order: the routed one, then (with ``fallback``) the others."""
        keys = self.targets if self.fallback else self.targets[:1]
        return [Attempt(k, i > 0) for i, k in enumerate(keys)]

    def tags(self, key: str) -> list[str]:
        """Run tags for the call of target ``key`` (``routellm:<key>``, and the kind unless a plain pair)."""
        return [f"routellm:{key}"] + ([] if self.kind == "threshold" else [f"routellm:{self.kind}"])

    def replace(self, **changes: Any) -> Decision:
        from dataclasses import replace

        return replace(self, **changes)

    # --- metadata ------------------------------------------------------------------------------
    def metadata(self, answered: str | None = None, model: str | None = None, error: BaseException | None = None,
                 check: AnswerCheck | None = None, calls: Sequence[str] | None = None) -> dict[str, Any]:
        """The routing metadata of an answer: the same keys (:data:`METADATA_FIELDS`) for every kind.

        ``answered`` is the target that answered (default: the routed one), ``model`` its readable
        name (the candidate name for the price rule); ``fallback`` is true when it differs from the
        routed target because the routed one raised ``error``. For a cascade, ``check`` is the answer
        stage's verdict and ``calls`` every call that returned an answer (billed), in order.
        """
        answered = self.role if answered is None else answered
        escalated = bool(self.kind == "cascade" and self.role == "weak" and check is not None and check.escalate)
        routed = self.escalate_to if escalated and self.escalate_to else self.role
        calls = list(calls) if calls is not None else ([self.role, routed] if escalated else [answered])
        pair = self.kind != "price"
        meta: dict[str, Any] = {
            "role": answered if pair else None,
            "model": model if pair else answered,
            "routed_role": routed if pair else None,
            "probability": _number(self.probability),
            "threshold": _number(self.threshold),
            "router": self.router or ("cascade" if self.kind == "cascade" else ""),
            "fallback": answered != routed,
            "fallback_error": None if error is None or answered == routed else error_text(error),
            "decision_id": self.id,
            "kind": self.kind,
            "routed_model": None if pair else routed,
            "top_model": self.top_model,
            "candidates": [c.to_dict() for c in self.candidates] if self.candidates else None,
        }
        if self.kind == "cascade":
            meta.update({
                "cascade": True, "first_role": self.role,
                "answer_p_inadequate": None if check is None else check.p_inadequate,
                "escalate_threshold": None if check is None else check.threshold,
                "escalated": escalated,
                "cascade_skipped": SKIP_ROUTED_STRONG if self.role == "strong" else (check.skipped if check else None),
                "calls": calls, "wasted_calls": max(0, len(calls) - 1),
            })
        else:
            meta.update({k: None for k in CASCADE_FIELDS})
        meta.update(explored=self.explored, propensity=self.propensity)
        meta.update({k: self.notes.get(k) for k in NOTE_FIELDS})
        return meta
