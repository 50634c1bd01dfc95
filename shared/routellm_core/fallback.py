"""One fallback executor: try the routed model, and on a provider failure let the other one answer.

Every front-end runs its model calls through :class:`FallbackExecutor` (sync, async, streams).
Only failures of the *provider* trigger a fallback: HTTP errors, timeouts, refused connections,
an SDK's API errors. Programming errors (``TypeError``, ``ValueError``, ``KeyError``...) are bugs
or bad input that the other model would hit too, so they propagate at once. A stream falls back
only before its first chunk: after that the answer is committed to its model.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from .policy import Attempt

T = TypeVar("T")
ErrorFilter = Callable[[BaseException], bool] | tuple[type[BaseException], ...]

# Exception class names that SDKs use for provider failures (openai, anthropic, httpx, requests,
# aiohttp, google-api-core...): matched by name so no SDK has to be imported to recognise its errors.
_PROVIDER_ERROR_NAMES = {
    "APIError", "APIStatusError", "APIConnectionError", "APITimeoutError", "APIResponseValidationError",
    "RateLimitError", "InternalServerError", "ServiceUnavailableError", "BadGatewayError", "OverloadedError",
    "AuthenticationError", "PermissionDeniedError", "NotFoundError", "HTTPError", "HTTPStatusError",
    "RequestError", "TransportError", "TimeoutException", "ConnectError", "ReadTimeout", "ConnectTimeout",
    "ClientError", "ServerError", "ClientResponseError", "ClientConnectionError", "GoogleAPICallError",
    "UpstreamFailure",
}
_PROGRAMMING_ERRORS = (TypeError, AttributeError, NameError, KeyError, IndexError, AssertionError,
                       NotImplementedError, RecursionError, ImportError, SyntaxError)


def is_provider_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a model provider's failure (worth trying the other model), not a bug.

    True for timeouts and connection errors, ``httpx`` errors, and SDK errors such as
    ``openai.APIError`` (recognised by class name, or by an HTTP ``status_code`` attribute).
    """
    if not isinstance(exc, Exception) or isinstance(exc, _PROGRAMMING_ERRORS):
        return False
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    if any(cls.__name__ in _PROVIDER_ERROR_NAMES for cls in type(exc).__mro__):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and not isinstance(exc, ValueError)


class Outcome(NamedTuple):
    """Which attempt answered, and the error of the routed model when it was a fallback."""

    attempt: Attempt
    error: BaseException | None


@dataclass(frozen=True)
class FallbackExecutor:
    """Run a call on each attempt in turn until one succeeds.

    ``handles`` says which errors move on to the next attempt (a predicate or exception classes;
    default :func:`is_provider_error`); any other error is raised at once. When every attempt
    fails, the first error is raised with a note per later failure (``describe(role)`` names it).
    """

    handles: ErrorFilter = is_provider_error
    describe: Callable[[str], str] = lambda role: f"{role} model"

    def handled(self, exc: BaseException) -> bool:
        if isinstance(self.handles, tuple):
            return isinstance(exc, self.handles)
        return bool(self.handles(exc))

    def _failed(self, errors: list[tuple[Attempt, BaseException]]) -> BaseException:
        first = errors[0][1]
        for attempt, exc in errors[1:]:
            first.add_note(f"RouteLLM fallback to the {self.describe(attempt.role)} also failed: "
                           f"{type(exc).__name__}: {exc}")
        return first

    def _record(self, errors: list[tuple[Attempt, BaseException]], attempt: Attempt, exc: Exception,
                last: bool) -> None:
        """Note a failure; raise it if it may not fall back (or was the last chance)."""
        if not self.handled(exc):
            if errors:
                exc.add_note(f"RouteLLM: the routed model had failed first: {type(errors[0][1]).__name__}: "
                             f"{errors[0][1]}")
            raise exc
        errors.append((attempt, exc))
        if last:
            raise self._failed(errors) from None

    def run(self, attempts: Sequence[Attempt], call: Callable[[Attempt], T]) -> tuple[T, Outcome]:
        """``call(attempt)`` until one succeeds; returns its result and who answered."""
        errors: list[tuple[Attempt, BaseException]] = []
        for i, attempt in enumerate(attempts):
            try:
                result = call(attempt)
            except Exception as exc:  # noqa: BLE001 -- filtered by ``handles`` in _record
                self._record(errors, attempt, exc, i == len(attempts) - 1)
                continue
            return result, Outcome(attempt, errors[0][1] if errors else None)
        raise RuntimeError("no attempts to run")

    async def arun(self, attempts: Sequence[Attempt], call: Callable[[Attempt], Awaitable[T]]) -> tuple[T, Outcome]:
        """:meth:`run` for coroutines."""
        errors: list[tuple[Attempt, BaseException]] = []
        for i, attempt in enumerate(attempts):
            try:
                result = await call(attempt)
            except Exception as exc:  # noqa: BLE001
                self._record(errors, attempt, exc, i == len(attempts) - 1)
                continue
            return result, Outcome(attempt, errors[0][1] if errors else None)
        raise RuntimeError("no attempts to run")

    def stream(self, attempts: Sequence[Attempt], start: Callable[[Attempt], Iterator[T]]) -> Iterator[tuple[T, Outcome]]:
        """Chunks of the first attempt that yields one, each with its outcome; no fallback after a chunk."""
        errors: list[tuple[Attempt, BaseException]] = []
        for i, attempt in enumerate(attempts):
            chunks: Iterator[T] | None = None
            try:
                try:
                    chunks = iter(start(attempt))
                    first = next(chunks)
                except StopIteration:
                    return
                except Exception as exc:  # noqa: BLE001 -- nothing streamed yet: the other model may answer
                    self._record(errors, attempt, exc, i == len(attempts) - 1)
                    continue
                outcome = Outcome(attempt, errors[0][1] if errors else None)
                yield first, outcome
                for chunk in chunks:
                    yield chunk, outcome
                return
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()

    async def astream(self, attempts: Sequence[Attempt],
                      start: Callable[[Attempt], AsyncIterator[T] | Awaitable[AsyncIterator[T]]],
                      ) -> AsyncIterator[tuple[T, Outcome]]:
        """:meth:`stream` for async iterators (``start`` may also be a coroutine returning one)."""
        errors: list[tuple[Attempt, BaseException]] = []
        for i, attempt in enumerate(attempts):
            chunks: Any = None
            try:
                try:
                    chunks = start(attempt)
                    if inspect.isawaitable(chunks):
                        chunks = await chunks
                    first = await chunks.__anext__()
                except StopAsyncIteration:
                    return
                except Exception as exc:  # noqa: BLE001
                    self._record(errors, attempt, exc, i == len(attempts) - 1)
                    continue
                outcome = Outcome(attempt, errors[0][1] if errors else None)
                yield first, outcome
                async for chunk in chunks:
                    yield chunk, outcome
                return
            finally:
                aclose = getattr(chunks, "aclose", None)
                if aclose is not None:
                    await aclose()
