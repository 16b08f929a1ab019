"""Probe history: rollups, latest-probe table, change-marker events, raw-table indexes.

``probe_rollups`` counts probes per (resolution, path, bucket, profile, verdict) at
minute, 15-minute, hour and 6-hour resolution, with a duration sum and a fixed
log-spaced duration histogram (``h00``..``h23``) so dashboards never scan raw rows.
``bucket_start`` is Unix seconds (integer bucket arithmetic is portable SQL).
``probe_latest`` keeps the last probe time per (canary, path, profile, verdict).
``events`` holds change markers (deploys, cache updates, config changes) for charts.
The new raw indexes serve keyset pagination (newest id first) under each filter.
Existing raw rows are backfilled into the new tables.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
HISTOGRAM_BUCKETS = 24  # must match monitor.store.rollups.HISTOGRAM_BUCKETS
RAW_INDEXES = {
    "ix_probe_results_path_id": ["path", "id"],
    "ix_probe_results_verdict_id": ["verdict", "id"],
    "ix_probe_results_canary_id": ["canary", "id"],
    "ix_probe_results_incident_id": ["incident_id", "id"],
}


def upgrade() -> None:
    op.create_table(
        "probe_rollups",
        sa.Column("resolution", sa.Integer, nullable=False),  # bucket width, seconds
        sa.Column("path", sa.String(63), nullable=False),
        sa.Column("bucket_start", sa.BigInteger, nullable=False),  # Unix seconds
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("duration_sum", sa.Float, nullable=False),
        *(
            sa.Column(f"h{k:02d}", sa.Integer, nullable=False, server_default="0")
            for k in range(HISTOGRAM_BUCKETS)
        ),
        sa.PrimaryKeyConstraint(
            "resolution", "path", "bucket_start", "profile", "verdict", name="pk_probe_rollups"
        ),
    )
    op.create_index("ix_probe_rollups_bucket", "probe_rollups", ["resolution", "bucket_start"])
    op.create_table(
        "probe_latest",
        sa.Column("canary", sa.String(63), nullable=False),
        sa.Column("path", sa.String(63), nullable=False),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("last_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("canary", "path", "profile", "verdict", name="pk_probe_latest"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("path", sa.String(63), nullable=True),  # NULL: a global event
        sa.Column("details", sa.JSON, nullable=False),
    )
    op.create_index("ix_events_at", "events", ["at"])
    for name, columns in RAW_INDEXES.items():
        op.create_index(name, "probe_results", columns)
    _backfill()


def _backfill() -> None:
    """Roll up raw rows recorded before this revision (same SQL as History.rebuild_rollups).

    It runs today's ``rollups.rebuild``: if the rollup tables ever change shape, freeze
    a copy of this revision's SQL here instead.
    """
    from monitor.store.rollups import rebuild

    rebuild(op.get_bind(), since=None)


def downgrade() -> None:
    for name in reversed(RAW_INDEXES):
        op.drop_index(name, "probe_results")
    op.drop_index("ix_events_at", "events")
    op.drop_table("events")
    op.drop_table("probe_latest")
    op.drop_index("ix_probe_rollups_bucket", "probe_rollups")
    op.drop_table("probe_rollups")
