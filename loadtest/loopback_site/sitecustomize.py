"""Keep every Ray Serve replica's gRPC server on loopback in a local run.

Ray 2.60 starts an inter-deployment gRPC server in each replica on "[::]:0" (all interfaces), with
no setting to change it (ray/serve/_private/replica.py). The local run must listen on 127.0.0.1
only, so this file, put on PYTHONPATH of the local `ray start`, makes every Ray process rewrite that
wildcard address to 127.0.0.1 as Ray's gRPC helper module is imported. Replicas of one local node
reach each other over loopback, so nothing else changes.
"""

import importlib.abc
import importlib.util
import sys

_MODULE = "ray._common.tls_utils"
_WILDCARD = "[::]:"


def _loopback(add_port):
    def add_port_to_grpc_server(server, address):
        if address.startswith(_WILDCARD):
            address = "127.0.0.1:" + address.removeprefix(_WILDCARD)
        return add_port(server, address)

    return add_port_to_grpc_server


class _PatchOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != _MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            module.add_port_to_grpc_server = _loopback(module.add_port_to_grpc_server)

        spec.loader.exec_module = exec_and_patch
        return spec


sys.meta_path.insert(0, _PatchOnImport())
