"""The incident engine's SQL: one short transaction per call.

The engine (``monitor.incidents``) decides and composes; this module reads and writes.
Where a change and the Slack messages reporting it must commit together (the outbox
rule: a message exists if and only if its change does), the call hands the engine a
`Tx` inside its transaction to enqueue them. Claims that must happen once across
replicas are compare-and-set UPDATEs whose row count is checked. Synchronous: the
engine runs it on its own thread.

An incident's own state (clean rounds, acknowledgement) is in ``incidents``; the
Slack thread table ``alert_threads`` only says where its messages go and when its
thread was last reminded, and exists only for incidents reported to Slack.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from alerts import digest, outbox
from alerts.evidence import EvidenceRecord, EvidenceVault
from alerts.tables import actions, evidence, silences, threads
from monitor.results import ProbeResult
from monitor.store import Incident, Store
from monitor.store.models import IncidentRow

T = TypeVar("T")
Payload = dict[str, Any]


class Tx:
    """One open transaction of the incident engine: what its messages may read and
    enqueue (``alerts.outbox``), committed with the change they report."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._conn = session.connection()

    def incident(self, incident_id: int) -> Incident | None:
        row = self._session.get(IncidentRow, incident_id)
        return Incident.of(row) if row is not None else None

    def seal(
        self, vault: EvidenceVault, frame: bytes, incident_id: int, now: datetime
    ) -> EvidenceRecord:
        """Keep ``frame`` encrypted in the vault; what may be shown of it."""
        return vault.store(self._conn, frame, incident_id, now)

    def first_evidence(self, incident_id: int) -> tuple[str, list[list[int]] | None] | None:
        """The SHA-256 and silhouette of the incident's first kept frame, if any."""
        first = self._conn.execute(
            sa.select(evidence.c.sha256, evidence.c.silhouette)
            .where(evidence.c.incident_id == incident_id)
            .order_by(evidence.c.id)
            .limit(1)
        ).one_or_none()
        return (first.sha256, first.silhouette) if first is not None else None

    def open_thread(self, incident_id: int, channel: str, payload: Payload, now: datetime) -> bool:
        return outbox.open_thread(self._conn, incident_id, channel, payload, now)

    def update_parent(self, incident_id: int, payload: Payload, now: datetime) -> None:
        outbox.update_parent(self._conn, incident_id, payload, now)

    def reply(self, incident_id: int, key: str, payload: Payload, now: datetime) -> bool:
        return outbox.reply(self._conn, incident_id, key, payload, now)

    def warn(
        self, channel: str, scope: str, line: str, now: datetime, *, window: timedelta
    ) -> bool:
        return digest.warn(self._conn, channel, scope, line, now, window=window)


class IncidentStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    def transaction(self, work: Callable[[Tx], T]) -> T:
        """Run ``work`` in one transaction (a reply, a post) and commit it."""
        with self._store.session() as session, session.begin():
            return work(Tx(session))

    def add_leak(
        self, result: ProbeResult, key: str, within: Callable[[Tx, Incident, bool], None]
    ) -> tuple[Incident, bool]:
        """Open or join the incident of ``key`` (`Store.add_leak`; the hit restarts its
        clean rounds); ``within`` enqueues its messages in the same transaction."""
        return self._store.add_leak(
            result,
            key=key,
            within=lambda session, incident, opened: within(Tx(session), incident, opened),
        )

    def count_clean(
        self,
        path: str,
        profile: str,
        profiles: frozenset[str],
        rounds: int,
        resolved: Callable[[Tx, Incident], None],
    ) -> None:
        """Count a clean result of ``path`` on ``profile`` for each of its open incidents.

        A round is complete once every one of ``profiles`` was clean since the last;
        after ``rounds`` of them the incident resolves and ``resolved`` runs in the
        same transaction. The rows are locked (PostgreSQL): replicas count in turn.
        """
        with self._store.session() as session, session.begin():
            rows = session.scalars(
                sa.select(IncidentRow)
                .where(IncidentRow.path == path, IncidentRow.status == "open")
                .with_for_update()
            ).all()
            for row in rows:
                seen = sorted({*row.clean_profiles, profile})
                done = row.clean_rounds
                if profiles <= set(seen):
                    done, seen = done + 1, []
                row.clean_rounds, row.clean_profiles = done, seen
                if done >= rounds:
                    row.status, row.open_key = "resolved", None
                session.flush()
                if row.status == "resolved":
                    resolved(Tx(session), Incident.of(row))

    def acknowledge(
        self, incident_id: int, user: str, now: datetime, then: Callable[[Tx, Incident], None]
    ) -> bool:
        """Compare-and-set: the first acknowledgement wins; False if there was one (or
        no such incident). ``then`` runs in the same transaction, for the winner only."""
        with self._store.session() as session, session.begin():
            changed = session.connection().execute(
                sa.update(IncidentRow)
                .where(IncidentRow.id == incident_id, IncidentRow.acked_by.is_(None))
                .values(acked_by=user, acked_at=now)
            )
            if changed.rowcount != 1:
                return False
            tx = Tx(session)
            incident = tx.incident(incident_id)
            if incident is None:
                return False
            then(tx, incident)
            return True

    def remind_due(
        self, due_before: datetime, now: datetime, remind: Callable[[Tx, Incident, int], None]
    ) -> int:
        """Claim each unacknowledged open incident whose thread was last told before
        ``due_before`` (compare-and-set on its reminder count: one replica reminds);
        ``remind`` gets the new count. Returns how many were claimed."""
        sent = 0
        with self._store.session() as session, session.begin():
            rows = session.execute(
                sa.select(IncidentRow, threads.c.renotified)
                .join(threads, threads.c.incident_id == IncidentRow.id)
                .where(
                    IncidentRow.status == "open",
                    IncidentRow.acked_by.is_(None),
                    threads.c.notified_at <= due_before,
                )
            ).all()
            conn = session.connection()
            for row, count in rows:
                claimed = conn.execute(
                    sa.update(threads)
                    .where(threads.c.incident_id == row.id, threads.c.renotified == count)
                    .values(renotified=count + 1, notified_at=now)
                )
                if claimed.rowcount != 1:
                    continue
                remind(Tx(session), Incident.of(row), count + 1)
                sent += 1
        return sent

    def open_ids(self, path: str) -> list[int]:
        with self._store.session() as session:
            query = sa.select(IncidentRow.id).where(
                IncidentRow.path == path, IncidentRow.status == "open"
            )
            return list(session.scalars(query))

    def purge_evidence(self, vault: EvidenceVault, now: datetime) -> int:
        """Delete evidence past retention, except what open incidents hold."""
        with self._store.engine.begin() as conn:
            held = conn.execute(
                sa.select(IncidentRow.id).where(IncidentRow.status == "open")
            ).scalars()
            return vault.purge(conn, now, set(held))

    def silence(self, scope: str, until: datetime, by: str) -> None:
        with self._store.engine.begin() as conn:
            conn.execute(sa.delete(silences).where(silences.c.scope == scope))
            conn.execute(sa.insert(silences).values(scope=scope, until=until, by=by))

    def silenced_until(self, scope: str) -> datetime | None:
        with self._store.engine.connect() as conn:
            until: datetime | None = conn.execute(
                sa.select(silences.c.until).where(silences.c.scope == scope)
            ).scalar_one_or_none()
        return until


def first_press(store: Store, key: str, action: str, user: str, at: datetime) -> bool:
    """Record a Slack button press; True only the first time its key is seen, so a
    press that Slack retries, or that reaches two replicas, is acted on once."""
    with store.engine.begin() as conn:
        row = {"key": key, "action": action, "user": user, "at": at}
        return outbox.insert_ignore(conn, actions, row)
