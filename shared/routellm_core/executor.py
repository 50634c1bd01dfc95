"""The one executor: runs a :class:`~routellm_core.decision.Decision` and labels the kept answer.

Front-ends give it ``call(attempt)`` (or ``start(attempt)`` for a stream), which calls the model
behind ``attempt.key``. It tries the decision's targets in order (fallback on the errors
:func:`~routellm_core.fallback.should_fall_back` accepts), runs a cascade's answer check and its
escalation, and for a streamed cascade buffers the weak answer until it is judged. Every result
comes with the decision's metadata (:data:`~routellm_core.decision.METADATA_FIELDS`).
"""

from __future__ import annotations

import asyncio
import inspect
import operator
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import reduce
from typing import Any, TypeVar

from .decision import AnswerCheck, Attempt, Decision
from .fallback import ErrorFilter, FallbackExecutor, should_fall_back

T = TypeVar("T")
Meta = dict[str, Any]


def merge_chunks(chunks: list[Any]) -> Any:
    """A streamed answer from its chunks (message and string chunks add up; else the last one)."""
    try:
        return reduce(operator.add, chunks)
    except TypeError:
        return chunks[-1]


async def _opened(started: Any) -> Any:
    """An async iterator from what ``start(attempt)`` returned (it may be a coroutine returning one)."""
    return await started if inspect.isawaitable(started) else started


@dataclass(frozen=True)
class AnswerReader:
    """How the executor reads a front-end's answers for the cascade's check."""

    text: Callable[[Any], str] = str
    has_tool_calls: Callable[[Any], bool] = lambda _answer: False
    merge: Callable[[list[Any]], Any] = merge_chunks


