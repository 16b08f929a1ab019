"""The kill switch state machine, one per integration path, kept in the database.

    armed ──trip (policy or person)──► tripped ──request_reenable (A)──┐
      ▲                                   ▲                            │ approve (B ≠ A)
      │ N clean rounds                    │ any leak                   ▼
      └─────────────────────────────── verifying ◄─────────────────────┘

``verifying`` means re-enabled for canary accounts only; the path goes back to
``armed`` after ``clean_rounds`` rounds in which every profile of the path came back
clean, and back to ``tripped`` on any leak, whatever the path's policy (it was
tripped once already). Nothing resets a switch by itself.
Tripping works from every state and is never blocked by a pending request.

Every change is one compare-and-set UPDATE on the switch row (its ``version``) in the
same transaction as its append-only audit row, so replicas sharing a database agree
on who made a transition and each transition is audited exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.config import PathConfig
from monitor.errors import KillSwitchError, KillSwitchStateError
from monitor.killswitch.base import KillSwitchBackend
from monitor.results import ProbeResult
from monitor.store import Store
from monitor.store.killswitch import (
    POLICY,
    AuditRecord,
    Conflict,
    Ledger,
    SwitchStatus,
    Target,
    Transition,
)
from monitor.verdict import CLEAN, KillSwitchState

log = logging.getLogger(__name__)

_ATTEMPTS = 20  # compare-and-set retries when another replica changed the row meanwhile


class KillSwitchService:
    def __init__(
        self,
        store: Store,
        backend: KillSwitchBackend,
        paths: Sequence[PathConfig],
        *,
        profiles: Sequence[str] = ("good", "3g"),
        clean_rounds: int = 3,
    ) -> None:
        self._store = store
        self._backend = backend
        self._paths = {path.name: path for path in paths}
        self._profiles = frozenset(profiles)
        self._clean_rounds = clean_rounds
        self._ledger = Ledger(store, profiles=profiles, clean_rounds=clean_rounds)

    # -- reads ---------------------------------------------------------------------

    def state(self, path: str) -> str:
        return self._ledger.status(path).state

    def status(self, path: str) -> SwitchStatus:
        return self._ledger.status(path)

    def statuses(self) -> list[SwitchStatus]:
        return self._ledger.statuses()

    def audit(self, path: str) -> list[AuditRecord]:
        return self._ledger.audit(path)

    # -- policy --------------------------------------------------------------------

    async def on_leak(self, result: ProbeResult, incident_id: int) -> Transition | None:
        """Apply ``result.path``'s policy to a confirmed leak; None when it says nothing."""
        policy = self._paths.get(result.path)
        if policy is None or policy.on_leak != "trip":
            return None
        if str(result.verdict) not in policy.trip_on:
            return None
        reason = f"incident #{incident_id}: {result.verdict} seen by {result.canary}"
        evidence = _evidence(result)
        if policy.dry_run:
            return await asyncio.to_thread(
                self._ledger.dry_run, result.path, reason, incident_id, evidence
            )
        transition = await self._change(
            result.path,
            action="trip",
            actor=POLICY,
            reason=reason,
            target=lambda state: (
                None if state == KillSwitchState.TRIPPED else KillSwitchState.TRIPPED
            ),
            incident_id=incident_id,
            evidence=evidence,
        )
        return transition

    async def on_result(self, result: ProbeResult) -> Transition | None:
        """Count clean rounds while ``verifying``; a leak there trips the switch again."""
        if result.path not in self._paths:
            return None
        # A cheap read first: almost every result arrives while the switch is armed,
        # and the counting below takes the database's write lock.
        if await asyncio.to_thread(self.state, result.path) != KillSwitchState.VERIFYING:
            return None
        if result.verdict.is_leak:
            return await self._change(
                result.path,
                action="trip",
                actor=POLICY,
                reason=f"{result.verdict} seen by {result.canary} while verifying",
                target=lambda state: (
                    KillSwitchState.TRIPPED if state == KillSwitchState.VERIFYING else None
                ),
                evidence=_evidence(result),
            )
        if result.verdict not in CLEAN or result.profile not in self._profiles:
            return None  # warnings and errors neither count nor reset a round
        for _ in range(_ATTEMPTS):
            try:
                done = await asyncio.to_thread(
                    self._ledger.count_clean, result.path, result.profile
                )
            except Conflict:
                continue
            if not done:
                return None
            return await self._change(
                result.path,
                action="verified",
                actor=POLICY,
                reason=f"{self._clean_rounds} clean rounds across "
                f"{', '.join(sorted(self._profiles))}",
                target=lambda state: (
                    KillSwitchState.ARMED if state == KillSwitchState.VERIFYING else None
                ),
            )
        raise KillSwitchError(f"could not count a clean round for {result.path!r}: contention")

    # -- people --------------------------------------------------------------------

    async def trip(
        self, path: str, *, actor: str, reason: str, incident_id: int | None = None
    ) -> Transition:
        """Trip from any state; an already tripped path stays so (and a pending
        re-enable request is cancelled, audited)."""
        transition = await self._change(
            path,
            action="trip",
            actor=actor,
            reason=reason,
            target=lambda state: KillSwitchState.TRIPPED,
            incident_id=incident_id,
            cancel_pending=True,
        )
        if transition is None:  # already tripped, nothing pending: idempotent
            return Transition(
                path,
                KillSwitchState.TRIPPED,
                KillSwitchState.TRIPPED,
                actor,
                reason,
                datetime.now(UTC),
            )
        return transition

    async def request_reenable(self, path: str, *, actor: str, reason: str) -> Transition:
        """Ask for a tripped path to be re-enabled for canaries; another person approves."""
        return await asyncio.to_thread(self._ledger.request, path, actor, reason)

    async def approve(self, path: str, *, actor: str) -> Transition:
        """Approve the pending request: ``tripped`` → ``verifying``. The requester cannot."""
        transition = await self._change(
            path,
            action="approve",
            actor=actor,
            reason="",
            target=lambda state: KillSwitchState.VERIFYING,
            approve=True,
        )
        if transition is None:  # approve never returns None from _change
            raise KillSwitchStateError(f"{path}: nothing to approve", path=path, state=None)
        return transition

    # -- machinery -----------------------------------------------------------------

    async def _change(
        self,
        path: str,
        *,
        action: str,
        actor: str,
        reason: str,
        target: Target,
        incident_id: int | None = None,
        evidence: dict[str, Any] | None = None,
        cancel_pending: bool = False,
        approve: bool = False,
    ) -> Transition | None:
        for _ in range(_ATTEMPTS):
            try:
                transition = await asyncio.to_thread(
                    self._ledger.commit,
                    path,
                    action,
                    actor,
                    reason,
                    target,
                    incident_id,
                    evidence,
                    cancel_pending,
                    approve,
                )
                break
            except Conflict:
                continue
        else:
            raise KillSwitchError(f"could not change the kill switch of {path!r}: contention")
        if transition is None or transition.from_state == transition.to_state:
            return transition
        try:
            await self._backend.apply(path, transition.to_state, transition.reason)
        except KillSwitchError as exc:
            log.error("kill switch backend failed for %s: %s", path, exc)
            await asyncio.to_thread(self._ledger.revert, transition, str(exc))
            raise
        return transition


def _evidence(result: ProbeResult) -> dict[str, Any]:
    """What the audit keeps of a leak: never the frame, which is somebody's image."""
    return {
        "canary": result.canary,
        "profile": result.profile,
        "verdict": str(result.verdict),
        "source_canary": result.source_canary,
        "distance": result.distance,
        "started_at": result.started_at.isoformat(),
    }


__all__ = [
    "POLICY",
    "AuditRecord",
    "KillSwitchService",
    "SwitchStatus",
    "Transition",
]
