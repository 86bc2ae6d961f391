"""The OpenAI wire format the Locust user speaks: bodies, SSE decoding, token timing."""

from __future__ import annotations

import json

import pytest

from loadtest.openai_wire import (
    Completion,
    SSEDecoder,
    StreamReader,
    WireError,
    build_chat_body,
    chunk_text,
    context_lengths,
    model_ids,
    read_completion,
)


def sse(*payloads: str) -> bytes:
    return b"".join(f"data: {p}\n\n".encode() for p in payloads)


def chunk(content: str | None = None, role: str | None = None, usage: dict | None = None) -> str:
    """A chat.completion.chunk as vLLM sends it."""
    delta = {k: v for k, v in (("role", role), ("content", content)) if v is not None}
    body: dict = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "tiny"}
    body["choices"] = [] if usage else [{"index": 0, "delta": delta, "finish_reason": None}]
    if usage:
        body["usage"] = usage
    return json.dumps(body)


class TestBuildChatBody:
    def test_should_ask_for_usage_when_streaming(self):
        body = build_chat_body("tiny", [{"role": "user", "content": "hi"}], max_tokens=8, stream=True)
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
        assert body["max_tokens"] == 8
        assert body["model"] == "tiny"

    def test_should_omit_stream_options_when_not_streaming(self):
        body = build_chat_body("tiny", [], max_tokens=8, stream=False)
        assert body["stream"] is False
        assert "stream_options" not in body

    def test_should_send_ignore_eos_only_when_asked(self):
        assert build_chat_body("m", [], max_tokens=1, stream=False, ignore_eos=True)["ignore_eos"] is True
        assert "ignore_eos" not in build_chat_body("m", [], max_tokens=1, stream=False)


class TestModelIds:
    def test_should_list_ids_when_response_is_a_model_list(self):
        assert model_ids({"object": "list", "data": [{"id": "a"}, {"id": "b"}]}) == ["a", "b"]

    def test_should_raise_when_response_is_not_a_model_list(self):
        with pytest.raises(WireError):
            model_ids({"detail": "not found"})


def model_list(*cards: dict) -> dict:
    return {"object": "list", "data": [{"object": "model", **card} for card in cards]}


class TestContextLengths:
    def test_should_read_max_model_len_when_the_card_is_vllms(self):
        payload = model_list({"id": "tiny", "owned_by": "vllm", "max_model_len": 512})
        assert context_lengths(payload) == {"tiny": 512}

    def test_should_read_the_metadata_when_the_card_is_ray_serve_llms(self):
        metadata = {"model_id": "tiny", "input_modality": "text", "max_request_context_length": 512}
        payload = model_list({"id": "tiny", "permission": [], "metadata": metadata})
        assert context_lengths(payload) == {"tiny": 512}

    def test_should_give_none_when_the_card_has_no_context_length(self):
        payload = model_list(
            {"id": "openai", "owned_by": "system"},
            {"id": "vllm", "max_model_len": None},
            {"id": "ray", "metadata": {"max_request_context_length": None}},
        )
        assert context_lengths(payload) == {"openai": None, "vllm": None, "ray": None}

    @pytest.mark.parametrize("value", [0, -1, "512", 512.0, True])
    def test_should_give_none_when_the_context_length_is_not_a_positive_integer(self, value):
        assert context_lengths(model_list({"id": "m", "max_model_len": value})) == {"m": None}

    def test_should_keep_the_listed_order_when_there_are_several_models(self):
        payload = model_list({"id": "b", "max_model_len": 4096}, {"id": "a", "max_model_len": 512})
        assert list(context_lengths(payload).items()) == [("b", 4096), ("a", 512)]

    def test_should_raise_when_response_is_not_a_model_list(self):
        with pytest.raises(WireError):
            context_lengths({"detail": "not found"})


