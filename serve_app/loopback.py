"""Keep a single-host run's Serve replicas off the network: a Ray worker setup hook.

Ray binds its own servers to the node IP address (127.0.0.1 for a head started with
`--node-ip-address=127.0.0.1`), but Ray Serve binds each replica's inter-deployment gRPC server to
every interface (`[::]:0` in ray/serve/_private/replica.py). In a pod that is harmless; on a
developer or CI machine it opens ports to the network. Local runs (the tests, `make serve`) start
Ray with `__RAY_WORKER_PROCESS_SETUP_HOOK_ENV_VAR=serve_app.loopback.bind_replica_grpc_to_node_ip`
in its environment: that is how `ray.init(runtime_env={"worker_process_setup_hook": ...})` hands a
hook to every worker, and a `worker_process_setup_hook` in an application's runtime_env is ignored.
Clusters do not use it.
"""

from __future__ import annotations

import sys

ANY_INTERFACE = "[::]:"
REPLICA_MODULE = "ray.serve._private.replica"


def bind_replica_grpc_to_node_ip() -> None:
    import ray
    from ray._common import tls_utils

    node_ip = ray.util.get_node_ip_address()
    add_port = tls_utils.add_port_to_grpc_server

    def add_port_on_node_ip(server, address: str) -> int:
        if address.startswith(ANY_INTERFACE):
            address = f"{node_ip}:{address.removeprefix(ANY_INTERFACE)}"
        return add_port(server, address)

    # The replica module copies the function when imported, which is normally after this hook.
    tls_utils.add_port_to_grpc_server = add_port_on_node_ip
    if REPLICA_MODULE in sys.modules:
        sys.modules[REPLICA_MODULE].add_port_to_grpc_server = add_port_on_node_ip
