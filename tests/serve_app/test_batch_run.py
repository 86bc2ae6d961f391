"""serve_app.batch_run with a scripted model: bounded concurrency, retries that give way, cancel,
the journal a restarted replica resumes from."""

from __future__ import annotations

import asyncio
import json

from serve_app.batch_input import BatchLine
from serve_app.batch_run import Retry, read_journal, run_lines

LINES = [BatchLine(i, f"r{i}", {"model": "tiny", "n": i}) for i in range(1, 9)]
RETRY = Retry(attempts=3, wait_s=1)


class Model:
    """Answers each line after a tick; `script[custom_id]` lists the statuses of its calls."""

    def __init__(self, script: dict[str, list[int]] | None = None) -> None:
        self.script, self.calls, self.active, self.peak = script or {}, [], 0, 0

    async def __call__(self, line: BatchLine):
        self.calls.append(line.custom_id)
        self.active += 1
        self.peak = max(self.peak, self.active)
        await asyncio.sleep(0)
        self.active -= 1
        statuses = self.script.get(line.custom_id)
        status = statuses.pop(0) if statuses else 200
        body = (
            {"answer": line.body["n"]}
            if status == 200
            else {"error": {"message": f"status {status}", "code": str(status)}}
        )
        return status, body, f"req-{line.custom_id}"


async def no_wait(_: float) -> None:
    await asyncio.sleep(0)


def run(model, lines=LINES, concurrency=3, cancelled=lambda: False, retry=RETRY):
    journal: list[dict] = []
    finished = asyncio.run(
        run_lines(
            lines,
            model,
            journal.append,
            concurrency=concurrency,
            cancelled=cancelled,
            retry=retry,
            sleep=no_wait,
        )
    )
    return finished, journal


class TestRunLines:
    def test_should_answer_every_line_at_most_n_at_a_time_when_the_model_answers(self) -> None:
        model = Model()
        finished, journal = run(model)
        assert finished and model.peak == 3
        assert sorted(item["custom_id"] for item in journal) == sorted(line.custom_id for line in LINES)
        assert all(item["response"]["status_code"] == 200 and item["error"] is None for item in journal)

    def test_should_retry_and_then_answer_when_the_model_is_overloaded_for_a_while(self) -> None:
        model = Model({"r2": [503, 429]})
        _, journal = run(model)
        assert model.calls.count("r2") == 3
        assert {i["custom_id"]: i["response"]["status_code"] for i in journal}["r2"] == 200

    def test_should_write_an_error_line_when_the_retries_run_out_or_the_request_is_bad(self) -> None:
        _, journal = run(Model({"r2": [503, 503, 503], "r3": [404]}))
        errors = {i["custom_id"]: i for i in journal if i["error"] is not None}
        assert sorted(errors) == ["r2", "r3"]
        assert (errors["r3"]["response"]["status_code"], errors["r3"]["error"]["code"]) == (404, "404")
        assert len(journal) == len(LINES)

    def test_should_write_an_error_line_when_the_call_itself_raises(self) -> None:
        async def broken(line):
            raise RuntimeError("handle gone")

        _, journal = run(broken, lines=LINES[:1])
        assert (
            journal[0]["response"]["status_code"] == 503 and "handle gone" in journal[0]["error"]["message"]
        )

    def test_should_start_no_line_and_finish_the_started_ones_when_cancelled(self) -> None:
        model = Model()
        started_after_cancel = []

        def cancelled() -> bool:
            return len(model.calls) >= 4

        async def call(line):
            if cancelled():
                started_after_cancel.append(line.custom_id)
            return await model(line)

        finished, journal = run(call, cancelled=cancelled)
        assert not finished and started_after_cancel == []
        assert 4 <= len(model.calls) < len(LINES)
        assert sorted(item["custom_id"] for item in journal) == sorted(model.calls)  # started lines journaled

    def test_should_report_finished_when_the_cancel_comes_after_the_last_line(self) -> None:
        model = Model()
        finished, journal = run(model, cancelled=lambda: len(model.calls) == len(LINES) and model.active == 0)
        assert finished and len(journal) == len(LINES)


class TestJournal:
    def test_should_read_every_whole_line_and_drop_a_cut_one_when_a_replica_died_mid_write(self) -> None:
        _, journal = run(Model(), lines=LINES[:3])
        data = b"".join(json.dumps(item).encode() + b"\n" for item in journal) + b'{"custom_id": "r4", "resp'
        assert sorted(read_journal(data)) == ["r1", "r2", "r3"]
