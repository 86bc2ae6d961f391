"""`Batcher`: the deployment behind the gateway's /v1/files and /v1/batches, one replica.

The gateway calls it through a DeploymentHandle for every Files and Batches request; it runs each
batch in the background, a bounded number of lines at a time, each line through the gateway's own
`batch_line` (so a line's `model` resolves like an interactive request's: aliases, size tiers,
canaries). A new batch starts at once; those a previous replica left unfinished are taken up again
from their journal by the next health check.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ray.serve import metrics

from serve_app.batch_input import BatchLine
from serve_app.batch_run import Retry
from serve_app.batch_service import BatchLimits, BatchService
from serve_app.batch_store import open_store
from serve_app.config import GATEWAY_DEPLOYMENT, BatchArgs
from serve_app.handles import LazyHandle

logger = logging.getLogger("ray.serve")


class Batcher:
    def __init__(self, args: BatchArgs) -> None:
        limits = BatchLimits(
            max_file_bytes=args.max_file_bytes, max_lines=args.max_lines,
            max_in_progress=args.max_in_progress, concurrency=args.concurrency,
        )  # fmt: skip
        self._service = BatchService(open_store(args.storage), limits)
        self._retry = Retry(attempts=args.retry_attempts, wait_s=args.retry_wait_s)
        self._priority = args.priority
        self._gateway = LazyHandle(GATEWAY_DEPLOYMENT)  # the gateway of this application
        self._runs: dict[str, asyncio.Task] = {}
        self._finished = metrics.Counter(
            "batches_finished", "Batches that ended, by status.", tag_keys=("status",)
        )
        self._lines = metrics.Counter(
            "batch_lines",
            "Batch lines answered, by outcome (ok, or error: a line of the error file).",
            tag_keys=("outcome",),
        )
        self._running = metrics.Gauge("batches_running", "Batches this replica is running.")

    def _run_unfinished(self) -> None:
        """A background run for every unfinished batch that has none (new, or left by a restart)."""
        for batch_id in self._service.unfinished():
            if batch_id not in self._runs:
                task = asyncio.get_running_loop().create_task(self._run(batch_id))
                self._runs[batch_id] = task

    async def _run(self, batch_id: str) -> None:
        endpoint = self._service.batch(batch_id).endpoint

        async def call(line: BatchLine) -> tuple[int, dict[str, Any], str]:
            request_id = f"{batch_id}-{line.line}"
            status, body = await self._gateway.get().batch_line.remote(
                endpoint, line.body, request_id, self._priority
            )
            self._lines.inc(tags={"outcome": "ok" if status == 200 else "error"})
            return status, body, request_id

        self._running.set(len(self._runs))
        try:
            batch = await self._service.run(batch_id, call, self._retry)
            self._finished.inc(tags={"status": batch.status})
            logger.info("Batch %s %s: %s", batch_id, batch.status, batch.request_counts.model_dump())
        except Exception:  # the batch stays unfinished; the next health check runs it again
            logger.exception("Batch %s stopped; it resumes from its journal", batch_id)
        finally:
            del self._runs[batch_id]
            self._running.set(len(self._runs))

    async def check_health(self) -> None:
        self._run_unfinished()
        # Set on every check, not only when a run starts or ends: Ray drops a gauge that is not
        # updated for a while, and the dashboard's panel would go blank while nothing runs.
        self._running.set(len(self._runs))

    # The API, called by the gateway; ApiErrors cross the handle as they are.

    async def create_file(self, filename: str, purpose: str, content: bytes) -> dict[str, Any]:
        return self._service.create_file(filename, purpose, content).model_dump()

    async def file(self, file_id: str) -> dict[str, Any]:
        return self._service.file(file_id).model_dump()

    async def file_content(self, file_id: str) -> bytes:
        return self._service.file_content(file_id)

    async def delete_file(self, file_id: str) -> dict[str, Any]:
        return self._service.delete_file(file_id)

    async def create_batch(
        self, input_file_id: str, endpoint: str, completion_window: str, metadata: dict[str, str] | None
    ) -> dict[str, Any]:
        batch = self._service.create_batch(input_file_id, endpoint, completion_window, metadata)
        self._run_unfinished()
        return batch.model_dump()

    async def batch(self, batch_id: str) -> dict[str, Any]:
        return self._service.batch(batch_id).model_dump()

    async def batches(self, limit: int, after: str | None) -> dict[str, Any]:
        return self._service.batches(limit, after)

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        return self._service.cancel(batch_id).model_dump()
