"""What the incident page knows about evidence, and the audit of clear views.

``evidence_views`` (migration ``0006``, append-only) has one row per clear view an
operator asked for: who, when, which evidence (id and SHA-256, which survive the
frame's deletion), which incident and the reason given. The row is written *before*
the frame is decrypted, in its own transaction: a view that was not recorded never
happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from alerts.evidence import EvidenceVault
from alerts.tables import UTCDateTime, evidence

metadata = sa.MetaData()

evidence_views = sa.Table(
    "evidence_views",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("via", sa.String(32), nullable=False),
    sa.Column("evidence_id", sa.Integer, nullable=False),
    sa.Column("incident_id", sa.Integer, nullable=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
)


@dataclass(frozen=True)
class StoredEvidence:
    """An evidence row as the page may describe it (never its content)."""

    id: int
    incident_id: int | None
    sha256: str
    size: int
    created_at: datetime
    expires_at: datetime
    kept: bool  # False: only the digest was stored (the vault had no key)


@dataclass(frozen=True)
class EvidenceView:
    id: int
    at: datetime
    actor: str
    via: str
    evidence_id: int
    incident_id: int | None
    sha256: str
    reason: str


def _stored_columns() -> tuple[sa.ColumnElement[Any], ...]:
    """A `StoredEvidence`'s fields, in its order (never the ciphertext itself)."""
    kept = (sa.func.length(evidence.c.ciphertext) > 0).label("kept")
    c = evidence.c
    return (c.id, c.incident_id, c.sha256, c.size, c.created_at, c.expires_at, kept)


def stored_evidence(conn: sa.Connection, incident_id: int) -> list[StoredEvidence]:
    query = (
        sa.select(*_stored_columns())
        .where(evidence.c.incident_id == incident_id)
        .order_by(evidence.c.id)
    )
    return [StoredEvidence(*row) for row in conn.execute(query)]


def one_evidence(conn: sa.Connection, evidence_id: int) -> StoredEvidence | None:
    query = sa.select(*_stored_columns()).where(evidence.c.id == evidence_id)
    row = conn.execute(query).one_or_none()
    return None if row is None else StoredEvidence(*row)


def record_view(
    conn: sa.Connection,
    *,
    at: datetime,
    actor: str,
    via: str,
    item: StoredEvidence,
    reason: str,
) -> int:
    """Audit one clear view; returns the audit row's id."""
    return int(
        conn.execute(
            sa.insert(evidence_views)
            .values(
                at=at,
                actor=actor[:100],
                via=via[:32],
                evidence_id=item.id,
                incident_id=item.incident_id,
                sha256=item.sha256,
                reason=reason[:500],
            )
            .returning(evidence_views.c.id)
        ).scalar_one()
    )


def views_of(conn: sa.Connection, incident_id: int) -> list[EvidenceView]:
    query = (
        sa.select(evidence_views)
        .where(evidence_views.c.incident_id == incident_id)
        .order_by(evidence_views.c.id)
    )
    return [
        EvidenceView(r.id, r.at, r.actor, r.via, r.evidence_id, r.incident_id, r.sha256, r.reason)
        for r in conn.execute(query)
    ]


# -- for the page handlers: each one short transaction of its own ----------------------


def find_evidence(engine: sa.Engine, evidence_id: int) -> StoredEvidence | None:
    with engine.connect() as conn:
        return one_evidence(conn, evidence_id)


def open_frame(engine: sa.Engine, vault: EvidenceVault, evidence_id: int) -> bytes:
    """The decrypted frame (raises `EvidenceError`); audit the view first."""
    with engine.connect() as conn:
        return vault.open(conn, evidence_id)


def audit_view(
    engine: sa.Engine, *, at: datetime, actor: str, via: str, item: StoredEvidence, reason: str
) -> int:
    """`record_view`, committed before the caller decrypts anything."""
    with engine.begin() as conn:
        return record_view(conn, at=at, actor=actor, via=via, item=item, reason=reason)
