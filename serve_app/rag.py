"""`RagIngress`: retrieval-augmented answers over documents stored in Milvus.

`POST /query` embeds the question (`Embedder`), takes the closest chunks above the score threshold,
fills the prompt template and generates through the gateway application's `OpenAiGateway` handle
(so aliases, size tiers and canaries apply), answering with the sources it used.
`POST /ingest` chunks, embeds and stores documents (tools/ingest.py sends files there).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field
from ray.serve.handle import DeploymentHandle
from starlette.responses import JSONResponse

from serve_app.chunking import chunk_text, document_id
from serve_app.config import EMBEDDER_DEPLOYMENT, GATEWAY_DEPLOYMENT, RAG_DEPLOYMENT, RagArgs
from serve_app.errors import ApiError, api_errors
from serve_app.guard import PRIVATE_HEADERS, load_api_keys
from serve_app.handles import LazyHandle
from serve_app.health import readiness_response
from serve_app.vector_store import Chunk, Hit, VectorStore
from serve_app.web import serve_request_id

DOCUMENT_ID = r"^[A-Za-z0-9._:/-]{1,100}$"
# Chunks per Embedder call: bounds one call's payload and time for large ingests.
EMBED_BATCH = 64

RAG_ENDPOINTS = {
    "query": lambda app: app.post("/query"),
    "ingest": lambda app: app.post("/ingest"),
    "healthz": lambda app: app.get("/healthz"),
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QueryRequest(_Body):
    question: str = Field(min_length=1, max_length=8000)
    top_k: int | None = Field(default=None, ge=1, le=100)
    score_threshold: float | None = Field(default=None, ge=-1, le=1)
    max_tokens: int = Field(default=256, ge=1, le=8192)
    temperature: float = Field(default=0.0, ge=0, le=2)


class Document(_Body):
    text: str = Field(min_length=1, max_length=2_000_000)
    source: str = Field(min_length=1, max_length=1000)
    id: str | None = Field(default=None, pattern=DOCUMENT_ID)


class IngestRequest(_Body):
    documents: list[Document] = Field(min_length=1, max_length=1000)


def hit_json(hit: Hit) -> dict[str, Any]:
    return {"id": hit.chunk.id, "source": hit.chunk.source, "score": hit.score, "text": hit.chunk.text}


def build_prompt(template: str, question: str, hits: list[Hit]) -> str:
    context = "\n\n".join(f"[{i}] ({hit.chunk.source}) {hit.chunk.text}" for i, hit in enumerate(hits, 1))
    # replace, not str.format: documents and questions may contain braces.
    return template.replace("{context}", context or "(no relevant documents found)").replace(
        "{question}", question
    )


def _doc_id(document: Document) -> str:
    return document.id or document_id(document.source)


def document_chunks(document: Document) -> list[Chunk]:
    doc_id = _doc_id(document)
    return [
        Chunk(id=f"{doc_id}#{i}", doc_id=doc_id, source=document.source, text=text)
        for i, text in enumerate(chunk_text(document.text))
    ]


class RagIngress:
    def __init__(self, embedder: DeploymentHandle, args: RagArgs) -> None:
        load_api_keys(args.api_keys_env)
        self._args = args
        self._embedder = embedder
        token = os.environ.get(args.milvus.token_env, "") if args.milvus.token_env else ""
        self._store = VectorStore(args.milvus.uri, args.milvus.collection, token)
        self._gateway = LazyHandle(GATEWAY_DEPLOYMENT, args.llm.app)

    async def search(
        self, question: str, top_k: int | None = None, score_threshold: float | None = None
    ) -> list[Hit]:
        """The passages closest to `question`: for `query`, and for other deployments (the agent's
        retrieval tool) through a DeploymentHandle."""
        [vector] = await self._embedder.embed.remote([question])
        return await asyncio.to_thread(
            self._store.search,
            vector,
            top_k or self._args.top_k,
            self._args.score_threshold if score_threshold is None else score_threshold,
        )

    @api_errors
    async def query(self, body: QueryRequest, request: Request) -> dict[str, Any]:
        hits = await self.search(body.question, body.top_k, body.score_threshold)
        chat = {
            "model": self._args.llm.model,
            "messages": [
                {"role": "user", "content": build_prompt(self._args.prompt_template, body.question, hits)}
            ],
            "max_tokens": body.max_tokens,
            "temperature": body.temperature,
        }
        # The gateway reads a canary's sticky header from these; credentials stay here.
        headers = {k: v for k, v in request.headers.items() if k not in PRIVATE_HEADERS}
        result = await self._gateway.get().chat_completion.remote(chat, headers, serve_request_id(request))
        completion = result["completion"]
        return {
            "answer": completion["choices"][0]["message"]["content"],
            "model": result["backend"],
            "sources": [hit_json(h) for h in hits],
            "usage": completion.get("usage"),
        }

    @api_errors
    async def ingest(self, body: IngestRequest) -> dict[str, int]:
        ids = [_doc_id(d) for d in body.documents]
        if len(set(ids)) < len(ids):
            raise ApiError(400, "Two documents share a source (or id); send each once.", param="documents")
        chunks = [chunk for document in body.documents for chunk in document_chunks(document)]
        if not chunks:
            raise ApiError(400, "The documents contain no text.", param="documents")
        vectors: list[list[float]] = []
        for start in range(0, len(chunks), EMBED_BATCH):
            batch = [c.text for c in chunks[start : start + EMBED_BATCH]]
            vectors += await self._embedder.embed.remote(batch)
        await asyncio.to_thread(self._store.replace_documents, chunks, vectors)
        return {"documents": len(body.documents), "chunks": len(chunks)}

    async def healthz(self) -> JSONResponse:
        return await readiness_response({"ingress": RAG_DEPLOYMENT, "embedder": EMBEDDER_DEPLOYMENT})
