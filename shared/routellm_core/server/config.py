"""The routing server's configuration: upstream endpoints per role, routers, aliases, limits.

Read from YAML, TOML or JSON and validated with pydantic. Secrets come from the environment
(``api_key_env: OPENAI_API_KEY``) and are kept as ``SecretStr``, so they never show in a repr or log.

    strong: {base_url: https://api.openai.com/v1, model: gpt-4o, api_key_env: OPENAI_API_KEY}
    weak:   {base_url: http://127.0.0.1:8000/v1, model: llama-3-8b}
    routers: {mf: mf}                              # key -> router name or checkpoint path
    aliases: {balanced: {router: mf, threshold: 0.116}}
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from ..routers.base import Role
from .caps import CapsConfig
from .errors import ConfigError

ROLES: tuple[Role, Role] = ("strong", "weak")
_KEY_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*$")


def _env_secret(var: str, where: str) -> SecretStr:
    value = os.environ.get(var)
    if not value:
        raise ValueError(f"environment variable {var} (named by {where}) is not set")
    return SecretStr(value)


class UpstreamConfig(BaseModel):
    """One OpenAI-compatible endpoint that answers for a role."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="e.g. https://api.openai.com/v1")
    model: str = Field(min_length=1, description="model name sent upstream")
    api_key: SecretStr | None = Field(None, description="prefer api_key_env; inline keys end up in files")
    api_key_env: str | None = Field(None, description="environment variable holding the key")
    timeout: float = Field(60.0, gt=0, description="seconds for a whole answer, or for a stream's first event "
                                                   "and each gap between events")
    connect_timeout: float = Field(5.0, gt=0)
    max_connections: int = Field(256, ge=1)
    keepalive_expiry: float = Field(4.0, ge=0, description="drop idle pooled connections sooner than the "
                                                          "upstream would (uvicorn closes them after 5 s)")
    headers: dict[str, str] = Field(default_factory=dict, description="extra non-secret headers sent upstream")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _key_from_env(self) -> UpstreamConfig:
        if self.api_key_env:
            if self.api_key is not None:
                raise ValueError("give api_key or api_key_env, not both")
            self.api_key = _env_secret(self.api_key_env, "api_key_env")
        return self


class RouterEntry(BaseModel):
    """A router to load: a registered name ("mf") or a checkpoint path, with constructor options."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    threshold: float | None = Field(None, description="default threshold, listed in /v1/models")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"source": value} if isinstance(value, str) else value

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, value: float | None) -> float | None:
        return None if value is None else _check_threshold(value)


class AliasConfig(BaseModel):
    """A model name clients may use instead of ``router-<router>-<threshold>``."""

    model_config = ConfigDict(extra="forbid")

    router: str
    threshold: float

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str):  # "router-mf-0.116"
            rest = value.removeprefix("router-")
            key, _, threshold = rest.rpartition("-")
            if not key or rest == value:
                raise ValueError(f"expected router-<router>-<threshold>, got {value!r}")
            return {"router": key, "threshold": threshold}
        return value

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, value: float) -> float:
        return _check_threshold(value)


def _check_threshold(value: float) -> float:
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {value}")
    return value


class CandidateConfig(UpstreamConfig):
    """A multi-model candidate: its endpoint, its price, and the router's model it stands for."""

    price: list[float] = Field(description="[input, output] USD per million tokens")
    output_tokens: int = Field(300, ge=0, description="expected answer length, for the cost estimate")
    router_model: str | None = Field(None, description="the router's model id (default: the candidate's name)")

    @field_validator("price", mode="before")
    @classmethod
    def _price(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [value.get("input"), value.get("output", value.get("input"))]
        return [value, value] if isinstance(value, (int, float)) else value


class RedisWindowConfig(BaseModel):
    """Where an online window lives (docs/guard.md): ``redis_url`` shares it among the replicas."""

    redis_url: str | None = Field(None, description="redis://host:port/db: one window shared by every replica "
                                                    "naming it (absent: this replica's own window)")
    redis_timeout: float = Field(0.5, gt=0)
    redis_retry_seconds: float = Field(5.0, ge=0)
    redis_key: str = Field("routellm:online", min_length=1, description="key prefix (the model name is added)")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"must be a redis://, rediss:// or unix:// URL, got {value!r}")
        return value


