"""Handles to deployments of other applications."""

from __future__ import annotations

from ray import serve
from ray.serve.handle import DeploymentHandle


class LazyHandle:
    """A handle to `deployment` of application `app` (None: the caller's own), looked up on first use:
    the other application may deploy after the one that calls it."""

    def __init__(self, deployment: str, app: str | None = None) -> None:
        self._deployment, self._app = deployment, app
        self._handle: DeploymentHandle | None = None

    def get(self) -> DeploymentHandle:
        if self._handle is None:
            app = self._app if self._app is not None else serve.get_replica_context().app_name
            self._handle = serve.get_deployment_handle(self._deployment, app_name=app)
        return self._handle
