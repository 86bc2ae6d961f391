"""`ray start` for a worker node that joins a head on 127.0.0.1 from the same machine.

    python -m devkit.ray_worker start --address 127.0.0.1:<gcs> --node-ip-address 127.0.0.1 --block ...

Ray refuses to join a node while its multi-node switch (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER) is off,
and with it on replaces every loopback address it is given by the host's network address. A pod has
an address of its own; the nodes of a local run share 127.0.0.1. So this launcher turns the switch
on for the join check alone and keeps loopback addresses as given; the processes the node starts
(raylet, agents, workers) inherit the switch off from the environment, like the head's.
"""

from __future__ import annotations

import sys

import ray._private.ray_constants as ray_constants
import ray._private.services as services
from ray.scripts.scripts import main

if __name__ == "__main__":
    ray_constants.ENABLE_RAY_CLUSTER = True
    services.resolve_ip_for_localhost = lambda host: host
    sys.exit(main())
