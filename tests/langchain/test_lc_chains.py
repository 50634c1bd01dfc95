"""ChatRouteLLM inside real LangChain pipelines: an LCEL chain, a RAG chain, an agent with a tool."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_core.tools import tool
from langchain_core.vectorstores import InMemoryVectorStore
from lc_helpers import chat_openai

from langchain_routellm import RouteLLMEmbeddings, RouteLLMRunnable

DOCS = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, completed in 1889 for the World's Fair.",
    "Photosynthesis converts light energy, water and carbon dioxide into glucose and oxygen in plants.",
    "TCP guarantees ordered, reliable delivery of a byte stream; UDP sends datagrams without guarantees.",
    "The Great Barrier Reef off Queensland, Australia, is the largest coral reef system in the world.",
]


def test_lcel_chain_threshold_set_per_call(make_routed, servers, small_router):
    strong, weak = servers
    prompt = ChatPromptTemplate.from_messages([("system", "You are a helpful tutor."), ("human", "Explain {topic} simply.")])
    chain = prompt | make_routed(threshold=0.5) | StrOutputParser()
    text = "Explain recursion simply."
    p = float(small_router.predict_proba([text])[0])
    assert 0.05 < p < 0.95
    high = chain.invoke({"topic": "recursion"}, config={"configurable": {"routellm_threshold": 0.95}})
    low = chain.invoke({"topic": "recursion"}, config={"configurable": {"routellm_threshold": 0.05}})
    assert high == f"Answer from weak-model: {text}"
    assert low == f"Answer from strong-model: {text}"
    assert chain.with_config(configurable={"routellm_threshold": 0.05}).invoke({"topic": "recursion"}) == low
    streamed = "".join(chain.stream({"topic": "recursion"}, config={"configurable": {"routellm_threshold": 0.95}}))
    assert streamed == high
    assert len(strong.requests) == 2 and len(weak.requests) == 2


@pytest.fixture(scope="module")
def vector_store():
    """An in-memory vector store over DOCS, embedded locally with MiniLM."""
    store = InMemoryVectorStore(embedding=RouteLLMEmbeddings())
    store.add_documents([Document(page_content=d) for d in DOCS])
    return store


def _format(docs: list[Document]) -> str:
    return "\n".join(d.page_content for d in docs)


def _rag_chain(store, llm, k: int):
    prompt = ChatPromptTemplate.from_messages([("system", "Answer using only this context:\n{context}"),
                                               ("human", "{question}")])
    retriever = store.as_retriever(search_kwargs={"k": k})
    return {"context": retriever | _format, "question": RunnablePassthrough()} | prompt | llm | StrOutputParser()


def test_rag_chain_with_local_embeddings(vector_store, make_routed, servers, small_router):
    strong, weak = servers
    question = "When was the tower in Paris finished?"
    p = float(small_router.predict_proba([question])[0])
    chain = _rag_chain(vector_store, make_routed(threshold=min(1.0, p + 0.01)), k=1)
    answer = chain.invoke(question)
    assert answer == f"Answer from weak-model: {question}"
    system = weak.requests[-1]["messages"][0]["content"]
    assert DOCS[0] in system and DOCS[2] not in system  # MiniLM retrieval found the right document
    other = chain.invoke("How do plants turn light into sugar?", config={"configurable": {"routellm_threshold": 0.0}})
    assert other.startswith("Answer from strong-model") and DOCS[1] in strong.requests[-1]["messages"][0]["content"]


def test_routing_between_two_whole_rag_chains(vector_store, servers, small_router_path):
    strong, weak = servers
    routed = RouteLLMRunnable(strong=_rag_chain(vector_store, chat_openai(strong), k=3),
                              weak=_rag_chain(vector_store, chat_openai(weak), k=1),
                              router=str(small_router_path), threshold=0.0)
    question = "Which network protocol guarantees ordered delivery?"
    assert routed.invoke(question) == f"Answer from strong-model: {question}"
    context = strong.requests[-1]["messages"][0]["content"]
    assert DOCS[2] in context and sum(d in context for d in DOCS) == 3  # the strong chain retrieves 3 documents
    assert routed.invoke(question, config={"configurable": {"routellm_threshold": 1.0}}).startswith("Answer from weak")
    assert sum(d in weak.requests[-1]["messages"][0]["content"] for d in DOCS) == 1


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_agent_loop_with_a_tool(make_routed, servers, threshold):
    strong, weak = servers
    chosen = strong if threshold == 0.0 else weak
    llm = make_routed(threshold=threshold).bind_tools([multiply])
    messages = [HumanMessage("What is 3 times 3? Use the multiply tool.")]
    for _ in range(4):
        reply = llm.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        messages += [multiply.invoke(call) for call in reply.tool_calls]
    assert [type(m) for m in messages] == [HumanMessage, AIMessage, ToolMessage, AIMessage]
    call, result, final = messages[1].tool_calls[0], messages[2], messages[3]
    assert call["name"] == "multiply" and call["args"] == {"a": 3, "b": 3}
    assert result.content == "9" and result.tool_call_id == call["id"]
    assert final.content.startswith(f"Answer from {chosen.model}")
    assert {m.response_metadata["routellm"]["model"] for m in (messages[1], final)} == {chosen.model}
    sent = chosen.requests[-1]["messages"]
    assert sent[-1] == {"role": "tool", "content": "9", "tool_call_id": call["id"]}
    assert len(chosen.requests) == 2
