"""An `LLMServer` without Ray, for the tests of its health check and of its turns."""

from __future__ import annotations

from typing import Any

from serve_app.llm_server import LLMServer


class _BareServer(LLMServer):
    """The class under test minus its async `__del__` (Serve awaits it to shut a real engine down)."""

    def __del__(self) -> None:
        pass


def bare_server(**attributes: Any) -> LLMServer:
    """An `LLMServer` as Serve holds it once started, with only `attributes` set (no `__init__`)."""
    instance = _BareServer.__new__(_BareServer)
    for name, value in attributes.items():
        setattr(instance, name, value)
    return instance
