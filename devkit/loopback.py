"""The one check that nothing this project starts listens off loopback.

Every server a test, `make serve`, a benchmark or the chaos harness starts must bind 127.0.0.1 only;
this module lists the listening sockets of a set of processes and names those that do not.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable
from typing import NamedTuple

import psutil


class Listener(NamedTuple):
    """One listening TCP socket: the process that owns it and its address."""

    name: str
    pid: int
    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.name} {self.pid} {self.ip}:{self.port}"


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1 and IPv4-mapped loopback (::ffff:127.0.0.1, what Ray's gRPC servers show)."""
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def listeners(processes: Iterable[psutil.Process]) -> list[Listener]:
    """Every listening TCP socket of these processes; processes that are gone are skipped."""
    found = []
    for proc in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            found += [
                Listener(proc.name(), proc.pid, conn.laddr.ip, conn.laddr.port)
                for conn in proc.net_connections(kind="inet")
                if conn.status == psutil.CONN_LISTEN
            ]
    return found


def off_loopback(processes: Iterable[psutil.Process]) -> list[str]:
    """`name pid address:port` of every listening socket of these processes not bound to loopback."""
    return [str(listener) for listener in listeners(processes) if not is_loopback(listener.ip)]
