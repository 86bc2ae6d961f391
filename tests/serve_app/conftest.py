"""The serve_app suite's fixtures: where a Batcher keeps its files, and the stack (the chart's render of
values/local-cpu.yaml + tests/serve_app/overlay.yaml on a loopback-only Ray, deployed the way `make
serve` deploys it), which tests/conftest.py starts with the tiny models and the S3 server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from devkit.background import Background
from tests.serve_app.deployment import BUCKET, Stack, StackFailed


@pytest.fixture(params=["directory", pytest.param("s3", marks=pytest.mark.live)])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a Batcher keeps its files: a directory, or a prefix of its own in the local S3 bucket."""
    if request.param == "directory":
        return str(tmp_path)
    return request.getfixturevalue("s3").uri(BUCKET, f"t-{uuid.uuid4().hex}")


@pytest.fixture(scope="session")
def stack(stack_start: Background[Stack]) -> Stack:
    """The stack, once up (tests/conftest.py starts it in the background before this suite's turn)."""
    try:
        return stack_start.result()
    except (SystemExit, StackFailed) as err:
        pytest.fail(str(err))
