"""Chunks and their vectors in Milvus: Milvus Lite for a `*.db` file path, a Milvus server for a URI."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

ID_MAX_LENGTH = 256


@dataclass(frozen=True)
class Chunk:
    id: str
    doc_id: str
    source: str
    text: str


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float


class VectorStore:
    """Blocking pymilvus calls; callers run them in a thread."""

    def __init__(self, uri: str, collection: str, token: str = "") -> None:
        from pymilvus import MilvusClient

        if "://" not in uri:
            os.makedirs(os.path.dirname(os.path.abspath(uri)), exist_ok=True)
        self._client = MilvusClient(uri=uri, token=token)
        self._collection = collection

    def _ensure_collection(self, dimension: int) -> None:
        if not self._client.has_collection(self._collection):
            self._client.create_collection(
                self._collection,
                dimension=dimension,
                id_type="string",
                max_length=ID_MAX_LENGTH,
                metric_type="COSINE",
                consistency_level="Strong",
            )

    def replace_documents(self, chunks: list[Chunk], vectors: list[list[float]]) -> None:
        """Drop every chunk of the given documents, then store the new ones."""
        self._ensure_collection(len(vectors[0]))
        # Document ids are hex digests or match DOCUMENT_ID, so the JSON list is a safe filter literal.
        doc_ids = sorted({c.doc_id for c in chunks})
        self._client.delete(self._collection, filter=f"doc_id in {json.dumps(doc_ids)}")
        rows = [
            {"id": c.id, "vector": v, "doc_id": c.doc_id, "source": c.source, "text": c.text}
            for c, v in zip(chunks, vectors, strict=True)
        ]
        self._client.insert(self._collection, rows)

    def search(self, vector: list[float], top_k: int, min_score: float) -> list[Hit]:
        if not self._client.has_collection(self._collection):
            return []
        [hits] = self._client.search(
            self._collection, data=[vector], limit=top_k, output_fields=["doc_id", "source", "text"]
        )
        return [
            Hit(Chunk(id=h["id"], **{k: h["entity"][k] for k in ("doc_id", "source", "text")}), h["distance"])
            for h in hits
            if h["distance"] >= min_score
        ]
