"""Network impairment: named profiles, Toxiproxy-style toxics, the built-in proxy and
the backends that route through it or through a real Toxiproxy."""

from __future__ import annotations

from monitor.network.backends import BACKENDS, open_backend
from monitor.network.base import BackendOptions, RouteBackend
from monitor.network.faults import (
    LimitDataToxic,
    ResetPeerToxic,
    SlicerToxic,
    SlowCloseToxic,
    TimeoutToxic,
)
from monitor.network.pool import ProxyPool
from monitor.network.profiles import (
    NO_THROTTLING,
    PROFILES,
    CdpConditions,
    Outage,
    Profile,
    UnknownProfileError,
    get_profile,
)
from monitor.network.proxy import TcpProxy
from monitor.network.registry import TOXICS, toxic_from_dict, toxiproxy_json
from monitor.network.toxics import (
    BandwidthToxic,
    Chunk,
    Fate,
    LatencyToxic,
    Stream,
    Toxic,
    ToxicStub,
)
from monitor.network.toxiproxy import ToxiproxyBackend

__all__ = [
    "BACKENDS",
    "NO_THROTTLING",
    "PROFILES",
    "TOXICS",
    "BackendOptions",
    "BandwidthToxic",
    "CdpConditions",
    "Chunk",
    "Fate",
    "LatencyToxic",
    "LimitDataToxic",
    "Outage",
    "Profile",
    "ProxyPool",
    "ResetPeerToxic",
    "RouteBackend",
    "SlicerToxic",
    "SlowCloseToxic",
    "Stream",
    "TcpProxy",
    "TimeoutToxic",
    "Toxic",
    "ToxicStub",
    "ToxiproxyBackend",
    "UnknownProfileError",
    "get_profile",
    "open_backend",
    "toxic_from_dict",
    "toxiproxy_json",
]
