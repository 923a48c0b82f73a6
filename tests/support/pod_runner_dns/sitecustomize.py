"""Service names for processes the pod runner starts: stands in for cluster DNS and kube-proxy.

DRIFTWATCH_POD_RUNNER_SERVICES maps "<service host>:<port>" to a port on 127.0.0.1; every other
name resolves as usual. Loaded by Python at start-up because the runner puts this folder on PYTHONPATH.
"""

import json
import os
import socket

_ROUTES = json.loads(os.environ.get("DRIFTWATCH_POD_RUNNER_SERVICES") or "{}")
_resolve = socket.getaddrinfo


def _getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
    target = _ROUTES.get(f"{host}:{port}")
    if target is not None:
        return _resolve("127.0.0.1", target, *args, **kwargs)
    return _resolve(host, port, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo
