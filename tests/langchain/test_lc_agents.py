"""Routing inside LangChain v1 agents: RouteLLMDecisionModel and RouteLLMMiddleware with create_agent.

Real agents (``langchain.agents.create_agent``), real ChatOpenAI clients, two real OpenAI-compatible
servers on 127.0.0.1 whose tool calls are scripted per test. Routers: ``word_count_router`` (a real
Router whose P(strong wins) grows with the prompt's length, so "hard" and "easy" prompts are
known in advance) and the small MF router trained on real data, with thresholds that force a side.
"""

from __future__ import annotations

import pytest

pytest.importorskip("langchain.agents")

from langchain.agents import create_agent  # noqa: E402
from langchain.agents.middleware import ModelChoice, ModelRouterMiddleware  # noqa: E402
from langchain.agents.structured_output import ProviderStrategy, ToolStrategy  # noqa: E402
from langchain_core.callbacks import BaseCallbackHandler  # noqa: E402
from langchain_core.decisions import Choice, Noul, Score  # noqa: E402
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from lc_helpers import chat_openai  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from langchain_routellm import RouteLLMDecisionModel, RouteLLMMiddleware  # noqa: E402
from routellm_core import RoutingPolicy  # noqa: E402
from routellm_core.testing import tool_steps  # noqa: E402
from routellm_core.errors import InvalidInputError  # noqa: E402

HARD = "Prove that the square root of two is irrational, then explain step by step why the proof works."
EASY = "Say hi."


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@tool
def get_time(city: str) -> str:
    """The local time in a city."""
    return f"12:00 in {city}"


class Report(BaseModel):
    """A short weather report."""

    city: str
    summary: str


@pytest.fixture
def agent_servers(servers):
    """The session servers with strict tool-history checks on, and tool scripts reset afterwards."""
    for server in servers:
        server.strict_tools = True
    yield servers
    for server in servers:
        server.strict_tools, server.tool_responder = False, None


def script(servers, *steps: str) -> None:
    for server in servers:
        server.tool_responder = tool_steps(*steps, arguments={"city": "Paris", "summary": "fine"})


def middleware(servers, **kwargs):
    strong, weak = servers
    kwargs.setdefault("threshold", 0.5)
    return RouteLLMMiddleware(strong=chat_openai(strong), weak=chat_openai(weak), **kwargs)


def routed_agent(servers, router, tools=(get_weather, get_time), **kwargs):
    response_format = kwargs.pop("response_format", None)
    checkpointer = kwargs.pop("checkpointer", None)
    mw = middleware(servers, router=router, **kwargs)
    agent = create_agent(chat_openai(servers[1]), tools=list(tools), middleware=[mw],
                         response_format=response_format, checkpointer=checkpointer)
    return agent, mw


def ai_messages(state):
    return [m for m in state["messages"] if isinstance(m, AIMessage)]


# --- RouteLLMDecisionModel -------------------------------------------------------------------------
QUESTIONS = {"route": Choice(instructions="Which model?", criteria={"powerful": "hard tasks", "fast": "easy tasks"}),
             "needs_strong": Noul(instructions="Does this task need the strong model?")}


def decision_model(router, **kwargs):
    return RouteLLMDecisionModel(router=router, threshold=kwargs.pop("threshold", 0.5),
                                 strong_label="powerful", weak_label="fast", **kwargs)


def test_decision_model_answers_choice_and_noul_like_the_policy(word_count_router):
    router = word_count_router
    model = decision_model(router)
    policy = RoutingPolicy(router, threshold=0.5)
    for text in (HARD, EASY):
        decision = policy.decide([text])[0]
        response = model.invoke({"state": [HumanMessage(text)], "questions": QUESTIONS})
        answer, noul = response.choices["route"], response.nouls["needs_strong"].noul
        assert answer.choice == ("powerful" if decision.role == "strong" else "fast")
        assert answer.probabilities["powerful"] == pytest.approx(noul)
        assert answer.probabilities["powerful"] + answer.probabilities["fast"] == pytest.approx(1.0)
        assert answer.confidence == pytest.approx(max(noul, 1 - noul)) and answer.confidence >= 0.5
        assert (noul >= 0.5) == (decision.role == "strong")
        assert response.model == "routellm:words" and response.usage["total_tokens"] == 0
    assert model.invoke({"state": HARD, "questions": QUESTIONS}).choices["route"].choice == "powerful"


