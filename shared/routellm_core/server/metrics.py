"""Prometheus metrics, in a registry of each app's own (two apps in one process never collide)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """Counters and histograms the server updates; ``render()`` is the /metrics body."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter("routellm_http_requests", "HTTP requests by endpoint and status",
                                     ["endpoint", "status"], registry=r)
        self.routed = Counter("routellm_routed_requests", "Chat requests by router and the role it chose",
                              ["router", "role"], registry=r)
        self.answered = Counter("routellm_answered_requests", "Chat completions answered, by the role that answered",
                                ["role", "stream"], registry=r)
        self.routing_latency = Histogram("routellm_routing_latency_seconds",
                                         "Time to decide a route (queueing + router scoring)", ["router"],
                                         buckets=_LATENCY_BUCKETS, registry=r)
        self.upstream_latency = Histogram("routellm_upstream_latency_seconds",
                                          "Upstream time to a full answer or a stream's first event", ["role"],
                                          buckets=_LATENCY_BUCKETS, registry=r)
        self.upstream_errors = Counter("routellm_upstream_errors", "Upstream failures by role and kind",
                                       ["role", "kind"], registry=r)
        self.fallbacks = Counter("routellm_fallbacks", "Requests answered by the other role after a failure",
                                 ["from_role", "to_role"], registry=r)
        self.feedback = Counter("routellm_feedback", "Feedback scores stored, by the role that had answered",
                                ["role"], registry=r)
        self.reroute_flagged = Counter("routellm_reroute_flagged", "Requests whose leading or trailing text the "
                                       "reroute guard found raising P(strong wins), by router and the part that did",
                                       ["router", "part"], registry=r)
        self.caps_calls = Counter("routellm_caps_strong_calls", "Strong decisions by what the spend cap did "
                                  "(ok, weak: rerouted, 429)", ["result"], registry=r)
        self.caps_redis_fallbacks = Counter("routellm_caps_redis_fallbacks", "Times the spend caps lost Redis and "
                                            "fell back to this replica's local counters (warning)", registry=r)
        self.caps_redis_up = Gauge("routellm_caps_redis_up", "1 while the spend caps count in Redis", registry=r)
        self.online_redis_fallbacks = Counter("routellm_online_redis_fallbacks", "Times an online window (threshold "
                                              "or budget) lost Redis and decided on this replica's own window",
                                              ["model"], registry=r)
        self.online_redis_up = Gauge("routellm_online_redis_up", "1 while an online window (threshold or budget) "
                                     "is shared in Redis", ["model"], registry=r)
        self.in_flight = Gauge("routellm_in_flight_requests", "Chat completions being answered now", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
