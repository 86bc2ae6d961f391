"""The chaos harness's verdicts on synthetic responses (no Ray)."""

from __future__ import annotations

import json

import pytest

from devkit.chaos.classify import Attempt, classify, explain, sse_data

CHUNK = 'data: {"choices": [{"delta": {"content": "hi"}}]}\n\n'
ERROR = {"error": {"message": "The model replica is unavailable", "type": "x", "param": None, "code": "u"}}
DONE = "data: [DONE]\n\n"


def attempt(status: int | None = 200, body: str = "", stream: bool = True, **kw) -> Attempt:
    return Attempt(model="tiny", stream=stream, started=0.0, ended=1.0, status=status, body=body, **kw)


class TestStreams:
    def test_should_be_ok_when_a_stream_ends_with_done(self) -> None:
        assert classify(attempt(body=CHUNK * 3 + DONE)) == "ok"

    def test_should_be_clean_when_an_error_event_precedes_done(self) -> None:
        assert classify(attempt(body=CHUNK + f"data: {json.dumps(ERROR)}\n\n" + DONE)) == "clean"

    def test_should_be_dirty_when_the_stream_is_cut_without_an_error_event(self) -> None:
        cut = attempt(body=CHUNK * 2, transport_error="RemoteProtocolError: peer closed")
        assert classify(cut) == "dirty"
        assert "[DONE]" in explain(cut)

    def test_should_be_dirty_when_the_error_event_is_not_openai_shaped(self) -> None:
        assert classify(attempt(body=CHUNK + 'data: {"error": "boom"}\n\n' + DONE)) == "dirty"

    def test_should_be_dirty_when_chunks_follow_the_error_event(self) -> None:
        assert classify(attempt(body=f"data: {json.dumps(ERROR)}\n\n" + CHUNK + DONE)) == "dirty"

    def test_should_be_dirty_when_an_event_is_not_json(self) -> None:
        assert classify(attempt(body="data: Internal Server Error\n\n" + DONE)) == "dirty"

    def test_should_split_events_only_on_sse_line_ends_when_content_has_unicode_separators(self) -> None:
        # A model may emit U+2028 unescaped inside a JSON string; it is not an SSE line end.
        body = 'data: {"choices": [{"delta": {"content": "a\u2028b\x85c"}}]}\n\n' + DONE
        assert len(sse_data(body)) == 2
        assert classify(attempt(body=body)) == "ok"


class TestPlainResponses:
    def test_should_be_ok_when_a_completion_arrives(self) -> None:
        assert classify(attempt(body=json.dumps({"choices": [{"message": {}}]}), stream=False)) == "ok"

    def test_should_be_clean_when_503_has_an_openai_error_and_retry_after(self) -> None:
        error = attempt(503, json.dumps(ERROR), stream=False, headers={"retry-after": "5"})
        assert classify(error) == "clean"

    @pytest.mark.parametrize(
        ("status", "body", "headers"),
        [
            (503, json.dumps(ERROR), {}),  # no Retry-After
            (503, "Service Unavailable", {"retry-after": "5"}),  # not JSON
            (500, json.dumps(ERROR), {}),  # 5xx other than 503
            (502, "<html>bad gateway</html>", {}),
        ],
    )
    def test_should_be_dirty_when_an_error_breaks_the_contract(
        self, status: int, body: str, headers: dict
    ) -> None:
        assert classify(attempt(status, body, stream=False, headers=headers)) == "dirty"

    def test_should_be_dirty_when_the_connection_resets_before_a_response(self) -> None:
        assert classify(attempt(None, stream=False, transport_error="ConnectError: reset")) == "dirty"

    def test_should_be_dirty_when_a_200_body_is_cut(self) -> None:
        cut = attempt(200, '{"choices": [', stream=False, transport_error="RemoteProtocolError")
        assert classify(cut) == "dirty"


class TestHung:
    @pytest.mark.parametrize("stream", [True, False])
    def test_should_be_hung_when_no_byte_came_within_the_bound(self, stream: bool) -> None:
        assert classify(attempt(None, stream=stream, timed_out=True)) == "hung"

    def test_should_be_hung_when_a_started_stream_goes_silent(self) -> None:
        assert classify(attempt(200, CHUNK, timed_out=True)) == "hung"
