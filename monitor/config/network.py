"""Network impairment: which profiles every path is probed under, and which backend.

The names are owned here, as data, so config imports no implementation;
tests/monitor/test_config_registries.py keeps them equal to ``monitor.network``'s
``PROFILES`` and ``BACKENDS`` (same names, same order: the order error messages list).
"""

from __future__ import annotations

from typing import Final

from pydantic import field_validator

from monitor.config.base import Model

PROFILE_NAMES: Final = (
    "good",
    "3g",
    "slow-4g",
    "fast-4g",
    "lossy",
    "flapping",
    "truncating",
    "outage-recovery",
)
NETWORK_BACKENDS: Final = ("builtin", "toxiproxy")


def known_profiles(value: tuple[str, ...]) -> tuple[str, ...]:
    """``value`` if every name is a profile; ValueError naming the first unknown one."""
    unknown = [name for name in value if name not in PROFILE_NAMES]
    if unknown:
        raise ValueError(
            f"unknown network profile {unknown[0]!r} (valid: {', '.join(PROFILE_NAMES)})"
        )
    return value


class NetworkConfig(Model):
    """Which impairment backend makes the profiles' routes (monitor.network.BACKENDS)."""

    backend: str = "builtin"
    toxiproxy_url: str = "http://127.0.0.1:8474"

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in NETWORK_BACKENDS:
            raise ValueError(
                f"unknown network backend {value!r} (valid: {', '.join(NETWORK_BACKENDS)})"
            )
        return value
