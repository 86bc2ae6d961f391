"""Readiness from Ray Serve's own view of the deployments (the controller's status)."""

from __future__ import annotations

import asyncio

from ray import serve
from starlette.responses import JSONResponse

from serve_app.errors import UNAVAILABLE_RETRY_AFTER_S

# Scaling deployments still serve; UPDATING (starting), UNHEALTHY and DEPLOY_FAILED do not.
READY_STATES = frozenset({"HEALTHY", "UPSCALING", "DOWNSCALING"})


async def deployment_states(deployments: dict[str, str]) -> dict[str, dict]:
    """`{label: {"status", "replicas"}}` for `{label: deployment name}` in this replica's application."""
    app_name = serve.get_replica_context().app_name
    # serve.status() blocks on a controller call; keep it off the event loop.
    status = await asyncio.to_thread(serve.status)
    overview = status.applications[app_name].deployments
    return {
        label: (
            {
                "status": overview[name].status.value,
                "replicas": {getattr(k, "value", k): n for k, n in overview[name].replica_states.items()},
            }
            if name in overview
            else {"status": "MISSING", "replicas": {}}
        )
        for label, name in deployments.items()
    }


def _serving(state: dict) -> bool:
    """A deployment serves when Serve calls it healthy and a replica runs, or none is wanted (scaled to 0)."""
    replicas = state["replicas"]
    return state["status"] in READY_STATES and (replicas.get("RUNNING", 0) > 0 or not replicas)


async def readiness_response(deployments: dict[str, str], extra: dict | None = None) -> JSONResponse:
    """200 when every deployment serves, else 503 with `Retry-After`; the body lists each state."""
    states = await deployment_states(deployments)
    ready = all(_serving(state) for state in states.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "deployments": states, **(extra or {})},
        status_code=200 if ready else 503,
        headers={} if ready else {"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)},
    )
