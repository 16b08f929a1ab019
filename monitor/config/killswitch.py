"""Which kill-switch backend trips a leaking path (``monitor.killswitch.KILL_SWITCHES``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, model_validator

from monitor.config.base import Model
from monitor.config.secrets import secret_from_env_key

# The registry's names, owned here so config imports no backend;
# tests/monitor/test_config_registries.py keeps them equal to KILL_SWITCHES.
KillSwitchKind = Literal["builtin", "record", "webhook", "unleash"]


class KillSwitchConfig(Model):
    kind: KillSwitchKind = "record"
    url: str | None = None  # webhook target; Unleash base URL
    secret: SecretStr | None = None  # webhook HMAC key; Unleash admin API token
    timeout_s: float = Field(default=5.0, gt=0)
    clean_rounds: int = Field(
        default=3, ge=1, description="clean rounds across a path's profiles to re-arm it"
    )
    unleash_project: str = "default"
    unleash_environment: str = "production"
    unleash_features: dict[str, str] = Field(
        default_factory=dict, description="path name -> Unleash feature name (default: path)"
    )

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any, info: ValidationInfo) -> Any:
        return secret_from_env_key(data, "secret", info)

    @model_validator(mode="after")
    def _webhook_needs_target(self) -> KillSwitchConfig:
        if self.kind in ("webhook", "unleash") and (self.url is None or self.secret is None):
            article = "an" if self.kind == "unleash" else "a"
            raise ValueError(f"{article} {self.kind} kill switch needs url and secret_env")
        return self
