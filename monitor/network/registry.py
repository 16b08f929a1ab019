"""The toxic registry and Toxiproxy's JSON shape, both ways."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, cast

from monitor.network.faults import (
    LimitDataToxic,
    ResetPeerToxic,
    SlicerToxic,
    SlowCloseToxic,
    TimeoutToxic,
)
from monitor.network.toxics import BandwidthToxic, LatencyToxic, Toxic

TOXICS: dict[str, type[Toxic]] = {
    "latency": LatencyToxic,
    "bandwidth": BandwidthToxic,
    "slow_close": SlowCloseToxic,
    "timeout": TimeoutToxic,
    "reset_peer": ResetPeerToxic,
    "slicer": SlicerToxic,
    "limit_data": LimitDataToxic,
}

_COMMON_KEYS = frozenset({"name", "type", "stream", "toxicity", "attributes"})


def toxic_from_dict(d: Mapping[str, Any]) -> Toxic:
    """Build a toxic from Toxiproxy's JSON shape.

    ``{"type": "latency", "stream": "downstream", "toxicity": 1.0,
    "attributes": {"latency": 200, "jitter": 0}}``; ``name``, ``stream`` and
    ``toxicity`` are optional. Unknown types, keys or attributes raise ValueError.
    """
    kind = d.get("type")
    cls = TOXICS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown toxic type {kind!r}; valid types: {sorted(TOXICS)}")
    extra = set(d) - _COMMON_KEYS
    if extra:
        raise ValueError(
            f"{kind} toxic: unknown keys {sorted(extra)}; valid keys: {sorted(_COMMON_KEYS)}"
        )
    attributes = d.get("attributes", {})
    if not isinstance(attributes, Mapping):
        raise ValueError(f"{kind} toxic: attributes must be a mapping, got {attributes!r}")
    valid = {f.name for f in fields(cls)} - {"name", "stream", "toxicity"}
    unknown = set(attributes) - valid
    if unknown:
        raise ValueError(
            f"{kind} toxic: unknown attributes {sorted(unknown)}; valid attributes: {sorted(valid)}"
        )
    common = {key: d[key] for key in ("name", "stream", "toxicity") if key in d}
    return cls(**common, **cast(Mapping[str, Any], attributes))


def toxiproxy_json(toxic: Toxic) -> dict[str, Any]:
    """``toxic.to_dict()`` as a real Toxiproxy accepts it.

    Every Toxiproxy attribute is a Go integer (ms, KB/s, bytes, µs), and its JSON
    decoder rejects a fraction, so attributes are rounded to the nearest integer:
    e.g. slow-4g's 84.375 KB/s upload becomes 84 KB/s (0.4 % slower).
    """
    d = toxic.to_dict()
    d["attributes"] = {key: round(value) for key, value in d["attributes"].items()}
    return d
