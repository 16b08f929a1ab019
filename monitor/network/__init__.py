"""Network impairment: named profiles, Toxiproxy-style toxics and the built-in proxy."""

from __future__ import annotations

from monitor.network.profiles import PROFILES, Profile, UnknownProfileError, get_profile
from monitor.network.proxy import ProxyPool, TcpProxy
from monitor.network.toxics import (
    TOXICS,
    BandwidthToxic,
    Chunk,
    LatencyToxic,
    Stream,
    Toxic,
    ToxicStub,
    toxic_from_dict,
)

__all__ = [
    "PROFILES",
    "TOXICS",
    "BandwidthToxic",
    "Chunk",
    "LatencyToxic",
    "Profile",
    "ProxyPool",
    "Stream",
    "TcpProxy",
    "Toxic",
    "ToxicStub",
    "UnknownProfileError",
    "get_profile",
    "toxic_from_dict",
]
