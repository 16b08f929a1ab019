"""Kill-switch backends and their registry."""

from __future__ import annotations

from monitor.config import KillSwitchConfig
from monitor.killswitch.base import KillSwitchBackend
from monitor.killswitch.record import RecordKillSwitch
from monitor.killswitch.webhook import WebhookKillSwitch, sign

KILL_SWITCHES: dict[str, type[KillSwitchBackend]] = {
    "record": RecordKillSwitch,
    "webhook": WebhookKillSwitch,
}


def build_kill_switch(config: KillSwitchConfig) -> KillSwitchBackend:
    if config.kind == "webhook":
        if config.url is None or config.secret is None:  # the config validator forbids it
            raise ValueError("a webhook kill switch needs url and secret")
        return WebhookKillSwitch(
            config.url, config.secret.get_secret_value().encode(), timeout_s=config.timeout_s
        )
    return KILL_SWITCHES[config.kind]()


__all__ = [
    "KILL_SWITCHES",
    "KillSwitchBackend",
    "RecordKillSwitch",
    "WebhookKillSwitch",
    "build_kill_switch",
    "sign",
]