class MultiModelConfig(RedisWindowConfig):
    """Route among several priced upstreams (docs/multi-model.md); clients ask for model ``name``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("router-multi", min_length=1, description="model name that selects multi-model routing")
    router: str = Field(description="key of a router in routers (one trained on many models: mf)")
    threshold: float | None = Field(None, description="a pricier model is needed when P(it wins) >= threshold")
    top_fraction: float | None = Field(None, description="share of calls on the priciest model (calibrated)")
    budget_per_1k: float | None = Field(None, description="USD per 1,000 calls on calibration_prompts")
    online_window: int | None = Field(None, ge=20, description="with budget_per_1k: keep the spend of every "
                                      "online_window consecutive calls near the budget (docs/guard.md; one "
                                      "replica's calls, or with redis_url those of every replica sharing it)")
    calibration_prompts: list[str] = Field(default_factory=list)
    models: dict[str, CandidateConfig] = Field(min_length=2)

    @model_validator(mode="after")
    def _shared_window(self) -> MultiModelConfig:
        if self.redis_url is not None and self.online_window is None:
            raise ValueError("redis_url shares the online budget's window: give online_window (with budget_per_1k)")
        return self


class CascadeConfig(BaseModel):
    """Answer-aware routing under the model names ``cascade`` and ``cascade-<escalate threshold>``.

    The weak upstream answers first; the engine's answer scorer escalates to the strong upstream
    when P(inadequate) >= ``escalate_threshold``. With ``router`` (a key of ``routers``) and
    ``threshold`` the prompt is routed first and only weak-routed requests are cascaded.
    """

    model_config = ConfigDict(extra="forbid")

    scorer: str = Field("default", min_length=1, description="'default', 'features' or a scorer checkpoint path")
    escalate_threshold: float = Field(description="escalate iff P(inadequate) >= this")
    router: str | None = Field(None, description="prompt stage: a key of routers (none: every request cascades)")
    threshold: float | None = Field(None, description="the prompt stage's threshold")

    @field_validator("escalate_threshold", "threshold")
    @classmethod
    def _threshold(cls, value: float | None) -> float | None:
        return None if value is None else _check_threshold(value)

    @model_validator(mode="after")
    def _prompt_stage(self) -> CascadeConfig:
        if (self.router is None) != (self.threshold is None):
            raise ValueError("give both router and threshold for a prompt stage, or neither")
        return self


class FeedbackConfig(BaseModel):
    """``POST /v1/feedback`` stores scores for routed answers (docs/own-router.md)."""

    model_config = ConfigDict(extra="forbid")

    store: str = Field(min_length=1, description="a SQLite file, or a SQLAlchemy URL shared by replicas")
    explore: float = Field(0.0, ge=0.0, lt=0.5, description="share of strong/weak requests sent to the other model "
                                                           "at random, for unbiased feedback (billed as usual)")


class OnlineConfig(RedisWindowConfig):
    """A model name served by the online threshold (docs/guard.md): every ``online_window`` consecutive
    requests of one replica (with ``redis_url``: of all replicas sharing it) keep a strong share within
    ``strong_fraction`` +- 0.05."""

    model_config = ConfigDict(extra="forbid")

    router: str = Field(description="key of a router in routers")
    strong_fraction: float = Field(ge=0, le=1, description="the strong share to keep")
    online_window: int = Field(300, ge=20, description="decisions per window")
    calibration_prompts: list[str] = Field(min_length=1, description="prompts for the starting threshold")


class ServerConfig(BaseModel):
    """Everything ``create_app`` needs."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(6060, ge=0, le=65535)
    strong: UpstreamConfig | None = Field(None, description="required unless multi_model lists every upstream")
    weak: UpstreamConfig | None = Field(None, description="required unless multi_model lists every upstream")
    routers: dict[str, RouterEntry] = Field(min_length=1)
    aliases: dict[str, AliasConfig] = Field(default_factory=dict)
    fallback: bool = Field(True, description="when the chosen role fails, ask the other one")
    api_keys: list[SecretStr] = Field(default_factory=list, description="bearer keys clients must send")
    api_keys_env: str | None = Field(None, description="environment variable with comma-separated client keys")
    max_body_bytes: int = Field(1_048_576, ge=1024)
    max_batch: int = Field(32, ge=1, le=1024, description="prompts scored together by one router call")
    routing_timeout: float = Field(30.0, gt=0, description="seconds a request may wait for its routing decision "
                                                           "(queue included) before a 503")
    max_queue: int = Field(1024, ge=1, description="routing decisions that may wait at once; past it a request gets "
                                                 "a 503 with Retry-After at once (docs/performance.md, queueing)")
    scoring_workers: int | None = Field(None, ge=1, description="threads that encode prompts in parallel (default: "
                                        "the machine's cores; MiniLM routers only, others score one batch at a time)")
    decision_cache: int = Field(0, ge=0, description="exact-text decision cache: N prompts per router, least recently "
                                                     "used evicted (0: off); same probabilities, hit rate in /metrics")
    warmup: bool = Field(True, description="score one prompt at startup so the first request is not slow")
    embedding_disk_cache: bool = Field(False, description="let routers use the MiniLM embedder's disk cache "
                                                         "(off: the server keeps prompt vectors in memory only)")
    torch_threads: int | None = Field(None, ge=1, description="intra-op threads for router models when run by "
                                     "`serve` (default: cores - 1, at least 1, leaving a core to the event loop)")
    metrics_auth: bool = Field(False, description="require the client key for /metrics too")
    multi_model: MultiModelConfig | None = Field(None, description="routing among several priced models")
    cascade: CascadeConfig | None = Field(None, description="serve the model names cascade / cascade-<t>")
    feedback: FeedbackConfig | None = Field(None, description="accept POST /v1/feedback and store it")
    online: dict[str, OnlineConfig] = Field(default_factory=dict, description="model name -> online threshold")
    caps: CapsConfig | None = Field(None, description="spend caps per client key and window (server/caps.py)")
    reroute_guard: bool = Field(False, description="route strong/weak requests with the reroute guard (docs/guard.md)")

    @model_validator(mode="before")
    @classmethod
    def _router_list(cls, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("routers"), list):  # routers: [mf, sw_ranking]
            value = {**value, "routers": {str(name): str(name) for name in value["routers"]}}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ServerConfig:
        for key in self.routers:
            if not _KEY_RE.match(key):
                raise ValueError(f"router key {key!r} may hold only letters, digits, '_', '.', '-'")
        for name, alias in self.aliases.items():
            if alias.router not in self.routers:
                raise ValueError(f"alias {name!r} names router {alias.router!r}, which is not in routers "
                                 f"({', '.join(self.routers)})")
            if name.startswith("router-"):
                raise ValueError(f"alias {name!r} must not start with 'router-'")
        if (self.strong is None) != (self.weak is None):
            raise ValueError(f"give both strong and weak upstreams, or neither (missing: "
                             f"{'strong' if self.strong is None else 'weak'})")
        if not self.has_pair:
            if self.multi_model is None:
                raise ValueError("strong and weak upstreams are required (or a multi_model section that lists "
                                 "the models)")
            needs_pair = [name for name, given in (("aliases", self.aliases), ("cascade", self.cascade)) if given]
            if needs_pair:
                raise ValueError(f"{' and '.join(needs_pair)} route between strong and weak: add both upstreams")
        if self.multi_model is not None and self.multi_model.router not in self.routers:
            raise ValueError(f"multi_model.router {self.multi_model.router!r} is not in routers ({', '.join(self.routers)})")
        if self.cascade is not None and self.cascade.router is not None and self.cascade.router not in self.routers:
            raise ValueError(f"cascade.router {self.cascade.router!r} is not in routers ({', '.join(self.routers)})")
        for name, online in self.online.items():
            if online.router not in self.routers:
                raise ValueError(f"online model {name!r} names router {online.router!r}, which is not in routers "
                                 f"({', '.join(self.routers)})")
            if not self.has_pair:
                raise ValueError(f"online model {name!r} routes between strong and weak: add both upstreams")
        if self.api_keys_env:
            raw = _env_secret(self.api_keys_env, "api_keys_env").get_secret_value()
            self.api_keys = self.api_keys + [SecretStr(k.strip()) for k in raw.split(",") if k.strip()]
        return self

    @property
    def has_pair(self) -> bool:
        """Whether strong and weak upstreams are configured (a multi-model-only server has none)."""
        return self.strong is not None and self.weak is not None

    def upstream(self, role: Role) -> UpstreamConfig:
        chosen = self.strong if role == "strong" else self.weak
        if chosen is None:
            raise ConfigError(f"no {role} upstream is configured")
        return chosen


