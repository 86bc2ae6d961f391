"""The RAG application: real embeddings (all-MiniLM-L6-v2), Milvus Lite, generation through the gateway."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devkit import REPO
from tests.serve_app.deployment import API_KEY, Stack

pytestmark = pytest.mark.live  # runs against the session's local Ray (conftest.py)


DOCUMENTS = [
    {
        "source": "karpenter.md",
        "text": "Karpenter watches pending pods and launches new GPU nodes on EC2 for them.",
    },
    {
        "source": "vllm.md",
        "text": "vLLM serves language models with continuous batching and a paged KV cache.",
    },
    {
        "source": "milvus.md",
        "text": "Milvus stores embedding vectors and answers nearest-neighbour searches.",
    },
]
QUESTION = "Which component launches GPU nodes when pods are pending?"


def query(stack: Stack, **body) -> dict:
    with stack.http() as http:
        response = http.post("/rag/query", json={"question": QUESTION, "max_tokens": 8, **body})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def ingested(stack: Stack) -> Stack:
    with stack.http() as http:
        response = http.post("/rag/ingest", json={"documents": DOCUMENTS})
    assert response.status_code == 200, response.text
    assert response.json() == {"documents": 3, "chunks": 3}
    return stack


class TestRagQuery:
    def test_should_answer_with_the_matching_source_when_a_document_answers_the_question(
        self, ingested: Stack
    ) -> None:
        answer = query(ingested)
        assert answer["sources"][0]["source"] == "karpenter.md"
        assert answer["sources"][0]["score"] >= 0.3
        assert isinstance(answer["answer"], str)
        # max_tokens reaches the model; random weights may sample end-of-text before it.
        assert 1 <= answer["usage"]["completion_tokens"] <= 8

    def test_should_generate_through_the_gateway_alias_when_answering(self, ingested: Stack) -> None:
        # args.llm.model is the alias `chat`, which the gateway's routing maps to `tiny`.
        assert query(ingested)["model"] == "tiny"

    def test_should_answer_without_sources_when_nothing_passes_the_threshold(self, ingested: Stack) -> None:
        answer = query(ingested, score_threshold=0.99)
        assert answer["sources"] == []
        assert isinstance(answer["answer"], str)

    @pytest.mark.parametrize("top_k", [1, 3])
    def test_should_return_top_k_sources_when_the_threshold_lets_all_pass(
        self, ingested: Stack, top_k: int
    ) -> None:
        sources = query(ingested, top_k=top_k, score_threshold=-1)["sources"]
        assert len(sources) == top_k
        assert [s["score"] for s in sources] == sorted((s["score"] for s in sources), reverse=True)

    def test_should_answer_400_when_the_question_is_missing(self, ingested: Stack) -> None:
        with ingested.http() as http:
            response = http.post("/rag/query", json={"top_k": 2})
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "question"


class TestRagIngest:
    def test_should_replace_a_document_when_its_source_is_ingested_again(self, ingested: Stack) -> None:
        changed = {
            "source": "karpenter.md",
            "text": "Karpenter provisions EC2 capacity: new GPU nodes for pods.",
        }
        with ingested.http() as http:
            assert http.post("/rag/ingest", json={"documents": [changed]}).status_code == 200
        sources = query(ingested, top_k=10, score_threshold=-1)["sources"]
        karpenter = [s for s in sources if s["source"] == "karpenter.md"]
        assert [s["text"] for s in karpenter] == [changed["text"]]

    def test_should_answer_400_when_two_documents_share_a_source(self, ingested: Stack) -> None:
        with ingested.http() as http:
            response = http.post("/rag/ingest", json={"documents": [DOCUMENTS[0], DOCUMENTS[0]]})
        assert response.status_code == 400

    def test_should_load_a_directory_when_the_cli_is_run(self, ingested: Stack, tmp_path: Path) -> None:
        (tmp_path / "notes").mkdir()
        (tmp_path / "notes" / "autoscaling.md").write_text(
            "Ray Serve autoscaling adds replicas when queues grow."
        )
        (tmp_path / "notes" / "ignored.bin").write_bytes(b"\x00\x01")
        result = subprocess.run(
            [sys.executable, str(REPO / "tools" / "ingest.py"), "--url", f"{ingested.base_url}/rag",
             "--api-key", API_KEY, str(tmp_path / "notes")],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "ingested 1 documents as 1 chunks" in result.stdout
        answer = query(ingested, question="How does Ray Serve add replicas?")
        assert answer["sources"][0]["source"].endswith("autoscaling.md")


class TestRagAccess:
    def test_should_answer_401_when_the_key_is_missing(self, stack: Stack) -> None:
        with stack.http(api_key=None) as http:
            assert http.post("/rag/query", json={"question": QUESTION}).status_code == 401

    def test_should_report_ready_when_its_deployments_run(self, stack: Stack) -> None:
        with stack.http(api_key=None) as http:
            response = http.get("/rag/healthz")
        assert response.status_code == 200
        assert set(response.json()["deployments"]) == {"ingress", "embedder"}
