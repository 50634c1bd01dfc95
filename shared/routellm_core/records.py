"""The one record type for pairwise preference data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from .errors import InvalidInputError


class Outcome(str, Enum):
    """Discrete battle outcomes, as in Chatbot Arena."""

    A_WINS = "a"
    B_WINS = "b"
    TIE = "tie"

    @property
    def prob_a(self) -> float:
        return {Outcome.A_WINS: 1.0, Outcome.B_WINS: 0.0, Outcome.TIE: 0.5}[self]


@dataclass(frozen=True, slots=True)
class PreferenceRecord:
    """One judged comparison of two models on one prompt.

    ``outcome`` is P(model_a is better): 1.0 = a wins, 0.0 = b wins, 0.5 = tie, or any soft
    judge probability in between. ``weight`` scales the record in training losses.
    """

    prompt: str
    model_a: str
    model_b: str
    outcome: float
    source: str = ""
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise InvalidInputError("preference record has an empty prompt")
        if not self.model_a or not self.model_b:
            raise InvalidInputError("preference record needs both model_a and model_b")
        if self.model_a == self.model_b:
            raise InvalidInputError(f"preference record compares {self.model_a!r} with itself")
        if isinstance(self.outcome, Outcome):
            object.__setattr__(self, "outcome", self.outcome.prob_a)
        if not (isinstance(self.outcome, (int, float)) and 0.0 <= float(self.outcome) <= 1.0):
            raise InvalidInputError(f"outcome must be in [0, 1], got {self.outcome!r}")
        if not (math.isfinite(self.weight) and self.weight >= 0):
            raise InvalidInputError(f"weight must be a finite number >= 0, got {self.weight!r}")
        object.__setattr__(self, "outcome", float(self.outcome))

    @property
    def label(self) -> Outcome:
        """The discrete outcome (soft outcomes within 0.1 of 0.5 count as a tie)."""
        if abs(self.outcome - 0.5) <= 0.1:
            return Outcome.TIE
        return Outcome.A_WINS if self.outcome > 0.5 else Outcome.B_WINS

    def oriented(self, strong: str, weak: str) -> float | None:
        """P(strong beats weak) from this record, or None if it does not compare that pair."""
        if (self.model_a, self.model_b) == (strong, weak):
            return self.outcome
        if (self.model_a, self.model_b) == (weak, strong):
            return 1.0 - self.outcome
        return None
