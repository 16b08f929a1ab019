"""SQLAlchemy 2 models. The schema itself is created by Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Dialect, Float, ForeignKey, Index, Integer, String
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
    # Equal to ``path`` while the incident is open and NULL once resolved: its unique
    # index lets only one open incident exist per path, across processes.
    open_key: Mapped[str | None] = mapped_column(String(63), unique=True)
    path: Mapped[str] = mapped_column(ForeignKey("paths.name"))
    status: Mapped[str] = mapped_column(String(16))
    first_seen: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()
    hits: Mapped[int] = mapped_column(Integer)
    verdicts: Mapped[dict[str, Any]] = mapped_column(JSON)  # verdict -> count
    canaries: Mapped[list[str]] = mapped_column(JSON)  # canaries that saw a leak
    sources: Mapped[list[str]] = mapped_column(JSON)  # canaries whose frames leaked
    profiles: Mapped[list[str]] = mapped_column(JSON)


class KillSwitchRow(Base):
    __tablename__ = "kill_switches"

    path: Mapped[str] = mapped_column(ForeignKey("paths.name"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column()
    reason: Mapped[str] = mapped_column(String(500), default="")
