"""The impairment backend registry: a config's ``network.backend`` names one of these.

``BACKENDS`` is the one place a backend kind is named: `open_backend` looks the kind
up there and lets the class build itself from the options (``from_options``).
"""

from __future__ import annotations

from monitor.network.base import DEFAULT_TOXIPROXY_URL, BackendOptions, RouteBackend
from monitor.network.pool import ProxyPool
from monitor.network.toxiproxy import ToxiproxyBackend

BACKENDS: dict[str, type[RouteBackend]] = {
    "builtin": ProxyPool,
    "toxiproxy": ToxiproxyBackend,
}


def open_backend(kind: str, *, toxiproxy_url: str = DEFAULT_TOXIPROXY_URL) -> RouteBackend:
    """A new backend of ``kind``; ValueError listing the valid kinds otherwise."""
    backend = BACKENDS.get(kind)
    if backend is None:
        raise ValueError(f"unknown network backend {kind!r}; valid backends: {sorted(BACKENDS)}")
    return backend.from_options(BackendOptions(toxiproxy_url=toxiproxy_url))
