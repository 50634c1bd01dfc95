"""FallbackExecutor: provider failures fall back, programming errors do not, streams only before a chunk."""

from __future__ import annotations

import httpx
import pytest

from routellm_core import Attempt, FallbackExecutor, InvalidInputError, is_provider_error

BOTH = [Attempt("strong", False), Attempt("weak", True)]


def _provider_error(role: str) -> Exception:
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    return httpx.HTTPStatusError(f"{role} failed", request=request, response=httpx.Response(500, request=request))


def test_which_errors_are_provider_errors():
    import openai

    request = httpx.Request("POST", "http://127.0.0.1:9")
    assert is_provider_error(TimeoutError()) and is_provider_error(ConnectionRefusedError())
    assert is_provider_error(httpx.ConnectError("refused")) and is_provider_error(_provider_error("x"))
    assert is_provider_error(openai.APIConnectionError(request=request))
    assert is_provider_error(openai.InternalServerError("500", response=httpx.Response(500, request=request), body=None))
    for bug in (TypeError("x"), ValueError("x"), KeyError("x"), InvalidInputError("x"), AttributeError("x")):
        assert not is_provider_error(bug)


def test_run_falls_back_on_provider_errors():
    calls = []

    def call(attempt):
        calls.append(attempt.role)
        if attempt.role == "strong":
            raise _provider_error("strong")
        return "weak answer"

    result, outcome = FallbackExecutor().run(BOTH, call)
    assert result == "weak answer" and calls == ["strong", "weak"]
    assert outcome.attempt == Attempt("weak", True) and "strong failed" in str(outcome.error)


def test_programming_errors_propagate_at_once():
    calls = []

    def call(attempt):
        calls.append(attempt.role)
        raise TypeError("bad argument")

    with pytest.raises(TypeError, match="bad argument"):
        FallbackExecutor().run(BOTH, call)
    assert calls == ["strong"]
    # ... unless the caller asks for them
    result, _ = FallbackExecutor(handles=(TypeError,)).run(BOTH, lambda a: 1 if a.fallback else call(a))
    assert result == 1


def test_both_failing_raises_the_first_error_with_a_note():
    def call(attempt):
        raise _provider_error(attempt.role)

    with pytest.raises(httpx.HTTPStatusError, match="strong failed") as info:
        FallbackExecutor(describe=lambda role: f"{role} LLM").run(BOTH, call)
    assert any("fallback to the weak LLM also failed" in n and "weak failed" in n for n in info.value.__notes__)


def test_single_attempt_raises_its_error():
    with pytest.raises(httpx.HTTPStatusError):
        FallbackExecutor().run(BOTH[:1], lambda a: (_ for _ in ()).throw(_provider_error("strong")))


async def test_arun():
    async def call(attempt):
        if attempt.role == "strong":
            raise TimeoutError("slow")
        return attempt.role

    result, outcome = await FallbackExecutor().arun(BOTH, call)
    assert result == "weak" and outcome.attempt.fallback and isinstance(outcome.error, TimeoutError)


def _chunks(role: str, fail_at: int | None):
    for i in range(3):
        if i == fail_at:
            raise _provider_error(role)
        yield f"{role}-{i}"


def test_stream_falls_back_only_before_the_first_chunk():
    out = list(FallbackExecutor().stream(BOTH, lambda a: _chunks(a.role, 0 if a.role == "strong" else None)))
    assert [c for c, _ in out] == ["weak-0", "weak-1", "weak-2"] and all(o.attempt.fallback for _, o in out)
    received = []
    with pytest.raises(httpx.HTTPStatusError):
        for chunk, _ in FallbackExecutor().stream(BOTH, lambda a: _chunks(a.role, 1)):
            received.append(chunk)
    assert received == ["strong-0"]  # committed to the strong model after its first chunk


async def test_astream_with_a_coroutine_start():
    async def chunks(role, fail):
        if fail:
            raise _provider_error(role)
        for i in range(2):
            yield f"{role}-{i}"

    async def start(attempt):  # LlamaIndex's astream_* are coroutines returning generators
        return chunks(attempt.role, attempt.role == "strong")

    out = [c async for c, _ in FallbackExecutor().astream(BOTH, start)]
    assert out == ["weak-0", "weak-1"]
