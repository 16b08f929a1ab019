"""The deployment secret and the canary cameras it keys."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from monitor.config.base import NAME_PATTERN, Model
from monitor.config.secrets import secret_from_env_key


class DeploymentConfig(Model):
    """The deployment secret keys every canary codeword."""

    secret: SecretStr

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any, info: ValidationInfo) -> Any:
        return secret_from_env_key(data, "secret", info)

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 8:
            raise ValueError("the deployment secret must be at least 8 characters")
        return value


class CanaryConfig(Model):
    """One canary camera, registered to its own tenant account."""

    name: str = Field(pattern=NAME_PATTERN)
    camera_id: str = Field(min_length=1, max_length=200)
    token: SecretStr

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any, info: ValidationInfo) -> Any:
        return secret_from_env_key(data, "token", info)