def parse_config_text(text: str, fmt: str, where: str = "config") -> dict[str, Any]:
    """Parse YAML, TOML or JSON text into a dict (one-line ConfigError on a syntax error)."""
    try:
        if fmt == "toml":
            data: Any = tomllib.loads(text)
        elif fmt == "json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml/toml/json each raise their own error types
        detail = " ".join(str(exc).split())
        raise ConfigError(f"{where} is not valid {fmt.upper()}: {detail}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must hold a mapping at top level, got {type(data).__name__}")
    return data


def build_config(data: dict[str, Any], where: str = "config", base_dir: Path | None = None) -> ServerConfig:
    """Validate a config mapping; relative checkpoint paths are taken relative to ``base_dir``."""
    try:
        config = ServerConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{loc}: {msg}")
        more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        raise ConfigError(f"{where}: " + "; ".join(problems) + more) from None
    if base_dir is not None:
        from ..routers.registry import router_names

        for spec in config.routers.values():
            candidate = base_dir / spec.source
            if spec.source not in router_names() and not Path(spec.source).is_absolute() and candidate.exists():
                spec.source = str(candidate.resolve())
    return config


def load_config(path: str | os.PathLike[str]) -> ServerConfig:
    """Read and validate a config file (.yaml/.yml, .toml or .json)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    suffix = path.suffix.lower()
    fmt = {".toml": "toml", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(suffix)
    if fmt is None:
        raise ConfigError(f"config file {path} must end in .yaml, .yml, .toml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    return build_config(parse_config_text(text, fmt, str(path)), str(path), path.parent)
