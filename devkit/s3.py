"""A real S3 API on 127.0.0.1 for the batch store's S3 backend: moto's server, from its own venv
(`make s3-server`: moto's botocore pins python-dateutil<3, which the dev venv's kubernetes client
refuses).

It checks no signature, so any key pair works; `credentials()` is the pair the clients use, and
`AWS_EC2_METADATA_DISABLED` keeps the AWS SDK from looking for an instance role first.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from devkit import REPO
from devkit.local_ray import HOST, free_ports
from devkit.processes import terminate

SERVER_PYTHON = REPO / ".cache" / "s3-server" / "bin" / "python"
REGION = "us-east-1"
_NS = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}


class S3Unavailable(RuntimeError):
    """The S3 server is not installed, did not start, or does not answer."""


def credentials() -> dict[str, str]:
    """The environment an S3 client of the local server runs with."""
    return {
        "AWS_ACCESS_KEY_ID": "local-test",
        "AWS_SECRET_ACCESS_KEY": "local-test-secret",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@dataclass(frozen=True)
class LocalS3:
    port: int
    process: subprocess.Popen

    @property
    def endpoint(self) -> str:
        return f"{HOST}:{self.port}"

    def uri(self, bucket: str, prefix: str) -> str:
        """`s3://bucket/prefix` with the options that point pyarrow at this server."""
        return f"s3://{bucket}/{prefix}?endpoint_override={self.endpoint}&scheme=http&region={REGION}"

    def create_bucket(self, bucket: str) -> None:
        response = httpx.put(f"http://{self.endpoint}/{bucket}", timeout=10)
        if response.status_code != 200:
            raise S3Unavailable(f"creating bucket {bucket!r}: {response.status_code} {response.text[:300]}")

    def objects(self, bucket: str, prefix: str = "") -> list[str]:
        """The keys under `prefix` (ListObjectsV2, first 1000)."""
        response = httpx.get(
            f"http://{self.endpoint}/{bucket}", params={"list-type": "2", "prefix": prefix}, timeout=10
        )
        response.raise_for_status()
        keys = ET.fromstring(response.text).findall("s3:Contents/s3:Key", _NS)
        return [key.text or "" for key in keys]


@contextlib.contextmanager
def local_s3(log: Path, timeout_s: float = 60) -> Iterator[LocalS3]:
    """moto's S3 server on a free loopback port, stopped (by its pid) on exit."""
    if not SERVER_PYTHON.exists():
        raise S3Unavailable(f"no S3 server in {SERVER_PYTHON.parents[1]}: run `make s3-server`")
    (port,) = free_ports(1)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(SERVER_PYTHON), "-m", "moto.server", "-H", HOST, "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    server = LocalS3(port, process)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise S3Unavailable(f"the S3 server exited with {process.returncode}: {tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{server.endpoint}/", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise S3Unavailable(f"the S3 server did not answer on {server.endpoint} in {timeout_s:.0f} s")
            time.sleep(0.2)
        yield server
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            terminate([psutil.Process(process.pid)], 10)
        process.wait(10)
