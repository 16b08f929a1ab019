"""Kill-switch backends, their registry, and the state machine that drives them.

``KILL_SWITCHES`` is the one place a backend kind is named: `build_kill_switch`
looks the configured kind up there and lets the class build itself from the config
(``KillSwitchBackend.from_config``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.killswitch.base import KillSwitchBackend
from monitor.killswitch.builtin import BuiltinKillSwitch
from monitor.killswitch.post import sign
from monitor.killswitch.record import RecordKillSwitch
from monitor.killswitch.unleash import UnleashKillSwitch
from monitor.killswitch.webhook import WebhookKillSwitch

if TYPE_CHECKING:
    from monitor.config import KillSwitchConfig

KILL_SWITCHES: dict[str, type[KillSwitchBackend]] = {
    "builtin": BuiltinKillSwitch,
    "record": RecordKillSwitch,
    "unleash": UnleashKillSwitch,
    "webhook": WebhookKillSwitch,
}


def build_kill_switch(config: KillSwitchConfig) -> KillSwitchBackend:
    """The backend of ``config.kind``; ValueError listing the valid kinds otherwise."""
    backend = KILL_SWITCHES.get(config.kind)
    if backend is None:
        valid = ", ".join(KILL_SWITCHES)
        raise ValueError(f"unknown kill switch kind {config.kind!r} (valid: {valid})")
    return backend.from_config(config)


__all__ = [
    "KILL_SWITCHES",
    "BuiltinKillSwitch",
    "KillSwitchBackend",
    "RecordKillSwitch",
    "UnleashKillSwitch",
    "WebhookKillSwitch",
    "build_kill_switch",
    "sign",
]