def test_strong_probability_puts_the_threshold_at_one_half(small_router):
    policy = RoutingPolicy(small_router, threshold=0.3)
    prompts = ["What is 2 + 2?", HARD, "Write a haiku about rain.", "Explain quantum entanglement to a child."]
    for decision in policy.decide(prompts):
        q = RoutingPolicy.strong_probability(decision)
        assert 0.0 <= q <= 1.0 and (q >= 0.5) == (decision.role == "strong")
    forced = RoutingPolicy(small_router, threshold=0.0).decide(prompts)
    assert all(RoutingPolicy.strong_probability(d) >= 0.5 for d in forced)


async def test_decision_model_async_and_batch_use_one_router_call(word_count_router):
    router = word_count_router
    model = decision_model(router)
    requests = [{"state": text, "questions": QUESTIONS} for text in (HARD, EASY, HARD)]
    batch = model.batch(requests)
    assert router.calls == [[HARD, EASY, HARD]]  # the whole batch in one router call
    assert [r.choices["route"].choice for r in batch] == ["powerful", "fast", "powerful"]
    single = await model.ainvoke(requests[1])
    assert single.answers == batch[1].answers
    assert [r.answers for r in await model.abatch(requests)] == [r.answers for r in batch]


def test_decision_model_is_traced_like_any_decision_model(word_count_router):
    class Seen(BaseCallbackHandler):
        def __init__(self):
            self.starts, self.ends, self.events = [], [], []

        def on_chain_start(self, serialized, inputs, *, metadata=None, **kwargs):
            self.starts.append(metadata or {})

        def on_chain_end(self, outputs, **kwargs):
            self.ends.append(outputs)

        def on_custom_event(self, name, data, **kwargs):
            self.events.append((name, data))

    seen = Seen()
    model = decision_model(word_count_router)
    model.invoke({"state": HARD, "questions": QUESTIONS}, config={"callbacks": [seen]})
    model.batch([{"state": EASY, "questions": QUESTIONS}], config={"callbacks": [seen]})
    assert [m["ls_provider"] for m in seen.starts] == ["routellm", "routellm"]
    assert seen.starts[0]["ls_model_name"] == "routellm:words"
    assert [e.choices["route"].choice for e in seen.ends] == ["powerful", "fast"]
    assert [(name, data["role"]) for name, data in seen.events] == [("routellm_decision", "strong"),
                                                                     ("routellm_decision", "weak")]
    assert seen.events[0][1]["probability"] == pytest.approx(len(HARD.split()) / 20)


@pytest.mark.parametrize(("questions", "words"), [
    ({"q": Choice(instructions="?", criteria={"fast": 1, "medium": 2, "powerful": 3})}, "3 choices"),
    ({"q": Choice(instructions="?", criteria={"gpt": 1, "fast": 2})}, r"labels \['gpt', 'fast'\]"),
    ({"q": Choice(instructions="?", criteria={"fast": 1})}, "exactly 'powerful'"),
    ({"q": Score(instructions="?", criteria=["low", "high"])}, "not Score"),
    ({}, "at least one question"),
])
def test_decision_model_rejects_questions_it_cannot_answer(questions, words, word_count_router):
    router = word_count_router
    with pytest.raises(InvalidInputError, match=words):
        decision_model(router).invoke({"state": HARD, "questions": questions})
    assert router.calls == []  # rejected before any scoring


