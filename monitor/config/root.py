"""The whole file: every section, and the checks that span sections."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator, model_validator

from monitor.config.alerts import EvidenceConfig, NotifierConfig, SlackConfig
from monitor.config.base import Model
from monitor.config.canaries import CanaryConfig, DeploymentConfig
from monitor.config.killswitch import KillSwitchConfig
from monitor.config.network import NetworkConfig, known_profiles
from monitor.config.paths import AnyPath
from monitor.config.service import IncidentsConfig, ProbeConfig, ScheduleConfig, StoreConfig
from monitor.config.web import WebConfig


class Config(Model):
    deployment: DeploymentConfig
    canaries: tuple[CanaryConfig, ...]
    paths: tuple[AnyPath, ...]
    profiles: tuple[str, ...] = ("good", "3g")
    schedule: ScheduleConfig = ScheduleConfig()
    probe: ProbeConfig = ProbeConfig()
    store: StoreConfig = StoreConfig()
    alerts: tuple[NotifierConfig, ...] = (NotifierConfig(),)
    killswitch: KillSwitchConfig = KillSwitchConfig()
    slack: SlackConfig = SlackConfig()
    incidents: IncidentsConfig = IncidentsConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    network: NetworkConfig = NetworkConfig()

    @model_validator(mode="before")
    @classmethod
    def _environment_sections(cls, data: Any) -> Any:
        # Validate these sections even when absent, so they read the environment.
        if isinstance(data, dict):
            data = {"slack": {}, "evidence": {}, "web": {}, **data}
        return data

    web: WebConfig = WebConfig()

    @field_validator("profiles")
    @classmethod
    def _known_profiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return known_profiles(value)

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        for label, items in (("canaries", self.canaries), ("paths", self.paths)):
            if not items:
                raise ValueError(f"at least one entry is needed under {label}")
        for label, names in (
            ("canary", [c.name for c in self.canaries]),
            ("path", [p.name for p in self.paths]),
            ("profile", list(self.profiles)),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {label} name {dupes[0]!r}")
        return self
