"""The kill switches' rows, audit and re-enable requests: one short transaction each.

Every change is a compare-and-set UPDATE on the switch row's ``version`` in the same
transaction as its append-only audit row; a lost race raises `Conflict` and the
caller (`monitor.killswitch.machine`) reads again. Synchronous: run it in a thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.errors import KillSwitchStateError
from monitor.store import Store
from monitor.store.models import KillSwitchAuditRow, KillSwitchRequestRow, KillSwitchRow
from monitor.verdict import KillSwitchState

POLICY = "policy"  # the actor of automatic transitions


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
    action: str  # trip, request-reenable, approve, verified, revert
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


class Ledger:
    def __init__(self, store: Store, *, profiles: Iterable[str], clean_rounds: int) -> None:
        self._store = store
        self._profiles = frozenset(profiles)
        self._clean_rounds = clean_rounds

    def state(self, path: str) -> str:
        return self.status(path).state

    def status(self, path: str) -> SwitchStatus:
        with self._store.session() as session:
            row = session.get(KillSwitchRow, path)
            if row is None:
                raise KillSwitchStateError(f"unknown path {path!r}", path=path, state=None)
            return _status(session, row)

    def statuses(self) -> list[SwitchStatus]:
        with self._store.session() as session:
            rows = session.scalars(select(KillSwitchRow).order_by(KillSwitchRow.path))
            return [_status(session, row) for row in rows]

    def audit(self, path: str) -> list[AuditRecord]:
        query = (
            select(KillSwitchAuditRow)
            .where(KillSwitchAuditRow.path == path)
            .order_by(KillSwitchAuditRow.id)
        )
        with self._store.session() as session:
            return [_record(row) for row in session.scalars(query)]

    def commit(
        self,
        path: str,
        action: str,
        actor: str,
        reason: str,
        target: Target,
        incident_id: int | None,
        evidence: dict[str, Any] | None,
        cancel_pending: bool,
        approve: bool,
    ) -> Transition | None:
        """Move ``path`` to ``target(state)`` and audit it; None when nothing changes.

        ``approve`` consumes the pending request (four eyes checked here, under the
        lock); ``cancel_pending`` cancels it and audits even a same-state trip.
        """
        now = datetime.now(UTC)
        with self._store.session() as session, session.begin():
            _lock(session)
            row = _switch(session, path)
            from_state = row.state  # the UPDATE below refreshes ``row``
            to_state = target(from_state)
            if to_state is None:
                return None
            pending = _pending(session, path)
            if approve:
                reason = _check_approval(path, from_state, pending, actor)
                assert pending is not None  # _check_approval refuses otherwise
                pending.status, pending.open_key = "approved", None
                pending.decided_by, pending.decided_at = actor, now
            elif cancel_pending and pending is not None:
                pending.status, pending.open_key = "cancelled", None
                pending.decided_by, pending.decided_at = actor, now
                reason = f"{reason} (cancels the re-enable request by {pending.requested_by})"
            elif to_state == from_state:
                return None
            _cas(session, row, to_state, actor, reason, now)
            _audit(session, path, action, from_state, to_state, actor, reason, now,
                   incident_id=incident_id, evidence=evidence)  # fmt: skip
            return Transition(path, from_state, to_state, actor, reason, now)

    def revert(self, transition: Transition, error: str) -> None:
        """The backend refused: put the switch back so the next leak tries again."""
        now = datetime.now(UTC)
        reason = f"backend refused {transition.to_state}: {error}"
        with self._store.session() as session, session.begin():
            _lock(session)
            row = _switch(session, transition.path)
            if row.state != transition.to_state:
                return
            try:
                _cas(session, row, transition.from_state, POLICY, reason, now)
            except Conflict:
                return
            _audit(session, transition.path, "revert", transition.to_state,
                   transition.from_state, POLICY, reason, now)  # fmt: skip

    def dry_run(
        self, path: str, reason: str, incident_id: int, evidence: dict[str, Any]
    ) -> Transition | None:
        """Audit what a trip would do, once per incident; the switch is not touched."""
        now = datetime.now(UTC)
        with self._store.session() as session, session.begin():
            _lock(session)
            row = _switch(session, path)
            if row.state == KillSwitchState.TRIPPED:
                return None
            seen = session.scalars(
                select(KillSwitchAuditRow.id).where(
                    KillSwitchAuditRow.path == path,
                    KillSwitchAuditRow.dry_run.is_(True),
                    KillSwitchAuditRow.incident_id == incident_id,
                )
            ).first()
            if seen is not None:
                return None
            _audit(session, path, "trip", row.state, KillSwitchState.TRIPPED, POLICY, reason, now,
                   incident_id=incident_id, evidence=evidence, dry_run=True)  # fmt: skip
            return Transition(
                path, row.state, KillSwitchState.TRIPPED, POLICY, reason, now, dry_run=True
            )

    def request(self, path: str, actor: str, reason: str) -> Transition:
        now = datetime.now(UTC)
        try:
            with self._store.session() as session, session.begin():
                _lock(session)
                row = _switch(session, path)
                if row.state != KillSwitchState.TRIPPED:
                    raise KillSwitchStateError(
                        f"{path} is {row.state}, not tripped: there is nothing to re-enable",
                        path=path,
                        state=row.state,
                    )
                pending = _pending(session, path)
                if pending is not None:
                    raise KillSwitchStateError(
                        f"{path}: a re-enable request by {pending.requested_by} is already "
                        "pending; approve it as another operator",
                        path=path,
                        state=row.state,
                    )
                session.add(
                    KillSwitchRequestRow(
                        open_key=path,
                        path=path,
                        status="pending",
                        requested_by=actor,
                        reason=reason[:500],
                        requested_at=now,
                    )
                )
                session.flush()
                _audit(
                    session,
                    path,
                    "request-reenable",
                    KillSwitchState.TRIPPED,
                    KillSwitchState.TRIPPED,
                    actor,
                    reason,
                    now,
                )
        except IntegrityError as exc:  # another replica's request won the unique open_key
            raise KillSwitchStateError(
                f"{path}: a re-enable request is already pending",
                path=path,
                state=KillSwitchState.TRIPPED,
            ) from exc
        return Transition(
            path, KillSwitchState.TRIPPED, KillSwitchState.TRIPPED, actor, reason, now
        )

    def count_clean(self, path: str, profile: str) -> bool:
        """Note a clean ``profile``; True when that completed the last needed round."""
        with self._store.session() as session, session.begin():
            _lock(session)
            row = _switch(session, path)
            if row.state != KillSwitchState.VERIFYING:
                return False
            seen = set(row.clean_profiles or ()) | {profile}
            rounds = row.clean_rounds
            if seen >= self._profiles:
                rounds, seen = rounds + 1, set()
            changed = session.execute(
                update(KillSwitchRow)
                .where(KillSwitchRow.path == path, KillSwitchRow.version == row.version)
                .values(
                    clean_rounds=rounds,
                    clean_profiles=sorted(seen),
                    version=row.version + 1,
                )
            )
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict
            return rounds >= self._clean_rounds


def _lock(session: Session) -> None:
    # pysqlite sends no BEGIN before a SELECT: take the write lock first, or two
    # read-then-write transactions deadlock into "database is locked".
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("BEGIN IMMEDIATE"))


def _switch(session: Session, path: str) -> KillSwitchRow:
    row = session.get(KillSwitchRow, path)
    if row is None:
        raise KillSwitchStateError(f"unknown path {path!r}", path=path, state=None)
    return row


def _pending(session: Session, path: str) -> KillSwitchRequestRow | None:
    return session.scalars(
        select(KillSwitchRequestRow).where(KillSwitchRequestRow.open_key == path)
    ).one_or_none()


def _check_approval(path: str, state: str, pending: KillSwitchRequestRow | None, actor: str) -> str:
    if state != KillSwitchState.TRIPPED or pending is None:
        raise KillSwitchStateError(
            f"{path} is {state} and has no pending re-enable request to approve",
            path=path,
            state=state,
        )
    if pending.requested_by == actor:
        raise KillSwitchStateError(
            f"{path}: {actor} requested this re-enable and cannot approve it too "
            "(four eyes: another operator must approve)",
            path=path,
            state=state,
        )
    return f"approved {pending.requested_by}'s request: {pending.reason}"


def _cas(
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


def _audit(
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


def _status(session: Session, row: KillSwitchRow) -> SwitchStatus:
    pending = _pending(session, row.path)
    return SwitchStatus(
        path=row.path,
        state=row.state,
        since=row.changed_at,
        actor=row.actor,
        reason=row.reason,
        version=row.version,
        clean_rounds=row.clean_rounds,
        pending_by=None if pending is None else pending.requested_by,
    )


def _record(row: KillSwitchAuditRow) -> AuditRecord:
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
