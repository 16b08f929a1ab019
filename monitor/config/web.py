"""The service's HTTP endpoint: dashboard, API, /metrics, kill switch flags, Slack."""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import Field, SecretStr, ValidationInfo, model_validator

from monitor.config.base import Model
from monitor.config.secrets import secrets_from_environ


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebConfig(Model):
    """The service's HTTP endpoint: dashboard, API, /metrics, kill switch flags, Slack."""

    host: str = "127.0.0.1"
    port: int = Field(default=8400, ge=0, le=65535)
    anonymous_viewer: bool = Field(
        default=False, description="read-only access without login; only on a loopback host"
    )
    secure_cookies: bool = Field(
        default=False, description="mark cookies Secure (behind an HTTPS proxy)"
    )
    metrics_token: SecretStr | None = None  # $CAMCANARY_METRICS_TOKEN: bearer for /metrics

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any, info: ValidationInfo) -> Any:
        return secrets_from_environ(data, info, {"metrics_token": "CAMCANARY_METRICS_TOKEN"})

    @model_validator(mode="after")
    def _anonymous_on_loopback(self) -> WebConfig:
        if self.anonymous_viewer and not is_loopback(self.host):
            raise ValueError(
                f"anonymous_viewer is only allowed on a loopback host, not {self.host!r}"
            )
        return self
