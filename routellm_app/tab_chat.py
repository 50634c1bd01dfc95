"""Chat tab: a conversation routed by ``ChatRouteLLM`` (the LangChain integration), turn by turn.

Each answer shows which model gave it and the running cost against sending every turn to the
strong model (the same tokens at the strong model's price).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from routellm_core import InvalidInputError

from . import services
from .chat_models import backend
from .costs import usd
from .explain import shown
from .feedback import shown_errors
from .settings import Settings

TURNS_KEY = "chat_turns"


@dataclass(frozen=True)
class Turn:
    prompt: str
    answer: str
    role: str
    model: str
    probability: float
    threshold: float
    fallback: bool
    cost: float | None
    strong_cost: float | None


def render(settings: Settings) -> None:
    st.subheader("Chat through the router")
    turns: list[Turn] = st.session_state.setdefault(TURNS_KEY, [])
    with shown_errors():
        chat = backend()
        st.caption(chat.describe())
        prompt = None
        if not chat.online:
            recorded = services.recorded_prompts(services.data_dir())
            left, right = st.columns([5, 1], vertical_alignment="bottom")
            index = left.selectbox("Recorded prompt", range(len(recorded)), format_func=lambda i: recorded[i].label,
                                   key="chat_pick")
            if right.button("Send", type="primary", key="chat_send"):
                prompt = recorded[index].prompt
        typed = st.chat_input("Ask something" if chat.online else "Or paste a recorded prompt", key="chat_input")
        prompt = typed if typed is not None else prompt
        if prompt is not None:
            turns.append(answer(settings, chat, turns, prompt))
    show(turns)
    if turns and st.button("Clear the chat", key="chat_clear"):
        turns.clear()
        st.rerun()


def answer(settings: Settings, chat, turns: list[Turn], prompt: str) -> Turn:
    """One routed turn: the whole conversation goes to ``ChatRouteLLM``; it routes on the last human message."""
    from langchain_core.messages import AIMessage, HumanMessage

    from langchain_routellm import ChatRouteLLM

    if not prompt.strip():
        raise InvalidInputError("the message is empty: type or pick a prompt")
    llm = ChatRouteLLM(strong=chat.strong, weak=chat.weak, router=services.router(settings.router),
                       threshold=settings.threshold)
    history = [m for t in turns for m in (HumanMessage(t.prompt), AIMessage(t.answer))]
    with st.spinner("Routing and answering..."):
        reply = llm.invoke([*history, HumanMessage(prompt)])
    meta = reply.response_metadata["routellm"]
    usage = reply.usage_metadata
    cost = strong_cost = None
    if usage:
        cost = usd(settings.prices[meta["role"]], usage["input_tokens"], usage["output_tokens"])
        strong_cost = usd(settings.prices["strong"], usage["input_tokens"], usage["output_tokens"])
    return Turn(prompt, reply.text, meta["role"], meta["model"], meta["probability"], meta["threshold"],
                meta["fallback"], cost, strong_cost)


def show(turns: list[Turn]) -> None:
    for turn in turns:
        with st.chat_message("user"):
            st.markdown(turn.prompt)
        with st.chat_message("assistant", avatar=":material/bolt:" if turn.role == "strong" else ":material/eco:"):
            st.markdown(turn.answer)
            fallback = " (fallback: the routed model failed)" if turn.fallback else ""
            price = "" if turn.cost is None else f" · ${turn.cost:.4f} (all-strong ${turn.strong_cost:.4f})"
            p_text, t_text, relation = shown(turn.probability, turn.threshold)
            st.caption(f"Answered by **{turn.model}** ({turn.role}){fallback} · P(strong wins) {p_text} is {relation} "
                       f"the threshold {t_text}{price}")
    priced = [t for t in turns if t.cost is not None]
    if priced:
        spent, strong = sum(t.cost for t in priced), sum(t.strong_cost for t in priced)
        left, middle, right = st.columns(3)
        left.metric("Turns", len(turns), f"{sum(t.role == 'strong' for t in turns)} strong")
        middle.metric("Cost so far", f"${spent:.4f}")
        right.metric("All-strong cost", f"${strong:.4f}",
                     f"{1 - spent / strong:.0%} saved" if strong else None, delta_color="off")
