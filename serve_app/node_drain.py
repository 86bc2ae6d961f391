"""Drain this Ray node before its pod goes away: the preStop hook of the chart's worker pods.

    python -m serve_app.node_drain --deadline-s 100 [--address HOST:PORT] [--node-id HEX]

A spot interruption or a consolidation deletes the pod; its preStop runs this before any SIGTERM.
It asks the GCS to drain the node (Ray's drain API, reason preemption, with the time left before
the node is gone), so Serve stops placing work there and migrates the node's replicas: replacements
start on other nodes, and each old replica stops gracefully, after its requests in flight, once
its replacement runs. Then it waits until no Serve replica is left on the node, or the deadline;
Ray ends a drained node once nothing runs on it, so the container exits without waiting out the grace.

Exit status: 0 the node holds no replica, 1 the deadline came first, 2 the GCS refused the drain.
"""

from __future__ import annotations

import argparse
import sys
import time

REPLICA_PREFIX = "ServeReplica:"


def replicas_on(node_id: str) -> list[str]:
    """Serve replica actors still alive on the node, by class name."""
    from ray.util.state import list_actors

    actors = list_actors(filters=[("node_id", "=", node_id), ("state", "=", "ALIVE")], limit=10_000)
    return sorted(a.class_name for a in actors if a.class_name.startswith(REPLICA_PREFIX))


def drain(address: str, node_id: str, deadline_s: float, message: str) -> tuple[bool, str]:
    """Ray's drain request (what `ray drain-node` sends); (accepted, the GCS's reason if not)."""
    import ray
    from ray.core.generated import autoscaler_pb2

    deadline_ms = int((time.time() + deadline_s) * 1000)
    reason = autoscaler_pb2.DrainNodeReason.Value("DRAIN_NODE_REASON_PREEMPTION")
    return ray._raylet.GcsClient(address=address).drain_node(node_id, reason, message, deadline_ms)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--deadline-s", type=float, required=True, help="seconds until the node is gone (the pod's grace)"
    )
    parser.add_argument("--address", default="auto", help="the cluster's GCS (default: this node's cluster)")
    parser.add_argument("--node-id", default="", help="the node to drain (default: this one)")
    parser.add_argument("--reason-message", default="pod terminating (preStop)")
    parser.add_argument("--poll-s", type=float, default=1.0)
    args = parser.parse_args(argv)

    import ray

    started = time.monotonic()
    ray.init(address=args.address, logging_level="ERROR", log_to_driver=False)
    try:
        node_id = args.node_id or ray.get_runtime_context().get_node_id()
        accepted, refusal = drain(
            ray.get_runtime_context().gcs_address, node_id, args.deadline_s, args.reason_message
        )
        if not accepted:
            print(f"node {node_id}: the drain was refused: {refusal}", flush=True)
            return 2
        print(f"node {node_id}: draining, deadline in {args.deadline_s:g} s", flush=True)
        while True:
            left = replicas_on(node_id)
            elapsed = time.monotonic() - started
            if not left:
                print(f"node {node_id}: no Serve replica left after {elapsed:.1f} s", flush=True)
                return 0
            if elapsed >= args.deadline_s:
                print(f"node {node_id}: deadline reached with replicas left: {', '.join(left)}", flush=True)
                return 1
            time.sleep(args.poll_s)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
