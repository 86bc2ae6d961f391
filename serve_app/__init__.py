"""Ray Serve applications of the ray-vllm chart: an OpenAI-compatible gateway over vLLM models
(serve_app.apps:build_gateway_app) and a RAG application (serve_app.apps:build_rag_app)."""