def test_decision_model_bad_state_and_settings(word_count_router):
    with pytest.raises(InvalidInputError, match="mapping with 'messages'"):
        decision_model(word_count_router).invoke({"state": {"ticket": 1}, "questions": QUESTIONS})
    with pytest.raises(InvalidInputError, match="must differ"):
        RouteLLMDecisionModel(router="random", threshold=0.5, strong_label="x", weak_label="x")
    with pytest.raises(InvalidInputError, match="not both"):
        RouteLLMDecisionModel(router="random", threshold=0.5, strong_fraction=0.5, calibration_prompts=["a"])
    requests = [{"state": {"x": 1}, "questions": QUESTIONS}, {"state": EASY, "questions": QUESTIONS}]
    out = decision_model(word_count_router).batch(requests, return_exceptions=True)
    assert isinstance(out[0], InvalidInputError) and out[1].choices["route"].choice == "fast"


# --- ModelRouterMiddleware with RouteLLMDecisionModel --------------------------------------------
def router_agent(servers, classifier):
    strong, weak = servers
    choices = {"powerful": ModelChoice(model=chat_openai(strong), criteria="Hard, multi-step tasks."),
               "fast": ModelChoice(model=chat_openai(weak), criteria="Simple tasks.")}
    mw = ModelRouterMiddleware(choices=choices, instructions="Pick the cheapest model that will do.",
                               classifier=classifier)
    return create_agent(chat_openai(weak), tools=[get_weather], middleware=[mw])


def test_model_router_middleware_routes_hard_to_strong_and_easy_to_weak(agent_servers, word_count_router):
    strong, weak = agent_servers
    script(agent_servers, "get_weather")
    agent = router_agent(agent_servers, decision_model(word_count_router))
    hard = agent.invoke({"messages": [HumanMessage(HARD)]})
    assert hard["model_route"].choice == "powerful" and len(strong.requests) == 2 and weak.requests == []
    easy = agent.invoke({"messages": [HumanMessage(EASY)]})
    assert easy["model_route"].choice == "fast" and len(weak.requests) == 2 and len(strong.requests) == 2
    assert ai_messages(easy)[-1].content.startswith("Answer from weak-model")


@pytest.mark.parametrize(("threshold", "label", "index"), [(0.0, "powerful", 0), (1.0, "fast", 1)])
async def test_model_router_middleware_with_a_trained_router(agent_servers, small_router, threshold, label, index):
    agent = router_agent(agent_servers, decision_model(small_router, threshold=threshold))
    state = await agent.ainvoke({"messages": [HumanMessage("What is the weather in Paris?")]})
    assert state["model_route"].choice == label
    assert agent_servers[index].requests and not agent_servers[1 - index].requests


