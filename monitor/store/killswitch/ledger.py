"""The kill-switch state machine's transactions: one short transaction each.

Every change is a compare-and-set UPDATE on the switch row's ``version`` in the same
transaction as its append-only audit row (`records.cas` + `records.audit`); a lost
race raises `Conflict` and the caller (`monitor.killswitch.machine`) reads again.
Synchronous: run it in a thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from monitor.store.killswitch import reenable
from monitor.store.killswitch.records import (
    POLICY,
    AuditRecord,
    Conflict,
    SwitchStatus,
    Target,
    Transition,
    audit,
    cas,
    lock,
    pending,
    record_of,
    status_of,
    switch,
)
from monitor.store.models import KillSwitchAuditRow, KillSwitchRow
from monitor.verdict import KillSwitchState

if TYPE_CHECKING:
    from monitor.store import Store


class Ledger:
    def __init__(self, store: Store, *, profiles: Iterable[str], clean_rounds: int) -> None:
        self._store = store
        self._profiles = frozenset(profiles)
        self._clean_rounds = clean_rounds

    def state(self, path: str) -> str:
        return self.status(path).state

    def status(self, path: str) -> SwitchStatus:
        with self._store.session() as session:
            return status_of(session, switch(session, path))

    def statuses(self) -> list[SwitchStatus]:
        with self._store.session() as session:
            rows = session.scalars(select(KillSwitchRow).order_by(KillSwitchRow.path))
            return [status_of(session, row) for row in rows]

    def audit(self, path: str) -> list[AuditRecord]:
        query = (
            select(KillSwitchAuditRow)
            .where(KillSwitchAuditRow.path == path)
            .order_by(KillSwitchAuditRow.id)
        )
        with self._store.session() as session:
            return [record_of(row) for row in session.scalars(query)]

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
            lock(session)
            row = switch(session, path)
            from_state = row.state  # the UPDATE below refreshes ``row``
            to_state = target(from_state)
            if to_state is None:
                return None
            waiting = pending(session, path)
            if approve:
                reason = reenable.check_approval(path, from_state, waiting, actor)
                assert waiting is not None  # check_approval refuses otherwise
                reenable.close(waiting, "approved", actor, now)
            elif cancel_pending and waiting is not None:
                reenable.close(waiting, "cancelled", actor, now)
                reason = f"{reason} (cancels the re-enable request by {waiting.requested_by})"
            elif to_state == from_state:
                return None
            cas(session, row, to_state, actor, reason, now)
            audit(session, path, action, from_state, to_state, actor, reason, now,
                  incident_id=incident_id, evidence=evidence)  # fmt: skip
            return Transition(path, from_state, to_state, actor, reason, now)

    def revert(self, transition: Transition, error: str) -> None:
        """The backend refused: put the switch back so the next leak tries again."""
        now = datetime.now(UTC)
        reason = f"backend refused {transition.to_state}: {error}"
        with self._store.session() as session, session.begin():
            lock(session)
            row = switch(session, transition.path)
            if row.state != transition.to_state:
                return
            try:
                cas(session, row, transition.from_state, POLICY, reason, now)
            except Conflict:
                return
            audit(session, transition.path, "revert", transition.to_state,
                  transition.from_state, POLICY, reason, now)  # fmt: skip

    def dry_run(
        self, path: str, reason: str, incident_id: int, evidence: dict[str, Any]
    ) -> Transition | None:
        """Audit what a trip would do, once per incident; the switch is not touched."""
        now = datetime.now(UTC)
        with self._store.session() as session, session.begin():
            lock(session)
            row = switch(session, path)
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
            audit(session, path, "trip", row.state, KillSwitchState.TRIPPED, POLICY, reason, now,
                  incident_id=incident_id, evidence=evidence, dry_run=True)  # fmt: skip
            return Transition(
                path, row.state, KillSwitchState.TRIPPED, POLICY, reason, now, dry_run=True
            )

    def request(self, path: str, actor: str, reason: str) -> Transition:
        return reenable.request(self._store.session, path, actor, reason)

    def count_clean(self, path: str, profile: str) -> bool:
        """Note a clean ``profile``; True when that completed the last needed round."""
        with self._store.session() as session, session.begin():
            lock(session)
            row = switch(session, path)
            if row.state != KillSwitchState.VERIFYING:
                return False
            seen = set(row.clean_profiles or ()) | {profile}
            rounds = row.clean_rounds
            if seen >= self._profiles:
                rounds, seen = rounds + 1, set()
            # Not a transition (the state stays verifying): no audit row, but the same
            # version compare-and-set, so concurrent counters do not lose a round.
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
