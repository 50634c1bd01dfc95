"""OpenAI's JSON error shape, so every OpenAI client shows our errors as it shows OpenAI's.

``{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}`` with the matching status.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInputError

# OpenAI's error types by HTTP status.
_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
          405: "invalid_request_error", 413: "invalid_request_error", 415: "invalid_request_error",
          429: "rate_limit_exceeded", 502: "upstream_error", 504: "upstream_timeout"}


class ConfigError(InvalidInputError):
    """The server configuration file is missing, malformed or names something that does not exist."""


class APIError(Exception):
    """An HTTP error answered in OpenAI's JSON error shape."""

    def __init__(self, status: int, message: str, *, type: str | None = None, param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)
