"""The relay's SSE reader: events of one upstream read come out as one chunk, split events are joined."""

from __future__ import annotations

import asyncio
import json

import httpx

from routellm_core.server.answers import merge_events
from routellm_core.server.upstream import sse_events


class _Reads(httpx.AsyncByteStream):
    """The upstream's body as the network delivered it: one bytes object per read."""

    def __init__(self, reads: list[bytes]) -> None:
        self.reads = reads

    async def __aiter__(self):
        for chunk in self.reads:
            yield chunk


def _chunks(reads: list[bytes]) -> list[bytes]:
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_Reads(reads))

    async def collect() -> list[bytes]:
        return [chunk async for chunk in sse_events(response)]

    return asyncio.run(collect())


def _event(text: str) -> bytes:
    return f"data: {json.dumps({'choices': [{'delta': {'content': text}}]})}\n\n".encode()


def test_events_of_one_read_are_one_chunk():
    burst = b"".join(_event(w) for w in ("one", " two", " three")) + b"data: [DONE]\n\n"
    chunks = _chunks([burst])
    assert len(chunks) == 1
    assert merge_events(chunks)["choices"][0]["message"]["content"] == "one two three"
    assert chunks[0].endswith(b"data: [DONE]\n\n")


def test_an_event_split_across_reads_waits_for_its_end():
    whole = _event("hello") + _event(" world")
    cut = len(_event("hello")) + 7  # in the middle of the second event
    chunks = _chunks([whole[:cut], whole[cut:]])
    assert chunks == [_event("hello"), _event(" world")]


def test_crlf_comments_and_named_events_are_normalised():
    body = b": keep-alive\r\n\r\nevent: ping\r\ndata: {}\r\n\r\ndata: a\r\ndata: b\r\n\r\n"
    chunks = _chunks([body[:5], body[5:]])
    assert b"".join(chunks) == b"event: ping\ndata: {}\n\ndata: a\ndata: b\n\n"


def test_an_unterminated_last_event_is_dropped_as_the_sse_spec_says():
    assert _chunks([_event("kept"), b"data: cut off"]) == [_event("kept")]
