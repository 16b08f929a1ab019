"""Kill-switch backends, their registry, and the state machine that drives them."""

from __future__ import annotations

from monitor.config import KillSwitchConfig
from monitor.killswitch.base import KillSwitchBackend
from monitor.killswitch.builtin import BuiltinKillSwitch
from monitor.killswitch.record import RecordKillSwitch
from monitor.killswitch.unleash import UnleashKillSwitch
from monitor.killswitch.webhook import WebhookKillSwitch, sign

KILL_SWITCHES: dict[str, type[KillSwitchBackend]] = {
    "builtin": BuiltinKillSwitch,
    "record": RecordKillSwitch,
    "unleash": UnleashKillSwitch,
    "webhook": WebhookKillSwitch,
}


def build_kill_switch(config: KillSwitchConfig) -> KillSwitchBackend:
    if config.kind in ("webhook", "unleash"):
        if config.url is None or config.secret is None:  # the config validator forbids it
            raise ValueError(f"a {config.kind} kill switch needs url and secret")
        secret = config.secret.get_secret_value()
        if config.kind == "unleash":
            return UnleashKillSwitch(
                config.url,
                secret,
                project=config.unleash_project,
                environment=config.unleash_environment,
                features=config.unleash_features,
                timeout_s=config.timeout_s,
            )
        return WebhookKillSwitch(config.url, secret.encode(), timeout_s=config.timeout_s)
    return KILL_SWITCHES[config.kind]()


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
