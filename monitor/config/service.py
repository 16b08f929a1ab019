"""How the service runs: schedule, probe deadlines, the store, incident policy."""

from __future__ import annotations

from pydantic import Field, model_validator

from monitor.config.base import Model


class ScheduleConfig(Model):
    interval_s: float = Field(default=30.0, gt=0)
    jitter_s: float = Field(default=5.0, ge=0)
    concurrency: int = Field(default=4, ge=1, le=256)


class ProbeConfig(Model):
    deadline_s: float = Field(default=20.0, gt=0)
    stale_after_s: float = Field(default=60.0, gt=0)


class StoreConfig(Model):
    url: str = "sqlite:///camcanary.db"
    # Raw probe rows older than this are deleted hourly (never rows an incident holds);
    # minute rollups are kept for minute_retention_s, coarser rollups for ever.
    raw_retention_s: float = Field(default=30 * 86400.0, gt=0)
    minute_retention_s: float = Field(default=3 * 86400.0, ge=7200)


class IncidentsConfig(Model):
    renotify_s: float = Field(default=900.0, gt=0, description="unacknowledged leak reminder")
    resolve_after_rounds: int = Field(default=3, ge=1, description="clean rounds to resolve")
    warning_window: int = Field(default=20, ge=1, description="the last Y probes of a path")
    warning_threshold: int = Field(default=5, ge=1, description="X of them to warn")
    warning_every_s: float = Field(default=3600.0, gt=0, description="at most one per")

    @model_validator(mode="after")
    def _threshold_in_window(self) -> IncidentsConfig:
        if self.warning_threshold > self.warning_window:
            raise ValueError("warning_threshold cannot exceed warning_window")
        return self
