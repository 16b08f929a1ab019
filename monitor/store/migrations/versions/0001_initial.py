"""Initial schema: canaries, paths, probe results, incidents, kill switches.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "canaries",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("camera_id", sa.String(200), nullable=False),
        sa.Column("registered_at", TS, nullable=False),
    )
    op.create_table(
        "paths",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("on_leak", sa.String(16), nullable=False),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("open_key", sa.String(63), nullable=True, unique=True),
        sa.Column("path", sa.String(63), sa.ForeignKey("paths.name"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("hits", sa.Integer, nullable=False),
        sa.Column("verdicts", sa.JSON, nullable=False),
        sa.Column("canaries", sa.JSON, nullable=False),
        sa.Column("sources", sa.JSON, nullable=False),
        sa.Column("profiles", sa.JSON, nullable=False),
    )
    op.create_table(
        "probe_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("canary", sa.String(63), sa.ForeignKey("canaries.name"), nullable=False),
        sa.Column("path", sa.String(63), sa.ForeignKey("paths.name"), nullable=False),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("source_canary", sa.String(63), nullable=True),
        sa.Column("distance", sa.Integer, nullable=True),
        sa.Column("age_s", sa.Float, nullable=True),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("bytes_received", sa.Integer, nullable=False),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=True),
    )
    op.create_index("ix_probe_results_path_started", "probe_results", ["path", "started_at"])
    op.create_index("ix_probe_results_verdict_started", "probe_results", ["verdict", "started_at"])
    op.create_table(
        "kill_switches",
        sa.Column("path", sa.String(63), sa.ForeignKey("paths.name"), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("kill_switches")
    op.drop_index("ix_probe_results_verdict_started", "probe_results")
    op.drop_index("ix_probe_results_path_started", "probe_results")
    op.drop_table("probe_results")
    op.drop_table("incidents")
    op.drop_table("paths")
    op.drop_table("canaries")
