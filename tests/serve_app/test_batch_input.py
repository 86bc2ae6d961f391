"""serve_app.batch_input: what fails a batch while it is validating, with the line and the field."""

from __future__ import annotations

import json

import pytest

from serve_app.batch_input import MAX_ERRORS, read_batch_input

CHAT = "/v1/chat/completions"


def line(custom_id: str = "r1", url: str = CHAT, **overrides) -> str:
    item = {"custom_id": custom_id, "method": "POST", "url": url, "body": {"model": "tiny", "messages": []}}
    return json.dumps(item | overrides)


def read(*rows: str, endpoint: str = CHAT, max_lines: int = 1000):
    return read_batch_input(("\n".join(rows) + "\n").encode(), endpoint, max_lines)


class TestValidFile:
    def test_should_read_every_line_in_order_when_all_are_valid(self) -> None:
        lines, errors = read(line("a"), line("b"), line("c"))
        assert errors == []
        assert [(x.line, x.custom_id, x.body["model"]) for x in lines] == [
            (1, "a", "tiny"),
            (2, "b", "tiny"),
            (3, "c", "tiny"),
        ]

    def test_should_accept_crlf_and_no_final_newline_when_the_file_comes_from_windows(self) -> None:
        lines, errors = read_batch_input((line("a") + "\r\n" + line("b")).encode(), CHAT, 10)
        assert (errors, [x.custom_id for x in lines]) == ([], ["a", "b"])

    @pytest.mark.parametrize("endpoint", ["/v1/completions", "/v1/embeddings"])
    def test_should_accept_lines_for_the_endpoint_when_it_is_not_chat(self, endpoint: str) -> None:
        lines, errors = read(line("a", url=endpoint), endpoint=endpoint)
        assert errors == [] and len(lines) == 1


class TestInvalidFile:
    @pytest.mark.parametrize(
        ("row", "code", "param"),
        [
            ("{not json", "invalid_json_line", None),
            ("[1, 2]", "invalid_json_line", None),
            ("", "invalid_json_line", None),
            (
                json.dumps({"custom_id": "x", "method": "POST", "url": CHAT}),
                "missing_required_parameter",
                "body",
            ),
            (line(extra=1), "invalid_request", "extra"),
            (line(custom_id=""), "invalid_request", "custom_id"),
            (line(custom_id=7), "invalid_request", "custom_id"),
            (line(method="GET"), "invalid_method", "method"),
            (line(url="/v1/embeddings"), "invalid_url", "url"),
            (line(body=[]), "invalid_request", "body"),
            (line(body={"messages": []}), "missing_required_parameter", "body.model"),
            (line(body={"model": "tiny", "stream": True}), "invalid_request", "body.stream"),
        ],
    )
    def test_should_fail_the_batch_naming_the_line_and_field_when_a_line_is_bad(
        self, row, code, param
    ) -> None:
        lines, errors = read(line("a"), row, line("c"))
        assert lines == []
        assert [(e.code, e.line, e.param) for e in errors] == [(code, 2, param)]
        assert errors[0].message.startswith("line 2: ")

    def test_should_name_both_lines_when_a_custom_id_repeats(self) -> None:
        _, errors = read(line("a"), line("b"), line("a"))
        assert [(e.code, e.line, e.param) for e in errors] == [("duplicate_custom_id", 3, "custom_id")]
        assert "already on line 1" in errors[0].message

    def test_should_report_the_first_errors_only_when_thousands_of_lines_are_bad(self) -> None:
        _, errors = read(*["nope"] * (MAX_ERRORS + 50), max_lines=10_000)
        assert len(errors) == MAX_ERRORS and errors[-1].line == MAX_ERRORS

    def test_should_refuse_the_file_when_it_has_more_lines_than_the_limit(self) -> None:
        _, errors = read(line("a"), line("b"), line("c"), max_lines=2)
        assert [(e.code, e.line) for e in errors] == [("too_many_requests", None)]

    @pytest.mark.parametrize(
        ("content", "code"),
        [(b"", "empty_file"), (b"\n", "invalid_json_line"), (b"\xff\xfe", "invalid_file")],
    )
    def test_should_fail_the_batch_when_the_file_is_empty_or_not_text(
        self, content: bytes, code: str
    ) -> None:
        _, errors = read_batch_input(content, CHAT, 10)
        assert [e.code for e in errors] == [code]
