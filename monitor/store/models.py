"""SQLAlchemy 2 models. The schema itself is created by Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


class CanaryRow(Base):
    __tablename__ = "canaries"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(200))
    registered_at: Mapped[datetime] = mapped_column()


class PathRow(Base):
    __tablename__ = "paths"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    on_leak: Mapped[str] = mapped_column(String(16))


class ProbeResultRow(Base):
    __tablename__ = "probe_results"
    __table_args__ = (
        Index("ix_probe_results_path_started", "path", "started_at"),
        Index("ix_probe_results_verdict_started", "verdict", "started_at"),
        # Keyset pagination (newest id first) under each filter; see store/history.py.
        Index("ix_probe_results_path_id", "path", "id"),
        Index("ix_probe_results_verdict_id", "verdict", "id"),
        Index("ix_probe_results_canary_id", "canary", "id"),
        Index("ix_probe_results_incident_id", "incident_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column()
    duration_s: Mapped[float] = mapped_column(Float)
    canary: Mapped[str] = mapped_column(ForeignKey("canaries.name"))
    path: Mapped[str] = mapped_column(ForeignKey("paths.name"))
    profile: Mapped[str] = mapped_column(String(32))
    verdict: Mapped[str] = mapped_column(String(16))
    source_canary: Mapped[str | None] = mapped_column(String(63))
    distance: Mapped[int | None] = mapped_column(Integer)
    age_s: Mapped[float | None] = mapped_column(Float)
    status: Mapped[int | None] = mapped_column(Integer)
    bytes_received: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str] = mapped_column(String(500), default="")
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))


class IncidentRow(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The grouping key (the path, or path/leak kind) while the incident is open and
    # NULL once resolved: its unique index allows one open incident per key.
    open_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    path: Mapped[str] = mapped_column(ForeignKey("paths.name"))
    status: Mapped[str] = mapped_column(String(16))
    first_seen: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()
    hits: Mapped[int] = mapped_column(Integer)
    verdicts: Mapped[dict[str, Any]] = mapped_column(JSON)  # verdict -> count
    canaries: Mapped[list[str]] = mapped_column(JSON)  # canaries that saw a leak
    sources: Mapped[list[str]] = mapped_column(JSON)  # canaries whose frames leaked
    profiles: Mapped[list[str]] = mapped_column(JSON)
    # The incident's own bookkeeping (migration 0007; before it, in ``alert_threads``):
    # clean rounds towards resolving it, and who acknowledged it, with or without Slack.
    clean_rounds: Mapped[int] = mapped_column(Integer, default=0)
    clean_profiles: Mapped[list[str]] = mapped_column(JSON, default=list)  # this round so far
    acked_by: Mapped[str | None] = mapped_column(String(100))
    acked_at: Mapped[datetime | None] = mapped_column()


class KillSwitchRow(Base):
    __tablename__ = "kill_switches"

    path: Mapped[str] = mapped_column(ForeignKey("paths.name"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column()
    reason: Mapped[str] = mapped_column(String(500), default="")
    actor: Mapped[str] = mapped_column(String(100), default="")
    # Bumped on every change: the compare-and-set key and the flag endpoint's ETag.
    version: Mapped[int] = mapped_column(Integer, default=0)
    clean_rounds: Mapped[int] = mapped_column(Integer, default=0)  # while verifying
    clean_profiles: Mapped[list[str] | None] = mapped_column(JSON)  # this round so far


class KillSwitchAuditRow(Base):
    """Append-only (triggers refuse UPDATE and DELETE): one row per transition."""

    __tablename__ = "kill_switch_audit"
    __table_args__ = (Index("ix_kill_switch_audit_path_id", "path", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    path: Mapped[str] = mapped_column(ForeignKey("paths.name"))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column()


class KillSwitchRequestRow(Base):
    """A four-eyes re-enable request; ``open_key`` is the path while it is pending."""

    __tablename__ = "kill_switch_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    open_key: Mapped[str | None] = mapped_column(String(63), unique=True)
    path: Mapped[str] = mapped_column(ForeignKey("paths.name"))
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500))
    requested_at: Mapped[datetime] = mapped_column()
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column()


# --- probe history (migration 0004; queried by monitor/store/history.py) ---

HISTOGRAM_BUCKETS = 24  # duration histogram columns h00..h23 (edges in store/rollups.py)

probe_rollups = Table(
    "probe_rollups",
    Base.metadata,
    Column("resolution", Integer, primary_key=True),  # bucket width, seconds
    Column("path", String(63), primary_key=True),
    Column("bucket_start", BigInteger, primary_key=True),  # Unix seconds
    Column("profile", String(32), primary_key=True),
    Column("verdict", String(16), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("duration_sum", Float, nullable=False),
    *(
        Column(f"h{k:02d}", Integer, nullable=False, server_default="0")
        for k in range(HISTOGRAM_BUCKETS)
    ),
    Index("ix_probe_rollups_bucket", "resolution", "bucket_start"),
)


class ProbeLatestRow(Base):
    """The last probe time per (canary, path, profile, verdict): survives raw expiry."""

    __tablename__ = "probe_latest"

    canary: Mapped[str] = mapped_column(String(63), primary_key=True)
    path: Mapped[str] = mapped_column(String(63), primary_key=True)
    profile: Mapped[str] = mapped_column(String(32), primary_key=True)
    verdict: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_at: Mapped[datetime] = mapped_column()


class EventRow(Base):
    """A change marker on the history charts (deploy, cache update, config change)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column()
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    path: Mapped[str | None] = mapped_column(String(63))  # NULL: a global event
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
