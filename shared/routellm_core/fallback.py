"""The fallback loop and its one rule: try each target in order until one answers.

:class:`FallbackExecutor` is the loop (sync, async, streams) inside the decision layer's
:class:`~routellm_core.executor.Executor`, which every front-end runs its model calls through.
Which failures fall back is one rule, :func:`should_fall_back`, shared with the server: timeouts,
connection errors, 429 and 5xx do; a 400 saying the prompt exceeds the context does (the other
model may have a longer one); every other 4xx, and programming errors (``TypeError``,
``KeyError``...), go back to the caller at once: the other model would hit them too. A stream falls back
only before its first chunk: after that the answer is committed to its model.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from .decision import Attempt

T = TypeVar("T")
ErrorFilter = Callable[[BaseException], bool] | tuple[type[BaseException], ...]

# Exception class names that SDKs use for transport and overload failures (openai, anthropic, httpx,
# requests, aiohttp...): matched by name so no SDK has to be imported to recognise its errors. An
# error that carries an HTTP status is judged by that status instead (:func:`status_falls_back`).
_TRANSPORT_ERROR_NAMES = {
    "APIConnectionError", "APITimeoutError", "APIResponseValidationError", "RateLimitError", "InternalServerError",
    "ServiceUnavailableError", "BadGatewayError", "OverloadedError", "RequestError", "TransportError",
    "TimeoutException", "ConnectError", "ReadTimeout", "ConnectTimeout", "ClientConnectionError",
    "ServerDisconnectedError", "UpstreamFailure",
}
_PROGRAMMING_ERRORS = (TypeError, AttributeError, NameError, KeyError, IndexError, AssertionError,
                       NotImplementedError, RecursionError, ImportError, SyntaxError)
# How providers say that a prompt is longer than the model's context (OpenAI, Anthropic, vLLM, llama.cpp...).
_CONTEXT_LENGTH_MARKERS = ("context_length_exceeded", "maximum context length", "context length", "context window",
                           "too many tokens", "prompt is too long", "string_above_max_length", "exceeds the context")


def is_context_length_error(message: str) -> bool:
    """Whether an error text says the prompt does not fit the model's context."""
    low = message.lower()
    return any(marker in low for marker in _CONTEXT_LENGTH_MARKERS)


def status_falls_back(status: int, message: str = "") -> bool:
    """The one rule for an HTTP error status, used by the libraries and the server alike.

    429, 408 and 5xx fall back (the other model may be up); a 400/413 that says the prompt is too
    long for the context falls back (the other model may have a longer one); every other 4xx is
    the caller's problem and goes back to the caller (the other model would reject it too).
    """
    if status in (408, 429) or status >= 500:
        return True
    if status in (400, 413):
        return is_context_length_error(message)
    return False


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an SDK error carries (``status_code``, ``response.status_code`` or ``status``)."""
    for value in (getattr(exc, "status_code", None), getattr(getattr(exc, "response", None), "status_code", None),
                  getattr(exc, "status", None)):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    return f"{exc} {getattr(exc, 'code', '') or ''} {body if body is not None else ''}"


def should_fall_back(exc: BaseException) -> bool:
    """Whether a failed model call should be retried on the other model (see :func:`status_falls_back`).

    Timeouts, refused or dropped connections and overload errors fall back; an error with an HTTP
    status follows the status rule; programming errors (``TypeError``, ``KeyError``...) never do.
    """
    if not isinstance(exc, Exception) or isinstance(exc, _PROGRAMMING_ERRORS):
        return False
    status = http_status(exc)
    if status is not None:
        return status_falls_back(status, _message(exc))
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    return any(cls.__name__ in _TRANSPORT_ERROR_NAMES for cls in type(exc).__mro__)


# The name front-ends and tests used before the rule was shared with the server.
is_provider_error = should_fall_back


class Answered(NamedTuple):
    """Which attempt answered, and the error of the routed model when it was a fallback."""

    attempt: Attempt
    error: BaseException | None


@dataclass(frozen=True)
class FallbackExecutor:
    """Run a call on each attempt in turn until one succeeds.

    ``handles`` says which errors move on to the next attempt (a predicate or exception classes;
    default :func:`should_fall_back`); any other error is raised at once. When every attempt
    fails, the first error is raised with a note per later failure (``describe(role)`` names it).
    """

    handles: ErrorFilter = should_fall_back
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

    def run(self, attempts: Sequence[Attempt], call: Callable[[Attempt], T]) -> tuple[T, Answered]:
        """``call(attempt)`` until one succeeds; returns its result and who answered."""
        errors: list[tuple[Attempt, BaseException]] = []
        for i, attempt in enumerate(attempts):
            try:
                result = call(attempt)
            except Exception as exc:  # noqa: BLE001 -- filtered by ``handles`` in _record
                self._record(errors, attempt, exc, i == len(attempts) - 1)
                continue
            return result, Answered(attempt, errors[0][1] if errors else None)
        raise RuntimeError("no attempts to run")

    async def arun(self, attempts: Sequence[Attempt], call: Callable[[Attempt], Awaitable[T]]) -> tuple[T, Answered]:
        """:meth:`run` for coroutines."""
        errors: list[tuple[Attempt, BaseException]] = []
        for i, attempt in enumerate(attempts):
            try:
                result = await call(attempt)
            except Exception as exc:  # noqa: BLE001
                self._record(errors, attempt, exc, i == len(attempts) - 1)
                continue
            return result, Answered(attempt, errors[0][1] if errors else None)
        raise RuntimeError("no attempts to run")

    def stream(self, attempts: Sequence[Attempt], start: Callable[[Attempt], Iterator[T]]) -> Iterator[tuple[T, Answered]]:
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
                outcome = Answered(attempt, errors[0][1] if errors else None)
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
                      ) -> AsyncIterator[tuple[T, Answered]]:
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
                outcome = Answered(attempt, errors[0][1] if errors else None)
                yield first, outcome
                async for chunk in chunks:
                    yield chunk, outcome
                return
            finally:
                aclose = getattr(chunks, "aclose", None)
                if aclose is not None:
                    await aclose()