@dataclass(frozen=True)
class Executor:
    """Run decisions: fallback, the cascade's check and escalation, streaming; one loop for every kind.

    ``names`` maps a target key to the readable model name metadata reports; ``handles`` which
    errors fall back (default: the shared rule); ``reader`` how answers are read for a cascade.
    """

    names: Mapping[str, str] = field(default_factory=dict)
    handles: ErrorFilter = should_fall_back
    reader: AnswerReader = AnswerReader()
    noun: str = "model"  # what error notes call a target ("the strong LLM (gpt-4o) also failed")
    recorder: Any = None  # a FeedbackRecorder: every answered decision is remembered for feedback

    @property
    def _loop(self) -> FallbackExecutor:
        return FallbackExecutor(handles=self.handles, describe=lambda key: self._describe(key))

    def _describe(self, key: str) -> str:
        name = self.names.get(key)
        return f"{key} {self.noun} ({name})" if name and name != key else f"{self.noun} {key!r}"

    def _meta(self, decision: Decision, key: str, error: BaseException | None = None,
              check: AnswerCheck | None = None, calls: list[str] | None = None) -> Meta:
        meta = decision.metadata(key, self.names.get(key, key), error, check, calls)
        if self.recorder is not None:
            self.recorder.remember(decision.text, meta, self.names)
        return meta

    def _falls_back(self, decision: Decision, exc: Exception) -> bool:
        return decision.fallback and FallbackExecutor(handles=self.handles).handled(exc)

    @staticmethod
    def _checks(decision: Decision) -> bool:
        """Whether the first answer is judged: a cascade whose first target is the weak model."""
        return decision.check is not None and decision.escalate_to is not None and decision.role != decision.escalate_to

    def _judge(self, decision: Decision, answer: Any, empty: bool = False) -> AnswerCheck:
        text = "" if empty else self.reader.text(answer)
        tools = (not empty) and bool(self.reader.has_tool_calls(answer))
        return decision.check.check([decision.text], [text], [tools])[0]

    async def _ajudge(self, decision: Decision, answer: Any, empty: bool = False) -> AnswerCheck:
        return await asyncio.to_thread(self._judge, decision, answer, empty)

    # --- one answer ------------------------------------------------------------------------------
    def run(self, decision: Decision, call: Callable[[Attempt], T]) -> tuple[T, Meta]:
        """``call(attempt)`` on the decision's targets until one answers; returns it and its metadata."""
        result, outcome = self._loop.run(decision.attempts(), call)
        key = outcome.attempt.key
        if outcome.error is not None or not self._checks(decision):
            return result, self._meta(decision, key, outcome.error)
        check = self._judge(decision, result)
        if not check.escalate:
            return result, self._meta(decision, key, check=check)
        target = str(decision.escalate_to)
        try:
            better = call(Attempt(target, False))
        except Exception as exc:
            return self._kept(decision, result, check, exc)
        return better, self._meta(decision, target, check=check, calls=[key, target])

    async def arun(self, decision: Decision, call: Callable[[Attempt], Awaitable[T]]) -> tuple[T, Meta]:
        """:meth:`run` for coroutines (the cascade's scorer runs in a worker thread)."""
        result, outcome = await self._loop.arun(decision.attempts(), call)
        key = outcome.attempt.key
        if outcome.error is not None or not self._checks(decision):
            return result, self._meta(decision, key, outcome.error)
        check = await self._ajudge(decision, result)
        if not check.escalate:
            return result, self._meta(decision, key, check=check)
        target = str(decision.escalate_to)
        try:
            better = await call(Attempt(target, False))
        except Exception as exc:
            return self._kept(decision, result, check, exc)
        return better, self._meta(decision, target, check=check, calls=[key, target])

    def _kept(self, decision: Decision, first: Any, check: AnswerCheck, exc: Exception) -> tuple[Any, Meta]:
        """The escalation target failed: keep the first answer and record why (unless it may not fall back)."""
        if not self._falls_back(decision, exc):
            raise exc
        return first, self._meta(decision, decision.role, exc, check, [decision.role])

    # --- streams -----------------------------------------------------------------------------------
    def stream(self, decision: Decision, start: Callable[[Attempt], Iterator[T]]) -> Iterator[tuple[T, Meta]]:
        """Chunks with the answer's metadata; no fallback after a chunk has been yielded.

        A cascade's weak answer is read to its end (buffered) before anything is yielded, since the
        check needs the whole answer; then its chunks follow, or the escalation target's stream.
        """
        if not self._checks(decision):
            meta: Meta | None = None
            for chunk, outcome in self._loop.stream(decision.attempts(), start):
                meta = meta or self._meta(decision, outcome.attempt.key, outcome.error)
                yield chunk, meta
            return
        first = Attempt(decision.role, False)
        try:
            chunks = list(start(first))
        except Exception as exc:
            yield from self._stream_fallback(decision, start, exc)
            return
        check = self._judge(decision, self.reader.merge(chunks) if chunks else None, empty=not chunks)
        if not check.escalate:
            meta = self._meta(decision, first.key, check=check)
            yield from ((c, meta) for c in chunks)
            return
        target = Attempt(str(decision.escalate_to), False)
        upgraded: Any = None
        try:
            try:
                upgraded = iter(start(target))
                head = next(upgraded)
            except StopIteration:
                return
            except Exception as exc:
                _, meta = self._kept(decision, None, check, exc)
                yield from ((c, meta) for c in chunks)
                return
            meta = self._meta(decision, target.key, check=check, calls=[first.key, target.key])
            yield head, meta
            yield from ((c, meta) for c in upgraded)
        finally:
            close = getattr(upgraded, "close", None)
            if close is not None:
                close()

    def _stream_fallback(self, decision: Decision, start: Callable[[Attempt], Iterator[T]],
                         exc: Exception) -> Iterator[tuple[T, Meta]]:
        rest = decision.attempts()[1:]
        if not rest or not self._falls_back(decision, exc):
            raise exc
        meta = self._meta(decision, rest[0].key, exc)
        yield from ((c, meta) for c in start(rest[0]))

    async def astream(self, decision: Decision, start: Callable[[Attempt], Any]) -> AsyncGenerator[tuple[Any, Meta], None]:
        """:meth:`stream` for async streams (``start`` may return an async iterator or a coroutine of one)."""
        if not self._checks(decision):
            meta: Meta | None = None
            async for chunk, outcome in self._loop.astream(decision.attempts(), start):
                meta = meta or self._meta(decision, outcome.attempt.key, outcome.error)
                yield chunk, meta
            return
        first = Attempt(decision.role, False)
        try:
            chunks = [c async for c in await _opened(start(first))]
        except Exception as exc:
            rest = decision.attempts()[1:]
            if not rest or not self._falls_back(decision, exc):
                raise
            meta = self._meta(decision, rest[0].key, exc)
            async for c in await _opened(start(rest[0])):
                yield c, meta
            return
        check = await self._ajudge(decision, self.reader.merge(chunks) if chunks else None, empty=not chunks)
        if not check.escalate:
            meta = self._meta(decision, first.key, check=check)
            for c in chunks:
                yield c, meta
            return
        target = Attempt(str(decision.escalate_to), False)
        upgraded: Any = None
        try:
            try:
                upgraded = await _opened(start(target))
                head = await upgraded.__anext__()
            except StopAsyncIteration:
                return
            except Exception as exc:
                _, meta = self._kept(decision, None, check, exc)
                for c in chunks:
                    yield c, meta
                return
            meta = self._meta(decision, target.key, check=check, calls=[first.key, target.key])
            yield head, meta
            async for c in upgraded:
                yield c, meta
        finally:
            aclose = getattr(upgraded, "aclose", None)
            if aclose is not None:
                await aclose()
