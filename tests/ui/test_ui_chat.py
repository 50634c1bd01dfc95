"""Chat tab offline: ChatRouteLLM picks a model per turn and the recorded answer of that model comes back."""

from __future__ import annotations

import json

from ui_helpers import errors, metrics, no_traceback, open_tab, set_threshold

from langchain_routellm import load_gsm8k
from routellm_core import STRONG_MODEL, WEAK_MODEL, load_router


def arena_answers(data_dir, model: str) -> dict[str, str]:
    """Prompt -> answer straight from the data files (independent of the app's loader)."""
    questions = {}
    for line in (data_dir / "arena_hard" / "question.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        questions[row["question_id"]] = row["prompt"]
    answers = {}
    for line in (data_dir / "arena_hard" / "answers" / f"{model}.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        answers[questions[row["question_id"]]] = row["answer"]
    return answers


def test_two_turns_offline(make_app, data_dir):
    at = set_threshold(make_app("random", tab="Chat"), 0.5)
    no_traceback(at)
    assert "Offline" in " ".join(c.value for c in at.caption)
    gsm8k = load_gsm8k(data_dir)[3]
    arena = arena_answers(data_dir, STRONG_MODEL)
    arena_prompt = next(iter(arena))
    expected = {arena_prompt: {STRONG_MODEL: arena[arena_prompt],
                               WEAK_MODEL: arena_answers(data_dir, WEAK_MODEL)[arena_prompt]},
                gsm8k.prompt: gsm8k.answers}
    # turn 1: picked from the recorded prompts; turn 2: typed into the chat box
    at.selectbox(key="chat_pick").set_value(0).run()
    at.button(key="chat_send").click().run()
    at.chat_input(key="chat_input").set_value(gsm8k.prompt).run()
    no_traceback(at)
    assert errors(at) == []
    router = load_router("random")
    roles = []
    replies = [m for m in at.chat_message if m.name == "assistant"]
    assert len(replies) == 2
    for reply, prompt in zip(replies, expected):
        decision = router.route(prompt, 0.5)
        model = STRONG_MODEL if decision.role == "strong" else WEAK_MODEL
        assert reply.markdown[0].value == expected[prompt][model]
        assert f"Answered by **{model}** ({decision.role})" in reply.caption[0].value
        roles.append(decision.role)
    shown = metrics(at)
    assert shown["Turns"] == "2"
    spent, strong = (float(shown[k].lstrip("$")) for k in ("Cost so far", "All-strong cost"))
    assert 0 < spent <= strong
    assert (spent == strong) == (roles == ["strong", "strong"])


def test_threshold_zero_sends_every_turn_to_the_strong_model(make_app, data_dir):
    at = set_threshold(make_app("random", tab="Chat"), 0.0)
    item = load_gsm8k(data_dir)[10]
    at.chat_input(key="chat_input").set_value(item.prompt).run()
    no_traceback(at)
    reply = [m for m in at.chat_message if m.name == "assistant"][0]
    assert reply.markdown[0].value == item.answers[STRONG_MODEL]
    assert metrics(at)["Cost so far"] == metrics(at)["All-strong cost"]


def test_an_unknown_prompt_offline_is_a_clear_message(make_app):
    at = make_app("random", tab="Chat")
    at.chat_input(key="chat_input").set_value("hello, who are you?").run()
    no_traceback(at)
    assert len(errors(at)) == 1 and "has no recorded answer for this prompt" in errors(at)[0]
    assert not [m for m in at.chat_message if m.name == "assistant"]


def test_with_an_api_key_the_chat_calls_real_models(make_app, monkeypatch):
    """An OpenAI-compatible server on loopback stands in for the API; the routed model's name reaches it."""
    from routellm_core.testing import OpenAIStubServer

    with OpenAIStubServer(responder=lambda body: f"Answer from {body['model']}") as server:
        at = make_app("random", tab="Route")
        for name, value in (("OPENAI_API_KEY", "sk-test"), ("OPENAI_BASE_URL", server.base_url),
                            ("ROUTELLM_STRONG_MODEL", "big-model"), ("ROUTELLM_WEAK_MODEL", "small-model")):
            monkeypatch.setenv(name, value)
        at = open_tab(at, "Chat")
        assert "Live: routing between big-model (strong) and small-model (weak)" in " ".join(c.value for c in at.caption)
        set_threshold(at, 0.0)
        at.chat_input(key="chat_input").set_value("Hello there").run()
        set_threshold(at, 1.0)
        at.chat_input(key="chat_input").set_value("And again").run()
        no_traceback(at)
        replies = [m.markdown[0].value for m in at.chat_message if m.name == "assistant"]
        assert replies == ["Answer from big-model", "Answer from small-model"]
        assert [len(r["messages"]) for r in server.requests] == [1, 3]  # the second turn carries the history
