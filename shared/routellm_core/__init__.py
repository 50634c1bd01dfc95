"""routellm_core: the router engine shared by the LangChain and LlamaIndex integrations.

Learn from pairwise preference data the probability that a strong model beats a weak one on a
query, and route each query: strong iff P(strong wins) >= threshold.
"""

from __future__ import annotations

from .calibration import calibrate_threshold, threshold_for_fraction
from .decision import METADATA_FIELDS, Attempt, Decision
from .errors import CheckpointError, DataError, DownloadError, InvalidInputError, RouteLLMError, UnknownRouterError
from .executor import AnswerReader, Executor
from .fallback import FallbackExecutor, is_provider_error, should_fall_back
from .models import STRONG_MODEL, WEAK_MODEL, canonical_model_name
from .policy import RoutingPolicy
from .records import Outcome, PreferenceRecord
from .routers.base import Router, RoutingDecision
from .routers.registry import load_checkpoint, load_router, register_router, router_names
from .turns import Turn

__version__ = "0.1.0"

__all__ = [
    "PreferenceRecord", "Outcome", "Router", "RoutingDecision", "load_router", "load_checkpoint", "register_router",
    "router_names", "calibrate_threshold", "threshold_for_fraction", "RouteLLMError", "InvalidInputError",
    "UnknownRouterError", "CheckpointError", "DataError", "DownloadError", "STRONG_MODEL", "WEAK_MODEL",
    "canonical_model_name", "RoutingPolicy", "Turn", "Attempt", "METADATA_FIELDS", "FallbackExecutor",
    "is_provider_error", "should_fall_back", "Decision", "Executor", "AnswerReader",
]
