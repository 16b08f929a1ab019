"""The JSON API's request and response models (pydantic): the single source of both
input validation and the OpenAPI document's schemas (``monitor.web.api.openapi``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from monitor.config import NAME_PATTERN
from monitor.store.views import EVENT_KINDS
from monitor.verdict import KillSwitchState, Verdict

MAX_ID = 2**31 - 1  # ids are 32-bit on every backend; larger ones cannot exist
VerdictName = Literal[
    "own", "own_stale", "foreign_canary", "foreign", "spliced", "degraded", "blank", "error"
]
assert set(VerdictName.__args__) == {v.value for v in Verdict}  # type: ignore[attr-defined]
EventKind = Literal["deploy", "cache_update", "config", "other"]
assert set(EventKind.__args__) == set(EVENT_KINDS)  # type: ignore[attr-defined]


class Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class In(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Error(Out):
    error: str
    status: int
    details: list[dict[str, Any]] | None = None


# -- queries ---------------------------------------------------------------------------


def _utc(value: datetime | None) -> datetime | None:
    """Naive times are UTC; a time whose UTC form leaves datetime's range is clamped."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        edge = datetime.min if value.year == datetime.min.year else datetime.max
        return edge.replace(tzinfo=UTC)


class Page(In):
    limit: int = Field(default=50, ge=1, le=500)
    before_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class ProbeQuery(Page):
    path: str | None = Field(default=None, max_length=63)
    profile: str | None = Field(default=None, max_length=32)
    verdict: VerdictName | None = None
    canary: str | None = Field(default=None, max_length=63)
    since: datetime | None = None
    until: datetime | None = None

    _zone = field_validator("since", "until")(_utc)


class IncidentQuery(Page):
    path: str | None = Field(default=None, max_length=63)
    status: Literal["open", "resolved"] | None = None


class EventQuery(In):
    path: str | None = Field(default=None, max_length=63)
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(default=500, ge=1, le=5000)

    _zone = field_validator("since", "until")(_utc)


# -- bodies ----------------------------------------------------------------------------


class ReasonIn(In):
    reason: str = Field(min_length=1, max_length=500)


class EventIn(In):
    kind: EventKind
    # Some character the server's strip() keeps. Python's \s (what strip() removes) also
    # holds \x1c-\x1f and \x85, which a JSON-Schema (ECMA) \s does not, and an ASCII-only
    # \s lacks \xa0: named, the published schema allows exactly what the server takes.
    title: str = Field(min_length=1, max_length=200, pattern=r"[^\s\x1c-\x1f\x85\xa0]")
    at: AwareDatetime | None = None
    path: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=63)
    details: dict[str, Any] = Field(default_factory=dict, max_length=50)


# -- responses -------------------------------------------------------------------------


class KillSwitch(Out):
    path: str
    state: KillSwitchState
    since: datetime
    actor: str
    reason: str
    pending_by: str | None = Field(default=None, description="re-enable awaiting approval")


class Latest(Out):
    profile: str
    verdict: VerdictName
    at: datetime


class PathOut(Out):
    name: str
    kind: str
    on_leak: str
    kill_switch: KillSwitch | None
    open_incidents: int
    latest: list[Latest]


class PathList(Out):
    items: list[PathOut]


class Probe(Out):
    id: int
    started_at: datetime
    duration_s: float
    canary: str
    path: str
    profile: str
    verdict: VerdictName
    source_canary: str | None
    distance: int | None
    age_s: float | None
    status: int | None
    bytes_received: int
    detail: str
    incident_id: int | None


class ProbeList(Out):
    items: list[Probe]
    next_before_id: int | None = Field(description="pass as before_id for the next page")
    next: str | None = Field(description="URL of the next page; null on the last page")


class Incident(Out):
    id: int
    path: str
    status: Literal["open", "resolved"]
    first_seen: datetime
    last_seen: datetime
    hits: int
    verdicts: dict[str, int]
    canaries: list[str]
    sources: list[str]
    profiles: list[str]


class IncidentList(Out):
    items: list[Incident]
    next_before_id: int | None
    next: str | None


class Audit(Out):
    id: int
    path: str
    action: str
    from_state: str
    to_state: str
    actor: str
    reason: str
    incident_id: int | None
    dry_run: bool
    at: datetime


class IncidentDetail(Incident):
    hit_probes: list[Probe]
    kill_switch_audit: list[Audit]
    slack_channel: str | None
    slack_ts: str | None


class KillSwitchList(Out):
    items: list[KillSwitch]


class TransitionOut(Out):
    path: str
    from_state: str
    to_state: str
    actor: str
    reason: str
    at: datetime
    dry_run: bool


class Event(Out):
    id: int
    at: datetime
    kind: str
    title: str
    path: str | None
    details: dict[str, Any]


class EventList(Out):
    items: list[Event]


class Canary(Out):
    name: str
    camera_id: str
    paths: list[str]
    last_probe_at: datetime | None
    last_own_at: datetime | None
    last_own_age_s: float | None


class CanaryList(Out):
    items: list[Canary]
