"""The impairment backend registry: a config's ``network.backend`` names one of these."""

from __future__ import annotations

from monitor.network.base import RouteBackend
from monitor.network.pool import ProxyPool
from monitor.network.toxiproxy import DEFAULT_URL, ToxiproxyBackend

BACKENDS: dict[str, type[RouteBackend]] = {
    "builtin": ProxyPool,
    "toxiproxy": ToxiproxyBackend,
}


def open_backend(kind: str, *, toxiproxy_url: str = DEFAULT_URL) -> RouteBackend:
    """A new backend of ``kind``; ValueError listing the valid kinds otherwise."""
    if kind == "builtin":
        return ProxyPool()
    if kind == "toxiproxy":
        return ToxiproxyBackend(toxiproxy_url)
    raise ValueError(f"unknown network backend {kind!r}; valid backends: {sorted(BACKENDS)}")
