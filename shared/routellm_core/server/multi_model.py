"""Multi-model routing in the server: ``model: router-multi`` picks among the priced upstreams of ``multi_model``.

The engine's :class:`~routellm_core.multi_model.MultiModelPolicy` decides; each candidate is an
upstream like the strong and weak ones (same pools, timeouts, metrics), and a failed upstream falls
back to the next-best candidate. Answers carry ``routellm`` metadata with every candidate's predicted
score and estimated cost, and ``x-routellm-*`` headers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import RouteLLMError
from ..multi_model import Candidate, MultiModelDecision, MultiModelPolicy
from ..pricing import Price
from .config import ServerConfig
from .errors import APIError, ConfigError, bad_request
from .routing import RouterPool
from .upstream import Outcome, Upstream, Upstreams


class MultiModelRoute:
    """The multi-model policy of a server and its candidates' upstreams."""

    def __init__(self, config: ServerConfig, pool: RouterPool, upstreams: Upstreams) -> None:
        multi = config.multi_model
        assert multi is not None
        self.name, self.timeout, self.upstreams = multi.name, config.routing_timeout, upstreams
        try:
            candidates = [Candidate(name, Price(c.price[0], c.price[-1]), c.output_tokens, c.router_model)
                          for name, c in multi.models.items()]
            self.policy = MultiModelPolicy(pool.routers[multi.router], candidates, threshold=multi.threshold,
                                           top_fraction=multi.top_fraction, budget_per_1k=multi.budget_per_1k,
                                           calibration_prompts=tuple(multi.calibration_prompts),
                                           fallback=config.fallback, label=multi.router).resolve()
        except RouteLLMError as exc:
            raise ConfigError(f"multi_model: {exc}") from None
        self.models = {name: c.model for name, c in multi.models.items()}
        for name, c in multi.models.items():
            upstreams.by_role[name] = Upstream(name, c)  # type: ignore[index, arg-type]

    async def decide(self, prompt: str) -> MultiModelDecision:
        try:
            return (await asyncio.wait_for(self.policy.adecide([prompt]), self.timeout))[0]
        except TimeoutError:
            raise APIError(503, f"multi-model router is overloaded: no decision within {self.timeout:g}s",
                           type="server_error", code="router_overloaded", headers={"retry-after": "1"}) from None
        except RouteLLMError as exc:
            raise bad_request(f"multi-model router cannot route this prompt: {exc}", param="messages") from None

    def headers(self, decision: MultiModelDecision, outcome: Outcome | None) -> dict[str, str]:
        headers = {"x-routellm-router": decision.router, "x-routellm-threshold": f"{decision.threshold:.6g}",
                   "x-routellm-decision": decision.model}
        if outcome is not None:
            headers["x-routellm-role"] = str(outcome.role)
            headers["x-routellm-fallback"] = "true" if outcome.fell_back else "false"
            headers["x-routellm-model"] = self.models[str(outcome.role)]
        return headers

    def metadata(self, decision: MultiModelDecision, outcome: Outcome | None) -> dict[str, Any]:
        if outcome is None:
            return MultiModelPolicy.metadata(decision)
        error = outcome.failures[0] if outcome.failures else None
        meta = MultiModelPolicy.metadata(decision, str(outcome.role), error)
        meta["model_name"] = self.models[str(outcome.role)]
        return meta
