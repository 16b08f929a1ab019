"""The kill switches' rows and records, and the one compare-and-set every change uses.

`cas` moves a switch row on its ``version`` and `audit` appends its audit row; every
caller runs both in one transaction (`set_state` here, `monitor.store.killswitch.ledger`
for the state machine), so no switch changes without its append-only audit row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from monitor.errors import KillSwitchStateError
from monitor.store.models import KillSwitchAuditRow, KillSwitchRequestRow, KillSwitchRow

POLICY = "policy"  # the actor of automatic transitions
SET = "set"  # the audit action of a direct compare-and-set (`Store.set_kill_switch`)


@dataclass(frozen=True)
class Transition:
    path: str
    from_state: str
    to_state: str
    actor: str
    reason: str
    at: datetime
    dry_run: bool = False


@dataclass(frozen=True)
class AuditRecord:
    id: int
    path: str
    action: str  # trip, request-reenable, approve, verified, revert, set
    from_state: str
    to_state: str
    actor: str
    reason: str
    incident_id: int | None
    evidence: dict[str, Any] | None
    dry_run: bool
    at: datetime


@dataclass(frozen=True)
class SwitchStatus:
    path: str
    state: str
    since: datetime
    actor: str
    reason: str
    version: int
    clean_rounds: int
    pending_by: str | None  # who requested a re-enable that awaits approval


Target = Callable[[str], str | None]  # current state -> new state, None: no change


class Conflict(Exception):
    """The row changed between read and compare-and-set: read again."""


def set_state(
    session: Session, path: str, state: str, reason: str, *, expect: str, actor: str
) -> bool:
    """Move ``path`` to ``state`` only if it is ``expect`` now, audited; False otherwise.

    Runs inside the caller's transaction: the audit row commits with the change.
    """
    now = datetime.now(UTC)
    lock(session)
    row = session.get(KillSwitchRow, path)
    if row is None or row.state != expect:
        return False
    try:
        cas(session, row, state, actor, reason, now)
    except Conflict:  # PostgreSQL: another replica changed it since our read
        return False
    audit(session, path, SET, expect, state, actor, reason, now)
    return True


def lock(session: Session) -> None:
    # pysqlite sends no BEGIN before a SELECT: take the write lock first, or two
    # read-then-write transactions deadlock into "database is locked".
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("BEGIN IMMEDIATE"))


def switch(session: Session, path: str) -> KillSwitchRow:
    row = session.get(KillSwitchRow, path)
    if row is None:
        raise KillSwitchStateError(f"unknown path {path!r}", path=path, state=None)
    return row


def pending(session: Session, path: str) -> KillSwitchRequestRow | None:
    return session.scalars(
        select(KillSwitchRequestRow).where(KillSwitchRequestRow.open_key == path)
    ).one_or_none()


def cas(
    session: Session, row: KillSwitchRow, state: str, actor: str, reason: str, now: datetime
) -> None:
    changed = session.execute(
        update(KillSwitchRow)
        .where(KillSwitchRow.path == row.path, KillSwitchRow.version == row.version)
        .values(
            state=state,
            actor=actor[:100],
            reason=reason[:500],
            changed_at=now,
            version=row.version + 1,
            clean_rounds=0,
            clean_profiles=[],
        )
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict


def audit(
    session: Session,
    path: str,
    action: str,
    from_state: str,
    to_state: str,
    actor: str,
    reason: str,
    at: datetime,
    *,
    incident_id: int | None = None,
    evidence: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> None:
    session.add(
        KillSwitchAuditRow(
            path=path,
            action=action,
            from_state=from_state,
            to_state=to_state,
            actor=actor[:100],
            reason=reason[:500],
            incident_id=incident_id,
            evidence=evidence,
            dry_run=dry_run,
            at=at,
        )
    )


def status_of(session: Session, row: KillSwitchRow) -> SwitchStatus:
    waiting = pending(session, row.path)
    return SwitchStatus(
        path=row.path,
        state=row.state,
        since=row.changed_at,
        actor=row.actor,
        reason=row.reason,
        version=row.version,
        clean_rounds=row.clean_rounds,
        pending_by=None if waiting is None else waiting.requested_by,
    )


def record_of(row: KillSwitchAuditRow) -> AuditRecord:
    return AuditRecord(
        id=row.id,
        path=row.path,
        action=row.action,
        from_state=row.from_state,
        to_state=row.to_state,
        actor=row.actor,
        reason=row.reason,
        incident_id=row.incident_id,
        evidence=row.evidence,
        dry_run=row.dry_run,
        at=row.at,
    )
