"""A real Redis (Debian's redis-server) on 127.0.0.1 for the local run's GCS fault tolerance.

In a cluster the chart points KubeRay at an external Redis (`gcsFaultTolerance.redisAddress`) whose
password is in an existing Secret. Locally that Redis is this one: bound to loopback, its password
in a file of the run's state directory (mode 600, the Secret's stand-in), handed to redis-server
through a config file rather than its command line. No persistence: the fault it serves is the
head's, not Redis's own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from devkit.processes import terminate
from devkit.secret_file import secret_file

HOST = "127.0.0.1"


class RedisUnavailable(RuntimeError):
    """redis-server is missing, did not start, or does not answer."""


def command(*args: str) -> bytes:
    """One command in Redis's wire protocol (RESP)."""
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def call(port: int, password: str, *args: str, timeout_s: float = 2.0) -> str:
    """AUTH with `password`, then one command; its first reply line (`+PONG`, `-NOAUTH ...`)."""
    with socket.create_connection((HOST, port), timeout=timeout_s) as sock:
        if password:
            sock.sendall(command("AUTH", password))
            reply = sock.recv(4096).decode(errors="replace").splitlines()[0]
            if not reply.startswith("+OK"):
                return reply
        sock.sendall(command(*args))
        return sock.recv(65536).decode(errors="replace").splitlines()[0]


@dataclass(frozen=True)
class LocalRedis:
    """redis-server on 127.0.0.1:`port`; pid file, config, log and password under `state_dir`."""

    port: int
    state_dir: Path

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def password_file(self) -> Path:
        return self.state_dir / "redis_password"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "redis.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "redis.log"

    def password(self) -> str:
        """The password, created once (the local run's stand-in for the chart's Redis Secret)."""
        return secret_file(self.password_file, 24)

    def config(self) -> str:
        return "\n".join(
            [
                f"bind {HOST}",
                f"port {self.port}",
                "protected-mode yes",
                f"requirepass {self.password()}",
                'save ""',
                "appendonly no",
                f"dir {self.state_dir}",
                f"logfile {self.log_file}",
                "daemonize no",
                "",
            ]
        )

    def running_pid(self) -> int | None:
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
            return pid
        return None

    def processes(self) -> list[psutil.Process]:
        pid = self.running_pid()
        with contextlib.suppress(psutil.NoSuchProcess):
            return [psutil.Process(pid)] if pid else []
        return []

    def start(self, timeout_s: float = 30) -> None:
        """Start redis-server and wait until it answers PING with the password."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisUnavailable(
                "redis-server is not installed: `make system-deps` installs it (Debian's redis-server)"
            )
        if self.running_pid():
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        conf = self.state_dir / "redis.conf"
        conf.touch(mode=0o600)
        conf.write_text(self.config())
        proc = subprocess.Popen(
            [binary, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
                raise RedisUnavailable(f"redis-server exited with {proc.returncode}:\n{log}")
            with contextlib.suppress(OSError, IndexError):
                if call(self.port, self.password(), "PING") == "+PONG":
                    return
            time.sleep(0.2)
        self.stop()
        raise RedisUnavailable(f"redis-server did not answer on {self.address} in {timeout_s:.0f} s")

    def stop(self, timeout_s: float = 10) -> bool:
        """SIGTERM, then SIGKILL; False when it was not running."""
        pid = self.running_pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        with contextlib.suppress(psutil.NoSuchProcess):
            terminate([psutil.Process(pid)], timeout_s)
        return True
