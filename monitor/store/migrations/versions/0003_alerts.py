"""Alerting: Slack outbox, incident threads, handled actions, silences, evidence.

``incidents.open_key`` grows to 128 characters: incidents are now grouped by path
and leak kind (``hub/foreign_canary``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.alter_column("open_key", type_=sa.String(128), existing_type=sa.String(63))
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("claimed_until", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("ts", sa.String(32), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=False, server_default=""),
    )
    op.create_index("ix_alert_outbox_status_due", "alert_outbox", ["status", "next_attempt_at"])
    op.create_table(
        "alert_threads",
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("ts", sa.String(32), nullable=True),
        sa.Column("acked_by", sa.String(100), nullable=True),
        sa.Column("acked_at", TS, nullable=True),
        sa.Column("notified_at", TS, nullable=False),
        sa.Column("renotified", sa.Integer, nullable=False, server_default="0"),
        sa.Column("clean_rounds", sa.Integer, nullable=False, server_default="0"),
        sa.Column("clean_profiles", sa.JSON, nullable=False),
    )
    op.create_table(
        "alert_actions",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("user", sa.String(100), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_table(
        "alert_silences",
        sa.Column("scope", sa.String(100), primary_key=True),
        sa.Column("until", TS, nullable=False),
        sa.Column("by", sa.String(100), nullable=False),
    )
    op.create_table(
        "alert_evidence",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("nonce", sa.LargeBinary, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("silhouette", sa.JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_index("ix_alert_evidence_expires", "alert_evidence", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_evidence_expires", "alert_evidence")
    op.drop_table("alert_evidence")
    op.drop_table("alert_silences")
    op.drop_table("alert_actions")
    op.drop_table("alert_threads")
    op.drop_index("ix_alert_outbox_status_due", "alert_outbox")
    op.drop_table("alert_outbox")
    with op.batch_alter_table("incidents") as batch:
        batch.alter_column("open_key", type_=sa.String(63), existing_type=sa.String(128))
