"""Keep a single-host run's Serve replicas off the network: a runtime_env `worker_process_setup_hook`.

Ray binds its own servers to the node IP address (127.0.0.1 for a head started with
`--node-ip-address=127.0.0.1`), but Ray Serve binds each replica's inter-deployment gRPC server to
every interface (`[::]:0` in ray/serve/_private/replica.py). In a pod that is harmless; on a
developer or CI machine it opens a port to the network. Local runs (the tests, `make serve`) set
`worker_process_setup_hook: serve_app.loopback.bind_replica_grpc_to_node_ip` in the applications'
runtime_env and `RAYLLM_ENABLE_WORKER_PROCESS_SETUP_HOOK=0` (Ray Serve LLM's own hook is a no-op
that would replace this one). Clusters do not use it.
"""

from __future__ import annotations

ANY_INTERFACE = "[::]:"


def bind_replica_grpc_to_node_ip() -> None:
    import ray
    from ray.serve._private import replica

    node_ip = ray.util.get_node_ip_address()
    add_port = replica.add_port_to_grpc_server

    def add_port_on_node_ip(server, address: str) -> int:
        if address.startswith(ANY_INTERFACE):
            address = f"{node_ip}:{address.removeprefix(ANY_INTERFACE)}"
        return add_port(server, address)

    replica.add_port_to_grpc_server = add_port_on_node_ip
