"""Loopback stub models for the labeller: a strong, a weak and a judge server (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import re

import pytest


def answer_owner(text: str) -> str:
    """Which stub wrote an answer: the stubs sign their answers."""
    return "strong" if "STRONG" in text else "weak"


def judge_responder(bias: str | None = None):
    """A judge that prefers the strong answer on prompts with 'hard', calls 'tie' prompts a tie, prefers the
    weak answer on 'chat' prompts; ``bias="first"`` makes it always prefer whichever answer is shown first."""

    def respond(body):
        user = body["messages"][-1]["content"]
        if "[The Start of Reference Answer]" in user:
            answer = user.split("[The Start of Assistant's Answer]")[1]
            return "Compared with the reference.\nRating: [[9]]" if answer_owner(answer) == "strong" else "Rating: [[3]]"
        prompt = user.split("<|User Prompt|>\n")[1].split("\n\n<|The Start")[0]
        first = answer_owner(user.split("<|The Start of Assistant A's Answer|>")[1].split("<|The End")[0])
        if bias == "first":
            return "A is better. [[A>B]]"
        if "tie" in prompt:
            return "Both fine. My final verdict is tie: [[A=B]]"
        better = "strong" if "hard" in prompt else "weak"
        return "Verdict: [[A>>B]]" if first == better else "Verdict: [[B>>A]]"

    return respond


@pytest.fixture
def stubs():
    from routellm_core.testing import OpenAIStubServer

    strong = OpenAIStubServer(model="strong-model", responder=lambda b: "STRONG answer: " + b["messages"][-1]["content"])
    weak = OpenAIStubServer(model="weak-model", responder=lambda b: "weak answer: " + b["messages"][-1]["content"])
    judge = OpenAIStubServer(model="judge-model", responder=judge_responder())
    with strong, weak, judge:
        yield strong, weak, judge


def spec(server) -> str:
    return f"{server.model}@{server.base_url}"


def verdict_count(server) -> int:
    return sum(bool(re.search(r"<\|User Prompt\|>", r["messages"][-1]["content"])) for r in server.requests)
