"""The fleet's current status, in a few small indexed queries: what the paths API
(``GET /api/v1/paths``) and the scrape-time gauges of ``/metrics`` read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from alerts.outbox import DEAD, PENDING, SENDING
from alerts.tables import outbox
from monitor.store.models import IncidentRow, KillSwitchRow, PathRow, ProbeLatestRow
from monitor.verdict import Verdict


@dataclass(frozen=True)
class PathInfo:
    name: str
    kind: str
    on_leak: str


@dataclass(frozen=True)
class LatestVerdict:
    """The last time ``path`` under ``profile`` gave ``verdict``."""

    path: str
    profile: str
    verdict: str
    at: datetime


@dataclass(frozen=True)
class PathsStatus:
    paths: list[PathInfo]  # by name
    open_incidents: dict[str, int]  # path -> open incidents (quiet paths absent)
    latest: list[LatestVerdict]  # one per (path, profile, verdict) ever seen


@dataclass(frozen=True)
class Gauges:
    open_incidents: dict[str, int]  # path -> open incidents (quiet paths absent)
    kill_switches: dict[str, str]  # path -> state
    outbox_depth: int  # alert messages waiting to be delivered
    outbox_dead: int  # alert messages given up on
    last_success: dict[str, datetime]  # path -> last probe that was not an error


def paths_status(engine: sa.Engine) -> PathsStatus:
    with engine.connect() as conn:
        paths = [
            PathInfo(row.name, row.kind, row.on_leak)
            for row in conn.execute(sa.select(PathRow).order_by(PathRow.name))
        ]
        incidents = _open_incidents(conn)
        latest = [
            LatestVerdict(path, profile, verdict, at)
            for path, profile, verdict, at in conn.execute(
                sa.select(
                    ProbeLatestRow.path,
                    ProbeLatestRow.profile,
                    ProbeLatestRow.verdict,
                    sa.func.max(ProbeLatestRow.last_at),
                ).group_by(ProbeLatestRow.path, ProbeLatestRow.profile, ProbeLatestRow.verdict)
            )
        ]
    return PathsStatus(paths, incidents, latest)


def path_names(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(sa.select(PathRow.name)))


def gauges(engine: sa.Engine) -> Gauges:
    """Raises `SQLAlchemyError` when the database fails (the scrape reports it)."""
    with engine.connect() as conn:
        incidents = _open_incidents(conn)
        switches = dict(conn.execute(sa.select(KillSwitchRow.path, KillSwitchRow.state)).all())
        depth = conn.scalar(
            sa.select(sa.func.count()).where(outbox.c.status.in_((PENDING, SENDING)))
        )
        dead = conn.scalar(sa.select(sa.func.count()).where(outbox.c.status == DEAD))
        last = dict(
            conn.execute(
                sa.select(ProbeLatestRow.path, sa.func.max(ProbeLatestRow.last_at))
                .where(ProbeLatestRow.verdict != str(Verdict.ERROR))
                .group_by(ProbeLatestRow.path)
            ).all()
        )
    return Gauges(incidents, switches, depth or 0, dead or 0, last)


def _open_incidents(conn: sa.Connection) -> dict[str, int]:
    return dict(
        conn.execute(
            sa.select(IncidentRow.path, sa.func.count())
            .where(IncidentRow.status == "open")
            .group_by(IncidentRow.path)
        ).all()
    )
