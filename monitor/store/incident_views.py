"""What the API and the incident page read about incidents: pages of them, one of
them, its Slack thread row and the stored evidence beside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from alerts.tables import threads
from monitor.store import Incident, Store
from monitor.store.evidence_views import EvidenceView, StoredEvidence, stored_evidence, views_of
from monitor.store.models import IncidentRow


@dataclass(frozen=True)
class IncidentPage:
    incident: Incident
    thread: sa.Row[Any] | None  # the whole ``alert_threads`` row; None before any post
    evidence: list[StoredEvidence]
    views: list[EvidenceView]


def incidents(
    store: Store,
    *,
    path: str | None = None,
    status: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> tuple[list[Incident], int | None]:
    """Newest first, ``limit`` of them; the id to page on from, None on the last page."""
    query = sa.select(IncidentRow).order_by(IncidentRow.id.desc()).limit(limit + 1)
    if path is not None:
        query = query.where(IncidentRow.path == path)
    if status is not None:
        query = query.where(IncidentRow.status == status)
    if before_id is not None:
        query = query.where(IncidentRow.id < before_id)
    with store.session() as session:
        rows = [Incident.of(row) for row in session.scalars(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].id if more else None


def incident(store: Store, incident_id: int) -> Incident | None:
    with store.session() as session:
        row = session.get(IncidentRow, incident_id)
        return None if row is None else Incident.of(row)


def slack_thread(store: Store, incident_id: int) -> sa.Row[Any] | None:
    """The incident's ``alert_threads`` row (channel, ts, ...), None before any post."""
    with store.engine.connect() as conn:
        return _thread(conn, incident_id)


def incident_page(store: Store, incident_id: int) -> IncidentPage | None:
    """Everything the incident page shows from the database but hits and audit."""
    with store.session() as session:
        row = session.get(IncidentRow, incident_id)
        if row is None:
            return None
        conn = session.connection()
        return IncidentPage(
            incident=Incident.of(row),
            thread=_thread(conn, incident_id),
            evidence=stored_evidence(conn, incident_id),
            views=views_of(conn, incident_id),
        )


def _thread(conn: sa.Connection, incident_id: int) -> sa.Row[Any] | None:
    return conn.execute(sa.select(threads).where(threads.c.incident_id == incident_id)).first()
