"""What every configuration model shares: frozen, unknown keys refused, one name shape."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# Canary, path and account names: they appear in URLs, metric labels and Slack text.
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
