"""The audit of clear evidence views: who saw which leaked frame in clear, when, why.

``evidence_views`` is append-only, enforced by triggers on both dialects, like the
kill switch audit. ``evidence_id`` is deliberately not a foreign key: evidence rows
are deleted on their retention clock, the record that someone looked stays (with
the frame's SHA-256, so it still says which frame it was).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "evidence_views",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("via", sa.String(32), nullable=False, server_default=""),
        sa.Column("evidence_id", sa.Integer, nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
    )
    op.create_index("ix_evidence_views_incident_id", "evidence_views", ["incident_id", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION evidence_views_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'evidence_views is append-only'; END; "
            "$$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER evidence_views_append_only BEFORE UPDATE OR DELETE "
            "ON evidence_views FOR EACH ROW EXECUTE FUNCTION evidence_views_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER evidence_views_no_{event.lower()} BEFORE {event} "
                "ON evidence_views BEGIN "
                "SELECT RAISE(ABORT, 'evidence_views is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER evidence_views_append_only ON evidence_views")
        op.execute("DROP FUNCTION evidence_views_append_only()")
    else:
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER evidence_views_no_{event}")
    op.drop_index("ix_evidence_views_incident_id", "evidence_views")
    op.drop_table("evidence_views")