class TestSSEDecoder:
    def test_should_join_an_event_when_split_across_reads(self):
        decoder = SSEDecoder()
        data = sse('{"a": 1}', "[DONE]")
        assert decoder.feed(data[:7]) == []
        assert decoder.feed(data[7:]) == ['{"a": 1}', "[DONE]"]
        assert decoder.pending == b""

    def test_should_accept_crlf_and_skip_comments_when_decoding(self):
        decoder = SSEDecoder()
        assert decoder.feed(b": keep-alive\r\n\r\ndata: x\r\n\r\n") == ["x"]

    def test_should_join_multiline_data_when_event_has_several_data_lines(self):
        assert SSEDecoder().feed(b"data: a\ndata: b\n\n") == ["a\nb"]


class TestChunkText:
    def test_should_return_content_when_delta_has_content(self):
        assert chunk_text(json.loads(chunk("hello"))) == "hello"

    def test_should_return_empty_when_chunk_has_no_choices(self):
        assert chunk_text(json.loads(chunk(usage={"completion_tokens": 3}))) == ""


class TestStreamReader:
    def test_should_time_first_and_last_token_when_stream_is_complete(self):
        reader = StreamReader(start=10.0)
        reader.feed(sse(chunk("", role="assistant")), now=10.1)  # role chunk: no text yet
        reader.feed(sse(chunk("Hel")), now=10.5)
        reader.feed(sse(chunk("lo")), now=10.7)
        reader.feed(sse(chunk("!")), now=10.9)
        reader.feed(sse(chunk(usage={"prompt_tokens": 4, "completion_tokens": 3}), "[DONE]"), now=11.0)
        done = reader.finish(now=11.0)
        assert done.output_tokens == 3
        assert done.ttft_ms == pytest.approx(500)
        assert done.itl_ms == pytest.approx(200)  # 0.4 s over the 2 tokens after the first
        assert done.e2e_ms == pytest.approx(1000)
        assert done.tokens_per_s == pytest.approx(3.0)

    def test_should_count_content_chunks_when_server_sends_no_usage(self):
        reader = StreamReader(start=0.0)
        reader.feed(sse(chunk("a"), chunk("b"), "[DONE]"), now=1.0)
        assert reader.finish(now=1.0).output_tokens == 2

    def test_should_prefer_usage_when_chunks_carry_several_tokens(self):
        reader = StreamReader(start=0.0)
        reader.feed(sse(chunk("several tokens"), chunk(usage={"completion_tokens": 5}), "[DONE]"), now=1.0)
        assert reader.finish(now=1.0).output_tokens == 5

    def test_should_raise_when_stream_ends_without_done(self):
        reader = StreamReader(start=0.0)
        reader.feed(sse(chunk("a")) + b'data: {"trunc', now=1.0)
        with pytest.raises(WireError, match="without \\[DONE\\]"):
            reader.finish(now=1.0)

    def test_should_raise_when_stream_carries_an_error(self):
        reader = StreamReader(start=0.0)
        with pytest.raises(WireError, match="error in stream"):
            reader.feed(sse(json.dumps({"error": {"message": "boom", "code": 500}})), now=1.0)

    def test_should_raise_when_stream_has_no_text(self):
        reader = StreamReader(start=0.0)
        reader.feed(sse(chunk("", role="assistant"), "[DONE]"), now=1.0)
        with pytest.raises(WireError, match="no generated text"):
            reader.finish(now=1.0)

    def test_should_raise_when_chunk_is_not_json(self):
        with pytest.raises(WireError, match="not JSON"):
            StreamReader(start=0.0).feed(sse("<html>"), now=1.0)


class TestReadCompletion:
    def test_should_take_tokens_from_usage_when_response_is_complete(self):
        body = json.dumps({"choices": [{"message": {"content": "hi"}}], "usage": {"completion_tokens": 7}})
        done = read_completion(body.encode(), start=1.0, end=3.0)
        assert (done.output_tokens, done.e2e_ms, done.ttft_ms, done.itl_ms) == (7, 2000, None, None)

    def test_should_raise_when_response_lacks_usage(self):
        with pytest.raises(WireError, match="usage"):
            read_completion(b'{"choices": [{"message": {"content": "hi"}}]}', start=0.0, end=1.0)


class TestCompletion:
    def test_should_have_no_itl_when_one_token(self):
        assert Completion(start=0, end=1, output_tokens=1, first_token=0.5, last_token=0.5).itl_ms is None
