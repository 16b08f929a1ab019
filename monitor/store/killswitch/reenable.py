"""Four-eyes re-enable requests: one person asks, another approves.

A request is a `KillSwitchRequestRow` whose ``open_key`` is the path while it is
pending; the unique key makes "one pending request per path" hold across replicas.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.errors import KillSwitchStateError
from monitor.store.killswitch.records import Transition, audit, lock, pending, switch
from monitor.store.models import KillSwitchRequestRow
from monitor.verdict import KillSwitchState


def request(
    session_factory: Callable[[], Session], path: str, actor: str, reason: str
) -> Transition:
    """Open a re-enable request for tripped ``path``, audited in the same transaction."""
    now = datetime.now(UTC)
    try:
        with session_factory() as session, session.begin():
            lock(session)
            row = switch(session, path)
            if row.state != KillSwitchState.TRIPPED:
                raise KillSwitchStateError(
                    f"{path} is {row.state}, not tripped: there is nothing to re-enable",
                    path=path,
                    state=row.state,
                )
            waiting = pending(session, path)
            if waiting is not None:
                raise KillSwitchStateError(
                    f"{path}: a re-enable request by {waiting.requested_by} is already "
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
            audit(
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
    return Transition(path, KillSwitchState.TRIPPED, KillSwitchState.TRIPPED, actor, reason, now)


def check_approval(path: str, state: str, waiting: KillSwitchRequestRow | None, actor: str) -> str:
    """The approval's audit reason; refuses without a request or when ``actor`` made it."""
    if state != KillSwitchState.TRIPPED or waiting is None:
        raise KillSwitchStateError(
            f"{path} is {state} and has no pending re-enable request to approve",
            path=path,
            state=state,
        )
    if waiting.requested_by == actor:
        raise KillSwitchStateError(
            f"{path}: {actor} requested this re-enable and cannot approve it too "
            "(four eyes: another operator must approve)",
            path=path,
            state=state,
        )
    return f"approved {waiting.requested_by}'s request: {waiting.reason}"


def close(waiting: KillSwitchRequestRow, status: str, actor: str, now: datetime) -> None:
    """Mark the pending request approved or cancelled; the path may have a new one."""
    waiting.status, waiting.open_key = status, None
    waiting.decided_by, waiting.decided_at = actor, now