# --- RouteLLMMiddleware ------------------------------------------------------------------------------
def test_one_decision_per_turn_across_the_tool_loop_and_switch_between_turns(agent_servers, word_count_router):
    strong, weak = agent_servers
    script(agent_servers, "get_weather", "get_time")
    agent, mw = routed_agent(agent_servers, word_count_router, checkpointer=InMemorySaver())
    thread = {"configurable": {"thread_id": "t1"}}
    first = agent.invoke({"messages": [HumanMessage(HARD)]}, thread)
    assert len(strong.requests) == 3 and weak.requests == []  # two tool steps and the answer, all strong
    assert mw.policy.resolved_router().calls == [[HARD]]  # decided once for the turn
    assert [m.name for m in first["messages"] if isinstance(m, ToolMessage)] == ["get_weather", "get_time"]
    assert first["routellm"]["role"] == "strong" and first["routellm"]["model"] == "strong-model"
    assert all(m.response_metadata["routellm"]["role"] == "strong" for m in ai_messages(first))

    second = agent.invoke({"messages": [HumanMessage(EASY)]}, thread)
    assert len(weak.requests) == 3 and len(strong.requests) == 3  # the next turn switched to weak
    assert second["routellm"]["role"] == "weak" and ai_messages(second)[-1].content.startswith("Answer from weak-model")
    # the weak server received the strong model's tool calls with their ids and results (strict check passed)
    sent = weak.requests[0]["messages"]
    call_ids = [c["id"] for m in sent if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    assert call_ids == [m["tool_call_id"] for m in sent if m["role"] == "tool"] and len(call_ids) == 2
    assert [m.response_metadata["routellm"]["role"] for m in ai_messages(second)] == ["strong"] * 3 + ["weak"] * 3


def test_mixed_history_from_another_provider_survives_the_switch(agent_servers, word_count_router):
    """A history written by another provider (content blocks, its own tool-call ids) goes to both models."""
    strong, weak = agent_servers
    script(agent_servers, "get_weather")
    history = [HumanMessage("What's the weather in Oslo?"),
               AIMessage(content=[{"type": "text", "text": "Let me check."}],
                         tool_calls=[{"id": "toolu_01ABC", "name": "get_weather", "args": {"city": "Oslo"}}],
                         response_metadata={"model_provider": "anthropic"}),
               ToolMessage("rainy in Oslo", tool_call_id="toolu_01ABC"),
               AIMessage("It is rainy in Oslo.")]
    agent, _ = routed_agent(agent_servers, word_count_router)
    for text, server in ((HARD, strong), (EASY, weak)):
        state = agent.invoke({"messages": [*history, HumanMessage(text)]})
        assert state["routellm"]["model"] == server.model
        sent = server.requests[0]["messages"]
        assert sent[1]["tool_calls"][0]["id"] == "toolu_01ABC" and sent[2]["tool_call_id"] == "toolu_01ABC"


def test_scopes_call_and_thread(agent_servers, word_count_router):
    strong, weak = agent_servers
    script(agent_servers, "get_weather")
    agent, mw = routed_agent(agent_servers, word_count_router, scope="call")
    agent.invoke({"messages": [HumanMessage(HARD)]})
    assert len(mw.policy.resolved_router().calls) == 2  # decided again on each of the two model calls

    pinned, mw = routed_agent(agent_servers, type(word_count_router)(), scope="thread", checkpointer=InMemorySaver())
    thread = {"configurable": {"thread_id": "pinned"}}
    pinned.invoke({"messages": [HumanMessage(HARD)]}, thread)
    state = pinned.invoke({"messages": [HumanMessage(EASY)]}, thread)
    assert state["routellm"]["role"] == "strong" and len(strong.requests) == 2 + 4 and len(weak.requests) == 0
    assert mw.policy.resolved_router().calls == [[HARD]]  # the thread's first turn decided for the thread
    strong.fail_mode = "error"  # a fallback lasts one turn: the next turn tries the thread's model again
    assert pinned.invoke({"messages": [HumanMessage(EASY)]}, thread)["routellm"]["fallback"] is True
    strong.fail_mode = None
    state = pinned.invoke({"messages": [HumanMessage(EASY)]}, thread)
    assert state["routellm"]["role"] == "strong" and state["routellm"]["fallback"] is False
    with pytest.raises(InvalidInputError, match="scope must be"):
        middleware(agent_servers, router=word_count_router, scope="session")


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_upstream_500_falls_back_for_the_rest_of_the_turn(agent_servers, asynchronous, word_count_router):
    strong, weak = agent_servers
    script(agent_servers, "get_weather", "get_time")
    strong.fail_mode = "error"
    agent, _ = routed_agent(agent_servers, word_count_router)
    request = {"messages": [HumanMessage(HARD)]}
    state = await agent.ainvoke(request) if asynchronous else agent.invoke(request)
    assert len(strong.requests) == 1 and len(weak.requests) == 3  # one failure, then weak for the whole turn
    meta = state["routellm"]
    assert meta["role"] == "weak" and meta["routed_role"] == "strong" and meta["fallback"] is True
    assert "500" in meta["fallback_error"]
    assert all(m.response_metadata["routellm"]["fallback"] for m in ai_messages(state))


def test_no_fallback_raises_the_provider_error(agent_servers, word_count_router):
    import openai

    agent_servers[0].fail_mode = "error"
    agent, _ = routed_agent(agent_servers, word_count_router, fallback=False)
    with pytest.raises(openai.InternalServerError):
        agent.invoke({"messages": [HumanMessage(HARD)]})
    assert agent_servers[1].requests == []


def test_streams_tokens_from_the_routed_model(agent_servers, word_count_router):
    strong, weak = agent_servers
    script(agent_servers, "get_weather")
    strong.fail_mode = "error"  # the weak model takes over before the first token
    agent, _ = routed_agent(agent_servers, word_count_router)
    tokens = [chunk.content for chunk, _ in agent.stream({"messages": [HumanMessage(HARD)]}, stream_mode="messages")
              if isinstance(chunk, AIMessageChunk) and chunk.content]
    assert "".join(tokens).startswith("Answer from weak-model") and len(tokens) > 3
    assert all(body.get("stream") for body in weak.requests)


async def test_astream_updates_carry_the_decision(agent_servers, word_count_router):
    script(agent_servers, "get_weather")
    agent, _ = routed_agent(agent_servers, word_count_router)
    updates = [u async for u in agent.astream({"messages": [HumanMessage(EASY)]}, stream_mode="updates")]
    decisions = [node["routellm"] for update in updates for node in update.values()
                 if isinstance(node, dict) and "routellm" in node]
    assert decisions and {d["role"] for d in decisions} == {"weak"}
    assert agent_servers[1].requests and not agent_servers[0].requests


@pytest.mark.parametrize("strategy", [ToolStrategy(Report), ProviderStrategy(Report)], ids=["tool", "provider"])
async def test_response_format_with_tools_fallback_and_routing(agent_servers, strategy, word_count_router):
    strong, weak = agent_servers
    steps = ("get_weather", "Report") if isinstance(strategy, ToolStrategy) else ("get_weather",)
    script(agent_servers, *steps)
    agent, _ = routed_agent(agent_servers, word_count_router, response_format=strategy)
    state = agent.invoke({"messages": [HumanMessage(HARD)]})
    assert isinstance(state["structured_response"], Report) and state["routellm"]["role"] == "strong"
    assert len(strong.requests) == 2 and weak.requests == []
    if isinstance(strategy, ProviderStrategy):
        assert strong.requests[-1]["response_format"]["type"] == "json_schema"

    strong.fail_mode = "error"
    state = await agent.ainvoke({"messages": [HumanMessage(HARD)]})
    assert isinstance(state["structured_response"], Report) and state["routellm"]["fallback"] is True
    assert len(weak.requests) == 2
    easy = agent.invoke({"messages": [HumanMessage(EASY)]})
    assert easy["routellm"]["role"] == "weak" and isinstance(easy["structured_response"], Report)


def test_a_turn_without_user_text_is_a_clear_error_unless_on_empty_says(agent_servers, word_count_router):
    from langchain_core.messages import SystemMessage

    agent, _ = routed_agent(agent_servers, word_count_router)
    with pytest.raises(InvalidInputError, match="nothing to route on"):
        agent.invoke({"messages": [SystemMessage("Be terse.")]})
    assert agent_servers[0].requests == agent_servers[1].requests == []
    policy = RoutingPolicy(word_count_router, threshold=0.5, on_empty="weak")
    agent = create_agent(chat_openai(agent_servers[1]), tools=[get_weather],
                         middleware=[RouteLLMMiddleware(strong=chat_openai(agent_servers[0]),
                                                        weak=chat_openai(agent_servers[1]), policy=policy)])
    state = agent.invoke({"messages": [HumanMessage("   ")]})
    assert state["routellm"]["role"] == "weak" and state["routellm"]["probability"] is None
